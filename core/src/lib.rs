//! # trailalerts
//!
//! An embeddable engine that watches AWS CloudTrail activity and raises alerts.
//!
//! This crate is pure: no I/O, no async runtime, no clock. Time comes from events
//! (`eventTime`), so replaying an archive gives the same results as live processing.
//! Reading files, SQLite storage, the SQS source and notifiers live in `trailalerts-adapters`.
//!
//! ```
//! use trailalerts::{Engine, Event, Records};
//!
//! let mut engine = Engine::builder()
//!     .builtin(false)
//!     .alerts_json(r#"[{"id": "sg-open", "name": "Security group opened", "risk": "high",
//!         "events": ["AuthorizeSecurityGroupIngress"],
//!         "request_parameters": [{"path": "ipPermissions.items.ipRanges.items.cidrIp", "value": "0.0.0.0/0"}]}]"#)
//!     .unwrap()
//!     .build()
//!     .unwrap();
//!
//! let log = br#"{"Records":[{"eventID":"1","eventTime":"2024-05-01T10:00:00Z",
//!   "eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress",
//!   "awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7",
//!   "userIdentity":{"type":"IAMUser","userName":"bob"},
//!   "requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,
//!     "ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}]}"#;
//! for record in Records::new(log) {
//!     let record = record.unwrap();
//!     let event = Event::parse(record.raw).unwrap();
//!     for result in engine.evaluate(&event) {
//!         assert_eq!((result.alert_id.as_str(), result.user.as_str()), ("sg-open", "bob"));
//!     }
//! }
//! ```

mod alert;
mod builtin;
mod engine;
mod error;
mod event;
mod glob;
mod message;
mod notify;
mod outbox;
mod pattern;
pub mod render;
mod result;
mod source;
mod storage;
pub mod testkit;
mod threshold;
mod time;
mod validate;

pub use alert::{
    AlertDef, FieldCondition, IgnoreDef, PathValue, ResponseFilter, Risk, SourceIpFilter,
    ThresholdDef,
};
pub use builtin::{builtin_alert, builtin_alerts};
pub use engine::{
    AwsRanges, Engine, EngineBuilder, EngineStats, Match, Prepared, RecordCounts, Silenced,
};
pub use error::{AlertError, Error, EventError, NotifyError, PatternError, Position, StorageError};
pub use event::{
    Event, FieldRef, Outcome, Segment, SessionContext, SessionIssuer, UserIdentity, lookup_all,
};
pub use glob::{Glob, GlobList, MAX_GLOB_LEN};
pub use message::{MessageShape, S3Object, decode_s3_key, detect_message, skip_reason};
pub use notify::{
    CHANNEL_TYPES, ChannelConfig, MemoryNotifier, Notifier, Secret, SyslogFormat, SyslogTransport,
    channel_key, facility_code, redact, redact_config, syslog_address,
};
pub use outbox::{Delivery, DeliveryStatus, DeliveryUpdate, RetryPolicy};
pub use pattern::FilterPattern;
pub use result::AlertResult;
pub use source::{RawRecord, Records, jsonl_lines};
pub use storage::{
    Batch, CommitOutcome, Cursor, IgnoreKey, MemoryStorage, QueryFilter, ResultPage, ResultQuery,
    SortField, SortValue, Storage, StoredIgnore, StoredResult, apply_delivery_update, export,
    ignore_from_result, note_silenced, paginate, risk_rank, sort_value,
};
pub use threshold::{DEFAULT_MAX_GROUPS, Fired, ThresholdEntry, ThresholdTracker};
pub use time::{format_epoch_ms, parse_event_time};
