//! SASL over the wire on a SASL_PLAINTEXT listener: PLAIN and SCRAM-SHA-256/512 logins
//! (with a SCRAM client written here from RFC 5802), Kafka's failure replies and the closes
//! that follow them, nothing served before authentication, the v0 raw-token framing,
//! KIP-368 re-authentication and session expiry, garbage and 100 MB tokens, the credential
//! admin APIs, and a data directory prepared offline (`runnel user add`).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use ring::{digest, hmac, pbkdf2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use runnel::config::{Config, ListenerConfig, SecurityProtocol};
use runnel::security::sasl::scram::{ScramCredential, ScramMechanism};
use runnel::store::CredentialChange;

use crate::harness::{self, Client, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

const SCRAM_FAILED: &str =
    "Authentication failed during authentication due to invalid credentials with SASL mechanism";

/// One SASL_PLAINTEXT listener with `mechanisms`, re-authentication after `reauth_ms`.
fn sasl_config(mechanisms: &[&str], reauth_ms: u64) -> impl FnOnce(&mut Config) {
    let mechanisms: Vec<String> = mechanisms.iter().map(|m| m.to_string()).collect();
    move |cfg: &mut Config| {
        cfg.listeners = vec![ListenerConfig {
            name: "SASL".into(),
            address: "127.0.0.1:0".into(),
            advertised: None,
            security_protocol: SecurityProtocol::SaslPlaintext,
            sasl_mechanisms: mechanisms,
        }];
        cfg.network.connections_max_reauth_ms = reauth_ms;
    }
}

/// Stores SCRAM-SHA-256 and -512 credentials for `user`, as `runnel user add` does.
fn add_user(b: &TestBroker, user: &str, password: &str) {
    let store = &b.running.as_ref().unwrap().broker.store;
    let changes: Vec<_> = ScramMechanism::ALL
        .into_iter()
        .map(|m| {
            CredentialChange::Upsert(
                m,
                ScramCredential::from_password(m, password.as_bytes(), b"some-salt", 4096),
            )
        })
        .collect();
    store.change_user_credentials(user, &changes).unwrap();
}

async fn sasl_broker(mechanisms: &[&str], reauth_ms: u64) -> TestBroker {
    let b = harness::start_with(sasl_config(mechanisms, reauth_ms)).await;
    add_user(&b, "alice", "alice-secret");
    add_user(&b, "bob", "bob-secret");
    b
}

fn frame<Q: Encodable>(key: ApiKey, v: i16, req: &Q) -> BytesMut {
    let mut b = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(v)
        .with_correlation_id(5)
        .with_client_id(Some(s("sasl-test")))
        .encode(&mut b, key.request_header_version(v))
        .unwrap();
    req.encode(&mut b, v).unwrap();
    b
}

/// Sends `req` and decodes the response; `None` when the broker closed instead.
async fn try_call<Q: Encodable, P: Decodable>(
    c: &mut Client,
    key: ApiKey,
    v: i16,
    req: &Q,
) -> Option<P> {
    c.send(&frame(key, v, req)).await;
    let mut resp = Bytes::from(c.recv().await?);
    let h = ResponseHeader::decode(&mut resp, key.response_header_version(v)).unwrap();
    assert_eq!(h.correlation_id, 5);
    Some(P::decode(&mut resp, v).unwrap())
}

async fn call<Q: Encodable, P: Decodable>(c: &mut Client, key: ApiKey, v: i16, req: &Q) -> P {
    try_call(c, key, v, req)
        .await
        .unwrap_or_else(|| panic!("{key:?}: connection closed"))
}

async fn handshake(c: &mut Client, mech: &str, v: i16) -> SaslHandshakeResponse {
    call(
        c,
        ApiKey::SaslHandshake,
        v,
        &SaslHandshakeRequest::default().with_mechanism(s(mech)),
    )
    .await
}

async fn authenticate(c: &mut Client, token: &[u8], v: i16) -> SaslAuthenticateResponse {
    call(
        c,
        ApiKey::SaslAuthenticate,
        v,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    )
    .await
}

/// A Metadata request: served only once authenticated.
async fn metadata(c: &mut Client) -> Option<MetadataResponse> {
    try_call(
        c,
        ApiKey::Metadata,
        4,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )
    .await
}

fn plain_token(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

fn mech_of(name: &str) -> ScramMechanism {
    ScramMechanism::from_name(name).unwrap()
}

fn hmac_of(alg: hmac::Algorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(alg, key), data)
        .as_ref()
        .to_vec()
}

/// The client side of SCRAM: client-first, then (given the server-first) the client-final
/// and the server-final the client expects.
struct ScramClient {
    mech: ScramMechanism,
    bare: String,
}

impl ScramClient {
    fn new(mech: &str, user: &str) -> ScramClient {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mech: mech_of(mech),
            bare: format!("n={escaped},r=clientnonce0123456789"),
        }
    }

    fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.bare).into_bytes()
    }

    fn finish(&self, password: &str, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let sf = std::str::from_utf8(server_first).unwrap();
        let mut nonce = "";
        let mut salt = Vec::new();
        let mut iterations = 0u32;
        for a in sf.split(',') {
            match a.split_at(2) {
                ("r=", v) => nonce = v,
                ("s=", v) => salt = B64.decode(v).unwrap(),
                ("i=", v) => iterations = v.parse().unwrap(),
                _ => {}
            }
        }
        assert!(
            nonce.starts_with("clientnonce0123456789") && nonce.len() > 21,
            "{sf}"
        );
        assert!(iterations >= 4096);
        let (alg, dig, kdf) = match self.mech {
            ScramMechanism::Sha256 => (
                hmac::HMAC_SHA256,
                &digest::SHA256,
                pbkdf2::PBKDF2_HMAC_SHA256,
            ),
            ScramMechanism::Sha512 => (
                hmac::HMAC_SHA512,
                &digest::SHA512,
                pbkdf2::PBKDF2_HMAC_SHA512,
            ),
        };
        let mut salted = vec![0u8; self.mech.hash_len()];
        pbkdf2::derive(
            kdf,
            std::num::NonZeroU32::new(iterations).unwrap(),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_of(alg, &salted, b"Client Key");
        let stored_key = digest::digest(dig, &client_key).as_ref().to_vec();
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{sf},{without_proof}", self.bare);
        let sig = hmac_of(alg, &stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let server_sig = hmac_of(alg, &hmac_of(alg, &salted, b"Server Key"), auth.as_bytes());
        (
            format!("{without_proof},p={}", B64.encode(proof)).into_bytes(),
            format!("v={}", B64.encode(server_sig)).into_bytes(),
        )
    }
}

/// A whole SCRAM login over SaslHandshake v1 + SaslAuthenticate `v`: the last response.
async fn scram_login(
    c: &mut Client,
    mech: &str,
    user: &str,
    password: &str,
    v: i16,
) -> SaslAuthenticateResponse {
    let h = handshake(c, mech, 1).await;
    assert_eq!(h.error_code, 0);
    let client = ScramClient::new(mech, user);
    let first = authenticate(c, &client.first(), v).await;
    if first.error_code != 0 {
        return first;
    }
    let (fin, expected) = client.finish(password, &first.auth_bytes);
    let last = authenticate(c, &fin, v).await;
    if last.error_code == 0 {
        assert_eq!(
            last.auth_bytes.as_ref(),
            expected.as_slice(),
            "server signature"
        );
    }
    last
}

fn message(r: &SaslAuthenticateResponse) -> &str {
    r.error_message.as_ref().map_or("", |m| m.as_str())
}

fn metric(b: &TestBroker, mechanism: &str, result: &str) -> u64 {
    b.running
        .as_ref()
        .unwrap()
        .broker
        .metrics
        .sasl_authentications
        .with_label_values(&[mechanism, result])
        .get()
}

#[tokio::test]
async fn plain_logs_in_with_the_password_and_refuses_a_wrong_one() {
    let b = sasl_broker(&["PLAIN", "SCRAM-SHA-512"], 0).await;
    let mut c = b.connect().await;
    // ApiVersions is served before authentication and advertises the SASL APIs.
    let av: ApiVersionsResponse = call(
        &mut c,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(s("t"))
            .with_client_software_version(s("1")),
    )
    .await;
    assert!(av
        .api_keys
        .iter()
        .any(|k| k.api_key == 17 && k.min_version == 0 && k.max_version == 1));
    assert!(av
        .api_keys
        .iter()
        .any(|k| k.api_key == 36 && k.max_version == 2));
    let h = handshake(&mut c, "PLAIN", 1).await;
    assert_eq!(h.error_code, 0);
    let names: Vec<&str> = h.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["PLAIN", "SCRAM-SHA-512"]);
    let r = authenticate(&mut c, &plain_token("alice", "alice-secret"), 2).await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
    assert!(r.auth_bytes.is_empty());
    assert!(metadata(&mut c).await.is_some());
    // Once authenticated, SASL requests are out of place: ILLEGAL_SASL_STATE, no close.
    assert_eq!(handshake(&mut c, "PLAIN", 1).await.error_code, 34);
    assert!(metadata(&mut c).await.is_some());

    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    let r = authenticate(&mut c, &plain_token("alice", "wrong"), 1).await;
    assert_eq!(r.error_code, 58);
    assert_eq!(
        message(&r),
        "Authentication failed: Invalid username or password"
    );
    assert!(c.is_closed().await, "a failed login closes the connection");

    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    let r = authenticate(&mut c, &plain_token("nobody", "x"), 1).await;
    assert_eq!(
        message(&r),
        "Authentication failed: Invalid username or password"
    );
    assert!(c.is_closed().await);
    assert_eq!(metric(&b, "PLAIN", "success"), 1);
    assert_eq!(metric(&b, "PLAIN", "failure"), 2);
}

