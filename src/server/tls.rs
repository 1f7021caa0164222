//! TLS for the SSL and SASL_SSL listeners: the rustls server configuration built from `[tls]`,
//! reloaded on SIGHUP, and the handshake of each connection.
//!
//! rustls with the `ring` provider; TLS 1.3 and 1.2 (Kafka's `ssl.enabled.protocols`
//! default). The certificate chain and key come from PEM files; `client_auth` is Kafka's
//! `ssl.client.auth`: `none` asks for no certificate, `requested` asks and accepts a
//! connection without one, `required` refuses it. A client certificate, when sent, must chain
//! to `ca_file`; its subject becomes the connection's principal (`security/x509.rs`).
//!
//! Reload: [`TlsServer::reload`] reads the files again and swaps the configuration new
//! handshakes use; connections already open keep the session they negotiated. A reload that
//! fails (missing file, bad PEM, a key that does not match the certificate) keeps the
//! previous configuration. The lock is a `std::sync::RwLock` held only to clone or replace
//! an `Arc`, never across `.await`.
//!
//! Handshake: bounded by `network.frame_timeout_ms` (a plaintext Kafka client on a TLS port
//! sends a frame the TLS layer rejects at once; one that sends nothing is closed when the
//! timeout expires), so no connection waits on a handshake forever.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientAuth, TlsConfig};
use crate::security::Principal;

