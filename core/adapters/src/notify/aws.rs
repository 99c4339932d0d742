//! Amazon SNS (Publish) and AWS Lambda (asynchronous Invoke) with the official AWS SDK.
//!
//! Credentials and region come from the standard chain (environment, profile, SSO, container
//! or instance role); each channel may set `region` and `endpoint_url`. One small Tokio
//! runtime serves all sends; clients are cached per (region, endpoint).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;
use trailalerts::render::json_message;
use trailalerts::{AlertResult, ChannelConfig, Notifier, NotifyError};

use super::config_of;

/// Largest message sent (SNS and asynchronous Lambda accept 256 KB): above it the raw event
/// is left out of the message (`event_omitted: true`).
pub const MAX_MESSAGE: usize = 200 * 1024;

/// (region, endpoint) a client configuration is cached for.
type ConfigKey = (Option<String>, Option<String>);

/// A Tokio runtime and cached AWS configurations.
struct Aws {
    rt: tokio::runtime::Runtime,
    configs: Mutex<HashMap<ConfigKey, SdkConfig>>,
    base: Option<SdkConfig>,
}

impl Aws {
    fn new(kind: &str, base: Option<SdkConfig>) -> Result<Self, NotifyError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("trailalerts-aws")
            .enable_all()
            .build()
            .map_err(|e| {
                NotifyError::permanent(kind, format!("cannot start the AWS runtime: {e}"))
            })?;
        Ok(Self {
            rt,
            configs: Mutex::new(HashMap::new()),
            base,
        })
    }

    fn config(&self, region: Option<String>, endpoint: Option<String>) -> SdkConfig {
        let key = (region.clone(), endpoint.clone());
        if let Some(c) = self.configs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return c;
        }
        // Bounded operations, so a send always ends well within the dispatcher's lease.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(5))
            .build();
        let c = crate::aws::sdk_config(
            &self.rt,
            crate::aws::ConfigRequest {
                base: self.base.as_ref(),
                region,
                fallback_region: None,
                endpoint,
                timeouts: Some(timeouts),
            },
        );
        if let Ok(mut m) = self.configs.lock() {
            m.insert(key, c.clone());
        }
        c
    }
}

/// The region of an ARN (`arn:aws:sns:REGION:…`).
fn arn_region(arn: &str) -> Option<String> {
    arn.strip_prefix("arn:")
        .and_then(|s| s.split(':').nth(2))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Classifies an SDK error: throttling, 5xx, timeouts and network failures are retried;
/// other service errors (access denied, not found, invalid parameter) fail at once.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    kind: &str,
    e: SdkError<E, HttpResponse>,
) -> NotifyError {
    let msg = crate::aws::describe(&e);
    if crate::aws::is_transient(&e) {
        NotifyError::transient(kind, msg)
    } else {
        NotifyError::permanent(kind, msg)
    }
}

/// Publishes results to an SNS topic (`{"type": "sns", "topic_arn": …}`): subject (ASCII,
/// 100 characters at most, as SNS requires) and the result as a JSON message.
#[cfg(feature = "sns")]
pub struct SnsNotifier {
    aws: Arc<Aws>,
}

#[cfg(feature = "sns")]
impl std::fmt::Debug for SnsNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnsNotifier")
    }
}

#[cfg(feature = "sns")]
impl SnsNotifier {
    /// A notifier using the standard AWS configuration chain.
    pub fn new() -> Result<Self, NotifyError> {
        Ok(Self {
            aws: Arc::new(Aws::new("sns", None)?),
        })
    }
    /// A notifier using `base` (credentials, region, retry settings) instead of the standard
    /// chain; a channel's `region` and `endpoint_url` still apply.
    pub fn with_config(base: SdkConfig) -> Result<Self, NotifyError> {
        Ok(Self {
            aws: Arc::new(Aws::new("sns", Some(base))?),
        })
    }
}

#[cfg(feature = "sns")]
impl Notifier for SnsNotifier {
    fn channel(&self) -> &str {
        "sns"
    }
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let ChannelConfig::Sns {
            topic_arn,
            region,
            endpoint_url,
        } = config_of("sns", config)?
        else {
            return Err(NotifyError::permanent("sns", "not an sns configuration"));
        };
        let conf = self
            .aws
            .config(region.or_else(|| arn_region(&topic_arn)), endpoint_url);
        let client = aws_sdk_sns::Client::new(&conf);
        let message = json_message(result, MAX_MESSAGE).to_string();
        let req = client
            .publish()
            .topic_arn(topic_arn)
            .subject(trailalerts::render::subject(result, 100, true))
            .message(message);
        self.aws
            .rt
            .block_on(req.send())
            .map(|_| ())
            .map_err(|e| classify("sns", e))
    }
}

/// Invokes a Lambda function asynchronously (`{"type": "lambda", "function": …}`) with the
/// result as its JSON payload.
#[cfg(feature = "lambda")]
pub struct LambdaNotifier {
    aws: Arc<Aws>,
}

#[cfg(feature = "lambda")]
impl std::fmt::Debug for LambdaNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LambdaNotifier")
    }
}

#[cfg(feature = "lambda")]
impl LambdaNotifier {
    /// A notifier using the standard AWS configuration chain.
    pub fn new() -> Result<Self, NotifyError> {
        Ok(Self {
            aws: Arc::new(Aws::new("lambda", None)?),
        })
    }
    /// A notifier using `base` (credentials, region, retry settings) instead of the standard
    /// chain; a channel's `region` and `endpoint_url` still apply.
    pub fn with_config(base: SdkConfig) -> Result<Self, NotifyError> {
        Ok(Self {
            aws: Arc::new(Aws::new("lambda", Some(base))?),
        })
    }
}

#[cfg(feature = "lambda")]
impl Notifier for LambdaNotifier {
    fn channel(&self) -> &str {
        "lambda"
    }
    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let ChannelConfig::Lambda {
            function,
            region,
            endpoint_url,
        } = config_of("lambda", config)?
        else {
            return Err(NotifyError::permanent(
                "lambda",
                "not a lambda configuration",
            ));
        };
        let conf = self
            .aws
            .config(region.or_else(|| arn_region(&function)), endpoint_url);
        let client = aws_sdk_lambda::Client::new(&conf);
        let payload = json_message(result, MAX_MESSAGE).to_string().into_bytes();
        let req = client
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_smithy_types::Blob::new(payload));
        self.aws
            .rt
            .block_on(req.send())
            .map(|_| ())
            .map_err(|e| classify("lambda", e))
    }
}
