//! The data-directory marker: `<data_dir>/logs/cluster.meta`, which ties the partition logs to
//! the metadata store that describes them (Kafka keeps `meta.properties` in every log
//! directory for the same reason).
//!
//! It is written once, right after the store got its cluster id, and rewritten only by the
//! operator's `runnel recover`. At boot the broker compares it with the store: a marker
//! without a store, a store without a cluster id, or two different cluster ids mean the store
//! lost data or belongs to other logs, and the broker refuses to start instead of opening
//! with an empty topic list. A marker that exists but cannot be read is an error too, never
//! "absent": treating it as absent would take the upgrade path and bless whatever store is
//! there.
//!
//! Format (all integers big-endian; written to `cluster.meta.tmp`, fsynced, renamed, and the
//! directory fsynced):
//!
//! ```text
//! offset size field
//!  0     4    magic u32        "RNCM"
//!  4     2    version u16      1
//!  6     4    length u32       payload bytes (at most MAX_PAYLOAD)
//! 10     4    crc u32          CRC-32C of the payload
//! 14     2    id_len u16       payload: length of the cluster id
//! 16     n    cluster id       UTF-8, id_len bytes (22 for ids runnel generates)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::StoreError;

/// File name of the marker inside the log directory.
pub const MARKER_FILE: &str = "cluster.meta";
/// Magic number: "RNCM" (runnel cluster meta).
pub const MARKER_MAGIC: u32 = u32::from_be_bytes(*b"RNCM");
/// Version written and accepted.
pub const MARKER_VERSION: u16 = 1;
/// Bytes before the payload.
const HEADER: usize = 14;
/// Largest payload accepted: a cluster id is short; anything bigger is damage.
const MAX_PAYLOAD: usize = 2 + 255;

fn marker_error(dir: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Marker {
        path: dir.join(MARKER_FILE).display().to_string(),
        message: message.into(),
    }
}

/// The cluster id recorded in `dir`'s marker; `Ok(None)` when there is no marker.
pub fn read(dir: &Path) -> Result<Option<String>, StoreError> {
    let buf = match fs::read(dir.join(MARKER_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(marker_error(dir, format!("cannot read: {e}"))),
    };
    decode(&buf).map(Some).map_err(|m| marker_error(dir, m))
}

/// Writes (or replaces) the marker in `dir` atomically and durably.
pub fn write(dir: &Path, cluster_id: &str) -> Result<(), StoreError> {
    let buf = encode(cluster_id).map_err(|m| marker_error(dir, m))?;
    let ioe = |e: io::Error| marker_error(dir, format!("cannot write: {e}"));
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(ioe)?;
        f.write_all(&buf).map_err(ioe)?;
        f.sync_all().map_err(ioe)?;
    }
    fs::rename(&tmp, dir.join(MARKER_FILE)).map_err(ioe)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(ioe)
}

/// Removes the marker (operator recovery only); a missing marker is fine.
pub fn remove(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_file(dir.join(MARKER_FILE)) {
        Ok(()) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| marker_error(dir, format!("cannot sync directory: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(marker_error(dir, format!("cannot remove: {e}"))),
    }
}

fn encode(cluster_id: &str) -> Result<Vec<u8>, String> {
    let id = cluster_id.as_bytes();
    let id_len = u16::try_from(id.len())
        .ok()
        .filter(|&n| usize::from(n) + 2 <= MAX_PAYLOAD)
        .ok_or_else(|| format!("cluster id of {} bytes is too long", id.len()))?;
    let mut payload = Vec::with_capacity(2 + id.len());
    payload.extend_from_slice(&id_len.to_be_bytes());
    payload.extend_from_slice(id);
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    buf.extend_from_slice(&MARKER_MAGIC.to_be_bytes());
    buf.extend_from_slice(&MARKER_VERSION.to_be_bytes());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    buf.extend_from_slice(&payload);
    Ok(buf)
}

fn decode(buf: &[u8]) -> Result<String, String> {
    let field = |at: usize, n: usize| buf.get(at..at + n).ok_or("file is truncated");
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let magic = be32(field(0, 4)?);
    if magic != MARKER_MAGIC {
        return Err(format!("bad magic {magic:#010x}"));
    }
    let v = field(4, 2)?;
    let version = u16::from_be_bytes([v[0], v[1]]);
    if version != MARKER_VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let len = be32(field(6, 4)?) as usize;
    if len > MAX_PAYLOAD || buf.len() != HEADER + len {
        return Err(format!(
            "payload length {len} does not match file size {}",
            buf.len()
        ));
    }
    let crc = be32(field(10, 4)?);
    let payload = field(HEADER, len)?;
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let n = payload
        .get(0..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or("payload is truncated")?;
    let id = payload
        .get(2..)
        .filter(|id| id.len() == n)
        .ok_or("cluster id length does not match the payload")?;
    String::from_utf8(id.to_vec()).map_err(|e| format!("cluster id is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        write(d.path(), "AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(
            read(d.path()).unwrap().as_deref(),
            Some("AAAAAAAAAAAAAAAAAAAAAA")
        );
        write(d.path(), "other").unwrap();
        assert_eq!(read(d.path()).unwrap().as_deref(), Some("other"));
        remove(d.path()).unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        remove(d.path()).unwrap();
    }

    #[test]
    fn golden_bytes() {
        let b = encode("ab").unwrap();
        assert_eq!(&b[0..4], b"RNCM");
        assert_eq!(&b[4..6], &[0, 1]); // version
        assert_eq!(&b[6..10], &[0, 0, 0, 4]); // payload length
        assert_eq!(
            &b[10..14],
            &crc32c::crc32c(&[0, 2, b'a', b'b']).to_be_bytes()
        );
        assert_eq!(&b[14..], &[0, 2, b'a', b'b']);
    }

    #[test]
    fn damage_is_an_error_not_absence() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "cluster-one").unwrap();
        let path = d.path().join(MARKER_FILE);
        let good = fs::read(&path).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "truncated"),
            (good[..9].to_vec(), "truncated"),
            (good[..10].to_vec(), "does not match"),
            ([b"XXXX".as_slice(), &good[4..]].concat(), "bad magic"),
            (
                [&good[..4], &[0u8, 9][..], &good[6..]].concat(),
                "unsupported version",
            ),
            (
                {
                    let mut b = good.clone();
                    *b.last_mut().unwrap() ^= 1;
                    b
                },
                "checksum",
            ),
            ([good.as_slice(), &[0u8][..]].concat(), "does not match"),
        ];
        for (bytes, want) in cases {
            fs::write(&path, &bytes).unwrap();
            let e = read(d.path()).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
            assert!(e.contains(MARKER_FILE), "{e}");
        }
    }

    #[test]
    fn oversized_ids_are_refused() {
        assert!(encode(&"x".repeat(256)).is_err());
        assert!(encode(&"x".repeat(255)).is_ok());
    }
}
