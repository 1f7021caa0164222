//! The checks of a merged history (see events.rs for the format): each violation kind is
//! counted and its first `SHOWN` instances described.
//!
//! Invariants checked (the final log is the `log`/`log_end` lines, read after the faults):
//! - lost: every acknowledged (P, O, V) has V at offset O of P in the final log;
//! - duplicate ack: a value is reported (acknowledged or failed) at most once;
//! - duplicate: a value is in the final log at most once, acknowledged or not;
//! - misplaced: a failed send found in the log is in the partition it was sent to;
//! - order: per partition and writer, SEQ strictly increases with the offset;
//! - read changed: every record a live consumer read is the final log's record at that offset
//!   (not beyond its end, not in a hole), and two reads of one offset agree;
//! - commit backwards: per (group, partition, generation) acknowledged commits ordered by ack
//!   time never decrease; a committed offset read back (OffsetFetch started at t0) is never
//!   behind the latest commit acknowledged before t0, unless it equals a commit that was
//!   still unacknowledged then (that one may have landed later, so the read is legal);
//! - log incomplete: offsets are dense (no compaction, no transactions) from the first `log`
//!   offset of P to its `log_end` - 1, nothing at or above `log_end`, and every partition the
//!   history acknowledges or reads has a final log;
//! - log conflict: two final reads that disagree about the value at one offset.
//!
//! Not violations: a value in the log that nothing reported (its send was pending at the end),
//! a failed send in the log once (failures are indeterminate).
//!
//! Cost: sorting per partition and per group; lookups by binary search or by value id, so
//! time is O(n log n) and memory linear in the history.

use crate::events::{History, Id, Ms};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many instances of each kind are described.
pub const SHOWN: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Lost,
    DuplicateAck,
    Duplicate,
    Misplaced,
    Order,
    ReadChanged,
    CommitBackwards,
    LogIncomplete,
    LogConflict,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lost => "lost",
            Kind::DuplicateAck => "duplicate ack",
            Kind::Duplicate => "duplicate",
            Kind::Misplaced => "misplaced",
            Kind::Order => "order",
            Kind::ReadChanged => "read changed",
            Kind::CommitBackwards => "commit backwards",
            Kind::LogIncomplete => "log incomplete",
            Kind::LogConflict => "log conflict",
        }
    }
}

/// The violations of one kind: how many, and the first `SHOWN` described.
#[derive(Default)]
pub struct Findings {
    pub count: usize,
    pub first: Vec<String>,
}

/// What the checks found, and the counts the summary prints.
#[derive(Default)]
pub struct Report {
    pub found: BTreeMap<Kind, Findings>,
    acks: usize,
    fails: usize,
    fails_in_log: usize,
    reads: usize,
    log_records: BTreeMap<i32, usize>,
    partitions_in_order: usize,
    commits: usize,
    committed: usize,
    /// Per partition with acks, the longest time between consecutive acks (None: one ack).
    ack_gap: BTreeMap<i32, Option<Ms>>,
}

impl Report {
    fn flag(&mut self, kind: Kind, describe: impl FnOnce() -> String) {
        let f = self.found.entry(kind).or_default();
        f.count += 1;
        if f.first.len() < SHOWN {
            f.first.push(describe());
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.found.get(&kind).map_or(0, |f| f.count)
    }

    pub fn violations(&self) -> usize {
        self.found.values().map(|f| f.count).sum()
    }

    /// One line: the counts of the history and the longest ack gap per partition.
    pub fn summary(&self) -> String {
        let lost = self.count(Kind::Lost);
        let acks = if lost == 0 {
            format!("{} acks (all in the log at their offsets)", self.acks)
        } else {
            format!("{} acks ({lost} lost or moved)", self.acks)
        };
        let parts = self.log_records.len();
        let order = if self.partitions_in_order == parts {
            format!("order kept in {parts} partitions")
        } else {
            format!(
                "order kept in {} of {parts} partitions",
                self.partitions_in_order
            )
        };
        let log: Vec<String> = self
            .log_records
            .iter()
            .map(|(p, n)| format!("p{p} {n}"))
            .collect();
        let reads_bad = self.count(Kind::ReadChanged);
        let behind = self.count(Kind::CommitBackwards);
        let gaps: Vec<String> = self
            .ack_gap
            .iter()
            .map(|(p, g)| match g {
                Some(ms) => format!("p{p} {:.2} s", *ms as f64 / 1000.0),
                None => format!("p{p} -"),
            })
            .collect();
        format!(
            "history: {acks}, {} failed ({} in the log), {} duplicates, {order} (log records: {}); \
             {} reads agree with the log{}; {} commits, {} read-backs {}; \
             longest ack gap per partition: {}",
            self.fails,
            self.fails_in_log,
            self.count(Kind::Duplicate),
            if log.is_empty() { "none".to_string() } else { log.join(", ") },
            self.reads.saturating_sub(reads_bad),
            if reads_bad > 0 { format!(" ({reads_bad} do not)") } else { String::new() },
            self.commits,
            self.committed,
            if behind == 0 {
                "never behind".to_string()
            } else {
                format!("and commits: {behind} went backwards")
            },
            if gaps.is_empty() { "none".to_string() } else { gaps.join(", ") },
        )
    }
}

/// The final log per partition, sorted by offset with one value per offset, and where each
/// value first appears in it.
struct FinalLog<'h> {
    h: &'h History,
    parts: BTreeMap<i32, Vec<(i64, Id)>>,
    first_at: Vec<Option<(i32, i64)>>,
}

