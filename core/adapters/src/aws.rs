//! What the AWS adapters (SQS pipeline, SNS and Lambda notifiers) share: building an SDK
//! configuration and describing SDK errors.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Where an SDK configuration comes from and what overrides it.
pub(crate) struct ConfigRequest<'a> {
    /// Used instead of the standard chain (credentials, region, retry settings) when given.
    pub base: Option<&'a SdkConfig>,
    /// A region that wins over the configured one.
    pub region: Option<String>,
    /// A region used only when nothing else sets one.
    pub fallback_region: Option<String>,
    /// An endpoint instead of AWS.
    pub endpoint: Option<String>,
    /// Timeouts for the standard chain's configuration.
    pub timeouts: Option<TimeoutConfig>,
}

/// Builds the configuration: `base` with the overrides, or the standard chain (environment,
/// profile, SSO, container or instance role) loaded on `rt`.
pub(crate) fn sdk_config(rt: &tokio::runtime::Runtime, req: ConfigRequest<'_>) -> SdkConfig {
    if let Some(base) = req.base {
        let mut b = base.to_builder();
        if let Some(r) = req.region {
            b.set_region(Some(Region::new(r)));
        }
        if let Some(e) = req.endpoint {
            b.set_endpoint_url(Some(e));
        }
        return b.build();
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(t) = req.timeouts {
        loader = loader.timeout_config(t);
    }
    if let Some(r) = req.region {
        loader = loader.region(Region::new(r));
    }
    let has_endpoint = req.endpoint.is_some();
    if let Some(e) = req.endpoint {
        loader = loader.endpoint_url(e);
    }
    let c = rt.block_on(loader.load());
    if c.region().is_some() {
        return c;
    }
    // A compatible endpoint (moto, LocalStack) without any region configured still needs one
    // for signing: us-east-1, as the AWS CLI does.
    let region = req
        .fallback_region
        .or_else(|| has_endpoint.then(|| "us-east-1".to_owned()));
    c.to_builder().region(region.map(Region::new)).build()
}

/// A one-line description of an SDK error: the service's code and message with the HTTP
/// status, or the transport failure.
pub(crate) fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> String {
    match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            format!(
                "{} (HTTP {status}): {}",
                se.err().code().unwrap_or("error"),
                se.err().message().unwrap_or_default()
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// Whether a later attempt may succeed: throttling, 5xx, timeouts and network failures.
#[cfg(any(feature = "sns", feature = "lambda"))]
pub(crate) fn is_transient<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default();
            status == 429
                || status >= 500
                || code.contains("Throttl")
                || code == "TooManyRequestsException"
        }
        _ => true,
    }
}
