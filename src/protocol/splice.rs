//! Zero-copy response encoding: record batches read from segments are spliced into the
//! outgoing frame by reference instead of being copied into the encode buffer.
//!
//! The `kafka-protocol` encoder writes every byte field with `put_slice`. [`SpliceBuf`] is a
//! `BufMut` that knows the `Bytes` of the large fields in advance (the `records` of each
//! fetched partition): when `put_slice` is handed exactly one of them (same address and
//! length), the bytes encoded so far are frozen into a chunk and the field's `Bytes` is
//! appended as the next chunk, sharing the buffer `PartitionLog::read` filled. Everything
//! else is written into the current chunk as usual. The result is a list of chunks the
//! connection writes in order.
//!
//! Invariant: the encoder's gap operations (`seek`/`range`, used only for record-batch
//! encoding, never for response messages) stay inside the current chunk; a gap that would
//! reach into an already frozen chunk is refused by being clamped, which cannot happen for
//! the message types encoded here.

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

/// Fields smaller than this are copied: a chunk boundary costs more than copying them.
pub const SPLICE_MIN: usize = 4096;

/// An encode buffer that splices registered `Bytes` by reference.
pub struct SpliceBuf {
    chunks: Vec<Bytes>,
    head: BytesMut,
    /// Bytes in `chunks` (the offset where `head` starts).
    frozen_len: usize,
    splice: Vec<Bytes>,
}

impl SpliceBuf {
    /// A buffer that will splice any of `fields` (each at least [`SPLICE_MIN`] long).
    pub fn new(fields: Vec<Bytes>) -> SpliceBuf {
        SpliceBuf {
            chunks: Vec::new(),
            head: BytesMut::with_capacity(256),
            frozen_len: 0,
            splice: fields
                .into_iter()
                .filter(|b| b.len() >= SPLICE_MIN)
                .collect(),
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

    /// The written bytes as chunks, in order.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.head.is_empty() {
            self.chunks.push(self.head.freeze());
        }
        self.chunks
    }

    fn take_registered(&mut self, src: &[u8]) -> Option<Bytes> {
        if src.len() < SPLICE_MIN {
            return None;
        }
        let i = self
            .splice
            .iter()
            .position(|b| b.as_ptr() == src.as_ptr() && b.len() == src.len())?;
        Some(self.splice.swap_remove(i))
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
        match self.take_registered(src) {
            Some(field) => {
                if !self.head.is_empty() {
                    self.frozen_len += self.head.len();
                    self.chunks.push(self.head.split().freeze());
                }
                self.frozen_len += field.len();
                self.chunks.push(field);
            }
            None => self.head.put_slice(src),
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

    #[test]
    fn registered_fields_are_shared_not_copied() {
        let big = Bytes::from(vec![7u8; 10_000]);
        let small = Bytes::from_static(b"abc");
        let mut b = SpliceBuf::new(vec![big.clone(), small.clone()]);
        b.put_i32(1);
        b.put_slice(&big);
        b.put_slice(&small);
        b.put_slice(&big[..5000]); // same address, other length: copied
        assert_eq!(b.len(), 4 + 10_000 + 3 + 5000);
        let chunks = b.into_chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), big.as_ptr(), "shared, not copied");
        let flat: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut want = vec![0, 0, 0, 1];
        want.extend_from_slice(&big);
        want.extend_from_slice(b"abc");
        want.extend_from_slice(&big[..5000]);
        assert_eq!(flat, want);
    }

    #[test]
    fn gaps_stay_within_the_current_chunk() {
        let mut b = SpliceBuf::new(Vec::new());
        b.put_u32(0);
        let gap = b.put_gap(4);
        b.put_u8(9);
        b.gap_buf(gap).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(&b.into_chunks()[0][..], &[0, 0, 0, 0, 1, 2, 3, 4, 9]);
    }
}
