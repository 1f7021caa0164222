//! Share groups' partitions (KIP-932), on the partition leader: the delivery state of each
//! (share group, topic-partition), the share sessions, and their durable records.
//!
//! - [`partition`] — one share-partition's pure state machine (SPSO/SPEO, in-flight batches,
//!   record states, acquisition locks, delivery counts), `now_ms` passed in
//! - [`session`]   — share sessions: epochs, partitions, the connection each belongs to
//! - [`persist`]   — the durable record of a share-partition in the store (byte table)
//! - [`persister`] — where the leader reads and writes that state: the trait, and the single
//!   node's store
//! - [`remote`]    — cluster mode's persister: the share group's coordinator, local or over
//!   Read/WriteShareGroupState
//! - [`manager`]   — the workflows: acquire from the log, acknowledge durably, release on
//!   session end, disconnect and lock expiry; what handlers call
//!
//! Membership and assignment (ShareGroupHeartbeat) live in the group coordinator; this side
//! needs none of it: a ShareFetch acquires for whichever member asks, as in Kafka.

pub mod manager;
pub mod partition;
pub mod persist;
pub mod persister;
pub mod remote;
pub mod session;

pub use manager::{GroupSettings, ShareKey, ShareManager};
