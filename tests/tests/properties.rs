//! Properties that must hold for any input (proptest).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use trailalerts::{Engine, Event, Glob};

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "*?[]{}\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

fn user_name() -> impl Strategy<Value = String> {
    // Mix ASCII, accented and other scripts, with case variants.
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'B', 'z', 'É', 'é', 'ß', 'Ω', 'ω', 'K', 'k', '\u{212a}', '-', '_', '.', '1', 'İ',
            'i', 'Я', 'я',
        ]),
        1..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A literal glob matches exactly the names equal to it after Unicode lowercasing, on the
    /// fast path and the regex path alike.
    #[test]
    fn case_insensitive_matching_is_consistent(a in user_name(), b in user_name()) {
        let g = Glob::new(&escape(&a)).unwrap();
        prop_assert_eq!(g.is_match(&b), a.to_lowercase() == b.to_lowercase(), "{:?} vs {:?}", a, b);
        prop_assert!(g.is_match(&a));
        let star = Glob::new(&format!("{}*", escape(&a))).unwrap();
        let longer = format!("{}suffix", a);
        prop_assert!(star.is_match(&longer));
    }

    /// Literal `resources` (matched through a per-event set) and wildcard ones (matched
    /// identifier by identifier) agree with the glob itself on every identifier, whether the
    /// identifier is a `resources[].ARN` or a string inside `requestParameters`, and whether
    /// the pattern is long enough to be looked for in the raw text first or not.
    #[test]
    fn resource_filters_agree_with_globs(
        a in user_name(),
        ids in prop::collection::vec(user_name(), 0..4),
        arns in prop::collection::vec(user_name(), 0..3),
        prefix in prop::sample::select(vec!["", "arn:aws:s3:::"]),
        pick in 0usize..3,
    ) {
        let ids: Vec<String> = ids.iter().map(|i| format!("{prefix}{i}")).collect();
        let arns: Vec<String> = arns.iter().map(|i| format!("{prefix}{i}")).collect();
        let resources: Vec<serde_json::Value> =
            arns.iter().map(|a| serde_json::json!({"ARN": a, "type": "AWS::S3::Object"})).collect();
        let ev_text = serde_json::json!({"eventName": "X", "requestParameters": {"ids": ids}, "resources": resources}).to_string();
        let ev = Event::parse(&ev_text).unwrap();
        // Patterns often taken from an identifier, so that hits are exercised, not only misses.
        let a = match (pick, ids.first(), arns.first()) {
            (0, Some(i), _) => i.clone(),
            (1, _, Some(r)) => r.to_uppercase(),
            _ => format!("{prefix}{a}"),
        };
        for pattern in [escape(&a), format!("{}*", escape(&a)), format!("*{}", escape(&a))] {
            let alert = serde_json::json!({"id": "r", "name": "r", "risk": "low", "resources": [pattern]});
            let mut e = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
            let g = Glob::new(&pattern).unwrap();
            let want = ids.iter().chain(&arns).any(|i| g.is_match(i));
            prop_assert_eq!(!e.evaluate(&ev).is_empty(), want, "{:?} on {:?} / {:?}", pattern, ids, arns);
        }
    }

    /// `request_parameters` value conditions (which first look for the value's literal in the
    /// raw text, skipping the parse when it is absent) agree with the glob applied to every
    /// scalar at the path of the parsed tree: values written with escapes, characters whose
    /// lowercase is ASCII (KELVIN SIGN), numbers, and booleans matched by `TRUE` or `tru*`
    /// (JSON writes them without the quotes the raw-text search looks for around strings). The byte prefilter
    /// (`evaluate_text`) agrees with evaluating the parsed event.
    #[test]
    fn request_conditions_agree_with_globs(
        a in user_name(),
        vals in prop::collection::vec(user_name(), 0..4),
        escaped in any::<bool>(),
        num in 0u32..2000,
        shape in 0usize..6,
        pick in 0usize..3,
    ) {
        // Patterns often taken from a value (as written, or with KELVIN SIGN spelled `k`), so
        // that matches through escapes and case folding are exercised, not only misses.
        let a = match (pick, vals.first()) {
            (0, Some(v)) => v.clone(),
            (1, Some(v)) => v.replace('\u{212a}', "k"),
            _ => a,
        };
        let mut items: Vec<String> = vals.iter().map(|v| serde_json::to_string(v).unwrap()).collect();
        if escaped && let Some(first) = vals.first() {
            // The first character as a \u escape (a surrogate pair beyond the BMP).
            let mut chars = first.chars();
            let c = chars.next().unwrap();
            let mut units = [0u16; 2];
            let esc: String = c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect();
            items[0] = format!("\"{esc}{}\"", serde_json::to_string(chars.as_str()).unwrap().trim_matches('"'));
        }
        items.push(num.to_string());
        items.push("true".to_owned());
        let text = format!(r#"{{"eventName":"X","requestParameters":{{"v":[{}]}}}}"#, items.join(","));
        let pattern = match shape {
            0 => escape(&a),
            1 => format!("*{}*", escape(&a)),
            2 => num.to_string(),
            3 => format!("{}*", escape(&a)),
            // Booleans are compared as text, and JSON writes them without quotes.
            4 => "TRUE".to_owned(),
            _ => "tru*".to_owned(),
        };
        let g = Glob::new(&pattern).unwrap();
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut found = Vec::new();
        trailalerts::lookup_all(&tree["requestParameters"], &["v"], &mut found);
        let want = found.iter().any(|v| match v {
            serde_json::Value::String(s) => g.is_match(s),
            serde_json::Value::Number(n) => g.is_match(&n.to_string()),
            serde_json::Value::Bool(b) => g.is_match(&b.to_string()),
            _ => false,
        });
        for alert in [
            serde_json::json!({"id": "p", "name": "p", "risk": "low", "request_parameters": [{"path": "v", "value": pattern}]}),
            serde_json::json!({"id": "r", "name": "r", "risk": "low", "resources": [pattern]}),
        ] {
            let mut e = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
            let ev = Event::parse(&text).unwrap();
            let fired = !e.evaluate(&ev).is_empty();
            if alert["id"] == "p" {
                prop_assert_eq!(fired, want, "{} on {}", pattern, text);
            }
            let mut out = Vec::new();
            let mut fresh = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
            fresh.evaluate_text(&text, &mut out).unwrap();
            prop_assert_eq!(!out.is_empty(), fired, "prefilter: {} on {}", alert, text);
        }
    }
}

