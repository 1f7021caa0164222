"""confluent-kafka (librdkafka 2.x) against a 3-node cluster, and the failover steps that
python/run.sh runs between scripts/cluster kill/start/down/up.

COMPAT_CLUSTER_NODES = "host:port,host:port,host:port" of nodes 1, 2, 3. "Node i's view" is
the Metadata answer of a fresh client whose only bootstrap is node i (checked: librdkafka names
the broker that answered in orig_broker_name).

  ck_cluster.py metadata               a 6-partition RF 3 topic created via node 1; every
                                       node's view: brokers 1,2,3 at their addresses, the same
                                       leaders/replicas/ISR, leader in 3 distinct replicas
  ck_cluster.py create-rf2-via-node3   create_topics RF 2 (4 partitions) via node 3; every view:
                                       2 distinct replicas each, every broker holds one
  ck_cluster.py create-after-kill T [DEAD VIA LEADER]
                                       (node DEAD, default 1, SIGKILLed at epoch T; LEADER: the
                                       quorum leader before) a topic created via node VIA
                                       (default 2) succeeds within 15 s of T
  ck_cluster.py fenced T [DEAD]        the other nodes' views list only the live brokers within
                                       the session timeout + 12 s of T
  ck_cluster.py leaders-moved [DEAD]   then no partition is led by DEAD, none has it in ISR
  ck_cluster.py rejoin T [NODE]        (node NODE, default 1, started at T) the other nodes'
                                       views list 3 brokers again within 20 s of T
  ck_cluster.py group-any-node         a consumer group (bootstrap: node 3) reads a 4-partition RF 3
                                       topic produced via node 2 and commits; its coordinator is
                                       the leader of its __consumer_offsets partition (internal,
                                       50 partitions); the committed offsets read back through
                                       every node's bootstrap
  ck_cluster.py no-acked-loss DIR      (DIR: the cluster dir) a 3-partition RF 3 topic with
                                       min.insync.replicas=2; an idempotent acks=all producer
                                       writes for 20 s while the leader of partition 0 is
                                       SIGKILLed at 2 s (started again at 7 s, so that the
                                       controller quorum keeps a majority) and the leader of
                                       partition 1 is SIGSTOPped from 11 s to 17 s. Then
                                       the history checker (history.py) on what the producer
                                       saw and the final log: every acknowledged record is in
                                       the log at its acknowledged offset, no record twice, each
                                       partition in send order; the ISR is whole again, and
                                       every partition is led by its preferred (first) replica
                                       again (the controller's rebalance, every
                                       COMPAT_CLUSTER_REBALANCE_MS); the unavailability windows
                                       are printed
  ck_cluster.py group-failover DIR     a consumer group (manual synchronous commits every 100
                                       records) reads a 3-partition RF 3 topic; after 1000 records
                                       its coordinator is SIGKILLed (started again 5 s later).
                                       The consumer carries on by itself and reads every record,
                                       the final commit covers the whole log, and a new consumer
                                       of the group resumes there (gets only records produced
                                       later); the commit outage and redeliveries are printed.
                                       Then the history checker on the sends, the records read,
                                       the commits and the committed offsets read back (through
                                       the new coordinator after the kill, and at the end): every
                                       read is the log's record, no commit acknowledged before
                                       a read-back is behind it, none goes backwards
  ck_cluster.py txn-leader-failover DIR
                                       a confluent-kafka transactional producer (bootstrap: all
                                       nodes) runs 30 transactions of 10 records on a 3-partition
                                       RF 3 topic (min.insync.replicas=2), every 5th aborted;
                                       inside the 10th the leader of partition 0 is SIGKILLed
                                       (started again 5 s later) and the transaction still
                                       commits (or aborts and is redone, as an application
                                       would). Then the transaction coordinator is SIGKILLed
                                       between two transactions and the producer carries on.
                                       A read_committed consumer reads exactly the committed
                                       records, once each, none of the aborted ones; commit
                                       latencies are printed
  ck_cluster.py refuse-duplicate-id DIR
                                       a second process claiming node id 2 (broker role, its
                                       own data dir and port) exits non-zero naming the problem
                                       (DUPLICATE_BROKER_REGISTRATION) while node 2 runs
  ck_cluster.py refuse-foreign-dir DIR a data dir that joined another cluster (a one-voter
                                       cluster of its own, stopped) is refused by this cluster,
                                       naming both cluster ids
  ck_cluster.py admin-every-broker     raw CreateTopics v4, CreatePartitions v1 and DeleteTopics
                                       v3 sent to each broker itself (stock clients send them to
                                       Metadata's controller id, so non-controllers would never
                                       see them): every broker forwards them and answers 0
  ck_cluster.py partition-dirs DIR     (white box) node i's data dir DIR/node-i/logs holds a
                                       directory TOPIC-P exactly for the partitions whose
                                       replicas include i (after the restart of all three)
  ck_cluster.py quorum-leader FILE     (not a check) the leader id that DescribeQuorum v2 (raw)
                                       names via every node, or "unknown", to FILE
  ck_cluster.py describe-quorum-versions
                                       DescribeQuorum advertised (ApiVersions), and every
                                       advertised version via each node: the same leader and
                                       voters in every answer
  ck_cluster.py snapshot STATE         every view agrees (20 s); save every topic's id and
                                       partition count and the cluster id to STATE
  ck_cluster.py compare STATE          (all nodes stopped, then started on the same data) every
                                       node's view has every saved topic, partition count and
                                       id, every partition a leader, and the cluster id (20 s)
"""
import json
import os
import socket
import struct
import sys
import time

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

import history
from common import check, eq, main, topic_name
from history import History, history_path, now_ms, read_final_log

