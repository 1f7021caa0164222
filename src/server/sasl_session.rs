//! The SASL state of one connection (Kafka's `SaslServerAuthenticator`): which requests may
//! pass, the SaslHandshake / SaslAuthenticate exchange, the principal, re-authentication.
//!
//! ```text
//!             SaslHandshake(mech enabled)            token ok, more to come
//! AwaitHandshake ─────────────────────────► Authenticating ◄──────┐
//!   │ ApiVersions: dispatched                │   │ └───────────────┘
//!   │ anything else: close                   │   │ exchange complete
//!   │                                        │   ▼
//!   │ (non-SASL listener starts here) ────► Open ── SaslHandshake v1+ (KIP-368, only with
//!   │                                        ▲        connections_max_reauth_ms > 0,
//!   └ unsupported mechanism: reply 33, close │        same mechanism) ──► Authenticating
//!                                            └ failure anywhere: reply 58, close
//! ```
//!
//! On a SASL listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is
//! served before authentication; any other request closes the connection, as Kafka does
//! ("Unexpected Kafka request of type X during SASL handshake"). A failed authentication is
//! answered (SASL_AUTHENTICATION_FAILED with Kafka's message) and then the connection is
//! closed; so is an unsupported mechanism (UNSUPPORTED_SASL_MECHANISM with the enabled
//! list). SaslHandshake v0 is the old framing: the tokens that follow are raw
//! length-prefixed frames without Kafka headers ([`SaslSession::expects_raw_token`]), and a
//! failure closes without a reply. Outside an exchange (non-SASL listener, authenticated
//! connection without re-authentication), SaslHandshake / SaslAuthenticate go to their
//! handlers, which answer ILLEGAL_SASL_STATE as Kafka's `KafkaApis` does.
//!
//! Re-authentication (KIP-368): with `network.connections_max_reauth_ms` > 0, a successful
//! login reports that session lifetime (SaslAuthenticate v1+) and the session expires after
//! it; a request arriving after expiry closes the connection (clients that cannot
//! re-authenticate get disconnected, as in Kafka). A client re-authenticates by sending
//! SaslHandshake v1 and SaslAuthenticate again on the connection, at most once a second,
//! with the same mechanism and ending as the same principal.
//!
//! Before authentication on a SASL listener, frames are limited to
//! [`MAX_UNAUTHENTICATED_FRAME`] (Kafka's `sasl.server.max.receive.size`, 512 KiB): an
//! anonymous peer cannot make the broker buffer `network.max_request_bytes` per connection;
//! a larger frame closes the connection.
//!
//! Credential lookups and PLAIN's PBKDF2 run on the blocking pool. Failed logins are
//! logged through a rate limit (the user name is client-chosen, so it is shown quoted and
//! truncated) and counted in `runnel_sasl_authentications_total{mechanism,result}`.
//! Invariant: nothing here panics on client bytes; a token of any size or content ends in
//! a challenge, a success or a clean failure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::warn_limit::WarnLimit;
use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::handlers::{self, blocking, Reply, RequestContext};
use crate::kafka_error::KafkaError;
use crate::security::sasl::scram::{self, ScramMechanism};
use crate::security::sasl::{plain, Mechanism};
use crate::security::Principal;
use crate::warn_limited;

/// Failed logins and refused pre-authentication requests: at most 20 warnings per 10 s.
static AUTH_WARNINGS: WarnLimit = WarnLimit::new(20, Duration::from_secs(10));

/// Largest frame read before a SASL listener's connection has authenticated (Kafka's
/// `sasl.server.max.receive.size` default).
pub const MAX_UNAUTHENTICATED_FRAME: usize = 512 * 1024;

/// Kafka's minimum interval between two re-authentications of one connection.
const MIN_REAUTH_INTERVAL: Duration = Duration::from_secs(1);

/// Longest client-chosen user name written to the log.
const LOGGED_NAME_CHARS: usize = 64;

