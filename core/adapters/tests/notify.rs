//! The six notification channels against real local receivers, and the outbox's delivery
//! guarantees (retries, Retry-After, permanent failures, restarts, slow receivers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{HttpReceiver, Rsyslog, Smtp, free_port};
use trailalerts::{
    AlertResult, Batch, Delivery, DeliveryStatus, Engine, Event, MemoryStorage, Notifier,
    RetryPolicy, Storage,
};
use trailalerts_adapters::notify::email::EmailNotifier;
use trailalerts_adapters::notify::http::{PagerDutyNotifier, SlackNotifier};
use trailalerts_adapters::notify::syslog::SyslogNotifier;
use trailalerts_adapters::notify::{DispatchStats, Dispatcher};
use trailalerts_adapters::sqlite::SqliteStorage;

/// A user name an attacker chose: Slack mentions and links, HTML, CRLF header injection,
/// syslog/CEF delimiters and a JSON-breaking quote.
const HOSTILE: &str = "evil<!channel> <@U123> <http://evil.example|click> `x` <b>&\r\nBcc: victim@example.com\n|cef=1\\ ]\"";

fn hostile_event(id: &str) -> String {
    json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": "2024-08-02T08:53:24Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "agent\nwith newline", "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "userName": HOSTILE, "arn": "arn:aws:iam::123456789012:user/x", "accountId": "123456789012"},
        "requestParameters": {"userName": "new<!here>"}, "responseElements": null
    })
    .to_string()
}

/// Results of one alert with these notifications on `n` hostile events.
fn results_with(notifications: Value, n: usize) -> (Engine, Vec<AlertResult>) {
    let alert = json!({"id": "new-user", "name": "IAM user created", "risk": "high", "events": ["CreateUser"], "notifications": notifications});
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(&alert.to_string())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        out.extend(engine.evaluate(&Event::parse(&hostile_event(&format!("ev-{i}"))).unwrap()));
    }
    assert_eq!(out.len(), n);
    (engine, out)
}

fn deliveries(engine: &Engine, results: &[AlertResult]) -> Vec<Delivery> {
    results
        .iter()
        .flat_map(|r| {
            Delivery::for_result(
                engine.alert(&r.alert_id).unwrap(),
                r,
                trailalerts_adapters::notify::now_ms(),
            )
        })
        .collect()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 20,
        max_age_ms: 60_000,
        base_delay_ms: 100,
        max_delay_ms: 400,
    }
}

fn dispatcher() -> Dispatcher {
    let mut d = Dispatcher::new().policy(fast());
    d.register(Arc::new(SlackNotifier::new()));
    d.register(Arc::new(PagerDutyNotifier::new()));
    d.register(Arc::new(SyslogNotifier::new()));
    d.register(Arc::new(EmailNotifier::new()));
    d
}

/// A memory store holding these results and their deliveries.
fn outbox(engine: &Engine, results: &[AlertResult]) -> Arc<Mutex<MemoryStorage>> {
    let ds = deliveries(engine, results);
    let store = Arc::new(Mutex::new(MemoryStorage::new()));
    store
        .lock()
        .unwrap()
        .commit(&Batch {
            results,
            deliveries: &ds,
            recorded_at: "2024-08-02T09:00:00Z",
            ..Batch::default()
        })
        .unwrap();
    store
}

/// Commits results with their deliveries into a memory store and runs the dispatcher to the end.
fn deliver(
    notifications: Value,
    n: usize,
) -> (Arc<Mutex<MemoryStorage>>, Vec<AlertResult>, DispatchStats) {
    let (engine, results) = results_with(notifications, n);
    let store = outbox(&engine, &results);
    let stats = dispatcher()
        .spawn(store.clone())
        .finish(Duration::from_secs(20));
    (store, results, stats)
}