NODES = os.environ.get("COMPAT_CLUSTER_NODES", "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292").split(",")
IDS = [1, 2, 3]
SESSION_S = int(os.environ.get("COMPAT_CLUSTER_SESSION_TIMEOUT_MS", "3000")) / 1000
CONVERGE_S = 15


def node(i):
    return NODES[i - 1]


def admin(i, **extra):
    conf = {"bootstrap.servers": node(i), "socket.connection.setup.timeout.ms": 3000}
    conf.update(extra)
    return AdminClient(conf)


def view(i, timeout=5):
    """Node i's own Metadata answer (all topics). A fresh client usually asks its bootstrap
    broker, but may already have learnt and connected to another one: then ask again."""
    for _ in range(20):
        md = admin(i).list_topics(timeout=timeout)
        if md.orig_broker_name.split("/")[0] == node(i):
            return md
    raise AssertionError(f"20 Metadata answers meant for node {i} ({node(i)}) came from other brokers, "
                         f"last {md.orig_broker_name}")


def brokers(md):
    return {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}


def user_topics(md):
    return {t: tm for t, tm in md.topics.items() if not t.startswith("__")}


def layout(md, topics=None):
    """{topic: [(partition, leader, replicas, isr), ...]} of the user topics (or the given ones)."""
    out = {}
    for t, tm in sorted(user_topics(md).items()):
        if topics is not None and t not in topics:
            continue
        out[t] = [(p.id, p.leader, list(p.replicas), sorted(p.isrs)) for _, p in sorted(tm.partitions.items())]
    return out


def poll(fn, limit_s, what):
    """Calls fn() until it returns (ok, detail) with ok true; fails with the last detail."""
    deadline = time.time() + limit_s
    detail = None
    while True:
        try:
            ok, detail = fn()
        except (KafkaException, AssertionError, OSError) as e:
            ok, detail = False, repr(e)
        if ok:
            return detail
        if time.time() > deadline:
            raise AssertionError(f"timed out after {limit_s:.0f}s waiting for {what}; last: {detail}")
        time.sleep(0.3)


def want_brokers(ids):
    return {i: node(i) for i in ids}


def partition_problems(parts, n, rf):
    bad = []
    if len(parts) != n:
        bad.append(f"{len(parts)} partitions, want {n}")
    for pid, leader, replicas, isr in parts:
        if len(replicas) != rf or len(set(replicas)) != rf:
            bad.append(f"p{pid} replicas {replicas}, want {rf} distinct")
        if not set(replicas) <= set(IDS):
            bad.append(f"p{pid} replicas {replicas} on unknown brokers")
        if leader not in replicas:
            bad.append(f"p{pid} leader {leader} not in replicas {replicas}")
        if sorted(isr) != sorted(replicas):
            bad.append(f"p{pid} ISR {isr} != replicas {replicas}")
    return bad


def converged_topic(t, n, rf):
    """(ok, detail): every node lists brokers 1,2,3 and the same correct layout of t."""
    layouts, bad = {}, []
    for i in IDS:
        md = view(i)
        if brokers(md) != want_brokers(IDS):
            bad.append(f"node {i} lists brokers {brokers(md)}")
        lay = layout(md, {t}).get(t)
        if lay is None:
            bad.append(f"node {i} does not know {t}")
            continue
        bad += [f"node {i}: {b}" for b in partition_problems(lay, n, rf)]
        layouts[i] = lay
    if len({json.dumps(v) for v in layouts.values()}) > 1:
        bad.append("views differ: " + "; ".join(f"node {i}: {v}" for i, v in layouts.items()))
    return not bad, ("; ".join(bad) if bad else layouts)


def create(i, t, n, rf):
    a = admin(i)  # (the client must outlive its futures: a collected handle fails them)
    fs = a.create_topics([NewTopic(t, num_partitions=n, replication_factor=rf)],
                                operation_timeout=20, request_timeout=20)
    fs[t].result(timeout=40)


# ---------------------------------------------------------------------------------------


def metadata():
    t = topic_name("ck-cluster")
    create(1, t, 6, 3)
    layouts = poll(lambda: converged_topic(t, 6, 3), CONVERGE_S, f"every node's view of {t}")
    leaders = {p[1] for p in layouts[1]}
    print(f"{t}: every node answers {layouts[1]}; leaders {sorted(leaders)}")
    md = view(2)
    print(f"cluster id {md.cluster_id}, controller id {md.controller_id}, brokers {brokers(md)}")
    check(md.controller_id in IDS, f"Metadata controller id {md.controller_id}, want a live broker")


def create_rf2_via_node3():
    t = topic_name("ck-rf2")
    a = admin(3)
    fs = a.create_topics([NewTopic(t, num_partitions=4, replication_factor=2)],
                         operation_timeout=20, request_timeout=20)
    fs[t].result(timeout=40)
    layouts = poll(lambda: converged_topic(t, 4, 2), CONVERGE_S, f"every node's view of {t}")
    held = {i: sum(i in p[2] for p in layouts[3]) for i in IDS}
    print(f"{t} via node 3: {layouts[3]}; replicas per broker {held}")
    check(all(held.values()), f"a broker holds no replica of {t}: {held}")