/// Why the TLS configuration could not be built; each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {message}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("tls.ca_file {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("tls.cert_file {cert} and tls.key_file {key}: {message}")]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// The TLS server side shared by every TLS listener of the broker.
pub struct TlsServer {
    settings: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsServer {
    /// Builds the configuration from `[tls]`; fails with the file at fault.
    pub fn load(settings: &TlsConfig) -> Result<TlsServer, TlsError> {
        Ok(TlsServer {
            current: RwLock::new(server_config(settings)?),
            settings: settings.clone(),
        })
    }

    /// Reads the certificate, key and CA again; new handshakes use them. On error the
    /// previous configuration stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.settings)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// An acceptor with the configuration in use now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The principal of a TLS connection's verified client certificate (`User:` and its subject);
/// `None` when the client sent none.
pub fn client_principal<S>(stream: &tokio_rustls::server::TlsStream<S>) -> Option<Principal> {
    let leaf = stream.get_ref().1.peer_certificates()?.first()?;
    crate::security::x509::principal_from_certificate(leaf)
}

/// The rustls server configuration of `[tls]` for the Kafka listeners: the certificate
/// chain and key, and the client verifier of `client_auth`.
pub fn server_config(settings: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = versions(settings, provider.clone())?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        mode => {
            let ca_path = Path::new(&settings.ca_file);
            let mut roots = RootCertStore::empty();
            for cert in certificates("tls.ca_file", ca_path)? {
                roots.add(cert).map_err(|e| TlsError::Ca {
                    path: ca_path.into(),
                    message: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| TlsError::Ca {
                path: ca_path.into(),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(with_identity(settings, builder)?))
}

/// The rustls server configuration of the HTTPS console: the same certificate chain and key,
/// never a client certificate (`client_auth` is about the Kafka listeners; the console
/// authenticates with `[http]` credentials), ALPN `http/1.1`.
pub fn https_config(settings: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = versions(settings, provider)?.with_no_client_auth();
    let mut config = with_identity(settings, builder)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The first step of both configurations: the `ring` provider with TLS 1.3 and 1.2.
fn versions(
    settings: &TlsConfig,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, TlsError> {
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Identity {
            cert: settings.cert_file.clone().into(),
            key: settings.key_file.clone().into(),
            message: e.to_string(),
        })
}

/// The last step of both configurations: the certificate chain and key of `[tls]`.
fn with_identity(
    settings: &TlsConfig,
    builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
) -> Result<ServerConfig, TlsError> {
    let cert_path = Path::new(&settings.cert_file);
    let key_path = Path::new(&settings.key_file);
    let chain = certificates("tls.cert_file", cert_path)?;
    let key = private_key(key_path)?;
    builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Identity {
            cert: cert_path.into(),
            key: key_path.into(),
            message: e.to_string(),
        })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.into(),
        source,
    })
}

/// Every certificate of a PEM file; at least one.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let bad = |message: String| TlsError::Pem {
        what,
        path: path.into(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("tls.key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        what: "tls.key_file",
        path: path.into(),
        message: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block found".into(),
            e => format!("invalid PEM: {e}"),
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    /// A CA, a server certificate for `localhost` and a client certificate, as PEM files in a
    /// temporary directory.
    pub struct Pki {
        pub dir: tempfile::TempDir,
        ca: rcgen::Certificate,
        ca_key: KeyPair,
    }

    impl Pki {
        pub fn new() -> Pki {
            let dir = tempfile::tempdir().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "test CA");
            let ca_key = KeyPair::generate().unwrap();
            let ca = params.self_signed(&ca_key).unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
            Pki { dir, ca, ca_key }
        }

        /// Writes `<name>.pem` and `<name>.key`, signed by the CA.
        pub fn issue(&self, name: &str, cn: &str) {
            let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
            std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
        }

        pub fn path(&self, file: &str) -> String {
            self.dir.path().join(file).display().to_string()
        }

        pub fn settings(&self, client_auth: ClientAuth) -> TlsConfig {
            TlsConfig {
                cert_file: self.path("server.pem"),
                key_file: self.path("server.key"),
                ca_file: self.path("ca.pem"),
                client_auth,
            }
        }
    }

    #[test]
    fn every_client_auth_mode_builds() {
        let pki = Pki::new();
        pki.issue("server", "localhost");
        for mode in [
            ClientAuth::None,
            ClientAuth::Requested,
            ClientAuth::Required,
        ] {
            let c = server_config(&pki.settings(mode)).unwrap();
            assert!(c.alpn_protocols.is_empty());
        }
    }

    #[test]
    fn errors_name_the_file_at_fault() {
        let pki = Pki::new();
        pki.issue("server", "localhost");
        let mut s = pki.settings(ClientAuth::None);
        s.cert_file = pki.path("missing.pem");
        let e = server_config(&s).unwrap_err().to_string();
        assert!(
            e.contains("tls.cert_file") && e.contains("missing.pem"),
            "{e}"
        );

        std::fs::write(pki.path("garbage.pem"), "not a pem file\n").unwrap();
        let mut s = pki.settings(ClientAuth::None);
        s.cert_file = pki.path("garbage.pem");
        let e = server_config(&s).unwrap_err().to_string();
        assert!(
            e.contains("garbage.pem") && e.contains("no CERTIFICATE"),
            "{e}"
        );

        let mut s = pki.settings(ClientAuth::None);
        s.key_file = pki.path("server.pem"); // a certificate where the key should be
        let e = server_config(&s).unwrap_err().to_string();
        assert!(
            e.contains("tls.key_file") && e.contains("no PRIVATE KEY"),
            "{e}"
        );

        // A key that does not belong to the certificate.
        pki.issue("other", "other");
        let mut s = pki.settings(ClientAuth::None);
        s.key_file = pki.path("other.key");
        let e = server_config(&s).unwrap_err().to_string();
        assert!(e.contains("server.pem") && e.contains("other.key"), "{e}");

        let mut s = pki.settings(ClientAuth::Required);
        s.ca_file = pki.path("garbage.pem");
        let e = server_config(&s).unwrap_err().to_string();
        assert!(
            e.contains("tls.ca_file") && e.contains("garbage.pem"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_configuration_in_use() {
        let pki = Pki::new();
        pki.issue("server", "localhost");
        let server = TlsServer::load(&pki.settings(ClientAuth::None)).unwrap();
        let before = server.acceptor().config().clone();
        std::fs::write(pki.path("server.pem"), "truncated").unwrap();
        assert!(server.reload().is_err());
        assert!(Arc::ptr_eq(&before, server.acceptor().config()));
        pki.issue("server", "localhost");
        server.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, server.acceptor().config()));
    }
}