#[derive(Debug, Clone)]
struct Ev {
    name: usize,
    user: usize,
    error: bool,
    secs: u32,
}

const NAMES: [&str; 5] = [
    "CreateUser",
    "StopLogging",
    "GetObject",
    "AuthorizeSecurityGroupIngress",
    "ListBuckets",
];
const USERS: [&str; 4] = ["alice", "bob", "ci-bot", "root"];

fn ev_text(i: usize, e: &Ev) -> String {
    let user = USERS[e.user];
    let identity = if user == "root" {
        r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#.to_owned()
    } else {
        format!(r#"{{"type":"IAMUser","userName":"{user}","arn":"arn:aws:iam::1:user/{user}"}}"#)
    };
    let source = match e.name {
        0 => "iam",
        1 => "cloudtrail",
        2 | 4 => "s3",
        _ => "ec2",
    };
    let err = if e.error {
        r#","errorCode":"AccessDenied""#
    } else {
        ""
    };
    format!(
        r#"{{"eventID":"e{i}","eventTime":"2024-01-01T{:02}:{:02}:{:02}Z","eventName":"{}","eventSource":"{source}.amazonaws.com","eventType":"AwsApiCall","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userIdentity":{identity}{err}}}"#,
        (e.secs / 3600) % 24,
        (e.secs / 60) % 60,
        e.secs % 60,
        NAMES[e.name]
    )
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (0..NAMES.len(), 0..USERS.len(), any::<bool>(), 0u32..7200).prop_map(
            |(name, user, error, secs)| Ev {
                name,
                user,
                error,
                secs,
            },
        ),
        0..60,
    )
}

const ALERTS: &str = r#"[
  {"id":"burst","name":"Burst","risk":"high","response":"unauthorized","threshold":{"count":3,"window_seconds":300,"group_by":["user"]}},
  {"id":"any-create","name":"Create","risk":"low","events":["Create*"]},
  {"id":"s3","name":"S3","risk":"low","services":["s3"]}
]"#;

