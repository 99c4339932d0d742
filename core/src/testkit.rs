//! Conformance kit: the behaviour every [`Storage`] must have. The in-memory store and the
//! SQLite adapter both run it; a new backend should too.
//!
//! ```
//! use trailalerts::{MemoryStorage, testkit};
//! testkit::check_storage(&mut || MemoryStorage::new()).unwrap();
//! ```

use crate::alert::{AlertDef, IgnoreDef, Risk};
use crate::engine::{Engine, Silenced};
use crate::error::NotifyError;
use crate::event::Event;
use crate::outbox::{Delivery, DeliveryStatus, RetryPolicy};
use crate::result::AlertResult;
use crate::storage::{Batch, ResultQuery, SortField, Storage, StoredResult, paginate};
use crate::threshold::ThresholdEntry;

/// A varied, deterministic set of results (different alerts, risks, regions, users, IPs,
/// times, errors, a threshold result, one with `save: false`).
pub fn sample_results() -> Vec<AlertResult> {
    let alerts = r#"[
      {"id":"a-low","name":"Low","risk":"low","events":["Get*","List*"]},
      {"id":"a-high","name":"High","risk":"high","events":["Create*","Delete*"]},
      {"id":"a-crit","name":"Crit","risk":"critical","users":["root"]},
      {"id":"a-burst","name":"Burst","risk":"medium","response":"unauthorized","threshold":{"count":2,"window_seconds":3600}},
      {"id":"a-nosave","name":"NoSave","risk":"low","events":["DeleteBucket"],"save_results":false}
    ]"#;
    let Ok(b) = Engine::builder().builtin(false).alerts_json(alerts) else {
        return Vec::new();
    };
    let Ok(mut engine) = b.build() else {
        return Vec::new();
    };
    let names = [
        "GetObject",
        "CreateUser",
        "ListBuckets",
        "DeleteBucket",
        "CreateRole",
        "GetSecretValue",
    ];
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let users = ["alice", "Bob", "carol", "root"];
    let mut out = Vec::new();
    for i in 0..40usize {
        let name = names.get(i % names.len()).copied().unwrap_or("X");
        let source = if name.contains("Bucket") || name == "GetObject" {
            "s3"
        } else if name.contains("Secret") {
            "secretsmanager"
        } else {
            "iam"
        };
        let user = users.get(i % users.len()).copied().unwrap_or("x");
        let identity = if user == "root" {
            r#"{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}"#
                .to_owned()
        } else {
            format!(
                r#"{{"type":"IAMUser","userName":"{user}","arn":"arn:aws:iam::111122223333:user/{user}"}}"#
            )
        };
        let err = if i % 5 == 0 {
            r#","errorCode":"AccessDenied""#
        } else {
            ""
        };
        let ip = if i % 3 == 0 {
            format!("203.0.113.{i}")
        } else {
            format!("198.51.100.{i}")
        };
        let raw = format!(
            r#"{{"eventID":"ev-{i:03}","eventTime":"2024-03-{:02}T{:02}:00:00Z","eventSource":"{source}.amazonaws.com","eventName":"{name}",
            "awsRegion":"{}","sourceIPAddress":"{ip}","userAgent":"kit/{i} needle-{}","userIdentity":{identity},"recipientAccountId":"111122223333"{err}}}"#,
            1 + i % 28,
            i % 24,
            regions.get(i % regions.len()).copied().unwrap_or("x"),
            if i == 7 { "SECRET-MARKER" } else { "plain" },
        );
        if let Ok(ev) = Event::parse(&raw) {
            engine.evaluate_into(&ev, &mut out);
        }
    }
    out
}

fn ids(results: &[StoredResult]) -> Vec<String> {
    results.iter().map(|r| r.result.id.clone()).collect()
}

