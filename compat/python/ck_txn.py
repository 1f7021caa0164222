"""confluent-kafka (librdkafka 2.x) transactions against the broker (transaction protocol v1:
AddPartitionsToTxn v0, EndTxn v0-1, TxnOffsetCommit v0-3 as librdkafka sends them).

  ck_txn.py commit-abort     Three transactions over 2 partitions: 100 records committed, 50
                             aborted, 30 committed. A read_committed consumer from the start gets
                             exactly the 130 committed records, in order, skipping the aborted
                             ones (control batches and the aborted list); read_uncommitted gets
                             all 180 records.
  ck_txn.py open             While a transaction is open, read_committed stops at the last
                             stable offset (its end offset is the LSO, ListOffsets with
                             read_committed) and sees none of its records; read_uncommitted
                             sees them; after the commit read_committed sees them too.
  ck_txn.py fencing          A second producer with the same transactional.id fences the first:
                             the first one's commit fails with a fatal error, its open
                             transaction is aborted, the second one's commits are visible.
  ck_txn.py killed           A producer killed in the middle of a transaction (own process,
                             transaction.timeout.ms=3000): the broker aborts the transaction
                             after its timeout, the LSO moves past it and read_committed never
                             sees its records.
  ck_txn.py send-offsets     Consume-transform-produce: a consumer group reads an input topic,
                             a transactional producer writes the output and commits the group's
                             offsets in the same transaction (send_offsets_to_transaction). An
                             aborted transaction commits no offsets (the committed offset stays),
                             a committed one does; the output holds every input record once.
"""
import os
import subprocess
import sys
import time
import uuid

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, check, eq, main, topic_name, wait_until


def create(t, partitions=1):
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for f in a.create_topics([NewTopic(t, partitions, 1)]).values():
        f.result(30)


def txn_producer(txn_id, **extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "transactional.id": txn_id, "linger.ms": 5}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


