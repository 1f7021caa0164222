"""Network partitions in a 3-node cluster, with librdkafka clients writing and reading and
the history checker (compat/history) judging the result.

Topology. This process runs as root and moves into a network namespace of its own
(`unshare -n`), which becomes the router ("hub"). Node i gets a namespace with one
veth link to the hub (node 10.77.i.2, hub side 10.77.i.1), and the clients another
(10.77.9.2). Every packet between two hosts crosses the hub, so a partition is a pair of
`ip rule ... blackhole` rules there: forwarded packets are dropped silently, as by a cut
cable or a firewall's DROP (nftables and iptables are not installed on the test machine;
policy rules between addresses do the same job). Connections the hub itself opens (the
admin views below) are never cut, except to a fully isolated node.

  ck_partition.py run DIR        the check (DIR: data dirs and node logs). A 3-partition RF 3
                                 topic with min.insync.replicas=2; idempotent acks=all
                                 producers (librdkafka and Java) and a consumer (client
                                 namespace) run throughout:
                                   1. the leader of partition 0 is cut from both other
                                      brokers (clients still reach it);
                                   2. the leader of partition 1 is cut from everyone;
                                   3. the leader of partition 2 is cut from one follower only
                                      (replica.lag.time.max.ms is 4 s here);
                                 each cut lasts 10 s, or until 2 s after its outcome: a new
                                 leader (1, 2) or a smaller ISR (3) within 30 s, and every ISR
                                 whole again within 60 s after it heals. Then the
                                 history check (no acknowledged record lost, none twice, send
                                 order kept, every record a consumer read still in the log at
                                 its offset); the longest gap without an acknowledgement of each
                                 partition is printed.
  ck_partition.py workload BOOTSTRAP TOPIC STOP HISTORY
                                 (run by `run` inside the client namespace) the librdkafka
                                 producer and consumer until the file STOP exists, then flush
The Java 4.3 writer (`Cluster produce-until`, command line in COMPAT_JAVA_ARGV, one argument
a line) writes beside the librdkafka one when it is given.
  ck_partition.py cleanup        kill the nodes and delete the namespaces a killed run left

Needs: root, `ip` (iproute2), unshare; RUNNEL_BIN; RUNNEL_HISTORY_CHECK.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

PREFIX = "runnel-part"          # namespace names: PREFIX-<pid>-<host>
NODE_IDS = [1, 2, 3]
KAFKA, CONTROLLER, HTTP = 9092, 9093, 9644
CUT_S = 10                      # each cut lasts at least this long
MOVE_LIMIT_S = 30               # and ends at most this long after it began
SESSION_MS = int(os.environ.get("COMPAT_CLUSTER_SESSION_TIMEOUT_MS", "3000"))
HEARTBEAT_MS = int(os.environ.get("COMPAT_CLUSTER_HEARTBEAT_INTERVAL_MS", "500"))
# Short, so that the follower cut off in step 3 leaves the ISR within the cut.
REPLICA_LAG_MS = 4000


def addr(i):
    return f"10.77.{i}.2"


CLIENT_HOST = 9
os.environ["COMPAT_CLUSTER_NODES"] = ",".join(f"{addr(i)}:{KAFKA}" for i in NODE_IDS)

from common import check, main, topic_name  # noqa: E402
import ck_cluster as cc  # noqa: E402  (reads COMPAT_CLUSTER_NODES at import)
from history import History, check as check_history, history_path, read_final_log  # noqa: E402


def ip(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {r.stderr.strip()}")


class Net:
    """The hub (this namespace) and one namespace per host, linked by veth pairs."""

    def __init__(self):
        self.tag = f"{PREFIX}-{os.getpid()}"
        self.made = []
        self.rules = []

    def ns(self, host):
        return f"{self.tag}-{host}"

    def up(self):
        ip("link", "set", "lo", "up")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        for host in NODE_IDS + [CLIENT_HOST]:
            ns = self.ns(host)
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("link", "add", f"h{host}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("addr", "add", f"10.77.{host}.1/24", "dev", f"h{host}")
            ip("link", "set", f"h{host}", "up")
            ip("link", "set", "lo", "up", ns=ns)
            ip("addr", "add", f"{addr(host)}/24", "dev", "eth0", ns=ns)
            ip("link", "set", "eth0", "up", ns=ns)
            ip("route", "add", "default", "via", f"10.77.{host}.1", ns=ns)

    def cut(self, a, b):
        """Drop every packet between hosts a and b, both ways."""
        for src, dst in ((a, b), (b, a)):
            rule = ["from", addr(src), "to", addr(dst)]
            ip("rule", "add", *rule, "blackhole")
            self.rules.append(rule)

    def isolate(self, a):
        """Drop every packet from and to host a."""
        for rule in (["from", addr(a)], ["to", addr(a)]):
            ip("rule", "add", *rule, "blackhole")
            self.rules.append(rule)

    def heal(self):
        while self.rules:
            ip("rule", "del", *self.rules.pop(), "blackhole")

    def down(self):
        for ns in self.made:
            kill_namespace(ns)


def kill_namespace(ns):
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Nodes:
    """Three combined broker+controller nodes, node i in namespace i."""

    def __init__(self, net, base):
        self.net, self.base, self.procs = net, base, {}

    def start(self):
        binary = os.environ["RUNNEL_BIN"]
        voters = ",".join(f"{i}@{addr(i)}:{CONTROLLER}" for i in NODE_IDS)
        env = dict(os.environ,
                   # The HTTP listeners bind namespace addresses, not loopback: without a
                   # console credential the broker serves them only with the console off
                   # (/readyz is all this check reads).
                   RUNNEL_CONSOLE_ENABLED="false",
                   RUNNEL_CLUSTER_BROKER_SESSION_TIMEOUT_MS=str(SESSION_MS),
                   RUNNEL_CLUSTER_BROKER_HEARTBEAT_INTERVAL_MS=str(HEARTBEAT_MS),
                   RUNNEL_CLUSTER_REPLICA_LAG_TIME_MAX_MS=str(REPLICA_LAG_MS),
                   # No preferred-leader moves (Kafka moves them after 5 minutes). Moved
                   # back right after a heal, a leader receives the produce requests that
                   # TCP held during the cut (their first batches already truncated from it
                   # as a divergent tail) and answers them OUT_OF_ORDER_SEQUENCE_NUMBER, as
                   # Kafka does; librdkafka then bumps its epoch and re-sends what it had
                   # not seen acknowledged, a duplicate where that was written (its
                   # documented limit for "possibly persisted" messages).
                   RUNNEL_CLUSTER_LEADER_IMBALANCE_CHECK_INTERVAL_MS="0")
        for i in NODE_IDS:
            a = addr(i)
            argv = ["ip", "netns", "exec", self.net.ns(i), binary, "--node-id", str(i),
                    "--data-dir", os.path.join(self.base, f"node-{i}"),
                    "--listen", f"{a}:{KAFKA}", "--advertised-listener", f"{a}:{KAFKA}",
                    "--http-listen", f"{a}:{HTTP}", "--controller-listen", f"{a}:{CONTROLLER}",
                    "--controller-voters", voters]
            log = open(os.path.join(self.base, f"node-{i}.log"), "ab")
            self.procs[i] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        for i in NODE_IDS:
            while not ready(i):
                check(self.procs[i].poll() is None, f"node {i} exited: see {self.base}/node-{i}.log")
                check(time.time() < deadline, f"node {i} not ready after 60 s")
                time.sleep(0.2)

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def ready(i):
    try:
        with urllib.request.urlopen(f"http://{addr(i)}:{HTTP}/readyz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def partitions(t, via):
    """{partition: (leader, isr)} of t in node via's view."""
    md = cc.view(via)
    return {p.id: (p.leader, sorted(p.isrs)) for p in md.topics[t].partitions.values()}


