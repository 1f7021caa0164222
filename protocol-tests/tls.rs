//! Listeners and TLS: several named listeners, each answering Metadata / FindCoordinator /
//! DescribeCluster with its own advertised address; an SSL listener serving ApiVersions,
//! Produce and Fetch (record bytes exact, read from the segment files and encrypted) to a
//! rustls client; a plaintext client on the TLS port closed at once, a silent one at the
//! handshake timeout; `client_auth = "required"` refusing a client without a certificate and
//! giving one with a certificate its subject as principal; the certificate reloaded (what
//! SIGHUP does) for new connections; start errors naming the file or listener at fault.
//! Certificates are generated at test time (rcgen).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use runnel::config::{ClientAuth, Config, ListenerConfig, SecurityProtocol, TlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::harness::{self, Client, TestBroker};
use crate::produce_fetch::{create, fetch_at, produce};
use crate::wire::{record_batch, R, W};

/// A CA and certificates it signs, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "runnel test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let pki = Pki { dir, ca, ca_key };
        pki.issue("server", &[(DnType::CommonName, "localhost")]);
        pki
    }

    /// Writes `<name>.pem` and `<name>.key`: a certificate for `localhost` with this subject
    /// (attributes in encoding order), signed by the CA.
    fn issue(&self, name: &str, subject: &[(DnType, &str)]) {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), *v);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    fn settings(&self, client_auth: ClientAuth) -> TlsConfig {
        TlsConfig {
            cert_file: self.path("server.pem"),
            key_file: self.path("server.key"),
            ca_file: self.path("ca.pem"),
            client_auth,
        }
    }

    /// A client trusting the CA, presenting `<name>.pem` when `cert` is given.
    fn connector(&self, cert: Option<&str>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{name}.pem")))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        TlsConnector::from(Arc::new(config))
    }
}

fn listener(name: &str, protocol: SecurityProtocol, advertised: Option<&str>) -> ListenerConfig {
    ListenerConfig {
        name: name.into(),
        address: "127.0.0.1:0".into(),
        advertised: advertised.map(str::to_string),
        security_protocol: protocol,
        sasl_mechanisms: Vec::new(),
    }
}

/// A broker with a PLAINTEXT listener (first) and an SSL listener named `SSL`.
async fn start(pki: &Pki, client_auth: ClientAuth) -> TestBroker {
    let tls = pki.settings(client_auth);
    harness::start_with(move |c| {
        c.listeners = vec![
            listener("PLAIN", SecurityProtocol::Plaintext, None),
            listener("SSL", SecurityProtocol::Ssl, None),
        ];
        c.tls = tls;
        c.network.frame_timeout_ms = 1_000;
    })
    .await
}

fn addr(b: &TestBroker, listener: &str) -> std::net::SocketAddr {
    b.running.as_ref().unwrap().listener_addrs[listener]
}

async fn tls_connect(
    b: &TestBroker,
    pki: &Pki,
    cert: Option<&str>,
) -> std::io::Result<Client<TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect(addr(b, "SSL")).await?;
    let stream = pki
        .connector(cert)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(Client { stream })
}

fn handshake_failures(b: &TestBroker) -> u64 {
    b.running
        .as_ref()
        .unwrap()
        .broker
        .metrics
        .tls_handshake_failures
        .with_label_values(&["SSL"])
        .get()
}

/// ApiVersions v0: (error code, number of APIs).
async fn api_versions<S>(c: &mut Client<S>) -> (i16, i32)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let resp = c.call(&W::default().header(18, 0, 3, "t").0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 3);
    (r.i16(), r.i32())
}

#[tokio::test]
async fn an_ssl_listener_serves_produce_and_fetch_with_exact_bytes() {
    let pki = Pki::new();
    let b = start(&pki, ClientAuth::None).await;
    assert_eq!(
        b.addr,
        addr(&b, "PLAIN"),
        "kafka_addr is the first listener"
    );
    let mut c = tls_connect(&b, &pki, None).await.unwrap();
    let (err, apis) = api_versions(&mut c).await;
    assert_eq!(err, 0);
    assert!(apis > 10, "{apis} APIs");

    // Batches larger than the 64 KiB chunks the TLS path reads them in.
    create(&mut c, "tls-t").await;
    let mut stored = Vec::new();
    for i in 0..6 {
        let value: Vec<u8> = (0..150_000).map(|j| ((i * 7 + j) % 251) as u8).collect();
        let mut batch = record_batch(&[&value], 1_700_000_000_000 + i as i64);
        assert_eq!(produce(&mut c, "tls-t", &batch).await, (0, i as i64));
        batch[0..8].copy_from_slice(&(i as i64).to_be_bytes());
        batch[12..16].copy_from_slice(&0i32.to_be_bytes());
        stored.extend_from_slice(&batch);
    }
    for version in [4i16, 12] {
        let p = fetch_at(&mut c, version, "tls-t", 0, 8 << 20, 8 << 20).await;
        assert_eq!((p.error_code, p.high_watermark), (0, 6));
        let got = p.records.unwrap_or_default();
        assert!(
            got == stored,
            "v{version}: TLS fetch returns the stored bytes"
        );
    }
    // The plaintext listener serves the same bytes (with sendfile).
    let mut plain = b.connect().await;
    let p = fetch_at(&mut plain, 12, "tls-t", 0, 8 << 20, 8 << 20).await;
    assert!(p.records.unwrap_or_default() == stored);
    assert_eq!(handshake_failures(&b), 0);
}

