//! Syslog to a SIEM: RFC 5424 messages (readable text, CEF or JSON) over UDP (one datagram
//! per message, RFC 5426), TCP (octet-counted framing, RFC 6587) or TLS (RFC 5425).
//!
//! Each message opens its own TCP/TLS connection: simple, and a receiver restart never leaves
//! a half-written frame on a cached socket. Messages stay below 8 KB (rsyslog's default
//! maximum): the JSON format drops the raw event when it would not fit.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use trailalerts::render::{SyslogHeader, octet_counted, syslog_message};
use trailalerts::{
    AlertResult, ChannelConfig, Notifier, NotifyError, SyslogTransport, facility_code,
    syslog_address,
};

use super::config_of;

/// Sends results to syslog receivers (`{"type": "syslog", "address": …, "format": …}`).
#[derive(Debug)]
pub struct SyslogNotifier {
    hostname: String,
    proc_id: String,
    timeout: Duration,
}

impl Default for SyslogNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl SyslogNotifier {
    /// A notifier naming this host and process in its messages, with a 10 s timeout.
    pub fn new() -> Self {
        let hostname = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "-".into());
        Self {
            hostname,
            proc_id: std::process::id().to_string(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The message exactly as sent (without framing), for a configuration.
    pub fn render(&self, result: &AlertResult, config: &Value) -> Result<String, NotifyError> {
        let ChannelConfig::Syslog {
            format, facility, ..
        } = config_of("syslog", config)?
        else {
            return Err(NotifyError::permanent(
                "syslog",
                "not a syslog configuration",
            ));
        };
        let facility = facility.as_deref().and_then(facility_code).unwrap_or(16);
        let header = SyslogHeader {
            facility,
            hostname: &self.hostname,
            app_name: "trailalerts",
            proc_id: &self.proc_id,
            version: env!("CARGO_PKG_VERSION"),
        };
        Ok(syslog_message(result, format, &header))
    }
}

fn io_err(what: &str, e: &std::io::Error) -> NotifyError {
    NotifyError::transient("syslog", format!("{what}: {e}"))
}

impl Notifier for SyslogNotifier {
    fn channel(&self) -> &str {
        "syslog"
    }

    fn send(&self, result: &AlertResult, config: &Value) -> Result<(), NotifyError> {
        let msg = self.render(result, config)?;
        let Ok(ChannelConfig::Syslog {
            address, ca_file, ..
        }) = config_of("syslog", config)
        else {
            return Err(NotifyError::permanent(
                "syslog",
                "not a syslog configuration",
            ));
        };
        let (transport, host, port) =
            syslog_address(&address).map_err(|e| NotifyError::permanent("syslog", e))?;
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| io_err(&format!("resolve {host}"), &e))?
            .next()
            .ok_or_else(|| {
                NotifyError::transient("syslog", format!("resolve {host}: no address"))
            })?;
        match transport {
            SyslogTransport::Udp => {
                let bind = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let sock = UdpSocket::bind(bind).map_err(|e| io_err("udp socket", &e))?;
                sock.send_to(msg.as_bytes(), addr)
                    .map_err(|e| io_err(&format!("send to {addr}"), &e))?;
                Ok(())
            }
            SyslogTransport::Tcp => {
                let mut s = TcpStream::connect_timeout(&addr, self.timeout)
                    .map_err(|e| io_err(&format!("connect {addr}"), &e))?;
                s.set_write_timeout(Some(self.timeout))
                    .map_err(|e| io_err("socket", &e))?;
                s.write_all(&octet_counted(&msg))
                    .and_then(|()| s.flush())
                    .map_err(|e| io_err(&format!("write to {addr}"), &e))
            }
            SyslogTransport::Tls => {
                let config = super::tls::client_config(ca_file.as_deref())
                    .map_err(|e| NotifyError::permanent("syslog", e))?;
                let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| {
                    NotifyError::permanent(
                        "syslog",
                        format!("`{host}` is not a valid TLS server name"),
                    )
                })?;
                let conn = rustls::ClientConnection::new(Arc::clone(&config), name)
                    .map_err(|e| NotifyError::permanent("syslog", e.to_string()))?;
                let sock = TcpStream::connect_timeout(&addr, self.timeout)
                    .map_err(|e| io_err(&format!("connect {addr}"), &e))?;
                sock.set_write_timeout(Some(self.timeout))
                    .map_err(|e| io_err("socket", &e))?;
                sock.set_read_timeout(Some(self.timeout))
                    .map_err(|e| io_err("socket", &e))?;
                let mut tls = rustls::StreamOwned::new(conn, sock);
                tls.write_all(&octet_counted(&msg))
                    .and_then(|()| tls.flush())
                    .map_err(|e| io_err(&format!("TLS write to {addr}"), &e))?;
                tls.conn.send_close_notify();
                let _ = tls.flush();
                Ok(())
            }
        }
    }
}