/// Runs every check against fresh stores from `make`; returns the failures.
pub fn check_storage<S: Storage>(make: &mut dyn FnMut() -> S) -> Result<(), Vec<String>> {
    let mut failures = Vec::new();
    let mut check = |name: &str, r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(format!("{name}: {e}"));
        }
    };
    check("results are saved once per id", results_dedup(&mut make()));
    check("queries filter like the reference", queries(&mut make()));
    check("sorting and pagination", sorting_and_pages(&mut make()));
    check("ignores", ignores(&mut make()));
    check("alert definitions and states", alerts(&mut make()));
    check("threshold state and processed ids", state(&mut make()));
    check("bad requests", bad_requests(&mut make()));
    check("notification outbox", outbox(&mut make()));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn results_dedup<S: Storage>(s: &mut S) -> Result<(), String> {
    let results = sample_results();
    let saved = results.iter().filter(|r| r.save).count();
    if saved == results.len() || saved < 10 {
        return Err(format!(
            "sample set unexpected: {saved} of {}",
            results.len()
        ));
    }
    let n = s
        .save_results(&results, "2024-04-01T00:00:00Z")
        .map_err(err)?;
    if n != saved {
        return Err(format!("first save stored {n}, expected {saved}"));
    }
    let again = s
        .save_results(&results, "2024-04-02T00:00:00Z")
        .map_err(err)?;
    if again != 0 {
        return Err(format!("saving the same results again stored {again} more"));
    }
    if s.count_results().map_err(err)? != saved as u64 {
        return Err("count_results disagrees".into());
    }
    let first = results.iter().find(|r| r.save).ok_or("no saved result")?;
    let got = s.get_result(&first.id).map_err(err)?;
    if got.result.raw.get() != first.raw.get() || got.recorded_at != "2024-04-01T00:00:00Z" {
        return Err("get_result changed the raw event or the first recorded time".into());
    }
    if got.result.alert_id != first.alert_id
        || got.result.count != first.count
        || got.result.user != first.user
    {
        return Err("get_result changed fields".into());
    }
    match s.get_result("no-such-result") {
        Err(e) if e.code() == "not_found" => {}
        other => return Err(format!("missing result gave {other:?}")),
    }
    s.set_notification_status(&first.id, "slack", "delivered")
        .map_err(err)?;
    if s.get_result(&first.id)
        .map_err(err)?
        .notifications
        .get("slack")
        .map(String::as_str)
        != Some("delivered")
    {
        return Err("notification status not kept".into());
    }
    Ok(())
}

fn reference(all: &[AlertResult], q: &ResultQuery) -> Result<Vec<String>, String> {
    let f = crate::storage::QueryFilter::new(q).map_err(err)?;
    let rows: Vec<StoredResult> = all
        .iter()
        .filter(|r| r.save && f.matches(r))
        .map(|r| StoredResult {
            result: r.clone(),
            recorded_at: "2024-04-01T00:00:00Z".into(),
            notifications: Default::default(),
        })
        .collect();
    Ok(ids(&paginate(
        rows,
        &ResultQuery {
            limit: 0,
            cursor: None,
            ..q.clone()
        },
    )
    .map_err(err)?
    .results))
}

fn all_pages<S: Storage>(s: &S, q: &ResultQuery) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut q = q.clone();
    for _ in 0..1000 {
        let page = s.query_results(&q).map_err(err)?;
        if q.limit > 0 && page.results.len() > q.limit {
            return Err(format!(
                "page of {} exceeds limit {}",
                page.results.len(),
                q.limit
            ));
        }
        out.extend(ids(&page.results));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(out),
        }
    }
    Err("pagination never ended".into())
}

fn queries<S: Storage>(s: &mut S) -> Result<(), String> {
    let all = sample_results();
    s.save_results(&all, "2024-04-01T00:00:00Z").map_err(err)?;
    let q = |f: &dyn Fn(&mut ResultQuery)| {
        let mut q = ResultQuery::default();
        f(&mut q);
        q
    };
    let cases: Vec<(&str, ResultQuery)> = vec![
        ("everything", ResultQuery::default()),
        (
            "alert ids",
            q(&|q| q.alert_ids = vec!["a-high".into(), "a-crit".into()]),
        ),
        ("risks", q(&|q| q.risks = vec![Risk::Low, Risk::Critical])),
        (
            "time range",
            q(&|q| {
                q.since = Some("2024-03-05T00:00:00Z".into());
                q.until = Some("2024-03-15T00:00:00Z".into());
            }),
        ),
        ("region glob", q(&|q| q.region = Some("EU-*".into()))),
        ("service short name", q(&|q| q.service = Some("iam".into()))),
        ("event glob", q(&|q| q.event = Some("create*".into()))),
        ("user glob", q(&|q| q.user = Some("b*".into()))),
        (
            "source cidr",
            q(&|q| q.source_ip = Some("203.0.113.0/24".into())),
        ),
        (
            "source ip",
            q(&|q| q.source_ip = Some("198.51.100.1".into())),
        ),
        (
            "error code",
            q(&|q| q.error_code = Some("accessdenied".into())),
        ),
        ("free text", q(&|q| q.text = Some("secret-marker".into()))),
        (
            "combined",
            q(&|q| {
                q.risks = vec![Risk::High, Risk::Low];
                q.region = Some("us-*".into());
                q.user = Some("alice".into());
            }),
        ),
    ];
    for (name, query) in cases {
        let want = reference(&all, &query)?;
        let got = all_pages(s, &query)?;
        if got != want {
            return Err(format!(
                "{name}: got {} results {got:?}, expected {} {want:?}",
                got.len(),
                want.len()
            ));
        }
        if name != "everything"
            && (want.is_empty() || want.len() == all.iter().filter(|r| r.save).count())
        {
            return Err(format!(
                "{name}: the sample set does not exercise this filter ({} hits)",
                want.len()
            ));
        }
    }
    Ok(())
}

