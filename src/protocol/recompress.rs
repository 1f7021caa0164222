//! Broker-side recompression: when a topic's `compression.type` names a codec (Kafka's
//! `LogValidator`), a produced batch in another codec is decompressed and recompressed
//! before it is appended. `producer` never reaches this module (the produce path checks the
//! topic's setting first), so the verbatim fast path costs one comparison.
//!
//! The records are re-framed, never decoded into `kafka-protocol`'s `Record` (whose header map
//! would merge duplicate header keys): each record's bytes — attributes, timestamp and offset
//! deltas, key, value, headers — are carried over exactly, so offsets, timestamps and
//! headers are preserved. The 61-byte header is kept too (base timestamp, max timestamp,
//! producer id / epoch / base sequence, record count); only the codec bits of Attributes,
//! Length and the CRC change. Decompression is capped at [`MAX_DECOMPRESSED`] (a hostile
//! batch cannot make the broker allocate without limit), and the decompressed records must
//! frame exactly `RecordsCount` records with no bytes left over.

use bytes::Bytes;
use kafka_protocol::records::Compression as WireCompression;

use super::records::{inflate, MAX_DECOMPRESSED};
use crate::log::batch::{
    compute_crc, ATTRIBUTES_OFFSET, ATTR_COMPRESSION_MASK, CRC_OFFSET, HEADER_SIZE, LENGTH_OFFSET,
    LOG_OVERHEAD,
};
use crate::log::compress::compress;
use crate::log::{BatchHeader, Compression, LogError, TopicCompression};

/// The attribute codec id of a target, None for `Producer`.
fn target_codec(target: TopicCompression) -> Option<Compression> {
    Some(match target {
        TopicCompression::Producer => return None,
        TopicCompression::Uncompressed => Compression::None,
        TopicCompression::Gzip(_) => Compression::Gzip,
        TopicCompression::Snappy => Compression::Snappy,
        TopicCompression::Lz4(_) => Compression::Lz4,
        TopicCompression::Zstd(_) => Compression::Zstd,
    })
}

fn codec_id(c: Compression) -> i16 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
        Compression::Unknown(n) => i16::from(n),
    }
}

fn wire(c: Compression) -> Result<WireCompression, LogError> {
    Ok(match c {
        Compression::None => WireCompression::None,
        Compression::Gzip => WireCompression::Gzip,
        Compression::Snappy => WireCompression::Snappy,
        Compression::Lz4 => WireCompression::Lz4,
        Compression::Zstd => WireCompression::Zstd,
        Compression::Unknown(n) => {
            return Err(LogError::CorruptMessage(format!(
                "unknown compression codec {n}"
            )))
        }
    })
}

/// Reads a zigzag varint at `*pos` (at most 10 bytes).
fn varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in 0..10 {
        let b = *buf.get(*pos)?;
        *pos += 1;
        raw |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

/// Checks that `records` holds exactly `count` length-framed records.
fn check_framing(records: &[u8], count: i32) -> Result<(), LogError> {
    let mut pos = 0usize;
    for i in 0..count {
        let len = varint(records, &mut pos)
            .ok_or_else(|| LogError::CorruptMessage(format!("record {i}: truncated length")))?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|e| *e <= records.len())
            .ok_or_else(|| {
                LogError::CorruptMessage(format!("record {i}: length {len} exceeds the batch"))
            })?;
        pos = end;
    }
    if pos != records.len() {
        return Err(LogError::InvalidRecord(format!(
            "Found {} more bytes in the record batch after {count} records",
            records.len() - pos
        )));
    }
    Ok(())
}

