//! The history file format and its loader: JSON Lines, one event per line, merged from any
//! number of files (each client process of a fault check writes its own).
//!
//! ```text
//! {"op":"ack","t":MS,"p":P,"o":O,"v":"W:SEQ"}        produce acknowledged at offset O of P
//!                                                    (O null: acknowledged without an offset,
//!                                                    as librdkafka reports records a later
//!                                                    batch's sequence proved written)
//! {"op":"fail","t":MS,"p":P,"v":"W:SEQ","e":"ERR"}   produce reported failed (indeterminate)
//! {"op":"read","t":MS,"c":"CONSUMER","p":P,"o":O,"v":"W:SEQ"}   a live consumer saw it
//! {"op":"log","p":P,"o":O,"v":"W:SEQ"}               the final log, read after the faults
//! {"op":"log_end","p":P,"o":HW}                      where that final read of P stopped
//! {"op":"commit","t0":MS,"t":MS,"g":"G","gen":N,"m":"MEMBER","p":P,"o":O}  commit sent/acked
//! {"op":"committed","t0":MS,"g":"G","p":P,"o":O}     OffsetFetch started at t0 (-1: none)
//! ```
//!
//! Invariants of a well-formed line (anything else is `Malformed`, naming file and line):
//! exactly the fields of its op, no others; partitions and offsets non-negative (a
//! `committed` offset may be -1); every value is `WRITER:SEQ` with a non-empty WRITER
//! without ':' and SEQ a decimal number that fits in u64. Blank lines are skipped.
//!
//! Memory stays linear in the history: every value, writer and consumer/group/member name
//! is interned once (`Interner`), and events hold small ids.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::rc::Rc;

/// Wall-clock milliseconds, as the clients write them.
pub type Ms = i64;

/// An interned string: an index into its `Interner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub u32);

/// Each distinct string stored once; `Id`s are dense from 0 in first-seen order.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<Rc<str>, Id>,
    names: Vec<Rc<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Id {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = Id(u32::try_from(self.names.len()).expect("fewer than 2^32 distinct strings"));
        let s: Rc<str> = Rc::from(s);
        self.names.push(Rc::clone(&s));
        self.ids.insert(s, id);
        id
    }

    pub fn name(&self, id: Id) -> &str {
        &self.names[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

pub struct Ack {
    pub t: Ms,
    pub p: i32,
    /// None: acknowledged without an offset.
    pub o: Option<i64>,
    pub v: Id,
}

pub struct Fail {
    pub p: i32,
    pub v: Id,
    pub e: String,
}

pub struct Read {
    pub c: Id,
    pub p: i32,
    pub o: i64,
    pub v: Id,
}

pub struct Commit {
    pub t: Ms,
    pub g: Id,
    pub generation: i32,
    pub m: Id,
    pub p: i32,
    pub o: i64,
}

pub struct Committed {
    pub t0: Ms,
    pub g: Id,
    pub p: i32,
    pub o: i64,
}

/// Every event of the merged files, grouped by kind, in the order read.
#[derive(Default)]
pub struct History {
    /// Record values; `value_key[id]` is the (writer, seq) that value names.
    pub values: Interner,
    pub value_key: Vec<(Id, u64)>,
    pub writers: Interner,
    /// Consumer, group and member names.
    pub names: Interner,
    pub acks: Vec<Ack>,
    pub fails: Vec<Fail>,
    pub reads: Vec<Read>,
    /// The final log, per partition: (offset, value) in the order read (sorted by the checks).
    pub log: BTreeMap<i32, Vec<(i64, Id)>>,
    /// Per partition, the highest high watermark a final read reached.
    pub log_end: BTreeMap<i32, i64>,
    pub commits: Vec<Commit>,
    pub committed: Vec<Committed>,
    pub lines: usize,
    pub files: usize,
}

/// A line that is not a history event, or a file that cannot be read.
#[derive(Debug)]
pub struct Malformed {
    pub file: String,
    /// 1-based; 0 when the file itself could not be opened or read.
    pub line: usize,
    pub why: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.why)
        } else {
            write!(
                f,
                "{}:{}: malformed history line: {}",
                self.file, self.line, self.why
            )
        }
    }
}

