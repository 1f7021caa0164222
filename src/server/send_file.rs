//! Sending record batches from their segment file to a client socket without copying them
//! through the broker's memory.
//!
//! On Linux, `sendfile(2)` moves the bytes of a [`FileSlice`] from the page cache to the
//! socket; the socket is non-blocking, so each call sends what the socket buffer takes and the
//! task waits for writability in between, like any other write. Where `sendfile` is not
//! available (another OS, or a descriptor it refuses), the bytes go through a 64 KiB buffer:
//! bounded memory either way.
//!
//! A file that turns out shorter than its slice (it never should: see `log/slice.rs`) is an
//! error, and the connection is closed: a frame whose announced length cannot be honoured must
//! not be followed by other bytes.
//!
//! Cost note: a page that is not in the page cache is read from disk inside `sendfile`, on the
//! connection's task (Kafka's network threads do the same with `transferTo`).

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::log::FileSlice;

/// Bytes copied per write when `sendfile` cannot be used (and per write on TLS, which
/// cannot use it).
pub const COPY_CHUNK: usize = 64 * 1024;

/// Sends some of `slice` from byte `from` on: returns how many bytes went out (at least one).
/// `scratch` is the connection's copy buffer, used only when `sendfile` cannot be.
pub async fn send(
    stream: &TcpStream,
    slice: &FileSlice,
    from: usize,
    scratch: &mut Vec<u8>,
) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    match send_with_sendfile(stream, slice, from).await {
        Err(e) if refuses_sendfile(&e) => {}
        other => return other,
    }
    send_copied(stream, slice, from, scratch).await
}

/// Errors that mean "this pair of descriptors cannot use sendfile", not a failed transfer.
#[cfg(target_os = "linux")]
fn refuses_sendfile(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

fn short_file(slice: &FileSlice, at: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "segment file ended at byte {at} of a {}-byte record slice",
            slice.len()
        ),
    )
}

#[cfg(target_os = "linux")]
async fn send_with_sendfile(
    stream: &TcpStream,
    slice: &FileSlice,
    from: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let Some((file, pos)) = slice.file_region() else {
        return Err(short_file(slice, 0));
    };
    let want = (slice.len() - from).min(1 << 30);
    loop {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            let mut offset = libc::off_t::try_from(pos + from as u64)
                .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
            // SAFETY: both descriptors are open for the duration of the call (the stream and
            // the slice's `Arc<File>` are borrowed), and `offset` is a valid, exclusive
            // pointer to an `off_t`.
            let n =
                unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut offset, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => return Err(short_file(slice, from)),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads the next (at most [`COPY_CHUNK`]) bytes of `slice` from byte `from` on, with `pread`,
/// into `scratch` (one buffer per connection, grown once to [`COPY_CHUNK`] and reused).
pub fn read_chunk<'a>(
    slice: &FileSlice,
    from: usize,
    scratch: &'a mut Vec<u8>,
) -> io::Result<&'a [u8]> {
    let n = (slice.len() - from).min(COPY_CHUNK);
    if scratch.len() < n {
        scratch.resize(COPY_CHUNK, 0);
    }
    let buf = &mut scratch[..n];
    slice.read_at(from, buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => short_file(slice, from),
        _ => e,
    })?;
    Ok(buf)
}

/// The portable path: reads up to [`COPY_CHUNK`] bytes with `pread` and writes what the socket
/// takes of them.
async fn send_copied(
    stream: &TcpStream,
    slice: &FileSlice,
    from: usize,
    scratch: &mut Vec<u8>,
) -> io::Result<usize> {
    let buf = read_chunk(slice, from, scratch)?;
    loop {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    fn file_with(content: &[u8]) -> Arc<std::fs::File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Arc::new(f)
    }

    /// Sends all of `slice` with `step` and returns what the peer received.
    async fn transfer(slice: FileSlice, copied: bool) -> io::Result<Vec<u8>> {
        let (tx, mut rx) = pair().await;
        let len = slice.len();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut sent = 0;
        let mut scratch = Vec::new();
        while sent < len {
            sent += if copied {
                send_copied(&tx, &slice, sent, &mut scratch).await?
            } else {
                send(&tx, &slice, sent, &mut scratch).await?
            };
        }
        drop(tx);
        Ok(reader.await.unwrap())
    }

    #[tokio::test]
    async fn a_slice_arrives_byte_for_byte_both_ways() {
        // Larger than a socket buffer, so partial sends and writability waits happen.
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for copied in [false, true] {
            let slice = FileSlice::new(file_with(&content), 1000, 2_500_000, 0, 1);
            let got = transfer(slice, copied).await.unwrap();
            assert_eq!(got, &content[1000..2_501_000], "copied={copied}");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_slice_is_an_error() {
        for copied in [false, true] {
            let slice = FileSlice::new(file_with(&[7u8; 100]), 50, 80, 0, 1);
            let e = transfer(slice, copied).await.unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::UnexpectedEof,
                "copied={copied}: {e}"
            );
        }
    }
}
