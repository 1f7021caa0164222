//! A read's answer without its bytes: a run of whole record batches inside one segment file,
//! named by descriptor, position and length. Fetch responses carry slices to the connection,
//! which sends them from the page cache with `sendfile(2)` (`server/send_file.rs`), so a
//! fetched record is never copied into the broker's memory.
//!
//! Invariant: a slice covers bytes below the high watermark at the time of the read. The log
//! never rewrites those bytes: it appends; it truncates only above the high watermark (boot
//! recovery, cutting off a refused append); retention and deletion unlink whole files, and the
//! slice's descriptor keeps the inode alive. So a slice reads the same bytes for as long as it
//! is held. Should a file still come up short (a bug, or outside interference), the reader sees
//! an error or a short read, never other records.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// Whole batches `[pos, pos + len)` of one segment file; empty when a read found nothing.
#[derive(Clone, Default)]
pub struct FileSlice {
    file: Option<Arc<File>>,
    pos: u64,
    len: usize,
    /// Base offset of the first batch and one past the last batch's last offset.
    offsets: (i64, i64),
}

impl FileSlice {
    /// A slice of `len` bytes at `pos`, holding the batches whose offsets run from
    /// `first_offset` to `next_offset - 1`.
    pub(crate) fn new(
        file: Arc<File>,
        pos: u64,
        len: usize,
        first_offset: i64,
        next_offset: i64,
    ) -> FileSlice {
        FileSlice {
            file: Some(file),
            pos,
            len,
            offsets: (first_offset, next_offset),
        }
    }

    /// The part of this slice `len` bytes long starting `at` bytes in, holding the whole
    /// batches whose offsets run from `first_offset` to `next_offset - 1` (the caller found
    /// their boundaries by walking the batch headers). Clamped to the slice.
    pub fn sub(&self, at: usize, len: usize, first_offset: i64, next_offset: i64) -> FileSlice {
        let at = at.min(self.len);
        FileSlice {
            file: self.file.clone(),
            pos: self.pos + at as u64,
            len: len.min(self.len - at),
            offsets: (first_offset, next_offset),
        }
    }

    /// Bytes in the slice.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the read found nothing to return.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open file and the slice's position in it (`None` when empty).
    pub fn file_region(&self) -> Option<(&File, u64)> {
        self.file.as_deref().map(|f| (f, self.pos))
    }

    /// Offsets the slice's batches span (last offset + 1 − first base offset): the number of
    /// records in them while offsets are dense (no compaction has left gaps).
    pub fn offset_span(&self) -> u64 {
        (self.offsets.1 - self.offsets.0).max(0) as u64
    }

    /// One past the last offset of the slice's last batch (0 when empty): the upper bound of
    /// the offsets it returns.
    pub fn end_offset(&self) -> i64 {
        self.offsets.1
    }

    /// Reads `buf.len()` bytes from `at` bytes into the slice (for transports that cannot
    /// send from a file, and for copies). Fails if the file is shorter than the slice.
    pub fn read_at(&self, at: usize, buf: &mut [u8]) -> io::Result<()> {
        if at + buf.len() > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes at {at} is past the slice's {} bytes",
                    buf.len(),
                    self.len
                ),
            ));
        }
        match &self.file {
            Some(f) => f.read_exact_at(buf, self.pos + at as u64),
            None => Ok(()),
        }
    }

    /// The slice's bytes, copied into memory (the console and tests; fetches never do this).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        let mut buf = BytesMut::zeroed(self.len);
        self.read_at(0, &mut buf)?;
        Ok(buf.freeze())
    }
}

impl fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSlice")
            .field("pos", &self.pos)
            .field("len", &self.len)
            .field("offsets", &self.offsets)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_its_region_and_refuses_beyond_it() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let s = FileSlice::new(Arc::new(f), 2, 5, 10, 13);
        assert_eq!(&s.to_bytes().unwrap()[..], b"23456");
        let mut two = [0u8; 2];
        s.read_at(3, &mut two).unwrap();
        assert_eq!(&two, b"56");
        assert!(s.read_at(4, &mut two).is_err());
        assert_eq!(s.offset_span(), 3);
        let empty = FileSlice::default();
        assert!(empty.is_empty() && empty.to_bytes().unwrap().is_empty());
        assert!(empty.file_region().is_none());
    }

    #[test]
    fn a_file_cut_short_is_an_error_not_other_bytes() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123").unwrap();
        let s = FileSlice::new(Arc::new(f), 2, 5, 0, 1);
        assert!(s.to_bytes().is_err());
    }
}
