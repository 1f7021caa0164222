//! The Runnel modules the fuzz targets exercise, compiled from the broker's own source files
//! (`#[path]`), without the rest of the broker and without RocksDB (see Cargo.toml for why).
//!
//! The tree mirrors the broker's, so the files' `super::` and `crate::` paths resolve
//! unchanged:
//!
//! ```text
//! protocol::decode     request header + kafka-protocol body decoding   (target request_decode)
//! protocol::versions   the advertised version table decode checks
//! protocol::records    the console's batch decoder (kafka-protocol)    (target batch_read)
//! log::batch           batch header, produce validation                (target batch_validate)
//! log::records         the record walk and bounded decompression       (both batch targets)
//! log::error, config   LogError, LogConfig
//! kafka_error          the error-code table LogError maps onto
//! ```
//!
//! Items the targets never call (append-time patching, I/O error helpers) are compiled but
//! unused here, hence the `dead_code` allowances; the broker uses them.

pub mod protocol;

#[allow(dead_code)]
#[path = "../../../src/kafka_error.rs"]
pub mod kafka_error;

pub mod log;
