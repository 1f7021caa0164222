//! Zero-copy fetch responses: the record batches of each fetched partition go from the segment
//! file to the socket (`sendfile`) instead of through the encode buffer.
//!
//! The `kafka-protocol` encoder writes every bytes field as a length prefix followed by one
//! `put_slice`. A partition whose batches travel as a [`FileSlice`] carries the one-byte
//! [`records_placeholder`] in its `records` field; [`SpliceBuf`] is the `BufMut` the response is
//! encoded into, and when `put_slice` is handed that placeholder (recognised by its address) it
//! rewrites the length prefix just written for one byte — a 4-byte int32 before v12, an
//! unsigned varint of length + 1 from v12 (flexible versions) — to the slice's length, closes
//! the current chunk, and appends the next slice as a [`Chunk::File`]. Slices are consumed in
//! encoding order: the caller lists them in the order their partitions appear in the response.
//! The result is a list of chunks the connection writes in order.
//!
//! Invariants: the placeholder and the slices are used by exactly one response each; a prefix
//! that is not the expected encoding of 1, a placeholder without a slice, or a slice left over
//! fails the encoding (closing the connection beats a frame whose length lies). The encoder's
//! gap operations (`seek`/`range`, used only for record-batch encoding, never for response
//! messages) stay inside the current chunk.

use std::collections::VecDeque;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::log::FileSlice;

/// The address the encoder's `put_slice` is recognised by; the value is never sent.
static RECORDS_MARK: [u8; 1] = [0xA5];

/// The `records` value of a partition whose batches follow as the next [`FileSlice`].
pub fn records_placeholder() -> Bytes {
    Bytes::from_static(&RECORDS_MARK)
}