/// One line as written; serde rejects unknown ops, missing and unknown fields.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Ack {
        t: Ms,
        p: i32,
        // Required, but may be null.
        #[serde(deserialize_with = "Option::deserialize")]
        o: Option<i64>,
        v: String,
    },
    Fail {
        #[allow(dead_code)] // part of the format; a failed send has no offset to order by
        t: Ms,
        p: i32,
        v: String,
        e: String,
    },
    Read {
        #[allow(dead_code)] // part of the format, for post-mortems; the checks use offsets
        t: Ms,
        c: String,
        p: i32,
        o: i64,
        v: String,
    },
    Log {
        p: i32,
        o: i64,
        v: String,
    },
    LogEnd {
        p: i32,
        o: i64,
    },
    Commit {
        #[allow(dead_code)] // part of the format; commits are ordered by their ack time t
        t0: Ms,
        t: Ms,
        g: String,
        #[serde(rename = "gen")]
        generation: i32,
        m: String,
        p: i32,
        o: i64,
    },
    Committed {
        t0: Ms,
        g: String,
        p: i32,
        o: i64,
    },
}

fn partition(p: i32) -> Result<i32, String> {
    if p < 0 {
        return Err(format!("partition {p} is negative"));
    }
    Ok(p)
}

fn offset(o: i64, min: i64) -> Result<i64, String> {
    if o < min {
        return Err(format!("offset {o} is below {min}"));
    }
    Ok(o)
}

/// `WRITER:SEQ` → (writer, seq), or why not.
pub fn split_value(v: &str) -> Result<(&str, u64), String> {
    let bad = || {
        format!("value {v:?} is not WRITER:SEQ (a non-empty writer without ':', then a decimal sequence number)")
    };
    let (w, seq) = v.split_once(':').ok_or_else(bad)?;
    if w.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let seq = seq.parse::<u64>().map_err(|_| bad())?;
    Ok((w, seq))
}

impl History {
    fn value(&mut self, v: &str) -> Result<Id, String> {
        let (w, seq) = split_value(v)?;
        let id = self.values.intern(v);
        if id.0 as usize == self.value_key.len() {
            let w = self.writers.intern(w);
            self.value_key.push((w, seq));
        }
        Ok(id)
    }

    /// Adds one line's event; Err(why) when it is malformed (nothing is added then).
    pub fn add_line(&mut self, line: &str) -> Result<(), String> {
        let ev: Line = serde_json::from_str(line).map_err(|e| e.to_string())?;
        match ev {
            Line::Ack { t, p, o, v } => {
                let (p, o) = (partition(p)?, o.map(|o| offset(o, 0)).transpose()?);
                let v = self.value(&v)?;
                self.acks.push(Ack { t, p, o, v });
            }
            Line::Fail { p, v, e, .. } => {
                let p = partition(p)?;
                let v = self.value(&v)?;
                self.fails.push(Fail { p, v, e });
            }
            Line::Read { c, p, o, v, .. } => {
                let (p, o) = (partition(p)?, offset(o, 0)?);
                let v = self.value(&v)?;
                let c = self.names.intern(&c);
                self.reads.push(Read { c, p, o, v });
            }
            Line::Log { p, o, v } => {
                let (p, o) = (partition(p)?, offset(o, 0)?);
                let v = self.value(&v)?;
                self.log.entry(p).or_default().push((o, v));
            }
            Line::LogEnd { p, o } => {
                let (p, o) = (partition(p)?, offset(o, 0)?);
                let end = self.log_end.entry(p).or_insert(o);
                *end = (*end).max(o);
            }
            Line::Commit {
                t,
                g,
                generation,
                m,
                p,
                o,
                ..
            } => {
                let (p, o) = (partition(p)?, offset(o, 0)?);
                let (g, m) = (self.names.intern(&g), self.names.intern(&m));
                self.commits.push(Commit {
                    t,
                    g,
                    generation,
                    m,
                    p,
                    o,
                });
            }
            Line::Committed { t0, g, p, o } => {
                let (p, o) = (partition(p)?, offset(o, -1)?);
                let g = self.names.intern(&g);
                self.committed.push(Committed { t0, g, p, o });
            }
        }
        self.lines += 1;
        Ok(())
    }

