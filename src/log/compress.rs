//! The broker's one record compressor: raw (inflated) record bytes in, a compressed payload
//! out, in the framing Kafka clients read (gzip; snappy with snappy-java's xerial framing in
//! 32 KiB blocks; lz4 frames of 64 KiB independent blocks without checksums; zstd). Used by
//! produce-time recompression (`protocol::recompress`) and by the log cleaner when it rewrites
//! a partially kept compressed batch (`cleaner/filter.rs`). Decompression is `records.rs`.
//!
//! Invariant: what this writes, `records::walk` and `records::inflate` read back byte for
//! byte (round trips are tested in `protocol::recompress` and `cleaner`).

use std::io::Write;

use super::batch::Compression;
use super::config::TopicCompression;

/// The xerial framing Kafka's snappy uses (as written by snappy-java), and its block size.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const SNAPPY_BLOCK: usize = 32 * 1024;

/// The codec of a stored batch at the level Kafka's cleaner uses for it (the codec's default),
/// `None` for an uncompressed or unknown codec.
pub fn default_level(c: Compression) -> Option<TopicCompression> {
    Some(match c {
        Compression::Gzip => TopicCompression::Gzip(-1),
        Compression::Snappy => TopicCompression::Snappy,
        Compression::Lz4 => TopicCompression::Lz4(9),
        Compression::Zstd => TopicCompression::Zstd(3),
        Compression::None | Compression::Unknown(_) => return None,
    })
}

/// `raw` compressed for `target` (`Producer` and `Uncompressed` copy it unchanged).
pub fn compress(raw: &[u8], target: TopicCompression) -> std::io::Result<Vec<u8>> {
    match target {
        TopicCompression::Producer | TopicCompression::Uncompressed => Ok(raw.to_vec()),
        TopicCompression::Gzip(level) => {
            let level = if level < 0 {
                6
            } else {
                level.clamp(1, 9) as u32
            };
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 2),
                flate2::Compression::new(level),
            );
            e.write_all(raw)?;
            e.finish()
        }
        TopicCompression::Snappy => {
            let mut out = Vec::with_capacity(raw.len() / 2 + XERIAL_MAGIC.len());
            out.extend_from_slice(XERIAL_MAGIC);
            let mut enc = snap::raw::Encoder::new();
            for chunk in raw.chunks(SNAPPY_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(std::io::Error::other)?;
                let len = u32::try_from(block.len()).map_err(std::io::Error::other)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        TopicCompression::Lz4(level) => {
            // The frame Kafka's Java client reads: 64 KiB independent blocks, no checksums.
            let mut e = lz4::EncoderBuilder::new()
                .level(level.clamp(0, 16) as u32)
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::with_capacity(raw.len() / 2))?;
            e.write_all(raw)?;
            let (out, r) = e.finish();
            r.map(|()| out)
        }
        TopicCompression::Zstd(level) => zstd::bulk::compress(raw, level),
    }
}
