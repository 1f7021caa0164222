"""History files of the cluster fault checks, and the Rust checker that judges them.

A check records what its clients saw, one JSON object a line (the format and the checked
invariants are in compat/history/events.rs and checks.rs): acknowledged and failed sends,
records live consumers read, offset commits and committed offsets read back, and at the end
the final log of every partition (read_final_log). check(*paths) then runs the checker
($RUNNEL_HISTORY_CHECK, built with the broker as `cargo build --release --example
history_check`) on the files of every client process of the check, prints its report, and
fails the check when it finds a violation. Values are "WRITER:SEQ", SEQ increasing in send
order per writer (e.g. "ck:00000042"). The files stay in the check's log dir for post-mortems.

History(path) is thread-safe (delivery callbacks run on librdkafka's threads); times are
wall-clock milliseconds, int(time.time() * 1000).
"""
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid

import common


def now_ms():
    return int(time.time() * 1000)


def history_path(name):
    """A new history file name in the check's log dir ($COMPAT_LOGDIR, else the temp dir)."""
    d = os.environ.get("COMPAT_LOGDIR") or tempfile.gettempdir()
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"history-{name}-{uuid.uuid4().hex[:8]}.jsonl")


class History:
    def __init__(self, path):
        self.path = path
        self._f = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()

    def _write(self, **event):
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._f.write(line + "\n")

    def ack(self, p, o, v):
        self._write(op="ack", t=now_ms(), p=p, o=o, v=v)

    def fail(self, p, v, err):
        self._write(op="fail", t=now_ms(), p=p, v=v, e=str(err))

    def read(self, consumer, p, o, v):
        self._write(op="read", t=now_ms(), c=consumer, p=p, o=o, v=v)

    def log(self, p, o, v):
        self._write(op="log", p=p, o=o, v=v)

    def log_end(self, p, hw):
        self._write(op="log_end", p=p, o=hw)

    def commit(self, g, gen, m, p, o, t0):
        """An offset commit sent at t0 and acknowledged now."""
        self._write(op="commit", t0=t0, t=now_ms(), g=g, gen=gen, m=m, p=p, o=o)

    def committed(self, g, p, o, t0):
        """A committed offset (-1: none) read back by an OffsetFetch started at t0."""
        self._write(op="committed", t0=t0, g=g, p=p, o=o)

    def close(self):
        with self._lock:
            self._f.close()


def read_final_log(consumer_conf, topic, partitions, history, limit_s=60):
    """Reads each partition from its low to its high watermark with a plain consumer (assign,
    no commits) into `history` as log lines and a log_end line; returns {p: (low, high, read)}.
    A partition not read to its end within limit_s is recorded as far as it got: the checker
    reports the missing offsets."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    conf = {"group.id": f"history-final-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest"}
    conf.update(consumer_conf)
    c = Consumer(conf)
    out = {}
    try:
        for p in partitions:
            deadline = time.time() + limit_s
            while True:
                try:
                    lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                    break
                except KafkaException:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.3)
            n, last = 0, lo - 1
            if hi > lo:
                c.assign([TopicPartition(topic, p, lo)])
                while last < hi - 1 and time.time() < deadline:
                    m = c.poll(1)
                    if m is None or m.error():
                        continue
                    if m.offset() < hi:
                        history.log(p, m.offset(), m.value().decode())
                        n += 1
                    last = m.offset()
                c.unassign()
            history.log_end(p, hi)
            out[p] = (lo, hi, n)
    finally:
        c.close()
    return out


def check(*paths):
    """Runs the checker on the history files; prints its report; fails on a violation (or a
    malformed history). Returns its summary line."""
    binary = os.environ.get("RUNNEL_HISTORY_CHECK", "")
    common.check(binary and os.access(binary, os.X_OK),
                 f"history checker not found: RUNNEL_HISTORY_CHECK={binary!r} "
                 "(build it with: cargo build --release --example history_check)")
    p = subprocess.run([binary, *paths], capture_output=True, text=True, timeout=300)
    print(p.stdout, end="")
    if p.stderr:
        print(p.stderr, end="")
    summary = next((line for line in p.stdout.splitlines() if line.startswith("history:")), "")
    common.check(p.returncode == 0, f"history check failed (exit {p.returncode}) on {' '.join(paths)}: "
                 + " | ".join(p.stdout.strip().splitlines()[-3:]))
    return summary
