"""Workload for scripts/console-test, driven by confluent-kafka (pinned in
compat/python/requirements.txt).

  workload.py produce   TOPIC           create TOPIC (3 partitions) and produce 10 records
                                         to each partition, one batch per record
  workload.py load      TOPIC SECONDS  background load for the throughput chart: ~200
                                         records/s to TOPIC (auto-created)
  workload.py compact   TOPIC           create TOPIC (1 partition, cleanup.policy=compact,
                                         1 MiB segments, min.cleanable.dirty.ratio 0.01) and
                                         produce 2,500 records of ~1 KB over 25 keys (several
                                         sealed segments for the log cleaner)
  workload.py txn       TOPIC ID SECONDS create TOPIC (1 partition); transactional id ID
                                         commits 5 records, then holds a transaction of 3
                                         records open for SECONDS (prints "open"), then aborts
  workload.py commit    GROUP TOPIC     offsets-only group: commit p0=2 without joining
  workload.py consumer  GROUP TOPIC DIR a live member: joins GROUP, commits p0=4 p1=7
                                         p2=10, then keeps polling (staying Stable, not
                                         committing) until DIR/stop exists; writes
                                         DIR/ready once the commit succeeded and it has
                                         fetched at least once

Every step is bounded by timeouts; failures exit non-zero with a message.
"""
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
PARTITIONS = 3
PER_PARTITION = 10
# Committed offsets of the live group, and the lag the console and /metrics must show.
LIVE_COMMITS = {0: 4, 1: 7, 2: 10}
EMPTY_COMMITS = {0: 2}


def produce(topic):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fut = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
                              operation_timeout=30)
    fut[topic].result(timeout=30)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 0, "acks": "all"})
    errors = []

    def done(err, _msg):
        if err is not None:
            errors.append(err)

    for part in range(PARTITIONS):
        for i in range(PER_PARTITION):
            value = f"order {part}-{i}".encode()
            if part == 1 and i == 0:
                value = bytes([0, 159, 146, 150, 255])  # binary: shown as hex
            p.produce(topic, key=f"k{part}-{i}".encode(), value=value, partition=part,
                      headers=[("source", b"console-test"), ("seq", str(i).encode())],
                      on_delivery=done)
            # One batch per record: the records-in/out counters count whole batches.
            if p.flush(30) != 0:
                sys.exit("produce: flush timed out")
    if errors:
        sys.exit(f"produce: {errors[0]}")
    print(f"produced {PARTITIONS * PER_PARTITION} records to {topic}")


def compact(topic):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    cfg = {"cleanup.policy": "compact", "segment.bytes": str(1 << 20),
           "min.cleanable.dirty.ratio": "0.01"}
    fut = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=cfg)],
                              operation_timeout=30)
    fut[topic].result(timeout=30)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5, "acks": "all"})
    errors = []

    def done(err, _msg):
        if err is not None:
            errors.append(err)

    n = 2500
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=f"key-{i % 25}".encode(),
                          value=f"{i}-".encode() + os.urandom(500).hex().encode(), on_delivery=done)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    if p.flush(60) != 0:
        sys.exit("compact: flush timed out")
    if errors:
        sys.exit(f"compact: {errors[0]}")
    print(f"produced {n} records over 25 keys to {topic}")


def txn(topic, txn_id, seconds):
    """Commits a transaction of 5 records, then holds a second one (3 records) open for
    `seconds` (prints "open" once its records are written), then aborts it."""
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fut = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                              operation_timeout=30)
    fut[topic].result(timeout=30)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": txn_id, "linger.ms": 0})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"committed {i}".encode(), partition=0)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, value=f"open {i}".encode(), partition=0)
    if p.flush(30) != 0:
        sys.exit("txn: flush timed out")
    print("open", flush=True)
    time.sleep(float(seconds))
    p.abort_transaction(30)
    print("aborted")


def load(topic, seconds):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5})
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        p.produce(topic, value=f"load {i}".encode())
        i += 1
        p.poll(0)
        time.sleep(0.005)
    p.flush(10)
    print(f"load: {i} records")


def commit(group, topic):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                  "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in EMPTY_COMMITS.items()],
                 asynchronous=False)
    finally:
        c.close()
    print(f"committed {EMPTY_COMMITS} for {group}")


def consumer(group, topic, state_dir):
    c = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "client.id": "console-test-consumer",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    })
    assigned = []
    c.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(parts))
    deadline = time.time() + 60
    while len(assigned) < PARTITIONS:
        if time.time() > deadline:
            sys.exit(f"consumer: assignment incomplete after 60 s: {assigned}")
        c.poll(0.2)
    offsets = [TopicPartition(topic, p, o) for p, o in LIVE_COMMITS.items()]
    c.commit(offsets=offsets, asynchronous=False)
    # Keep consuming (never committing again), so Fetch runs and the group stays Stable
    # with a known lag.
    fetched = 0
    deadline = time.time() + 30
    while fetched == 0 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            fetched += 1
    open(os.path.join(state_dir, "ready"), "w").write(f"fetched {fetched}\n")
    print(f"consumer ready: committed {LIVE_COMMITS}, fetched {fetched}", flush=True)
    stop = os.path.join(state_dir, "stop")
    deadline = time.time() + 600
    while not os.path.exists(stop) and time.time() < deadline:
        c.poll(0.5)
    c.close()


def main():
    cmd = sys.argv[1]
    try:
        if cmd == "produce":
            produce(sys.argv[2])
        elif cmd == "compact":
            compact(sys.argv[2])
        elif cmd == "load":
            load(sys.argv[2], float(sys.argv[3]))
        elif cmd == "txn":
            txn(sys.argv[2], sys.argv[3], sys.argv[4])
        elif cmd == "commit":
            commit(sys.argv[2], sys.argv[3])
        elif cmd == "consumer":
            consumer(sys.argv[2], sys.argv[3], sys.argv[4])
        else:
            sys.exit(f"unknown command {cmd}")
    except KafkaException as e:
        sys.exit(f"{cmd}: {e}")


if __name__ == "__main__":
    main()
