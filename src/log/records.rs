//! The records inside a magic-2 batch: the one parser of their varint framing, and the bounded
//! decompressors it reads compressed payloads through. Produce-time validation
//! ([`validate_records`]), exact ListOffsets lookups ([`first_record_at_or_after`]) and the
//! console's decoder ([`inflate`]) all go through this module.
//!
//! Record layout (after the 61-byte batch header, inside the decompressed payload):
//!
//! ```text
//! field              encoding          notes
//! Length             varint            bytes of the record after this field
//! Attributes         int8              unused by magic 2
//! TimestampDelta     varlong           timestamp = BaseTimestamp + delta (CreateTime)
//! OffsetDelta        varint            must be the record's index in the batch (0, 1, ...)
//! KeyLength          varint            -1 = null key (refused on compacted topics)
//! Key                KeyLength bytes
//! ValueLength        varint            -1 = null value (a tombstone)
//! Value              ValueLength bytes
//! HeadersCount       varint            >= 0
//!   HeaderKeyLength  varint            >= 0
//!   HeaderKey        bytes
//!   HeaderValueLen   varint            -1 = null
//!   HeaderValue      bytes
//! ```
//! Varints are zigzag; a varint is at most 5 bytes and a varlong at most 10, as in Kafka.
//!
//! Invariants:
//! - a walk never allocates per record: uncompressed payloads are walked in place, compressed
//!   ones through one 16 KiB window over a streaming decoder (snappy: one block at a time);
//! - a walk never inflates more than the caller's limit ([`MAX_INFLATED`] at most), so a
//!   compression bomb costs bounded CPU and memory; zstd frames asking for a window over
//!   [`ZSTD_WINDOW_LOG_MAX`] are refused before the decoder allocates it;
//! - a walk reads at most `RecordsCount` records and never trusts that count for allocation.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, targets `batch_validate` and
//! `batch_read`) together with `batch.rs`, `error.rs` and `config.rs` only: it may import
//! those siblings and external crates, nothing else of Runnel (`scripts/fuzz` fails on it).

use std::io::{self, Read};
use std::ops::ControlFlow;

use super::batch::{BatchHeader, BatchTimestampType, Compression, HEADER_SIZE};
use super::error::LogError;

/// The most one batch may inflate to. Kafka caps compressed batches at `max.message.bytes`
/// (1 MiB by default); 64 MiB leaves room for any realistic compression ratio.
pub const MAX_INFLATED: usize = 64 << 20;

/// zstd window limit (2^24 = 16 MiB). The decoder allocates the window a frame header asks
/// for; zstd's own default limit is 2^27. Producers at the default levels use 2^21–2^23;
/// only streaming compression at levels 20–22 asks for more and is refused.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Smallest possible record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
pub const MIN_RECORD_SIZE: usize = 7;

/// The xerial framing header Kafka's Java client writes before snappy blocks.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// The most a raw snappy block can inflate per input byte: its densest element is a 3-byte
/// copy of 64 bytes. A block whose preamble claims more is refused before its output buffer
/// is allocated, so a few bytes cannot make the broker zero [`MAX_INFLATED`] bytes.
const SNAPPY_MAX_RATIO: usize = 22;

/// Size of the window a streaming walk reads decompressed bytes through.
const STREAM_WINDOW: usize = 16 << 10;

/// Why a walk stopped without reaching the end of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkError {
    /// The records do not match the framing or the batch header (INVALID_RECORD).
    Invalid(String),
    /// The payload inflates beyond the walk's limit.
    OverLimit(usize),
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::Invalid(m) => f.write_str(m),
            WalkError::OverLimit(l) => write!(f, "record batch inflates beyond {l} bytes"),
        }
    }
}

impl From<WalkError> for LogError {
    /// Kafka reports record-level framing errors of a v2 batch as `InvalidRecordException`
    /// (INVALID_RECORD). A payload its codec cannot decode is a `KafkaException` there
    /// (UNKNOWN_SERVER_ERROR); INVALID_RECORD says the same thing and, unlike CORRUPT_MESSAGE,
    /// is not retried by clients, which would resend the same bytes.
    fn from(e: WalkError) -> Self {
        LogError::InvalidRecord(e.to_string())
    }
}

fn invalid(msg: impl Into<String>) -> WalkError {
    WalkError::Invalid(msg.into())
}

