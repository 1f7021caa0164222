"""confluent-kafka (librdkafka 2.x) core checks.

  ck_core.py codec CODEC      produce 2,000 keyed records with (duplicate) headers and
                              explicit timestamps, acks=all, compression CODEC; consume with
                              a manual-assignment consumer; compare everything
  ck_core.py idempotent       same with enable.idempotence=true (InitProducerId)
  ck_core.py admin            create_topics (3 partitions), list_topics, describe, delete_topics
  ck_core.py authorized-ops   describe_topics / describe_cluster with
                              include_authorized_operations (no ACLs: every operation)
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, NODE_ID, check, eq, main, record, topic_name, wait_until

N = 2000
# Explicit record timestamps an hour in the past: old enough to be distinct from append
# time, recent enough that retention (7 days) and time-based segment rolling leave them alone.
BASE_TS = (int(time.time()) - 3600) * 1000


def create_topic(admin, name, partitions=1):
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                             operation_timeout=30, request_timeout=30)
    fs[name].result(timeout=60)


def produce(topic, codec, n=N, extra=None, partition=0):
    conf = {"bootstrap.servers": BOOTSTRAP, "acks": "all", "compression.type": codec,
            "linger.ms": 5, "message.timeout.ms": 60000}
    conf.update(extra or {})
    p = Producer(conf)
    reports = []

    def dr(err, msg):
        reports.append((err, msg.partition() if msg else None, msg.offset() if msg else None))

    for i in range(n):
        key, value, headers = record(i, codec)
        while True:
            try:
                p.produce(topic, value=value, key=key, headers=headers, partition=partition,
                          timestamp=BASE_TS + i, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(90)
    eq(remaining, 0, "messages still in queue after flush(90)")
    errs = [r for r in reports if r[0] is not None]
    check(not errs, f"{len(errs)} delivery errors, first: {errs[:1]}")
    eq(len(reports), n, "delivery reports")
    offsets = sorted(r[2] for r in reports)
    eq(offsets, list(range(n)), "delivered offsets (dense from 0)")


def consume(topic, n, partition=0, start=0):
    # No group.id: pure manual assignment, no coordinator needed.
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "enable.auto.commit": False,
                  "group.id": "unused-" + topic, "enable.auto.offset.store": False})
    c.assign([TopicPartition(topic, partition, start)])
    out = []
    deadline = time.time() + 90
    try:
        while len(out) < n and time.time() < deadline:
            for m in c.consume(num_messages=1000, timeout=1.0):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                out.append(m)
    finally:
        c.close()
    eq(len(out), n, "records consumed within 90s")
    return out


def verify(msgs, codec, first=0):
    for j, m in enumerate(msgs):
        i = first + j
        key, value, headers = record(i, codec)
        eq(m.offset(), i, f"offset of record {i}")
        eq(m.key(), key, f"key of record {i}")
        eq(m.value(), value, f"value of record {i}")
        eq(m.headers(), headers, f"headers of record {i}")
        eq(m.timestamp(), (1, BASE_TS + i), f"(timestamp type CreateTime=1, timestamp) of record {i}")


def t_codec(codec, extra=None):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = topic_name(f"ck-{codec}")
    create_topic(admin, topic)
    produce(topic, codec, extra=extra)
    verify(consume(topic, N), codec)
    # Consume from the middle: the broker must return the batch holding offset 1234 and
    # the client drops the records before it.
    verify(consume(topic, N - 1234, start=1234), codec, first=1234)


def t_admin():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = topic_name("ck-admin")
    create_topic(admin, topic, partitions=3)
    md = admin.list_topics(timeout=30)
    check(topic in md.topics, f"{topic} not in list_topics: {sorted(md.topics)}")
    tmd = md.topics[topic]
    check(tmd.error is None, f"topic error {tmd.error}")
    eq(sorted(tmd.partitions), [0, 1, 2], "partition ids")
    for p in tmd.partitions.values():
        eq(p.leader, NODE_ID, f"leader of partition {p.id}")
        eq(list(p.replicas), [NODE_ID], f"replicas of partition {p.id}")
        eq(list(p.isrs), [NODE_ID], f"isr of partition {p.id}")
    eq(sorted(b.id for b in md.brokers.values()), [NODE_ID], "broker ids")
    check(md.cluster_id, f"cluster id empty: {md.cluster_id!r}")
    # describe_topics (Metadata with topic ids) and describe_cluster
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    eq(len(desc.partitions), 3, "describe_topics partitions")
    check(str(desc.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), f"topic id is zero: {desc.topic_id}")
    cl = admin.describe_cluster(request_timeout=30).result(timeout=30)
    eq([n.id for n in cl.nodes], [NODE_ID], "describe_cluster nodes")
    check(cl.controller is not None and cl.controller.id == NODE_ID, f"controller {cl.controller}")
    eq(cl.cluster_id, md.cluster_id, "cluster id (describe_cluster vs metadata)")
    # Creating it again must fail with TOPIC_ALREADY_EXISTS.
    fs = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], request_timeout=30)
    try:
        fs[topic].result(timeout=30)
        raise AssertionError("second create_topics succeeded")
    except Exception as e:  # noqa: BLE001
        code = e.args[0].code() if e.args and hasattr(e.args[0], "code") else None
        eq(code, KafkaError.TOPIC_ALREADY_EXISTS, f"second create error ({e})")
    admin.delete_topics([topic], operation_timeout=30, request_timeout=30)[topic].result(timeout=60)
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, 15, "topic gone from list_topics")


def t_authorized_ops():
    from confluent_kafka import TopicCollection as TC
    from confluent_kafka.admin import AclOperation as Op
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = topic_name("ck-ops")
    create_topic(admin, topic, partitions=2)
    # No authorizer: a TOPIC allows everything it supports, a CLUSTER likewise (Kafka's
    # AclEntry.supportedOperations).
    want_topic = {Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.ALTER, Op.DESCRIBE,
                  Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}
    want_cluster = {Op.CREATE, Op.ALTER, Op.DESCRIBE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS,
                    Op.ALTER_CONFIGS, Op.IDEMPOTENT_WRITE}
    desc = admin.describe_topics(TC([topic]), include_authorized_operations=True)[topic].result(timeout=30)
    eq(len(desc.partitions), 2, "describe_topics partitions")
    eq(set(desc.authorized_operations or []), want_topic, "topic authorized operations")
    plain = admin.describe_topics(TC([topic]))[topic].result(timeout=30)
    check(not plain.authorized_operations, f"operations not requested but got {plain.authorized_operations}")
    cl = admin.describe_cluster(include_authorized_operations=True, request_timeout=30).result(timeout=30)
    eq(set(cl.authorized_operations or []), want_cluster, "cluster authorized operations")
    eq([n.id for n in cl.nodes], [NODE_ID], "describe_cluster nodes")
    admin.delete_topics([topic], operation_timeout=30, request_timeout=30)[topic].result(timeout=60)


def run():
    cmd = sys.argv[1]
    if cmd == "codec":
        t_codec(sys.argv[2])
    elif cmd == "idempotent":
        t_codec("lz4", extra={"enable.idempotence": True, "max.in.flight.requests.per.connection": 5})
    elif cmd == "admin":
        t_admin()
    elif cmd == "authorized-ops":
        t_authorized_ops()
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(run)
