"""kafka-python consumer-group checks.

  kp_groups.py consume   KafkaConsumer in a group consumes a 3-partition topic exactly once,
                         commits; a second consumer of the group gets nothing old
  kp_groups.py admin     KafkaAdminClient group calls: list / describe (active and empty
                         group) / committed offsets / delete; must parse the responses,
                         values checked. Runs with kafka-python 3.x (list_groups,
                         describe_groups, list_group_offsets, delete_groups) and 2.x
                         (list_consumer_groups, describe_consumer_groups,
                         list_consumer_group_offsets, delete_consumer_groups)
"""
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from common import BOOTSTRAP, check, eq, main, topic_name, wait_until

P = 3
PER = 200


def setup(prefix):
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    topic, group = topic_name(f"kp-{prefix}"), topic_name(f"kp-g-{prefix}")
    admin.create_topics([NewTopic(topic, P, 1)], timeout_ms=30000)
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=5)
    for i in range(PER):
        for part in range(P):
            p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=part)
    p.flush(60)
    p.close()
    return admin, topic, group


def consumer(group, client_id="kp-member"):
    return KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, client_id=client_id,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         session_timeout_ms=6000, heartbeat_interval_ms=500,
                         request_timeout_ms=30000)


def t_consume():
    admin, topic, group = setup("consume")
    c = consumer(group)
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + 90
    while time.time() < deadline and len(seen) < P * PER:
        for recs in c.poll(timeout_ms=500).values():
            for r in recs:
                k = (r.partition, r.offset)
                check(k not in seen, f"record {k} delivered twice")
                seen.add(k)
        c.commit()
    eq(len(seen), P * PER, "records consumed within 90 s")
    comm = {tp.partition: c.committed(tp) for tp in c.assignment()}
    eq(comm, {p: PER for p in range(P)}, "committed offsets")
    c.close()
    c2 = consumer(group, "kp-member-2")
    c2.subscribe([topic])
    got = 0
    end = time.time() + 8
    while time.time() < end:
        got += sum(len(v) for v in c2.poll(timeout_ms=300).values())
    c2.close()
    eq(got, 0, "records re-delivered to a second consumer after all were committed")


def t_admin():
    admin, topic, group = setup("admin")
    stop = threading.Event()
    ready = threading.Event()
    err = []

    def member():
        try:
            c = consumer(group, "kp-admin-member")
            c.subscribe([topic])
            while len(c.assignment()) < P:
                c.poll(timeout_ms=200)
            c.commit({TopicPartition(topic, 0): OffsetAndMetadata(10, "m0", -1),
                      TopicPartition(topic, 1): OffsetAndMetadata(20, "m1", -1)})
            ready.set()
            while not stop.is_set():
                c.poll(timeout_ms=200)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            err.append(e)
            ready.set()

    t = threading.Thread(target=member, daemon=True)
    t.start()
    check(ready.wait(90), "member did not join within 90 s")
    check(not err, f"member failed: {err}")

    api = GroupApi(admin)
    groups = api.list_groups()
    print("list groups:", groups)
    check(group in groups, f"{group} not listed")
    g = api.describe(group)
    print("describe:", g)
    eq(g["state"], "Stable", "state")
    eq(g["protocol_type"], "consumer", "protocol type")
    eq(g["protocol"], "range", "protocol (assignor)")
    eq(len(g["members"]), 1, "members")
    m = g["members"][0]
    eq(m["client_id"], "kp-admin-member", "member client id")
    check(m["client_host"].startswith("/127.0.0.1"), f"client host {m['client_host']!r}")
    eq(m["partitions"], [(topic, p) for p in range(P)], "member assignment")
    offs = api.offsets(group)
    print("offsets:", offs)
    eq(offs, {(topic, 0): 10, (topic, 1): 20}, "committed offsets")

    stop.set()
    t.join(60)
    wait_until(lambda: api.describe(group)["state"] == "Empty", 30, "group Empty after the member left")
    eq(len(api.describe(group)["members"]), 0, "members of the empty group")
    res = api.delete(group)
    print("delete:", res)
    eq(res, "OK", "delete result")
    check(group not in api.list_groups(), "deleted group still listed")
    admin.close()


def _parts(assignment):
    """[(topic, partition)] from a decoded ConsumerProtocol assignment in any of its shapes."""
    if assignment is None:
        return []
    if hasattr(assignment, "partitions") and callable(assignment.partitions):
        return sorted((tp.topic, tp.partition) for tp in assignment.partitions())
    if hasattr(assignment, "assignment"):
        return sorted((t, p) for t, ps in assignment.assignment for p in ps)
    if isinstance(assignment, dict):
        ap = assignment.get("assigned_partitions") or assignment.get("assignment") or []
        out = []
        for x in ap:
            t, ps = (x["topic"], x["partitions"]) if isinstance(x, dict) else x
            out.extend((t, p) for p in ps)
        return sorted(out)
    raise AssertionError(f"cannot read member assignment {assignment!r}")


class GroupApi:
    """kafka-python 2.x (*_consumer_group*) and 3.x (*_group*) admin group calls, normalized."""

    def __init__(self, admin):
        self.a = admin
        self.v2 = hasattr(admin, "describe_consumer_groups")

    def list_groups(self):
        if self.v2:
            return [g[0] for g in self.a.list_consumer_groups()]
        return [g["group_id"] for g in self.a.list_groups()]

    def describe(self, group):
        if self.v2:
            (g,) = self.a.describe_consumer_groups([group])
            eq(g.error_code, 0, "describe error code")
            return {"state": g.state, "protocol_type": g.protocol_type, "protocol": g.protocol,
                    "members": [{"client_id": m.client_id, "client_host": m.client_host,
                                 "partitions": _parts(m.member_assignment)} for m in g.members]}
        g = self.a.describe_groups([group])[group]
        check(g.get("error") is None, f"describe error {g.get('error')}")
        return {"state": g["group_state"], "protocol_type": g["protocol_type"], "protocol": g["protocol_data"],
                "members": [{"client_id": m["client_id"], "client_host": m["client_host"],
                             "partitions": _parts(m["member_assignment"])} for m in g["members"]]}

    def offsets(self, group):
        r = self.a.list_consumer_group_offsets(group) if self.v2 else self.a.list_group_offsets(group)[group]
        return {(tp.topic, tp.partition): om.offset for tp, om in r.items()}

    def delete(self, group):
        if self.v2:
            (gid, err), = self.a.delete_consumer_groups([group])
            return "OK" if getattr(err, "errno", err) == 0 else str(err)
        return self.a.delete_groups([group])[group]


if __name__ == "__main__":
    main({"consume": t_consume, "admin": t_admin}[sys.argv[1]])
