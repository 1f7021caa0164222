//! Reader of the "consumer" protocol's embedded subscription (ConsumerProtocolSubscription),
//! and reader/writer of its assignment (ConsumerProtocolAssignment).
//!
//! The topic list serves OffsetDelete (it refuses offsets of topics a live group subscribes
//! to) and offset expiry; the owned partitions and the assignment serve the conversions
//! between classic and KIP-848 consumer groups (a classic member's subscription and
//! assignment become a consumer member's, and back).
//!
//! ```text
//! Subscription                                 Assignment
//! Version         int16                        Version             int16
//! Topics          [string]                     AssignedPartitions  [string, [int32]]
//! UserData        nullable bytes               UserData            nullable bytes
//! OwnedPartitions [string, [int32]]  (v1+)
//! GenerationId    int32              (v2+, ignored)
//! RackId          nullable string    (v3+)
//! ```
//! (string = int16 length + UTF-8; bytes = int32 length, −1 null; array = int32 count, −1 null.)
//!
//! Input is hostile: every length is checked against the bytes left before anything is
//! allocated, and a malformed payload is an error, never a panic.

/// Why a subscription could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("subscription truncated at byte {0}")]
    Truncated(usize),
    #[error("negative version {0}")]
    BadVersion(i16),
    #[error("invalid topic count {0}")]
    BadCount(i32),
    #[error("topic name is not UTF-8")]
    NotUtf8,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SubscriptionError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or(SubscriptionError::Truncated(self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, SubscriptionError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, SubscriptionError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// An array count, bounded by the bytes left (each element takes at least `min` bytes);
    /// a null (−1) array is empty.
    fn count(&mut self, min: usize) -> Result<usize, SubscriptionError> {
        let count = self.i32()?;
        if count == -1 {
            return Ok(0);
        }
        if count < 0 || count as usize > self.remaining() / min {
            return Err(SubscriptionError::BadCount(count));
        }
        Ok(count as usize)
    }

    /// A nullable string (`None` for −1).
    fn string(&mut self) -> Result<Option<String>, SubscriptionError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        let s = std::str::from_utf8(bytes).map_err(|_| SubscriptionError::NotUtf8)?;
        Ok(Some(s.to_string()))
    }

    /// Skips nullable bytes.
    fn skip_bytes(&mut self) -> Result<(), SubscriptionError> {
        let len = self.i32()?;
        if len >= 0 {
            self.take(len as usize)?;
        }
        Ok(())
    }

    /// `[string, [int32]]`: partitions by topic name.
    fn topic_partitions(&mut self) -> Result<Vec<(String, Vec<i32>)>, SubscriptionError> {
        let n = self.count(6)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let topic = self
                .string()?
                .ok_or(SubscriptionError::Truncated(self.pos))?;
            let np = self.count(4)?;
            let mut ps = Vec::with_capacity(np);
            for _ in 0..np {
                ps.push(self.i32()?);
            }
            out.push((topic, ps));
        }
        Ok(out)
    }
}

/// A whole consumer-protocol subscription (the fields the coordinator uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// Partitions the member owns as it joins (v1+, cooperative assignors); empty below.
    pub owned: Vec<(String, Vec<i32>)>,
    pub rack_id: Option<String>,
}

/// Reads a subscription of any version; fields of later versions than ours are ignored.
pub fn read_subscription(metadata: &[u8]) -> Result<Subscription, SubscriptionError> {
    let mut r = Reader {
        buf: metadata,
        pos: 0,
    };
    let version = r.i16()?;
    if version < 0 {
        return Err(SubscriptionError::BadVersion(version));
    }
    let n = r.count(2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(r.string()?.ok_or(SubscriptionError::Truncated(r.pos))?);
    }
    let mut sub = Subscription {
        topics,
        ..Subscription::default()
    };
    if r.remaining() == 0 {
        return Ok(sub);
    }
    r.skip_bytes()?;
    if version >= 1 {
        sub.owned = r.topic_partitions()?;
    }
    if version >= 3 {
        r.i32()?;
        sub.rack_id = r.string()?;
    }
    Ok(sub)
}

/// Reads an assignment: partitions by topic name (user data ignored). An empty payload (a
/// member that never got an assignment) is an empty assignment.
pub fn read_assignment(bytes: &[u8]) -> Result<Vec<(String, Vec<i32>)>, SubscriptionError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.i16()?;
    if version < 0 {
        return Err(SubscriptionError::BadVersion(version));
    }
    r.topic_partitions()
}

