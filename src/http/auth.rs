//! Authentication of the console and its JSON API: a bearer token and/or a Basic auth user
//! and password from `[http]` (each may come from a file, so the secret need not sit in the
//! config).
//!
//! Accepted: `Authorization: Bearer TOKEN`, and `Authorization: Basic` with the configured
//! user and password, or with any user name and the token as password (so a browser's
//! prompt can carry the token too). Comparisons hash both sides with SHA-256 and compare
//! the digests in constant time, so neither the content nor the length of a secret leaks
//! through timing.
//!
//! With no credential configured every request passes; [`crate::config::Config::validate`]
//! (and [`super::start`] on the bound address) allows that only on a loopback address.
//! `/metrics`, `/healthz` and `/readyz` never go through here.
//!
//! Failures are counted in `runnel_http_auth_failures_total{reason}` and wrong credentials
//! are logged at most once per [`FAILURE_LOG_INTERVAL_MS`] with the number left unlogged.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use base64::Engine;
use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use super::HttpError;
use crate::config::HttpConfig;

/// Wrong credentials are logged at most this often.
pub const FAILURE_LOG_INTERVAL_MS: i64 = 10_000;

/// The challenge sent with every 401.
pub const CHALLENGE: &str = "Basic realm=\"runnel\"";

/// The configured secrets, as SHA-256 digests.
#[derive(Clone)]
pub struct Credentials {
    token: Option<Digest>,
    basic: Option<(Digest, Digest)>,
}

type Digest = [u8; 32];

fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// What one request's `Authorization` header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Authorized,
    /// No `Authorization` header.
    Missing,
    /// A header that is malformed or carries wrong credentials.
    Invalid,
}

impl Outcome {
    /// The `reason` label of `runnel_http_auth_failures_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Outcome::Authorized => "none",
            Outcome::Missing => "missing",
            Outcome::Invalid => "invalid",
        }
    }
}

impl Credentials {
    /// Reads the configured credentials (and their files). `Ok(None)`: none configured.
    pub fn load(cfg: &HttpConfig) -> Result<Option<Credentials>, HttpError> {
        let token = secret(&cfg.token, &cfg.token_file, "http.token_file")?;
        let password = secret(&cfg.password, &cfg.password_file, "http.password_file")?;
        let basic = match (cfg.user.is_empty(), password) {
            (false, Some(p)) => Some((sha256(cfg.user.as_bytes()), sha256(p.as_bytes()))),
            (true, None) => None,
            _ => {
                return Err(HttpError::Credential(
                    "http.user and a password go together".into(),
                ))
            }
        };
        if token.is_none() && basic.is_none() {
            return Ok(None);
        }
        Ok(Some(Credentials {
            token: token.map(|t| sha256(t.as_bytes())),
            basic,
        }))
    }

    /// Checks one request's `Authorization` header value.
    pub fn check(&self, header: Option<&[u8]>) -> Outcome {
        let Some(header) = header else {
            return Outcome::Missing;
        };
        let Ok(header) = std::str::from_utf8(header) else {
            return Outcome::Invalid;
        };
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        let ok = if scheme.eq_ignore_ascii_case("bearer") {
            self.token
                .is_some_and(|t| bool::from(t.ct_eq(&sha256(rest.as_bytes()))))
        } else if scheme.eq_ignore_ascii_case("basic") {
            match base64::engine::general_purpose::STANDARD.decode(rest) {
                Ok(decoded) => self.check_basic(&decoded),
                Err(_) => false,
            }
        } else {
            false
        };
        if ok {
            Outcome::Authorized
        } else {
            Outcome::Invalid
        }
    }

    /// `user:password` (the user may not contain ':', RFC 7617).
    fn check_basic(&self, decoded: &[u8]) -> bool {
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let password = sha256(password);
        let by_user = self.basic.is_some_and(|(u, p)| {
            // Both comparisons always run: no early exit on a wrong user name.
            bool::from(u.ct_eq(&sha256(user)) & p.ct_eq(&password))
        });
        let by_token = self.token.is_some_and(|t| bool::from(t.ct_eq(&password)));
        by_user | by_token
    }
}