/// What a walk tells its visitor about one record (key, value and headers are skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// Position in the batch, from 0.
    pub index: i32,
    /// Timestamp relative to the batch's BaseTimestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's BaseOffset.
    pub offset_delta: i32,
    /// Key length, -1 for a null key.
    pub key_len: i32,
    /// Value length, -1 for a null value.
    pub value_len: i32,
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    /// Records visited.
    pub records: i32,
    /// Decompressed bytes produced (0 for an uncompressed batch).
    pub inflated: usize,
    /// The visitor stopped the walk before the end (no trailing-bytes check was made).
    pub stopped: bool,
}

/// A byte source for the walk: a slice, or a window over a streaming decoder.
trait Source {
    fn byte(&mut self) -> Result<u8, WalkError>;
    fn skip(&mut self, n: usize) -> Result<(), WalkError>;
    /// Bytes consumed so far.
    fn consumed(&self) -> usize;
    /// Whether no byte is left.
    fn at_end(&mut self) -> Result<bool, WalkError>;
    /// Bytes left, when known without decoding (uncompressed payloads).
    fn remaining(&self) -> Option<usize>;
    /// Decompressed bytes produced so far.
    fn inflated(&self) -> usize;
}

const PREMATURE_EOF: &str = "incorrect declared batch size, premature end of records";

struct SliceSource<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Source for SliceSource<'_> {
    fn byte(&mut self) -> Result<u8, WalkError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| invalid(PREMATURE_EOF))?;
        self.pos += 1;
        Ok(b)
    }
    fn skip(&mut self, n: usize) -> Result<(), WalkError> {
        if n > self.buf.len() - self.pos {
            return Err(invalid(PREMATURE_EOF));
        }
        self.pos += n;
        Ok(())
    }
    fn consumed(&self) -> usize {
        self.pos
    }
    fn at_end(&mut self) -> Result<bool, WalkError> {
        Ok(self.pos == self.buf.len())
    }
    fn remaining(&self) -> Option<usize> {
        Some(self.buf.len() - self.pos)
    }
    fn inflated(&self) -> usize {
        0
    }
}

struct StreamSource<R> {
    inner: R,
    window: Vec<u8>,
    start: usize,
    end: usize,
    consumed: usize,
    inflated: usize,
    limit: usize,
}

impl<R: Read> StreamSource<R> {
    fn new(inner: R, limit: usize) -> Self {
        StreamSource {
            inner,
            window: vec![0; STREAM_WINDOW],
            start: 0,
            end: 0,
            consumed: 0,
            inflated: 0,
            limit,
        }
    }

    /// Makes at least one byte available; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, WalkError> {
        if self.start < self.end {
            return Ok(true);
        }
        let n = loop {
            match self.inner.read(&mut self.window) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    return Err(WalkError::OverLimit(self.limit));
                }
                Err(e) => return Err(codec_error(e)),
            }
        };
        self.inflated += n;
        if self.inflated > self.limit {
            return Err(WalkError::OverLimit(self.limit));
        }
        self.start = 0;
        self.end = n;
        Ok(n > 0)
    }
}

fn codec_error(e: io::Error) -> WalkError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return invalid(format!("compressed records end early: {e}"));
    }
    invalid(format!("cannot decompress records: {e}"))
}

impl<R: Read> Source for StreamSource<R> {
    fn byte(&mut self) -> Result<u8, WalkError> {
        if !self.fill()? {
            return Err(invalid(PREMATURE_EOF));
        }
        let b = self.window[self.start];
        self.start += 1;
        self.consumed += 1;
        Ok(b)
    }
    fn skip(&mut self, mut n: usize) -> Result<(), WalkError> {
        while n > 0 {
            if !self.fill()? {
                return Err(invalid(PREMATURE_EOF));
            }
            let k = n.min(self.end - self.start);
            self.start += k;
            self.consumed += k;
            n -= k;
        }
        Ok(())
    }
    fn consumed(&self) -> usize {
        self.consumed
    }
    fn at_end(&mut self) -> Result<bool, WalkError> {
        Ok(!self.fill()?)
    }
    fn remaining(&self) -> Option<usize> {
        None
    }
    fn inflated(&self) -> usize {
        self.inflated
    }
}

