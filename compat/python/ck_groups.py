"""confluent-kafka (librdkafka 2.x) consumer-group checks.

  ck_groups.py consume            two group members on a 4-partition topic share it; every
                                  record exactly once; commits; committed() = end offsets;
                                  a fresh member of the group gets nothing old
  ck_groups.py consume-848        the same with group.protocol=consumer (KIP-848, server-side
                                  uniform assignor): every record once, the members' assignments
                                  never overlap, a third member joins and takes its share
  ck_groups.py member GROUP TOPIC child process for the Java "mixed" check: prints
                                  ASSIGNED / REC p/o / COMMIT ok|failed lines until killed
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import ck_core
from common import BOOTSTRAP, check, eq, main, topic_name

P = 4
PER = 500


def group_consumer(group, **extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"}
    conf.update(extra)
    return Consumer(conf)


def produce(topic):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5})
    for i in range(PER):
        for part in range(P):
            p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=part)
        p.poll(0)
    eq(p.flush(60), 0, "unflushed messages")


def t_consume():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic, group = topic_name("ck-grp"), topic_name("ck-g")
    ck_core.create_topic(admin, topic, partitions=P)
    members = [group_consumer(group, **{"client.id": f"ck-m{i}"}) for i in range(2)]
    assigned = [set(), set()]

    for i, c in enumerate(members):
        def on_assign(consumer, parts, i=i):
            assigned[i] = {p.partition for p in parts}

        def on_revoke(consumer, parts, i=i):
            assigned[i] = set()
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)

    deadline = time.time() + 90
    while time.time() < deadline and not (all(assigned) and sum(map(len, assigned)) == P):
        for c in members:
            c.poll(0.1)
    check(all(assigned) and sum(map(len, assigned)) == P, f"2 members did not share {P} partitions within 90 s: {assigned}")
    print("assignment:", assigned)
    produce(topic)
    seen = {}
    deadline = time.time() + 60
    while time.time() < deadline and len(seen) < P * PER:
        for i, c in enumerate(members):
            msgs = c.consume(500, 0.2)
            for m in msgs:
                if m.error():
                    raise AssertionError(f"consume error: {m.error()}")
                k = (m.partition(), m.offset())
                check(k not in seen, f"record {k} delivered twice")
                check(m.partition() in assigned[i], f"member {i} got record of unassigned partition {k}")
                seen[k] = i
            if msgs:
                c.commit(asynchronous=False)
    eq(len(seen), P * PER, "distinct records consumed")
    eq(sorted(seen), sorted((p, o) for p in range(P) for o in range(PER)), "records consumed")
    check(len(set(seen.values())) == 2, "only one member consumed")
    comm = members[0].committed([TopicPartition(topic, p) for p in range(P)], timeout=30)
    eq([(t.partition, t.offset) for t in comm], [(p, PER) for p in range(P)], "committed offsets")
    for c in members:
        c.close()
    late = group_consumer(group)
    late.subscribe([topic])
    end = time.time() + 8
    got = 0
    while time.time() < end:
        m = late.poll(0.2)
        if m is not None and not m.error():
            got += 1
    late.close()
    eq(got, 0, "records re-delivered to a fresh member after all were committed")


def consumer_848(group, **extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "group.protocol": "consumer",
            "group.remote.assignor": "uniform"}
    conf.update(extra)
    return Consumer(conf)


def owned(c):
    return {tp.partition for tp in c.assignment()}


def settle(members, want, limit):
    """Polls until the members own disjoint sets covering every partition, each non-empty."""
    deadline = time.time() + limit
    while time.time() < deadline:
        for c in members:
            c.poll(0.1)
        sets = [owned(c) for c in members]
        check(sum(map(len, sets)) == len(set().union(*sets)), f"a partition owned twice: {sets}")
        if all(sets) and len(set().union(*sets)) == want:
            return sets
    raise AssertionError(f"members did not share {want} partitions within {limit} s: {[owned(c) for c in members]}")


def t_consume_848():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic, group = topic_name("ck-848"), topic_name("ck-g848")
    ck_core.create_topic(admin, topic, partitions=P)
    members = [consumer_848(group, **{"client.id": f"ck848-m{i}"}) for i in range(2)]
    for c in members:
        c.subscribe([topic])
    print("assignment:", settle(members, P, 90))
    produce(topic)
    seen = {}
    deadline = time.time() + 90
    while time.time() < deadline and len(seen) < P * PER:
        for c in members:
            msgs = c.consume(500, 0.2)
            for m in msgs:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                k = (m.partition(), m.offset())
                check(k not in seen, f"record {k} delivered twice")
                seen[k] = c
            if msgs:
                c.commit(asynchronous=False)
    eq(len(seen), P * PER, "distinct records consumed")
    comm = members[0].committed([TopicPartition(topic, p) for p in range(P)], timeout=30)
    eq([(t.partition, t.offset) for t in comm], [(p, PER) for p in range(P)], "committed offsets")
    # A third member joins: revocation first, then the 3 share the 4 partitions.
    t0 = time.time()
    third = consumer_848(group, **{"client.id": "ck848-m2"})
    third.subscribe([topic])
    members.append(third)
    print("after a join:", settle(members, P, 60), f"{time.time() - t0:.2f}s")
    for c in members:
        c.close()
    late = consumer_848(group)
    late.subscribe([topic])
    end = time.time() + 8
    got = 0
    while time.time() < end:
        m = late.poll(0.2)
        if m is not None and not m.error():
            got += 1
    late.close()
    eq(got, 0, "records re-delivered to a fresh member after all were committed")


def member(group, topic):
    c = group_consumer(group, **{"client.id": "librdkafka-member"})
    state = {"a": None}

    def show(consumer, parts=None):
        a = ",".join(str(p) for p in sorted(tp.partition for tp in consumer.assignment()))
        if a != state["a"]:
            print("ASSIGNED", a, flush=True)
            state["a"] = a

    c.subscribe([topic], on_assign=lambda cons, parts: None, on_revoke=lambda cons, parts: None)
    try:
        while True:
            msgs = c.consume(200, 0.2)
            show(c)
            good = [m for m in msgs if not m.error()]
            for m in msgs:
                if m.error() and m.error().code() != KafkaError._PARTITION_EOF:
                    print("error:", m.error(), flush=True)
            if not good:
                continue
            print("".join(f"REC {m.partition()}/{m.offset()}\n" for m in good), end="", flush=True)
            try:
                c.commit(asynchronous=False)
                print("COMMIT ok", flush=True)
            except KafkaException as e:
                print("COMMIT failed", e, flush=True)
    finally:
        c.close()


if __name__ == "__main__":
    if sys.argv[1] == "member":
        member(sys.argv[2], sys.argv[3])
    else:
        main({"consume": t_consume, "consume-848": t_consume_848}[sys.argv[1]])