/// One piece of an encoded response frame.
#[derive(Debug)]
pub enum Chunk {
    /// Encoded bytes.
    Bytes(Bytes),
    /// Record batches still in their segment file.
    File(FileSlice),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An encode buffer that splices file slices in place of the records placeholder.
pub struct SpliceBuf {
    chunks: Vec<Chunk>,
    head: BytesMut,
    /// Bytes in `chunks` (the offset where `head` starts).
    frozen_len: usize,
    files: VecDeque<FileSlice>,
    /// Flexible versions: records are compact bytes (varint length + 1).
    compact: bool,
    error: Option<String>,
}

impl SpliceBuf {
    /// A buffer that splices `files`, in order, where the placeholder is encoded; `compact`
    /// for flexible message versions (Fetch v12+).
    pub fn new(files: Vec<FileSlice>, compact: bool) -> SpliceBuf {
        SpliceBuf {
            chunks: Vec::new(),
            head: BytesMut::with_capacity(256),
            frozen_len: 0,
            files: files.into(),
            compact,
            error: None,
        }
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.frozen_len + self.head.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The written bytes as chunks, in order; an error if the placeholders and the slices did
    /// not pair up.
    pub fn into_chunks(mut self) -> anyhow::Result<Vec<Chunk>> {
        if let Some(e) = self.error {
            anyhow::bail!("splicing fetched records: {e}");
        }
        if !self.files.is_empty() {
            anyhow::bail!(
                "splicing fetched records: {} slices had no placeholder in the response",
                self.files.len()
            );
        }
        if !self.head.is_empty() {
            self.chunks.push(Chunk::Bytes(self.head.freeze()));
        }
        Ok(self.chunks)
    }

    /// Replaces the length prefix the encoder wrote for the one-byte placeholder with `len`'s.
    fn rewrite_prefix(&mut self, len: usize) -> Result<(), String> {
        let n = self.head.len();
        if self.compact {
            // Unsigned varint of 1 + 1 = one byte, 0x02.
            if n == 0 || self.head[n - 1] != 2 {
                return Err("no compact length prefix before the placeholder".into());
            }
            self.head.truncate(n - 1);
            let mut v = u64::try_from(len).map_err(|e| e.to_string())? + 1;
            while v >= 0x80 {
                self.head.put_u8((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
            self.head.put_u8(v as u8);
        } else {
            if n < 4 || self.head[n - 4..] != [0, 0, 0, 1] {
                return Err("no int32 length prefix before the placeholder".into());
            }
            self.head.truncate(n - 4);
            let len = i32::try_from(len).map_err(|_| format!("{len} bytes of records"))?;
            self.head.put_i32(len);
        }
        Ok(())
    }

    fn splice_next(&mut self) -> Result<(), String> {
        let file = self
            .files
            .pop_front()
            .ok_or("a placeholder has no slice left")?;
        self.rewrite_prefix(file.len())?;
        self.frozen_len += self.head.len() + file.len();
        if !self.head.is_empty() {
            self.chunks.push(Chunk::Bytes(self.head.split().freeze()));
        }
        self.chunks.push(Chunk::File(file));
        Ok(())
    }
}

// SAFETY: every method delegates to the inner `BytesMut`, whose `BufMut` implementation
// upholds the trait's contract; `put_slice` only adds whole, initialised chunks.
unsafe impl BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut()`, which is the head's.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() == 1 && std::ptr::eq(src.as_ptr(), RECORDS_MARK.as_ptr()) {
            if let Err(e) = self.splice_next() {
                self.error.get_or_insert(e);
                self.head.put_slice(src);
            }
        } else {
            self.head.put_slice(src);
        }
    }
}

impl ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        let local = offset.saturating_sub(self.frozen_len);
        self.head.resize(local, 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let len = self.head.len();
        let start = r.start.saturating_sub(self.frozen_len).min(len);
        let end = r.end.saturating_sub(self.frozen_len).clamp(start, len);
        &mut self.head[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::FileSlice;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{FetchResponse, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use std::io::Write;
    use std::sync::Arc;

    /// A file holding `content`, and a slice of all of it.
    fn slice_of(content: &[u8]) -> FileSlice {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        FileSlice::new(Arc::new(f), 0, content.len(), 0, 1)
    }

    fn flatten(chunks: &[Chunk]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(f) => out.extend_from_slice(&f.to_bytes().unwrap()),
            }
        }
        out
    }

    /// A response whose partitions hold `records` (None: no records, Some: these bytes).
    fn response(records: &[Option<Vec<u8>>]) -> FetchResponse {
        let mut t =
            FetchableTopicResponse::default().with_topic(TopicName(StrBytes::from_static_str("t")));
        for (i, r) in records.iter().enumerate() {
            t.partitions.push(
                PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_high_watermark(10 + i as i64)
                    .with_records(r.clone().map(Bytes::from)),
            );
        }
        FetchResponse::default().with_responses(vec![t])
    }

    /// Spliced encoding equals the crate's own encoding of the same records, in every
    /// advertised Fetch version, for empty, one-byte, small and multi-byte-varint lengths.
    #[test]
    fn spliced_frames_equal_the_encoders_own_bytes_in_every_version() {
        let sizes = [
            Some(0usize),
            None,
            Some(1),
            Some(126),
            Some(127),
            Some(20_000),
        ];
        let contents: Vec<Option<Vec<u8>>> = sizes
            .iter()
            .map(|s| s.map(|n| (0..n).map(|i| (i * 7 % 251) as u8).collect()))
            .collect();
        let range = crate::protocol::versions::range(kafka_protocol::messages::ApiKey::Fetch)
            .expect("Fetch is advertised");
        for v in range.min..=range.max {
            let mut want = BytesMut::new();
            response(&contents).encode(&mut want, v).unwrap();

            let mut placeholders = Vec::new();
            let mut files = Vec::new();
            for c in &contents {
                match c {
                    Some(bytes) if !bytes.is_empty() => {
                        placeholders.push(Some(records_placeholder().to_vec()));
                        files.push(slice_of(bytes));
                    }
                    other => placeholders.push(other.clone()),
                }
            }
            let mut resp = response(&placeholders);
            for p in &mut resp.responses[0].partitions {
                if p.records.as_deref() == Some(&RECORDS_MARK[..]) {
                    p.records = Some(records_placeholder());
                }
            }
            let mut buf = SpliceBuf::new(files, v >= 12);
            resp.encode(&mut buf, v).unwrap();
            let len = buf.len();
            let chunks = buf.into_chunks().unwrap();
            let got = flatten(&chunks);
            assert_eq!(got.len(), len, "v{v}: length accounting");
            assert_eq!(got, want.to_vec(), "v{v}");
            let files = chunks
                .iter()
                .filter(|c| matches!(c, Chunk::File(_)))
                .count();
            assert_eq!(
                files, 4,
                "v{v}: every non-empty records field is a file chunk"
            );
        }
    }

    #[test]
    fn placeholders_and_slices_must_pair_up() {
        let mut buf = SpliceBuf::new(vec![slice_of(b"abc")], false);
        buf.put_i32(1);
        buf.put_slice(&records_placeholder());
        buf.put_i32(1);
        buf.put_slice(&records_placeholder());
        assert!(
            buf.into_chunks().is_err(),
            "second placeholder has no slice"
        );

        let buf = SpliceBuf::new(vec![slice_of(b"abc")], false);
        assert!(buf.into_chunks().is_err(), "slice left over");

        let mut buf = SpliceBuf::new(vec![slice_of(b"abc")], true);
        buf.put_u8(9); // not the compact encoding of length 1
        buf.put_slice(&records_placeholder());
        assert!(buf.into_chunks().is_err());
    }

    #[test]
    fn gaps_stay_within_the_current_chunk() {
        let mut b = SpliceBuf::new(Vec::new(), false);
        b.put_u32(0);
        let gap = b.put_gap(4);
        b.put_u8(9);
        b.gap_buf(gap).copy_from_slice(&[1, 2, 3, 4]);
        let chunks = b.into_chunks().unwrap();
        assert_eq!(flatten(&chunks), vec![0, 0, 0, 0, 1, 2, 3, 4, 9]);
    }
}