    /// Reads one file's lines into the history.
    pub fn load(&mut self, path: &str) -> Result<(), Malformed> {
        let io = |e: std::io::Error, line| Malformed {
            file: path.to_string(),
            line,
            why: format!("cannot read: {e}"),
        };
        let file = std::fs::File::open(path).map_err(|e| io(e, 0))?;
        self.add_reader(path, BufReader::new(file))
            .map_err(|e| match e {
                LoadError::Io(err, line) => io(err, line),
                LoadError::Line(m) => m,
            })
    }

    fn add_reader(&mut self, name: &str, mut r: impl BufRead) -> Result<(), LoadError> {
        self.files += 1;
        let mut buf = String::new();
        let mut n = 0;
        loop {
            buf.clear();
            n += 1;
            if r.read_line(&mut buf).map_err(|e| LoadError::Io(e, n))? == 0 {
                return Ok(());
            }
            let line = buf.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            self.add_line(line).map_err(|why| {
                let shown: String = line.chars().take(200).collect();
                LoadError::Line(Malformed {
                    file: name.to_string(),
                    line: n,
                    why: format!("{why} in {shown}"),
                })
            })?;
        }
    }

    /// A history from in-memory files (name, text): the tests' loader.
    #[cfg(test)]
    pub fn from_texts(files: &[(&str, &str)]) -> Result<History, Malformed> {
        let mut h = History::default();
        for (name, text) in files {
            h.add_reader(name, text.as_bytes()).map_err(|e| match e {
                LoadError::Io(err, line) => Malformed {
                    file: name.to_string(),
                    line,
                    why: err.to_string(),
                },
                LoadError::Line(m) => m,
            })?;
        }
        Ok(h)
    }
}

enum LoadError {
    Io(std::io::Error, usize),
    Line(Malformed),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(text: &str) -> String {
        match History::from_texts(&[("h.jsonl", text)]) {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(m) => m.to_string(),
        }
    }

    #[test]
    fn every_op_parses_into_its_event() {
        let h = History::from_texts(&[(
            "a",
            concat!(
                r#"{"op":"ack","t":5,"p":1,"o":7,"v":"ck:00000042"}"#,
                "\n",
                r#"{"op":"fail","t":6,"p":2,"v":"ck:43","e":"timed out"}"#,
                "\n\n",
                r#"{"op":"read","t":7,"c":"c1","p":1,"o":7,"v":"ck:00000042"}"#,
                "\n",
                r#"{"op":"log","p":1,"o":7,"v":"ck:00000042"}"#,
                "\n",
                r#"{"op":"log_end","p":1,"o":8}"#,
                "\n",
                r#"{"op":"commit","t0":8,"t":9,"g":"g","gen":3,"m":"m-1","p":1,"o":8}"#,
                "\n",
                r#"{"op":"committed","t0":10,"g":"g","p":1,"o":-1}"#,
                "\n",
            ),
        )])
        .unwrap();
        assert_eq!((h.lines, h.files), (7, 1));
        let a = &h.acks[0];
        assert_eq!(
            (a.t, a.p, a.o, h.values.name(a.v)),
            (5, 1, Some(7), "ck:00000042")
        );
        assert_eq!(h.writers.name(h.value_key[a.v.0 as usize].0), "ck");
        assert_eq!(h.value_key[a.v.0 as usize].1, 42);
        assert_eq!((h.fails[0].p, h.fails[0].e.as_str()), (2, "timed out"));
        assert_eq!(h.names.name(h.reads[0].c), "c1");
        assert_eq!(h.reads[0].v, a.v, "one value, one id");
        assert_eq!(h.log[&1], vec![(7, a.v)]);
        assert_eq!(h.log_end[&1], 8);
        let c = &h.commits[0];
        assert_eq!(
            (c.t, c.generation, h.names.name(c.m), c.o),
            (9, 3, "m-1", 8)
        );
        assert_eq!((h.committed[0].t0, h.committed[0].o), (10, -1));
    }

