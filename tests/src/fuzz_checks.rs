//! The invariants the fuzz targets check, shared by the targets (`tests/fuzz`, nightly) and
//! the regression replay on stable (`tests/tests/fuzz_regressions.rs`), so both check the same.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test oracle"
)]

use serde_json::{Value, json};
use trailalerts::render::{
    SyslogHeader, cef_message, email_html, json_message, pagerduty_payload, slack_payload, subject,
    syslog_message,
};
use trailalerts::{
    AlertResult, Engine, Event, Glob, MessageShape, Records, SyslogFormat, detect_message,
    skip_reason,
};

/// Checks `[id name="v" …]` with RFC 5424 escaping; returns the rest after `]`.
fn check_sd(s: &str) -> &str {
    let b = s.as_bytes();
    assert_eq!(b.first(), Some(&b'['), "{s}");
    let mut i = 1;
    let mut in_value = false;
    while i < b.len() {
        let c = b[i];
        if in_value {
            match c {
                b'\\' => i += 1,
                b'"' => in_value = false,
                b']' => panic!("unescaped ] in SD value: {s}"),
                _ => {}
            }
        } else {
            match c {
                b'"' => in_value = true,
                b']' => return &s[i + 1..],
                _ => {}
            }
        }
        i += 1;
    }
    panic!("SD not closed: {s}");
}

fn split_cef_header(s: &str) -> usize {
    let mut n = 1;
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == '|' {
            n += 1;
            if n == 8 {
                break;
            }
        }
    }
    n
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Renders attacker-chosen text (NUL-separated fields of `data`) through every channel and
/// panics when an output is not well-formed or not inert.
pub fn render(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.splitn(4, '\u{0}').collect();
    let pick = |i: usize| parts.get(i).copied().unwrap_or("x");
    let alert = json!({"id": "fuzz", "name": pick(3), "risk": "medium"});
    let Ok(b) = Engine::builder()
        .builtin(false)
        .alerts_json(&alert.to_string())
    else {
        return;
    };
    let Ok(mut engine) = b.build() else { return };
    let ev = json!({"eventID": "e", "eventTime": "2024-01-01T00:00:00Z", "eventName": pick(1), "eventSource": "iam.amazonaws.com",
        "awsRegion": "us-east-1", "sourceIPAddress": pick(2), "userAgent": pick(0), "errorMessage": pick(1),
        "userIdentity": {"type": "IAMUser", "userName": pick(0), "arn": pick(2)}, "requestParameters": {"k": pick(0)}});
    let ev_text = ev.to_string();
    let Ok(ev) = Event::parse(&ev_text) else {
        return;
    };
    for r in engine.evaluate(&ev) {
        let slack = slack_payload(&r);
        let mut s = Vec::new();
        strings(&slack, &mut s);
        for t in &s {
            assert!(
                !t.contains('<') && !t.contains('>'),
                "Slack markup survived: {t}"
            );
        }
        let h = SyslogHeader {
            facility: 16,
            hostname: "h",
            app_name: "trailalerts",
            proc_id: "1",
            version: "0",
        };
        for f in [SyslogFormat::Rfc5424, SyslogFormat::Cef, SyslogFormat::Json] {
            let m = syslog_message(&r, f, &h);
            assert!(!m.contains(['\n', '\r']), "{m}");
            let sd_at = m.find(" [trailalerts@32473").expect("structured data");
            let rest = check_sd(&m[sd_at + 1..]);
            if f == SyslogFormat::Json {
                serde_json::from_str::<Value>(rest.trim_start()).expect("syslog JSON parses");
            }
        }
        let cef = cef_message(&r, "0");
        assert_eq!(split_cef_header(&cef), 8, "{cef}");
        assert!(!cef.contains(['\n', '\r']));
        let _: Value = serde_json::from_str(&json_message(&r, 10_000).to_string()).expect("json");
        let sub = subject(&r, 150, false);
        assert!(!sub.contains(['\r', '\n']) && sub.chars().count() <= 151);
        assert!(subject(&r, 100, true).is_ascii());
        let html = email_html(&r);
        assert!(!html.contains("<script") && html.matches('<').count() == email_html_tags(&html));
        let pd = pagerduty_payload(&r, "k");
        assert!(
            pd["payload"]["summary"]
                .as_str()
                .is_some_and(|x| x.chars().count() <= 1025)
        );
    }
}

