//! The public Rust API: bad input, state persistence, storage and notifier traits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use trailalerts::{
    AlertDef, Engine, Event, MemoryNotifier, MemoryStorage, Notifier, Records, ResultQuery,
    SortField, Storage,
};

fn event(id: &str, t: &str, user: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!(r#","errorCode":"{e}""#))
        .unwrap_or_default();
    format!(
        r#"{{"eventID":"{id}","eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",
        "sourceIPAddress":"203.0.113.1","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","userName":"{user}"}}{err}}}"#
    )
}

fn burst_engine() -> Engine {
    Engine::builder()
        .builtin(false)
        .alerts_json(r#"{"id":"burst","name":"Burst","risk":"high","response":"unauthorized","threshold":{"count":3,"window_seconds":60,"group_by":["user"]}}"#)
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn half_counted_threshold_survives_a_restart() {
    let mut store = MemoryStorage::new();
    {
        let mut engine = burst_engine();
        for (i, t) in ["2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z"]
            .iter()
            .enumerate()
        {
            let raw = event(&format!("e{i}"), t, "eve", Some("AccessDenied"));
            assert!(engine.evaluate(&Event::parse(&raw).unwrap()).is_empty());
        }
        store
            .save_threshold_state(&engine.threshold_state())
            .unwrap();
    }
    let mut engine = burst_engine();
    engine.restore_threshold_state(store.load_threshold_state().unwrap());
    let raw = event("e2", "2024-01-01T00:00:20Z", "eve", Some("AccessDenied"));
    let results = engine.evaluate(&Event::parse(&raw).unwrap());
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].count, Some(3));
}

#[test]
fn replay_gives_the_same_results_in_one_batch_or_many() {
    let events: Vec<String> = (0..50)
        .map(|i| {
            event(
                &format!("e{i}"),
                &format!("2024-01-01T00:{:02}:{:02}Z", i / 6, (i * 10) % 60),
                if i % 3 == 0 { "a" } else { "b" },
                Some("AccessDenied"),
            )
        })
        .collect();
    let mut one = burst_engine();
    let all: Vec<String> = events
        .iter()
        .flat_map(|e| one.evaluate(&Event::parse(e).unwrap()))
        .map(|r| r.id)
        .collect();
    let mut store = MemoryStorage::new();
    let mut many = Vec::new();
    for chunk in events.chunks(7) {
        let mut engine = burst_engine();
        engine.restore_threshold_state(store.load_threshold_state().unwrap());
        many.extend(
            chunk
                .iter()
                .flat_map(|e| engine.evaluate(&Event::parse(e).unwrap()))
                .map(|r| r.id),
        );
        store
            .save_threshold_state(&engine.threshold_state())
            .unwrap();
    }
    assert!(!all.is_empty());
    assert_eq!(all, many);
}

