//! DescribeLogDirs (key 35, v1–4): the broker's log directory with the size of every
//! partition in it, what `kafka-log-dirs --describe` and the web UIs show as topic sizes.
//!
//! As Kafka's `ReplicaManager.describeLogDirs`: one result per log directory (this broker has
//! exactly one, `<data_dir>/logs`, reported by its absolute path); null `topics` asks for
//! every partition, a list for those named — partitions this broker does not host are left
//! out, and topics left without partitions are dropped. Sizes are the bytes of the segment
//! files; the offset lag is 0 (no partition is being moved to another directory, so no
//! entry is a "future" replica). v3+ carries a top-level error code (0); v4+ the volume's
//! total and usable bytes (`statvfs`; −1 when it cannot be read, as Kafka's
//! `UNKNOWN_VOLUME_BYTES`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

/// The absolute path of the broker's (single) log directory, as clients name it in
/// DescribeLogDirs answers and AlterReplicaLogDirs requests (Kafka's `getAbsolutePath`: made
/// absolute, symlinks not resolved).
pub(crate) fn log_dir_path(broker: &Broker) -> String {
    let dir = broker.logs.data_dir();
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// `(total, usable)` bytes of the file system holding `dir`, or −1 each if unknown.
fn volume_bytes(dir: &Path) -> (i64, i64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return (-1, -1);
    };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter that
    // statvfs fully initializes when it returns 0; nothing else is shared with the kernel.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return (-1, -1);
    }
    let bytes = |blocks: u128| {
        let b = blocks.saturating_mul(u128::from(st.f_frsize));
        // Kafka's adjustForLargeFileSystems: a size that overflows reads as Long.MAX_VALUE.
        i64::try_from(b).unwrap_or(i64::MAX)
    };
    (
        bytes(u128::from(st.f_blocks)),
        bytes(u128::from(st.f_bavail)),
    )
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !authz::authorize_cluster(broker, ctx, Op::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(KafkaError::ClusterAuthorizationFailed.code());
    }
    // None = every partition.
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.0.to_string(), *p))
            })
            .collect()
    });
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for (topic, partition, log) in broker.logs.partitions() {
        if let Some(w) = &wanted {
            if !w.contains(&(topic.clone(), partition)) {
                continue;
            }
        }
        by_topic.entry(topic).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(partition)
                .with_partition_size(i64::try_from(log.size_bytes()).unwrap_or(i64::MAX))
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(log_dir_path(broker)))
        .with_topics(topics);
    if ctx.api_version >= 4 {
        let dir = broker.logs.data_dir().to_path_buf();
        let (total, usable) = blocking(move || volume_bytes(&dir)).await;
        result = result.with_total_bytes(total).with_usable_bytes(usable);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_bytes_of_a_real_directory() {
        let d = tempfile::tempdir().unwrap();
        let (total, usable) = volume_bytes(d.path());
        assert!(total > 0, "{total}");
        assert!((0..=total).contains(&usable), "{usable} of {total}");
        assert_eq!(volume_bytes(Path::new("/no/such/dir/here")), (-1, -1));
    }
}
