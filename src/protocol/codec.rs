//! Response encoding; request decoding lives in `decode.rs` (re-exported here, so
//! `codec::decode_request` keeps working) because the fuzz crate compiles it without the
//! broker.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

pub use super::decode::{decode_request, DecodeError, DecodedRequest, RequestHeaderInfo};
use super::splice::SpliceBuf;
use super::versions;

/// Kafka's UNSUPPORTED_VERSION error code.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// Encodes a response frame (length prefix, header, body) into `out`.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> anyhow::Result<()> {
    let start = out.len();
    out.put_i32(0);
    // ApiVersions always answers with header v0, even for flexible versions (KIP-511).
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let encoded = header
        .encode(out, header_version)
        .and_then(|_| response.encode(out, api_version));
    if let Err(e) = encoded {
        out.truncate(start);
        return Err(e);
    }
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Encodes a response frame as chunks to write in order. Fetch responses splice the record
/// batches read from segments by reference ([`SpliceBuf`]) instead of copying them into the
/// encode buffer; every other response is one chunk.
pub fn encode_response_chunks(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> anyhow::Result<Vec<Bytes>> {
    let ResponseKind::Fetch(fetch) = response else {
        let mut out = BytesMut::new();
        encode_response(&mut out, api_key, api_version, correlation_id, response)?;
        return Ok(vec![out.freeze()]);
    };
    let fields = fetch
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|p| p.records.clone())
        .collect();
    let mut buf = SpliceBuf::new(fields);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api_key.response_header_version(api_version))?;
    fetch.encode(&mut buf, api_version)?;
    let len = i32::try_from(buf.len())?;
    let mut chunks = vec![Bytes::copy_from_slice(&len.to_be_bytes())];
    chunks.extend(buf.into_chunks());
    Ok(chunks)
}

/// The v0-format reply to an ApiVersions request newer than we support: error 35 and
/// our ApiVersions range, so the client retries at a version we speak.
pub fn encode_api_versions_too_new(out: &mut BytesMut, correlation_id: i32) {
    let mut response = ApiVersionsResponse::default().with_error_code(UNSUPPORTED_VERSION);
    if let Some(r) = versions::range(ApiKey::ApiVersions) {
        response.api_keys.push(
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(r.min)
                .with_max_version(r.max),
        );
    }
    let kind = ResponseKind::ApiVersions(response);
    // v0 of ApiVersionsResponse always encodes: error code and a plain array.
    if encode_response(out, ApiKey::ApiVersions, 0, correlation_id, &kind).is_err() {
        tracing::error!("failed to encode the ApiVersions v0 error reply");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_new_api_versions_reply_is_v0_format() {
        let mut out = BytesMut::new();
        encode_api_versions_too_new(&mut out, 7);
        // length, correlation id, error 35, array of one entry (key 18, 0, 4)
        assert_eq!(
            &out[..],
            &[0, 0, 0, 16, 0, 0, 0, 7, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4][..]
        );
    }

    #[test]
    fn spliced_fetch_frames_equal_copied_ones() {
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::{FetchResponse, TopicName};
        let records = Bytes::from(vec![3u8; 20_000]);
        let resp = ResponseKind::Fetch(FetchResponse::default().with_responses(
            vec![FetchableTopicResponse::default()
                .with_topic(TopicName("t".into()))
                .with_partitions(vec![
                    PartitionData::default().with_records(Some(records.clone())),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_records(Some(Bytes::from_static(b"small"))),
                ])],
        ));
        for v in [4i16, 11, 12] {
            let mut copied = BytesMut::new();
            encode_response(&mut copied, ApiKey::Fetch, v, 9, &resp).unwrap();
            let chunks = encode_response_chunks(ApiKey::Fetch, v, 9, &resp).unwrap();
            assert!(
                chunks.iter().any(|c| c.as_ptr() == records.as_ptr()),
                "v{v} spliced"
            );
            let flat: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(flat, copied.to_vec(), "v{v}");
        }
    }
}
