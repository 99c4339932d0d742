//! SNS against moto_server (subscribed SQS queue read back) and Lambda against a local
//! endpoint that checks the request is a correctly signed asynchronous Invoke.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};
use serde_json::{Value, json};
use support::{HttpReceiver, Moto};
use trailalerts::{Engine, Event, Notifier};
use trailalerts_adapters::notify::aws::{LambdaNotifier, SnsNotifier};

fn base() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .build()
}

fn result(big: bool) -> trailalerts::AlertResult {
    let alert = r#"{"id": "stop", "name": "CloudTrail stopped — ünïcode", "risk": "critical", "events": ["StopLogging"]}"#;
    let mut engine = Engine::builder()
        .builtin(false)
        .alerts_json(alert)
        .unwrap()
        .build()
        .unwrap();
    let pad = if big {
        "x".repeat(300_000)
    } else {
        String::new()
    };
    let ev = json!({"eventID": "e1", "eventTime": "2024-08-02T08:53:24Z", "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
        "awsRegion": "eu-west-1", "userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root"}, "requestParameters": {"name": "trail", "pad": pad}});
    engine
        .evaluate(&Event::parse(&ev.to_string()).unwrap())
        .remove(0)
}

#[test]
fn sns_publishes_subject_and_json_message_to_subscribers() {
    let moto = Moto::start();
    let setup = moto.helper(&["sns-topic", "alerts"]);
    let topic = setup["topic_arn"].as_str().unwrap();
    let n = SnsNotifier::with_config(base()).unwrap();
    let cfg = json!({"type": "sns", "topic_arn": topic, "endpoint_url": moto.endpoint()});
    let r = result(false);
    n.send(&r, &cfg).unwrap();
    n.send(&result(true), &cfg).unwrap();
    let bodies = moto.helper(&["read", setup["queue_url"].as_str().unwrap()]);
    let bodies = bodies.as_array().unwrap();
    assert_eq!(bodies.len(), 2);
    let envelope: Value = serde_json::from_str(bodies[0].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic);
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(
        subject.len() <= 100
            && subject.is_ascii()
            && subject.starts_with("[CRITICAL] CloudTrail stopped"),
        "{subject}"
    );
    let msg: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(msg["result_id"], r.id.as_str());
    assert_eq!(msg["alert_name"], "CloudTrail stopped — ünïcode");
    assert_eq!(msg["event"]["eventID"], "e1");
    let big: Value = serde_json::from_str(
        serde_json::from_str::<Value>(bodies[1].as_str().unwrap()).unwrap()["Message"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        big["event_omitted"], true,
        "an event too large for SNS is left out, the alert still goes"
    );
    // A topic that does not exist is a permanent error.
    let err = n.send(&r, &json!({"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:missing", "endpoint_url": moto.endpoint()})).unwrap_err();
    assert!(!err.retryable, "{err}");
    // Endpoint down: retryable.
    let err = n.send(&r, &json!({"type": "sns", "topic_arn": topic, "endpoint_url": format!("http://127.0.0.1:{}", support::free_port())})).unwrap_err();
    assert!(err.retryable, "{err}");
}

#[test]
fn lambda_invoke_is_asynchronous_signed_and_carries_the_result() {
    let rx = HttpReceiver::start();
    let n = LambdaNotifier::with_config(base()).unwrap();
    let r = result(false);
    n.send(&r, &json!({"type": "lambda", "function": "arn:aws:lambda:eu-west-1:123456789012:function:soar-intake", "endpoint_url": rx.url("")})).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(
        q["path"],
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Asoar-intake/invocations"
    );
    assert_eq!(q["headers"]["x-amz-invocation-type"], "Event");
    assert_eq!(
        q["sigv4"], "valid",
        "SigV4 signature recomputed by botocore: {q}"
    );
    assert!(
        q["headers"]["authorization"]
            .as_str()
            .unwrap()
            .contains("/eu-west-1/lambda/aws4_request"),
        "region taken from the ARN"
    );
    let payload: Value = serde_json::from_str(q["body"].as_str().unwrap()).unwrap();
    assert_eq!(payload["result_id"], r.id.as_str());
    assert_eq!(payload["risk"], "critical");
    rx.control(json!({"status": 429, "times": 1}));
    let err = n
        .send(
            &r,
            &json!({"type": "lambda", "function": "soar-intake", "endpoint_url": rx.url("")}),
        )
        .unwrap_err();
    assert!(err.retryable, "throttling is retried: {err}");
    rx.control(json!({"status": 404, "times": 1}));
    let err = n
        .send(
            &r,
            &json!({"type": "lambda", "function": "soar-intake", "endpoint_url": rx.url("")}),
        )
        .unwrap_err();
    assert!(!err.retryable, "{err}");
}