#[test]
fn slack_message_is_delivered_with_attacker_text_inert() {
    let rx = HttpReceiver::start();
    let (store, results, stats) = deliver(
        json!([{"type": "slack", "webhook_url": rx.url("/services/T0/B0/SECRETTOKEN")}]),
        1,
    );
    assert_eq!(
        (stats.delivered, stats.failed, stats.pending),
        (1, 0, 0),
        "{stats:?}"
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["path"], "/services/T0/B0/SECRETTOKEN");
    assert_eq!(reqs[0]["headers"]["content-type"], "application/json");
    let body: Value = serde_json::from_str(reqs[0]["body"].as_str().unwrap()).unwrap();
    let all = body.to_string();
    for bad in [
        "<!channel>",
        "<@U123>",
        "<http://evil.example|click>",
        "<!here>",
        "<b>",
    ] {
        assert!(
            !all.contains(bad),
            "Slack markup {bad} reached the message: {all}"
        );
    }
    assert!(
        all.contains("&lt;!channel&gt;"),
        "escaped mention shown as text: {all}"
    );
    assert!(body["text"].as_str().unwrap().contains("IAM user created"));
    // Readable: alert, risk, who, what, where, when, source IP.
    for want in [
        "HIGH",
        "iam:CreateUser",
        "account 123456789012 in us-east-1",
        "2024-08-02T08:53:24Z",
        "203.0.113.9",
    ] {
        assert!(all.contains(want), "{want} missing from {all}");
    }
    let stored = store.lock().unwrap().get_result(&results[0].id).unwrap();
    assert_eq!(stored.notifications["slack"], "delivered");
}

#[test]
fn pagerduty_trigger_has_severity_dedup_key_and_details() {
    let rx = HttpReceiver::start();
    let (_, results, stats) = deliver(
        json!([{"type": "pagerduty", "routing_key": "R0UTINGKEY0123456789abcdef012345", "url": rx.url("/v2/enqueue")}]),
        2,
    );
    assert_eq!(stats.delivered, 2, "{stats:?}");
    let mut bodies: Vec<Value> = rx
        .requests()
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    bodies.sort_by_key(|b| b["dedup_key"].as_str().unwrap().to_owned());
    let mut want: Vec<String> = results
        .iter()
        .map(|r| format!("trailalerts-{}", r.id))
        .collect();
    want.sort();
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["dedup_key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        want,
        "one stable dedup key per result"
    );
    let b = &bodies[0];
    assert_eq!(b["routing_key"], "R0UTINGKEY0123456789abcdef012345");
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["payload"]["severity"], "error", "high risk maps to error");
    assert_eq!(b["payload"]["timestamp"], "2024-08-02T08:53:24Z");
    assert_eq!(b["payload"]["source"], "aws:123456789012:us-east-1");
    assert!(b["payload"]["summary"].as_str().unwrap().len() <= 1024);
    assert!(!b["payload"]["summary"].as_str().unwrap().contains('\n'));
    assert_eq!(b["payload"]["custom_details"]["source_ip"], "203.0.113.9");
}

#[test]
fn a_400_fails_at_once_and_is_visible_on_the_result() {
    let rx = HttpReceiver::start();
    rx.control(json!({"status": 400}));
    let (store, results, stats) = deliver(
        json!([{"type": "slack", "webhook_url": rx.url("/hook/SECRET")}]),
        1,
    );
    assert_eq!(
        (stats.attempts, stats.failed),
        (1, 1),
        "no retry after a 400: {stats:?}"
    );
    let s = store.lock().unwrap();
    let status = &s.get_result(&results[0].id).unwrap().notifications["slack"];
    assert!(status.starts_with("failed: HTTP 400"), "{status}");
    assert!(!status.contains("SECRET"));
    let failed = s.list_deliveries(Some(DeliveryStatus::Failed), 0).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 1);
}