/// Zigzag varint of at most 5 bytes (Kafka's `readVarint`).
fn varint(s: &mut impl Source) -> Result<i32, WalkError> {
    let mut raw: u32 = 0;
    for i in 0..5 {
        let b = s.byte()?;
        raw |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i32 ^ -((raw & 1) as i32));
        }
    }
    Err(invalid("varint longer than 5 bytes"))
}

/// Zigzag varlong of at most 10 bytes (Kafka's `readVarlong`).
fn varlong(s: &mut impl Source) -> Result<i64, WalkError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let b = s.byte()?;
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(invalid("varlong longer than 10 bytes"))
}

/// Reads a nullable length (-1 = null) and skips that many bytes.
fn skip_field(s: &mut impl Source, what: &str) -> Result<i32, WalkError> {
    skip_field_at(s, what).map(|(len, _)| len)
}

/// [`skip_field`], also returning where the field's bytes start (in bytes consumed).
fn skip_field_at(s: &mut impl Source, what: &str) -> Result<(i32, usize), WalkError> {
    let len = varint(s)?;
    if len < -1 {
        return Err(invalid(format!("{what} length {len} is negative")));
    }
    let at = s.consumed();
    if len > 0 {
        s.skip(len as usize)?;
    }
    Ok((len, at))
}

/// Walks one record; returns its metadata.
fn record(s: &mut impl Source, index: i32) -> Result<RecordMeta, WalkError> {
    record_at(s, index).map(|(meta, _)| meta)
}

/// Walks one record; returns its metadata and where its key and value bytes start (in bytes
/// consumed).
fn record_at(s: &mut impl Source, index: i32) -> Result<(RecordMeta, [usize; 2]), WalkError> {
    let len = varint(s)?;
    if len < 0 {
        return Err(invalid(format!("record {index} has negative length {len}")));
    }
    let len = len as usize;
    if s.remaining().is_some_and(|r| len > r) {
        return Err(invalid(format!(
            "record {index} claims {len} bytes but the batch ends before"
        )));
    }
    let start = s.consumed();
    s.byte()?; // attributes: unused in magic 2
    let timestamp_delta = varlong(s)?;
    let offset_delta = varint(s)?;
    let (key_len, key_at) = skip_field_at(s, "key")?;
    let (value_len, value_at) = skip_field_at(s, "value")?;
    let headers = varint(s)?;
    if headers < 0 {
        return Err(invalid(format!("record {index} has {headers} headers")));
    }
    for _ in 0..headers {
        if skip_field(s, "header key")? < 0 {
            return Err(invalid(format!("record {index} has a null header key")));
        }
        skip_field(s, "header value")?;
    }
    let read = s.consumed() - start;
    if read != len {
        return Err(invalid(format!(
            "record {index} claims {len} bytes but its fields take {read}"
        )));
    }
    Ok((
        RecordMeta {
            index,
            timestamp_delta,
            offset_delta,
            key_len,
            value_len,
        },
        [key_at, value_at],
    ))
}

fn walk_source<S: Source>(
    s: &mut S,
    count: i32,
    mut visit: impl FnMut(&RecordMeta) -> ControlFlow<()>,
) -> Result<Walked, WalkError> {
    for index in 0..count {
        let meta = record(s, index)?;
        if visit(&meta).is_break() {
            return Ok(Walked {
                records: index + 1,
                inflated: s.inflated(),
                stopped: true,
            });
        }
    }
    if !s.at_end()? {
        return Err(invalid(format!(
            "incorrect declared batch size: bytes remain after {count} records"
        )));
    }
    Ok(Walked {
        records: count,
        inflated: s.inflated(),
        stopped: false,
    })
}

/// One record of an inflated payload, as [`walk_inflated`] hands it out.
#[derive(Clone, Copy, Debug)]
pub struct RecordSpan<'a> {
    /// The record's fields.
    pub meta: RecordMeta,
    /// The whole record, its length varint included: copying these bytes copies the record.
    pub bytes: &'a [u8],
    /// The key bytes, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value bytes, `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
}

