//! Decoding stored record batches into `kafka_protocol` records for the console's record
//! browser, with decompression bounded.
//!
//! The codecs are the log engine's (`log::records::inflate`: one bounded decompressor per
//! codec, capped at [`MAX_DECOMPRESSED`] bytes; snappy checks the sizes its blocks declare
//! before allocating), so a producer-supplied compression bomb cannot make the broker
//! allocate without limit. A batch over the cap is an error for that one lookup. Everything
//! that only needs record metadata (produce validation, ListOffsets) walks the records with
//! `log::records` instead of decoding them here.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, target `batch_read`), which
//! does not link the broker: it may import `crate::log`'s batch, records, error and config
//! modules and external crates, nothing else of Runnel (`scripts/fuzz` fails on it).

use anyhow::anyhow;
use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};

use crate::log::records as log_records;
use crate::log::Compression as Codec;

/// The most one batch may inflate to.
pub const MAX_DECOMPRESSED: usize = log_records::MAX_INFLATED;

/// Decodes the first batch of `buf` (advancing it), inflating at most `MAX_DECOMPRESSED`.
pub fn decode_batch(buf: &mut Bytes) -> anyhow::Result<RecordSet> {
    decode_batch_limited(buf, MAX_DECOMPRESSED)
}

fn decode_batch_limited(buf: &mut Bytes, limit: usize) -> anyhow::Result<RecordSet> {
    let inflate = move |data: &mut Bytes, c: Compression| inflate(data, c, limit);
    RecordBatchDecoder::decode_with_custom_compression(buf, Some(inflate))
}

pub(crate) fn inflate(
    data: &mut Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let input = data.split_to(data.len());
    let codec = match compression {
        Compression::None => return Ok(input),
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    };
    log_records::inflate(codec, &input, limit)
        .map(Bytes::from)
        .map_err(|e| anyhow!("{e}"))
}

/// Builders for tests that need real encoded batches (here, the console's decoder, the HTTP API).
#[cfg(test)]
pub(crate) mod testutil {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// A plain CreateTime record; `sequence` follows the offset so the encoder keeps one batch.
    pub(crate) fn record(offset: i64, timestamp: i64, key: Option<Bytes>, value: Bytes) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp,
            key,
            value: Some(value),
            headers: Default::default(),
        }
    }

    /// `records` encoded as magic-2 batches with `compression`.
    pub(crate) fn encode(records: &[Record], compression: Compression) -> BytesMut {
        let mut out = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut out, records, &opts).unwrap_or_else(|e| panic!("{e}"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{encode, record};
    use super::*;

    fn batch(compression: Compression, value: Vec<u8>) -> Bytes {
        encode(&[record(0, 1, None, Bytes::from(value))], compression).freeze()
    }

    #[test]
    fn every_codec_decodes_within_the_cap() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = batch(c, b"hello".to_vec());
            let set = decode_batch(&mut b).unwrap();
            assert_eq!(
                set.records[0].value.as_deref(),
                Some(&b"hello"[..]),
                "{c:?}"
            );
        }
    }

    #[test]
    fn a_batch_inflating_past_the_cap_is_an_error() {
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = batch(c, vec![0u8; 1 << 20]);
            let err = decode_batch_limited(&mut b, 64 << 10).unwrap_err();
            assert!(
                format!("{err:#}").contains("inflates beyond"),
                "{c:?}: {err:#}"
            );
        }
    }

    #[test]
    fn offsets_and_timestamps_past_i64_max_wrap_like_kafka() {
        // Vendored patch: base + delta wraps (Java long arithmetic) instead of overflowing,
        // which panicked under overflow checks (found by the batch_read fuzz target; this
        // release-profile test pins the values, the fuzz build the absence of the panic).
        let recs: Vec<_> = (0..3)
            .map(|i| record(i, i, None, Bytes::from_static(b"v")))
            .collect();
        let mut b = encode(&recs, Compression::None).to_vec();
        b[..8].copy_from_slice(&i64::MAX.to_be_bytes());
        b[27..35].copy_from_slice(&i64::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let set = decode_batch(&mut Bytes::from(b)).unwrap();
        let got: Vec<(i64, i64)> = set
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp))
            .collect();
        let want = [i64::MAX, i64::MIN, i64::MIN + 1];
        assert_eq!(got, want.iter().map(|&v| (v, v)).collect::<Vec<_>>());
    }

    #[test]
    fn a_huge_claimed_record_count_does_not_reserve_memory() {
        // Vendored patch (upstream #156): RecordsCount 2^31-1 over three real records must
        // fail decoding, not reserve 2^31 `Record`s and abort the process.
        let payload = encode(
            &[record(0, 1, None, Bytes::from_static(b"v"))],
            Compression::None,
        );
        let raw = &payload[61..];
        let b = crate::log::testutil::batch_with_payload(raw, i32::MAX, i32::MAX - 1, 0);
        assert!(decode_batch(&mut Bytes::from(b)).is_err());
    }
}
