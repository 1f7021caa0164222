//! Read-only snapshots of broker state for the console API and the scrape-time metrics.
//!
//! The only place in `http` that knows the engines' APIs (log manager, metadata view,
//! group coordinator, store): everything else works on the plain view structs here. All
//! functions may touch the file system or RocksDB; async callers use `spawn_blocking`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::broker::Broker;
use crate::cluster::config_def::ConfigSource;
use crate::cluster::topic_config;
use crate::log::manager::PartitionCleaning;
use crate::telemetry::{
    CleanerSample, GroupOffsetSample, GroupSample, PartitionSample, StateSample, StateSource,
};
use crate::txn::Participant;

/// The log cleaner's figures of one compacted partition, as the console shows them (kept in
/// memory by the cleaner; reading them touches no segment file).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CleanerView {
    /// Dirty bytes / (clean + dirty bytes) when the cleaner last looked (0 right after a pass).
    pub dirty_ratio: f64,
    /// Wall time of the last pass that cleaned the partition (ms), None before the first.
    pub last_clean_ms: Option<i64>,
    /// Seconds from that pass to when this view was taken.
    pub seconds_since_last_clean: Option<f64>,
    /// Passes that cleaned the partition since the broker started.
    pub passes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
}

/// One partition as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionView {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1 when the partition has no open log on this broker.
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    /// What read_committed consumers see up to: below the high watermark while a
    /// transaction is open.
    pub last_stable_offset: i64,
    pub size_bytes: u64,
    /// Present for a partition the log cleaner has looked at (its policy compacts).
    pub cleaner: Option<CleanerView>,
}

/// One effective topic config.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConfigView {
    pub name: String,
    pub value: String,
    pub is_override: bool,
}

/// One topic as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicView {
    pub name: String,
    /// Kafka's printed form (URL-safe base64).
    pub id: String,
    pub partitions: Vec<PartitionView>,
    pub configs: Vec<ConfigView>,
    /// Records currently retained: Σ (high watermark − log start).
    pub records: i64,
    pub size_bytes: u64,
}

/// Every topic, in name order, with live offsets and, for compacted partitions, the
/// cleaner's figures.
pub fn topics(b: &Broker) -> Vec<TopicView> {
    let now = wall_ms();
    let mut cleaning: HashMap<(String, i32), CleanerView> = b
        .logs
        .cleaner_stats()
        .partitions
        .into_iter()
        .map(|c| ((c.topic.clone(), c.partition), cleaner_view(&c, now)))
        .collect();
    b.metadata
        .topics()
        .iter()
        .map(|t| {
            let partitions: Vec<PartitionView> = t
                .partitions
                .iter()
                .map(|p| {
                    let log = b.logs.get(&t.name, p.index);
                    PartitionView {
                        partition: p.index,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        log_start_offset: log.as_ref().map_or(-1, |l| l.log_start_offset()),
                        log_end_offset: log.as_ref().map_or(-1, |l| l.log_end_offset()),
                        high_watermark: log.as_ref().map_or(-1, |l| l.high_watermark()),
                        last_stable_offset: log.as_ref().map_or(-1, |l| l.last_stable_offset()),
                        size_bytes: log.as_ref().map_or(0, |l| l.size_bytes()),
                        cleaner: cleaning.remove(&(t.name.clone(), p.index)),
                    }
                })
                .collect();
            let configs = topic_config::effective(&b.controller.broker_layers(), &t.configs)
                .into_iter()
                .map(|c| ConfigView {
                    is_override: c.source == ConfigSource::Topic,
                    name: c.name,
                    value: c.value,
                })
                .collect();
            TopicView {
                name: t.name.clone(),
                id: crate::store::kafka_uuid_string(t.id),
                records: partitions
                    .iter()
                    .filter(|p| p.log_start_offset >= 0)
                    .map(|p| p.high_watermark - p.log_start_offset)
                    .sum(),
                size_bytes: partitions.iter().map(|p| p.size_bytes).sum(),
                partitions,
                configs,
            }
        })
        .collect()
}

/// One transactional id as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransactionView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Kafka's state name (Empty, Ongoing, PrepareCommit, ..., CompleteAbort).
    pub state: &'static str,
    pub timeout_ms: i32,
    /// When the open transaction started, null outside one.
    pub start_ms: Option<i64>,
    /// `topic-partition` of every partition in the open transaction.
    pub partitions: Vec<String>,
    /// Consumer groups whose offsets the open transaction commits.
    pub groups: Vec<String>,
}