/// Every `<` in the HTML body starts one of the template's own tags.
fn email_html_tags(html: &str) -> usize {
    const TAGS: [&str; 14] = [
        "<!DOCTYPE",
        "<html",
        "</html",
        "<body",
        "</body",
        "<h2",
        "</h2",
        "<table",
        "</table",
        "<tr",
        "</tr",
        "<th",
        "</th",
        "<td",
    ];
    let mut n = 0;
    for (i, _) in html.match_indices('<') {
        let rest = &html[i..];
        if TAGS.iter().any(|t| rest.starts_with(t))
            || rest.starts_with("</td")
            || rest.starts_with("<code")
            || rest.starts_with("</code")
            || rest.starts_with("<p ")
            || rest.starts_with("</p")
        {
            n += 1;
        }
    }
    n
}

/// Any bytes as a log file: [`Records::next_text`] (the fast syntax scanner) gives the same
/// records and errors as `next`, and [`Records::next_event`] (one pass over each event) gives
/// exactly what `next` followed by [`Event::from_raw_value`] gives: the same events (text and
/// position) and the same errors, in the same order.
pub fn records_one_pass(data: &[u8]) {
    let two_pass: Vec<Result<(String, String), String>> = Records::new(data)
        .map(|rec| {
            let rec = rec.map_err(|e| format!("{e} @ {:?}", e.position()))?;
            match Event::from_raw_value(rec.value) {
                Ok(ev) => Ok((ev.raw().to_owned(), format!("{:?}", rec.position))),
                Err(problem) => Err(format!(
                    "{} @ {:?}",
                    trailalerts::EventError::new(rec.position.clone(), problem),
                    rec.position
                )),
            }
        })
        .collect();
    // `next_text` (the fast syntax scanner): the same records and errors as `next`.
    let mut records = Records::new(data);
    let mut texts = Vec::new();
    while let Some(item) = records.next_text() {
        texts.push(item.map_err(|e| format!("{e} @ {:?}", e.position())));
    }
    let want: Vec<_> = Records::new(data)
        .map(|rec| {
            rec.map(|r| (r.raw, r.position))
                .map_err(|e| format!("{e} @ {:?}", e.position()))
        })
        .collect();
    assert_eq!(texts, want);
    for (raw, _) in texts.iter().flatten() {
        if let Err(e) = Event::check_field_readers_agree(raw) {
            panic!("{e}\nfor {raw}");
        }
    }
    let mut records = Records::new(data);
    let mut one_pass = Vec::new();
    while let Some(item) = records.next_event() {
        one_pass.push(
            item.map(|(ev, pos)| (ev.raw().to_owned(), format!("{pos:?}")))
                .map_err(|e| format!("{e} @ {:?}", e.position())),
        );
    }
    assert_eq!(one_pass, two_pass);
}

/// Any bytes as a log file: the one-by-one, batch, per-file (prepare/settle, as `scan` runs on
/// several threads) and streamed (`evaluate_records`, one thread) evaluation paths agree on results and bad records, and every result is one parseable
/// JSON line.
pub fn records_events(data: &[u8], base: &Engine) {
    records_one_pass(data);
    let mut one = base.clone();
    let mut texts = Vec::new();
    let mut a = Vec::new();
    // `evaluate_raw` may skip a record the prefilter rules out without reading it as an event
    // (`skipped`); file buffers are read in one pass, so every record that is not an event is
    // reported (`bad`).
    let (mut bad, mut skipped_bad) = (0u64, 0u64);
    for rec in Records::new(data) {
        match rec {
            Ok(rec) => {
                let event = Event::from_raw_value(rec.value).is_ok();
                match one.evaluate_raw(rec.value, &mut a) {
                    Err(_) => assert!(!event),
                    Ok(_) if !event => skipped_bad += 1,
                    Ok(_) => {}
                }
                bad += u64::from(!event);
                texts.push(rec.raw.as_bytes());
            }
            Err(_) => bad += 1,
        }
    }
    let mut batch = base.clone();
    let mut b = Vec::new();
    let _ = batch.evaluate_batch_lenient(&texts, 2, &mut b);
    assert_eq!(
        a.iter().map(|r| &r.id).collect::<Vec<_>>(),
        b.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    let mut file = base.clone();
    let prepared = file.prepare_records("fuzz", data, None);
    assert_eq!(prepared.bad_records(), bad);
    let (mut c, mut problems) = (Vec::new(), Vec::new());
    file.settle(prepared, &mut c, &mut problems);
    assert_eq!(problems.len() as u64, bad);
    assert_eq!(
        a.iter().map(|r| (&r.id, r.count)).collect::<Vec<_>>(),
        c.iter().map(|r| (&r.id, r.count)).collect::<Vec<_>>()
    );
    assert_eq!(one.stats().events, file.stats().events + skipped_bad);
    // One pass, evaluated and settled event by event (one-thread `scan`): every field of every
    // result equal, and the same bad records.
    let mut streamed = base.clone();
    let (mut d, mut problems) = (Vec::new(), 0u64);
    let read = streamed.evaluate_records("fuzz", data, None, &mut |r| d.push(r), &mut |_| {
        problems += 1;
    });
    assert_eq!((read.bad_records, problems), (bad, bad));
    assert_eq!(read.events, file.stats().events);
    assert_eq!(
        c.iter().map(AlertResult::to_json_line).collect::<Vec<_>>(),
        d.iter().map(AlertResult::to_json_line).collect::<Vec<_>>()
    );
    for r in &a {
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        assert!(serde_json::from_str::<Value>(&line).is_ok());
    }
}

/// Events `alert_definitions` evaluates: plain; with an error and nested repeated keys; with
/// escaped quotes and backslashes (and no `\u` escape); with a KELVIN SIGN and a source that
/// is no address.
const DEFINITION_EVENTS: [&str; 4] = [
    r#"{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.1","userIdentity":{"type":"IAMUser","userName":"x","arn":"arn:aws:iam::1:user/x"},"requestParameters":{"userName":"y"}}"#,
    r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"EU-West-3","errorCode":"AccessDenied","sourceIPAddress":"10.1.2.3","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/Admin","userName":"Admin"}}},"requestParameters":{"bucketName":"b","awsRegion":"us-east-1"},"resources":[{"ARN":"arn:aws:s3:::b"}]}"#,
    r#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"[2001:db8::1]","userIdentity":{"type":"IAMUser","userName":"o\"brien","arn":"arn:aws:iam::1:user/o\"brien"},"requestParameters":{"name":"a\"b\\c/d"}}"#,
    "{\"eventName\":\"ConsoleLogin\",\"eventSource\":\"signin.amazonaws.com\",\"awsRegion\":\"eu-\u{212a}k-1\",\"sourceIPAddress\":\"AWS Internal\",\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"\u{212a}im\"},\"responseElements\":{\"ConsoleLogin\":\"Failure\"}}",
];

