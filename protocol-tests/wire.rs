//! Hand-rolled Kafka encoding for test frames, and a reader for responses.

#[derive(Default)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn i8(mut self, v: i8) -> Self {
        self.0.push(v as u8);
        self
    }
    pub fn i16(mut self, v: i16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Classic string: int16 length + bytes.
    pub fn str(self, s: &str) -> Self {
        let w = self.i16(s.len() as i16);
        w.raw(s.as_bytes())
    }
    /// Compact string: unsigned varint (length + 1) + bytes.
    pub fn cstr(self, s: &str) -> Self {
        self.uvarint(s.len() as u32 + 1).raw(s.as_bytes())
    }
    pub fn uvarint(mut self, mut v: u32) -> Self {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// Request header v1: api key, version, correlation id, client id.
    pub fn header(self, key: i16, version: i16, corr: i32, client: &str) -> Self {
        self.i16(key).i16(version).i32(corr).str(client)
    }
    /// Request header v2: v1 plus an empty tagged-field section.
    pub fn header2(self, key: i16, version: i16, corr: i32, client: &str) -> Self {
        self.header(key, version, corr, client).uvarint(0)
    }
}

pub struct R<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> R<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        R { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    pub fn i8(&mut self) -> i8 {
        self.take(1)[0] as i8
    }
    pub fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn uvarint(&mut self) -> u32 {
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = self.take(1)[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    pub fn str(&mut self) -> String {
        let n = self.i16();
        if n < 0 {
            return String::new();
        }
        String::from_utf8(self.take(n as usize).to_vec()).unwrap()
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        self.take(n)
    }
    pub fn rest(&self) -> usize {
        self.b.len() - self.pos
    }
}

/// A valid magic-2 record batch of `n` uncompressed records with the given values.
pub fn record_batch(values: &[&[u8]], base_ts: i64) -> Vec<u8> {
    let records: Vec<_> = values.iter().map(|v| (None, Some(*v))).collect();
    keyed_batch(&records, base_ts)
}

/// A record's key and value; `None` is null (a null value is a tombstone).
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A valid magic-2 uncompressed record batch of (key, value) records.
pub fn keyed_batch(kvs: &[KeyValue<'_>], base_ts: i64) -> Vec<u8> {
    let mut records = Vec::new();
    for (i, (k, v)) in kvs.iter().enumerate() {
        let mut body = Vec::new();
        body.push(0u8); // attributes
        zigzag(&mut body, 0); // timestamp delta
        zigzag(&mut body, i as i64); // offset delta
        for field in [k, v] {
            match field {
                Some(b) => {
                    zigzag(&mut body, b.len() as i64);
                    body.extend_from_slice(b);
                }
                None => zigzag(&mut body, -1),
            }
        }
        zigzag(&mut body, 0); // headers
        zigzag(&mut records, body.len() as i64);
        records.extend_from_slice(&body);
    }
    let n = kvs.len() as i32;
    // Bytes 21.. (covered by the CRC).
    let tail = W::default()
        .i16(0) // attributes: no compression, CreateTime
        .i32(n - 1) // last offset delta
        .i64(base_ts)
        .i64(base_ts) // max timestamp
        .i64(-1) // producer id
        .i16(-1) // producer epoch
        .i32(-1) // base sequence
        .i32(n) // records count
        .raw(&records)
        .0;
    let crc = crc32c::crc32c(&tail);
    W::default()
        .i64(0) // base offset
        .i32((4 + 1 + 4 + tail.len()) as i32) // length: from partition leader epoch on
        .i32(-1) // partition leader epoch
        .i8(2) // magic
        .i32(crc as i32)
        .raw(&tail)
        .0
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}
