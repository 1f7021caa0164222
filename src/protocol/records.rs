//! Decoding stored record batches on cold paths (exact timestamp lookups, the console's
//! record browser), with decompression bounded.
//!
//! The produce path never decompresses: batches are stored as the producer compressed them.
//! When a stored batch must be read record by record, a producer-supplied compression bomb
//! must not make the broker allocate without limit, so every codec here inflates through a
//! reader capped at [`MAX_DECOMPRESSED`] bytes (snappy checks the sizes its blocks declare
//! before allocating). A batch over the cap is an error for that one lookup.

use std::io::Read;

use anyhow::{bail, Context};
use bytes::{Buf, Bytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};

/// The most one batch may inflate to. Kafka caps compressed batches at `max.message.bytes`
/// (1 MiB by default); 64 MiB leaves room for any realistic compression ratio.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// The xerial framing header Kafka's Java client writes before snappy blocks.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

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
    match compression {
        Compression::None => Ok(input),
        Compression::Gzip => read_capped(flate2::read::GzDecoder::new(input.reader()), limit),
        Compression::Lz4 => read_capped(
            lz4::Decoder::new(input.reader()).context("lz4 frame header")?,
            limit,
        ),
        Compression::Zstd => read_capped(
            zstd::stream::read::Decoder::new(input.reader()).context("zstd frame header")?,
            limit,
        ),
        Compression::Snappy => snappy(input, limit),
    }
}

fn read_capped(reader: impl Read, limit: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .context("decompressing record batch")?;
    if out.len() > limit {
        bail!("record batch inflates beyond {limit} bytes");
    }
    Ok(out.into())
}

/// Kafka's snappy: xerial framing (magic, then `u32` length + raw snappy block, repeated),
/// or a single raw snappy block from clients that do not frame.
fn snappy(mut input: Bytes, limit: usize) -> anyhow::Result<Bytes> {
    let mut blocks = Vec::new();
    if input.starts_with(XERIAL_MAGIC) {
        input.advance(XERIAL_MAGIC.len());
        while input.has_remaining() {
            if input.remaining() < 4 {
                bail!("truncated snappy block length");
            }
            let len = input.get_u32() as usize;
            if len > input.remaining() {
                bail!("snappy block of {len} bytes exceeds the batch");
            }
            blocks.push(input.split_to(len));
        }
    } else {
        blocks.push(input);
    }
    let mut total = 0usize;
    for b in &blocks {
        total = total.saturating_add(snap::raw::decompress_len(b).context("snappy block header")?);
    }
    if total > limit {
        bail!("record batch inflates beyond {limit} bytes");
    }
    let mut out = vec![0u8; total];
    let mut at = 0;
    let mut decoder = snap::raw::Decoder::new();
    for b in &blocks {
        at += decoder
            .decompress(b, &mut out[at..])
            .context("decompressing snappy block")?;
    }
    out.truncate(at);
    Ok(out.into())
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
}