#[tokio::test]
async fn scram_256_and_512_log_in_and_refuse_wrong_passwords_and_unknown_users() {
    let b = sasl_broker(&["SCRAM-SHA-256", "SCRAM-SHA-512"], 0).await;
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for v in [0, 1, 2] {
            let mut c = b.connect().await;
            let r = scram_login(&mut c, mech, "alice", "alice-secret", v).await;
            assert_eq!(r.error_code, 0, "{mech} v{v}: {:?}", r.error_message);
            assert!(metadata(&mut c).await.is_some(), "{mech} v{v}");
        }
        let mut c = b.connect().await;
        let r = scram_login(&mut c, mech, "alice", "bob-secret", 1).await;
        assert_eq!(r.error_code, 58);
        assert_eq!(message(&r), format!("{SCRAM_FAILED} {mech}"));
        assert!(c.is_closed().await);
        let mut c = b.connect().await;
        let r = scram_login(&mut c, mech, "mallory", "x", 1).await;
        assert_eq!(
            (r.error_code, message(&r)),
            (58, format!("{SCRAM_FAILED} {mech}").as_str())
        );
        assert!(c.is_closed().await);
        assert_eq!(metric(&b, mech, "success"), 3);
        assert_eq!(metric(&b, mech, "failure"), 2);
    }
    // User names with ',' and '=' travel escaped.
    add_user(&b, "we,i=rd", "pw");
    let mut c = b.connect().await;
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-512", "we,i=rd", "pw", 2)
            .await
            .error_code,
        0
    );
    // PLAIN is not enabled on this listener.
    let text = b.running.as_ref().unwrap().broker.metrics.render();
    assert!(
        text.contains(
            "runnel_sasl_authentications_total{mechanism=\"SCRAM-SHA-512\",result=\"failure\"} 2"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_mechanism_not_enabled_is_refused_with_the_enabled_list_and_a_close() {
    let b = sasl_broker(&["SCRAM-SHA-512"], 0).await;
    for mech in ["PLAIN", "GSSAPI", "SCRAM-SHA-256"] {
        let mut c = b.connect().await;
        let h = handshake(&mut c, mech, 1).await;
        assert_eq!(h.error_code, 33, "{mech}");
        let names: Vec<&str> = h.mechanisms.iter().map(|m| m.as_str()).collect();
        assert_eq!(names, ["SCRAM-SHA-512"]);
        assert!(c.is_closed().await);
    }
    assert_eq!(metric(&b, "unsupported", "failure"), 3);
}

#[tokio::test]
async fn nothing_but_the_handshake_is_served_before_authentication() {
    let b = sasl_broker(&["PLAIN"], 0).await;
    let mut c = b.connect().await;
    assert!(
        metadata(&mut c).await.is_none(),
        "Metadata before the handshake closes"
    );
    // After the handshake, only SaslAuthenticate.
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    assert!(metadata(&mut c).await.is_none());
    // SaslAuthenticate before any handshake.
    let mut c = b.connect().await;
    let r: Option<SaslAuthenticateResponse> = try_call(
        &mut c,
        ApiKey::SaslAuthenticate,
        1,
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from(plain_token("alice", "alice-secret"))),
    )
    .await;
    assert!(r.is_none());
    // A plaintext client's produce on a SASL port: closed, not served.
    let mut c = b.connect().await;
    let p: Option<ProduceResponse> = try_call(
        &mut c,
        ApiKey::Produce,
        9,
        &ProduceRequest::default().with_acks(1),
    )
    .await;
    assert!(p.is_none());
}

#[tokio::test]
async fn garbage_and_huge_tokens_fail_cleanly() {
    let b = sasl_broker(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], 0).await;
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for token in [
            &garbage[..],
            b"",
            b"n,,",
            b"\0\0\0",
            "n,,n=alice,r=é".as_bytes(),
        ] {
            let mut c = b.connect().await;
            handshake(&mut c, mech, 1).await;
            let r = authenticate(&mut c, token, 2).await;
            assert_eq!(r.error_code, 58, "{mech} {token:?}");
            assert!(c.is_closed().await);
        }
        // A good client-first, then a garbage client-final.
        let mut c = b.connect().await;
        if mech != "PLAIN" {
            handshake(&mut c, mech, 1).await;
            let first = authenticate(&mut c, &ScramClient::new(mech, "alice").first(), 2).await;
            assert_eq!(first.error_code, 0);
            let r = authenticate(&mut c, &garbage, 2).await;
            assert_eq!(
                (r.error_code, message(&r)),
                (58, format!("{SCRAM_FAILED} {mech}").as_str())
            );
        }
    }
    // Before authentication frames are limited to 512 KiB (Kafka's
    // sasl.server.max.receive.size): a token just below is one clean failure, a 100 MB one
    // (inside network.max_request_bytes) closes the connection before it is buffered.
    let big = vec![b'A'; 512 * 1024 - 64];
    let huge = vec![b'A'; 100 * 1024 * 1024 - 64];
    for mech in ["PLAIN", "SCRAM-SHA-512"] {
        let mut c = b.connect().await;
        handshake(&mut c, mech, 1).await;
        let r = authenticate(&mut c, &big, 2).await;
        assert_eq!(r.error_code, 58, "{mech}");
        assert!(c.is_closed().await);
        let mut c = b.connect().await;
        handshake(&mut c, mech, 1).await;
        let f = frame(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(huge.clone())),
        );
        // The broker closes after reading the length; the rest of the write may fail.
        let _ = c.stream.write_all(&(f.len() as i32).to_be_bytes()).await;
        let _ = c.stream.write_all(&f).await;
        assert!(c.is_closed().await, "{mech}");
    }
    // Once authenticated, network.max_request_bytes applies again.
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    assert_eq!(
        authenticate(&mut c, &plain_token("alice", "alice-secret"), 2)
            .await
            .error_code,
        0
    );
    let p: ProduceResponse = call(
        &mut c,
        ApiKey::Produce,
        9,
        &ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(TopicName(s("big")))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(vec![0u8; 600 * 1024]))),
                ])]),
    )
    .await;
    assert_eq!(p.responses.len(), 1);
}

