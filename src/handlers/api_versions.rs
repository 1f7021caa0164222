//! ApiVersions (key 18): the handshake every client starts with.
//!
//! Answers from the single version table. v3+ carries the client's software name and
//! version, which Kafka validates (librdkafka retries with v0 on INVALID_REQUEST). Too-new
//! versions never get here: the codec answers them with a v0-format UNSUPPORTED_VERSION.
//! No tagged fields with default values are sent (old librdkafka mis-skips them).

use std::sync::Arc;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::protocol::versions;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    if ctx.api_version >= 3
        && !(valid_software_field(req.client_software_name.as_str())
            && valid_software_field(req.client_software_version.as_str()))
    {
        tracing::warn!(
            name = req.client_software_name.as_str(),
            version = req.client_software_version.as_str(),
            "ApiVersions with invalid client software name/version"
        );
        return ApiVersionsResponse::default().with_error_code(KafkaError::InvalidRequest.code());
    }
    ApiVersionsResponse::default().with_api_keys(advertised(broker.controller.member().is_some()))
}

/// The advertised table in wire form; the cluster-only APIs only on a cluster node, the
/// single-node-only ones only on a single node.
pub fn advertised(cluster: bool) -> Vec<ApiVersion> {
    versions::SUPPORTED
        .iter()
        .filter(|r| cluster || !versions::CLUSTER_ONLY.contains(&r.key))
        .filter(|r| !cluster || !versions::SINGLE_NODE_ONLY.contains(&r.key))
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect()
}

/// Kafka's rule for ClientSoftwareName/Version: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_name_rule_matches_kafka() {
        for ok in ["librdkafka", "apache-kafka-java", "2.0.2", "a", "kcat1.7.1"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "a b", "x_y", "ü"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }

    #[test]
    fn advertised_table_is_the_version_table() {
        let single = advertised(false);
        assert_eq!(
            single.len(),
            versions::SUPPORTED.len() - versions::CLUSTER_ONLY.len()
        );
        assert!(single.iter().any(|v| v.api_key == 18 && v.max_version == 4));
        assert!(!single.iter().any(|v| v.api_key == 55));
        assert!(single.iter().any(|v| v.api_key == 26 && v.max_version == 4));
        // WriteTxnMarkers only between cluster brokers.
        assert!(!single.iter().any(|v| v.api_key == 27));
        let cluster = advertised(true);
        assert_eq!(
            cluster.len(),
            versions::SUPPORTED.len() - versions::SINGLE_NODE_ONLY.len()
        );
        assert!(cluster
            .iter()
            .any(|v| v.api_key == 55 && v.max_version == 2));
        // Transactions run in a cluster too (`__transaction_state`).
        assert!(cluster
            .iter()
            .any(|v| v.api_key == 26 && v.max_version == 4));
        assert!(cluster
            .iter()
            .any(|v| v.api_key == 27 && v.min_version == 1 && v.max_version == 1));
    }
}