fn engine(ignores: bool) -> Engine {
    let mut b = Engine::builder()
        .builtin(false)
        .alerts_json(ALERTS)
        .unwrap();
    if ignores {
        b = b.global_ignore(serde_json::from_str(r#"{"id":"bots","user":"ci-*"}"#).unwrap());
    }
    b.build().unwrap()
}

fn run(engine: &mut Engine, texts: &[String]) -> Vec<(String, String, Option<u32>)> {
    texts
        .iter()
        .flat_map(|t| engine.evaluate(&Event::parse(t).unwrap()))
        .map(|r| (r.alert_id, r.event_id, r.count))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Ignores only ever remove results (thresholds aside: an ignored event does not count,
    /// so only non-threshold results are compared as sets).
    #[test]
    fn ignores_only_remove_results(evs in events()) {
        let texts: Vec<String> = evs.iter().enumerate().map(|(i, e)| ev_text(i, e)).collect();
        let with = run(&mut engine(true), &texts);
        let without = run(&mut engine(false), &texts);
        for r in with.iter().filter(|r| r.2.is_none()) {
            prop_assert!(without.contains(r), "{:?} appeared only with ignores", r);
        }
        prop_assert!(with.iter().filter(|r| r.2.is_none()).count() <= without.iter().filter(|r| r.2.is_none()).count());
    }

    /// Evaluating one by one, in batches of any size and thread count, and with or without the
    /// prefilter gives the same results, field for field (batches build a fired threshold's
    /// result after its event is gone, from the event's shared text).
    #[test]
    fn batches_threads_and_prefilter_agree(evs in events(), split in 1usize..10, threads in 1usize..4) {
        let texts: Vec<String> = evs.iter().enumerate().map(|(i, e)| ev_text(i, e)).collect();
        let mut eng = engine(false);
        let want: Vec<String> = texts
            .iter()
            .flat_map(|t| eng.evaluate(&Event::parse(t).unwrap()))
            .map(|r| serde_json::to_string(&r).unwrap())
            .collect();
        let mut eng = engine(false);
        let mut got = Vec::new();
        for chunk in texts.chunks(split) {
            let refs: Vec<&[u8]> = chunk.iter().map(|t| t.as_bytes()).collect();
            let mut out = Vec::new();
            eng.evaluate_batch(&refs, threads, &mut out).unwrap();
            got.extend(out.iter().map(|r| serde_json::to_string(r).unwrap()));
        }
        prop_assert_eq!(&got, &want);
        let mut eng = engine(false);
        let mut via_text = Vec::new();
        for t in &texts {
            let mut out = Vec::new();
            eng.evaluate_text(t, &mut out).unwrap();
            via_text.extend(out.iter().map(|r| serde_json::to_string(r).unwrap()));
        }
        prop_assert_eq!(&via_text, &want);
        // A log file read one event at a time, and the same file prepared then settled.
        let file = format!(r#"{{"Records":[{}]}}"#, texts.join(","));
        let mut eng = engine(false);
        let mut streamed = Vec::new();
        let read = eng.evaluate_records(
            "f",
            file.as_bytes(),
            None,
            &mut |r| streamed.push(serde_json::to_string(&r).unwrap()),
            &mut |p| panic!("{p}"),
        );
        prop_assert_eq!((read.events, read.bad_records), (texts.len() as u64, 0));
        prop_assert_eq!(eng.stats().events, texts.len() as u64);
        prop_assert_eq!(&streamed, &want);
        let mut eng = engine(false);
        let prepared = eng.prepare_records("f", file.as_bytes(), None);
        let (mut settled, mut problems) = (Vec::new(), Vec::new());
        eng.settle(prepared, &mut settled, &mut problems);
        let settled: Vec<String> = settled.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        prop_assert_eq!(settled, want);
    }

    /// Reading records as events in one pass gives what delimiting then parsing gives, for
    /// log files, arrays and JSON Lines made of good events, non-events, broken JSON and
    /// invalid UTF-8.
    #[test]
    fn one_pass_events_agree_with_two_passes(
        evs in events(),
        noise in prop::collection::vec((0usize..16, 0usize..64), 0..6),
        shape in 0usize..4,
    ) {
        let mut items: Vec<String> = evs.iter().enumerate().map(|(i, e)| ev_text(i, e)).collect();
        for (kind, at) in noise {
            let junk = [
                r#"{"eventSource":"s3.amazonaws.com"}"#,
                r#"{"eventName":5}"#,
                r#"{"eventName":"A","eventName":"B"}"#,
                r#"{"eventName":"A","requestParameters":{"a":[1,2,{"b":nul}]}}"#,
                r#"{"eventName":"A""#,
                r#"["eventName","A"]"#,
                "5",
                r#""text""#,
                "null",
                r#"{"eventName":"A\u00e9\ud83d\ude00","x":"\u212a"}"#,
                "{\"eventName\":\"A\",\"x\":\"tab\tin string\"}",
                r#"{"eventName":"A","userIdentity":{"type":"Root","arn":7}}"#,
                r#"{"eventName":"A"} trailing"#,
                "",
                r#"{"Records":[{"eventName":"Inner"}]}"#,
                r#"{"eventName":"A","x":1e999}"#,
            ][kind % 16];
            let at = at % (items.len() + 1);
            items.insert(at, junk.to_owned());
        }
        let mut text = match shape {
            0 => format!(r#"{{"Records":[{}]}}"#, items.join(",")),
            1 => format!("[{}]", items.join(", ")),
            2 => items.join("\n"),
            _ => format!(r#"{{"Records":[{}]}}{{"Records":[{}]}}"#, items.join(","), items.join(" ,\n ")),
        }
        .into_bytes();
        trailalerts_tests::fuzz_checks::records_one_pass(&text);
        // The same with one invalid UTF-8 byte somewhere (the buffer is then read as bytes).
        if !text.is_empty() {
            let at = text.len() / 2;
            text.insert(at, 0xff);
            trailalerts_tests::fuzz_checks::records_one_pass(&text);
        }
    }

    /// Arbitrary bytes never panic the record reader or the event parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        static CATALOG: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        let mut engine = CATALOG.get_or_init(|| Engine::builder().build().unwrap()).clone();
        for rec in trailalerts::Records::new(&bytes).flatten() {
            let _ = engine.evaluate_raw(rec.value, &mut Vec::new());
        }
        let _ = engine.may_match(&bytes);
        trailalerts_tests::fuzz_checks::records_one_pass(&bytes);
    }
}

/// Separators the one-pass reader must treat exactly as the record reader does.
#[test]
fn one_pass_events_keep_separator_errors() {
    for text in [
        r#"[,{"eventName":"A"}]"#,
        r#"{"Records":[{"eventName":"A"},,{"eventName":"B"}]}"#,
        r#"{"Records":[{"eventName":"A"} {"eventName":"B"}]}"#,
        r#"[{"eventName":"A"},]"#,
        r#"{"Records":[{"eventName":"A"}],"x":1}{"eventName":"B"}"#,
        "{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}{\"eventName\":\"C\"}\n\u{feff}",
        "\u{feff}{\"Records\":[{\"eventName\":\"A\"}]}",
        r#"{"Records":[{"eventName":"A"}"#,
    ] {
        trailalerts_tests::fuzz_checks::records_one_pass(text.as_bytes());
    }
}

/// JSON-like text: valid values, written compactly or spaced, that may then be damaged.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
        // strings: plain, escaped, non-ASCII, control characters, long enough for the
        // eight-byte steps
        "\"([a-z \u{e9}\u{1f600}\u{7f}\t\u{1}/]|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|\\\\u[dD][89abAB][0-9a-f]{2}|\\\\x){0,24}\"",
    ];
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..5).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The fast record scanner accepts exactly what serde_json accepts, with the same end
    /// (and so every reading path agrees), on valid and damaged JSON.
    #[test]
    fn record_scanner_agrees_with_serde_json(
        fields in prop::collection::vec(json_text(), 1..4),
        spaced in any::<bool>(),
        damage in prop::option::of((any::<prop::sample::Index>(), 0usize..12)),
    ) {
        let sep = if spaced { " ,\n " } else { "," };
        let obj = format!(r#"{{"eventName":"A","x":[{}]}}"#, fields.join(sep));
        let mut text = format!(r#"{{"Records":[{obj}{sep}{obj}]}}"#);
        if let Some((at, what)) = damage {
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let (i, c) = chars[at.index(chars.len())];
            let with = ["", "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "\t", "e"][what];
            text.replace_range(i..i + c.len_utf8(), with);
        }
        trailalerts_tests::fuzz_checks::records_one_pass(text.as_bytes());
    }
}

/// Event objects built from the keys the engine reads (and a few it does not), with values of
/// every shape: right and wrong types, nulls, escapes, nesting, repeats.
fn event_object() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "eventID",
        "eventTime",
        "@timestamp",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "errorCode",
        "errorMessage",
        "eventType",
        "recipientAccountId",
        "userAgent",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "resources",
        "eventVersion",
        "event\\u004eame",
        "EventName",
    ]);
    let inner_keys = prop::sample::select(vec![
        "type",
        "principalId",
        "arn",
        "accountId",
        "userName",
        "invokedBy",
        "sessionContext",
        "sessionIssuer",
        "ARN",
        "arn",
        "other",
        "a\\u0072n",
    ]);
    let string = "\"([a-zA-Z0-9:/*\u{e9} -]|\\\\[\"n/]|\\\\u00[4-7][0-9a-f]|\\\\ud83d\\\\ude00|\\\\ud800){0,12}\"";
    let leaf = prop_oneof![
        4 => string.prop_map(|s| s),
        1 => Just("null".to_owned()),
        1 => Just("7".to_owned()),
        1 => Just("true".to_owned()),
    ];
    let nested = leaf.clone().prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec((inner_keys.clone(), inner.clone()), 0..5).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
            prop::collection::vec(inner, 0..3).prop_map(|v| format!("[{}]", v.join(","))),
        ]
    });
    prop::collection::vec((keys, nested), 0..10).prop_map(|kv| {
        let mut body: Vec<String> = vec![r#""eventName":"Base""#.to_owned()];
        body.extend(kv.iter().map(|(k, v)| format!("\"{k}\" : {v}")));
        if body.len() > 1 {
            body.remove(0); // sometimes keep a repeated or missing eventName
        }
        format!("{{{}}}", body.join(","))
    })
}