fn sorting_and_pages<S: Storage>(s: &mut S) -> Result<(), String> {
    let all = sample_results();
    let (first, second) = all.split_at(all.len() / 2);
    s.save_results(first, "2024-04-01T00:00:00Z").map_err(err)?;
    for field in SortField::ALL {
        if field == SortField::RecordedAt {
            continue; // all rows share one recorded time here; covered below
        }
        for desc in [false, true] {
            for limit in [0usize, 1, 3, 7] {
                let q = ResultQuery {
                    sort: field,
                    desc,
                    limit,
                    ..ResultQuery::default()
                };
                let want = reference(first, &q)?;
                let got = all_pages(s, &q)?;
                if got != want {
                    return Err(format!(
                        "sort by {} desc={desc} limit={limit}: order differs",
                        field.name()
                    ));
                }
            }
        }
    }
    // Stable cursor: rows inserted after a page was read neither repeat nor hide older rows.
    let q = ResultQuery {
        sort: SortField::EventTime,
        limit: 4,
        ..ResultQuery::default()
    };
    let page = s.query_results(&q).map_err(err)?;
    let mut seen = ids(&page.results);
    s.save_results(second, "2024-04-02T00:00:00Z")
        .map_err(err)?;
    let rest = all_pages(
        s,
        &ResultQuery {
            cursor: page.next_cursor.clone(),
            ..q.clone()
        },
    )?;
    seen.extend(rest);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    if dedup.len() != seen.len() {
        return Err("a row was returned twice across pages".into());
    }
    for r in first.iter().filter(|r| r.save) {
        if !seen.contains(&r.id) {
            return Err(format!("row {} was skipped after concurrent inserts", r.id));
        }
    }
    let by_recorded = all_pages(
        s,
        &ResultQuery {
            sort: SortField::RecordedAt,
            desc: true,
            limit: 5,
            ..ResultQuery::default()
        },
    )?;
    let newest: Vec<String> = second
        .iter()
        .filter(|r| r.save)
        .map(|r| r.id.clone())
        .collect();
    if by_recorded
        .iter()
        .take(newest.len())
        .any(|id| !newest.contains(id))
    {
        return Err("sort by recorded_at desc does not put the newest batch first".into());
    }
    Ok(())
}