def consumer(isolation, group=None, **extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": group or f"g-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": isolation}
    conf.update(extra)
    return Consumer(conf)


def read_all(t, partitions, isolation, want, limit=30):
    """Every record of the topic (assign from offset 0) until `want` records, then a quiet
    second more: [(partition, offset, value)]."""
    c = consumer(isolation)
    c.assign([TopicPartition(t, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + limit
    quiet_until = None
    while time.time() < deadline:
        for m in c.consume(500, 0.3):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consume error: {m.error()}")
            out.append((m.partition(), m.offset(), m.value().decode()))
        if len(out) >= want:
            quiet_until = quiet_until or time.time() + 1.0
            if time.time() >= quiet_until:
                break
    c.close()
    return out


def produce_txn(p, t, values, partitions=2, commit=True):
    p.begin_transaction()
    for i, v in enumerate(values):
        p.produce(t, value=v.encode(), partition=i % partitions)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)
        p.abort_transaction(30)


def commit_abort():
    t = topic_name("txn-ca")
    create(t, 2)
    p = txn_producer(f"ca-{uuid.uuid4().hex[:8]}")
    a = [f"a{i}" for i in range(100)]
    b = [f"b{i}" for i in range(50)]
    c = [f"c{i}" for i in range(30)]
    produce_txn(p, t, a)
    produce_txn(p, t, b, commit=False)
    produce_txn(p, t, c)
    committed = read_all(t, 2, "read_committed", 130)
    values = [v for _, _, v in committed]
    eq(sorted(values), sorted(a + c), "read_committed values")
    for part in (0, 1):
        mine = [v for p_, _, v in committed if p_ == part]
        eq(mine, [v for i, v in enumerate(a) if i % 2 == part] + [v for i, v in enumerate(c) if i % 2 == part],
           f"read_committed order in partition {part}")
    everything = read_all(t, 2, "read_uncommitted", 180)
    eq(sorted(v for _, _, v in everything), sorted(a + b + c), "read_uncommitted values")
    # Offsets: 100 + 50 + 30 records and one marker per transaction and partition.
    lo, hi = consumer("read_committed").get_watermark_offsets(TopicPartition(t, 0, 0), timeout=10)
    eq(hi, 50 + 25 + 15 + 3, "partition 0 end offset (records + 3 markers)")


def open_txn():
    t = topic_name("txn-open")
    create(t, 1)
    done = txn_producer(f"open-a-{uuid.uuid4().hex[:8]}")
    produce_txn(done, t, [f"x{i}" for i in range(10)], partitions=1)
    p = txn_producer(f"open-b-{uuid.uuid4().hex[:8]}")
    p.begin_transaction()
    for i in range(20):
        p.produce(t, value=f"open{i}".encode(), partition=0)
    check(p.flush(30) == 0, "open transaction's records not flushed")
    rc = consumer("read_committed")
    ru = consumer("read_uncommitted")
    tp = TopicPartition(t, 0, 0)
    _, lso = rc.get_watermark_offsets(tp, timeout=10)
    _, hw = ru.get_watermark_offsets(tp, timeout=10)
    eq(lso, 11, "read_committed end offset (LSO) while a transaction is open")
    eq(hw, 31, "read_uncommitted end offset (high watermark)")
    eq(len(read_all(t, 1, "read_committed", 10, limit=10)), 10, "read_committed records while open")
    eq(len(read_all(t, 1, "read_uncommitted", 30, limit=10)), 30, "read_uncommitted records while open")
    p.commit_transaction(30)
    eq(len(read_all(t, 1, "read_committed", 30, limit=15)), 30, "read_committed records after the commit")
    _, lso = rc.get_watermark_offsets(tp, timeout=10)
    eq(lso, 32, "LSO after the commit marker")
    rc.close()
    ru.close()


def fencing():
    t = topic_name("txn-fence")
    create(t, 1)
    txn_id = f"fence-{uuid.uuid4().hex[:8]}"
    first = txn_producer(txn_id)
    first.begin_transaction()
    for i in range(10):
        first.produce(t, value=f"zombie{i}".encode(), partition=0)
    check(first.flush(30) == 0, "first producer's records not flushed")
    second = txn_producer(txn_id)  # fences the first; its open transaction is aborted
    produce_txn(second, t, [f"live{i}" for i in range(5)], partitions=1)
    fenced = False
    try:
        first.commit_transaction(30)
    except KafkaException as e:
        err = e.args[0]
        fenced = err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                               KafkaError.INVALID_PRODUCER_EPOCH)
        print(f"first producer's commit failed as expected: {err}")
    check(fenced, "the fenced producer's commit did not fail with a fencing error")
    got = [v for _, _, v in read_all(t, 1, "read_committed", 5, limit=15)]
    eq(got, [f"live{i}" for i in range(5)], "read_committed after fencing")


KILLED_CHILD = """
import os, sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": sys.argv[2],
              "transaction.timeout.ms": 3000})
p.init_transactions(30)
p.begin_transaction()
for i in range(25):
    p.produce(sys.argv[3], value=("doomed%d" % i).encode(), partition=0)
assert p.flush(30) == 0
print("flushed", flush=True)
os._exit(0)  # no commit, no abort: the broker must time the transaction out
"""


def killed():
    t = topic_name("txn-killed")
    create(t, 1)
    txn_id = f"killed-{uuid.uuid4().hex[:8]}"
    r = subprocess.run([sys.executable, "-c", KILLED_CHILD, BOOTSTRAP, txn_id, t],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "flushed" in r.stdout, f"child producer failed: {r.stdout} {r.stderr}")
    rc = consumer("read_committed")
    tp = TopicPartition(t, 0, 0)
    eq(rc.get_watermark_offsets(tp, timeout=10)[1], 0, "LSO while the dead producer's transaction is open")
    t0 = time.time()
    # The abort marker lands after transaction.timeout.ms (3 s) plus the broker's check interval.
    wait_until(lambda: rc.get_watermark_offsets(tp, timeout=5)[1] == 26, 30,
               "the LSO to pass the timed-out transaction's abort marker")
    print(f"aborted {time.time() - t0:.1f}s after the producer died")
    rc.close()
    # A committed record after it; read_committed sees only that.
    p = txn_producer(f"after-{uuid.uuid4().hex[:8]}")
    produce_txn(p, t, ["after"], partitions=1)
    eq([v for _, _, v in read_all(t, 1, "read_committed", 1, limit=15)], ["after"],
       "read_committed after the timed-out transaction")


def committed_offset(group, t):
    c = consumer("read_committed", group=group)
    got = c.committed([TopicPartition(t, 0)], timeout=10)
    c.close()
    return got[0].offset


def send_offsets():
    src, dst = topic_name("txn-in"), topic_name("txn-out")
    create(src, 1)
    create(dst, 1)
    plain = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(200):
        plain.produce(src, value=f"in{i}".encode(), partition=0)
    check(plain.flush(30) == 0, "input not flushed")
    group = f"eos-{uuid.uuid4().hex[:8]}"
    c = consumer("read_committed", group=group)
    c.subscribe([src])
    p = txn_producer(f"eos-{uuid.uuid4().hex[:8]}")
    seen = 0
    aborted_once = False
    deadline = time.time() + 60
    while seen < 200 and time.time() < deadline:
        msgs = [m for m in c.consume(50, 1.0) if not m.error()]
        if not msgs:
            continue
        abort_this = not aborted_once and seen >= 50
        # Read before the transaction: while its offsets are pending, a committed() (which
        # librdkafka sends with require_stable) waits out UNSTABLE_OFFSET_COMMIT.
        before = committed_offset(group, src) if abort_this else None
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, value=("out-" + m.value().decode()).encode(), partition=0)
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        if abort_this:
            p.abort_transaction(30)
            aborted_once = True
            eq(committed_offset(group, src), before, "committed offset after an aborted transaction")
            # Rewind to the last committed offsets and redo the batch.
            for tp in c.assignment():
                c.seek(TopicPartition(src, tp.partition, before))
            continue
        p.commit_transaction(30)
        seen += len(msgs)
    check(aborted_once, "the aborted round did not happen")
    eq(seen, 200, "input records processed")
    eq(committed_offset(group, src), 200, "the group's committed offset after the last commit")
    out = sorted(v for _, _, v in read_all(dst, 1, "read_committed", 200))
    eq(out, sorted(f"out-in{i}" for i in range(200)), "output: every input record exactly once")
    c.close()


CHECKS = {
    "commit-abort": commit_abort,
    "open": open_txn,
    "fencing": fencing,
    "killed": killed,
    "send-offsets": send_offsets,
}

if __name__ == "__main__":
    main(CHECKS[sys.argv[1]])