def group_any_node():
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer
    t = topic_name("ck-group")
    g = topic_name("ck-group-g")
    create(1, t, 4, 3)
    poll(lambda: converged_topic(t, 4, 3), CONVERGE_S, f"every node's view of {t}")
    p = Producer({"bootstrap.servers": node(2), "acks": "all"})
    for k in range(200):
        p.produce(t, key=str(k), value=f"v{k}")
    check(p.flush(30) == 0, "records left unflushed")
    c = Consumer({"bootstrap.servers": node(3), "group.id": g, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([t])
    got, deadline = 0, time.time() + 60
    while got < 200 and time.time() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    c.close()
    eq(got, 200, "records consumed by the group")
    md = view(1)
    internal = md.topics.get("__consumer_offsets")
    check(internal is not None and len(internal.partitions) == 50,
          f"__consumer_offsets with 50 partitions, got {internal and len(internal.partitions)}")
    for i in IDS:
        a = admin(i)
        res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=30)
        total = sum(tp.offset for tp in res.topic_partitions)
        eq(total, 200, f"committed offsets of {g} read via node {i}")
    print(f"group {g}: 200 records consumed via node 3, offsets 200 via every node")


def _pid(cluster_dir, i):
    with open(os.path.join(cluster_dir, f"node-{i}.pid")) as f:
        return int(f.read().strip())


def _cluster_ctl(cluster_dir, *args):
    import subprocess
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "cluster")
    subprocess.run([script, *args, "--dir", cluster_dir], check=True, capture_output=True, timeout=120)


def _leaders(t):
    md = admin(1).list_topics(topic=t, timeout=10)
    return {p.id: p.leader for p in md.topics[t].partitions.values()}


def idempotent_producer(bootstrap, **extra):
    """The fault checks' writer: idempotent, acks=all, retrying through a failover."""
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": 120000, "request.timeout.ms": 10000,
            "socket.connection.setup.timeout.ms": 3000}
    conf.update(extra)
    return Producer(conf)


def send_next(p, t, seq, on_delivery):
    """Queues value "ck:SEQ" for partition SEQ % 3 of t (nothing while the queue is full) and
    serves delivery callbacks; returns the next SEQ."""
    try:
        p.produce(t, value=f"ck:{seq:08d}", partition=seq % 3, on_delivery=on_delivery)
        seq += 1
    except BufferError:
        pass
    p.poll(0.002)
    return seq


def no_acked_loss(cluster_dir):
    import signal
    import threading
    from confluent_kafka.admin import NewTopic as NT
    t = topic_name("ck-repl")
    a = admin(2)
    fs = a.create_topics([NT(t, num_partitions=3, replication_factor=3,
                             config={"min.insync.replicas": "2"})], operation_timeout=20, request_timeout=20)
    fs[t].result(timeout=40)
    poll(lambda: converged_topic(t, 3, 3), CONVERGE_S, f"every node's view of {t}")
    leaders = _leaders(t)
    victim, paused = leaders[0], leaders[1]
    if paused == victim:
        paused = next(i for i in IDS if i != victim)
    print(f"{t}: leaders {leaders}; SIGKILL node {victim} at 2 s (start at 7 s), "
          f"SIGSTOP node {paused} at 11-17 s")

    # What the producer saw goes to a history file; the checker compares it with the final log.
    hist = History(history_path(t))
    acked, failed, lock = 0, [], threading.Lock()
    ack_times = {0: [], 1: [], 2: []}

    def report(err, msg):
        nonlocal acked
        v = msg.value().decode()
        if err is not None:
            hist.fail(msg.partition(), v, err)
            with lock:
                failed.append((msg.partition(), v, str(err)))
        else:
            hist.ack(msg.partition(), msg.offset(), v)
            with lock:
                acked += 1
                ack_times[msg.partition()].append(time.time())

    p = idempotent_producer(",".join(NODES), **{"message.timeout.ms": 60000})
    t0 = time.time()
    events = {}
    seq = 0
    while time.time() - t0 < 20:
        el = time.time() - t0
        if el > 2 and "kill" not in events:
            os.kill(_pid(cluster_dir, victim), signal.SIGKILL)
            events["kill"] = time.time()
        if el > 7 and "start" not in events:
            _cluster_ctl(cluster_dir, "start", str(victim), "--no-wait")
            events["start"] = time.time()
        if el > 11 and "stop" not in events:
            os.kill(_pid(cluster_dir, paused), signal.SIGSTOP)
            events["stop"] = time.time()
        if el > 17 and "cont" not in events:
            os.kill(_pid(cluster_dir, paused), signal.SIGCONT)
            events["cont"] = time.time()
        seq = send_next(p, t, seq, report)
    if "cont" not in events:
        os.kill(_pid(cluster_dir, paused), signal.SIGCONT)
        events["cont"] = time.time()
    left = p.flush(90)
    check(left == 0, f"{left} records neither acknowledged nor failed after 90 s")
    print(f"sent {seq}, acknowledged {acked}, failed {len(failed)} {failed[:3]}")

    for part, when in ((0, events["kill"]), (1, events["stop"])):
        before = [x for x in ack_times[part] if x <= when]
        after = [x for x in ack_times[part] if x > when]
        check(after, f"partition {part}: nothing acknowledged after the fault")
        gap = after[0] - (before[-1] if before else when)
        print(f"partition {part}: no acknowledgement for {gap:.2f} s around the fault")

    # The final log, read from each partition's leader by a plain consumer; then the checker:
    # every acknowledged record at its offset, none twice, each partition in send order.
    read_final_log({"bootstrap.servers": ",".join(NODES)}, t, range(3), hist)
    hist.close()
    history.check(hist.path)

    def whole():
        md = admin(2).list_topics(topic=t, timeout=10)
        isrs = {q.id: sorted(q.isrs) for q in md.topics[t].partitions.values()}
        return all(v == [1, 2, 3] for v in isrs.values()), isrs
    poll(whole, 60, "every ISR to hold 1, 2, 3 again")
    print("the restarted and the resumed node caught up: every ISR is 1, 2, 3")

    def preferred():
        md = admin(2).list_topics(topic=t, timeout=10)
        lead = {q.id: (q.leader, q.replicas[0]) for q in md.topics[t].partitions.values()}
        return all(a == b for a, b in lead.values()), lead
    rebalance_s = int(os.environ.get("COMPAT_CLUSTER_REBALANCE_MS", "2000")) / 1000
    poll(preferred, rebalance_s + 20, "every partition led by its preferred replica again")
    print("every partition is led by its preferred replica again")


