//! Accounting of reply bytes held in memory: encoded replies not yet written to their sockets,
//! mirrored in the `runnel_response_bytes_in_flight` gauge.
//!
//! Every reply carries a [`Held`] sized to the bytes it keeps in memory; the writer drops it
//! once they are in the socket (or the connection is gone), which returns them. Nothing waits
//! on this account: the large replies, Fetch record batches, are not in memory (they stay in
//! their segment files and go out with `sendfile`), and a connection stops reading requests
//! while its replies are unsent (`network.max_unsent_bytes_per_connection`), so what a client
//! can make the broker hold is bounded per connection by that setting plus one reply.
//!
//! Invariant: the gauge counts live `Held`s only; each returns its bytes exactly once, on drop.

use std::sync::Arc;

use prometheus::IntGauge;

/// Reply bytes held in memory, broker-wide.
pub struct ReplyMemory {
    gauge: IntGauge,
}

impl ReplyMemory {
    /// An account whose total is mirrored in `gauge`.
    pub fn new(gauge: IntGauge) -> Arc<ReplyMemory> {
        Arc::new(ReplyMemory { gauge })
    }

    /// Accounts `bytes` held by a reply until the returned [`Held`] is dropped.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Held {
        self.gauge.add(bytes as i64);
        Held {
            account: self.clone(),
            bytes,
        }
    }
}

/// Bytes held against a [`ReplyMemory`]; returned when dropped.
pub struct Held {
    account: Arc<ReplyMemory>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.gauge.sub(self.bytes as i64);
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} bytes)", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_bytes_return_exactly_once() {
        let m = ReplyMemory::new(IntGauge::new("t", "t").unwrap());
        let a = m.hold(60);
        let b = m.hold(0);
        let c = m.hold(40);
        assert_eq!(m.gauge.get(), 100);
        drop(a);
        assert_eq!(m.gauge.get(), 40);
        drop((b, c));
        assert_eq!(m.gauge.get(), 0);
    }
}