def whole(t):
    def ok():
        views = [partitions(t, i) for i in NODE_IDS]
        good = all(isr == NODE_IDS and leader in NODE_IDS for v in views for leader, isr in v.values())
        return good, views
    return ok


def run(base):
    import confluent_kafka  # noqa: F401 - fail early without the client
    if os.environ.get("RUNNEL_PARTITION_HUB") != "1":
        # The routing below happens in a network namespace of this run's own.
        os.environ["RUNNEL_PARTITION_HUB"] = "1"
        os.execvp("unshare", ["unshare", "-n", "--", sys.executable, "-u", os.path.abspath(__file__), "run", base])
    os.makedirs(base, exist_ok=True)
    net = Net()
    nodes = Nodes(net, base)
    writers = []
    stop_file = os.path.join(base, "stop")
    hists = {w: history_path(f"partition-{w}") for w in ("ck", "java", "log")}
    java = [a for a in os.environ.get("COMPAT_JAVA_ARGV", "").split("\n") if a]
    try:
        net.up()
        nodes.start()
        print(f"3 nodes ready in namespaces {net.tag}-1..3 at 10.77.1-3.2; clients at {addr(CLIENT_HOST)}")
        t = topic_name("partition")
        a = cc.admin(1)
        fs = a.create_topics([cc.NewTopic(t, num_partitions=3, replication_factor=3,
                                          config={"min.insync.replicas": "2"})],
                             operation_timeout=20, request_timeout=20)
        fs[t].result(timeout=40)
        cc.poll(lambda: cc.converged_topic(t, 3, 3), 30, f"every node's view of {t}")

        in_clients = ["ip", "netns", "exec", net.ns(CLIENT_HOST)]
        writers.append(subprocess.Popen(
            in_clients + [sys.executable, "-u", os.path.abspath(__file__), "workload",
                          os.environ["COMPAT_CLUSTER_NODES"], t, stop_file, hists["ck"]]))
        if java:
            writers.append(subprocess.Popen(
                in_clients + java + ["Cluster", "produce-until", t, stop_file, hists["java"]],
                env=dict(os.environ, BOOTSTRAP=os.environ["COMPAT_CLUSTER_NODES"])))
        else:
            print("no Java writer (COMPAT_JAVA_ARGV unset): librdkafka only")
        time.sleep(4)

        def others(i):
            return [j for j in NODE_IDS if j != i]

        def fault(cut, outcome, what):
            """Applies `cut`, waits until outcome() holds in a witness's view (the quorum
            may first have to elect a controller: up to ~8 s with openraft's lease and
            back-off, then the broker session), keeps the cut for at least CUT_S, heals,
            and waits until every ISR is whole again."""
            t0 = time.time()
            cut()
            seen = cc.poll(outcome, MOVE_LIMIT_S, what)
            print(f"   {what} after {time.time() - t0:.1f} s: {seen}")
            time.sleep(max(2.0, CUT_S - (time.time() - t0)))
            net.heal()
            healed = time.time()
            cc.poll(whole(t), 60, "every ISR whole after the cut healed")
            print(f"   healed after {healed - t0:.1f} s; every ISR whole {time.time() - healed:.1f} s later")

        def led_elsewhere(p, old, witness):
            def ok():
                v = partitions(t, witness)
                return v[p][0] not in (old, -1), v
            return ok

        # 1. A leader cut from both other brokers; clients still reach it.
        lay = partitions(t, 1)
        victim = lay[0][0]
        print(f"1. leader {victim} of p0 cut from brokers {others(victim)}; layout {lay}")
        fault(lambda: [net.cut(victim, j) for j in others(victim)],
              led_elsewhere(0, victim, others(victim)[0]), "p0 led by another broker")

        # 2. A leader cut from everyone, clients included.
        lay = partitions(t, 1)
        victim = lay[1][0]
        print(f"2. leader {victim} of p1 isolated from everyone; layout {lay}")
        fault(lambda: net.isolate(victim), led_elsewhere(1, victim, others(victim)[0]),
              "p1 led by another broker")

        # 3. A leader cut from one follower only: that follower leaves the ISR (or, when the
        #    follower is the active controller, the leader is fenced and replaced).
        lay = partitions(t, 1)
        leader = lay[2][0]
        follower, witness = others(leader)
        print(f"3. leader {leader} of p2 cut from follower {follower} only; layout {lay}")

        def shrunk():
            v = partitions(t, witness)[2]
            return follower not in v[1] or v[0] != leader, v
        fault(lambda: net.cut(leader, follower), shrunk,
              f"follower {follower} out of p2's ISR (or a new leader)")

        time.sleep(3)
        open(stop_file, "w").close()
        codes = [w.wait(150) for w in writers]
        writers = []
        check(codes == [0] * len(codes), f"a writer exited non-zero: {codes}")
        h = History(hists["log"])
        read_final_log({"bootstrap.servers": os.environ["COMPAT_CLUSTER_NODES"]}, t, [0, 1, 2], h)
        h.close()
        check_history(*(hists[w] for w in ("ck", "java", "log") if w != "java" or java))
    finally:
        net.heal()
        for w in writers:
            w.kill()
        nodes.stop()
        net.down()
        logdir = os.environ.get("COMPAT_LOGDIR")
        if logdir:
            for i in NODE_IDS:
                src = os.path.join(base, f"node-{i}.log")
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(logdir, f"partition-node-{i}.log"))