def group_failover(cluster_dir):
    import concurrent.futures
    import signal
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer
    t = topic_name("ck-gfail")
    g = topic_name("ck-gfail-g")
    create(1, t, 3, 3)
    poll(lambda: converged_topic(t, 3, 3), CONVERGE_S, f"every node's view of {t}")
    # Sends, reads, commits and committed offsets read back go to a history file; the checker
    # judges them against the final log at the end.
    hist = History(history_path(g))

    def delivered(err, msg):
        if err is None:
            hist.ack(msg.partition(), msg.offset(), msg.value().decode())
        else:
            hist.fail(msg.partition(), msg.value().decode(), err)

    total = 3000
    p = Producer({"bootstrap.servers": ",".join(NODES), "acks": "all"})
    for k in range(total):
        p.produce(t, value=f"gf:{k:06d}", partition=k % 3, on_delivery=delivered)
    check(p.flush(60) == 0, "records left unflushed")

    c = Consumer({"bootstrap.servers": ",".join(NODES), "group.id": g, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000,
                  "heartbeat.interval.ms": 1000, "socket.connection.setup.timeout.ms": 3000})
    # confluent-kafka does not expose the group generation (consumer_group_metadata() is
    # opaque): the history's "gen" is the number of assignments this member received, which
    # with the eager protocol rises exactly when the generation does.
    assignments = 0

    def on_assign(consumer, partitions):
        nonlocal assignments
        assignments += 1

    c.subscribe([t], on_assign=on_assign)
    seen, deliveries = set(), 0
    acked = {}          # partition -> highest offset a commit was acknowledged for
    events = {}
    commit_failures, outage = 0, None
    last_ok = time.time()

    def commit():
        nonlocal commit_failures, outage, last_ok
        try:
            t0 = now_ms()
            for tp in c.commit(asynchronous=False) or []:
                if tp.error is None and tp.offset >= 0:
                    acked[tp.partition] = max(acked.get(tp.partition, -1), tp.offset)
                    hist.commit(g, assignments, c.memberid(), tp.partition, tp.offset, t0)
            now = time.time()
            if "kill" in events and outage is None and now > events["kill"]:
                outage = now - max(last_ok, events["kill"])
            last_ok = now
        except KafkaException as e:
            commit_failures += 1
            code = e.args[0].code() if e.args else None
            if code not in (KafkaError._NO_OFFSET,):
                time.sleep(0.2)

    def read_back(via):
        """The group's committed offsets read through node `via` (into the history)."""
        a = admin(via)  # held: a collected client drops its pending requests
        t0 = now_ms()
        res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=5)
        now = {tp.partition: tp.offset for tp in res.topic_partitions}
        for part in range(3):
            hist.committed(g, part, max(now.get(part, -1), -1), t0)
        return now

    deadline = time.time() + 150
    since_commit = 0
    before_kill = None
    progress = time.time()
    while len(seen) < total and time.time() < deadline:
        if time.time() - progress > 5:
            progress = time.time()
            print(f"  {len(seen)} read, commits acknowledged {acked}, {commit_failures} failed")
        m = c.poll(0.5)
        if m is not None and not m.error():
            v = m.value().decode()
            hist.read("c1", m.partition(), m.offset(), v)
            seen.add(v)
            deliveries += 1
            since_commit += 1
        if since_commit >= 100 or (m is None and since_commit):
            commit()
            since_commit = 0
        if len(seen) >= 1000 and "kill" not in events:
            commit()
            since_commit = 0
            before_kill = dict(acked)
            a = admin(1)
            desc = a.describe_consumer_groups([g])[g].result(timeout=30)
            victim = desc.coordinator.id
            os.kill(_pid(cluster_dir, victim), signal.SIGKILL)
            events["kill"] = time.time()
            events["victim"] = victim
            print(f"{g}: {len(seen)} records read, commits acknowledged up to {before_kill}; "
                  f"SIGKILLed its coordinator, node {victim}")
        if "kill" in events and "start" not in events and time.time() - events["kill"] > 5:
            _cluster_ctl(cluster_dir, "start", str(events["victim"]), "--no-wait")
            events["start"] = time.time()
        if "kill" in events and "checked" not in events and time.time() - events["kill"] > 1:
            # The committed offsets, read back through whichever broker coordinates the group
            # now (the checker compares them with the commits acknowledged before the kill).
            try:
                now = read_back(next(i for i in IDS if i != events["victim"]))
                events["checked"] = time.time()
                print(f"after the failover the group's committed offsets are {now} "
                      f"({events['checked'] - events['kill']:.1f} s after the kill)")
            except (KafkaException, TimeoutError, concurrent.futures.TimeoutError):
                pass
    if "start" not in events and "victim" in events:
        _cluster_ctl(cluster_dir, "start", str(events["victim"]), "--no-wait")
    check("kill" in events, f"only {len(seen)} records read before the deadline; nothing was killed")
    check("checked" in events, "the committed offsets could not be read back after the failover")
    eq(len(seen), total, "distinct records read by the group across the failover")
    for _ in range(50):
        commit()
        if all(acked.get(part, -1) == total // 3 for part in range(3)):
            break
        time.sleep(0.3)
    c.close()
    eq({part: acked.get(part) for part in range(3)}, {0: 1000, 1: 1000, 2: 1000},
       "final commit of the group")
    print(f"read {total} records ({deliveries - total} redelivered after the failover), "
          f"{commit_failures} commit attempts failed, "
          f"commits unavailable for {outage if outage is not None else float('nan'):.2f} s")
    print(f"the group's committed offsets after the last commit: {poll(lambda: (True, read_back(1)), 30, 'a read-back')}")

    # A new member resumes at the committed offsets: it gets only what is produced now.
    for k in range(total, total + 30):
        p.produce(t, value=f"gf:{k:06d}", partition=k % 3, on_delivery=delivered)
    check(p.flush(30) == 0, "late records left unflushed")
    c2 = Consumer({"bootstrap.servers": ",".join(NODES), "group.id": g, "auto.offset.reset": "earliest",
                   "enable.auto.commit": False})
    c2.subscribe([t])
    late, deadline = [], time.time() + 60

    def take(m):
        if m is not None and not m.error():
            hist.read("c2", m.partition(), m.offset(), m.value().decode())
            late.append(int(m.value().decode().split(":")[1]))
    while len(late) < 30 and time.time() < deadline:
        take(c2.poll(0.5))
    end = time.time() + 2
    while time.time() < end:
        take(c2.poll(0.2))
    c2.close()
    eq(sorted(late), list(range(total, total + 30)), "records a new member of the group reads")
    print("a new member of the group resumed at the committed offsets")

    # The history: every record acknowledged and read is the log's record at its offset,
    # commits never went backwards and none acknowledged was lost in the failover.
    read_final_log({"bootstrap.servers": ",".join(NODES)}, t, range(3), hist)
    hist.close()
    history.check(hist.path)


def _node_args(cluster_dir):
    """(binary, voters) from node 1's saved command line."""
    with open(os.path.join(cluster_dir, "node-1.args")) as f:
        args = f.read().split("\n")
    return args[0], args[args.index("--controller-voters") + 1]


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _run_refused(cmd, env, limit_s, needle):
    import subprocess
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {limit_s} s: {' '.join(cmd)}")
    last = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
    print(f"exit {p.returncode} after {time.time() - t0:.1f}s: {last}")
    check(p.returncode != 0, "the process should have been refused")
    check(needle in last, f"the error should say {needle!r}: {last}")


def txn_leader_failover(cluster_dir):
    import signal
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import NewTopic as NT
    t = topic_name("ck-txn-fail")
    a = admin(1)
    fs = a.create_topics([NT(t, 3, 3, config={"min.insync.replicas": "2"})], request_timeout=30)
    fs[t].result(30)
    poll(lambda: converged_topic(t, 3, 3), CONVERGE_S, f"every node's view of {t}")
    txn_id = topic_name("ck-txn-id")
    conf = {"bootstrap.servers": ",".join(NODES), "transactional.id": txn_id,
            "transaction.timeout.ms": 60000, "message.timeout.ms": 60000, "linger.ms": 5,
            "socket.connection.setup.timeout.ms": 3000}
    p = Producer(conf)
    p.init_transactions(30)
    committed, aborted, latencies = set(), set(), []
    killed_leader = killed_coordinator = None

    def kill_and_restart(node_id):
        os.kill(_pid(cluster_dir, node_id), signal.SIGKILL)
        time.sleep(5)
        _cluster_ctl(cluster_dir, "start", str(node_id))

    n = 0
    while n < 30:
        values = [f"tx{n:03d}-{k}" for k in range(10)]
        if n == 20 and killed_coordinator is None:
            # Between two transactions: the coordinator's broker goes.
            killed_coordinator = _txn_coordinator(txn_id)
            print(f"killing node {killed_coordinator}, coordinator of {txn_id}")
            kill_and_restart(killed_coordinator)
        try:
            began = time.time()
            p.begin_transaction()
            for k, v in enumerate(values):
                p.produce(t, value=v, partition=k % 3)
            if n == 10 and killed_leader is None:
                p.flush(30)
                killed_leader = _leaders(t)[0]
                print(f"killing node {killed_leader}, leader of {t}-0, inside transaction {n}")
                kill_and_restart(killed_leader)
            if n % 5 == 4:
                p.abort_transaction(60)
                aborted.update(values)
            else:
                p.commit_transaction(60)
                committed.update(values)
                latencies.append((time.time() - began) * 1000)
            n += 1
        except KafkaException as e:
            err = e.args[0]
            print(f"transaction {n} failed: {err}")
            if err.txn_requires_abort():
                p.abort_transaction(60)
                aborted.update(values)
            elif err.retriable():
                time.sleep(0.5)
                continue
            else:
                raise
    check(killed_leader is not None and killed_coordinator is not None, "nothing was killed")
    c = Consumer({"bootstrap.servers": ",".join(NODES), "group.id": topic_name("ck-txn-read"),
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                  "enable.auto.commit": False})
    c.subscribe([t])
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline and len(seen) < len(committed):
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        seen.append(m.value().decode())
    c.close()
    dup = len(seen) - len(set(seen))
    eq(dup, 0, "records read twice")
    eq(sorted(set(seen) & aborted), [], "aborted records visible to read_committed")
    eq(sorted(committed - set(seen)), [], "committed records missing")
    latencies.sort()
    print(f"{len(committed)} committed, {len(aborted)} aborted records; commit latency "
          f"p50 {latencies[len(latencies) // 2]:.1f} ms, max {latencies[-1]:.1f} ms "
          f"(killed leader {killed_leader}, coordinator {killed_coordinator})")


def _txn_coordinator(txn_id):
    """The node FindCoordinator v1 (raw, key type 1, via node 1) names for txn_id."""
    r = Raw(1).request(10, 1, _str(txn_id) + struct.pack(">b", 1))
    r.take(">i")  # throttle_time_ms
    code = r.take(">h")
    r.string()  # error_message
    node_id = r.take(">i")
    check(code == 0, f"FindCoordinator for {txn_id}: error {code}")
    return node_id


def refuse_duplicate_id(cluster_dir):
    import tempfile
    binary, voters = _node_args(cluster_dir)
    env = dict(os.environ, RUNNEL_CLUSTER_BROKER_SESSION_TIMEOUT_MS="3000",
               RUNNEL_CLUSTER_BROKER_HEARTBEAT_INTERVAL_MS="500")
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        cmd = [binary, "--node-id", "2", "--roles", "broker", "--data-dir", d,
               "--listen", f"127.0.0.1:{port}", "--http-listen", "", "--controller-voters", voters]
        _run_refused(cmd, env, 60, "already registered")


def refuse_foreign_dir(cluster_dir):
    import subprocess
    import tempfile
    binary, voters = _node_args(cluster_dir)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        ctrl, kafka = _free_port(), _free_port()
        other = subprocess.Popen(
            [binary, "--node-id", "7", "--data-dir", d, "--listen", f"127.0.0.1:{kafka}",
             "--http-listen", "", "--controller-listen", f"127.0.0.1:{ctrl}",
             "--controller-voters", f"7@127.0.0.1:{ctrl}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            poll(lambda: (os.path.exists(os.path.join(d, "meta")) and
                          _joined(kafka), "not up"), 30, "a one-voter cluster of its own")
        finally:
            other.terminate()
            other.wait(timeout=20)
        cmd = [binary, "--node-id", "7", "--roles", "broker", "--data-dir", d,
               "--listen", f"127.0.0.1:{kafka}", "--http-listen", "", "--controller-voters", voters]
        _run_refused(cmd, env, 60, "belongs to cluster")


def _joined(port):
    try:
        md = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=2)
        return bool(md.cluster_id)
    except KafkaException:
        return False


