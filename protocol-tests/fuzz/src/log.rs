//! `runnel::log`, reduced to batch parsing and validation (paths relative to this directory).
//! Re-exports what `protocol::records` imports through `crate::log`, as the broker's
//! `log/mod.rs` does.

#[allow(dead_code)]
#[path = "../../../src/log/batch.rs"]
pub mod batch;

#[allow(dead_code)]
#[path = "../../../src/log/config.rs"]
pub mod config;

#[allow(dead_code)]
#[path = "../../../src/log/error.rs"]
pub mod error;

#[path = "../../../src/log/records.rs"]
pub mod records;

pub use batch::{
    validate_produce_batch, validate_produce_batch_inline, BatchHeader, Compression,
    InlineValidation,
};
pub use config::{CleanupPolicy, LogConfig};
pub use error::LogError;
