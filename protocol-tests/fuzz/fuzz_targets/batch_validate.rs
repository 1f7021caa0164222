//! Fuzz target: one partition's Produce payload through the broker's produce-time validation
//! (`log::validate_produce_batch_inline` on the async path, `log::validate_produce_batch` on
//! the blocking one), as `handlers/produce.rs` calls them.
//!
//! Input: one flags byte, then the payload.
//!
//! | bit | meaning                                                                 |
//! |-----|-------------------------------------------------------------------------|
//! | 0   | compacted topic (every record needs a key)                              |
//! | 1   | zstd allowed (Produce v7+)                                              |
//! | 2   | keep the CRC as sent; otherwise it is recomputed so that mutations get  |
//! |     | past the CRC check into the record walk (libFuzzer cannot solve CRCs)   |
//! | 3-4 | inline inflation budget: 1 KiB, 16 KiB, 256 KiB, or the full cap        |
//!
//! Must hold for every input: no panic, bounded memory (`scripts/fuzz` sets the rss and malloc
//! limits), the same answer twice (validation is deterministic), the inline validator agrees
//! with the full one whenever it does not defer, and an accepted batch walks to exactly its
//! RecordsCount records.

#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use runnel_fuzz::log::batch::{compute_crc, CRC_OFFSET, HEADER_SIZE};
use runnel_fuzz::log::records::{self, MAX_INFLATED};
use runnel_fuzz::log::{
    validate_produce_batch, validate_produce_batch_inline, CleanupPolicy, InlineValidation,
    LogConfig,
};

const INLINE_LIMITS: [usize; 4] = [1 << 10, 16 << 10, 256 << 10, MAX_INFLATED];

fuzz_target!(|input: &[u8]| {
    let Some((&flags, payload)) = input.split_first() else {
        return;
    };
    let cfg = LogConfig {
        cleanup_policy: if flags & 1 != 0 {
            CleanupPolicy::Compact
        } else {
            CleanupPolicy::Delete
        },
        ..LogConfig::default()
    };
    let allow_zstd = flags & 2 != 0;
    let inline_limit = INLINE_LIMITS[usize::from(flags >> 3) & 3];
    let mut batch = payload.to_vec();
    if flags & 4 == 0 && batch.len() >= HEADER_SIZE {
        let crc = compute_crc(&batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }

    let full = validate_produce_batch(&batch, &cfg, allow_zstd);
    let again = validate_produce_batch(&batch, &cfg, allow_zstd);
    assert_eq!(
        format!("{full:?}"),
        format!("{again:?}"),
        "not deterministic"
    );

    match validate_produce_batch_inline(&batch, &cfg, allow_zstd, inline_limit) {
        Ok(InlineValidation::Valid(h)) => {
            assert_eq!(
                full.as_ref().ok(),
                Some(&h),
                "inline accepted, full refused"
            )
        }
        Ok(InlineValidation::Deferred) => {}
        Err(e) => match &full {
            Ok(_) => panic!("inline refused ({e}), full accepted"),
            Err(f) => assert_eq!(e.to_string(), f.to_string()),
        },
    }

    if let Ok(h) = full {
        assert_eq!(h.batch_size(), batch.len());
        assert_eq!(h.base_offset, 0);
        let mut seen = 0;
        let walked = records::walk(&batch, &h, MAX_INFLATED, |r| {
            assert_eq!(r.offset_delta, r.index);
            seen += 1;
            ControlFlow::Continue(())
        })
        .expect("an accepted batch walks");
        assert_eq!((seen, walked.records), (h.records_count, h.records_count));
    }
});
