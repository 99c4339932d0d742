//! TLS client configuration shared by the syslog channel (rustls, ring).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client configuration trusting the public web roots, or only the CA certificates in the
/// PEM file `ca_file` when given (private SIEM CAs).
pub(crate) fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("`ca_file` {path}: {e}"))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("`ca_file` {path}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("`ca_file` {path}: no certificates"));
            }
            for c in certs {
                roots.add(c).map_err(|e| format!("`ca_file` {path}: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
