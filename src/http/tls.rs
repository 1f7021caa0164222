//! HTTPS for the HTTP listener: a rustls server configuration (ring provider, TLS 1.2 and
//! 1.3, ALPN `http/1.1`) from the `[tls]` certificate chain and key.
//!
//! Client certificates are never asked for here (`tls.client_auth` is about the Kafka
//! listeners; the console authenticates with `[http]` credentials). The acceptor is built
//! once at start and again by [`super::HttpHandle::reload`]; connections take the one
//! current when they are accepted.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::HttpError;
use crate::config::TlsConfig;

/// Loads `cert_file` and `key_file` into an acceptor.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, HttpError> {
    let bad = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        HttpError::Tls(format!("{what} {path}: {e}"))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_file)
        .map_err(|e| bad("tls.cert_file", &cfg.cert_file, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("tls.cert_file", &cfg.cert_file, &e))?;
    if certs.is_empty() {
        return Err(HttpError::Tls(format!(
            "tls.cert_file {}: no CERTIFICATE block",
            cfg.cert_file
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file)
        .map_err(|e| bad("tls.key_file", &cfg.key_file, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("tls.cert_file/tls.key_file", &cfg.cert_file, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
