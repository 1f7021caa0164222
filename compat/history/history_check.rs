//! The history checker of the cluster fault-injection checks: reads the histories that the
//! client processes of one check wrote (JSON Lines, format in events.rs), merges them and
//! checks what was acknowledged against what is in the final log, what consumers read, and
//! how committed offsets moved (the invariants are listed in checks.rs).
//!
//!   history_check FILE...
//!
//! Exit status: 0 and a one-line summary when every check holds; 1 and, per violation kind,
//! the count and the first 20 instances; 2 when a line is malformed (file:line and why) or a
//! file cannot be read. The clients call it through compat/python/history.py and
//! compat/java/History.java with the binary from $RUNNEL_HISTORY_CHECK; it can be run by
//! hand on a history a check kept in its log directory.
//!
//! Built as a cargo example (no dependency on the broker's library): the fault checks of
//! compat/ need it next to the broker, from the same `cargo build --release`.

mod checks;
mod events;

use std::io::Write;

/// Checks the histories at `paths`, writes the outcome to `out`, returns the exit status.
fn run(paths: &[String], out: &mut impl Write) -> std::io::Result<i32> {
    if paths.is_empty() {
        writeln!(
            out,
            "usage: history_check FILE... (JSON Lines histories of one fault check)"
        )?;
        return Ok(2);
    }
    let mut h = events::History::default();
    for p in paths {
        if let Err(m) = h.load(p) {
            writeln!(out, "history_check: {m}")?;
            return Ok(2);
        }
    }
    let r = checks::check(&h);
    writeln!(
        out,
        "history_check: {} events from {} file(s)",
        h.lines, h.files
    )?;
    writeln!(out, "{}", r.summary())?;
    if r.violations() == 0 {
        return Ok(0);
    }
    for (kind, f) in &r.found {
        writeln!(out, "VIOLATION {}: {}", kind.name(), f.count)?;
        for d in &f.first {
            writeln!(out, "  {d}")?;
        }
        if f.count > f.first.len() {
            writeln!(out, "  ... and {} more", f.count - f.first.len())?;
        }
    }
    let kinds: Vec<String> = r
        .found
        .iter()
        .map(|(k, f)| format!("{} {}", k.name(), f.count))
        .collect();
    writeln!(
        out,
        "history_check: {} violations ({})",
        r.violations(),
        kinds.join(", ")
    )?;
    Ok(1)
}

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    let code = run(&paths, &mut out).unwrap_or_else(|e| {
        eprintln!("history_check: cannot write the report: {e}");
        2
    });
    drop(out);
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::run;
    use std::io::Write;

    fn file(dir: &tempfile::TempDir, name: &str, lines: &[&str]) -> String {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        path.to_string_lossy().into_owned()
    }

    fn outcome(paths: &[String]) -> (i32, String) {
        let mut out = Vec::new();
        let code = run(paths, &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    const PRODUCER: &[&str] = &[
        r#"{"op":"ack","t":1000,"p":0,"o":0,"v":"java:00000000"}"#,
        r#"{"op":"ack","t":1500,"p":0,"o":1,"v":"java:00000001"}"#,
        r#"{"op":"fail","t":1600,"p":0,"v":"java:00000002","e":"TimeoutException"}"#,
    ];

    #[test]
    fn merged_files_pass_with_a_summary() {
        let dir = tempfile::tempdir().unwrap();
        let consumer = [
            r#"{"op":"read","t":2000,"c":"py","p":0,"o":1,"v":"java:00000001"}"#,
            r#"{"op":"log","p":0,"o":0,"v":"java:00000000"}"#,
            r#"{"op":"log","p":0,"o":1,"v":"java:00000001"}"#,
            r#"{"op":"log_end","p":0,"o":2}"#,
        ];
        let paths = [
            file(&dir, "producer.jsonl", PRODUCER),
            file(&dir, "consumer.jsonl", &consumer),
        ];
        let (code, out) = outcome(&paths);
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            out,
            "history_check: 7 events from 2 file(s)\n\
             history: 2 acks (all in the log at their offsets), 1 failed (0 in the log), 0 duplicates, \
             order kept in 1 partitions (log records: p0 2); 1 reads agree with the log; 0 commits, \
             0 read-backs never behind; longest ack gap per partition: p0 0.50 s\n"
        );
        // The producer's file alone has no final log: its acks are unaccounted for.
        let (code, out) = outcome(&paths[..1]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("VIOLATION lost: 2\n"), "{out}");
        assert!(out.contains("VIOLATION log incomplete: 1\n"), "{out}");
        assert!(
            out.ends_with("history_check: 3 violations (lost 2, log incomplete 1)\n"),
            "{out}"
        );
    }

    #[test]
    fn a_malformed_line_or_missing_file_exits_2_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = file(&dir, "good.jsonl", PRODUCER);
        let bad = file(
            &dir,
            "bad.jsonl",
            &[
                PRODUCER[0],
                r#"{"op":"ack","t":1,"p":0,"o":2,"v":"java-7"}"#,
            ],
        );
        let (code, out) = outcome(&[good.clone(), bad.clone()]);
        assert_eq!(code, 2);
        assert!(
            out.starts_with(&format!(
                "history_check: {bad}:2: malformed history line: value \"java-7\""
            )),
            "{out}"
        );
        let missing = dir.path().join("nope").to_string_lossy().into_owned();
        let (code, out) = outcome(&[good, missing.clone()]);
        assert_eq!(code, 2);
        assert!(
            out.starts_with(&format!("history_check: {missing}: cannot read:")),
            "{out}"
        );
        assert_eq!(outcome(&[]).0, 2);
    }
}