fn ignores<S: Storage>(s: &mut S) -> Result<(), String> {
    let global = IgnoreDef {
        id: "scanner".into(),
        user: Some("scanner*".into()),
        note: Some("vuln scanner".into()),
        created_by: Some("alice".into()),
        created_at: Some("2024-01-01T00:00:00Z".into()),
        ..IgnoreDef::default()
    };
    let scoped = IgnoreDef {
        id: "ci".into(),
        alert_id: Some("a-high".into()),
        user: Some("ci-*".into()),
        ..IgnoreDef::default()
    };
    s.put_ignore(&global).map_err(err)?;
    s.put_ignore(&scoped).map_err(err)?;
    if s.list_ignores(None).map_err(err)?.len() != 2 {
        return Err("list all".into());
    }
    let g = s.list_ignores(Some(None)).map_err(err)?;
    if g.len() != 1 || g.first().map(|i| i.ignore.clone()) != Some(global.clone()) {
        return Err(format!("global ignores: {g:?}"));
    }
    let a = s.list_ignores(Some(Some("a-high"))).map_err(err)?;
    if a.len() != 1 || a.first().map(|i| i.ignore.id.as_str()) != Some("ci") {
        return Err("per-alert ignores".into());
    }
    let edited = IgnoreDef {
        note: Some("edited".into()),
        ..scoped.clone()
    };
    s.put_ignore(&edited).map_err(err)?;
    let silenced = Silenced {
        alert_id: "a-high".into(),
        ignore_id: "ci".into(),
        global: false,
        event_id: "ev-1".into(),
        event_time: None,
    };
    let g_sil = Silenced {
        alert_id: "a-low".into(),
        ignore_id: "scanner".into(),
        global: true,
        event_id: "ev-2".into(),
        event_time: None,
    };
    s.commit(&Batch {
        silenced: &[silenced.clone(), silenced, g_sil],
        recorded_at: "2024-04-01T00:00:00Z",
        ..Batch::default()
    })
    .map_err(err)?;
    let a = s.list_ignores(Some(Some("a-high"))).map_err(err)?;
    let Some(first) = a.first() else {
        return Err("ignore vanished after edit".into());
    };
    if first.ignore.note.as_deref() != Some("edited") || a.len() != 1 {
        return Err("editing an ignore did not replace it".into());
    }
    if first.silenced != 2 || first.recent.first().map(|r| r.1.as_str()) != Some("ev-1") {
        return Err(format!("silenced results not recorded: {first:?}"));
    }
    if s.list_ignores(Some(None))
        .map_err(err)?
        .first()
        .map(|i| i.silenced)
        != Some(1)
    {
        return Err("global ignore's silenced count".into());
    }
    s.remove_ignore(Some("a-high"), "ci").map_err(err)?;
    if !s
        .list_ignores(Some(Some("a-high")))
        .map_err(err)?
        .is_empty()
    {
        return Err("removed ignore still listed".into());
    }
    match s.remove_ignore(None, "nope") {
        Err(e) if e.code() == "not_found" => Ok(()),
        other => Err(format!("removing a missing ignore gave {other:?}")),
    }
}

fn alerts<S: Storage>(s: &mut S) -> Result<(), String> {
    let def = AlertDef::from_value(
        serde_json::json!({"id": "mine", "name": "Mine", "risk": "high", "events": ["CreateUser"]}),
        &[],
    )
    .map_err(err)?;
    s.put_alert(&def).map_err(err)?;
    let edited = AlertDef {
        risk: Risk::Critical,
        ..def.clone()
    };
    s.put_alert(&edited).map_err(err)?;
    let list = s.list_alerts().map_err(err)?;
    if list != vec![edited] {
        return Err(format!("stored alerts: {list:?}"));
    }
    s.set_alert_enabled("cis-4.1-unauthorized-api-calls", false)
        .map_err(err)?;
    s.set_alert_enabled("mine", true).map_err(err)?;
    s.set_alert_enabled("mine", false).map_err(err)?;
    let states = s.alert_states().map_err(err)?;
    if states.get("cis-4.1-unauthorized-api-calls") != Some(&false)
        || states.get("mine") != Some(&false)
        || states.len() != 2
    {
        return Err(format!("alert states: {states:?}"));
    }
    s.remove_alert("mine").map_err(err)?;
    if !s.list_alerts().map_err(err)?.is_empty() {
        return Err("removed alert still listed".into());
    }
    match s.remove_alert("mine") {
        Err(e) if e.code() == "not_found" => Ok(()),
        other => Err(format!("removing a missing alert gave {other:?}")),
    }
}

fn state<S: Storage>(s: &mut S) -> Result<(), String> {
    let entries = vec![
        ThresholdEntry {
            alert_id: "a".into(),
            group: "alice".into(),
            times: vec![1, 2, 3],
            window_ms: 60_000,
        },
        ThresholdEntry {
            alert_id: "a".into(),
            group: "bob\u{1f}eu-west-1".into(),
            times: vec![5],
            window_ms: 60_000,
        },
    ];
    s.save_threshold_state(&entries).map_err(err)?;
    let mut got = s.load_threshold_state().map_err(err)?;
    got.sort_by(|a, b| a.group.cmp(&b.group));
    if got != entries {
        return Err(format!("threshold state round trip: {got:?}"));
    }
    s.save_threshold_state(entries.get(..1).unwrap_or_default())
        .map_err(err)?;
    if s.load_threshold_state().map_err(err)?.len() != 1 {
        return Err("saving threshold state must replace it".into());
    }
    s.mark_processed(&[("e1".into(), 1_000), ("e2".into(), 5_000)])
        .map_err(err)?;
    if !s.is_processed("e1").map_err(err)? || s.is_processed("e3").map_err(err)? {
        return Err("processed ids".into());
    }
    if s.prune_processed(2_000).map_err(err)? != 1
        || s.is_processed("e1").map_err(err)?
        || !s.is_processed("e2").map_err(err)?
    {
        return Err("pruning processed ids by event time".into());
    }
    // One batch carries everything at once.
    let results = sample_results();
    let out = s
        .commit(&Batch {
            results: &results,
            processed: &[("e9".into(), 9)],
            thresholds: Some(&entries),
            recorded_at: "2024-04-01T00:00:00Z",
            silenced: &[],
            deliveries: &[],
        })
        .map_err(err)?;
    if out.new_results == 0
        || !s.is_processed("e9").map_err(err)?
        || s.load_threshold_state().map_err(err)?.len() != 2
    {
        return Err("a batch must store results, processed ids and thresholds together".into());
    }
    Ok(())
}