#[tokio::test]
async fn handshake_v0_uses_raw_tokens() {
    let b = sasl_broker(&["PLAIN", "SCRAM-SHA-256"], 0).await;
    async fn raw(c: &mut Client, token: &[u8]) -> Option<Vec<u8>> {
        c.send(token).await;
        c.recv().await
    }
    let mut c = b.connect().await;
    assert_eq!(handshake(&mut c, "PLAIN", 0).await.error_code, 0);
    assert_eq!(
        raw(&mut c, &plain_token("bob", "bob-secret")).await,
        Some(Vec::new())
    );
    assert!(metadata(&mut c).await.is_some());

    let mut c = b.connect().await;
    handshake(&mut c, "SCRAM-SHA-256", 0).await;
    let client = ScramClient::new("SCRAM-SHA-256", "bob");
    let sf = raw(&mut c, &client.first()).await.unwrap();
    let (fin, expected) = client.finish("bob-secret", &sf);
    assert_eq!(raw(&mut c, &fin).await.unwrap(), expected);
    assert!(metadata(&mut c).await.is_some());

    // A failure in this framing closes without a reply, as Kafka does.
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 0).await;
    assert_eq!(raw(&mut c, &plain_token("bob", "nope")).await, None);
}

#[tokio::test]
async fn reauthentication_renews_the_session_and_keeps_the_principal() {
    let b = sasl_broker(&["PLAIN", "SCRAM-SHA-512"], 60_000).await;
    let mut c = b.connect().await;
    let r = scram_login(&mut c, "SCRAM-SHA-512", "alice", "alice-secret", 1).await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 60_000));
    // v0 has no session lifetime field.
    let mut c0 = b.connect().await;
    assert_eq!(
        scram_login(&mut c0, "SCRAM-SHA-512", "alice", "alice-secret", 0)
            .await
            .session_lifetime_ms,
        0
    );
    // Kafka allows one re-authentication per second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = scram_login(&mut c, "SCRAM-SHA-512", "alice", "alice-secret", 2).await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 60_000));
    assert!(metadata(&mut c).await.is_some());
    // Too soon: the handshake goes to the handler, ILLEGAL_SASL_STATE.
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512", 1).await.error_code, 34);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Another mechanism than the session's: refused and closed.
    let h = handshake(&mut c, "PLAIN", 1).await;
    assert_eq!(h.error_code, 33);
    assert!(c.is_closed().await);
    // Another principal: refused and closed.
    let mut c = b.connect().await;
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-512", "alice", "alice-secret", 2)
            .await
            .error_code,
        0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = scram_login(&mut c, "SCRAM-SHA-512", "bob", "bob-secret", 2).await;
    assert_eq!(r.error_code, 58);
    assert_eq!(
        message(&r),
        "Cannot change principals during re-authentication from User:alice: User:bob"
    );
    assert!(c.is_closed().await);
    // A wrong password during re-authentication says so.
    let mut c = b.connect().await;
    scram_login(&mut c, "SCRAM-SHA-512", "alice", "alice-secret", 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = scram_login(&mut c, "SCRAM-SHA-512", "alice", "wrong", 2).await;
    assert_eq!(
        message(&r),
        "Authentication failed during re-authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
    );
}