/// Encodes a v0 assignment (no user data): what a classic member of a consumer group gets
/// in SyncGroup, and the assignment a downgraded group's members start with.
pub fn encode_assignment(partitions: &[(String, Vec<i32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for (topic, ps) in partitions {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&(ps.len() as i32).to_be_bytes());
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

/// Encodes a v1 subscription with owned partitions (tests and tools).
pub fn encode_subscription_v1(topics: &[&str], owned: &[(&str, Vec<i32>)]) -> Vec<u8> {
    let mut out = encode_subscription_v0(topics);
    out[1] = 1;
    out.extend_from_slice(&(owned.len() as i32).to_be_bytes());
    for (topic, ps) in owned {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&(ps.len() as i32).to_be_bytes());
        for p in ps {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out
}

/// Topics listed in a consumer-protocol subscription. A null (−1) array reads as empty.
pub fn subscribed_topics(metadata: &[u8]) -> Result<Vec<String>, SubscriptionError> {
    let mut r = Reader {
        buf: metadata,
        pos: 0,
    };
    let version = r.i16()?;
    if version < 0 {
        return Err(SubscriptionError::BadVersion(version));
    }
    let count = r.i32()?;
    if count == -1 {
        return Ok(Vec::new());
    }
    // Each topic takes at least its 2-byte length: bound the count before allocating.
    if count < 0 || count as usize > r.remaining() / 2 {
        return Err(SubscriptionError::BadCount(count));
    }
    let mut topics = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = r.i16()?;
        if len < 0 {
            return Err(SubscriptionError::Truncated(r.pos));
        }
        let bytes = r.take(len as usize)?;
        let topic = std::str::from_utf8(bytes).map_err(|_| SubscriptionError::NotUtf8)?;
        topics.push(topic.to_string());
    }
    Ok(topics)
}

/// Encodes a v0 subscription (topics, empty user data). Used by tests and tools.
pub fn encode_subscription_v0(topics: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        out.extend_from_slice(&(t.len() as i16).to_be_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_v0_and_later_versions() {
        let bytes = encode_subscription_v0(&["orders", "payments"]);
        assert_eq!(
            subscribed_topics(&bytes).unwrap(),
            vec!["orders", "payments"]
        );
        // A v3 payload starts with the same layout; trailing fields are ignored.
        let mut v3 = bytes.clone();
        v3[1] = 3;
        v3.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(subscribed_topics(&v3).unwrap(), vec!["orders", "payments"]);
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(subscribed_topics(&[]), Err(SubscriptionError::Truncated(0)));
        assert_eq!(
            subscribed_topics(&[0xff, 0xff]),
            Err(SubscriptionError::BadVersion(-1))
        );
        // Claims 1 billion topics in 4 bytes: refused before allocating.
        let huge = [0, 0, 0x3b, 0x9a, 0xca, 0x00, 0, 1, b'a'];
        assert!(matches!(
            subscribed_topics(&huge),
            Err(SubscriptionError::BadCount(_))
        ));
        // Topic length runs past the end.
        let short = [0, 0, 0, 0, 0, 1, 0, 9, b'a'];
        assert!(matches!(
            subscribed_topics(&short),
            Err(SubscriptionError::Truncated(_))
        ));
        let not_utf8 = [0, 0, 0, 0, 0, 1, 0, 1, 0xff];
        assert_eq!(
            subscribed_topics(&not_utf8),
            Err(SubscriptionError::NotUtf8)
        );
        assert_eq!(
            subscribed_topics(&[0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn reads_owned_partitions_and_assignments() {
        let v1 = encode_subscription_v1(&["a", "b"], &[("a", vec![0, 2])]);
        let sub = read_subscription(&v1).unwrap();
        assert_eq!(sub.topics, vec!["a", "b"]);
        assert_eq!(sub.owned, vec![("a".to_string(), vec![0, 2])]);
        // v0 has no owned partitions.
        let v0 = read_subscription(&encode_subscription_v0(&["a"])).unwrap();
        assert!(v0.owned.is_empty());
        let a = vec![("a".to_string(), vec![1, 3]), ("b".to_string(), vec![])];
        assert_eq!(read_assignment(&encode_assignment(&a)).unwrap(), a);
        assert_eq!(read_assignment(&[]).unwrap(), Vec::new());
        assert!(read_assignment(&[0, 0, 0, 0, 0, 9]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = subscribed_topics(&bytes);
            let _ = read_subscription(&bytes);
            let _ = read_assignment(&bytes);
        }

        #[test]
        fn round_trips(topics in proptest::collection::vec("[a-z]{1,12}", 0..8)) {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            prop_assert_eq!(subscribed_topics(&encode_subscription_v0(&refs)).unwrap(), topics);
        }
    }
}
