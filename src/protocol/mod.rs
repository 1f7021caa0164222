//! Kafka wire protocol glue, no I/O: frame header parsing, the advertised version table,
//! request decoding (`decode`) and response encoding (`codec`) on top of the `kafka-protocol`
//! crate. `decode` and `versions` are also compiled standalone by the fuzz crate
//! (`protocol-tests/fuzz`), so they import no other Runnel module.
//!
//! Invariant: every request that reaches a handler has an API key and version inside the
//! advertised range of [`versions`]; anything else is answered or rejected here.

pub mod codec;
pub mod decode;
pub mod recompress;
pub mod records;
pub mod splice;
pub mod versions;

pub use codec::{
    decode_request, encode_fetch_response, encode_response, DecodeError, DecodedRequest,
    RequestHeaderInfo,
};