    #[test]
    fn malformed_lines_name_file_line_and_reason() {
        let ok = r#"{"op":"log_end","p":0,"o":3}"#;
        let m = malformed(&format!(
            "{ok}\n{{\"op\":\"ack\",\"t\":1,\"p\":0,\"o\":2,\"v\":\"nocolon\"}}\n"
        ));
        assert!(
            m.starts_with("h.jsonl:2: malformed history line: value \"nocolon\" is not WRITER:SEQ"),
            "{m}"
        );
        assert!(
            malformed(r#"{"op":"ack","t":1,"p":0,"o":2,"v":"w:12x"}"#).contains("not WRITER:SEQ")
        );
        assert!(malformed(r#"{"op":"ack","t":1,"p":0,"o":2,"v":":12"}"#).contains("not WRITER:SEQ"));
        assert!(
            malformed(r#"{"op":"ack","t":1,"p":0,"o":2,"v":"a:b:12"}"#).contains("not WRITER:SEQ")
        );
        assert!(
            malformed(r#"{"op":"ack","t":1,"p":0,"o":2,"v":"w:99999999999999999999"}"#)
                .contains("not WRITER:SEQ")
        );
        assert!(malformed(r#"{"op":"ack","t":1,"p":0,"v":"w:1"}"#).contains("missing field `o`"));
        assert!(
            malformed(r#"{"op":"ack","t":1,"p":0,"o":1,"off":1,"v":"w:1"}"#)
                .contains("unknown field `off`")
        );
        assert!(malformed(r#"{"op":"acked","t":1}"#).contains("unknown variant `acked`"));
        assert!(malformed(r#"{"t":1}"#).contains("missing field `op`"));
        assert!(malformed(r#"{"op":"log","p":-1,"o":0,"v":"w:1"}"#)
            .contains("partition -1 is negative"));
        assert!(
            malformed(r#"{"op":"read","t":1,"c":"c","p":0,"o":-1,"v":"w:1"}"#)
                .contains("offset -1 is below 0")
        );
        assert!(
            malformed(r#"{"op":"committed","t0":1,"g":"g","p":0,"o":-2}"#)
                .contains("offset -2 is below -1")
        );
        // A line torn by a killed writer.
        assert!(malformed(r#"{"op":"log","p":0,"o":0,"v":"w:"#).starts_with("h.jsonl:1: malformed"));
    }

    #[test]
    fn merged_files_share_interned_values_and_keep_the_highest_log_end() {
        let h = History::from_texts(&[
            ("producer", r#"{"op":"ack","t":1,"p":0,"o":0,"v":"w:1"}"#),
            (
                "consumer",
                "{\"op\":\"log\",\"p\":0,\"o\":0,\"v\":\"w:1\"}\n{\"op\":\"log_end\",\"p\":0,\"o\":1}\n",
            ),
            ("late reader", r#"{"op":"log_end","p":0,"o":0}"#),
        ])
        .unwrap();
        assert_eq!((h.files, h.lines, h.values.len()), (3, 4, 1));
        assert_eq!(h.log_end[&0], 1);
        let err = History::from_texts(&[("one", "{}\n"), ("two", "")])
            .err()
            .unwrap();
        assert_eq!(err.file, "one");
    }
}