#[test]
fn server_errors_and_429_are_retried_honouring_retry_after() {
    let rx = HttpReceiver::start();
    rx.control(json!({"status": 429, "retry_after": "1", "times": 1}));
    let (_, _, stats) = deliver(
        json!([{"type": "slack", "webhook_url": rx.url("/hook")}]),
        1,
    );
    assert_eq!((stats.delivered, stats.retried), (1, 1), "{stats:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1]["started"].as_f64().unwrap() - reqs[0]["started"].as_f64().unwrap();
    assert!(gap >= 0.95, "Retry-After: 1 honoured (waited {gap:.2} s)");

    let rx = HttpReceiver::start();
    rx.control(json!({"status": 503, "times": 2}));
    let (_, _, stats) = deliver(
        json!([{"type": "pagerduty", "routing_key": "k", "url": rx.url("/v2/enqueue")}]),
        1,
    );
    assert_eq!(
        (stats.delivered, stats.retried, stats.attempts),
        (1, 2, 3),
        "{stats:?}"
    );
}

#[test]
fn receiver_down_then_up_gets_each_notification_exactly_once() {
    let port = free_port();
    let (engine, results) = results_with(
        json!([{"type": "slack", "webhook_url": format!("http://127.0.0.1:{port}/hook")}]),
        3,
    );
    let store = outbox(&engine, &results);
    let handle = dispatcher().spawn(store.clone());
    // Nothing listens yet: wait until every delivery has failed at least once.
    let start = Instant::now();
    while store
        .lock()
        .unwrap()
        .list_deliveries(Some(DeliveryStatus::Pending), 0)
        .unwrap()
        .iter()
        .any(|d| d.attempts == 0)
    {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let rx = HttpReceiver::start_on(port);
    let stats = handle.finish(Duration::from_secs(20));
    assert_eq!(
        (stats.delivered, stats.failed, stats.pending),
        (3, 0, 0),
        "{stats:?}"
    );
    assert!(stats.retried >= 3);
    let mut ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 3, "each delivered once");
    ids.dedup();
    let s = store.lock().unwrap();
    for r in &results {
        assert_eq!(
            s.get_result(&r.id).unwrap().notifications["slack"],
            "delivered"
        );
    }
}

#[test]
fn a_slow_receiver_does_not_block_evaluation() {
    let rx = HttpReceiver::start();
    rx.control(json!({"delay": 3.0}));
    let (mut engine, first) = results_with(
        json!([{"type": "slack", "webhook_url": rx.url("/hook")}]),
        1,
    );
    let store = outbox(&engine, &first);
    let handle = dispatcher().per_channel(2).spawn(store.clone());
    handle.wake();
    while rx.stats().0 == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The first send is now stalled at the receiver; evaluation and commits go on.
    for i in 0..200 {
        let rs = engine.evaluate(&Event::parse(&hostile_event(&format!("more-{i}"))).unwrap());
        let ds = deliveries(&engine, &rs);
        store
            .lock()
            .unwrap()
            .commit(&Batch {
                results: &rs,
                deliveries: &ds,
                recorded_at: "t",
                ..Batch::default()
            })
            .unwrap();
        handle.wake();
    }
    let (_, finished_during) = rx.stats();
    assert_eq!(store.lock().unwrap().count_results().unwrap(), 201);
    assert_eq!(
        finished_during, 0,
        "200 evaluations and commits completed while the sends were stalled"
    );
    rx.control(json!({}));
    let stats = handle.finish(Duration::from_secs(60));
    assert_eq!(stats.delivered, 201, "{stats:?}");
}

#[test]
fn pending_deliveries_survive_a_restart() {
    let rx = HttpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.db");
    let (engine, results) = results_with(
        json!([{"type": "slack", "webhook_url": rx.url("/hook")}, {"type": "pagerduty", "routing_key": "k", "url": rx.url("/pd")}]),
        2,
    );
    {
        // The process records results and their outbox, then dies before sending anything.
        let mut s = SqliteStorage::open(&db).unwrap();
        let ds = deliveries(&engine, &results);
        s.commit(&Batch {
            results: &results,
            deliveries: &ds,
            recorded_at: "t",
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(
            s.get_result(&results[0].id).unwrap().notifications["slack"],
            "pending"
        );
    }
    let store = Arc::new(Mutex::new(SqliteStorage::open(&db).unwrap()));
    let stats = dispatcher()
        .spawn(store.clone())
        .finish(Duration::from_secs(20));
    assert_eq!(stats.delivered, 4, "{stats:?}");
    assert_eq!(rx.requests().len(), 4);
    let s = store.lock().unwrap();
    for r in &results {
        let n = s.get_result(&r.id).unwrap().notifications;
        assert_eq!(
            (n["slack"].as_str(), n["pagerduty"].as_str()),
            ("delivered", "delivered")
        );
    }
    // Re-reading the same events (e.g. a redelivered queue message) does not notify again.
    drop(s);
    let again = deliveries(&engine, &results);
    store
        .lock()
        .unwrap()
        .commit(&Batch {
            results: &results,
            deliveries: &again,
            recorded_at: "t",
            ..Batch::default()
        })
        .unwrap();
    let stats = dispatcher().spawn(store).finish(Duration::from_secs(5));
    assert_eq!(stats.attempts, 0);
    assert_eq!(rx.requests().len(), 4);
}

#[test]
fn save_results_false_still_notifies_and_keeps_only_the_summary() {
    let rx = HttpReceiver::start();
    let alert = json!({"id": "n", "name": "N", "risk": "low", "events": ["CreateUser"], "save_results": false,
                       "notifications": [{"type": "slack", "webhook_url": rx.url("/hook")}]});
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(&alert.to_string())
        .unwrap()
        .build()
        .unwrap();
    let results = engine.evaluate(&Event::parse(&hostile_event("e1")).unwrap());
    let store = outbox(&engine, &results);
    let stats = dispatcher()
        .spawn(store.clone())
        .finish(Duration::from_secs(10));
    assert_eq!(stats.delivered, 1);
    let s = store.lock().unwrap();
    assert_eq!(
        s.count_results().unwrap(),
        0,
        "the result itself is not saved"
    );
    let kept = s.list_deliveries(None, 0).unwrap();
    assert_eq!(
        kept[0].result.raw.get(),
        "null",
        "the raw event is dropped once delivered"
    );
}

fn syslog_results(format: &str) -> (Vec<AlertResult>, Value) {
    let cfg = json!({"type": "syslog", "address": "udp://127.0.0.1:9", "format": format, "facility": "local4"});
    let (_, results) = results_with(json!([cfg.clone()]), 1);
    (results, cfg)
}

#[test]
fn syslog_messages_are_single_line_rfc5424_with_escaped_structured_data() {
    let n = SyslogNotifier::new();
    for format in ["rfc5424", "cef", "json"] {
        let (results, cfg) = syslog_results(format);
        let msg = n.render(&results[0], &cfg).unwrap();
        assert!(!msg.contains(['\n', '\r']), "{format}: {msg}");
        // local4 (20) * 8 + error (3) = 163
        assert!(msg.starts_with("<163>1 2024-08-02T08:53:24Z "), "{msg}");
        let sd_start = msg.find("[trailalerts@32473 ").unwrap();
        let header: Vec<&str> = msg[..sd_start].split(' ').collect();
        assert_eq!(
            header.len(),
            7,
            "PRI+VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID and SD: {header:?}"
        );
        assert_eq!((header[3], header[5]), ("trailalerts", "new-user"));
        assert!(msg.contains(r#"user="evil<!channel> <@U123> <http://evil.example|click> `x` <b>&  Bcc: victim@example.com |cef=1\\ \]\"""#), "{msg}");
        if format == "cef" {
            let cef = &msg[msg.find("CEF:0|").unwrap()..];
            let header_fields: Vec<&str> = cef.splitn(8, '|').collect();
            assert_eq!(
                &header_fields[..7],
                [
                    "CEF:0",
                    "trailalerts",
                    "trailalerts",
                    env!("CARGO_PKG_VERSION"),
                    "new-user",
                    "IAM user created",
                    "8"
                ]
            );
            assert!(cef.contains(r"suser=evil<!channel> <@U123> <http://evil.example|click> `x` <b>&\r\nBcc: victim@example.com\n|cef\=1\\ ]"), "{cef}");
            assert!(cef.contains("src=203.0.113.9"));
        }
        if format == "json" {
            let json_part = &msg[msg.find("] {").unwrap() + 2..];
            let v: Value = serde_json::from_str(json_part).unwrap();
            assert_eq!(v["user"], HOSTILE);
            assert_eq!(v["event"]["eventID"], "ev-0");
        }
    }
}

#[test]
fn syslog_over_udp_and_tcp_reaches_a_listener() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let mut frames = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = tcp.accept().unwrap();
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).unwrap();
            frames.push(String::from_utf8(buf).unwrap());
        }
        frames
    });
    let n = SyslogNotifier::new();
    let (results, _) = syslog_results("rfc5424");
    let udp_cfg = json!({"type": "syslog", "address": format!("udp://127.0.0.1:{}", udp.local_addr().unwrap().port())});
    n.send(&results[0], &udp_cfg).unwrap();
    let mut buf = vec![0u8; 65536];
    let len = udp.recv(&mut buf).unwrap();
    let datagram = String::from_utf8(buf[..len].to_vec()).unwrap();
    assert_eq!(datagram, n.render(&results[0], &udp_cfg).unwrap());
    for format in ["rfc5424", "cef"] {
        let cfg = json!({"type": "syslog", "address": format!("tcp://127.0.0.1:{tcp_port}"), "format": format});
        n.send(&results[0], &cfg).unwrap();
    }
    for frame in reader.join().unwrap() {
        // Octet counting: "LEN SP MSG", LEN in bytes.
        let (len, msg) = frame.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), msg.len(), "{frame}");
        assert!(msg.starts_with("<131>1 "), "local0 + error: {msg}");
    }
    // Nothing listening: a retryable error.
    let closed = free_port();
    let err = n
        .send(
            &results[0],
            &json!({"type": "syslog", "address": format!("tcp://127.0.0.1:{closed}")}),
        )
        .unwrap_err();
    assert!(err.retryable, "{err}");
}