/// Every transactional id the coordinator knows, open transactions first (none in a
/// cluster, which has no transaction coordinator yet).
pub async fn transactions(b: &Broker) -> Vec<TransactionView> {
    let Some(txns) = &b.txns else {
        return Vec::new();
    };
    let mut out: Vec<TransactionView> = txns
        .transactions()
        .await
        .into_iter()
        .map(|m| {
            let mut partitions = Vec::new();
            let mut groups = Vec::new();
            for p in &m.participants {
                match p {
                    Participant::Partition { topic, partition } => {
                        partitions.push(format!("{topic}-{partition}"))
                    }
                    Participant::Group { group_id } => groups.push(group_id.clone()),
                }
            }
            TransactionView {
                transactional_id: m.transactional_id,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                state: m.state.kafka_name(),
                timeout_ms: m.timeout_ms,
                start_ms: (m.start_ms >= 0).then_some(m.start_ms),
                partitions,
                groups,
            }
        })
        .collect();
    out.sort_by_key(|t| t.start_ms.is_none());
    out
}

/// A member's assigned partitions of one topic.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssignmentView {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// One group member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberView {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Decoded from the consumer protocol's assignment bytes; empty when the group does not
    /// use the "consumer" protocol or the bytes do not parse.
    pub assignment: Vec<AssignmentView>,
}

/// One committed offset with its lag.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OffsetView {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub log_end_offset: Option<i64>,
    /// Log end offset − committed offset (never negative); None when the partition is gone.
    pub lag: Option<i64>,
    /// The member currently assigned this partition, if any.
    pub member_id: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// One consumer group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupView {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub generation_id: i32,
    pub members: Vec<MemberView>,
    pub offsets: Vec<OffsetView>,
    pub total_lag: i64,
}

/// One share-partition of a share group (KIP-932).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SharePartitionRow {
    pub topic: String,
    pub partition: i32,
    /// Share-partition start offset (SPSO): everything below is delivered and complete.
    pub start_offset: i64,
    /// Next offset never handed out (SPEO).
    pub end_offset: i64,
    /// Records acquired by members right now (locked).
    pub acquired: u64,
    /// Records at or past the start offset already acknowledged or archived.
    pub completed: u64,
    /// High watermark − start offset − completed (Kafka's share lag), never negative.
    pub lag: Option<i64>,
}

/// One share group's partitions on this broker.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShareGroupView {
    pub group_id: String,
    pub partitions: Vec<SharePartitionRow>,
    pub total_lag: i64,
}

/// Every share group with share-partition state in memory on this broker.
pub fn share_groups(b: &Broker) -> Vec<ShareGroupView> {
    let mut out = Vec::new();
    for g in b.shares.groups_in_memory() {
        let Ok(views) = b.shares.describe_group(&g) else {
            continue;
        };
        let partitions: Vec<SharePartitionRow> = views
            .into_iter()
            .filter_map(|v| {
                let topic = b.metadata.topic_by_id(v.key.topic_id)?;
                let hw = b
                    .logs
                    .get(&topic.name, v.key.partition)
                    .map(|l| l.high_watermark());
                Some(SharePartitionRow {
                    topic: topic.name.clone(),
                    partition: v.key.partition,
                    start_offset: v.start_offset,
                    end_offset: v.end_offset,
                    acquired: v.acquired,
                    completed: v.completed,
                    lag: hw.map(|hw| (hw - v.start_offset - v.completed as i64).max(0)),
                })
            })
            .collect();
        out.push(ShareGroupView {
            group_id: g.to_string(),
            total_lag: partitions.iter().filter_map(|p| p.lag).sum(),
            partitions,
        });
    }
    out
}