#[tokio::test]
async fn a_plaintext_client_on_the_tls_port_is_closed_at_once() {
    let pki = Pki::new();
    let b = start(&pki, ClientAuth::None).await;
    let mut c = Client {
        stream: TcpStream::connect(addr(&b, "SSL")).await.unwrap(),
    };
    // A Kafka ApiVersions request where a ClientHello should be.
    c.send(&W::default().header(18, 0, 3, "t").0).await;
    let got = closed_within(&mut c.stream, Duration::from_millis(900))
        .await
        .expect("closed before the handshake timeout");
    assert!(
        got.is_empty() || got[0] == 0x15,
        "at most a TLS alert, never a Kafka response: {got:?}"
    );

    // A client that sends nothing is closed when the handshake times out (1 s here).
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr(&b, "SSL")).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5))
        .await
        .is_some());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert_eq!(handshake_failures(&b), 2);

    // The listener still serves TLS clients.
    let mut ok = tls_connect(&b, &pki, None).await.unwrap();
    assert_eq!(api_versions(&mut ok).await.0, 0);
}

/// What the peer sent until it closed the connection, if it closed within `limit` (a reset
/// counts as closed).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    tokio::time::timeout(limit, async {
        let _ = stream.read_to_end(&mut got).await;
    })
    .await
    .ok()
    .map(|()| got)
}