impl<'h> FinalLog<'h> {
    /// Sorts and deduplicates the `log` lines (merged files may each hold the final log);
    /// flags conflicting values at one offset and an incomplete log.
    fn build(h: &'h History, r: &mut Report) -> Self {
        let mut parts = BTreeMap::new();
        for (&p, lines) in &h.log {
            let mut v = lines.clone();
            v.sort_unstable();
            v.dedup();
            for w in v.windows(2) {
                if w[0].0 == w[1].0 {
                    let (o, a, b) = (w[0].0, w[0].1, w[1].1);
                    r.flag(Kind::LogConflict, || {
                        format!(
                            "p{p}@{o}: final reads disagree: {} and {}",
                            h.values.name(a),
                            h.values.name(b)
                        )
                    });
                }
            }
            v.dedup_by_key(|e| e.0);
            parts.insert(p, v);
        }
        let mut first_at = vec![None; h.values.len()];
        for (&p, entries) in &parts {
            for &(o, v) in entries {
                first_at[v.0 as usize].get_or_insert((p, o));
            }
        }
        let log = FinalLog { h, parts, first_at };
        log.completeness(r);
        log
    }

    fn completeness(&self, r: &mut Report) {
        let h = self.h;
        for (&p, entries) in &self.parts {
            let Some(&end) = h.log_end.get(&p) else {
                r.flag(Kind::LogIncomplete, || {
                    format!(
                        "p{p}: {} log lines but no log_end line: how far the final read got is unknown",
                        entries.len()
                    )
                });
                continue;
            };
            let mut next = entries.first().map(|e| e.0);
            for &(o, v) in entries {
                if o >= end {
                    r.flag(Kind::LogIncomplete, || {
                        format!(
                            "p{p}@{o}: {} at or above the log end {end}",
                            h.values.name(v)
                        )
                    });
                    continue;
                }
                if let Some(n) = next.filter(|&n| n < o) {
                    r.flag(Kind::LogIncomplete, || {
                        format!(
                            "p{p}: {} missing below the log end {end} (a hole)",
                            offsets(n, o)
                        )
                    });
                }
                next = Some(o + 1);
            }
            if let Some(n) = next.filter(|&n| n < end) {
                r.flag(Kind::LogIncomplete, || {
                    format!(
                        "p{p}: {} missing below the log end {end} (the read stopped short)",
                        offsets(n, end)
                    )
                });
            }
        }
        let used: BTreeSet<i32> = h
            .acks
            .iter()
            .map(|a| a.p)
            .chain(h.reads.iter().map(|x| x.p))
            .collect();
        for p in used {
            if !h.log_end.contains_key(&p) && !self.parts.contains_key(&p) {
                r.flag(Kind::LogIncomplete, || {
                    format!("p{p}: records acknowledged or read, but no final log of the partition (no log or log_end lines)")
                });
            }
        }
    }

    fn at(&self, p: i32, o: i64) -> Option<Id> {
        let e = self.parts.get(&p)?;
        e.binary_search_by_key(&o, |x| x.0).ok().map(|i| e[i].1)
    }