def create_after_kill(killed_at, dead="1", via="2", leader="unknown"):
    killed_at, dead, via = float(killed_at), int(dead), int(via)
    role = ("the quorum leader" if leader == str(dead) else
            "not the quorum leader" if leader.isdigit() else "quorum leader unknown")
    print(f"node {dead} ({role} before the kill, DescribeQuorum said {leader})")
    t = topic_name("failover")
    deadline = killed_at + 15
    attempts, last = 0, None
    while True:
        attempts += 1
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"no topic created via node {via} within 15 s of SIGKILL of node {dead} "
                                 f"({attempts - 1} attempts); last error: {last}")
        try:
            a = admin(via)
            fs = a.create_topics([NewTopic(t, num_partitions=3, replication_factor=2)],
                                 operation_timeout=min(5, left), request_timeout=min(5, left))
            fs[t].result(timeout=max(1, left))
            break
        except KafkaException as e:
            err = e.args[0]
            # An earlier attempt that timed out may have created it after all.
            if attempts > 1 and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                break
            last = err
            print(f"attempt {attempts} at +{time.time() - killed_at:.1f}s: {err}")
            time.sleep(0.3)
    took = time.time() - killed_at
    print(f"FIGURE created {t} via node {via} {took:.1f}s after SIGKILL of node {dead}, {role} "
          f"({attempts} attempts)")
    live = [i for i in IDS if i != dead]

    # And node VIA serves it (3 partitions, each led by a live broker).
    def visible():
        lay = layout(view(via), {t}).get(t)
        if lay is None:
            return False, f"unknown to node {via}"
        return len(lay) == 3 and all(p[1] in live for p in lay), lay
    print(f"node {via}'s view: {poll(visible, max(3, deadline + 5 - time.time()), f'{t} led by live brokers')}")
    # Stock clients send CreateTopics to Metadata's controller id: how long it named the dead node.
    ctrl = poll(lambda: (view(via).controller_id != dead, view(via).controller_id), 20,
                f"node {via}'s Metadata to stop naming node {dead} as controller")
    print(f"FIGURE node {via} names controller {ctrl} (not {dead}) {time.time() - killed_at:.1f}s after SIGKILL")