#[test]
fn rsyslog_parses_every_format() {
    let rs = Rsyslog::start();
    let n = SyslogNotifier::new();
    let (results, _) = syslog_results("rfc5424");
    let mut sent = 0;
    for (transport, port) in [("udp", rs.udp), ("tcp", rs.tcp)] {
        for format in ["rfc5424", "cef", "json"] {
            let cfg = json!({"type": "syslog", "address": format!("{transport}://127.0.0.1:{port}"), "format": format});
            n.send(&results[0], &cfg).unwrap();
            sent += 1;
        }
    }
    let parsed = rs.parsed(sent);
    assert_eq!(parsed.len(), sent, "{parsed:?}");
    for p in &parsed {
        assert_eq!(p["app"], "trailalerts", "{p}");
        assert_eq!(p["msgid"], "new-user", "{p}");
        assert_eq!(p["pri"], "131", "{p}");
        assert!(
            p["timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2024-08-02T08:53:24"),
            "{p}"
        );
        let sd = p["sd"].as_str().unwrap();
        assert!(
            sd.starts_with("[trailalerts@32473 alert_id=\"new-user\" risk=\"high\""),
            "{sd}"
        );
        assert!(
            sd.contains(r#"account_id="123456789012""#) && sd.ends_with(']'),
            "{sd}"
        );
        let msg = p["msg"].as_str().unwrap();
        assert!(
            msg.contains("IAM user created")
                || msg.contains("CEF:0|")
                || msg.contains("\"alert_id\":\"new-user\""),
            "{msg}"
        );
    }
    let json_msgs: Vec<Value> = parsed
        .iter()
        .filter_map(|p| serde_json::from_str(p["msg"].as_str().unwrap().trim()).ok())
        .collect();
    assert_eq!(
        json_msgs.len(),
        2,
        "the JSON format arrives as parseable JSON over UDP and TCP"
    );
    assert_eq!(json_msgs[0]["user"], HOSTILE);
}

#[test]
fn email_has_safe_headers_and_both_bodies() {
    let smtp = Smtp::start();
    let cfg = json!({"type": "email", "smtp_url": format!("smtp://127.0.0.1:{}", smtp.port), "from": "alerts@example.com", "to": ["soc@example.com", "oncall@example.com"]});
    let (_, results, stats) = deliver(json!([cfg]), 1);
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["defects"], json!([]), "{m}");
    assert_eq!(m["from"], "alerts@example.com");
    assert_eq!(m["to"], "soc@example.com, oncall@example.com");
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[HIGH] IAM user created: evil"),
        "{subject}"
    );
    assert!(!subject.contains(['\r', '\n']));
    let names: Vec<String> = m["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(
        !names.contains(&"bcc".to_owned()),
        "CRLF in a user name must not add headers: {names:?}"
    );
    let text = m["text"].as_str().unwrap();
    assert!(
        text.contains("iam:CreateUser") && text.contains(&results[0].id),
        "{text}"
    );
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;") && !html.contains("<b>&"),
        "HTML escaped: {html}"
    );
}