/// What the connection does with a request.
pub enum Admit {
    /// Run it through the handlers, with [`SaslSession::principal`].
    Dispatch(Box<RequestKind>),
    /// The session answered it.
    Reply(Reply),
    /// Close the connection now, without a reply (the session has logged why).
    Close(String),
}

enum State {
    /// Requests flow: a non-SASL listener, or an authenticated connection.
    Open,
    /// A SASL listener before its SaslHandshake.
    AwaitHandshake,
    /// After the SaslHandshake: the mechanism's next token is expected.
    Authenticating {
        mech: Mechanism,
        step: Step,
        /// SaslHandshake v0: tokens are raw frames, without Kafka headers.
        raw: bool,
        reauth: bool,
    },
}

enum Step {
    Plain,
    ScramFirst(ScramMechanism),
    ScramFinal(Box<scram::Pending>),
}

impl Step {
    fn initial(mech: Mechanism) -> Step {
        match mech {
            Mechanism::Plain => Step::Plain,
            Mechanism::Scram(m) => Step::ScramFirst(m),
        }
    }
}

/// What one token led to.
enum Outcome {
    /// Send this challenge; the exchange goes on.
    Challenge(Vec<u8>, Step),
    /// Authenticated as `user`; send this last server message.
    Success {
        user: String,
        reply: Vec<u8>,
    },
    Failure(Failure),
}

struct Failure {
    /// `None`: Kafka's generic "invalid credentials" message.
    client_message: Option<String>,
    /// For the log.
    reason: String,
    user: Option<String>,
}

impl Failure {
    fn new(reason: impl Into<String>, user: Option<&str>) -> Failure {
        Failure {
            client_message: None,
            reason: reason.into(),
            user: user.map(str::to_string),
        }
    }
}

/// The SASL state of one connection; see the module header.
pub struct SaslSession {
    /// Mechanisms enabled on the listener (empty on a non-SASL listener).
    enabled: Vec<Mechanism>,
    peer: SocketAddr,
    listener: Arc<str>,
    principal: Arc<Principal>,
    state: State,
    /// Session lifetime (`connections_max_reauth_ms`), `None` when re-authentication is off.
    max_reauth: Option<Duration>,
    /// When the authenticated session expires.
    expires: Option<Instant>,
    /// Start of the last re-authentication.
    reauth_started: Option<Instant>,
    /// Mechanism of the authenticated session (re-authentication must keep it).
    authenticated_with: Option<Mechanism>,
    /// Set with a failure reply: the connection closes once it is written.
    close_after_reply: Option<String>,
}

impl SaslSession {
    /// The session of a new connection to `listener`; `principal` is who the transport says
    /// the peer is (`User:ANONYMOUS`, or a TLS client certificate's subject).
    pub fn new(
        listener: &ListenerConfig,
        principal: Arc<Principal>,
        peer: SocketAddr,
        max_reauth_ms: u64,
    ) -> SaslSession {
        let sasl = listener.security_protocol.uses_sasl();
        SaslSession {
            enabled: if sasl {
                listener
                    .sasl_mechanisms
                    .iter()
                    .filter_map(|m| Mechanism::from_name(m))
                    .collect()
            } else {
                Vec::new()
            },
            peer,
            listener: listener.name.as_str().into(),
            principal,
            state: if sasl {
                State::AwaitHandshake
            } else {
                State::Open
            },
            max_reauth: (max_reauth_ms > 0).then(|| Duration::from_millis(max_reauth_ms)),
            expires: None,
            reauth_started: None,
            authenticated_with: None,
            close_after_reply: None,
        }
    }

    /// Who the connection is: the principal for the next request's context.
    pub fn principal(&self) -> Arc<Principal> {
        self.principal.clone()
    }

    /// The largest frame to read next: `max_request_bytes` once requests flow (non-SASL
    /// listener, or authenticated), [`MAX_UNAUTHENTICATED_FRAME`] before.
    pub fn frame_limit(&self, max_request_bytes: usize) -> usize {
        match self.state {
            State::Open => max_request_bytes,
            _ => max_request_bytes.min(MAX_UNAUTHENTICATED_FRAME),
        }
    }