/// Any text as alert definitions: loading and compiling gives a set or an error, never a
/// panic; a loaded set evaluates events, and the byte prefilter never rules out an event the
/// set matches.
pub fn alert_definitions(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(b) = Engine::builder().builtin(false).alerts_json(text) else {
        return;
    };
    let Ok(engine) = b.build() else {
        return;
    };
    for raw in DEFINITION_EVENTS {
        let Ok(ev) = Event::parse(raw) else {
            panic!("a fixed event does not parse: {raw}");
        };
        let mut found = Vec::new();
        engine.matches(&ev, &mut found);
        let _ = engine.clone().evaluate(&ev);
        assert!(
            found.is_empty() || engine.may_match(raw.as_bytes()),
            "the prefilter ruled out an event the alerts match: {raw}"
        );
    }
}

/// Any SQS message body: shape detection never panics and what it extracts is usable.
pub fn sqs_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match detect_message(text) {
        MessageShape::Events(raws) => {
            for r in raws {
                let _ = Event::from_raw_value(&r);
            }
        }
        MessageShape::S3Objects { objects, skipped } => {
            assert!(objects.iter().all(|o| skip_reason(&o.key).is_none()));
            assert!(skipped.iter().all(|(k, _)| skip_reason(k).is_some()));
        }
        MessageShape::Ignorable(_) | MessageShape::Unknown(_) => {}
    }
}

/// Any text as a glob and as CIDRs and users of an alert (NUL separates pattern and value):
/// compiles or fails with an error naming the alert; matching ignores case.
pub fn glob_cidr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, value) = text.split_once('\u{0}').unwrap_or((text, "value"));
    if let Ok(g) = Glob::new(pattern) {
        assert_eq!(
            g.is_match(value),
            g.is_match(&value.to_lowercase()),
            "{pattern:?} on {value:?}"
        );
        let _ = g.literal_prefix();
        let _ = g.longest_literal();
    }
    let alert = json!({"id": "f", "name": "f", "risk": "low", "users": [pattern],
        "source_ips": {"include": [value], "exclude": [pattern]}});
    match Engine::builder()
        .builtin(false)
        .alerts_json(&alert.to_string())
    {
        Ok(b) => match b.build() {
            Ok(mut e) => {
                let ev = json!({"eventName": "X", "sourceIPAddress": value, "userIdentity": {"userName": value}}).to_string();
                if let Ok(ev) = Event::parse(&ev) {
                    let _ = e.evaluate(&ev);
                }
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        },
        Err(err) => assert!(err.to_string().contains('f'), "{err}"),
    }
}
