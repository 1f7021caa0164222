//! Request decoding: the request header, then the body through `kafka-protocol`'s decoders.
//!
//! A frame (the bytes after the 4-byte length) starts with the request header:
//!
//! | offset | field          | type                                   |
//! |--------|----------------|----------------------------------------|
//! | 0      | api_key        | int16                                  |
//! | 2      | api_version    | int16                                  |
//! | 4      | correlation_id | int32                                  |
//! | 8      | client_id      | nullable string (header v1+)           |
//! | ...    | tagged fields  | header v2 (flexible versions) only     |
//!
//! The fixed 8 bytes are read by hand first so that an ApiVersions request newer than we
//! understand is answered (PROTOCOL.md §1: a v0-format UNSUPPORTED_VERSION reply) without
//! handing it to the `kafka-protocol` decoder, which cannot parse unknown versions.
//!
//! Invariant: any frame decodes to a request or a [`DecodeError`]; nothing here panics or
//! allocates from an untrusted length (the vendored crate bounds its array reservations).
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, target `request_decode`),
//! which does not link the broker: this file may import `super::versions` and external crates
//! only. `scripts/fuzz` builds that crate in CI, so any other Runnel import fails there.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::versions;

/// What every request carries, decoded before the body.
#[derive(Debug, Clone)]
pub struct RequestHeaderInfo {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: String,
}

/// The outcome of decoding one frame.
#[derive(Debug)]
pub enum DecodedRequest {
    /// A request inside the advertised ranges (boxed: requests are large, the other variant
    /// is empty).
    Request(Box<RequestKind>),
    /// ApiVersions at a version newer than ours: answer with the v0-format error reply.
    ApiVersionsTooNew,
}

/// Why a frame could not be decoded. All of these close the connection, as Kafka does,
/// because the stream can no longer be trusted to be aligned or understood.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than a request header")]
    Truncated(usize),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{key:?} v{version} is not supported")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("malformed {key:?} v{version} request: {message}")]
    Malformed {
        key: ApiKey,
        version: i16,
        message: String,
    },
}

/// Decodes a frame into its header and request.
pub fn decode_request(
    mut frame: Bytes,
) -> Result<(RequestHeaderInfo, DecodedRequest), DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Truncated(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApi(raw_key))?;

    if key == ApiKey::ApiVersions {
        if let Some(r) = versions::range(key) {
            if version > r.max {
                let info = RequestHeaderInfo {
                    api_key: key,
                    api_version: version,
                    correlation_id,
                    client_id: peek_client_id(&frame).unwrap_or_default(),
                };
                return Ok((info, DecodedRequest::ApiVersionsTooNew));
            }
        }
    }
    if !versions::accepts(key, version) {
        return Err(DecodeError::UnsupportedVersion { key, version });
    }
    let malformed = |e: anyhow::Error| DecodeError::Malformed {
        key,
        version,
        message: e.to_string(),
    };
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version))
        .map_err(malformed)?;
    let request = RequestKind::decode(key, &mut frame, version).map_err(malformed)?;
    let info = RequestHeaderInfo {
        api_key: key,
        api_version: version,
        correlation_id,
        client_id: header.client_id.map(|s| s.to_string()).unwrap_or_default(),
    };
    Ok((info, DecodedRequest::Request(Box::new(request))))
}

/// The client id of a header v1 frame, read without trusting the rest of the frame.
fn peek_client_id(frame: &[u8]) -> Option<String> {
    let mut rest = frame.get(8..)?;
    if rest.len() < 2 {
        return None;
    }
    let len = rest.get_i16();
    if len < 0 {
        return None;
    }
    let bytes = rest.get(..len as usize)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::Encodable;

    fn frame_for(key: ApiKey, version: i16, corr: i32, body: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(key as i16);
        b.put_i16(version);
        b.put_i32(corr);
        b.put_i16(4);
        b.put_slice(b"test");
        if key.request_header_version(version.min(4)) >= 2 {
            b.put_u8(0);
        }
        b.put_slice(body);
        b.freeze()
    }

    #[test]
    fn too_new_api_versions_is_recognised_without_decoding() {
        let f = frame_for(ApiKey::ApiVersions, 99, 7, &[1, 2, 3]);
        let (info, req) = decode_request(f).unwrap();
        assert_eq!(info.correlation_id, 7);
        assert_eq!(info.api_version, 99);
        assert_eq!(info.client_id, "test");
        assert!(matches!(req, DecodedRequest::ApiVersionsTooNew));
    }

    #[test]
    fn api_versions_v3_round_trip() {
        let mut body = BytesMut::new();
        ApiVersionsRequest::default()
            .with_client_software_name("kcat".into())
            .with_client_software_version("1.7.1".into())
            .encode(&mut body, 3)
            .unwrap();
        let f = frame_for(ApiKey::ApiVersions, 3, 1, &body);
        let (info, req) = decode_request(f).unwrap();
        assert_eq!(info.api_version, 3);
        match req {
            DecodedRequest::Request(r) => match *r {
                RequestKind::ApiVersions(r) => {
                    assert_eq!(r.client_software_name.as_str(), "kcat")
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 1])),
            Err(DecodeError::Truncated(2))
        ));
        let unknown = frame_for(ApiKey::Produce, 3, 1, &[]);
        let mut raw = unknown.to_vec();
        raw[0] = 0x7f;
        assert!(matches!(
            decode_request(Bytes::from(raw)),
            Err(DecodeError::UnknownApi(_))
        ));
        assert!(matches!(
            decode_request(frame_for(ApiKey::Produce, 2, 1, &[])),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            decode_request(frame_for(ApiKey::Metadata, 9, 1, &[0xff])),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn hostile_array_length_does_not_allocate() {
        // Metadata v1: topics array claiming i32::MAX entries in a 4-byte body.
        let f = frame_for(ApiKey::Metadata, 1, 1, &[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decode_request(f),
            Err(DecodeError::Malformed { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_random_frames_never_panics(
            key in 0i16..80,
            version in -1i16..20,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let mut b = BytesMut::new();
            b.put_i16(key);
            b.put_i16(version);
            b.put_i32(1);
            b.put_slice(&body);
            let _ = decode_request(b.freeze());
        }
    }
}
