//! The single table of advertised API version ranges.
//!
//! ApiVersions answers from it and the decoder refuses anything outside it, so what we
//! advertise and what we accept cannot drift. Ranges follow PROTOCOL.md §3: minimums matter
//! as much as maximums (old librdkafka only enables a feature when a specific version is
//! inside our range), and nothing is listed that the broker cannot serve. APIs left out on
//! purpose (transactions v2 — EndTxn v5, TxnOffsetCommit v5, AddPartitionsToTxn v4+ —,
//! topic-ID versions of Produce ≥13 and Fetch ≥13) make
//! clients fall back cleanly. The admin APIs (29–31, 34, 35, 43, 45,
//! 46, 61, 75) use exactly the ranges Kafka 4.1 offers, which the vendored crate decodes.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, with `decode.rs`), which does
//! not link the broker: no imports of other Runnel modules (`scripts/fuzz` fails on one).

use kafka_protocol::messages::ApiKey;

/// One advertised range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn r(key: ApiKey, min: i16, max: i16) -> Range {
    Range { key, min, max }
}

/// Advertised ranges, in API key order.
pub const SUPPORTED: &[Range] = &[
    // Produce v0–2 are advertised (old librdkafka enables compression only when v0 is in
    // range) but rejected with UNSUPPORTED_VERSION at decode time, as Kafka 4 does.
    r(ApiKey::Produce, 0, 12),
    r(ApiKey::Fetch, 4, 12),
    r(ApiKey::ListOffsets, 1, 10),
    r(ApiKey::Metadata, 0, 12),
    r(ApiKey::OffsetCommit, 2, 9),
    r(ApiKey::OffsetFetch, 1, 9),
    r(ApiKey::FindCoordinator, 0, 6),
    r(ApiKey::JoinGroup, 0, 9),
    r(ApiKey::Heartbeat, 0, 4),
    r(ApiKey::LeaveGroup, 0, 5),
    r(ApiKey::SyncGroup, 0, 5),
    r(ApiKey::DescribeGroups, 0, 6),
    r(ApiKey::ListGroups, 0, 5),
    r(ApiKey::SaslHandshake, 0, 1),
    r(ApiKey::ApiVersions, 0, 4),
    r(ApiKey::CreateTopics, 2, 7),
    r(ApiKey::DeleteTopics, 1, 6),
    r(ApiKey::DeleteRecords, 0, 2),
    r(ApiKey::InitProducerId, 0, 5),
    r(ApiKey::OffsetForLeaderEpoch, 2, 4),
    r(ApiKey::AddPartitionsToTxn, 0, 3),
    r(ApiKey::AddOffsetsToTxn, 0, 4),
    r(ApiKey::EndTxn, 0, 4),
    // Between brokers only (transaction markers to remote leaders); Kafka 4 keeps v1 only.
    r(ApiKey::WriteTxnMarkers, 1, 1),
    r(ApiKey::TxnOffsetCommit, 0, 4),
    r(ApiKey::DescribeAcls, 1, 3),
    r(ApiKey::CreateAcls, 1, 3),
    r(ApiKey::DeleteAcls, 1, 3),
    r(ApiKey::DescribeConfigs, 1, 4),
    r(ApiKey::AlterConfigs, 0, 2),
    r(ApiKey::AlterReplicaLogDirs, 1, 2),
    r(ApiKey::DescribeLogDirs, 1, 4),
    r(ApiKey::SaslAuthenticate, 0, 2),
    r(ApiKey::CreatePartitions, 0, 3),
    r(ApiKey::DeleteGroups, 0, 2),
    r(ApiKey::ElectLeaders, 0, 2),
    r(ApiKey::IncrementalAlterConfigs, 0, 1),
    r(ApiKey::AlterPartitionReassignments, 0, 1),
    r(ApiKey::ListPartitionReassignments, 0, 0),
    r(ApiKey::OffsetDelete, 0, 0),
    r(ApiKey::DescribeUserScramCredentials, 0, 0),
    r(ApiKey::AlterUserScramCredentials, 0, 0),
    r(ApiKey::DescribeQuorum, 0, 2),
    r(ApiKey::DescribeCluster, 0, 1),
    r(ApiKey::DescribeProducers, 0, 0),
    r(ApiKey::DescribeTransactions, 0, 0),
    r(ApiKey::ListTransactions, 0, 1),
    r(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    r(ApiKey::ConsumerGroupDescribe, 0, 1),
    r(ApiKey::DescribeTopicPartitions, 0, 0),
    // Share groups (KIP-932): v1 is what Kafka 4.1+ and the crate speak (v0 was 4.0's early
    // access, refused by every later broker).
    r(ApiKey::ShareGroupHeartbeat, 1, 1),
    r(ApiKey::ShareGroupDescribe, 1, 1),
    // Share groups (KIP-932): v1 is what the vendored crate decodes (Kafka 4.1 JSON); v2
    // (renew acks, acquire modes) needs a regenerated crate.
    r(ApiKey::ShareFetch, 1, 1),
    r(ApiKey::ShareAcknowledge, 1, 1),
    // Between brokers only: share-partition leaders and the share coordinator (cluster mode).
    r(ApiKey::ReadShareGroupState, 0, 0),
    r(ApiKey::WriteShareGroupState, 0, 0),
    r(ApiKey::DescribeShareGroupOffsets, 0, 0),
    r(ApiKey::AlterShareGroupOffsets, 0, 0),
    r(ApiKey::DeleteShareGroupOffsets, 0, 0),
];

/// Produce versions below this are advertised but refused (record batch v2 needs v3+).
pub const PRODUCE_MIN_ACCEPTED: i16 = 3;

/// APIs that only a cluster node advertises (a single node has no controller quorum). They
/// still decode everywhere; a single node answers them with an error.
pub const CLUSTER_ONLY: &[ApiKey] = &[
    ApiKey::DescribeQuorum,
    ApiKey::WriteTxnMarkers,
    ApiKey::ReadShareGroupState,
    ApiKey::WriteShareGroupState,
];

/// APIs that only a single node advertises: the ACL APIs, whose ACLs live in each node's own store rather than
/// in the replicated metadata (a cluster node enforces only super users and
/// `allow_everyone_if_no_acl_found`), and AlterUserScramCredentials (credentials are per
/// node). They still decode everywhere; a cluster node answers UNSUPPORTED_VERSION (ACLs) or
/// INVALID_REQUEST (credentials).
pub const SINGLE_NODE_ONLY: &[ApiKey] = &[
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    // SCRAM credentials live in each node's store, not replicated yet.
    ApiKey::AlterUserScramCredentials,
];

/// The advertised range for an API key, if we serve it.
pub fn range(key: ApiKey) -> Option<Range> {
    SUPPORTED.iter().copied().find(|r| r.key == key)
}

/// Whether a request of this key and version is accepted for decoding.
pub fn accepts(key: ApiKey, version: i16) -> bool {
    match range(key) {
        Some(_) if key == ApiKey::Produce && version < PRODUCE_MIN_ACCEPTED => false,
        Some(r) => (r.min..=r.max).contains(&version),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_decodable() {
        for w in SUPPORTED.windows(2) {
            assert!((w[0].key as i16) < (w[1].key as i16), "{:?}", w);
        }
        for r in SUPPORTED {
            let valid = r.key.valid_versions();
            assert!(r.min <= r.max);
            // Every advertised version the broker accepts must be decodable by the codec.
            let lowest_accepted = if r.key == ApiKey::Produce {
                PRODUCE_MIN_ACCEPTED
            } else {
                r.min
            };
            assert!(
                valid.min <= lowest_accepted && r.max <= valid.max,
                "{:?}",
                r
            );
        }
    }

    #[test]
    fn old_librdkafka_feature_probes_are_inside_ranges() {
        // PROTOCOL.md §2: librdkafka < 2.11 enables features on these exact versions.
        let probes = [
            (ApiKey::Produce, 3),
            (ApiKey::Fetch, 4),
            (ApiKey::Produce, 7),
            (ApiKey::Fetch, 10),
            (ApiKey::Produce, 0),
            (ApiKey::ListOffsets, 1),
            (ApiKey::InitProducerId, 0),
            (ApiKey::FindCoordinator, 0),
            (ApiKey::JoinGroup, 0),
            (ApiKey::SyncGroup, 0),
            (ApiKey::Heartbeat, 0),
            (ApiKey::LeaveGroup, 0),
            (ApiKey::OffsetCommit, 2),
            (ApiKey::OffsetFetch, 1),
            (ApiKey::OffsetForLeaderEpoch, 2),
            (ApiKey::SaslHandshake, 0),
            (ApiKey::SaslHandshake, 1),
            (ApiKey::SaslAuthenticate, 0),
            (ApiKey::SaslAuthenticate, 1),
        ];
        for (key, v) in probes {
            let r = range(key).unwrap();
            assert!((r.min..=r.max).contains(&v), "{key:?} v{v}");
        }
    }

    #[test]
    fn produce_below_v3_is_refused_and_unknown_apis_too() {
        assert!(!accepts(ApiKey::Produce, 2));
        assert!(accepts(ApiKey::Produce, 3));
        assert!(!accepts(ApiKey::Fetch, 13));
        assert!(accepts(ApiKey::ConsumerGroupHeartbeat, 1));
        assert!(!accepts(ApiKey::ConsumerGroupHeartbeat, 2));
        assert!(accepts(ApiKey::SaslHandshake, 1));
        assert!(!accepts(ApiKey::SaslHandshake, 2));
        assert!(accepts(ApiKey::SaslAuthenticate, 0));
    }
}
