//! Test helpers: a builder for valid magic-2 record batches with a correct CRC-32C, so that
//! tests exercise the same bytes a real client would send. Not compiled outside tests.

use super::batch::{compute_crc, CRC_OFFSET};

/// One record for [`BatchBuilder::recs`].
#[derive(Clone, Debug)]
pub(crate) struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Rec {
    pub(crate) fn kv(key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        Rec {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        }
    }
}

/// Builds one uncompressed-framing magic-2 batch (the codec bits are only set in the
/// attributes; the records are never really compressed).
#[derive(Clone, Debug)]
pub(crate) struct BatchBuilder {
    recs: Vec<Rec>,
    timestamp: i64,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

impl BatchBuilder {
    pub(crate) fn new() -> Self {
        BatchBuilder {
            recs: vec![Rec::kv(Some(b"key"), Some(b"value"))],
            timestamp: 1_000,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    /// `n` records with keys `k<i>` and 5-byte values.
    pub(crate) fn records(mut self, n: usize) -> Self {
        self.recs = (0..n)
            .map(|i| Rec {
                key: Some(format!("k{i}").into_bytes()),
                value: Some(b"value".to_vec()),
            })
            .collect();
        self
    }

    /// One record with a value of `size` bytes.
    pub(crate) fn value_size(mut self, size: usize) -> Self {
        self.recs = vec![Rec {
            key: Some(b"k".to_vec()),
            value: Some(vec![b'x'; size]),
        }];
        self
    }

    pub(crate) fn recs(mut self, recs: Vec<Rec>) -> Self {
        self.recs = recs;
        self
    }

    /// Base timestamp; record `i` gets `timestamp + i`.
    pub(crate) fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = ts;
        self
    }

    pub(crate) fn attributes(mut self, attrs: i16) -> Self {
        self.attributes = attrs;
        self
    }

    pub(crate) fn producer(mut self, id: i64, epoch: i16, seq: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = seq;
        self
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, r) in self.recs.iter().enumerate() {
            let mut body = vec![0u8]; // attributes
            put_varlong(&mut body, i as i64); // timestamp delta
            put_varlong(&mut body, i as i64); // offset delta
            match &r.key {
                Some(k) => {
                    put_varlong(&mut body, k.len() as i64);
                    body.extend_from_slice(k);
                }
                None => put_varlong(&mut body, -1),
            }
            match &r.value {
                Some(v) => {
                    put_varlong(&mut body, v.len() as i64);
                    body.extend_from_slice(v);
                }
                None => put_varlong(&mut body, -1),
            }
            put_varlong(&mut body, 0); // headers
            put_varlong(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        let n = self.recs.len() as i32;
        let mut b = Vec::with_capacity(61 + records.len());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&self.attributes.to_be_bytes());
        b.extend_from_slice(&(n - 1).to_be_bytes());
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&(self.timestamp + i64::from(n.max(1)) - 1).to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&self.base_sequence.to_be_bytes());
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }
}