    /// After a SaslHandshake v0, the next frame is a raw token (no Kafka header): pass it
    /// to [`SaslSession::raw_token`] instead of the request decoder.
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Authenticating { raw: true, .. })
    }

    /// Why the connection must close now that the last reply is queued (a failed login).
    pub fn take_close(&mut self) -> Option<String> {
        self.close_after_reply.take()
    }

    /// Decides what happens to a decoded request arriving at `now`.
    pub async fn admit(
        &mut self,
        broker: &Arc<Broker>,
        ctx: &RequestContext,
        req: RequestKind,
        now: Instant,
    ) -> Admit {
        match &self.state {
            State::Open => {
                if self.expires.is_some_and(|e| now >= e) {
                    tracing::debug!(peer = %self.peer, principal = %self.principal, "SASL session expired");
                    return Admit::Close(format!(
                        "SASL session of {} expired (network.connections_max_reauth_ms)",
                        self.principal
                    ));
                }
                match req {
                    RequestKind::SaslHandshake(r) if self.may_reauthenticate(ctx, now) => {
                        Admit::Reply(self.handshake(broker, ctx, r, now, true))
                    }
                    other => Admit::Dispatch(Box::new(other)),
                }
            }
            State::AwaitHandshake => match req {
                RequestKind::ApiVersions(r) => {
                    Admit::Dispatch(Box::new(RequestKind::ApiVersions(r)))
                }
                RequestKind::SaslHandshake(r) => {
                    Admit::Reply(self.handshake(broker, ctx, r, now, false))
                }
                _ => self.unexpected(ctx.api_key, "handshake"),
            },
            State::Authenticating { raw: false, .. } => match req {
                RequestKind::SaslAuthenticate(r) => {
                    Admit::Reply(self.authenticate(broker, ctx, r, now).await)
                }
                _ => self.unexpected(ctx.api_key, "authentication"),
            },
            // The connection routes raw frames to `raw_token`; a decoded request here means
            // the client did not follow its own v0 handshake.
            State::Authenticating { raw: true, .. } => {
                self.unexpected(ctx.api_key, "authentication")
            }
        }
    }

    /// A raw token after a SaslHandshake v0: the framed reply to write, or why to close
    /// (a failure closes without a reply in this framing, as in Kafka).
    pub async fn raw_token(
        &mut self,
        broker: &Arc<Broker>,
        token: Bytes,
        now: Instant,
    ) -> Result<Bytes, String> {
        let reply = match self.step(broker, token, now).await {
            Ok(reply) => reply,
            Err(failure) => return Err(failure.reason),
        };
        let mut out = BytesMut::with_capacity(4 + reply.len());
        out.put_i32(reply.len() as i32);
        out.put_slice(&reply);
        Ok(out.freeze())
    }

    fn may_reauthenticate(&self, ctx: &RequestContext, now: Instant) -> bool {
        !self.enabled.is_empty()
            && self.max_reauth.is_some()
            && ctx.api_version >= 1
            && self
                .reauth_started
                .is_none_or(|t| now.saturating_duration_since(t) >= MIN_REAUTH_INTERVAL)
    }

    fn unexpected(&self, api: ApiKey, phase: &str) -> Admit {
        let reason = format!(
            "Unexpected Kafka request of type {} during SASL {phase}",
            handlers::api_name(api)
        );
        warn_limited!(AUTH_WARNINGS, peer = %self.peer, listener = %self.listener, %reason, "closing connection");
        Admit::Close(reason)
    }

    fn enabled_names(&self) -> Vec<StrBytes> {
        self.enabled
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect()
    }

    fn handshake(
        &mut self,
        broker: &Arc<Broker>,
        ctx: &RequestContext,
        req: SaslHandshakeRequest,
        now: Instant,
        reauth: bool,
    ) -> Reply {
        let requested = req.mechanism.as_str();
        let chosen = Mechanism::from_name(requested).filter(|m| self.enabled.contains(m));
        let response = SaslHandshakeResponse::default().with_mechanisms(self.enabled_names());
        match chosen {
            Some(mech) if !reauth || self.authenticated_with == Some(mech) => {
                if reauth {
                    self.reauth_started = Some(now);
                }
                self.state = State::Authenticating {
                    mech,
                    step: Step::initial(mech),
                    raw: ctx.api_version == 0,
                    reauth,
                };
                respond(ResponseKind::SaslHandshake(response))
            }
            _ => {
                broker
                    .metrics
                    .sasl_authentications
                    .with_label_values(&["unsupported", "failure"])
                    .inc();
                let reason = if reauth {
                    format!(
                        "re-authentication with mechanism {:?}, not the session's {}",
                        truncated(requested),
                        self.authenticated_with.map_or("", Mechanism::name)
                    )
                } else {
                    format!(
                        "SASL mechanism {:?} is not enabled on listener {}",
                        truncated(requested),
                        self.listener
                    )
                };
                warn_limited!(AUTH_WARNINGS, peer = %self.peer, listener = %self.listener, %reason, "SASL handshake refused");
                self.close_after_reply = Some(reason);
                respond(ResponseKind::SaslHandshake(
                    response.with_error_code(KafkaError::UnsupportedSaslMechanism.code()),
                ))
            }
        }
    }

    async fn authenticate(
        &mut self,
        broker: &Arc<Broker>,
        ctx: &RequestContext,
        req: SaslAuthenticateRequest,
        now: Instant,
    ) -> Reply {
        let (mech, reauth) = match &self.state {
            State::Authenticating { mech, reauth, .. } => (*mech, *reauth),
            _ => (Mechanism::Plain, false),
        };
        match self.step(broker, req.auth_bytes, now).await {
            Ok(reply) => {
                let mut response =
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(reply));
                if ctx.api_version >= 1 && matches!(self.state, State::Open) {
                    response.session_lifetime_ms =
                        self.max_reauth.map_or(0, |d| d.as_millis() as i64);
                }
                respond(ResponseKind::SaslAuthenticate(response))
            }
            Err(failure) => {
                let message = failure.client_message.unwrap_or_else(|| {
                    format!(
                        "Authentication failed during {} due to invalid credentials with SASL mechanism {}",
                        if reauth { "re-authentication" } else { "authentication" },
                        mech.name()
                    )
                });
                self.close_after_reply =
                    Some(format!("SASL authentication failed: {}", failure.reason));
                respond(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_error_code(KafkaError::SaslAuthenticationFailed.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                ))
            }
        }
    }

    /// Feeds one token to the exchange: the server's reply on success or challenge (the
    /// state moves on), the failure otherwise (logged and counted here).
    async fn step(
        &mut self,
        broker: &Arc<Broker>,
        token: Bytes,
        now: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let State::Authenticating {
            mech,
            step,
            raw,
            reauth,
        } = std::mem::replace(&mut self.state, State::AwaitHandshake)
        else {
            return Err(Failure::new("no SASL exchange in progress", None));
        };
        let outcome = evaluate(broker, step, token).await;
        let result = match outcome {
            Outcome::Challenge(reply, next) => {
                self.state = State::Authenticating {
                    mech,
                    step: next,
                    raw,
                    reauth,
                };
                return Ok(reply);
            }
            Outcome::Success { user, reply } => {
                let principal = Principal::user(user.clone());
                if reauth && principal != *self.principal {
                    Err(Failure {
                        client_message: Some(format!(
                            "Cannot change principals during re-authentication from {}: {}",
                            self.principal, principal
                        )),
                        reason: format!(
                            "re-authentication as {principal} on a session of {}",
                            self.principal
                        ),
                        user: Some(user),
                    })
                } else {
                    self.principal = Arc::new(principal);
                    self.authenticated_with = Some(mech);
                    self.expires = self.max_reauth.map(|d| now + d);
                    self.state = State::Open;
                    tracing::debug!(peer = %self.peer, listener = %self.listener, principal = %self.principal, mechanism = mech.name(), reauth, "SASL authentication succeeded");
                    Ok(reply)
                }
            }
            Outcome::Failure(f) => Err(f),
        };
        let label = if result.is_ok() { "success" } else { "failure" };
        broker
            .metrics
            .sasl_authentications
            .with_label_values(&[mech.name(), label])
            .inc();
        if let Err(f) = &result {
            let user = f.user.as_deref().map(truncated).unwrap_or_default();
            warn_limited!(AUTH_WARNINGS, peer = %self.peer, listener = %self.listener, mechanism = mech.name(), user = ?user, reason = %f.reason, "SASL authentication failed");
        }
        result
    }
}