#[tokio::test]
async fn a_request_after_the_session_expired_closes_the_connection() {
    let b = sasl_broker(&["PLAIN"], 300).await;
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    let r = authenticate(&mut c, &plain_token("alice", "alice-secret"), 1).await;
    assert_eq!(r.session_lifetime_ms, 300);
    assert!(metadata(&mut c).await.is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(metadata(&mut c).await.is_none());
}

#[tokio::test]
async fn sasl_requests_on_a_plaintext_listener_are_illegal_state() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    assert_eq!(handshake(&mut c, "PLAIN", 1).await.error_code, 34);
    let r = authenticate(&mut c, b"\0a\0b", 2).await;
    assert_eq!(r.error_code, 34);
    assert!(metadata(&mut c).await.is_some());
}

/// The salted password a client (kafka-configs) sends in an upsertion.
fn salted(mech: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    runnel::security::sasl::scram::salted_password(mech, password.as_bytes(), salt, iterations)
}

fn upsertion(
    user: &str,
    mech: i8,
    iterations: i32,
    password: &str,
) -> alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let m = ScramMechanism::from_wire_type(mech).unwrap_or(ScramMechanism::Sha512);
    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mech)
        .with_iterations(iterations)
        .with_salt(Bytes::from_static(b"client-salt"))
        .with_salted_password(Bytes::from(salted(
            m,
            password,
            b"client-salt",
            iterations.max(1) as u32,
        )))
}

