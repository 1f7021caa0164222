//! Test helpers: a builder for valid magic-2 record batches with a correct CRC-32C, so that
//! tests exercise the same bytes a real client would send. Not compiled outside tests.

use std::io::Write;

use super::batch::{put_record, BatchHeader, Compression};

/// One record for [`BatchBuilder::recs`].
#[derive(Clone, Debug)]
pub(crate) struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Rec {
    pub(crate) fn kv(key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        Rec {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        }
    }
}

/// Builds one uncompressed-framing magic-2 batch (the codec bits are only set in the
/// attributes; the records are never really compressed).
#[derive(Clone, Debug)]
pub(crate) struct BatchBuilder {
    recs: Vec<Rec>,
    timestamp: i64,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    codec: Compression,
}

impl BatchBuilder {
    pub(crate) fn new() -> Self {
        BatchBuilder {
            recs: vec![Rec::kv(Some(b"key"), Some(b"value"))],
            timestamp: 1_000,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            codec: Compression::None,
        }
    }

    /// `n` records with keys `k<i>` and 5-byte values.
    pub(crate) fn records(mut self, n: usize) -> Self {
        self.recs = (0..n)
            .map(|i| Rec {
                key: Some(format!("k{i}").into_bytes()),
                value: Some(b"value".to_vec()),
            })
            .collect();
        self
    }

    /// One record with a value of `size` bytes.
    pub(crate) fn value_size(mut self, size: usize) -> Self {
        self.recs = vec![Rec {
            key: Some(b"k".to_vec()),
            value: Some(vec![b'x'; size]),
        }];
        self
    }

    pub(crate) fn recs(mut self, recs: Vec<Rec>) -> Self {
        self.recs = recs;
        self
    }

    /// Base timestamp; record `i` gets `timestamp + i`.
    pub(crate) fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = ts;
        self
    }

    pub(crate) fn attributes(mut self, attrs: i16) -> Self {
        self.attributes = attrs;
        self
    }

    /// Really compresses the records with `c` (and sets the codec bits).
    pub(crate) fn compress(mut self, c: Compression) -> Self {
        self.codec = c;
        self
    }

    pub(crate) fn producer(mut self, id: i64, epoch: i16, seq: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = seq;
        self
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, r) in self.recs.iter().enumerate() {
            put_record(
                &mut records,
                i as i32,
                i as i64,
                r.key.as_deref(),
                r.value.as_deref(),
            );
        }
        let n = self.recs.len() as i32;
        let codec_bits = match self.codec {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
            Compression::Unknown(c) => i16::from(c),
        };
        let records = compress(self.codec, &records);
        BatchHeader {
            attributes: self.attributes | codec_bits,
            last_offset_delta: n - 1,
            base_timestamp: self.timestamp,
            max_timestamp: self.timestamp + i64::from(n.max(1)) - 1,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: n,
            ..plain_header()
        }
        .assemble(&records)
    }
}

/// `raw` compressed the way Kafka clients do (snappy with the Java client's xerial framing).
pub(crate) fn compress(c: Compression, raw: &[u8]) -> Vec<u8> {
    match c {
        Compression::None | Compression::Unknown(_) => raw.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).unwrap_or_else(|e| panic!("{e}"));
            e.finish().unwrap_or_else(|e| panic!("{e}"))
        }
        Compression::Snappy => {
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            for chunk in raw.chunks(32 << 10) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .unwrap_or_else(|e| panic!("{e}"));
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .build(Vec::new())
                .unwrap_or_else(|e| panic!("{e}"));
            e.write_all(raw).unwrap_or_else(|e| panic!("{e}"));
            let (out, r) = e.finish();
            r.unwrap_or_else(|e| panic!("{e}"));
            out
        }
        Compression::Zstd => zstd::encode_all(raw, 3).unwrap_or_else(|e| panic!("{e}")),
    }
}

/// One batch around a hand-made `payload` (already compressed if `attributes` says so), with
/// the given RecordsCount and LastOffsetDelta and a correct CRC.
pub(crate) fn batch_with_payload(
    payload: &[u8],
    count: i32,
    last_offset_delta: i32,
    attributes: i16,
) -> Vec<u8> {
    BatchHeader {
        attributes,
        last_offset_delta,
        records_count: count,
        ..plain_header()
    }
    .assemble(payload)
}

/// A header with no producer, timestamps 1000, leader epoch -1.
fn plain_header() -> BatchHeader {
    BatchHeader::unstamped(0, 1_000)
}

/// The encoded records of `recs` without a batch around them (offset and timestamp deltas
/// equal to the index), for tests that damage or compress them by hand.
pub(crate) fn raw_records(recs: &[Rec]) -> Vec<u8> {
    let b = BatchBuilder::new().recs(recs.to_vec()).build();
    b[61..].to_vec()
}
