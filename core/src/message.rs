//! What an SQS message carries, detected from its body with no configuration: S3 event
//! notifications, CloudTrail's own SNS notification, either inside an SNS envelope,
//! EventBridge CloudTrail events, or CloudTrail records themselves.
//!
//! ```
//! use trailalerts::{MessageShape, detect_message};
//! let body = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
//!   "s3":{"bucket":{"name":"trail-bucket"},"object":{"key":"AWSLogs/1/CloudTrail/us-east-1/2024/08/02/f%2Bx.json.gz"}}}]}"#;
//! match detect_message(body) {
//!     MessageShape::S3Objects { objects, skipped } => {
//!         assert_eq!(objects[0].key, "AWSLogs/1/CloudTrail/us-east-1/2024/08/02/f+x.json.gz");
//!         assert!(skipped.is_empty());
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

/// An S3 object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Bucket name.
    pub bucket: String,
    /// Object key, URL-decoded.
    pub key: String,
}

/// What a message body is.
#[derive(Debug, Clone)]
pub enum MessageShape {
    /// CloudTrail log files to fetch from S3, and keys skipped with the reason (digest files,
    /// Insights files, objects that are not CloudTrail logs).
    S3Objects {
        /// Objects to read.
        objects: Vec<S3Object>,
        /// `(key, why)` of objects not read.
        skipped: Vec<(String, String)>,
    },
    /// CloudTrail records carried in the message itself (EventBridge, raw records).
    Events(Vec<Arc<RawValue>>),
    /// A message that needs no work: S3's `s3:TestEvent`, an SNS subscription confirmation.
    Ignorable(String),
    /// Not a shape trailalerts knows; the reason.
    Unknown(String),
}

/// URL-decodes an S3 event key (`+` is a space, `%XX` a byte).
pub fn decode_s3_key(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a key is not a CloudTrail log file to read, if it is not.
pub fn skip_reason(key: &str) -> Option<&'static str> {
    if key.contains("CloudTrail-Digest") {
        Some("CloudTrail digest file")
    } else if key.contains("CloudTrail-Insight") {
        Some("CloudTrail Insights file")
    } else if key.ends_with('/') {
        Some("folder marker")
    } else if !(key.ends_with(".json.gz")
        || key.ends_with(".json")
        || key.ends_with(".jsonl")
        || key.ends_with(".jsonl.gz"))
    {
        Some("not a .json or .json.gz log file")
    } else {
        None
    }
}

fn objects(pairs: impl IntoIterator<Item = (String, String)>) -> MessageShape {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for (bucket, key) in pairs {
        match skip_reason(&key) {
            Some(why) => skipped.push((key, why.to_owned())),
            None => objects.push(S3Object { bucket, key }),
        }
    }
    MessageShape::S3Objects { objects, skipped }
}

fn is_cloudtrail_record(v: &Value) -> bool {
    v.get("eventVersion").is_some()
        || (v.get("eventName").is_some()
            && v.get("eventSource")
                .is_some_and(|s| s.as_str().is_some_and(|s| s.ends_with(".amazonaws.com"))))
}

fn raw(v: &Value) -> Option<Arc<RawValue>> {
    serde_json::value::to_raw_value(v).ok().map(Arc::from)
}

/// Detects a message body's shape (see the module documentation).
pub fn detect_message(body: &str) -> MessageShape {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return MessageShape::Unknown(format!("body is not JSON: {e}")),
    };
    detect_value(&v, 0)
}