/// Walks `count` records framed back to back in `raw` (an uncompressed payload, or a
/// compressed one after [`inflate`]), handing each one out with its bytes and key, with the
/// same checks as [`walk`]: framing, exactly `count` records, no trailing bytes.
pub fn walk_inflated<'a>(
    raw: &'a [u8],
    count: i32,
    mut visit: impl FnMut(RecordSpan<'a>),
) -> Result<(), WalkError> {
    if count < 0 || count as usize > raw.len() / MIN_RECORD_SIZE {
        return Err(invalid(format!(
            "records count {count} cannot fit in {} bytes of records",
            raw.len()
        )));
    }
    let mut s = SliceSource { buf: raw, pos: 0 };
    for index in 0..count {
        let start = s.pos;
        let (meta, [key_at, value_at]) = record_at(&mut s, index)?;
        let field =
            |at: usize, len: i32| usize::try_from(len).ok().and_then(|n| raw.get(at..at + n));
        visit(RecordSpan {
            meta,
            bytes: &raw[start..s.pos],
            key: field(key_at, meta.key_len),
            value: field(value_at, meta.value_len),
        });
    }
    if s.pos != raw.len() {
        return Err(invalid(format!(
            "incorrect declared batch size: bytes remain after {count} records"
        )));
    }
    Ok(())
}

/// Walks the records of `batch` (one whole batch, header `h`), calling `visit` for each until
/// it returns `Break`. Checks the framing of every record it reads, that the batch holds
/// exactly `RecordsCount` records and, unless stopped early, that no bytes follow them.
/// Compressed payloads are decoded as a stream, at most `limit` bytes (capped at
/// [`MAX_INFLATED`]).
pub fn walk(
    batch: &[u8],
    h: &BatchHeader,
    limit: usize,
    visit: impl FnMut(&RecordMeta) -> ControlFlow<()>,
) -> Result<Walked, WalkError> {
    let limit = limit.min(MAX_INFLATED);
    let payload = batch
        .get(HEADER_SIZE..h.batch_size().min(batch.len()))
        .unwrap_or_default();
    let count = h.records_count;
    if count < 0 {
        return Err(invalid(format!("negative record count {count}")));
    }
    let codec = h.compression();
    // Every record takes at least MIN_RECORD_SIZE bytes, so a count the payload (or the
    // inflation cap) cannot hold is refused before any work.
    let room = match codec {
        Compression::None => payload.len(),
        _ => MAX_INFLATED,
    };
    if count as usize > room / MIN_RECORD_SIZE {
        return Err(invalid(format!(
            "records count {count} cannot fit in {room} bytes of records"
        )));
    }
    match codec {
        Compression::None => walk_source(
            &mut SliceSource {
                buf: payload,
                pos: 0,
            },
            count,
            visit,
        ),
        Compression::Unknown(n) => Err(invalid(format!("unknown compression codec {n}"))),
        c => {
            let reader = decoder(c, payload, limit)?;
            walk_source(&mut StreamSource::new(reader, limit), count, visit)
        }
    }
}

/// A streaming decoder for `payload` compressed with `c` (not `None`).
/// Snappy blocks are inflated whole, so one larger than `limit` fails with `OutOfMemory`.
fn decoder<'a>(
    c: Compression,
    payload: &'a [u8],
    limit: usize,
) -> Result<Box<dyn Read + 'a>, WalkError> {
    Ok(match c {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(payload)),
        Compression::Lz4 => Box::new(lz4::Decoder::new(payload).map_err(codec_error)?),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(payload).map_err(codec_error)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(codec_error)?;
            Box::new(d)
        }
        Compression::Snappy => Box::new(SnappyReader::new(payload, limit)),
        Compression::None => Box::new(payload),
        Compression::Unknown(n) => {
            return Err(invalid(format!("unknown compression codec {n}")));
        }
    })
}