/// A secret given inline or in a file (whitespace around it trimmed). An empty file is an
/// error: it would silently leave the console open.
fn secret(inline: &str, file: &str, file_key: &str) -> Result<Option<String>, HttpError> {
    if !inline.is_empty() {
        return Ok(Some(inline.to_string()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| HttpError::Credential(format!("{file_key} {file}: {e}")))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(HttpError::Credential(format!("{file_key} {file} is empty")));
    }
    Ok(Some(text.to_string()))
}

/// Logs wrong credentials at a bounded rate.
#[derive(Default)]
pub struct FailureLog {
    last_ms: AtomicI64,
    unlogged: AtomicU64,
}

impl FailureLog {
    /// Records one failure at `now_ms`; logs it unless one was logged within the interval.
    pub fn failed(&self, peer: Option<SocketAddr>, path: &str, now_ms: i64) {
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms - last < FAILURE_LOG_INTERVAL_MS
            || self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
        tracing::warn!(
            %peer,
            path,
            unlogged,
            "http: console login failed (wrong credentials) from {peer}; {unlogged} more since the last report"
        );
    }

    #[cfg(test)]
    fn unlogged(&self) -> u64 {
        self.unlogged.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn creds(token: &str, user: &str, password: &str) -> Credentials {
        Credentials::load(&HttpConfig {
            token: token.into(),
            user: user.into(),
            password: password.into(),
            ..HttpConfig::default()
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn bearer_and_basic() {
        let c = creds("s3cret", "admin", "pw:with:colons");
        let check = |h: &str| c.check(Some(h.as_bytes()));
        assert_eq!(c.check(None), Outcome::Missing);
        assert_eq!(check("Bearer s3cret"), Outcome::Authorized);
        assert_eq!(check("bearer  s3cret "), Outcome::Authorized);
        assert_eq!(check("Bearer s3cre"), Outcome::Invalid);
        assert_eq!(check("Bearer "), Outcome::Invalid);
        let basic = |s: &str| format!("Basic {}", b64(s));
        assert_eq!(check(&basic("admin:pw:with:colons")), Outcome::Authorized);
        assert_eq!(check(&basic("admin:pw")), Outcome::Invalid);
        assert_eq!(check(&basic("root:pw:with:colons")), Outcome::Invalid);
        // The token as the password of any user (a browser prompt).
        assert_eq!(check(&basic("anyone:s3cret")), Outcome::Authorized);
        assert_eq!(check(&basic("nocolon")), Outcome::Invalid);
        assert_eq!(check("Basic !!!notbase64"), Outcome::Invalid);
        assert_eq!(check("Digest x"), Outcome::Invalid);
        assert_eq!(check(""), Outcome::Invalid);
        assert_eq!(c.check(Some(b"Bearer \xff")), Outcome::Invalid);
    }

    #[test]
    fn token_only_and_basic_only() {
        let t = creds("tok", "", "");
        assert_eq!(t.check(Some(b"Bearer tok")), Outcome::Authorized);
        let b = creds("", "u", "p");
        assert_eq!(b.check(Some(b"Bearer ")), Outcome::Invalid);
        assert_eq!(b.check(Some(b"Bearer p")), Outcome::Invalid);
        let h = format!("Basic {}", b64("u:p"));
        assert_eq!(b.check(Some(h.as_bytes())), Outcome::Authorized);
        assert!(Credentials::load(&HttpConfig::default()).unwrap().is_none());
    }

    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("token");
        std::fs::write(&tok, "from-file\n").unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "  hunter2 \n").unwrap();
        let c = Credentials::load(&HttpConfig {
            token_file: tok.display().to_string(),
            user: "ops".into(),
            password_file: pw.display().to_string(),
            ..HttpConfig::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(c.check(Some(b"Bearer from-file")), Outcome::Authorized);
        let h = format!("Basic {}", b64("ops:hunter2"));
        assert_eq!(c.check(Some(h.as_bytes())), Outcome::Authorized);

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = Credentials::load(&HttpConfig {
            token_file: empty.display().to_string(),
            ..HttpConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = Credentials::load(&HttpConfig {
            token_file: dir.path().join("nope").display().to_string(),
            ..HttpConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("http.token_file"), "{e}");
    }

    #[test]
    fn failures_are_logged_at_a_bounded_rate() {
        let log = FailureLog::default();
        let t0 = 1_000_000;
        log.failed(None, "/", t0);
        assert_eq!(log.unlogged(), 0);
        for i in 1..=5 {
            log.failed(None, "/", t0 + i);
        }
        assert_eq!(log.unlogged(), 5);
        log.failed(None, "/", t0 + FAILURE_LOG_INTERVAL_MS);
        assert_eq!(log.unlogged(), 0);
    }
}
