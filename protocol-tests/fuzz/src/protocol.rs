//! `runnel::protocol`, reduced to the decoding side (paths relative to this directory).

#[path = "../../../src/protocol/decode.rs"]
pub mod decode;

#[allow(dead_code)]
#[path = "../../../src/protocol/records.rs"]
pub mod records;

#[path = "../../../src/protocol/versions.rs"]
pub mod versions;
