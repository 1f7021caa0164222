//! Fuzz target: a stored record batch through the read paths that look inside it: the exact
//! ListOffsets timestamp lookup (`log::records::first_record_at_or_after`, as
//! `PartitionLog::refine_to_record` calls it) and the console's record browser
//! (`protocol::records::decode_batch`: the vendored kafka-protocol decoder with Runnel's bounded
//! decompression). Neither checks the CRC first, and stored bytes can be damaged on disk.
//!
//! Input: one flags byte, then the batch. Bit 0: keep the CRC as stored; otherwise it is
//! recomputed so that mutations reach kafka-protocol's decoder past its CRC check. Bits 1-7
//! pick the lookup's start offset (base offset + n) and the inflation budget (1 KiB << n%8).
//!
//! Must hold for every input: no panic, bounded memory, the same answer twice, a found record
//! at or after the requested offset, and inflation within the budget.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use runnel_fuzz::log::batch::{compute_crc, BatchHeader, CRC_OFFSET, HEADER_SIZE};
use runnel_fuzz::log::records::first_record_at_or_after;
use runnel_fuzz::protocol::records::decode_batch;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, stored)) = input.split_first() else {
        return;
    };
    let mut batch = stored.to_vec();
    if flags & 1 == 0 && batch.len() >= HEADER_SIZE {
        let crc = compute_crc(&batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }

    if let Ok(h) = BatchHeader::parse(&batch) {
        let n = i64::from(flags >> 1);
        let min_offset = h.base_offset.saturating_add(n);
        let limit = 1024usize << (n % 8);
        let hit = |t: i64| t >= h.base_timestamp.saturating_add(n);
        let lookup = first_record_at_or_after(&batch, &h, min_offset, limit, hit);
        let again = first_record_at_or_after(&batch, &h, min_offset, limit, hit);
        assert_eq!(lookup, again, "not deterministic");
        if let Ok((found, inflated)) = lookup {
            assert!(inflated <= limit, "inflated {inflated} beyond {limit}");
            if let Some((offset, _)) = found {
                assert!(offset >= min_offset, "found {offset} before {min_offset}");
            }
        }
    }

    let decode = || match decode_batch(&mut Bytes::copy_from_slice(&batch)) {
        Ok(set) => format!("{set:?}"),
        Err(e) => format!("{e:#}"),
    };
    assert_eq!(decode(), decode(), "not deterministic");
});