#[test]
fn storage_keeps_one_result_per_alert_and_event_and_queries() {
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(r#"[{"id":"a","name":"A","risk":"low","events":["GetObject"]},{"id":"b","name":"B","risk":"critical","users":["bob"]}]"#)
        .unwrap()
        .build()
        .unwrap();
    let mut store = MemoryStorage::new();
    let mut results = Vec::new();
    for (i, u) in ["alice", "bob", "carol"].iter().enumerate() {
        results.extend(
            engine.evaluate(
                &Event::parse(&event(
                    &format!("e{i}"),
                    &format!("2024-01-0{}T00:00:00Z", i + 1),
                    u,
                    None,
                ))
                .unwrap(),
            ),
        );
    }
    assert_eq!(results.len(), 4);
    assert_eq!(
        store
            .save_results(&results, "2024-02-01T00:00:00Z")
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .save_results(&results, "2024-02-02T00:00:00Z")
            .unwrap(),
        0,
        "re-read events are not stored twice"
    );
    let page = store
        .query_results(&ResultQuery {
            risks: vec![trailalerts::Risk::Critical],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.results.len(), 1);
    assert_eq!(page.results[0].result.user, "bob");
    let q = ResultQuery {
        sort: SortField::EventTime,
        desc: true,
        limit: 2,
        ..Default::default()
    };
    let p1 = store.query_results(&q).unwrap();
    assert_eq!(p1.results[0].result.event_id, "e2");
    let p2 = store
        .query_results(&ResultQuery {
            cursor: p1.next_cursor.clone(),
            ..q
        })
        .unwrap();
    assert_eq!(p2.results.len(), 2);
    assert!(p2.next_cursor.is_none());
    let one = store.get_result(&results[0].id).unwrap();
    assert!(one.result.raw.get().contains("\"eventID\":\"e0\""));
    assert_eq!(store.get_result("nope").unwrap_err().code(), "not_found");
}

#[test]
fn notifier_trait_delivers_results() {
    let mut engine = Engine::builder().build().unwrap();
    let raw = r#"{"eventID":"x","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","sourceIPAddress":"203.0.113.1","eventType":"AwsApiCall","userIdentity":{"type":"IAMUser","userName":"m"}}"#;
    let n = MemoryNotifier::new("memory");
    for r in engine.evaluate(&Event::parse(raw).unwrap()) {
        n.send(&r, &serde_json::json!({"type": "memory"})).unwrap();
    }
    assert_eq!(n.sent().len(), 1);
    assert_eq!(n.sent()[0].0.alert_id, "cis-4.5-cloudtrail-changes");
}

#[test]
fn hostile_input_gives_errors_not_panics() {
    // 10,000-deep nesting inside an event and as a record.
    let deep = format!(
        r#"{{"eventName":"X","requestParameters":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let ev = Event::parse(&deep).unwrap();
    assert!(
        ev.resource_ids().is_empty(),
        "too deep to inspect: treated as absent"
    );
    let deep_record = format!(
        "{}1{}\n{{\"eventName\":\"ok\"}}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let recs: Vec<_> = Records::new(deep_record.as_bytes()).collect();
    assert!(
        recs.iter()
            .any(|r| r.as_ref().is_ok_and(|r| Event::parse(r.raw).is_ok())),
        "the good record after a hostile one is still read"
    );
    // Wrong types for fields the engine reads.
    for (bad, field) in [
        (r#"{"eventName":1}"#, "eventName"),
        (r#"{"eventName":"X","userIdentity":[]}"#, "userIdentity"),
        (r#"{"eventName":"X","resources":"arn"}"#, "resources"),
        (r#"{"eventName":"X","eventTime":7}"#, "eventTime"),
        (
            r#"{"eventName":"X","sourceIPAddress":{"ip":"1.2.3.4"}}"#,
            "sourceIPAddress",
        ),
        (
            r#"{"eventName":"X","userIdentity":{"sessionContext":{"sessionIssuer":{"arn":false}}}}"#,
            "userIdentity.sessionContext.sessionIssuer.arn",
        ),
    ] {
        let e = Event::parse(bad).unwrap_err();
        assert!(e.contains(&format!("field `{field}`")), "{bad}: {e}");
    }
    // Odd or missing times are documented: the event is evaluated, it just has no time.
    let ev = Event::parse(r#"{"eventName":"X","eventTime":"last tuesday"}"#).unwrap();
    assert_eq!(ev.time_ms(), None);
    // A huge single record.
    let big = format!(
        r#"{{"eventName":"X","requestParameters":{{"blob":"{}"}}}}"#,
        "a".repeat(20_000_000)
    );
    let recs: Vec<_> = Records::new(big.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recs.len(), 1);
    assert!(Event::parse(recs[0].raw).is_ok());
}

#[test]
fn invalid_definitions_name_alert_field_and_problem() {
    let e = AlertDef::parse_many(r#"[{"id":"ok","name":"x","risk":"low"},{"id":"bad","name":"y","risk":"low","threshold":{"count":"many","window_seconds":1}}]"#, &[]).unwrap_err();
    assert_eq!((e.alert_id(), e.field()), ("bad", "threshold.count"));
    assert_eq!(e.code(), "invalid_alert");
    let e = AlertDef::parse_many("{not json", &[]).unwrap_err();
    assert!(e.to_string().contains("not valid JSON"));
}

#[test]
fn json_schema_lists_exactly_the_accepted_fields() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(trailalerts_tests::repo_root().join("docs/alert.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let props: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for p in &props {
        let v = serde_json::json!({"id": "x", "name": "x", "risk": "low", p.as_str(): null});
        if let Err(e) = AlertDef::from_value(v, &[]) {
            assert!(
                !e.problem().contains("unknown field"),
                "schema property `{p}` is not accepted: {e}"
            );
        }
    }
    let full = AlertDef::from_value(serde_json::json!({"id":"x","name":"x","risk":"low","description":"d","enabled":false,"regions":["r"],"services":["s"],"events":["e"],
        "users":["u"],"response":"success","resources":["a"],"request_parameters":[{"path":"p"}],"response_elements":[{"path":"p"}],
        "source_ips":{"exclude_aws":true},"pattern":"{ $.a = 1 }","threshold":{"count":1,"window_seconds":1},"save_results":false,
        "notifications":[{"type":"slack"}],"ignores":[{"id":"i","user":"u"}],"references":["r"]}), &[]).unwrap();
    let keys: Vec<String> = serde_json::to_value(&full)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for k in keys {
        assert!(
            props.contains(&k),
            "field `{k}` missing from docs/alert.schema.json"
        );
    }
}

/// The byte-level prefilter may skip parsing, never a result: every real record, evaluated with
/// and without it, gives the same results.
#[test]
fn prefilter_never_changes_results() {
    let dir = trailalerts_tests::tests_dir().join("data/corpus");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("stratus-red-team"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(dir.join("awsdocs_examples.jsonl"));
    files.push(dir.join("otrf_ec2_proxy_s3_exfiltration.jsonl"));
    files.sort();
    let mut with = Engine::builder().build().unwrap();
    with.set_enabled("instance-credentials-used-outside-aws", true);
    let mut without = with.clone();
    let (mut a, mut b, mut skipped) = (Vec::new(), Vec::new(), 0);
    for f in files {
        let buf = std::fs::read(&f).unwrap();
        for rec in Records::new(&buf).flatten() {
            if let Ok(false) = with.evaluate_raw(rec.value, &mut a) {
                skipped += 1;
            }
            if let Ok(ev) = Event::from_raw_value(rec.value) {
                without.evaluate_into(&ev, &mut b);
            }
        }
    }
    let ids = |v: &[trailalerts::AlertResult]| {
        v.iter()
            .map(|r| (r.alert_id.clone(), r.event_id.clone(), r.count))
            .collect::<Vec<_>>()
    };
    assert!(!b.is_empty());
    assert_eq!(ids(&a), ids(&b));
    assert!(skipped > 50, "the prefilter skipped only {skipped} records");
    // The template alert (every watched call) keeps the prefilter on too.
    let mut all = Engine::builder().build().unwrap();
    all.set_enabled("security-events-any", true);
    assert!(
        !all.may_match(br#"{"eventName":"DescribeInstances","eventSource":"ec2.amazonaws.com"}"#)
    );
}

/// What alerts reached by event name or service ask of the region and the error code lets
/// the prefilter skip events, and literals it cannot tell apart from its fixed keys turn
/// it off rather than skip a match.
#[test]
fn prefilter_gates_and_fixed_keys() {
    let engine = |alerts: &str| {
        Engine::builder()
            .builtin(false)
            .alerts_json(alerts)
            .unwrap()
            .build()
            .unwrap()
    };
    let ev = |region: &str, error: &str| {
        format!(
            r#"{{"eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"{region}"{error}}}"#
        )
    };
    let denied = r#","errorCode":"AccessDenied""#;
    let e = engine(
        r#"[{"id":"a","name":"a","risk":"low","events":["GetObject"],"regions":["eu-west-3"]},
            {"id":"b","name":"b","risk":"low","services":["s3"],"response":"unauthorized"},
            {"id":"c","name":"c","risk":"low","services":["s3"],"pattern":"{ $.awsRegion = \"ap-south-1\" }"}]"#,
    );
    assert!(!e.may_match(ev("us-east-1", "").as_bytes()));
    assert!(e.may_match(ev("EU-West-3", "").as_bytes()));
    assert!(e.may_match(ev("ap-south-1", "").as_bytes()));
    assert!(e.may_match(ev("us-east-1", denied).as_bytes()));
    // KELVIN SIGN lowercases to `k`: a region written with it is left to the parser.
    let kelvin = engine(
        r#"[{"id":"a","name":"a","risk":"low","events":["GetObject"],"regions":["eu-kk-1"]}]"#,
    );
    let text = ev("eu-\u{212a}k-1", "");
    assert!(
        !kelvin
            .clone()
            .evaluate(&Event::parse(&text).unwrap())
            .is_empty()
    );
    assert!(kelvin.may_match(text.as_bytes()));
    assert!(!kelvin.may_match(ev("eu-kx-1", "").as_bytes()));
    // Calls from outside an alert's `source_ips.include` ranges.
    let ranges = engine(
        r#"[{"id":"a","name":"a","risk":"low","events":["GetObject"],"source_ips":{"include":["10.0.0.0/8"]}}]"#,
    );
    let from = |ip: &str| {
        format!(
            r#"{{"eventName":"GetObject","eventSource":"s3.amazonaws.com","sourceIPAddress":"{ip}"}}"#
        )
    };
    assert!(!ranges.may_match(from("203.0.113.9").as_bytes()));
    assert!(!ranges.may_match(from("AWS Internal").as_bytes()));
    assert!(ranges.may_match(from("10.1.2.3").as_bytes()));
    // Without a region list, the key alone lets every event of the call through.
    let open = engine(r#"[{"id":"a","name":"a","risk":"low","events":["GetObject"]}]"#);
    assert!(open.may_match(ev("us-east-1", "").as_bytes()));
    // `$.eventName EXISTS` matches any call: its literal is the prefilter's own key.
    let exists =
        engine(r#"[{"id":"a","name":"a","risk":"low","pattern":"{ $.eventName EXISTS }"}]"#);
    assert!(exists.may_match(ev("us-east-1", "").as_bytes()));
    // `Source` only occurs inside the text `"eventSource"` here, which the prefilter's pass
    // reports as its fixed key.
    let inside =
        engine(r#"[{"id":"a","name":"a","risk":"low","pattern":"{ $.x = \"*Source*\" }"}]"#);
    let text = r#"{"x":"eventSource","eventName":"GetObject"}"#;
    assert!(
        !inside
            .clone()
            .evaluate(&Event::parse(text).unwrap())
            .is_empty()
    );
    assert!(inside.may_match(text.as_bytes()));
}

/// A parallel batch gives exactly the results of evaluating one by one (thresholds included).
#[test]
fn parallel_batches_equal_sequential_evaluation() {
    let events: Vec<String> = (0..400)
        .map(|i| {
            event(
                &format!("e{i}"),
                &format!("2024-01-01T00:{:02}:{:02}Z", i / 60, i % 60),
                if i % 3 == 0 { "a" } else { "b" },
                (i % 2 == 0).then_some("AccessDenied"),
            )
        })
        .collect();
    let mut one = burst_engine();
    let seq: Vec<String> = events
        .iter()
        .flat_map(|e| one.evaluate(&Event::parse(e).unwrap()))
        .map(|r| r.id)
        .collect();
    for threads in [1, 2, 3, 8] {
        let mut eng = burst_engine();
        let texts: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
        let mut out = Vec::new();
        eng.evaluate_batch(&texts, threads, &mut out).unwrap();
        assert_eq!(
            out.into_iter().map(|r| r.id).collect::<Vec<_>>(),
            seq,
            "threads={threads}"
        );
        assert_eq!(eng.stats().events, 400);
    }
    let mut eng = burst_engine();
    let bad: Vec<&[u8]> = vec![events[0].as_bytes(), b"{not json}", events[1].as_bytes()];
    let errs = eng.evaluate_batch(&bad, 2, &mut Vec::new()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, 1);
    assert_eq!(eng.stats().events, 0, "a failed batch applies nothing");
    let lines = trailalerts::jsonl_lines(b"{\"a\":1}\n\n  \n{\"b\":2}");
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), vec![1, 4]);
}

/// Millions of distinct threshold keys: memory stays bounded by the group cap and evictions are
/// counted; the engine keeps working.
#[test]
fn millions_of_threshold_keys_stay_bounded() {
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(r#"{"id":"per-ip","name":"Per IP","risk":"low","threshold":{"count":2,"window_seconds":60,"group_by":["source_ip"]}}"#)
        .unwrap()
        .max_threshold_groups(50_000)
        .build()
        .unwrap();
    for i in 0u32..1_000_000 {
        let raw = format!(
            r#"{{"eventID":"k{i}","eventTime":"2024-01-01T00:00:{:02}Z","eventName":"GetObject","sourceIPAddress":"10.{}.{}.{}"}}"#,
            i % 60,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        );
        engine.evaluate(&Event::parse(&raw).unwrap());
    }
    assert!(engine.threshold_state().len() <= 50_000);
    assert!(
        engine.threshold_evictions() >= 950_000,
        "evictions: {}",
        engine.threshold_evictions()
    );
}

/// A file of a million records is read completely, in bounded time.
#[test]
fn a_million_record_file_is_read() {
    let line = r#"{"eventID":"x","eventName":"GetObject","eventSource":"s3.amazonaws.com"}"#;
    let doc = format!("{{\"Records\":[{}]}}", vec![line; 1_000_000].join(","));
    let mut engine = Engine::builder().build().unwrap();
    let mut n = 0;
    for rec in Records::new(doc.as_bytes()) {
        engine
            .evaluate_raw(rec.unwrap().value, &mut Vec::new())
            .unwrap();
        n += 1;
    }
    assert_eq!(n, 1_000_000);
    assert_eq!(engine.stats().events, 1_000_000);
}

#[test]
fn a_100_mb_single_line_record_is_evaluated_and_the_next_record_still_read() {
    let mut buf = String::with_capacity(101_000_000);
    buf.push_str(r#"{"eventVersion":"1.08","eventID":"huge","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","requestParameters":{"name":"t","blob":""#);
    buf.extend(std::iter::repeat_n('a', 100_000_000));
    buf.push_str("\"}}\n");
    buf.push_str(r#"{"eventVersion":"1.08","eventID":"small","eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}"#);
    buf.push('\n');
    let mut engine = Engine::builder().build().unwrap();
    let mut results = Vec::new();
    let mut n = 0;
    for rec in Records::new(buf.as_bytes()) {
        let rec = rec.unwrap();
        engine.evaluate_raw(rec.value, &mut results).unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
    let huge: Vec<_> = results.iter().filter(|r| r.event_id == "huge").collect();
    assert!(
        huge.iter()
            .any(|r| r.alert_id == "cis-4.5-cloudtrail-changes"),
        "{:?}",
        huge.iter().map(|r| &r.alert_id).collect::<Vec<_>>()
    );
    assert!(
        huge[0].raw.get().len() > 100_000_000,
        "the result keeps the whole raw event"
    );
    assert!(results.iter().any(|r| r.event_id == "small"));
}
