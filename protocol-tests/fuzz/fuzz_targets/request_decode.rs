//! Fuzz target: one request frame (the bytes after the 4-byte length prefix) through
//! `protocol::decode::decode_request`, exactly as the connection task hands it over.
//!
//! Must hold for every input: no panic, no abort, no allocation beyond the rss/malloc limits
//! `scripts/fuzz` sets (array lengths come from the wire); a request that decodes is inside
//! the advertised version table, and only ApiVersions may be answered as "too new".

#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use runnel_fuzz::protocol::decode::{decode_request, DecodedRequest};
use runnel_fuzz::protocol::versions;

fuzz_target!(|frame: &[u8]| {
    let Ok((info, request)) = decode_request(Bytes::copy_from_slice(frame)) else {
        return;
    };
    match request {
        DecodedRequest::Request(_) => assert!(
            versions::accepts(info.api_key, info.api_version),
            "{:?} v{} decoded outside the version table",
            info.api_key,
            info.api_version
        ),
        DecodedRequest::ApiVersionsTooNew => {
            assert_eq!(info.api_key, ApiKey::ApiVersions);
            let max = versions::range(info.api_key).map(|r| r.max);
            assert!(
                max.is_some_and(|m| info.api_version > m),
                "{:?} v{} answered as too new",
                info.api_key,
                info.api_version
            );
        }
    }
});