fn detect_value(v: &Value, depth: u8) -> MessageShape {
    let Some(obj) = v.as_object() else {
        return MessageShape::Unknown("body is not a JSON object".into());
    };
    // SNS envelope (without raw message delivery): the payload is a string in `Message`.
    if obj.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(msg) = obj.get("Message").and_then(Value::as_str)
    {
        if depth > 0 {
            return MessageShape::Unknown("nested SNS envelopes".into());
        }
        return match serde_json::from_str::<Value>(msg) {
            Ok(inner) => detect_value(&inner, depth + 1),
            Err(e) => MessageShape::Unknown(format!("SNS Message is not JSON: {e}")),
        };
    }
    if let Some(t @ ("SubscriptionConfirmation" | "UnsubscribeConfirmation")) =
        obj.get("Type").and_then(Value::as_str)
    {
        return MessageShape::Ignorable(format!("SNS {t}"));
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return MessageShape::Ignorable("S3 test event".into());
    }
    // CloudTrail's own notification: {"s3Bucket": "...", "s3ObjectKey": ["..."]}.
    if let Some(bucket) = obj.get("s3Bucket").and_then(Value::as_str) {
        let keys = obj
            .get("s3ObjectKey")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        if keys.is_empty() {
            return MessageShape::Unknown("CloudTrail notification without s3ObjectKey".into());
        }
        return objects(keys.into_iter().map(|k| (bucket.to_owned(), k.to_owned())));
    }
    // EventBridge: "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", …
    if let (Some(dt), Some(detail)) = (
        obj.get("detail-type").and_then(Value::as_str),
        obj.get("detail"),
    ) {
        if dt.ends_with("via CloudTrail") && detail.is_object() {
            return raw(detail).map_or_else(
                || MessageShape::Unknown("unreadable detail".into()),
                |r| MessageShape::Events(vec![r]),
            );
        }
        return MessageShape::Unknown(format!(
            "EventBridge event of type `{dt}` is not a CloudTrail event"
        ));
    }
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        // S3 event notification.
        if records.iter().any(|r| r.get("s3").is_some()) {
            let mut pairs = Vec::new();
            for r in records {
                let bucket = r.pointer("/s3/bucket/name").and_then(Value::as_str);
                let key = r.pointer("/s3/object/key").and_then(Value::as_str);
                let name = r
                    .get("eventName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match (bucket, key) {
                    (Some(b), Some(k)) if name.starts_with("ObjectCreated") || name.is_empty() => {
                        pairs.push((b.to_owned(), decode_s3_key(k)))
                    }
                    (Some(_), Some(k)) => {
                        return MessageShape::Ignorable(format!(
                            "S3 {name} for {}",
                            decode_s3_key(k)
                        ));
                    }
                    _ => {
                        return MessageShape::Unknown(
                            "S3 event record without bucket name or object key".into(),
                        );
                    }
                }
            }
            return objects(pairs);
        }
        if records.iter().all(is_cloudtrail_record) {
            return MessageShape::Events(records.iter().filter_map(raw).collect());
        }
        return MessageShape::Unknown(
            "Records are neither S3 events nor CloudTrail records".into(),
        );
    }
    if is_cloudtrail_record(v) {
        return raw(v).map_or_else(
            || MessageShape::Unknown("unreadable record".into()),
            |r| MessageShape::Events(vec![r]),
        );
    }
    MessageShape::Unknown(
        "not an S3 notification, CloudTrail notification, EventBridge event or CloudTrail record"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &MessageShape) -> Vec<String> {
        match m {
            MessageShape::S3Objects { objects, .. } => objects
                .iter()
                .map(|o| format!("{}/{}", o.bucket, o.key))
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn shapes() {
        let s3 = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/1/CloudTrail/x%3Ay+z.json.gz"}}},
                     {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/1/CloudTrail-Digest/d.json.gz"}}}]}"#;
        let m = detect_message(s3);
        assert_eq!(keys(&m), ["b/AWSLogs/1/CloudTrail/x:y z.json.gz"]);
        let MessageShape::S3Objects { skipped, .. } = &m else {
            unreachable!()
        };
        assert_eq!(skipped.len(), 1);
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": s3})
            .to_string();
        assert_eq!(
            keys(&detect_message(&sns)),
            ["b/AWSLogs/1/CloudTrail/x:y z.json.gz"]
        );
        let ct = r#"{"s3Bucket":"b","s3ObjectKey":["AWSLogs/1/CloudTrail/a.json.gz","AWSLogs/1/CloudTrail/b.json.gz"]}"#;
        assert_eq!(keys(&detect_message(ct)).len(), 2);
        let wrapped = serde_json::json!({"Type": "Notification", "Message": ct}).to_string();
        assert_eq!(keys(&detect_message(&wrapped)).len(), 2);
        let eb = r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{"eventVersion":"1.08","eventName":"CreateUser","eventSource":"iam.amazonaws.com"}}"#;
        assert!(matches!(detect_message(eb), MessageShape::Events(v) if v.len() == 1));
        let rec = r#"{"eventVersion":"1.08","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}"#;
        assert!(matches!(detect_message(rec), MessageShape::Events(v) if v.len() == 1));
        let recs = format!(r#"{{"Records":[{rec},{rec}]}}"#);
        assert!(matches!(detect_message(&recs), MessageShape::Events(v) if v.len() == 2));
        assert!(matches!(
            detect_message(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
            MessageShape::Ignorable(_)
        ));
        for bad in [
            "not json",
            "[]",
            "{}",
            r#"{"detail-type":"EC2 Instance State-change Notification","detail":{}}"#,
            r#"{"Type":"Notification","Message":"nope"}"#,
        ] {
            assert!(
                matches!(detect_message(bad), MessageShape::Unknown(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_s3_key("a+b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(decode_s3_key("%E2%9C%93"), "✓");
    }
}