def workload(bootstrap, t, stop_file, hist_path):
    from confluent_kafka import Consumer, TopicPartition
    h = History(hist_path)
    done = threading.Event()

    def report(err, msg):
        if err is not None:
            h.fail(msg.partition(), msg.value().decode(), str(err))
        else:
            h.ack(msg.partition(), msg.offset(), msg.value().decode())

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic_name("partition-read"),
                      "enable.auto.commit": False, "socket.connection.setup.timeout.ms": 3000})
        c.assign([TopicPartition(t, p, 0) for p in range(3)])
        while not done.is_set():
            m = c.poll(0.5)
            if m is not None and not m.error():
                h.read("ck-reader", m.partition(), m.offset(), m.value().decode())
        c.close()

    reader = threading.Thread(target=consume)
    reader.start()
    p = cc.idempotent_producer(bootstrap)
    seq = 0
    while not os.path.exists(stop_file):
        seq = cc.send_next(p, t, seq, report)
    left = p.flush(130)
    time.sleep(2)  # the reader catches up with the last acknowledgements
    done.set()
    reader.join()
    h.close()
    print(f"workload: sent {seq}, {left} neither acknowledged nor failed")
    check(left == 0, f"{left} records neither acknowledged nor failed after 130 s")


def cleanup():
    """Namespaces of runs whose process is gone (a run killed by its timeout)."""
    for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines():
        ns = (line.split() or [""])[0]
        owner = ns[len(PREFIX) + 1:].split("-")[0]
        if ns.startswith(PREFIX + "-") and owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            kill_namespace(ns)
            print(f"removed namespace {ns} of a run that is gone")


if __name__ == "__main__":
    cmds = {"run": run, "workload": workload, "cleanup": cleanup}
    main(lambda: cmds[sys.argv[1]](*sys.argv[2:]))