/// The batch recompressed for the topic's codec, or None when it already has that codec (or
/// the topic keeps the producer's). `batch` passed produce validation (one whole batch, CRC
/// checked, known codec).
pub fn recompress(batch: &[u8], target: TopicCompression) -> Result<Option<Vec<u8>>, LogError> {
    let Some(want) = target_codec(target) else {
        return Ok(None);
    };
    let h = BatchHeader::parse(batch)?;
    if h.compression() == want {
        return Ok(None);
    }
    let body = batch.get(HEADER_SIZE..h.batch_size()).ok_or_else(|| {
        LogError::InvalidRecord("record batch shorter than its header says".into())
    })?;
    let mut data = Bytes::copy_from_slice(body);
    let raw = inflate(&mut data, wire(h.compression())?, MAX_DECOMPRESSED)
        .map_err(|e| LogError::CorruptMessage(format!("{e:#}")))?;
    check_framing(&raw, h.records_count)?;
    let records = compress(&raw, target)
        .map_err(|e| LogError::CorruptMessage(format!("recompressing the batch: {e}")))?;
    let size = HEADER_SIZE + records.len();
    let length = i32::try_from(size - LOG_OVERHEAD).map_err(|_| {
        LogError::InvalidRecord(format!("recompressed batch of {size} bytes is too large"))
    })?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&batch[..HEADER_SIZE]);
    out.extend_from_slice(&records);
    out[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    let attrs = (h.attributes & !ATTR_COMPRESSION_MASK) | codec_id(want);
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    let crc = compute_crc(&out);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                zigzag(out, b.len() as i64);
                out.extend_from_slice(b);
            }
            None => zigzag(out, -1),
        }
    }

    /// An uncompressed batch of 50 records with duplicate header keys, null keys and null
    /// header values, and producer fields set — built byte by byte.
    fn plain() -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..50i64 {
            let mut body = vec![0u8];
            zigzag(&mut body, i * 10); // timestamp delta
            zigzag(&mut body, i); // offset delta
            let key = format!("k{i}");
            bytes_field(&mut body, (i % 3 != 0).then_some(key.as_bytes()));
            let value = format!("value-{i}-{}", "x".repeat(i as usize));
            bytes_field(&mut body, Some(value.as_bytes()));
            zigzag(&mut body, 3);
            for (k, v) in [
                ("dup", Some(&b"a"[..])),
                ("dup", Some(&b"b"[..])),
                ("n", None),
            ] {
                bytes_field(&mut body, Some(k.as_bytes()));
                bytes_field(&mut body, v);
            }
            zigzag(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&49i32.to_be_bytes());
        b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        b.extend_from_slice(&1_700_000_000_490i64.to_be_bytes());
        b.extend_from_slice(&42i64.to_be_bytes());
        b.extend_from_slice(&3i16.to_be_bytes());
        b.extend_from_slice(&100i32.to_be_bytes());
        b.extend_from_slice(&50i32.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    const TARGETS: [TopicCompression; 5] = [
        TopicCompression::Uncompressed,
        TopicCompression::Gzip(-1),
        TopicCompression::Snappy,
        TopicCompression::Lz4(9),
        TopicCompression::Zstd(3),
    ];

    /// The uncompressed records section of a batch.
    fn records_of(batch: &[u8]) -> Vec<u8> {
        let h = BatchHeader::parse(batch).unwrap();
        let mut data = Bytes::copy_from_slice(&batch[HEADER_SIZE..]);
        inflate(&mut data, wire(h.compression()).unwrap(), MAX_DECOMPRESSED)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn every_codec_pair_preserves_records_and_header() {
        let base = plain();
        let original = records_of(&base);
        let key = |h: &BatchHeader| {
            (
                h.base_timestamp,
                h.max_timestamp,
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.records_count,
                h.last_offset_delta,
                h.attributes & !7,
            )
        };
        let hbase = BatchHeader::parse(&base).unwrap();
        for from in TARGETS {
            let input = recompress(&base, from)
                .unwrap()
                .unwrap_or_else(|| base.clone());
            for to in TARGETS {
                let want = target_codec(to).unwrap();
                let Some(out) = recompress(&input, to).unwrap() else {
                    assert_eq!(from, to, "only the same codec is left alone");
                    continue;
                };
                let h = BatchHeader::parse(&out).unwrap();
                assert_eq!(h.compression(), want, "{from:?} -> {to:?}");
                assert_eq!(h.batch_size(), out.len());
                assert_eq!(h.crc, compute_crc(&out), "CRC recomputed");
                assert_eq!(key(&h), key(&hbase), "header fields kept");
                // Raw record bytes identical: duplicate headers, deltas and order intact.
                assert_eq!(records_of(&out), original, "{from:?} -> {to:?}");
                // An independent decoder reads it (CRC, codec framing, record count).
                let mut b = Bytes::from(out);
                let set = super::super::records::decode_batch(&mut b).unwrap();
                assert_eq!(set.records.len(), 50);
                assert_eq!(set.records[7].offset, 7);
                assert_eq!(set.records[7].timestamp, 1_700_000_000_070);
                assert_eq!(set.records[7].producer_id, 42);
            }
        }
    }

    #[test]
    fn producer_is_the_fast_path_and_bad_batches_are_refused() {
        let base = plain();
        assert_eq!(recompress(&base, TopicCompression::Producer).unwrap(), None);
        assert_eq!(
            recompress(&base, TopicCompression::Uncompressed).unwrap(),
            None
        );
        // A record count that does not match the records.
        let mut bad = base.clone();
        bad[60] = bad[60].wrapping_add(1);
        assert!(recompress(&bad, TopicCompression::Gzip(-1)).is_err());
        // Garbage where gzip data should be.
        let mut bad = recompress(&base, TopicCompression::Gzip(-1))
            .unwrap()
            .unwrap();
        let n = bad.len();
        for b in &mut bad[HEADER_SIZE + 10..n] {
            *b = 0x55;
        }
        assert!(recompress(&bad, TopicCompression::Zstd(3)).is_err());
        assert_eq!(
            check_framing(&[0x02, 0xAA, 0x00], 1)
                .unwrap_err()
                .kafka_code(),
            87
        );
        assert!(
            check_framing(&[0x7F], 1).is_err(),
            "length beyond the records"
        );
    }
}
