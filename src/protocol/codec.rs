//! Response encoding; request decoding lives in `decode.rs` (re-exported here, so
//! `codec::decode_request` keeps working) because the fuzz crate compiles it without the
//! broker.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, ResponseHeader, ResponseKind, ShareFetchResponse,
};
use kafka_protocol::protocol::Encodable;

pub use super::decode::{decode_request, DecodeError, DecodedRequest, RequestHeaderInfo};
use super::splice::{Chunk, SpliceBuf};
use super::versions;
use crate::log::FileSlice;

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

/// Encodes a Fetch response frame as chunks to write in order: the partitions whose `records`
/// hold the [`records_placeholder`](super::splice::records_placeholder) take their batches
/// from `files`, in response order, as file chunks ([`SpliceBuf`]).
pub fn encode_fetch_response(
    api_version: i16,
    correlation_id: i32,
    response: &FetchResponse,
    files: Vec<FileSlice>,
) -> anyhow::Result<Vec<Chunk>> {
    encode_spliced(
        ApiKey::Fetch,
        api_version,
        correlation_id,
        response,
        files,
        api_version >= 12,
    )
}

/// Encodes a ShareFetch response frame like [`encode_fetch_response`] (always a flexible
/// version: compact records).
pub fn encode_share_fetch_response(
    api_version: i16,
    correlation_id: i32,
    response: &ShareFetchResponse,
    files: Vec<FileSlice>,
) -> anyhow::Result<Vec<Chunk>> {
    encode_spliced(
        ApiKey::ShareFetch,
        api_version,
        correlation_id,
        response,
        files,
        true,
    )
}

fn encode_spliced<R: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &R,
    files: Vec<FileSlice>,
    compact: bool,
) -> anyhow::Result<Vec<Chunk>> {
    let mut buf = SpliceBuf::new(files, compact);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api_key.response_header_version(api_version))?;
    response.encode(&mut buf, api_version)?;
    let len = i32::try_from(buf.len())?;
    let mut chunks = vec![Chunk::Bytes(Bytes::copy_from_slice(&len.to_be_bytes()))];
    chunks.extend(buf.into_chunks()?);
    Ok(chunks)
}

/// The v0-format reply to an ApiVersions request newer than we support: error 35 and
/// our ApiVersions range, so the client retries at a version we speak.
pub fn encode_api_versions_too_new(out: &mut BytesMut, correlation_id: i32) {
    let mut response = ApiVersionsResponse::default()
        .with_error_code(crate::kafka_error::KafkaError::UnsupportedVersion.code());
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
    fn fetch_frames_with_file_records_equal_copied_ones() {
        use super::super::splice::records_placeholder;
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::TopicName;
        use std::io::Write;
        let records: Vec<u8> = (0..20_000).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&records).unwrap();
        let slice = FileSlice::new(std::sync::Arc::new(file), 0, records.len(), 0, 1);
        let with = |r: Bytes| {
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName("t".into()))
                .with_partitions(vec![
                    PartitionData::default().with_records(Some(r)),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_records(Some(Bytes::from_static(b"small"))),
                ])])
        };
        for v in [4i16, 11, 12, 17] {
            let mut copied = BytesMut::new();
            let kind = ResponseKind::Fetch(with(Bytes::from(records.clone())));
            encode_response(&mut copied, ApiKey::Fetch, v, 9, &kind).unwrap();
            let chunks =
                encode_fetch_response(v, 9, &with(records_placeholder()), vec![slice.clone()])
                    .unwrap();
            let mut flat = Vec::new();
            for c in &chunks {
                match c {
                    Chunk::Bytes(b) => flat.extend_from_slice(b),
                    Chunk::File(f) => flat.extend_from_slice(&f.to_bytes().unwrap()),
                }
            }
            assert_eq!(flat, copied.to_vec(), "v{v}");
        }
    }
}
