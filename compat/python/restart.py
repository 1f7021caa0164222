"""Restart durability with confluent-kafka (run.sh restarts the broker between phases).

  restart.py before STATE     create a 3-partition topic, produce N records to partition 0,
                              consume them back, save topic id / cluster id to STATE
  restart.py after STATE      (broker restarted) consume: all N present and identical; the
                              topic id, partition count and cluster id are unchanged; produce
                              N more: offsets continue densely from N; consume all 2N
  restart.py crashed STATE    (broker killed with SIGKILL after `after`, then started again)
                              every acknowledged record of the 2N is still there, identical;
                              the log accepts writes again at offset 2N
"""
import json
import sys

from confluent_kafka import TopicCollection, TopicPartition, Consumer
from confluent_kafka.admin import AdminClient

import ck_core
from common import BOOTSTRAP, eq, main, topic_name, check

N = 3000
CODEC = "snappy"


def ids(admin, topic):
    d = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    cl = admin.describe_cluster(request_timeout=30).result(timeout=30)
    return {"topic_id": str(d.topic_id), "partitions": len(d.partitions), "cluster_id": cl.cluster_id}


def watermarks(topic):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "unused-" + topic})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    finally:
        c.close()


def before(state):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = topic_name("restart")
    ck_core.create_topic(admin, topic, partitions=3)
    ck_core.produce(topic, CODEC, n=N)
    ck_core.verify(ck_core.consume(topic, N), CODEC)
    eq(watermarks(topic), (0, N), "watermarks (low, high) before restart")
    s = {"topic": topic, "base_ts": ck_core.BASE_TS, **ids(admin, topic)}
    check(s["cluster_id"], "cluster id empty")
    json.dump(s, open(state, "w"))
    print("state:", s)


def after(state):
    s = json.load(open(state))
    topic = s["topic"]
    ck_core.BASE_TS = s.pop("base_ts")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    eq(watermarks(topic), (0, N), "watermarks (low, high) after restart")
    ck_core.verify(ck_core.consume(topic, N), CODEC)
    now = {"topic": topic, **ids(admin, topic)}
    eq(now, s, "topic id / partition count / cluster id across restart")
    # Produce N more: record i of the second half is record N+i of ck_core.record, so
    # produce them one by one with explicit offsets checked by the delivery reports.
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "compression.type": CODEC,
                  "linger.ms": 5, "enable.idempotence": True})
    offsets = []

    def dr(err, msg):
        offsets.append(msg.offset() if err is None else ("error", str(err)))

    for i in range(N, 2 * N):
        key, value, headers = ck_core.record(i, CODEC)
        while True:
            try:
                p.produce(topic, key=key, value=value, headers=headers, partition=0,
                          timestamp=ck_core.BASE_TS + i, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    eq(p.flush(90), 0, "messages still queued after flush(90)")
    errs = [o for o in offsets if not isinstance(o, int)]
    check(not errs, f"{len(errs)} delivery errors after restart, first: {errs[:1]}")
    eq(sorted(offsets), list(range(N, 2 * N)), "offsets after restart (dense from N)")
    ck_core.verify(ck_core.consume(topic, 2 * N), CODEC)
    eq(watermarks(topic), (0, 2 * N), "watermarks (low, high) at the end")


def crashed(state):
    # A process crash (not a power loss) loses nothing acknowledged: the records were in the
    # page cache before the producer heard back, and recovery validates the active segment.
    s = json.load(open(state))
    topic = s["topic"]
    ck_core.BASE_TS = s.pop("base_ts")
    eq(watermarks(topic), (0, 2 * N), "watermarks (low, high) after SIGKILL and recovery")
    ck_core.verify(ck_core.consume(topic, 2 * N), CODEC)
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
    got = []
    p.produce(topic, value=b"after-crash", partition=0,
              on_delivery=lambda err, msg: got.append(err or msg.offset()))
    eq(p.flush(60), 0, "message still queued after flush(60)")
    eq(got, [2 * N], "first offset after crash recovery")


if __name__ == "__main__":
    phases = {"before": before, "after": after, "crashed": crashed}
    main(lambda: phases[sys.argv[1]](sys.argv[2]))
