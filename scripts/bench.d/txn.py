#!/usr/bin/env python3
"""Transaction figures from librdkafka (confluent-kafka) against a running broker.

    python scripts/bench.d/txn.py HOST:PORT [SECONDS] [RF]

RF (default 1) is the replication factor of the topics it creates: against a cluster
(scripts/cluster), RF 3 measures the same figures with every write replicated to three brokers
(the transaction coordinator's log included), e.g. commit latency single broker vs cluster.

Run it with the compat venv's python (compat/python installs confluent-kafka). Prints:
  T1  commit latency: begin -> 10 records -> commit acknowledged, 300 transactions on one
      partition, p50/p99/max in ms;
  T2  records/s of one producer writing 100-byte records for SECONDS (default 10) to one
      partition, transactional (a commit every 100 ms) against the same producer
      non-transactional (idempotent, acks=all, linger.ms=5 for both);
  T3  consume throughput of T2's transactional topic from the beginning, read_committed
      against read_uncommitted (records/s, MB/s).
A benchmark, not a test: it asserts nothing beyond the counts it reads."""
import statistics
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOT = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
RF = int(sys.argv[3]) if len(sys.argv) > 3 else 1
VALUE = b"x" * 100


def topic(prefix):
    t = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": BOOT})  # kept alive until the futures resolve
    for f in admin.create_topics([NewTopic(t, 1, RF)]).values():
        f.result(30)
    return t


def producer(**extra):
    conf = {"bootstrap.servers": BOOT, "linger.ms": 5, "acks": "all", "enable.idempotence": True,
            "queue.buffering.max.messages": 1_000_000}
    conf.update(extra)
    return Producer(conf)


def commit_latency():
    t = topic("txb-lat")
    p = producer(**{"transactional.id": f"lat-{uuid.uuid4().hex[:8]}", "linger.ms": 0})
    p.init_transactions(30)
    lat = []
    for i in range(320):
        t0 = time.perf_counter()
        p.begin_transaction()
        for _ in range(10):
            p.produce(t, VALUE, partition=0)
        p.commit_transaction(30)
        if i >= 20:  # warm-up
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(f"T1 commit latency (10 records): p50 {statistics.median(lat):.2f} ms, "
          f"p99 {lat[int(len(lat) * 0.99)]:.2f} ms, max {lat[-1]:.2f} ms over {len(lat)} transactions")


def produce_for(t, transactional):
    extra = {"transactional.id": f"thr-{uuid.uuid4().hex[:8]}"} if transactional else {}
    p = producer(**extra)
    if transactional:
        p.init_transactions(30)
        p.begin_transaction()
    n = 0
    start = time.perf_counter()
    last_commit = start
    while time.perf_counter() - start < SECONDS:
        try:
            p.produce(t, VALUE, partition=0)
            n += 1
        except BufferError:
            p.poll(0.001)
        if n % 1000 == 0:
            p.poll(0)
            now = time.perf_counter()
            if transactional and now - last_commit >= 0.1:
                p.commit_transaction(30)
                p.begin_transaction()
                last_commit = now
    if transactional:
        p.commit_transaction(60)
    else:
        p.flush(60)
    dt = time.perf_counter() - start
    return n, dt


def consume_all(t, isolation, want):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": f"txb-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "fetch.max.bytes": 52428800, "enable.partition.eof": True})
    c.assign([TopicPartition(t, 0, 0)])
    n = nbytes = 0
    start = time.perf_counter()
    while n < want:
        msgs = c.consume(10000, 1.0)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF and n >= want:
                    break
                continue
            n += 1
            nbytes += len(m.value())
        if time.perf_counter() - start > 120:
            break
    dt = time.perf_counter() - start
    c.close()
    return n, nbytes, dt


def main():
    commit_latency()
    plain_t, txn_t = topic("txb-plain"), topic("txb-txn")
    n_plain, dt_plain = produce_for(plain_t, False)
    n_txn, dt_txn = produce_for(txn_t, True)
    print(f"T2 produce 100 B records for {SECONDS:.0f} s: non-transactional {n_plain / dt_plain:,.0f} records/s, "
          f"transactional (commit every 100 ms) {n_txn / dt_txn:,.0f} records/s "
          f"({n_txn / dt_txn / (n_plain / dt_plain):.2f}x)")
    for iso in ("read_uncommitted", "read_committed"):
        n, nbytes, dt = consume_all(txn_t, iso, n_txn)
        print(f"T3 consume {iso}: {n:,} records in {dt:.2f} s, {n / dt:,.0f} records/s, {nbytes / dt / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
