//! HTTP connection slots, so that idle connections cannot lock out `/healthz` and `/readyz`.
//!
//! [`MAX_CONNECTIONS`] general slots. A connection is *pending* until its request has been
//! read; when every slot is taken and a new connection arrives, the oldest pending
//! connection is closed to make room (a client that opens connections and sends nothing
//! cannot keep a probe out). When every slot is busy with a request being served, up to
//! [`HEALTH_RESERVE`] further connections are admitted that answer only `/healthz` and
//! `/readyz`. Beyond that a new connection is closed at once.
//!
//! An evicted connection gives up its slot when its task sees the cancellation, a moment
//! after the new one took it, so at most `2 × MAX_CONNECTIONS + HEALTH_RESERVE` sockets
//! are open. The lock is a `std::sync::Mutex` held for a few instructions, never across
//! `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// General HTTP connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Extra connections, admitted only when every general slot is busy, that answer health
/// probes only.
pub const HEALTH_RESERVE: usize = 8;

/// The slot table.
#[derive(Default)]
pub struct Slots {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    general: usize,
    reserve: usize,
    next_id: u64,
    /// Connections still reading their request, oldest first.
    pending: VecDeque<(u64, CancellationToken)>,
}

/// What a new connection got.
pub enum Admission {
    /// A slot; `evicted` tells whether an older pending connection was closed for it.
    Admitted { slot: Slot, evicted: bool },
    /// Nothing free: close the connection.
    Refused,
}

/// One admitted connection; frees its slot on drop.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// Only `/healthz` and `/readyz` are answered on a reserve slot.
    pub health_only: bool,
    /// Cancelled when the connection is evicted while still pending.
    pub evict: CancellationToken,
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Admits a new connection (see the module doc for the order of preference).
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut s = self.lock();
        let mut evicted = false;
        let health_only = if s.general < MAX_CONNECTIONS {
            false
        } else if let Some((_, token)) = s.pending.pop_front() {
            token.cancel();
            evicted = true;
            false
        } else if s.reserve < HEALTH_RESERVE {
            true
        } else {
            return Admission::Refused;
        };
        if health_only {
            s.reserve += 1;
        } else {
            s.general += 1;
        }
        s.next_id += 1;
        let id = s.next_id;
        let evict = CancellationToken::new();
        s.pending.push_back((id, evict.clone()));
        Admission::Admitted {
            slot: Slot {
                slots: self.clone(),
                id,
                health_only,
                evict,
            },
            evicted,
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let s = self.lock();
        (s.general, s.reserve, s.pending.len())
    }
}

impl Slot {
    /// The request has been read: the connection can no longer be evicted.
    pub fn request_read(&self) {
        let mut s = self.slots.lock();
        s.pending.retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.slots.lock();
        s.pending.retain(|(id, _)| *id != self.id);
        if self.health_only {
            s.reserve = s.reserve.saturating_sub(1);
        } else {
            s.general = s.general.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(s: &Arc<Slots>) -> (Slot, bool) {
        match s.admit() {
            Admission::Admitted { slot, evicted } => (slot, evicted),
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn oldest_pending_is_evicted_then_reserve_then_refusal() {
        let s = Arc::new(Slots::default());
        let mut idle: Vec<Slot> = (0..MAX_CONNECTIONS).map(|_| admit(&s).0).collect();
        assert_eq!(s.counts(), (MAX_CONNECTIONS, 0, MAX_CONNECTIONS));
        // Full of pending connections: the oldest is evicted for the newcomer.
        let (probe, evicted) = admit(&s);
        assert!(evicted && !probe.health_only);
        assert!(idle[0].evict.is_cancelled());
        assert!(!idle[1].evict.is_cancelled());
        idle.remove(0); // its task ends
        assert_eq!(s.counts(), (MAX_CONNECTIONS, 0, MAX_CONNECTIONS));
        // Every slot busy serving a request: reserve slots, health only.
        for c in &idle {
            c.request_read();
        }
        probe.request_read();
        let reserve: Vec<Slot> = (0..HEALTH_RESERVE)
            .map(|_| {
                let (slot, evicted) = admit(&s);
                assert!(slot.health_only && !evicted);
                slot.request_read();
                slot
            })
            .collect();
        assert!(matches!(s.admit(), Admission::Refused));
        drop(reserve);
        drop(idle);
        drop(probe);
        assert_eq!(s.counts(), (0, 0, 0));
    }
}