    /// What the final log has at (p, o), in words.
    fn describe_at(&self, p: i32, o: i64) -> String {
        if let Some(v) = self.at(p, o) {
            return format!("the log has {} there", self.h.values.name(v));
        }
        let end = self.h.log_end.get(&p);
        let first = self.parts.get(&p).and_then(|e| e.first()).map(|e| e.0);
        match (first, end) {
            (_, Some(&end)) if o >= end => format!("nothing there: the log ends at {end}"),
            (Some(first), _) if o < first => format!("nothing there: the log starts at {first}"),
            (None, None) => "no final log of the partition".to_string(),
            _ => "nothing there (a hole)".to_string(),
        }
    }

    fn where_is(&self, v: Id) -> String {
        match self.first_at[v.0 as usize] {
            Some((p, o)) => format!("the value is at p{p}@{o}"),
            None => "the value is nowhere in the log".to_string(),
        }
    }
}

/// The offsets from..to (exclusive), in words.
fn offsets(from: i64, to: i64) -> String {
    if to - from == 1 {
        format!("offset {from}")
    } else {
        format!("offsets {from}..{}", to - 1)
    }
}

/// Every check over the history.
pub fn check(h: &History) -> Report {
    let mut r = Report {
        acks: h.acks.len(),
        fails: h.fails.len(),
        reads: h.reads.len(),
        commits: h.commits.len(),
        committed: h.committed.len(),
        ..Report::default()
    };
    let log = FinalLog::build(h, &mut r);
    reports(h, &log, &mut r);
    log_contents(h, &log, &mut r);
    reads(h, &log, &mut r);
    commits_per_generation(h, &mut r);
    read_backs(h, &mut r);
    r
}

/// Acks and fails: lost, duplicate ack, misplaced; the fails found in the log; ack gaps.
fn reports(h: &History, log: &FinalLog, r: &mut Report) {
    #[derive(Clone, Copy)]
    enum Reported {
        Acked(i32, Option<i64>),
        Failed(i32),
    }
    let said = |x: Reported| match x {
        Reported::Acked(p, Some(o)) => format!("acknowledged at p{p}@{o}"),
        Reported::Acked(p, None) => format!("acknowledged in p{p} without an offset"),
        Reported::Failed(p) => format!("failed (sent to p{p})"),
    };
    let mut first: Vec<Option<Reported>> = vec![None; h.values.len()];
    let mut times: BTreeMap<i32, Vec<Ms>> = BTreeMap::new();
    for a in &h.acks {
        let name = h.values.name(a.v);
        let now = Reported::Acked(a.p, a.o);
        match first[a.v.0 as usize] {
            Some(before) => r.flag(Kind::DuplicateAck, || {
                format!("{name} {}, then {}", said(before), said(now))
            }),
            None => first[a.v.0 as usize] = Some(now),
        }
        match a.o {
            Some(o) if log.at(a.p, o) != Some(a.v) => r.flag(Kind::Lost, || {
                format!(
                    "{name} acknowledged at p{}@{o} (t {}): {}; {}",
                    a.p,
                    a.t,
                    log.describe_at(a.p, o),
                    log.where_is(a.v)
                )
            }),
            None if log.first_at[a.v.0 as usize].is_none_or(|(p, _)| p != a.p) => {
                r.flag(Kind::Lost, || {
                    format!(
                        "{name} acknowledged in p{} without an offset (t {}): {}",
                        a.p,
                        a.t,
                        log.where_is(a.v)
                    )
                })
            }
            _ => {}
        }
        times.entry(a.p).or_default().push(a.t);
    }
    for f in &h.fails {
        let name = h.values.name(f.v);
        let now = Reported::Failed(f.p);
        match first[f.v.0 as usize] {
            Some(before) => r.flag(Kind::DuplicateAck, || {
                format!("{name} {}, then {}", said(before), said(now))
            }),
            None => first[f.v.0 as usize] = Some(now),
        }
        if let Some((p, o)) = log.first_at[f.v.0 as usize] {
            r.fails_in_log += 1;
            if p != f.p {
                r.flag(Kind::Misplaced, || {
                    format!(
                        "{name} was sent to p{} (failed: {}) but is in the log at p{p}@{o}",
                        f.p, f.e
                    )
                });
            }
        }
    }
    for (p, mut ts) in times {
        ts.sort_unstable();
        let gap = ts.windows(2).map(|w| w[1] - w[0]).max();
        r.ack_gap.insert(p, gap);
    }
}

