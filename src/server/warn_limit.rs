//! Rate-limited warnings for events a client controls (bad frames, rejected connections,
//! timeouts): a flood of bad connections must not become a flood of log lines.
//!
//! [`WarnLimit`] admits at most `max` events per `interval`; the rest are counted, and the
//! next admitted event reports how many were suppressed since the previous one. The lock is
//! a `std::sync::Mutex` held for a few instructions and never across `.await`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `max` warnings per `interval`.
pub struct WarnLimit {
    max: u32,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    window_start: Option<Instant>,
    admitted: u32,
    suppressed: u64,
}

impl WarnLimit {
    /// A limiter admitting `max` events per `interval`.
    pub const fn new(max: u32, interval: Duration) -> WarnLimit {
        WarnLimit {
            max,
            interval,
            state: Mutex::new(State {
                window_start: None,
                admitted: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(suppressed)` when this event may be logged (with the number of events dropped
    /// since the last logged one); `None` when it is to be dropped.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    /// [`admit`](Self::admit) at a given time (tests drive the clock).
    pub fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let expired = s
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.interval);
        if expired {
            s.window_start = Some(now);
            s.admitted = 0;
        }
        if s.admitted < self.max {
            s.admitted += 1;
            Some(std::mem::take(&mut s.suppressed))
        } else {
            s.suppressed += 1;
            None
        }
    }
}

/// Logs a warning through `limit`, adding `suppressed = K` when earlier ones were dropped.
#[macro_export]
macro_rules! warn_limited {
    ($limit:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $limit.admit() {
            if suppressed > 0 {
                tracing::warn!(suppressed, $($arg)+);
            } else {
                tracing::warn!($($arg)+);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_max_per_interval_and_reports_the_suppressed() {
        let l = WarnLimit::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.admit_at(t0), Some(0));
        assert_eq!(l.admit_at(t0), Some(0));
        for _ in 0..5 {
            assert_eq!(l.admit_at(t0 + Duration::from_secs(1)), None);
        }
        // A new window: the first event carries the count of those dropped.
        assert_eq!(l.admit_at(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(l.admit_at(t0 + Duration::from_secs(11)), Some(0));
        assert_eq!(l.admit_at(t0 + Duration::from_secs(12)), None);
    }
}