/// Kafka's snappy: xerial framing (magic, then `u32` length + raw snappy block, repeated) or
/// a single raw snappy block from clients that do not frame. Decodes one block at a time into
/// a reused buffer; a block's declared size is checked (against the limit and against what
/// its length can hold) before its buffer grows.
struct SnappyReader<'a> {
    input: &'a [u8],
    framed: bool,
    out: Vec<u8>,
    pos: usize,
    limit: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyReader<'a> {
    fn new(input: &'a [u8], limit: usize) -> Self {
        let framed = input.starts_with(XERIAL_MAGIC);
        SnappyReader {
            input: if framed {
                &input[XERIAL_MAGIC.len()..]
            } else {
                input
            },
            framed,
            out: Vec::new(),
            pos: 0,
            limit,
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Decodes the next block; false when the input is exhausted.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.input.is_empty() {
            return Ok(false);
        }
        let block = if self.framed {
            let Some((len, rest)) = self.input.split_first_chunk::<4>() else {
                return Err(io::Error::other("truncated snappy block length"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            if len > rest.len() {
                return Err(io::Error::other(format!(
                    "snappy block of {len} bytes exceeds the batch"
                )));
            }
            let (block, rest) = rest.split_at(len);
            self.input = rest;
            block
        } else {
            std::mem::take(&mut self.input)
        };
        let size = snap::raw::decompress_len(block).map_err(io::Error::other)?;
        if size > block.len().saturating_mul(SNAPPY_MAX_RATIO) {
            return Err(io::Error::other(format!(
                "snappy block of {} bytes claims to inflate to {size}",
                block.len()
            )));
        }
        if size > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "snappy block inflates to {size} bytes, beyond {}",
                    self.limit
                ),
            ));
        }
        self.out.resize(size, 0);
        let n = self
            .decoder
            .decompress(block, &mut self.out)
            .map_err(io::Error::other)?;
        self.out.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decompresses a whole payload (`c` may be `None`) into memory, at most `limit` bytes
/// (capped at [`MAX_INFLATED`]). For the console's record browser, which needs every key and
/// value of a batch; everything else walks the records instead.
pub fn inflate(c: Compression, payload: &[u8], limit: usize) -> Result<Vec<u8>, WalkError> {
    let limit = limit.min(MAX_INFLATED);
    if c == Compression::None {
        if payload.len() > limit {
            return Err(WalkError::OverLimit(limit));
        }
        return Ok(payload.to_vec());
    }
    let mut out = Vec::new();
    decoder(c, payload, limit)?
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            io::ErrorKind::OutOfMemory => WalkError::OverLimit(limit),
            _ => codec_error(e),
        })?;
    if out.len() > limit {
        return Err(WalkError::OverLimit(limit));
    }
    Ok(out)
}

/// Checks every record of a produce batch as Kafka's LogValidator does for magic 2: the
/// framing of each record, `RecordsCount` records and no trailing bytes, offset deltas equal
/// to the record index (Kafka would rebuild a compressed batch whose inner offsets are off;
/// batches are stored verbatim here, so they are refused), and with `require_keys` (compacted
/// topics) a key on every record, for compressed batches too. Returns the bytes inflated.
pub fn validate_records(
    batch: &[u8],
    h: &BatchHeader,
    require_keys: bool,
    limit: usize,
) -> Result<usize, WalkError> {
    let mut bad = None;
    let walked = walk(batch, h, limit, |r| {
        if r.offset_delta != r.index {
            bad = Some(format!(
                "record {} has offset delta {}, expected {}",
                r.index, r.offset_delta, r.index
            ));
            return ControlFlow::Break(());
        }
        if require_keys && r.key_len < 0 {
            bad = Some(format!(
                "compacted topic cannot accept a record without a key (record {})",
                r.index
            ));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    match bad {
        Some(m) => Err(WalkError::Invalid(m)),
        None => Ok(walked.inflated),
    }
}

/// The first record of a stored batch (header `h`) at or after `min_offset` whose timestamp
/// satisfies `hit`, as `(offset, timestamp)`; the walk stops there. LogAppendTime batches give
/// every record the batch's MaxTimestamp. Returns the answer (None if no record matches) and
/// the bytes inflated, so callers can charge a per-request budget.
pub fn first_record_at_or_after(
    batch: &[u8],
    h: &BatchHeader,
    min_offset: i64,
    limit: usize,
    hit: impl Fn(i64) -> bool,
) -> Result<(Option<(i64, i64)>, usize), WalkError> {
    let mut found = None;
    let walked = walk(batch, h, limit, |r| {
        let offset = h.base_offset.saturating_add(i64::from(r.offset_delta));
        let ts = match h.timestamp_type() {
            BatchTimestampType::LogAppendTime => h.max_timestamp,
            BatchTimestampType::CreateTime => h.base_timestamp.saturating_add(r.timestamp_delta),
        };
        if offset >= min_offset && hit(ts) {
            found = Some((offset, ts));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok((found, walked.inflated))
}

#[cfg(test)]
mod tests;
