//! `docs/notification-payloads.md` shows what each channel sends, rendered by the code itself;
//! this test fails when the page is stale (`UPDATE_DOCS=1` rewrites it).
#![allow(clippy::unwrap_used, reason = "tests")]

use trailalerts::render::{
    SyslogHeader, email_text, json_message, pagerduty_payload, slack_payload, subject,
    syslog_message,
};
use trailalerts::{Engine, Event, SyslogFormat};
use trailalerts_tests::repo_root;

const EVENT: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/mallory","accountId":"123456789012","userName":"mallory"},"eventTime":"2024-08-02T08:53:24Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15.0","requestParameters":{"name":"arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail"},"responseElements":null,"eventID":"3b1f7c2e-0000-4000-8000-000000000001","eventType":"AwsApiCall","recipientAccountId":"123456789012"}"#;

#[test]
fn payload_examples_are_current() {
    let alert = r#"{"id": "cloudtrail-stopped", "name": "CloudTrail stopped", "risk": "critical", "events": ["StopLogging"]}"#;
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(alert)
        .unwrap()
        .build()
        .unwrap();
    let r = engine.evaluate(&Event::parse(EVENT).unwrap()).remove(0);
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap();
    let h = SyslogHeader {
        facility: 16,
        hostname: "collector-1",
        app_name: "trailalerts",
        proc_id: "4242",
        version: "0.1.0",
    };
    let mut out = String::from(
        "# Notification payloads\n\n\
         What each channel sends for one result: the `cloudtrail-stopped` alert (risk critical) on this event.\n\
         Generated from the renderers in `core/src/render.rs` (regenerate with\n\
         `UPDATE_DOCS=1 cargo test -p trailalerts-tests --test payloads`). Channel settings: [notifications.md](notifications.md).\n\n",
    );
    out.push_str(&format!(
        "```json\n{}\n```\n\n",
        pretty(serde_json::from_str(EVENT).unwrap())
    ));
    out.push_str(&format!("## Slack (`{{\"type\": \"slack\", \"webhook_url\": \"env:SLACK_WEBHOOK_URL\"}}`)\n\n```json\n{}\n```\n\n", pretty(slack_payload(&r))));
    out.push_str(&format!(
        "## PagerDuty (`{{\"type\": \"pagerduty\", \"routing_key\": \"env:PD_ROUTING_KEY\"}}`)\n\n```json\n{}\n```\n\n",
        pretty(pagerduty_payload(&r, "YOUR_ROUTING_KEY"))
    ));
    out.push_str("## Syslog (`{\"type\": \"syslog\", \"address\": \"tcp://siem:514\", \"format\": …}`)\n\nOne line each (shown without the TCP octet-count prefix):\n\n");
    for (name, f) in [
        ("rfc5424", SyslogFormat::Rfc5424),
        ("cef", SyslogFormat::Cef),
        ("json", SyslogFormat::Json),
    ] {
        out.push_str(&format!(
            "`{name}`:\n\n```\n{}\n```\n\n",
            syslog_message(&r, f, &h)
        ));
    }
    out.push_str(&format!(
        "## SNS and Lambda (`{{\"type\": \"sns\", \"topic_arn\": …}}`, `{{\"type\": \"lambda\", \"function\": …}}`)\n\nSNS subject: `{}`\n\nMessage (SNS) and payload (Lambda):\n\n```json\n{}\n```\n\n",
        subject(&r, 100, true),
        pretty(json_message(&r, 200 * 1024))
    ));
    out.push_str(&format!(
        "## Email (`{{\"type\": \"email\", \"smtp_url\": \"env:SMTP_URL\", \"from\": …, \"to\": […]}}`)\n\nSubject: `{}`\n\nText part (an HTML part shows the same table):\n\n```\n{}```\n",
        subject(&r, 150, false),
        email_text(&r)
    ));
    let path = repo_root().join("docs/notification-payloads.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == out,
        "docs/notification-payloads.md is stale: run `UPDATE_DOCS=1 cargo test -p trailalerts-tests --test payloads`"
    );
}
