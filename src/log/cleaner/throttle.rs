//! The cleaner's I/O throttle (Kafka's `log.cleaner.io.max.bytes.per.second`), shared by all
//! cleaner threads: each charges the bytes it read and sleeps while the rate since the
//! window started exceeds the limit. Windows restart every second so a long idle period does
//! not bank a burst.
//!
//! Lock: a `std::sync::Mutex` held only to update the window, never across the sleep.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::log::lock;

/// Length of one accounting window.
const WINDOW: Duration = Duration::from_secs(1);

/// A byte-rate limit shared by threads.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: u64,
    window: Mutex<(Instant, u64)>,
}

impl Throttle {
    /// A throttle at `bytes_per_sec` (0 is treated as 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        Throttle {
            bytes_per_sec: bytes_per_sec.max(1),
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Charges `bytes` and blocks until the rate is back under the limit.
    pub fn acquire(&self, bytes: u64) {
        let sleep = {
            let mut w = lock(&self.window);
            let now = Instant::now();
            if now.duration_since(w.0) >= WINDOW {
                *w = (now, 0);
            }
            w.1 += bytes;
            let due = Duration::from_secs_f64(w.1 as f64 / self.bytes_per_sec as f64);
            due.saturating_sub(now.duration_since(w.0))
        };
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate() {
        let t = Throttle::new(1_000_000);
        let start = Instant::now();
        for _ in 0..20 {
            t.acquire(10_000); // 200 kB at 1 MB/s: about 0.2 s
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
    }
}
