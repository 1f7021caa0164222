#!/usr/bin/env python3
"""Synchronous offset commits per second from one librdkafka (confluent-kafka) consumer.

Commits 8 partitions of topic "cbt" (created if missing) in a loop against the broker at
argv[1]; argv[2] commits (default 3000) after 200 warm-up ones. Prints commits/s and the
mean time per commit. Run it with the compat venv's python (compat/python installs
confluent-kafka). A benchmark, not a test: it asserts nothing."""
import sys, time
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic("cbt", 8, 1)]).values():
    try:
        f.result()
    except Exception:  # TOPIC_ALREADY_EXISTS on a second run
        pass
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "cb", "enable.auto.commit": False})
n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
tps = [TopicPartition("cbt", p, 0) for p in range(8)]
for i in range(200):  # warm-up
    for t in tps: t.offset = i
    c.commit(offsets=tps, asynchronous=False)
t0 = time.perf_counter()
for i in range(n):
    for t in tps: t.offset = 1000 + i
    c.commit(offsets=tps, asynchronous=False)
dt = time.perf_counter() - t0
print(f"{n / dt:.0f} commits/s (8 partitions each), {dt / n * 1e6:.0f} us per commit")
c.close()
