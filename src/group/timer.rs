//! Time for the coordinator: a wall-clock-anchored clock that follows `tokio::time`
//! (so `tokio::time::pause()` drives it in tests), and the queue of per-group deadlines
//! that the coordinator's single timer task sleeps on.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds since the Unix epoch, advancing with `tokio::time::Instant`.
///
/// Commit timestamps are persisted and compared after a restart, so the clock is anchored
/// to wall time once, at startup; after that it only moves with tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_wall_ms: i64,
    base: Instant,
}

impl Clock {
    pub fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            base_wall_ms: i64::try_from(wall.as_millis()).unwrap_or(i64::MAX / 2),
            base: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX / 2);
        self.base_wall_ms.saturating_add(elapsed)
    }

    /// The tokio instant at which `now_ms()` reaches `ms`.
    pub fn instant_at(&self, ms: i64) -> Instant {
        let offset = ms.saturating_sub(self.base_wall_ms).max(0);
        // Cap far-future deadlines (a year) so the addition cannot overflow.
        let offset = offset.min(365 * 24 * 3_600_000) as u64;
        self.base + Duration::from_millis(offset)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// One deadline per group: the earliest time its state machine needs a `tick`.
#[derive(Debug, Default)]
pub struct TimerQueue {
    by_deadline: BTreeSet<(i64, String)>,
    by_group: HashMap<String, i64>,
}

impl TimerQueue {
    /// Sets (or clears) a group's deadline. Returns true when it became the earliest.
    pub fn set(&mut self, group_id: &str, deadline: Option<i64>) -> bool {
        if let Some(old) = self.by_group.remove(group_id) {
            self.by_deadline.remove(&(old, group_id.to_string()));
        }
        match deadline {
            Some(d) => {
                self.by_group.insert(group_id.to_string(), d);
                self.by_deadline.insert((d, group_id.to_string()));
                self.first() == Some(d)
            }
            None => false,
        }
    }

    pub fn first(&self) -> Option<i64> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    /// Removes and returns the groups whose deadline is at or before `now_ms`.
    pub fn pop_due(&mut self, now_ms: i64) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((d, _)) = self.by_deadline.first() {
            if *d > now_ms {
                break;
            }
            if let Some((_, g)) = self.by_deadline.pop_first() {
                self.by_group.remove(&g);
                due.push(g);
            }
        }
        due
    }

    pub fn len(&self) -> usize {
        self.by_group.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_group.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_and_replaces() {
        let mut q = TimerQueue::default();
        assert!(q.set("a", Some(10)));
        assert!(!q.set("b", Some(20)));
        assert!(q.set("b", Some(5)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_due(9), vec!["b".to_string()]);
        q.set("a", None);
        assert!(q.is_empty());
        assert!(q.pop_due(100).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn clock_follows_paused_time() {
        let c = Clock::new();
        let t0 = c.now_ms();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(c.now_ms() - t0, 1500);
        assert!(c.instant_at(t0 + 2000) > Instant::now());
    }
}
