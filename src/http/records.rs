//! Record batches → JSON rows for the console's record browser.
//!
//! Input is raw log bytes as `PartitionLog::read` returns them: whole v2 batches, possibly
//! followed by a partial batch cut off at the read limit. Each complete batch is decoded with
//! `protocol::records::decode_batch` (compression handled, inflation capped); the partial tail is
//! ignored and the caller resumes from [`DecodedBatches::next_offset`]. Control batches
//! (transaction markers) are skipped but still advance the position.
//!
//! Bounds: the caller bounds the bytes read; here every key, value and header value is shown
//! up to [`MAX_SHOWN_BYTES`] with a `truncated` flag. Known limitation: the decoder keeps
//! record headers in a map, so duplicate header keys show only the last value.

use bytes::{Buf, Bytes};
use kafka_protocol::records::TimestampType;
use serde::Serialize;

/// Bytes of one key/value/header shown to the browser.
pub const MAX_SHOWN_BYTES: usize = 4096;

/// Batch header layout (magic 2), offsets from the batch start: see PROTOCOL.md §6.
const BASE_OFFSET_AT: usize = 0;
const LENGTH_AT: usize = 8;
/// Bytes before the batch length's coverage begins (base offset + length).
const LOG_OVERHEAD: usize = 12;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const HEADER_LEN: usize = 61;
const CONTROL_BIT: i16 = 1 << 5;

/// A byte string shown both ways: UTF-8 text when it is valid, and hex.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShownBytes {
    /// Full length of the original.
    pub len: usize,
    /// The shown prefix as text, when it is valid UTF-8 (a cut multi-byte char is dropped).
    pub text: Option<String>,
    /// The shown prefix in lower-case hex.
    pub hex: String,
    /// True when only the first [`MAX_SHOWN_BYTES`] are shown.
    pub truncated: bool,
}

impl ShownBytes {
    /// Shows `b`, cut at [`MAX_SHOWN_BYTES`].
    pub fn new(b: &[u8]) -> ShownBytes {
        let shown = &b[..b.len().min(MAX_SHOWN_BYTES)];
        let text = match std::str::from_utf8(shown) {
            Ok(s) => Some(s.to_string()),
            // Only a multi-byte char cut by truncation is forgiven; other invalid bytes
            // mean "binary": show hex only.
            Err(e) if b.len() > MAX_SHOWN_BYTES && e.error_len().is_none() => {
                std::str::from_utf8(&shown[..e.valid_up_to()])
                    .ok()
                    .map(str::to_string)
            }
            Err(_) => None,
        };
        ShownBytes {
            len: b.len(),
            text,
            hex: hex(shown),
            truncated: b.len() > MAX_SHOWN_BYTES,
        }
    }
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0xf)]));
    }
    s
}

/// One header of a record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HeaderRow {
    pub key: String,
    pub value: Option<ShownBytes>,
}

/// One record as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordRow {
    pub offset: i64,
    pub timestamp: i64,
    /// "CreateTime" or "LogAppendTime".
    pub timestamp_type: &'static str,
    pub key: Option<ShownBytes>,
    pub value: Option<ShownBytes>,
    pub headers: Vec<HeaderRow>,
}

/// The result of decoding one read.
#[derive(Debug, Default)]
pub struct DecodedBatches {
    /// Records with `offset >= from`, in offset order, at most the caller's limit.
    pub rows: Vec<RecordRow>,
    /// The offset just past the last complete batch consumed (or `from` if none was).
    pub next_offset: i64,
    /// Set when a batch could not be decoded; rows before it are still returned.
    pub error: Option<String>,
}