/// The final log itself: duplicates, per-writer order per partition, record counts.
fn log_contents(h: &History, log: &FinalLog, r: &mut Report) {
    for (&p, entries) in &log.parts {
        r.log_records.insert(p, entries.len());
        let mut last: HashMap<Id, (u64, Id, i64)> = HashMap::new();
        let mut in_order = true;
        for &(o, v) in entries {
            let name = h.values.name(v);
            let first = log.first_at[v.0 as usize];
            if first != Some((p, o)) {
                r.flag(Kind::Duplicate, || {
                    let (fp, fo) = first.unwrap_or((p, o));
                    format!("{name} at p{p}@{o}, and before at p{fp}@{fo}")
                });
            }
            let (writer, seq) = h.value_key[v.0 as usize];
            if let Some((lseq, lv, lo)) = last.insert(writer, (seq, v, o)) {
                // A value right after itself is a duplicate (flagged above), not disorder.
                if lv != v && seq <= lseq {
                    in_order = false;
                    r.flag(Kind::Order, || {
                        format!(
                            "p{p}: {name} at offset {o} after {} at offset {lo}",
                            h.values.name(lv)
                        )
                    });
                }
            }
        }
        if in_order {
            r.partitions_in_order += 1;
        }
    }
}

/// Records live consumers read: the final log's record at that offset, the same for all.
fn reads(h: &History, log: &FinalLog, r: &mut Report) {
    let mut first: HashMap<(i32, i64), usize> = HashMap::new();
    for (i, x) in h.reads.iter().enumerate() {
        let name = h.values.name(x.v);
        let consumer = h.names.name(x.c);
        if log.at(x.p, x.o) != Some(x.v) {
            r.flag(Kind::ReadChanged, || {
                format!(
                    "consumer {consumer} read {name} at p{}@{}; {}",
                    x.p,
                    x.o,
                    log.describe_at(x.p, x.o)
                )
            });
        }
        let j = *first.entry((x.p, x.o)).or_insert(i);
        let y = &h.reads[j];
        if y.v != x.v {
            r.flag(Kind::ReadChanged, || {
                format!(
                    "p{}@{}: consumer {} read {}, consumer {consumer} read {name}",
                    x.p,
                    x.o,
                    h.names.name(y.c),
                    h.values.name(y.v)
                )
            });
        }
    }
}

/// Per (group, partition, generation), acknowledged commits in ack-time order never decrease.
fn commits_per_generation(h: &History, r: &mut Report) {
    let mut idx: Vec<usize> = (0..h.commits.len()).collect();
    idx.sort_by_key(|&i| {
        let c = &h.commits[i];
        (c.g, c.p, c.generation, c.t, i)
    });
    for w in idx.windows(2) {
        let (a, b) = (&h.commits[w[0]], &h.commits[w[1]]);
        if (a.g, a.p, a.generation) == (b.g, b.p, b.generation) && b.o < a.o {
            r.flag(Kind::CommitBackwards, || {
                format!(
                    "group {} p{} generation {}: commit {} (member {}, acknowledged at t {}) after commit {} \
                     (member {}, acknowledged at t {})",
                    h.names.name(b.g),
                    b.p,
                    b.generation,
                    b.o,
                    h.names.name(b.m),
                    b.t,
                    a.o,
                    h.names.name(a.m),
                    a.t
                )
            });
        }
    }
}

