//! Minimal reader of the "consumer" protocol subscription (ConsumerProtocolSubscription).
//!
//! Only the topic list is needed: OffsetDelete refuses to delete offsets of topics that a
//! live consumer group subscribes to, and offset expiry spares them.
//!
//! ```text
//! offset  field
//! 0       Version  int16   (every version starts with the v0 layout below)
//! 2       Topics   int32 count, then count × (int16 length, UTF-8 bytes)
//! ...     UserData, OwnedPartitions (v1+), GenerationId (v2+), RackId (v3+): ignored
//! ```
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

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = subscribed_topics(&bytes);
        }

        #[test]
        fn round_trips(topics in proptest::collection::vec("[a-z]{1,12}", 0..8)) {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            prop_assert_eq!(subscribed_topics(&encode_subscription_v0(&refs)).unwrap(), topics);
        }
    }
}