def fenced(killed_at, dead="1"):
    killed_at, dead = float(killed_at), int(dead)
    live = [i for i in IDS if i != dead]
    limit = killed_at + SESSION_S + 12 - time.time()
    for i in live:
        def two():
            b = brokers(view(i))
            return b == want_brokers(live), b
        poll(two, limit, f"node {i}'s Metadata to list brokers {live} only")
        print(f"FIGURE node {i} lists brokers {live} only {time.time() - killed_at:.1f}s after SIGKILL "
              f"of node {dead} (session timeout {SESSION_S:.1f}s)")


def leaders_moved(dead="1"):
    dead = int(dead)

    def moved():
        bad = []
        for i in IDS:
            if i == dead:
                continue
            for t, parts in layout(view(i)).items():
                for pid, leader, replicas, isr in parts:
                    if leader == dead or dead in isr:
                        bad.append(f"node {i}: {t}-{pid} leader {leader} isr {isr} replicas {replicas}")
        return not bad, "; ".join(bad[:8]) + (f" (+{len(bad) - 8} more)" if len(bad) > 8 else "")
    poll(moved, 10, f"every partition led by a live broker and node {dead} out of every ISR")
    print(f"no partition led by node {dead}; node {dead} in no ISR")


def rejoin(started_at, restarted="1"):
    started_at, restarted = float(started_at), int(restarted)
    limit = started_at + 20 - time.time()
    for i in IDS:
        if i == restarted:
            continue

        def three():
            b = brokers(view(i))
            return b == want_brokers(IDS), b
        poll(three, limit, f"node {i}'s Metadata to list brokers 1, 2 and 3 again")
        print(f"FIGURE node {i} lists 3 brokers {time.time() - started_at:.1f}s after node {restarted} was started")