#[test]
fn bad_smtp_server_is_retryable_and_bad_address_is_not() {
    let n = EmailNotifier::new();
    let (_, results) = results_with(json!([]), 1);
    let closed = free_port();
    let err = n.send(&results[0], &json!({"type": "email", "smtp_url": format!("smtp://127.0.0.1:{closed}"), "from": "a@example.com", "to": ["b@example.com"]})).unwrap_err();
    assert!(err.retryable, "{err}");
    let err = n.send(&results[0], &json!({"type": "email", "smtp_url": "smtp://user:hunter2secret@127.0.0.1:1", "from": "not an address@", "to": ["b@example.com"]})).unwrap_err();
    assert!(!err.retryable);
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn syslog_over_tls_verifies_the_server_with_a_private_ca() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = support::Certs::new();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certs.path("server.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(certs.path("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut frames = Vec::new();
        for _ in 0..2 {
            let (sock, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut buf = Vec::new();
            let _ = tls.read_to_end(&mut buf);
            frames.push(String::from_utf8_lossy(&buf).into_owned());
        }
        frames
    });
    let n = SyslogNotifier::new();
    let (results, _) = syslog_results("cef");
    let trusted = json!({"type": "syslog", "address": format!("tls://127.0.0.1:{port}"), "format": "cef", "ca_file": certs.path("ca.pem")});
    n.send(&results[0], &trusted).unwrap();
    // The public roots do not trust the private CA: the handshake fails, nothing is sent.
    let err = n
        .send(
            &results[0],
            &json!({"type": "syslog", "address": format!("tls://127.0.0.1:{port}")}),
        )
        .unwrap_err();
    assert!(err.message.contains("TLS write"), "{err}");
    let frames = server.join().unwrap();
    let (len, msg) = frames[0].split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), msg.len());
    assert!(msg.contains("CEF:0|trailalerts|trailalerts|"), "{msg}");
    assert_eq!(frames[1], "", "nothing reaches an unverified server");
}

