//! Email over SMTP with `lettre`: a plain-text and an HTML part, STARTTLS or implicit TLS,
//! and authentication. The subject is one line (control characters removed, 150 characters
//! at most); lettre encodes non-ASCII headers (RFC 2047), so event text cannot add headers.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::Value;
use trailalerts::render::{email_html, email_text, subject};
use trailalerts::{AlertResult, ChannelConfig, Notifier, NotifyError, redact};

use super::{config_of, env_lookup};

/// Sends results by email (`{"type": "email", "smtp_url": …, "from": …, "to": […]}`).
#[derive(Debug)]
pub struct EmailNotifier {
    timeout: Duration,
}

impl Default for EmailNotifier {
    fn default() -> Self {
        Self::new()
    }
}

fn perm(m: impl Into<String>) -> NotifyError {
    NotifyError::permanent("email", m)
}

/// How to reach the SMTP server, parsed from `smtp_url`.
#[derive(Debug)]
struct Server {
    host: String,
    port: u16,
    tls: &'static str,
    user: Option<String>,
    password: Option<String>,
}

fn parse_smtp_url(raw: &str) -> Result<Server, NotifyError> {
    let shown = redact(raw);
    let url = url::Url::parse(raw).map_err(|e| perm(format!("`smtp_url` {shown}: {e}")))?;
    let (tls, default_port) = match url.scheme() {
        "smtp" => ("opportunistic", 25),
        "smtp+starttls" => ("starttls", 587),
        "smtps" => ("tls", 465),
        "smtp+insecure" => ("none", 25),
        other => return Err(perm(format!("`smtp_url`: unsupported scheme `{other}`"))),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| perm(format!("`smtp_url` {shown}: no host")))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = Some(decode(url.username())).filter(|u| !u.is_empty());
    let password = url.password().map(decode);
    Ok(Server {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(default_port),
        tls,
        user,
        password,
    })
}

impl EmailNotifier {
    /// A notifier with a 20 s timeout per SMTP command.
    pub fn new() -> Self {
        Self {
            timeout: Duration::from_secs(20),
        }
    }

    /// The message as it would be sent (without connecting), for a configuration.
    pub fn message(&self, result: &AlertResult, config: &Value) -> Result<Message, NotifyError> {
        let ChannelConfig::Email { from, to, .. } = config_of("email", config)? else {
            return Err(perm("not an email configuration"));
        };
        let from: Mailbox = from.parse().map_err(|e| perm(format!("`from`: {e}")))?;
        let mut b = Message::builder()
            .from(from)
            .subject(subject(result, 150, false))
            .header(header::UserAgent::from(
                concat!("trailalerts/", env!("CARGO_PKG_VERSION")).to_owned(),
            ));
        for t in &to {
            b = b.to(t.parse().map_err(|e| perm(format!("`to` {t}: {e}")))?);
        }
        b.multipart(MultiPart::alternative_plain_html(
            email_text(result),
            email_html(result),
        ))
        .map_err(|e| perm(format!("building the message: {e}")))
    }
}

impl Notifier for EmailNotifier {
    fn channel(&self) -> &str {
        "email"
    }

    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let ChannelConfig::Email {
            smtp_url,
            username,
            password,
            ca_file,
            ..
        } = config_of("email", config)?
        else {
            return Err(perm("not an email configuration"));
        };
        let message = self.message(result, config)?;
        let server = parse_smtp_url(&smtp_url.resolve(env_lookup, "email", "smtp_url")?)?;
        let password = match password {
            Some(p) => Some(p.resolve(env_lookup, "email", "password")?),
            None => server.password.clone(),
        };
        let user = username.or_else(|| server.user.clone());
        let ca = match &ca_file {
            Some(path) => {
                let pem =
                    std::fs::read(path).map_err(|e| perm(format!("`ca_file` {path}: {e}")))?;
                Some(
                    Certificate::from_pem(&pem)
                        .map_err(|e| perm(format!("`ca_file` {path}: {e}")))?,
                )
            }
            None => None,
        };
        let params = || {
            let mut b = TlsParameters::builder(server.host.clone());
            if let Some(c) = ca.clone() {
                b = b.add_root_certificate(c);
            }
            b.build_rustls()
                .map_err(|e| perm(format!("TLS setup: {e}")))
        };
        let tls = match server.tls {
            "opportunistic" => Tls::Opportunistic(params()?),
            "starttls" => Tls::Required(params()?),
            "tls" => Tls::Wrapper(params()?),
            _ => Tls::None,
        };
        let mut builder = SmtpTransport::builder_dangerous(server.host.as_str())
            .port(server.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(u), Some(p)) = (user, password) {
            builder = builder.credentials(Credentials::new(u, p));
        }
        builder.build().send(&message).map(|_| ()).map_err(|e| {
            let msg = format!("{}:{}: {e}", server.host, server.port);
            if e.is_permanent() {
                perm(msg)
            } else {
                NotifyError::transient("email", msg)
            }
        })
    }
}