# --- raw Kafka requests to one chosen broker (non-flexible versions, no client library) ---

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class Raw:
    """One connection to node i; request(api_key, version, body) -> response body bytes."""

    def __init__(self, i):
        host, port = node(i).rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.corr = 0

    def request(self, api_key, version, body):
        self.corr += 1
        frame = struct.pack(">hhi", api_key, version, self.corr) + _str("compat-raw") + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        n = struct.unpack(">i", self._read(4))[0]
        data = self._read(n)
        eq(struct.unpack(">i", data[:4])[0], self.corr, "correlation id")
        return Reader(data[4:])

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            check(chunk, "connection closed by the broker")
            buf += chunk
        return buf


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v


def _results(r, with_message):
    """[(name, error_code, message)] of a CreateTopics v4 / CreatePartitions v1 / DeleteTopics v3 response."""
    r.take(">i")  # throttle_time_ms
    out = []
    for _ in range(r.take(">i")):
        name, code = r.string(), r.take(">h")
        out.append((name, code, r.string() if with_message else None))
    return out


def admin_every_broker():
    ctrl = view(1).controller_id
    print(f"Metadata's controller id: {ctrl}")
    for i in IDS:
        t = topic_name(f"raw-at-{i}")
        raw = Raw(i)
        # CreateTopics v4: topics [name, partitions, rf, assignments[], configs[]], timeout, validate_only
        body = _array([_str(t) + struct.pack(">ih", 2, 2) + _array([]) + _array([])]) + struct.pack(">ib", 20000, 0)
        res = _results(raw.request(19, 4, body), True)
        eq(res, [(t, 0, None)], f"CreateTopics answered by node {i} (controller {ctrl})")
        poll(lambda: (layout(view(i), {t}).get(t) is not None and len(layout(view(i), {t})[t]) == 2, None),
             CONVERGE_S, f"{t} with 2 partitions in node {i}'s metadata")
        # CreatePartitions v1: topics [name, count, assignments (null)], timeout, validate_only
        body = _array([_str(t) + struct.pack(">ii", 3, -1)]) + struct.pack(">ib", 20000, 0)
        res = _results(raw.request(37, 1, body), True)
        eq(res, [(t, 0, None)], f"CreatePartitions (to 3) answered by node {i}")
        poll(lambda: (len(layout(view(i), {t}).get(t, [])) == 3, layout(view(i), {t})),
             CONVERGE_S, f"{t} with 3 partitions in node {i}'s metadata")
        # DeleteTopics v3 (v4 is flexible): topic_names [], timeout
        body = _array([_str(t)]) + struct.pack(">i", 20000)
        res = _results(raw.request(20, 3, body), False)
        eq(res, [(t, 0, None)], f"DeleteTopics answered by node {i}")
        poll(lambda: (t not in view(i).topics, None), CONVERGE_S, f"{t} gone from node {i}'s metadata")
        raw.sock.close()
        print(f"node {i}{' (controller)' if i == ctrl else ''}: CreateTopics, CreatePartitions, DeleteTopics OK")


def partition_dirs(cluster_dir):
    lay = layout(poll(lambda: (True, view(1)), 10, "node 1's metadata"))
    bad = []
    for i in IDS:
        want = {f"{t}-{pid}" for t, parts in lay.items() for pid, _, replicas, _ in parts if i in replicas}
        logs = os.path.join(cluster_dir, f"node-{i}", "logs")
        have = {d for d in os.listdir(logs) for t in lay
                if d.startswith(t + "-") and d[len(t) + 1:].isdigit()}
        if have != want:
            bad.append(f"node {i}: extra {sorted(have - want)}, missing {sorted(want - have)}")
        print(f"node {i}: {len(have)} partition directories, {len(want)} replicas assigned")
    check(not bad, "partition directories != assigned replicas: " + "; ".join(bad)
          + f" (layout: {lay})")


def _uvarint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _take_uvarint(r):
    shift = n = 0
    while True:
        b = r.take(">B")
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n


def _skip_tags(r):
    for _ in range(_take_uvarint(r)):
        _take_uvarint(r)
        r.pos += _take_uvarint(r)


def describe_quorum(i, version=2):
    """DescribeQuorum (flexible, v0-v2) sent to node i: (leader_id, leader_epoch, voter ids)."""
    raw = Raw(i)
    raw.corr += 1
    name = b"__cluster_metadata"
    header = struct.pack(">hhi", 55, version, raw.corr) + _str("compat-raw") + b"\x00"
    body = (_uvarint(2) + _uvarint(len(name) + 1) + name
            + _uvarint(2) + struct.pack(">i", 0) + b"\x00" + b"\x00" + b"\x00")
    frame = header + body
    raw.sock.sendall(struct.pack(">i", len(frame)) + frame)
    n = struct.unpack(">i", raw._read(4))[0]
    r = Reader(raw._read(n))
    raw.sock.close()

    def skip_compact_string():
        n = _take_uvarint(r)
        r.pos += max(n - 1, 0)

    eq(r.take(">i"), raw.corr, "correlation id")
    _skip_tags(r)  # response header v1
    eq(r.take(">h"), 0, f"DescribeQuorum v{version} error code via node {i}")
    if version >= 2:
        skip_compact_string()  # error_message
    eq(_take_uvarint(r) - 1, 1, "DescribeQuorum topics")
    skip_compact_string()  # topic name
    eq(_take_uvarint(r) - 1, 1, "DescribeQuorum partitions")
    r.take(">i")  # partition index
    eq(r.take(">h"), 0, f"DescribeQuorum v{version} partition error code via node {i}")
    if version >= 2:
        skip_compact_string()  # error_message
    leader, epoch = r.take(">i"), r.take(">i")
    r.take(">q")  # high watermark
    voters = []
    for _ in range(_take_uvarint(r) - 1):
        voters.append(r.take(">i"))
        if version >= 2:
            r.pos += 16  # replica directory id
        r.take(">q")  # log end offset
        if version >= 1:
            r.pos += 16  # last fetch / last caught up timestamps
        _skip_tags(r)
    return leader, epoch, sorted(voters)