#[test]
fn email_over_starttls_and_smtps_with_a_private_ca() {
    let certs = support::Certs::new();
    for (mode, scheme) in [("starttls", "smtp+starttls"), ("smtps", "smtps")] {
        let smtp = Smtp::start_tls(&certs, mode);
        let cfg = json!({"type": "email", "smtp_url": format!("{scheme}://127.0.0.1:{}", smtp.port), "from": "alerts@example.com",
                         "to": ["soc@example.com"], "ca_file": certs.path("ca.pem")});
        let (_, _, stats) = deliver(json!([cfg]), 1);
        assert_eq!(stats.delivered, 1, "{mode}: {stats:?}");
        assert_eq!(smtp.messages().len(), 1, "{mode}");
        // Without the CA the server is not trusted.
        let (_, results) = results_with(json!([]), 1);
        let err = EmailNotifier::new()
            .send(&results[0], &json!({"type": "email", "smtp_url": format!("{scheme}://127.0.0.1:{}", smtp.port), "from": "a@example.com", "to": ["b@example.com"]}))
            .unwrap_err();
        assert!(
            err.message.to_lowercase().contains("certificate")
                || err.message.to_lowercase().contains("tls"),
            "{mode}: {err}"
        );
    }
}

#[test]
fn a_receiver_answering_garbage_is_retried_not_trusted() {
    // Something that is not HTTP at all: bytes, then the connection closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = std::io::Read::read(&mut c, &mut buf);
            let _ = std::io::Write::write_all(&mut c, b"\x00\xffSSH-2.0-garbage\r\n\r\n");
        }
    });
    let (_, results) = results_with(json!([]), 1);
    for (n, cfg) in [
        (SlackNotifier::new().send(&results[0], &json!({"type": "slack", "webhook_url": format!("http://127.0.0.1:{port}/hook")}))),
        (PagerDutyNotifier::new().send(&results[0], &json!({"type": "pagerduty", "routing_key": "k", "url": format!("http://127.0.0.1:{port}/pd")}))),
    ]
    .into_iter()
    .enumerate()
    {
        let err = cfg.unwrap_err();
        assert!(err.retryable, "attempt {n}: {err}");
    }
    server.join().unwrap();
}
