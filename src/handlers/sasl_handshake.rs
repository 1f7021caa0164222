//! SaslHandshake (key 17, v0–1) outside an authentication exchange.
//!
//! The exchange itself (a SASL listener before authentication, and KIP-368
//! re-authentication) is answered by the connection's `server::sasl_session`, which never
//! lets those requests reach this handler. What arrives here is a handshake where none is
//! possible — on a PLAINTEXT or SSL listener, or on an authenticated connection that may not
//! re-authenticate — and Kafka's `KafkaApis` answers it with ILLEGAL_SASL_STATE and no
//! mechanisms.

use std::sync::Arc;

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    _broker: &Arc<Broker>,
    _ctx: &RequestContext,
    _req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(KafkaError::IllegalSaslState.code())
}
