"""confluent-kafka (librdkafka 2.x) against the log cleaner.

  ck_compact.py switch   A topic with cleanup.policy=delete and 1 MiB segments gets 40,000
                         lz4-compressed keyed records over 10 keys (about 3.5 MiB, so several
                         closed segments). Key k3 gets a tombstone halfway, and key k9's last
                         record is a tombstone. incremental_alter_configs (what
                         `kafka-configs --alter` sends) then switches the topic to
                         cleanup.policy=compact with min.cleanable.dirty.ratio=0.01.
                         Within 60 s, a consumer reading from offset 0 must see:
                         - fewer records than were written;
                         - offsets strictly increasing, with gaps;
                         - every record it reads equal to the one acknowledged at that offset;
                         - the latest record of every key at the offset it was acknowledged at
                           (k9's tombstone included).
"""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic, ResourceType)

from common import BOOTSTRAP, check, eq, main, topic_name

N = 40_000
KEYS = 10


def produce(t):
    """Writes the records; returns {offset: (key, value)} as acknowledged."""
    acked, errors = {}, []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[msg.offset()] = (msg.key().decode(), None if msg.value() is None else msg.value().decode())

    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "compression.type": "lz4",
                  "linger.ms": 5, "enable.idempotence": True})
    for i in range(N):
        key = f"k{i % KEYS}"
        value = f"v{i}-" + os.urandom(30).hex()  # incompressible: several 1 MiB segments
        if i == N // 2 and key != "k3":
            p.produce(t, key="k3", value=None, partition=0, on_delivery=dr)
        if i == N - 1:
            key, value = "k9", None
        while True:
            try:
                p.produce(t, key=key, value=value, partition=0, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    check(p.flush(60) == 0, "records left unflushed")
    check(not errors, f"produce errors: {errors[:3]}")
    return acked


def read_all(t, end):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": topic_name("compact-read"),
                  "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    got = []
    deadline = time.time() + 30
    while time.time() < deadline and (not got or got[-1][0] < end - 1):
        m = c.poll(1)
        if m is not None and not m.error():
            got.append((m.offset(), m.key().decode(), None if m.value() is None else m.value().decode()))
    c.close()
    return got


def t_switch():
    t = topic_name("compact")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1,
                                  config={"segment.bytes": str(1 << 20)})])[t].result(timeout=60)
    acked = produce(t)
    eq(len(acked), N + 1, "acknowledged records")
    end = max(acked) + 1
    latest = {}
    for off in sorted(acked):
        latest[acked[off][0]] = off
    r = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.01", incremental_operation=AlterConfigOpType.SET),
    ])
    admin.incremental_alter_configs([r])[r].result(timeout=30)
    t0 = time.time()
    while True:
        got = read_all(t, end)
        if len(got) < N // 2 or time.time() - t0 > 60:
            break
        time.sleep(2)
    print(f"{len(got)} of {N + 1} records left after {time.time() - t0:.1f} s; "
          f"offsets {got[0][0] if got else None}..{got[-1][0] if got else None}")
    check(len(got) < N // 2, f"not compacted within 60 s: {len(got)} records still read")
    offsets = [o for o, _, _ in got]
    check(all(a < b for a, b in zip(offsets, offsets[1:])), "offsets not strictly increasing")
    for o, k, v in got:
        eq((k, v), acked.get(o), f"record at offset {o}")
    seen = {}
    for o, k, _ in got:
        seen[k] = o
    eq(seen, latest, "offset of the latest record of every key")
    eq(acked[latest["k9"]][1], None, "k9's latest record (a tombstone)")
    print(f"latest of every key at its acknowledged offset: {sorted(latest.items())}")


if __name__ == "__main__":
    cmds = {"switch": t_switch}
    main(lambda: cmds[sys.argv[1]](*sys.argv[2:]))