/// Decodes the complete batches in `raw`, keeping records at or after `from`, stopping
/// once `limit` rows are collected or at `upto` (exclusive: the high watermark).
pub fn decode_batches(mut raw: Bytes, from: i64, upto: i64, limit: usize) -> DecodedBatches {
    let mut out = DecodedBatches {
        next_offset: from,
        ..DecodedBatches::default()
    };
    while raw.len() >= LOG_OVERHEAD && out.rows.len() < limit {
        let base = be_i64(&raw, BASE_OFFSET_AT);
        let length = be_i32(&raw, LENGTH_AT);
        let total = match usize::try_from(length) {
            Ok(l) if l >= HEADER_LEN - LOG_OVERHEAD => l + LOG_OVERHEAD,
            _ => {
                out.error = Some(format!("bad batch length {length} at offset {base}"));
                break;
            }
        };
        if raw.len() < total {
            break; // partial batch at the read limit
        }
        if base >= upto {
            break;
        }
        let batch = raw.split_to(total);
        if batch[MAGIC_AT] != 2 {
            out.error = Some(format!(
                "unsupported batch magic {} at offset {base}",
                batch[MAGIC_AT]
            ));
            break;
        }
        let attributes = be_i16(&batch, ATTRIBUTES_AT);
        let last = base.saturating_add(i64::from(be_i32(&batch, LAST_OFFSET_DELTA_AT)));
        if attributes & CONTROL_BIT != 0 {
            out.next_offset = out.next_offset.max(last + 1);
            continue;
        }
        let set = match crate::protocol::records::decode_batch(&mut batch.clone()) {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(format!("cannot decode batch at offset {base}: {e}"));
                break;
            }
        };
        let mut stopped = false;
        for r in set.records {
            if r.offset < from || r.control {
                continue;
            }
            if r.offset >= upto || out.rows.len() >= limit {
                stopped = true;
                break;
            }
            out.next_offset = r.offset + 1;
            out.rows.push(RecordRow {
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: match r.timestamp_type {
                    TimestampType::Creation => "CreateTime",
                    TimestampType::LogAppend => "LogAppendTime",
                },
                key: r.key.as_deref().map(ShownBytes::new),
                value: r.value.as_deref().map(ShownBytes::new),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| HeaderRow {
                        key: k.to_string(),
                        value: v.as_deref().map(ShownBytes::new),
                    })
                    .collect(),
            });
        }
        if !stopped {
            out.next_offset = out.next_offset.max(last + 1);
        }
    }
    out
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    (&b[at..at + 8]).get_i64()
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    (&b[at..at + 4]).get_i32()
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    (&b[at..at + 2]).get_i16()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::records::testutil;
    use bytes::BytesMut;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{Compression, Record};

    fn record(offset: i64, key: Option<&'static [u8]>, value: &'static [u8]) -> Record {
        let mut r = testutil::record(
            offset,
            1_700_000_000_000 + offset,
            key.map(Bytes::from_static),
            Bytes::from_static(value),
        );
        r.headers.insert(
            StrBytes::from_static_str("h"),
            Some(Bytes::from_static(b"v")),
        );
        r
    }

    fn batch(base: i64, n: i64, compression: Compression) -> BytesMut {
        let recs: Vec<Record> = (base..base + n)
            .map(|o| record(o, Some(b"k"), b"hello"))
            .collect();
        testutil::encode(&recs, compression)
    }

    #[test]
    fn decodes_plain_and_compressed_batches_from_an_offset() {
        let mut raw = batch(0, 3, Compression::None);
        raw.extend_from_slice(&batch(3, 3, Compression::Gzip));
        let d = decode_batches(raw.freeze(), 2, i64::MAX, 100);
        assert_eq!(d.error, None);
        let offsets: Vec<i64> = d.rows.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![2, 3, 4, 5]);
        assert_eq!(d.next_offset, 6);
        let r = &d.rows[0];
        assert_eq!(r.key.as_ref().unwrap().text.as_deref(), Some("k"));
        assert_eq!(r.value.as_ref().unwrap().hex, "68656c6c6f");
        assert_eq!(r.headers[0].key, "h");
        assert_eq!(r.timestamp, 1_700_000_000_002);
        assert_eq!(r.timestamp_type, "CreateTime");
    }

    #[test]
    fn stops_at_limit_and_high_watermark() {
        let raw = batch(0, 5, Compression::None).freeze();
        let d = decode_batches(raw.clone(), 0, i64::MAX, 2);
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.next_offset, 2);
        let d = decode_batches(raw, 0, 4, 100);
        assert_eq!(d.rows.len(), 4);
        assert_eq!(d.next_offset, 4);
    }

    #[test]
    fn partial_tail_is_left_for_the_next_read() {
        let mut raw = batch(0, 2, Compression::None);
        let second = batch(2, 2, Compression::None);
        raw.extend_from_slice(&second[..second.len() - 5]);
        let d = decode_batches(raw.freeze(), 0, i64::MAX, 100);
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.next_offset, 2);
        assert_eq!(d.error, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut raw = batch(0, 2, Compression::None);
        let n = raw.len();
        raw[n - 1] ^= 0xff; // CRC mismatch
        let d = decode_batches(raw.freeze(), 0, i64::MAX, 100);
        assert!(d.error.is_some());
        let mut junk = vec![0u8; 12];
        junk[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batches(Bytes::from(junk), 0, i64::MAX, 10)
            .error
            .is_some());
        assert!(decode_batches(Bytes::from_static(&[1, 2, 3]), 0, 9, 10)
            .rows
            .is_empty());
    }

    #[test]
    fn shown_bytes_text_hex_and_truncation() {
        let s = ShownBytes::new(b"\x00\xff");
        assert_eq!(s.text, None);
        assert_eq!(s.hex, "00ff");
        let long = "é".repeat(MAX_SHOWN_BYTES); // 2 bytes each: cut mid-char
        let s = ShownBytes::new(long.as_bytes());
        assert!(s.truncated);
        assert_eq!(s.len, MAX_SHOWN_BYTES * 2);
        assert_eq!(
            s.text.as_ref().unwrap().chars().count(),
            MAX_SHOWN_BYTES / 2
        );
    }
}
