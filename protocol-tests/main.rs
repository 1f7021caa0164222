//! Wire-level tests: raw bytes over TCP against a broker started in-process on port 0.
//!
//! Frames are written by hand, field by field, the way a client library would, so these
//! tests pin down the exact bytes a client sees — independent of our own codec.

mod harness;
mod wire;

mod acls;
mod admin;
mod all_versions;
mod api_versions;
mod bad_frames;
mod boot_safety;
mod cluster;
mod compaction;
mod configs;
mod connections;
mod consumer_groups;
mod fd_limits;
mod fetch_sessions;
mod fuzz_seeds;
mod metadata;
mod produce_fetch;
mod sasl;
mod tls;
mod transactions;
mod txn_coordinator;
mod validation;
