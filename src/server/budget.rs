//! The broker-wide budget of response bytes in flight: bytes read from segments (or encoded)
//! for replies that have not yet been written to their sockets.
//!
//! A Fetch reserves its share before anything is read from disk ([`ByteBudget::reserve`]),
//! and the connection asks the handler for no more than it was granted. Every encoded reply
//! then carries a [`Grant`] sized to its exact length; the writer drops it once the bytes
//! are in the socket, which returns them to the budget. So the heap held by unsent
//! responses is bounded by `network.max_response_bytes_in_flight`, whatever clients do.
//!
//! Invariants: `used` only counts live grants (a grant returns its bytes exactly once, on
//! drop). `used` may exceed the limit by what [`Grant::resize`] forces in: replies are
//! accounted whole even when they outgrow the reservation (small non-fetch replies, and
//! Kafka's rule that a fetch returns its first batch whole however small the budget). Such
//! overshoot is at most one reply per connection, and every connection stops reading while
//! its own reply is unsent, so it is bounded too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus::IntGauge;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A fetch that cannot get its whole reservation takes a partial one of at least this many
/// bytes rather than waiting (smaller remainders are not worth a response).
pub const MIN_PARTIAL_GRANT: usize = 1024 * 1024;

/// Response bytes in flight, broker-wide.
pub struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
    /// Woken whenever bytes are returned, so waiting fetches re-check.
    released: Notify,
    gauge: IntGauge,
}

impl ByteBudget {
    /// A budget of `limit` bytes whose use is mirrored in `gauge`.
    pub fn new(limit: usize, gauge: IntGauge) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            limit,
            used: AtomicUsize::new(0),
            released: Notify::new(),
            gauge,
        })
    }

    /// Bytes currently held by grants.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Reserves up to `want` bytes. Takes all of `want` if it fits, otherwise whatever is
    /// free once that is at least `min(want, MIN_PARTIAL_GRANT)`; otherwise waits for bytes
    /// to be returned until `deadline`, and then takes whatever is free (possibly nothing):
    /// the caller answers with less data rather than allocating beyond the budget.
    pub async fn reserve(self: &Arc<Self>, want: usize, deadline: Instant) -> Grant {
        let floor = want.min(MIN_PARTIAL_GRANT);
        loop {
            // Register for the wake-up before looking, so a release in between is not lost.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(g) = self.try_reserve(want, floor) {
                return g;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return self.try_reserve(want, 0).unwrap_or_else(|| self.grant(0));
            }
        }
    }

    /// Takes `want` bytes, or everything free if that is at least `floor`; `None` otherwise.
    fn try_reserve(self: &Arc<Self>, want: usize, floor: usize) -> Option<Grant> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let free = self.limit.saturating_sub(used);
            let take = if free >= want {
                want
            } else if free >= floor {
                free
            } else {
                return None;
            };
            match self.used.compare_exchange_weak(
                used,
                used + take,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.gauge.add(take as i64);
                    return Some(Grant {
                        budget: self.clone(),
                        bytes: take,
                    });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Accounts `bytes` unconditionally (a reply that already exists must be counted).
    pub fn grant(self: &Arc<Self>, bytes: usize) -> Grant {
        self.add(bytes);
        Grant {
            budget: self.clone(),
            bytes,
        }
    }

    fn add(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_add(bytes, Ordering::AcqRel);
            self.gauge.add(bytes as i64);
        }
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.gauge.sub(bytes as i64);
            self.released.notify_waiters();
        }
    }
}

/// Bytes held against a [`ByteBudget`]; returned when dropped.
pub struct Grant {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Grant {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds exactly `bytes`: returns the surplus, or forces in the shortfall.
    pub fn resize(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.release(self.bytes - bytes);
        } else {
            self.budget.add(bytes - self.bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grant({} bytes)", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(limit: usize) -> Arc<ByteBudget> {
        ByteBudget::new(limit, IntGauge::new("t", "t").unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn full_partial_and_empty_grants() {
        let b = budget(10 * MIN_PARTIAL_GRANT);
        let soon = Instant::now() + Duration::from_millis(100);
        let a = b.reserve(6 * MIN_PARTIAL_GRANT, soon).await;
        assert_eq!(a.bytes(), 6 * MIN_PARTIAL_GRANT);
        // Only 4 MiB free: a partial grant at once rather than a wait.
        let c = b.reserve(6 * MIN_PARTIAL_GRANT, soon).await;
        assert_eq!(c.bytes(), 4 * MIN_PARTIAL_GRANT);
        assert_eq!(b.used(), b.limit());
        // Nothing free: waits until the deadline, then gets nothing.
        let started = Instant::now();
        let d = b.reserve(MIN_PARTIAL_GRANT, soon).await;
        assert_eq!(d.bytes(), 0);
        assert!(Instant::now() >= started + Duration::from_millis(99));
        drop((a, c, d));
        assert_eq!(b.used(), 0);
        assert_eq!(b.gauge.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_reservation_wakes_when_bytes_return() {
        let b = budget(2 * MIN_PARTIAL_GRANT);
        let held = b.grant(2 * MIN_PARTIAL_GRANT);
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            let far = Instant::now() + Duration::from_secs(3600);
            b2.reserve(MIN_PARTIAL_GRANT, far).await.bytes()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drop(held);
        assert_eq!(waiter.await.unwrap(), MIN_PARTIAL_GRANT);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn resize_returns_surplus_and_forces_shortfall() {
        let b = budget(100);
        let mut g = b.grant(60);
        g.resize(20);
        assert_eq!(b.used(), 20);
        g.resize(150); // a first batch larger than the budget: accounted anyway
        assert_eq!(b.used(), 150);
        assert_eq!(b.gauge.get(), 150);
        drop(g);
        assert_eq!(b.used(), 0);
    }
}