#[tokio::test]
async fn credentials_altered_over_the_wire_log_in() {
    let b = sasl_broker(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], 0).await;
    let mut admin = b.connect().await;
    assert_eq!(
        scram_login(&mut admin, "SCRAM-SHA-512", "alice", "alice-secret", 2)
            .await
            .error_code,
        0
    );
    let deletion = |user: &str, mech: i8| {
        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
            .with_name(s(user))
            .with_mechanism(mech)
    };
    let req = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![
            upsertion("carol", 2, 8192, "carol-pw"),
            upsertion("dave", 1, 4095, "x"),
            upsertion("erin", 1, 16385, "x"),
            upsertion("frank", 3, 4096, "x"),
            upsertion("grace", 2, 4096, "x"),
            upsertion("", 2, 4096, "x"),
        ])
        .with_deletions(vec![deletion("grace", 2), deletion("heidi", 1)]);
    let resp: AlterUserScramCredentialsResponse =
        call(&mut admin, ApiKey::AlterUserScramCredentials, 0, &req).await;
    let got: Vec<(&str, i16)> = resp
        .results
        .iter()
        .map(|r| (r.user.as_str(), r.error_code))
        .collect();
    assert_eq!(
        got,
        [
            ("grace", 92),
            ("heidi", 91),
            ("carol", 0),
            ("dave", 93),
            ("erin", 93),
            ("frank", 33),
            ("", 93)
        ]
    );
    let describe = |users: Option<Vec<&str>>| {
        DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
            u.into_iter()
                .map(|n| {
                    describe_user_scram_credentials_request::UserName::default().with_name(s(n))
                })
                .collect()
        }))
    };
    let d: DescribeUserScramCredentialsResponse = call(
        &mut admin,
        ApiKey::DescribeUserScramCredentials,
        0,
        &describe(None),
    )
    .await;
    let users: Vec<&str> = d.results.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    let carol = &d.results[2];
    assert_eq!(
        carol
            .credential_infos
            .iter()
            .map(|c| (c.mechanism, c.iterations))
            .collect::<Vec<_>>(),
        [(2, 8192)]
    );
    let d: DescribeUserScramCredentialsResponse = call(
        &mut admin,
        ApiKey::DescribeUserScramCredentials,
        0,
        &describe(Some(vec!["carol", "zed"])),
    )
    .await;
    assert_eq!(d.results[1].error_code, 91);

    // carol logs in with SCRAM-SHA-512 and PLAIN (checked against the SCRAM credential),
    // not with SCRAM-SHA-256 (no credential for it).
    let mut c = b.connect().await;
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-512", "carol", "carol-pw", 2)
            .await
            .error_code,
        0
    );
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    assert_eq!(
        authenticate(&mut c, &plain_token("carol", "carol-pw"), 2)
            .await
            .error_code,
        0
    );
    let mut c = b.connect().await;
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-256", "carol", "carol-pw", 2)
            .await
            .error_code,
        58
    );

    // Deleting the credential locks carol out.
    let resp: AlterUserScramCredentialsResponse = call(
        &mut admin,
        ApiKey::AlterUserScramCredentials,
        0,
        &AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion("carol", 2)]),
    )
    .await;
    assert_eq!(resp.results[0].error_code, 0);
    let mut c = b.connect().await;
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-512", "carol", "carol-pw", 2)
            .await
            .error_code,
        58
    );
}