#[tokio::test]
async fn client_auth_required_refuses_no_certificate_and_names_the_subject() {
    let pki = Pki::new();
    pki.issue(
        "client",
        &[
            (DnType::OrganizationName, "Acme"),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "client"),
        ],
    );
    let b = start(&pki, ClientAuth::Required).await;

    // Without a certificate: TLS 1.3 lets the client finish first; the broker's refusal
    // arrives as an alert, and no request is answered.
    match tls_connect(&b, &pki, None).await {
        Err(_) => {}
        Ok(mut c) => {
            let _ = c
                .stream
                .write_all(&W::default().header(18, 0, 3, "t").0)
                .await;
            assert!(
                c.is_closed().await,
                "no answer without a client certificate"
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while handshake_failures(&b) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handshake_failures(&b), 1);

    // A certificate from another CA is refused as well.
    let other = Pki::new();
    other.issue("client", &[(DnType::CommonName, "intruder")]);
    let tcp = TcpStream::connect(addr(&b, "SSL")).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let untrusted = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_file_iter(other.path("client.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect(),
        PrivateKeyDer::from_pem_file(other.path("client.key")).unwrap(),
    )
    .unwrap();
    if let Ok(s) = TlsConnector::from(Arc::new(untrusted))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    {
        let mut c = Client { stream: s };
        let _ = c
            .stream
            .write_all(&W::default().header(18, 0, 3, "t").0)
            .await;
        assert!(
            c.is_closed().await,
            "no answer with an untrusted certificate"
        );
    }

    // With a certificate: served, and the connection's principal is the subject of the
    // certificate it presented, most specific first (the broker logs it at DEBUG:
    // "TLS client certificate verified ... principal=User:CN=client,OU=eng,O=Acme").
    let mut c = tls_connect(&b, &pki, Some("client")).await.unwrap();
    assert_eq!(api_versions(&mut c).await.0, 0);
    let principal =
        runnel::security::x509::principal_from_certificate(&certificate_in(&pki, "client.pem"))
            .unwrap();
    assert_eq!(principal.to_string(), "User:CN=client,OU=eng,O=Acme");
}

#[tokio::test]
async fn client_auth_requested_accepts_clients_without_a_certificate() {
    let pki = Pki::new();
    pki.issue("client", &[(DnType::CommonName, "client")]);
    let b = start(&pki, ClientAuth::Requested).await;
    let mut anonymous = tls_connect(&b, &pki, None).await.unwrap();
    assert_eq!(api_versions(&mut anonymous).await.0, 0);
    let mut known = tls_connect(&b, &pki, Some("client")).await.unwrap();
    assert_eq!(api_versions(&mut known).await.0, 0);
    assert_eq!(handshake_failures(&b), 0);
}

/// The certificate the broker presents on a new connection.
async fn served_certificate(b: &TestBroker, pki: &Pki) -> Vec<u8> {
    let c = tls_connect(b, pki, None).await.unwrap();
    c.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn certificate_in(pki: &Pki, file: &str) -> Vec<u8> {
    CertificateDer::pem_file_iter(pki.path(file))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_and_a_broken_one_keeps_the_old() {
    let pki = Pki::new();
    let b = start(&pki, ClientAuth::None).await;
    let first = certificate_in(&pki, "server.pem");
    assert_eq!(served_certificate(&b, &pki).await, first);
    let mut open = tls_connect(&b, &pki, None).await.unwrap();

    pki.issue("server", &[(DnType::CommonName, "localhost renewed")]);
    let second = certificate_in(&pki, "server.pem");
    assert_ne!(first, second);
    let running = b.running.as_ref().unwrap();
    assert!(running.reload_tls().unwrap());
    assert_eq!(served_certificate(&b, &pki).await, second);
    // A connection opened before the reload keeps working.
    assert_eq!(api_versions(&mut open).await.0, 0);

    // A broken key file: the reload fails naming it, and the broker keeps the certificate.
    std::fs::write(
        pki.path("server.key"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n",
    )
    .unwrap();
    let e = running.reload_tls().unwrap_err().to_string();
    assert!(e.contains("server.key"), "{e}");
    assert_eq!(served_certificate(&b, &pki).await, second);
}

/// Metadata v1's broker list: (node id, host, port).
async fn metadata_brokers(c: &mut Client) -> Vec<(i32, String, i32)> {
    let resp = c.call(&W::default().header(3, 1, 5, "t").i32(0).0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 5);
    (0..r.i32())
        .map(|_| {
            let b = (r.i32(), r.str(), r.i32());
            let _rack = r.i16();
            b
        })
        .collect()
}

/// FindCoordinator v0 for a group: (error, node id, host, port).
async fn coordinator(c: &mut Client) -> (i16, i32, String, i32) {
    let resp = c.call(&W::default().header(10, 0, 6, "t").str("g").0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 6);
    (r.i16(), r.i32(), r.str(), r.i32())
}

/// DescribeCluster v0 (flexible): the first broker's (host, port).
async fn described_broker(c: &mut Client) -> (String, i32) {
    use kafka_protocol::messages::DescribeClusterResponse;
    use kafka_protocol::protocol::Decodable;
    let resp = c
        .call(&W::default().header2(60, 0, 7, "t").i8(0).uvarint(0).0)
        .await;
    let mut body = bytes::Bytes::from(resp[5..].to_vec()); // correlation id, no header tags
    let d = DescribeClusterResponse::decode(&mut body, 0).unwrap();
    assert_eq!(d.error_code, 0);
    (d.brokers[0].host.to_string(), d.brokers[0].port)
}

#[tokio::test]
async fn each_listener_answers_its_own_advertised_address() {
    let b = harness::start_with(|c| {
        c.listeners = vec![
            listener(
                "INTERNAL",
                SecurityProtocol::Plaintext,
                Some("internal.example:9092"),
            ),
            // Port 0 advertised: the port bound is advertised.
            listener(
                "EXTERNAL",
                SecurityProtocol::Plaintext,
                Some("external.example:0"),
            ),
        ];
    })
    .await;
    let running = b.running.as_ref().unwrap();
    assert_eq!(running.listener_addrs.len(), 2);
    let external_port = i32::from(running.listener_addrs["EXTERNAL"].port());
    let mut internal = b.connect().await;
    let mut external = Client {
        stream: TcpStream::connect(running.listener_addrs["EXTERNAL"])
            .await
            .unwrap(),
    };
    assert_eq!(
        metadata_brokers(&mut internal).await,
        vec![(0, "internal.example".to_string(), 9092)]
    );
    assert_eq!(
        metadata_brokers(&mut external).await,
        vec![(0, "external.example".to_string(), external_port)]
    );
    assert_eq!(
        coordinator(&mut internal).await,
        (0, 0, "internal.example".to_string(), 9092)
    );
    assert_eq!(
        coordinator(&mut external).await,
        (0, 0, "external.example".to_string(), external_port)
    );
    assert_eq!(
        described_broker(&mut internal).await,
        ("internal.example".to_string(), 9092)
    );
    assert_eq!(
        described_broker(&mut external).await,
        ("external.example".to_string(), external_port)
    );
}

#[tokio::test]
async fn start_errors_name_the_file_or_the_listener() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        http_listen: String::new(),
        listeners: vec![listener("SSL", SecurityProtocol::Ssl, None)],
        tls: TlsConfig {
            cert_file: pki.path("nope.pem"),
            ..pki.settings(ClientAuth::None)
        },
        ..Config::default()
    };
    let e = runnel::runtime::start(cfg.clone()).await.err().unwrap();
    let e = e.to_string();
    assert!(e.contains("tls.cert_file") && e.contains("nope.pem"), "{e}");

    // Two listeners on one port: the second cannot bind, and the error names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    drop(taken);
    cfg.tls = pki.settings(ClientAuth::None);
    cfg.listeners = vec![
        ListenerConfig {
            address: format!("127.0.0.1:{port}"),
            ..listener("FIRST", SecurityProtocol::Plaintext, None)
        },
        ListenerConfig {
            address: format!("127.0.0.1:{port}"),
            ..listener("SECOND", SecurityProtocol::Ssl, None)
        },
    ];
    let e = runnel::runtime::start(cfg).await.err().unwrap().to_string();
    assert!(
        e.contains("listener SECOND") && e.contains(&port.to_string()),
        "{e}"
    );
}