/// Events the direct field reader reads itself (known keys, string values, no repeats), with
/// values full of escapes: the generator above mostly builds objects it hands to serde.
fn readable_event() -> impl Strategy<Value = String> {
    let string = "\"([a-zA-Z0-9:/ \u{e9}]|\\\\[\"\\\\/bfnrt]|\\\\u00[4-7][0-9a-f]|\\\\ud83d\\\\ude00){0,8}\"";
    (
        prop::collection::vec(string, 6),
        prop::collection::vec(string, 3),
    )
        .prop_map(|(top, user)| {
            format!(
                r#"{{"eventID":{},"eventName":{},"eventSource":{},"awsRegion":{},"errorCode":{},"userAgent":{},"userIdentity":{{"type":{},"userName":{},"arn":{}}}}}"#,
                top[0], top[1], top[2], top[3], top[4], top[5], user[0], user[1], user[2]
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Every string the direct reader reads is unescaped exactly as serde_json does (or left
    /// to serde): escaped values are never borrowed as written.
    #[test]
    fn field_reader_unescapes_like_serde(text in readable_event()) {
        if let Err(e) = Event::check_field_readers_agree(&text) {
            return Err(TestCaseError::fail(format!("{e}\nfor {text}")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The direct field reader agrees with serde_json's derived parse, and every reading path
    /// gives the same events and errors, on events of every shape, whole or damaged.
    #[test]
    fn field_reader_agrees_with_serde(
        obj in event_object(),
        damage in prop::option::of((any::<prop::sample::Index>(), 0usize..8)),
    ) {
        let mut text = obj;
        if let Some((at, what)) = damage {
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let (i, c) = chars[at.index(chars.len())];
            let with = ["", "\"", "\\", "{", "}", ",", ":", "n"][what];
            text.replace_range(i..i + c.len_utf8(), with);
        }
        if let Err(e) = Event::check_field_readers_agree(&text) {
            return Err(TestCaseError::fail(format!("{e}\nfor {text}")));
        }
        let doc = format!(r#"{{"Records":[{text},{text}]}}"#);
        trailalerts_tests::fuzz_checks::records_one_pass(doc.as_bytes());
    }
}

/// Text for prefilter checks: ASCII letters in both cases, characters JSON writes escaped
/// (quote, backslash, tab), `/` (which may be written `\/`), KELVIN SIGN, a non-ASCII letter.
fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'B', 'c', 'x', '"', '\\', '\t', '/', '\u{212a}', 'k', 'é', ':', '-',
        ]),
        1..8,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// The byte prefilter never skips an event an alert matches. The alerts here are reached
    /// by no index (no event names, no services), so the prefilter searches the raw text for
    /// their literals (users, regions, request values, resources); the events carry those
    /// values written with JSON escapes, `\/`, `\u` escapes or in another case.
    #[test]
    fn prefilter_never_skips_a_match(
        value in tricky_text(),
        shape in 0usize..3,
        field in 0usize..4,
        spell in 0usize..4,
    ) {
        let glob = match shape {
            0 => escape(&value),
            1 => format!("{}*", escape(&value)),
            _ => format!("*{}", escape(&value)),
        };
        let json = |s: &str| serde_json::to_string(s).unwrap();
        let written = match spell {
            0 => json(&value),
            1 => json(&value).replace('/', "\\/"),
            2 => json(&value.to_ascii_uppercase()),
            _ => {
                // The first character as a \u escape.
                let mut chars = value.chars();
                let first = chars.next().unwrap();
                let rest = json(chars.as_str());
                format!("\"\\u{:04x}{}", u32::from(first), &rest[1..])
            }
        };
        let plain = |s: &str| json(s);
        let (user, region, param, arn) = match field {
            0 => (written.clone(), plain("us-east-1"), plain("x"), plain("arn:aws:s3:::b")),
            1 => (plain("alice"), written.clone(), plain("x"), plain("arn:aws:s3:::b")),
            2 => (plain("alice"), plain("us-east-1"), written.clone(), plain("arn:aws:s3:::b")),
            _ => (plain("alice"), plain("us-east-1"), plain("x"), written.clone()),
        };
        let text = format!(
            r#"{{"eventID":"e1","eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":{region},"sourceIPAddress":"203.0.113.9","userIdentity":{{"type":"IAMUser","userName":{user},"arn":"arn:aws:iam::1:user/u"}},"requestParameters":{{"v":{param}}},"resources":[{{"ARN":{arn}}}]}}"#
        );
        let mut alert = serde_json::json!({"id": "a", "name": "a", "risk": "low"});
        match field {
            0 => alert["users"] = serde_json::json!([glob]),
            1 => alert["regions"] = serde_json::json!([glob]),
            2 => alert["request_parameters"] = serde_json::json!([{"path": "v", "value": glob}]),
            _ => alert["resources"] = serde_json::json!([glob]),
        }
        let e = Engine::builder().builtin(false).alerts_json(&format!("[{alert}]")).unwrap().build().unwrap();
        let ev = Event::parse(&text).unwrap();
        if !e.clone().evaluate(&ev).is_empty() {
            prop_assert!(e.may_match(text.as_bytes()), "skipped a match: {} on {}", alert, text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, ..ProptestConfig::default() })]

    /// The prefilter's gates (what alerts reached by event name or service ask of the region
    /// and the error code) never skip an event an alert matches: regions written in any case,
    /// absent, repeated in a nested object, escaped or with KELVIN SIGN; error codes present,
    /// empty, nested or absent; source addresses in brackets, with zones, not addresses,
    /// repeated or absent; alerts limited by a `regions` list or a pattern, by response type,
    /// by `source_ips`, or several.
    #[test]
    fn prefilter_gates_never_skip_a_match(
        region in prop::sample::select(vec![
            Some("us-east-1"), Some("US-East-1"), Some("eu-west-3"), Some("\\u0075s-east-1"),
            Some("eu-\u{212a}k-1"), Some(""), None,
        ]),
        nested_region in prop::option::of(prop::sample::select(vec!["us-east-1", "eu-west-3"])),
        error in prop::sample::select(vec![None, Some(""), Some("AccessDenied"), Some("Client.UnauthorizedOperation"), Some("NoSuchKey")]),
        nested_error in any::<bool>(),
        limit in prop::sample::select(vec![None, Some("us-east-1"), Some("US-EAST-1"), Some("eu-west-3"), Some("eu-kk-1"), Some("us-*")]),
        by_pattern in any::<bool>(),
        response in prop::sample::select(vec!["all", "unauthorized", "failure", "success"]),
        by_source in any::<bool>(),
        other in any::<bool>(),
        ip in prop::sample::select(vec![
            None, Some("203.0.113.9"), Some(" 10.1.2.3"), Some("[2001:db8::1]"), Some("fe80::1%eth0"),
            Some("AWS Internal"), Some("10.0.0.300"), Some("1\\u0030.0.0.1"),
        ]),
        nested_ip in prop::option::of(prop::sample::select(vec!["10.9.9.9", "192.0.2.1"])),
        ranges in prop::sample::select(vec![
            None,
            Some((vec!["10.0.0.0/8"], vec![])),
            Some((vec!["2001:db8::/32", "fe80::/10"], vec![])),
            Some((vec![], vec!["10.0.0.0/8"])),
            Some((vec!["203.0.113.0/24"], vec!["203.0.113.9/32"])),
        ]),
    ) {
        let mut fields = vec![
            r#""eventID":"e1""#.to_owned(),
            r#""eventTime":"2024-01-01T00:00:00Z""#.to_owned(),
            r#""eventName":"GetObject""#.to_owned(),
            r#""eventSource":"s3.amazonaws.com""#.to_owned(),
        ];
        if let Some(r) = region {
            fields.push(format!(r#""awsRegion":"{r}""#));
        }
        if let Some(c) = error {
            fields.push(format!(r#""errorCode":"{c}""#));
        }
        if let Some(a) = ip {
            fields.push(format!(r#""sourceIPAddress":"{a}""#));
        }
        let mut params = Vec::new();
        if let Some(a) = nested_ip {
            params.push(format!(r#""sourceIPAddress":"{a}""#));
        }
        if let Some(r) = nested_region {
            params.push(format!(r#""awsRegion":"{r}""#));
        }
        if nested_error {
            params.push(r#""errorCode":"AccessDenied""#.to_owned());
        }
        fields.push(format!(r#""requestParameters":{{{}}}"#, params.join(",")));
        let text = format!("{{{}}}", fields.join(","));
        let mut alert = serde_json::json!({"id": "a", "name": "a", "risk": "low", "response": response});
        if by_source {
            alert["services"] = serde_json::json!(["s3"]);
        } else {
            alert["events"] = serde_json::json!(["GetObject"]);
        }
        if let Some(l) = limit {
            if by_pattern && !l.contains('*') {
                alert["pattern"] = serde_json::json!(format!(r#"{{ $.awsRegion = "{l}" }}"#));
            } else {
                alert["regions"] = serde_json::json!([l]);
            }
        }
        if let Some((include, exclude)) = &ranges {
            alert["source_ips"] = serde_json::json!({"include": include, "exclude": exclude});
        }
        let mut alerts = vec![alert.clone()];
        if other {
            // A second alert under the same key that asks for another region.
            let mut b = alert.clone();
            b["id"] = serde_json::json!("b");
            b["regions"] = serde_json::json!(["ap-south-1"]);
            alerts.push(b);
        }
        let e = Engine::builder().builtin(false).alerts_json(&serde_json::to_string(&alerts).unwrap()).unwrap().build().unwrap();
        let ev = Event::parse(&text).unwrap();
        if !e.clone().evaluate(&ev).is_empty() {
            prop_assert!(e.may_match(text.as_bytes()), "skipped a match: {} on {}", alert, text);
        }
    }
}

/// One generated alert: which calls, regions, outcome and pattern it asks for.
fn place_alert() -> impl Strategy<Value = serde_json::Value> {
    (0usize..4, 0usize..5, 0usize..4, 0usize..3).prop_map(|(call, region, response, pattern)| {
        let mut a = serde_json::json!({"name": "a", "risk": "low"});
        match call {
            0 => a["events"] = serde_json::json!(["ConsoleLogin"]),
            1 => a["events"] = serde_json::json!(["Get*"]),
            2 => a["services"] = serde_json::json!(["s3"]),
            _ => {}
        }
        match region {
            1 => a["regions"] = serde_json::json!(["us-east-1"]),
            2 => a["regions"] = serde_json::json!(["us-*"]),
            3 => a["regions"] = serde_json::json!(["EU-WEST-1", "ap-south-1"]),
            4 => a["regions"] = serde_json::json!(["?p-*"]),
            _ => {}
        }
        a["response"] = serde_json::json!(["all", "success", "failure", "unauthorized"][response]);
        match pattern {
            1 => a["pattern"] = serde_json::json!(r#"{ $.awsRegion = "eu-west-1" }"#),
            2 => {
                a["pattern"] = serde_json::json!(
                    r#"{ ($.awsRegion = "us-east-1") || ($.awsRegion = "ap-south-1") }"#
                )
            }
            _ => {}
        }
        a
    })
}

/// One generated event: its call, region, error code and console-login outcome.
fn place_event() -> impl Strategy<Value = String> {
    (0usize..4, 0usize..6, 0usize..4, any::<bool>()).prop_map(|(call, region, error, login)| {
        let (name, source) = [
            ("ConsoleLogin", "signin"),
            ("GetObject", "s3"),
            ("GetBucketAcl", "s3"),
            ("PutObject", "s3"),
        ][call];
        let region = ["", "us-east-1", "US-EAST-1", "eu-west-1", "ap-south-1", "us-west-2"][region];
        let region = if region.is_empty() {
            String::new()
        } else {
            format!(r#","awsRegion":"{region}""#)
        };
        let error = ["", "AccessDenied", "Throttling", "Client.UnauthorizedOperation"][error];
        let error = if error.is_empty() {
            String::new()
        } else {
            format!(r#","errorCode":"{error}""#)
        };
        let login = if login { "Success" } else { "Failure" };
        format!(
            r#"{{"eventName":"{name}","eventSource":"{source}.amazonaws.com"{region}{error},"responseElements":{{"ConsoleLogin":"{login}"}}}}"#
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The candidates an engine remembers per call, region and outcome never change what
    /// fires: an engine fed a stream of events gives, for each event, the alerts that fire
    /// when each alert is alone in a fresh engine.
    #[test]
    fn remembered_candidates_never_change_results(
        alerts in prop::collection::vec(place_alert(), 1..7),
        texts in prop::collection::vec(place_event(), 1..40),
    ) {
        let defs: Vec<serde_json::Value> = alerts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut a = a.clone();
                a["id"] = serde_json::json!(format!("a{i}"));
                a
            })
            .collect();
        let build = |defs: &[serde_json::Value]| {
            Engine::builder()
                .builtin(false)
                .alerts_json(&serde_json::Value::from(defs.to_vec()).to_string())
                .unwrap()
                .build()
                .unwrap()
        };
        let mut together = build(&defs);
        let alone: Vec<Engine> = defs.iter().map(|d| build(std::slice::from_ref(d))).collect();
        for t in &texts {
            let ev = Event::parse(t).unwrap();
            let got: Vec<String> = together.evaluate(&ev).into_iter().map(|r| r.alert_id).collect();
            let want: Vec<String> = alone
                .iter()
                .flat_map(|e| e.clone().evaluate(&ev))
                .map(|r| r.alert_id)
                .collect();
            prop_assert_eq!(got, want, "{} with {}", t, serde_json::Value::from(defs.clone()));
        }
    }
}

/// Parameter objects where paths often hit: two keys (and an escaped spelling of a third),
/// repeated keys, arrays of arrays, numbers in several notations, escaped strings.
fn params_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        prop::sample::select(vec!["1", "1.0", "1e0", "-0", "10", "0.5"]).prop_map(str::to_owned),
        prop::sample::select(vec![
            r#""x""#,
            r#""X1""#,
            r#""\u0078""#,
            r#""a.b""#,
            r#""""#,
            r#""true""#,
            r#""1""#,
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "b", r"a\u0062"]), inner),
                0..4
            )
            .prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// `request_parameters` / `response_elements` conditions, read from the raw text, find what
    /// `lookup_all` finds in the parsed tree: the last of repeated keys, `*`, indexes, keys
    /// applied to every element of arrays, nulls as absent, numbers by their canonical text.
    #[test]
    fn parameter_conditions_agree_with_the_tree(
        params in params_text(),
        path in prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "*", "0", "1"]), 1..4),
        present in any::<bool>(),
        value in prop::option::of(prop::sample::select(vec!["x", "x*", "X1", "1", "1.0", "true", "*", "a.b", ""])),
    ) {
        let path = path.join(".");
        let value = value.filter(|_| present);
        let tree: serde_json::Value = serde_json::from_str(&params).unwrap();
        let segs: Vec<&str> = path.split('.').collect();
        let mut found = Vec::new();
        trailalerts::lookup_all(&tree, &segs, &mut found);
        found.retain(|v| !v.is_null());
        let want = match (present, value) {
            (false, _) => found.is_empty(),
            (true, None) => !found.is_empty(),
            (true, Some(v)) => {
                let g = Glob::new(v).unwrap();
                found.iter().any(|f| match f {
                    serde_json::Value::String(s) => g.is_match(s),
                    serde_json::Value::Number(n) => g.is_match(&n.to_string()),
                    serde_json::Value::Bool(b) => g.is_match(&b.to_string()),
                    _ => false,
                })
            }
        };
        let text = format!(r#"{{"eventName":"X","requestParameters":{params},"responseElements":{params}}}"#);
        for field in ["request_parameters", "response_elements"] {
            let mut cond = serde_json::json!({"path": path, "present": present});
            if let Some(v) = value {
                cond["value"] = serde_json::json!(v);
            }
            let alert = serde_json::json!({"id": "p", "name": "p", "risk": "low", field: [cond]});
            let mut e = Engine::builder().builtin(false).alerts_json(&alert.to_string()).unwrap().build().unwrap();
            let fired = !e.evaluate(&Event::parse(&text).unwrap()).is_empty();
            prop_assert_eq!(fired, want, "{} {} on {}", field, alert, params);
        }
    }
}