def api_versions(i):
    """{api_key: (min, max)} from ApiVersions v0 sent to node i."""
    raw = Raw(i)
    r = raw.request(18, 0, b"")
    raw.sock.close()
    eq(r.take(">h"), 0, f"ApiVersions error code via node {i}")
    out = {}
    for _ in range(r.take(">i")):
        key, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
        out[key] = (lo, hi)
    return out


def describe_quorum_versions():
    advertised = api_versions(1).get(55)
    check(advertised is not None, "DescribeQuorum (55) is not advertised in ApiVersions")
    answers, bad = {}, []
    for v in range(advertised[0], advertised[1] + 1):
        for i in IDS:
            try:
                answers[(v, i)] = describe_quorum(i, v)
            except (AssertionError, OSError, struct.error) as e:
                bad.append(f"v{v} via node {i}: {e!r}")
    print(f"answers (leader, epoch, voters): {answers}")
    check(not bad, "DescribeQuorum failed: " + "; ".join(bad))
    leaders = {a[0] for a in answers.values()}
    check(len(leaders) == 1 and all(a[2] == IDS for a in answers.values()),
          f"DescribeQuorum answers disagree: {answers}")


def quorum_leader(path):
    """Not a check: writes the leader id that DescribeQuorum v2 names via every live node, or
    "unknown" (a broken DescribeQuorum is reported by the describe-quorum checks)."""
    try:
        answers = {i: describe_quorum(i, 2) for i in IDS}
        leaders = {a[0] for a in answers.values()}
        leader = str(leaders.pop()) if len(leaders) == 1 else "unknown"
    except (AssertionError, OSError, struct.error) as e:
        answers, leader = repr(e), "unknown"
    print(f"DescribeQuorum v2 (leader, epoch, voters) via each node: {answers}")
    open(path, "w").write(f"{leader}\n")


def topic_ids(i, names):
    a = admin(i)
    fs = a.describe_topics(TopicCollection(sorted(names)), request_timeout=10)
    return {t: str(f.result(timeout=15).topic_id) for t, f in fs.items()}


def state_now(i):
    md = view(i)
    return {
        "cluster_id": md.cluster_id,
        "brokers": {str(k): v for k, v in brokers(md).items()},
        "topics": {t: len(tm.partitions) for t, tm in user_topics(md).items()},
    }


def snapshot(path):
    def agree():
        views = {i: state_now(i) for i in IDS}
        same = len({json.dumps(v, sort_keys=True) for v in views.values()}) == 1
        full = views[1]["brokers"] == {str(k): v for k, v in want_brokers(IDS).items()}
        return same and full, views
    views = poll(agree, 20, "the three nodes to agree on brokers, topics and partition counts")
    s = views[1]
    check(s["topics"], "no topics to snapshot")
    s["ids"] = topic_ids(1, s["topics"])
    for i in (2, 3):
        eq(topic_ids(i, s["topics"]), s["ids"], f"topic ids via node {i} vs node 1")
    json.dump(s, open(path, "w"), indent=1, sort_keys=True)
    print(f"snapshot of {len(s['topics'])} topics: {s}")


def compare(path):
    s = json.load(open(path))
    for i in IDS:
        def back():
            md = view(i)
            now = state_now(i)
            missing = {t: n for t, n in s["topics"].items() if now["topics"].get(t) != n}
            leaderless = [f"{t}-{pid}" for t, parts in layout(md, set(s["topics"])).items()
                          for pid, leader, _, _ in parts if leader not in IDS]
            ok = not missing and not leaderless and now["cluster_id"] == s["cluster_id"] \
                and now["brokers"] == s["brokers"]
            return ok, (f"missing or different (name: saved partitions): {missing}; without leader: "
                        f"{leaderless}; now {now}" if not ok else now)
        poll(back, 20, f"node {i}'s view to have every topic back")
        eq(topic_ids(i, s["topics"]), s["ids"], f"topic ids via node {i} after the restart")
        print(f"node {i}: all {len(s['topics'])} topics back with their ids and partition counts")


if __name__ == "__main__":
    cmds = {
        "metadata": metadata,
        "create-rf2-via-node3": create_rf2_via_node3,
        "create-after-kill": create_after_kill,
        "fenced": fenced,
        "leaders-moved": leaders_moved,
        "rejoin": rejoin,
        "quorum-leader": quorum_leader,
        "describe-quorum-versions": describe_quorum_versions,
        "partition-dirs": partition_dirs,
        "admin-every-broker": admin_every_broker,
        "group-any-node": group_any_node,
        "no-acked-loss": no_acked_loss,
        "group-failover": group_failover,
        "txn-leader-failover": txn_leader_failover,
        "refuse-duplicate-id": refuse_duplicate_id,
        "refuse-foreign-dir": refuse_foreign_dir,
        "snapshot": snapshot,
        "compare": compare,
    }
    main(lambda: cmds[sys.argv[1]](*sys.argv[2:]))
