#!/usr/bin/env python3
"""Produce latency with and without the log cleaner at work, from librdkafka (confluent-kafka).

    python scripts/bench.d/cleaner_p99.py HOST:PORT HTTP_HOST:PORT [MIB]

Run it with the compat venv's python against a broker started with a short cleaner backoff
(RUNNEL_LOG_CLEANER_BACKOFF_MS=1000). It fills a compacted topic with MIB (default 512) of
100-byte keyed records, 10% unique keys, while min.cleanable.dirty.ratio=0.99 keeps the
cleaner off it; then a probe producer (acks=1, linger.ms=0) sends 2,000 records/s of 100 B
to another topic for 15 s with the cleaner idle, then again while the cleaner compacts the
filled topic (min.cleanable.dirty.ratio set to 0.01). Prints p50/p99/p99.9/max of the probe's
send -> acknowledgement latency for both windows, and the cleaning pass's duration (from
/metrics). A benchmark, not a test."""
import sys
import threading
import time
import urllib.request
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic, ResourceType)

BOOT, HTTP = sys.argv[1], sys.argv[2]
MIB = int(sys.argv[3]) if len(sys.argv) > 3 else 512
admin = AdminClient({"bootstrap.servers": BOOT})


def metric(name):
    body = urllib.request.urlopen(f"http://{HTTP}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def ratio(topic, value):
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("min.cleanable.dirty.ratio", value, incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([r]).values():
        f.result(30)


def fill(topic):
    n = MIB * (1 << 20) // 100
    keys = n // 10
    p = Producer({"bootstrap.servers": BOOT, "linger.ms": 20, "batch.size": 1 << 20,
                  "compression.type": "none", "queue.buffering.max.messages": 1_000_000})
    value = b"v" * 80
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=b"%012d" % (i % keys), value=value, partition=0)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(300)
    return n


def probe(topic, seconds):
    lat = []
    p = Producer({"bootstrap.servers": BOOT, "linger.ms": 0, "acks": 1})

    def done(err, msg, t0):
        if err is None:
            lat.append((time.perf_counter() - t0) * 1000)

    end = time.perf_counter() + seconds
    nxt = time.perf_counter()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        p.produce(topic, b"x" * 100, on_delivery=lambda e, m, t0=t0: done(e, m, t0))
        p.poll(0)
        nxt += 1 / 2000
        wait = nxt - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    p.flush(30)
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(len(lat) * f))]
    return f"p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, p99.9 {q(0.999):.2f} ms, max {lat[-1]:.2f} ms ({len(lat)} records)"


def main():
    t = f"cp99-{uuid.uuid4().hex[:6]}"
    probe_t = f"cp99-probe-{uuid.uuid4().hex[:6]}"
    fs = admin.create_topics([
        NewTopic(t, 1, 1, config={"cleanup.policy": "compact", "segment.bytes": str(64 << 20),
                                  "min.cleanable.dirty.ratio": "0.99"}),
        NewTopic(probe_t, 1, 1)])
    for f in fs.values():
        f.result(30)
    t0 = time.time()
    n = fill(t)
    print(f"filled {t}: {n:,} records, {MIB} MiB in {time.time() - t0:.0f} s")
    print("cleaner idle:     ", probe(probe_t, 15))
    passes = metric("runnel_log_cleaner_passes_total")
    result = {}
    th = threading.Thread(target=lambda: result.update(busy=probe(probe_t, 15)))
    th.start()
    time.sleep(1)
    start = time.time()
    ratio(t, "0.01")
    while metric("runnel_log_cleaner_passes_total") <= passes and time.time() - start < 120:
        time.sleep(0.2)
    took = time.time() - start
    th.join()
    print("cleaner cleaning: ", result.get("busy"))
    print(f"cleaning pass over {MIB} MiB finished {took:.1f} s after the switch "
          f"(the probe window is 15 s from 1 s before it)")


if __name__ == "__main__":
    main()