#[tokio::test]
async fn a_data_directory_prepared_offline_boots_and_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_lock, store) = runnel::broker::open_store_offline(dir.path()).unwrap();
        let cred = ScramCredential::from_password(ScramMechanism::Sha512, b"pw", b"salt", 4096);
        store
            .change_user_credentials(
                "admin",
                &[CredentialChange::Upsert(ScramMechanism::Sha512, cred)],
            )
            .unwrap();
    }
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..Config::default()
    };
    sasl_config(&["SCRAM-SHA-512"], 0)(&mut cfg);
    let running = runnel::runtime::start(cfg)
        .await
        .expect("the broker accepts the data directory");
    // While it runs, the offline tool is refused with the lock error.
    let err = runnel::broker::open_store_offline(dir.path())
        .err()
        .unwrap();
    assert!(matches!(err, runnel::broker::BootError::Locked(_)), "{err}");
    let mut c = Client {
        stream: tokio::net::TcpStream::connect(running.kafka_addr)
            .await
            .unwrap(),
    };
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-512", "admin", "pw", 2)
            .await
            .error_code,
        0
    );
    assert!(metadata(&mut c).await.is_some());
    running.shutdown().await;
}

/// Bytes a slow client writes one at a time still make one token (framing is not SASL's).
#[tokio::test]
async fn a_token_split_across_writes_is_one_token() {
    let b = sasl_broker(&["PLAIN"], 0).await;
    let mut c = b.connect().await;
    handshake(&mut c, "PLAIN", 1).await;
    let f = frame(
        ApiKey::SaslAuthenticate,
        1,
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from(plain_token("alice", "alice-secret"))),
    );
    let mut bytes = (f.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&f);
    for chunk in bytes.chunks(3) {
        c.stream.write_all(chunk).await.unwrap();
        c.stream.flush().await.unwrap();
    }
    let mut len = [0u8; 4];
    c.stream.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    c.stream.read_exact(&mut body).await.unwrap();
    let mut body = Bytes::from(body);
    ResponseHeader::decode(
        &mut body,
        ApiKey::SaslAuthenticate.response_header_version(1),
    )
    .unwrap();
    assert_eq!(
        SaslAuthenticateResponse::decode(&mut body, 1)
            .unwrap()
            .error_code,
        0
    );
}