/// Every committed offset read back is at or past the latest commit acknowledged before the
/// read started, or equals a commit acknowledged after that one (it may have landed later).
fn read_backs(h: &History, r: &mut Report) {
    struct Acked {
        t: Ms,
        o: i64,
    }
    /// One (group, partition): acknowledged commits in ack-time order, and for each offset
    /// the position of its last commit in that order.
    #[derive(Default)]
    struct Commits {
        list: Vec<Acked>,
        last: HashMap<i64, usize>,
    }
    let mut per: HashMap<(Id, i32), Commits> = HashMap::new();
    let mut idx: Vec<usize> = (0..h.commits.len()).collect();
    idx.sort_by_key(|&i| (h.commits[i].t, i));
    for i in idx {
        let c = &h.commits[i];
        let e = per.entry((c.g, c.p)).or_default();
        e.last.insert(c.o, e.list.len());
        e.list.push(Acked { t: c.t, o: c.o });
    }
    for x in &h.committed {
        let Some(Commits { list, last }) = per.get(&(x.g, x.p)) else {
            continue;
        };
        let n = list.partition_point(|c| c.t < x.t0);
        let Some(latest) = n.checked_sub(1).map(|k| &list[k]) else {
            continue;
        };
        let later = last.get(&x.o).is_some_and(|&k| k >= n);
        if x.o < latest.o && !later {
            r.flag(Kind::CommitBackwards, || {
                let saw = if x.o < 0 { "no committed offset".to_string() } else { format!("offset {}", x.o) };
                format!(
                    "group {} p{}: read back {saw} (OffsetFetch started at t {}), behind commit {} acknowledged at t {}",
                    h.names.name(x.g),
                    x.p,
                    x.t0,
                    latest.o,
                    latest.t
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(lines: &[String]) -> Report {
        check(&History::from_texts(&[("h", &lines.join("\n"))]).unwrap())
    }

    fn ack(t: Ms, p: i32, o: i64, v: &str) -> String {
        format!(r#"{{"op":"ack","t":{t},"p":{p},"o":{o},"v":"{v}"}}"#)
    }
    fn fail(p: i32, v: &str) -> String {
        format!(r#"{{"op":"fail","t":0,"p":{p},"v":"{v}","e":"Local: Message timed out"}}"#)
    }
    fn read(c: &str, p: i32, o: i64, v: &str) -> String {
        format!(r#"{{"op":"read","t":0,"c":"{c}","p":{p},"o":{o},"v":"{v}"}}"#)
    }
    fn log(p: i32, o: i64, v: &str) -> String {
        format!(r#"{{"op":"log","p":{p},"o":{o},"v":"{v}"}}"#)
    }
    fn log_end(p: i32, o: i64) -> String {
        format!(r#"{{"op":"log_end","p":{p},"o":{o}}}"#)
    }
    fn commit(t: Ms, generation: i32, p: i32, o: i64) -> String {
        format!(
            r#"{{"op":"commit","t0":{},"t":{t},"g":"g","gen":{generation},"m":"m1","p":{p},"o":{o}}}"#,
            t - 1
        )
    }
    fn committed(t0: Ms, p: i32, o: i64) -> String {
        format!(r#"{{"op":"committed","t0":{t0},"g":"g","p":{p},"o":{o}}}"#)
    }

    /// Two partitions, one writer "w": p0 = w:1 w:3 w:5, p1 = w:2 w:4; all acked but w:5,
    /// which failed and is in the log anyway; a consumer read everything; commits forward.
    fn clean() -> Vec<String> {
        vec![
            ack(1000, 0, 0, "w:1"),
            ack(1100, 1, 0, "w:2"),
            ack(1250, 0, 1, "w:3"),
            ack(1300, 1, 1, "w:4"),
            fail(0, "w:5"),
            fail(1, "w:6"),
            log(0, 0, "w:1"),
            log(0, 1, "w:3"),
            log(0, 2, "w:5"),
            log_end(0, 3),
            log(1, 0, "w:2"),
            log(1, 1, "w:4"),
            log_end(1, 2),
            read("c", 0, 0, "w:1"),
            read("c", 0, 1, "w:3"),
            read("c", 1, 1, "w:4"),
            commit(10, 1, 0, 1),
            commit(20, 1, 0, 3),
            commit(30, 2, 0, 2),
            committed(5, 0, -1),
            committed(25, 0, 3),
            committed(35, 0, 2),
        ]
    }

    fn only(r: &Report, kind: Kind, n: usize) {
        let all: Vec<(Kind, usize, &Vec<String>)> = r
            .found
            .iter()
            .map(|(k, f)| (*k, f.count, &f.first))
            .collect();
        assert_eq!(r.count(kind), n, "{all:?}");
        assert_eq!(r.violations(), n, "other kinds found too: {all:?}");
    }

    #[test]
    fn a_clean_history_passes_with_its_figures() {
        let r = run(&clean());
        assert_eq!(r.violations(), 0);
        assert_eq!(
            r.summary(),
            "history: 4 acks (all in the log at their offsets), 2 failed (1 in the log), 0 duplicates, \
             order kept in 2 partitions (log records: p0 3, p1 2); 3 reads agree with the log; \
             3 commits, 3 read-backs never behind; longest ack gap per partition: p0 0.25 s, p1 0.20 s"
        );
    }

    #[test]
    fn an_acked_record_missing_or_moved_is_lost() {
        let mut h = clean();
        h.retain(|l| l != &log(0, 1, "w:3"));
        let r = run(&h);
        assert_eq!(r.count(Kind::Lost), 1);
        assert_eq!(
            r.found[&Kind::Lost].first[0],
            "w:3 acknowledged at p0@1 (t 1250): nothing there (a hole); the value is nowhere in the log"
        );
        assert_eq!(
            r.found[&Kind::LogIncomplete].first,
            ["p0: offset 1 missing below the log end 3 (a hole)"]
        );

        let mut h = clean();
        h[0] = ack(1000, 0, 1, "w:1");
        let r = run(&h);
        only(&r, Kind::Lost, 1);
        assert_eq!(
            r.found[&Kind::Lost].first[0],
            "w:1 acknowledged at p0@1 (t 1000): the log has w:3 there; the value is at p0@0"
        );
    }

    #[test]
    fn an_ack_without_an_offset_needs_its_value_in_that_partition() {
        let unknown =
            |p: i32, v: &str| format!(r#"{{"op":"ack","t":1400,"p":{p},"o":null,"v":"{v}"}}"#);
        // w:5 is in p0 (it was reported failed too, which is a duplicate ack).
        let mut h = clean();
        h.retain(|l| l != &fail(0, "w:5"));
        h.push(unknown(0, "w:5"));
        only(&run(&h), Kind::Lost, 0);
        let mut h = clean();
        h.retain(|l| l != &fail(0, "w:5"));
        h.push(unknown(1, "w:5"));
        let r = run(&h);
        only(&r, Kind::Lost, 1);
        assert!(
            r.found[&Kind::Lost].first[0].starts_with("w:5 acknowledged in p1 without an offset")
        );
        let mut h = clean();
        h.push(unknown(0, "w:9"));
        only(&run(&h), Kind::Lost, 1);
    }

    #[test]
    fn a_value_twice_in_the_log_is_a_duplicate() {
        let mut h = clean();
        h.retain(|l| l != &log_end(1, 2));
        h.push(log(1, 2, "w:4"));
        h.push(log_end(1, 3));
        let r = run(&h);
        only(&r, Kind::Duplicate, 1);
        assert_eq!(
            r.found[&Kind::Duplicate].first[0],
            "w:4 at p1@2, and before at p1@1"
        );
        // Across partitions too, and for a value nobody reported.
        let mut h = clean();
        h.retain(|l| l != &log_end(1, 2));
        h.push(log(1, 2, "w:5"));
        h.push(log_end(1, 3));
        only(&run(&h), Kind::Duplicate, 1);
    }

    #[test]
    fn two_reports_of_one_value_are_a_duplicate_ack() {
        let mut h = clean();
        h.push(ack(1400, 0, 1, "w:3"));
        let r = run(&h);
        only(&r, Kind::DuplicateAck, 1);
        assert_eq!(
            r.found[&Kind::DuplicateAck].first[0],
            "w:3 acknowledged at p0@1, then acknowledged at p0@1"
        );
        let mut h = clean();
        h.push(fail(0, "w:1"));
        only(&run(&h), Kind::DuplicateAck, 1);
    }

    #[test]
    fn a_failed_send_in_another_partition_is_misplaced() {
        let mut h = clean();
        h[4] = fail(1, "w:5");
        let r = run(&h);
        only(&r, Kind::Misplaced, 1);
        assert!(r.found[&Kind::Misplaced].first[0].starts_with("w:5 was sent to p1"));
    }

    #[test]
    fn a_writer_out_of_send_order_in_a_partition_is_flagged() {
        let mut h: Vec<String> = clean()
            .into_iter()
            .filter(|l| !l.contains(r#""op":"log""#))
            .collect();
        h.extend([
            log(0, 0, "w:1"),
            log(0, 1, "w:5"),
            log(0, 2, "w:3"),
            log(0, 3, "x:1"),
            log(0, 4, "x:2"),
        ]);
        h.extend([log(1, 0, "w:2"), log(1, 1, "w:4")]);
        h.retain(|l| l != &log_end(0, 3));
        h.push(log_end(0, 5));
        let r = run(&h);
        // (w:3 acknowledged at p0@1 is also lost: the log has w:5 there.)
        assert_eq!(r.count(Kind::Order), 1);
        assert_eq!(
            r.found[&Kind::Order].first[0],
            "p0: w:3 at offset 2 after w:5 at offset 1"
        );
        assert!(
            r.summary().contains("order kept in 1 of 2 partitions"),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn a_read_the_final_log_does_not_have_is_a_changed_read() {
        let mut h = clean();
        h.push(read("c", 1, 2, "w:6"));
        let r = run(&h);
        only(&r, Kind::ReadChanged, 1);
        assert_eq!(
            r.found[&Kind::ReadChanged].first[0],
            "consumer c read w:6 at p1@2; nothing there: the log ends at 2"
        );
        let mut h = clean();
        h.push(read("d", 0, 1, "w:5"));
        let r = run(&h);
        assert_eq!(
            r.count(Kind::ReadChanged),
            2,
            "differs from the log and from c's read"
        );
        assert_eq!(
            r.found[&Kind::ReadChanged].first[1],
            "p0@1: consumer c read w:3, consumer d read w:5"
        );
    }

    #[test]
    fn commits_going_backwards_in_a_generation_or_lost_are_flagged() {
        let mut h = clean();
        h.push(commit(40, 2, 0, 1));
        let r = run(&h);
        assert_eq!(
            r.count(Kind::CommitBackwards),
            1,
            "a decrease within generation 2"
        );
        assert!(r.found[&Kind::CommitBackwards].first[0]
            .starts_with("group g p0 generation 2: commit 1"));

        let mut h = clean();
        h.push(committed(26, 0, 1));
        h.push(committed(27, 0, -1));
        let r = run(&h);
        only(&r, Kind::CommitBackwards, 2);
        assert_eq!(
            r.found[&Kind::CommitBackwards].first[1],
            "group g p0: read back no committed offset (OffsetFetch started at t 27), behind commit 3 \
             acknowledged at t 20"
        );
    }

    #[test]
    fn a_read_back_may_see_a_commit_that_was_still_in_flight() {
        // Commit 2 (generation 2) is acknowledged at t 30, after the read-back at 25 started.
        let mut h = clean();
        h.push(committed(25, 0, 2));
        assert_eq!(run(&h).violations(), 0);
    }

    #[test]
    fn holes_records_past_the_end_and_missing_logs_are_incomplete() {
        let mut h = clean();
        h.retain(|l| l != &log_end(0, 3));
        h.push(log_end(0, 5));
        let r = run(&h);
        only(&r, Kind::LogIncomplete, 1);
        assert_eq!(
            r.found[&Kind::LogIncomplete].first[0],
            "p0: offsets 3..4 missing below the log end 5 (the read stopped short)"
        );
        let mut h = clean();
        h.retain(|l| l != &log_end(0, 3));
        h.push(log_end(0, 2));
        let r = run(&h);
        only(&r, Kind::LogIncomplete, 1);
        assert_eq!(
            r.found[&Kind::LogIncomplete].first[0],
            "p0@2: w:5 at or above the log end 2"
        );
        let mut h = clean();
        h.retain(|l| !l.contains(r#""p":1"#) || l.contains("ack"));
        let r = run(&h);
        assert_eq!(r.count(Kind::LogIncomplete), 1, "p1 acked, no final log");
        assert_eq!(r.count(Kind::Lost), 2);
        assert!(r.found[&Kind::Lost].first[0]
            .ends_with("no final log of the partition; the value is nowhere in the log"));
    }

    #[test]
    fn merged_final_logs_agree_or_conflict() {
        let mut h = clean();
        h.push(log(1, 1, "w:4"));
        assert_eq!(run(&h).violations(), 0, "the same record read twice");
        let mut h = clean();
        h.push(log(1, 1, "w:7"));
        let r = run(&h);
        assert_eq!(r.count(Kind::LogConflict), 1);
        assert_eq!(
            r.found[&Kind::LogConflict].first[0],
            "p1@1: final reads disagree: w:4 and w:7"
        );
    }

    #[test]
    fn only_the_first_twenty_are_described_but_all_counted() {
        let mut h = vec![log_end(0, 0)];
        for i in 0..50 {
            h.push(ack(i, 0, i, &format!("w:{i}")));
        }
        let r = run(&h);
        assert_eq!(r.count(Kind::Lost), 50);
        assert_eq!(r.found[&Kind::Lost].first.len(), SHOWN);
    }

    /// A consistent history: records of up to 3 writers sent in seq order to random
    /// partitions, each acked (at its log offset), failed (in the log or not) or unreported;
    /// consumers read random log entries; commits per generation only move forward.
    fn consistent() -> impl Strategy<Value = Vec<String>> {
        let record = (0..3usize, 0..3i32, 0..4u8, any::<bool>());
        (
            prop::collection::vec(record, 1..120),
            prop::collection::vec(0..4i64, 0..12),
        )
            .prop_map(|(recs, steps)| {
                let mut seq = [0u64; 3];
                let mut next = [0i64; 3];
                let mut out = Vec::new();
                for (t, (w, p, fate, read_it)) in recs.into_iter().enumerate() {
                    seq[w] += 1 + (t as u64 % 2);
                    let v = format!("{}:{:06}", ["a", "b", "c"][w], seq[w]);
                    if fate == 3 {
                        out.push(fail(p, &v)); // failed, never written
                        continue;
                    }
                    let o = next[p as usize];
                    next[p as usize] += 1;
                    out.push(log(p, o, &v));
                    match fate {
                        0 | 1 => out.push(ack(t as Ms, p, o, &v)),
                        2 if read_it => out.push(fail(p, &v)),
                        _ => {}
                    }
                    if read_it {
                        out.push(read("c", p, o, &v));
                    }
                }
                for (p, &end) in next.iter().enumerate() {
                    out.push(log_end(p as i32, end));
                }
                let mut off = 0;
                for (k, step) in steps.into_iter().enumerate() {
                    off += step;
                    let t = 10 * (k as Ms + 1);
                    out.push(commit(t, 1 + k as i32 / 4, 0, off));
                    out.push(committed(t + 1, 0, off));
                }
                out
            })
    }

    fn acked_log_lines(h: &[String]) -> Vec<usize> {
        let acked: BTreeSet<(String, String)> = h
            .iter()
            .filter_map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).unwrap();
                (j["op"] == "ack").then(|| (j["p"].to_string(), j["o"].to_string()))
            })
            .collect();
        (0..h.len())
            .filter(|&i| {
                let j: serde_json::Value = serde_json::from_str(&h[i]).unwrap();
                j["op"] == "log" && acked.contains(&(j["p"].to_string(), j["o"].to_string()))
            })
            .collect()
    }

    proptest! {
        #[test]
        fn a_consistent_history_passes(h in consistent()) {
            let r = run(&h);
            prop_assert_eq!(r.violations(), 0, "{:?}", r.found.keys().collect::<Vec<_>>());
        }

        #[test]
        fn a_consistent_history_split_over_files_passes(h in consistent(), cut in any::<prop::sample::Index>()) {
            let at = cut.index(h.len() + 1);
            let (a, b) = (h[..at].join("\n"), h[at..].join("\n"));
            let r = check(&History::from_texts(&[("a", &a), ("b", &b)]).unwrap());
            prop_assert_eq!(r.violations(), 0);
        }

        #[test]
        fn deleting_an_acked_record_from_the_log_is_caught(h in consistent(), pick in any::<prop::sample::Index>()) {
            let candidates = acked_log_lines(&h);
            prop_assume!(!candidates.is_empty());
            let mut h = h;
            h.remove(candidates[pick.index(candidates.len())]);
            prop_assert!(run(&h).count(Kind::Lost) >= 1);
        }

        #[test]
        fn swapping_two_values_in_the_log_is_caught(
            h in consistent(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()
        ) {
            let acked = acked_log_lines(&h);
            let logs: Vec<usize> = (0..h.len()).filter(|&i| h[i].contains(r#""op":"log","#)).collect();
            prop_assume!(!acked.is_empty() && logs.len() >= 2);
            let i = acked[a.index(acked.len())];
            let j = logs[b.index(logs.len())];
            prop_assume!(i != j);
            let value = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["v"].as_str().unwrap().to_string();
            let (vi, vj) = (value(&h[i]), value(&h[j]));
            let mut h = h;
            h[i] = h[i].replace(&vi, &vj);
            h[j] = h[j].replace(&vj, &vi);
            prop_assert!(run(&h).count(Kind::Lost) >= 1);
        }
    }
}
