//! SaslAuthenticate (key 36, v0–2) outside an authentication exchange.
//!
//! Tokens of an exchange are consumed by the connection's `server::sasl_session`; a
//! SaslAuthenticate that reaches this handler has no exchange to belong to (a non-SASL
//! listener, or a connection already authenticated), and Kafka's `KafkaApis` answers it
//! with ILLEGAL_SASL_STATE and this message.

use std::sync::Arc;

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    _broker: &Arc<Broker>,
    _ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(KafkaError::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}