fn bad_requests<S: Storage>(s: &mut S) -> Result<(), String> {
    let bad = [
        ResultQuery {
            cursor: Some("zz-not-a-cursor".into()),
            ..ResultQuery::default()
        },
        ResultQuery {
            since: Some("yesterday".into()),
            ..ResultQuery::default()
        },
        ResultQuery {
            source_ip: Some("10.0.0.0/99".into()),
            ..ResultQuery::default()
        },
        ResultQuery {
            user: Some("[unclosed".into()),
            ..ResultQuery::default()
        },
    ];
    for q in bad {
        match s.query_results(&q) {
            Err(e) if e.code() == "invalid_request" => {}
            other => return Err(format!("{q:?} gave {other:?}")),
        }
    }
    Ok(())
}

fn outbox<S: Storage>(s: &mut S) -> Result<(), String> {
    let results = sample_results();
    let (Some(saved), Some(second)) = (results.first(), results.get(1)) else {
        return Err("sample results".into());
    };
    let mut unsaved = second.clone();
    unsaved.save = false;
    unsaved.id = "unsaved-result".into();
    let def: AlertDef = serde_json::from_value(serde_json::json!({
        "id": saved.alert_id, "name": "n", "risk": "high",
        "notifications": [{"type": "slack", "webhook_url": "env:A"}, {"type": "slack", "webhook_url": "env:B"}]
    }))
    .map_err(err)?;
    let mut ds = Delivery::for_result(&def, saved, 1_000);
    ds.extend(Delivery::for_result(&def, &unsaved, 1_000));
    let batch = [saved.clone(), unsaved.clone()];
    s.commit(&Batch {
        results: &batch,
        deliveries: &ds,
        recorded_at: "2024-04-01T00:00:00Z",
        ..Batch::default()
    })
    .map_err(err)?;
    // The same batch again (a re-read file or redelivered message) adds nothing.
    s.commit(&Batch {
        results: &batch,
        deliveries: &ds,
        recorded_at: "2024-04-01T00:00:00Z",
        ..Batch::default()
    })
    .map_err(err)?;
    if s.list_deliveries(None, 0).map_err(err)?.len() != 4 {
        return Err("one delivery per (result, channel), stored once".into());
    }
    let stored = s.get_result(&saved.id).map_err(err)?;
    if stored.notifications.get("slack#1").map(String::as_str) != Some("pending") {
        return Err(format!(
            "a stored result shows pending channels, got {:?}",
            stored.notifications
        ));
    }
    if !s.due_deliveries(999, 0).map_err(err)?.is_empty()
        || s.due_deliveries(1_000, 0).map_err(err)?.len() != 4
    {
        return Err("due_deliveries by next attempt time".into());
    }
    if s.next_delivery_ms().map_err(err)? != Some(1_000) {
        return Err("next_delivery_ms".into());
    }
    let due = s.due_deliveries(1_000, 2).map_err(err)?;
    let (Some(a), Some(b)) = (due.first(), due.get(1)) else {
        return Err("limit".into());
    };
    if a.result.raw.get() != saved.raw.get() && a.result.raw.get() != unsaved.raw.get() {
        return Err("a delivery carries the result with its raw event".into());
    }
    let p = RetryPolicy::default();
    s.update_delivery(&RetryPolicy::delivered(a)).map_err(err)?;
    let fail = p.failed(b, &NotifyError::transient("slack", "HTTP 503"), 1_000);
    s.update_delivery(&fail).map_err(err)?;
    let pending = s
        .list_deliveries(Some(DeliveryStatus::Pending), 0)
        .map_err(err)?;
    if pending.len() != 3
        || s.list_deliveries(Some(DeliveryStatus::Delivered), 0)
            .map_err(err)?
            .len()
            != 1
    {
        return Err("status after delivered / retry".into());
    }
    let retried = pending
        .iter()
        .find(|d| d.id == b.id)
        .ok_or("retried delivery missing")?;
    if retried.attempts != 1
        || retried.next_attempt_ms <= 1_000
        || retried.last_error.as_deref() != Some("HTTP 503")
    {
        return Err(format!("retry bookkeeping: {retried:?}"));
    }
    if s.due_deliveries(1_000, 0)
        .map_err(err)?
        .iter()
        .any(|d| d.id == b.id)
    {
        return Err("a retried delivery waits for its backoff".into());
    }
    let delivered = s
        .list_deliveries(Some(DeliveryStatus::Delivered), 0)
        .map_err(err)?;
    if delivered
        .first()
        .is_none_or(|d| d.result.raw.get() != "null")
    {
        return Err("a delivered entry drops its raw event".into());
    }
    let mut gave_up = 0;
    for d in s.due_deliveries(1_000, 0).map_err(err)? {
        s.update_delivery(&p.failed(
            &d,
            &NotifyError::permanent("slack", "HTTP 400 invalid_payload"),
            1_000,
        ))
        .map_err(err)?;
        gave_up += 1;
    }
    let failed = s
        .list_deliveries(Some(DeliveryStatus::Failed), 0)
        .map_err(err)?;
    if failed.len() != gave_up
        || failed
            .iter()
            .any(|d| d.last_error.as_deref() != Some("HTTP 400 invalid_payload"))
    {
        return Err(format!("permanent errors fail at once: {failed:?}"));
    }
    let statuses = s.get_result(&saved.id).map_err(err)?.notifications;
    if !statuses
        .values()
        .any(|v| v == "delivered" || v.starts_with("failed: "))
    {
        return Err(format!("result status mirrors deliveries: {statuses:?}"));
    }
    let Some(f) = failed.first() else {
        return Err("no failed delivery".into());
    };
    if s.retry_deliveries(Some(&a.id), 5_000).is_ok() && a.id != f.id {
        return Err("retrying a delivery that did not fail is refused".into());
    }
    let due_again = |s: &S| {
        s.due_deliveries(5_000, 0).map(|v| {
            v.iter()
                .filter(|d| failed.iter().any(|f| f.id == d.id))
                .count()
        })
    };
    if s.retry_deliveries(None, 5_000).map_err(err)? != gave_up
        || due_again(s).map_err(err)? != gave_up
    {
        return Err("retry_deliveries makes failed ones due again".into());
    }
    // Claims: a claimed delivery is not due for anyone else until its lease ends.
    let before = s.due_deliveries(5_000, 0).map_err(err)?.len();
    let claimed = s.claim_deliveries(5_000, 1, 60_000).map_err(err)?;
    if claimed.len() != 1 || s.due_deliveries(5_000, 0).map_err(err)?.len() != before - 1 {
        return Err("claimed deliveries are not due again for others during their lease".into());
    }
    if !s
        .due_deliveries(65_000, 0)
        .map_err(err)?
        .iter()
        .any(|d| claimed.iter().any(|c| c.id == d.id))
    {
        return Err("claims expire after their lease".into());
    }
    // Pruning delivered entries never lets a stored result notify again.
    for d in s
        .list_deliveries(None, 0)
        .map_err(err)?
        .iter()
        .filter(|d| d.result_id == saved.id)
    {
        s.update_delivery(&RetryPolicy::delivered(d)).map_err(err)?;
    }
    let delivered = s
        .list_deliveries(Some(DeliveryStatus::Delivered), 0)
        .map_err(err)?
        .len();
    if delivered == 0
        || s.prune_deliveries(i64::MAX).map_err(err)? != delivered
        || !s
            .list_deliveries(Some(DeliveryStatus::Delivered), 0)
            .map_err(err)?
            .is_empty()
    {
        return Err("prune_deliveries removes exactly the delivered entries".into());
    }
    let of_saved = |s: &S| {
        s.list_deliveries(None, 0)
            .map(|v| v.iter().filter(|d| d.result_id == saved.id).count())
    };
    let before = of_saved(s).map_err(err)?;
    s.commit(&Batch {
        results: &batch,
        deliveries: &ds,
        recorded_at: "2024-04-02T00:00:00Z",
        ..Batch::default()
    })
    .map_err(err)?;
    if of_saved(s).map_err(err)? != before {
        return Err("a stored result queued its notifications again after pruning".into());
    }
    Ok(())
}
