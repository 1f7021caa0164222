"""kafka-python (pure Python) core checks.

  kp_core.py codec CODEC      produce 2,000 keyed records with (duplicate) headers and
                              explicit timestamps, acks=all, compression CODEC; consume them
                              with assign + seek_to_beginning; compare everything
  kp_core.py admin            KafkaAdminClient create_topics / list_topics / describe_topics /
                              delete_topics
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from common import BOOTSTRAP, NODE_ID, check, eq, main, record, topic_name, wait_until

N = 2000
BASE_TS = (int(time.time()) - 3600) * 1000  # recent: see ck_core.BASE_TS


def produce(topic, codec):
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all",
                      compression_type=None if codec == "none" else codec,
                      linger_ms=5, request_timeout_ms=30000, max_block_ms=60000)
    futs = []
    for i in range(N):
        key, value, headers = record(i, codec)
        futs.append(p.send(topic, key=key, value=value, headers=headers, partition=0,
                           timestamp_ms=BASE_TS + i))
    p.flush(timeout=90)
    offsets = [f.get(timeout=60).offset for f in futs]
    p.close(timeout=30)
    eq(offsets, list(range(N)), "delivered offsets (dense from 0)")


def consume(topic, n):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=30000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    out = []
    deadline = time.time() + 90
    while len(out) < n and time.time() < deadline:
        for recs in c.poll(timeout_ms=1000, max_records=1000).values():
            out.extend(recs)
    c.close()
    eq(len(out), n, "records consumed within 90s")
    return out


def t_codec(codec):
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    topic = topic_name(f"kp-{codec}")
    admin.create_topics([NewTopic(topic, 1, 1)], timeout_ms=30000)
    admin.close()
    produce(topic, codec)
    for i, m in enumerate(consume(topic, N)):
        key, value, headers = record(i, codec)
        eq(m.offset, i, f"offset of record {i}")
        eq(m.key, key, f"key of record {i}")
        eq(m.value, value, f"value of record {i}")
        eq(list(m.headers), headers, f"headers of record {i}")
        eq((m.timestamp_type, m.timestamp), (0, BASE_TS + i), f"(timestamp type CreateTime=0, timestamp) of record {i}")


def t_admin():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    topic = topic_name("kp-admin")
    admin.create_topics([NewTopic(topic, 3, 1)], timeout_ms=30000)
    check(topic in admin.list_topics(), f"{topic} not in list_topics")
    d = admin.describe_topics([topic])
    eq(len(d), 1, "describe_topics result count")
    eq(d[0]["error_code"], 0, "describe_topics error code")
    parts = sorted(d[0]["partitions"], key=lambda p: p["partition_index"])
    eq([p["partition_index"] for p in parts], [0, 1, 2], "partitions")
    eq([p["leader_id"] for p in parts], [NODE_ID] * 3, "leaders")
    eq([p["replica_nodes"] for p in parts], [[NODE_ID]] * 3, "replicas")
    cl = admin.describe_cluster()
    eq([b["broker_id"] for b in cl["brokers"]], [NODE_ID], "describe_cluster brokers")
    eq(cl["controller_id"], NODE_ID, "describe_cluster controller id")
    check(cl["cluster_id"], "cluster id empty")
    try:
        admin.create_topics([NewTopic(topic, 3, 1)], timeout_ms=30000)
        raise AssertionError("second create_topics succeeded")
    except TopicAlreadyExistsError:
        pass
    admin.delete_topics([topic], timeout_ms=30000)
    wait_until(lambda: topic not in admin.list_topics(), 15, "topic gone from list_topics")
    admin.close()


def run():
    cmd = sys.argv[1]
    if cmd == "codec":
        t_codec(sys.argv[2])
    elif cmd == "admin":
        t_admin()
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(run)