/// Runs one step of a mechanism; lookups and PBKDF2 on the blocking pool.
async fn evaluate(broker: &Arc<Broker>, step: Step, token: Bytes) -> Outcome {
    match step {
        Step::Plain => {
            let msg = match plain::parse(&token) {
                Ok(m) => m,
                Err(e) => {
                    return Outcome::Failure(Failure {
                        client_message: e.client_message.map(str::to_string),
                        reason: e.reason.into(),
                        user: None,
                    })
                }
            };
            let user = msg.user.to_string();
            let password = msg.password.to_vec();
            let store = broker.store.clone();
            let lookup_user = user.clone();
            let checked = blocking(move || {
                let creds = store.user_credentials(&lookup_user)?;
                // The strongest hash first; either proves the password.
                Ok::<_, crate::store::StoreError>(
                    creds
                        .iter()
                        .next_back()
                        .map(|(m, c)| c.matches_password(*m, &password)),
                )
            })
            .await;
            match checked {
                Ok(Some(true)) => Outcome::Success {
                    user,
                    reply: Vec::new(),
                },
                Ok(found) => Outcome::Failure(Failure {
                    client_message: Some(plain::INVALID_CREDENTIALS.into()),
                    reason: if found.is_some() {
                        "wrong password"
                    } else {
                        "unknown user"
                    }
                    .into(),
                    user: Some(user),
                }),
                Err(e) => Outcome::Failure(store_failure(e, &user)),
            }
        }
        Step::ScramFirst(mech) => {
            let first = match scram::parse_client_first(&token) {
                Ok(f) => f,
                Err(e) => return Outcome::Failure(Failure::new(e.to_string(), None)),
            };
            let user = first.user.clone();
            let store = broker.store.clone();
            let lookup_user = user.clone();
            let credential = blocking(move || store.scram_credential(&lookup_user, mech)).await;
            let credential = match credential {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return Outcome::Failure(Failure::new(
                        scram::ScramError::UnknownUser.to_string(),
                        Some(&user),
                    ))
                }
                Err(e) => return Outcome::Failure(store_failure(e, &user)),
            };
            let nonce = match scram::new_server_nonce() {
                Ok(n) => n,
                Err(_) => {
                    return Outcome::Failure(Failure::new(
                        "the system random generator failed",
                        Some(&user),
                    ))
                }
            };
            let (reply, pending) = scram::server_first(mech, first, credential, &nonce);
            Outcome::Challenge(reply, Step::ScramFinal(Box::new(pending)))
        }
        Step::ScramFinal(pending) => match scram::verify_client_final(&pending, &token) {
            Ok(reply) => Outcome::Success {
                user: pending.user().to_string(),
                reply,
            },
            Err(e) => Outcome::Failure(Failure::new(e.to_string(), Some(pending.user()))),
        },
    }
}

fn store_failure(e: crate::store::StoreError, user: &str) -> Failure {
    tracing::error!(error = %e, "reading SASL credentials");
    Failure::new(format!("credential store: {e}"), Some(user))
}

fn respond(kind: ResponseKind) -> Reply {
    Reply::Respond(Box::new(kind))
}

/// A client-chosen name, cut for the log.
fn truncated(s: &str) -> String {
    s.chars().take(LOGGED_NAME_CHARS).collect()
}