/// Every group the coordinator knows, with committed offsets and lag.
pub fn groups(b: &Broker) -> Vec<GroupView> {
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    let mut end_of = |topic: &str, partition: i32| -> Option<i64> {
        if let Some(e) = ends.get(&(topic.to_string(), partition)) {
            return Some(*e);
        }
        let e = b.logs.get(topic, partition)?.log_end_offset();
        ends.insert((topic.to_string(), partition), e);
        Some(e)
    };
    let mut out = Vec::new();
    for g in b.groups.describe_all() {
        let members: Vec<MemberView> = g
            .members
            .iter()
            .map(|m| MemberView {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                assignment: if g.protocol_type == "consumer" {
                    decode_assignment(&m.assignment).unwrap_or_default()
                } else {
                    Vec::new()
                },
            })
            .collect();
        let owner = |topic: &str, partition: i32| {
            members
                .iter()
                .find(|m| {
                    m.assignment
                        .iter()
                        .any(|a| a.topic == topic && a.partitions.contains(&partition))
                })
                .map(|m| m.member_id.clone())
        };
        let offsets: Vec<OffsetView> = g
            .offsets
            .iter()
            .map(|o| {
                let end = end_of(&o.topic, o.partition);
                OffsetView {
                    topic: o.topic.clone(),
                    partition: o.partition,
                    committed: o.offset,
                    log_end_offset: end,
                    lag: end.map(|e| (e - o.offset).max(0)),
                    member_id: owner(&o.topic, o.partition),
                    commit_timestamp_ms: o.commit_timestamp_ms,
                }
            })
            .collect();
        out.push(GroupView {
            total_lag: offsets.iter().filter_map(|o| o.lag).sum(),
            group_id: g.group_id.clone(),
            state: g.state.clone(),
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            generation_id: g.generation_id,
            members,
            offsets,
        });
    }
    out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    out
}

/// Decodes Kafka's ConsumerProtocolAssignment (any version: the assigned partitions come
/// first, user data after): `version int16, [topic string, [partition int32]]`.
/// Every length is checked against the remaining bytes; None on anything malformed.
pub fn decode_assignment(b: &[u8]) -> Option<Vec<AssignmentView>> {
    let mut r = Reader(b);
    if b.is_empty() {
        return Some(Vec::new());
    }
    let _version = r.i16()?;
    let topics = r.i32()?;
    if topics < 0 {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for _ in 0..topics {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let n = r.i32()?;
        // Each partition needs 4 bytes: refuse counts the input cannot hold.
        let n = usize::try_from(n).ok().filter(|n| *n <= r.0.len() / 4)?;
        let mut partitions = Vec::with_capacity(n);
        for _ in 0..n {
            partitions.push(r.i32()?);
        }
        partitions.sort_unstable();
        out.push(AssignmentView { topic, partitions });
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// The broker as the metrics' [`StateSource`].
pub(crate) struct BrokerState(pub Arc<Broker>);

impl StateSource for BrokerState {
    fn sample(&self, per_partition: bool) -> StateSample {
        let b = &self.0;
        let partitions = b
            .logs
            .partitions()
            .into_iter()
            .map(|(topic, partition, log)| PartitionSample {
                topic,
                partition,
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
                high_watermark: log.high_watermark(),
                size_bytes: log.size_bytes(),
            })
            .collect::<Vec<_>>();
        let ends: HashMap<(&str, i32), i64> = partitions
            .iter()
            .map(|p| ((p.topic.as_str(), p.partition), p.log_end_offset))
            .collect();
        // Group lag is needed for the per-group sum even without per-partition families.
        let _ = per_partition;
        let groups = b
            .groups
            .describe_all()
            .into_iter()
            .map(|g| GroupSample {
                offsets: g
                    .offsets
                    .iter()
                    .map(|o| GroupOffsetSample {
                        log_end_offset: ends.get(&(o.topic.as_str(), o.partition)).copied(),
                        topic: o.topic.clone(),
                        partition: o.partition,
                        committed: o.offset,
                    })
                    .collect(),
                group: g.group_id,
                state: g.state,
                members: g.members.len(),
            })
            .collect();
        StateSample {
            partitions,
            groups,
            store_size_bytes: b.store.size_bytes(),
            scrub_damage: b.logs.scrub_damage(),
            under_replicated: b.replicas.under_replicated() as u64,
            cleaner: cleaner_sample(b.logs.cleaner_stats()),
            txn: b.txns.as_ref().map(|t| t.sample()).unwrap_or_default(),
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Seconds from `at_ms` (-1: never) to `now_ms`.
fn seconds_since(at_ms: i64, now_ms: i64) -> Option<f64> {
    (at_ms >= 0).then(|| (now_ms - at_ms).max(0) as f64 / 1000.0)
}

fn cleaner_view(c: &PartitionCleaning, now_ms: i64) -> CleanerView {
    CleanerView {
        dirty_ratio: c.dirty_ratio,
        last_clean_ms: (c.last_clean_ms >= 0).then_some(c.last_clean_ms),
        seconds_since_last_clean: seconds_since(c.last_clean_ms, now_ms),
        passes: c.passes,
        bytes_read: c.bytes_read,
        bytes_written: c.bytes_written,
        records_removed: c.records_removed,
    }
}

/// The cleaner's counters for the metrics families; "seconds since last clean" from the wall
/// clock now.
fn cleaner_sample(c: crate::log::manager::CleanerSnapshot) -> CleanerSample {
    let now = wall_ms();
    CleanerSample {
        passes: c.passes,
        bytes_read: c.bytes_read,
        bytes_written: c.bytes_written,
        records_removed: c.records_removed,
        errors: c.errors,
        partitions: c
            .partitions
            .into_iter()
            .map(|c| {
                let since = seconds_since(c.last_clean_ms, now);
                (c.topic, c.partition, c.dirty_ratio, since)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])], user_data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 1];
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend_from_slice(&p.to_be_bytes());
            }
        }
        b.extend_from_slice(&(user_data.len() as i32).to_be_bytes());
        b.extend_from_slice(user_data);
        b
    }

    #[test]
    fn decodes_consumer_assignments() {
        let raw = assignment(&[("orders", &[2, 0]), ("audit", &[])], b"xyz");
        let got = decode_assignment(&raw).unwrap();
        assert_eq!(
            got,
            vec![
                AssignmentView {
                    topic: "orders".into(),
                    partitions: vec![0, 2]
                },
                AssignmentView {
                    topic: "audit".into(),
                    partitions: vec![]
                },
            ]
        );
        assert_eq!(decode_assignment(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_assignments_are_none() {
        let raw = assignment(&[("orders", &[1, 2, 3])], b"");
        for cut in 1..raw.len() - 4 {
            assert_eq!(decode_assignment(&raw[..cut]), None, "cut at {cut}");
        }
        // A huge partition count is refused before allocating.
        let mut huge = vec![0, 0, 0, 0, 0, 1, 0, 1, b'a'];
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode_assignment(&huge), None);
    }

    #[test]
    fn cleaner_views_carry_the_partition_figures() {
        let c = PartitionCleaning {
            topic: "changelog".into(),
            partition: 2,
            dirty_ratio: 0.25,
            last_clean_ms: 10_000,
            passes: 3,
            bytes_read: 4096,
            bytes_written: 1024,
            records_removed: 70,
        };
        let v = serde_json::to_value(cleaner_view(&c, 12_500)).unwrap();
        assert_eq!(v["dirty_ratio"], 0.25);
        assert_eq!(v["last_clean_ms"], 10_000);
        assert_eq!(v["seconds_since_last_clean"], 2.5);
        assert_eq!(
            (
                &v["passes"],
                &v["bytes_read"],
                &v["bytes_written"],
                &v["records_removed"]
            ),
            (&3.into(), &4096.into(), &1024.into(), &70.into())
        );
        // Never cleaned yet: no time, no age (and a clock step back is not a negative age).
        let never = cleaner_view(
            &PartitionCleaning {
                last_clean_ms: -1,
                ..c.clone()
            },
            0,
        );
        assert!(never.last_clean_ms.is_none() && never.seconds_since_last_clean.is_none());
        assert_eq!(cleaner_view(&c, 9_000).seconds_since_last_clean, Some(0.0));
    }

    #[test]
    fn views_serialize_with_stable_field_names() {
        let g = GroupView {
            group_id: "g".into(),
            state: "Empty".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            generation_id: 0,
            members: vec![],
            offsets: vec![OffsetView {
                topic: "t".into(),
                partition: 0,
                committed: 3,
                log_end_offset: Some(10),
                lag: Some(7),
                member_id: None,
                commit_timestamp_ms: 0,
            }],
            total_lag: 7,
        };
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["offsets"][0]["lag"], 7);
        assert_eq!(v["offsets"][0]["log_end_offset"], 10);
        assert_eq!(v["total_lag"], 7);
        assert_eq!(v["state"], "Empty");
    }
}
