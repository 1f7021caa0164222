import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Java kafka-clients 4.3.0 against a 3-node Runnel cluster (compat/run starts it with
 * scripts/cluster; COMPAT_CLUSTER_NODES = "host:port,host:port,host:port" of nodes 1, 2, 3).
 * "Via node N" means an Admin whose bootstrap is that node alone.
 *
 *   Cluster describe-cluster       describeCluster via each node: nodes 1, 2, 3 at their
 *                                  advertised host:port, one cluster id, a live controller id
 *   Cluster create-rf3-via-node2   createTopics 6 partitions RF 3 via node 2: the result's
 *                                  partition count, replication factor and topic id
 *   Cluster describe-all-nodes     a 6-partition RF 3 topic (created via node 2) described via
 *                                  each node: 3 distinct replicas, ISR = replicas, leader in
 *                                  replicas, every broker leads a partition, all views equal
 *   Cluster rf4-invalid            createTopics RF 4 via node 2 and via node 1:
 *                                  InvalidReplicationFactorException, no topic left behind
 *   Cluster produce-consume        100 keyed records, acks=all, to an RF 3 topic, read back
 *   Cluster delete-via-node3       deleteTopics via node 3; gone from node 1's listTopics in 10 s
 *   Cluster describe-quorum        describeMetadataQuorum via each node (what kafka-metadata-quorum
 *                                  describe --status calls): one leader among 1,2,3, voters 1,2,3
 *   Cluster failover-rolling DIR   (DIR: the cluster dir) a default (idempotent, acks=all)
 *                                  producer writes to a 3-partition RF 3 topic with
 *                                  min.insync.replicas=2 while the leader of partition 0 is
 *                                  SIGKILLed (and started again 5 s later), then every node in
 *                                  turn gets SIGTERM and is started again once it exited (a
 *                                  rolling restart); no send fails, and the history checker
 *                                  (History.java, compat/history) on the acks and the final
 *                                  log: every acknowledged record in the log at its offset,
 *                                  none twice, each partition in send order
 *   Cluster produce-until TOPIC STOP HISTORY
 *                                  (a writer of compat/python/ck_partition.py, run in its
 *                                  clients' network namespace) a default (idempotent, acks=all)
 *                                  producer writes "java:SEQ" round-robin to partitions 0-2 of
 *                                  TOPIC until the file STOP exists, every acknowledgement and
 *                                  failure recorded in the history file HISTORY; at most ~2,000
 *                                  records/s, so that the brokers keep some of the 2 cores
 */
public class Cluster {
    static final List<String> NODES = List.of(
            System.getenv().getOrDefault("COMPAT_CLUSTER_NODES", "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292")
                    .split(","));
    /** How long metadata may take to reach every broker before a view counts as wrong. */
    static final Duration CONVERGE = Duration.ofSeconds(15);

    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            Util.eq(NODES.size(), 3, "COMPAT_CLUSTER_NODES entries");
            switch (cmd) {
                case "describe-cluster" -> describeCluster();
                case "create-rf3-via-node2" -> createRf3ViaNode2();
                case "describe-all-nodes" -> describeAllNodes();
                case "rf4-invalid" -> rf4Invalid();
                case "produce-consume" -> produceConsume();
                case "delete-via-node3" -> deleteViaNode3();
                case "describe-quorum" -> describeQuorum();
                case "failover-rolling" -> failoverRolling(args[1]);
                case "produce-until" -> produceUntil(args[1], args[2], args[3]);
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    /** Bootstrap address of node id (1-based). */
    static String node(int id) { return NODES.get(id - 1); }

    /** An Admin that knows only node id at first. */
    static Admin admin(int id) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, node(id));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        return Admin.create(p);
    }

    static <T> Throwable failure(KafkaFuture<T> f) throws Exception {
        try {
            f.get(60, SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    static CreateTopicsResult create(Admin a, String t, int partitions, int rf) throws Exception {
        CreateTopicsResult r = a.createTopics(List.of(new NewTopic(t, partitions, (short) rf)));
        r.all().get(60, SECONDS);
        return r;
    }

    /** One partition as a comparable string: leader, replicas, ISR, offline replicas. */
    static String show(TopicPartitionInfo p) {
        return "p" + p.partition() + " leader=" + (p.leader() == null ? "none" : p.leader().id())
                + " replicas=" + ids(p.replicas()) + " isr=" + ids(p.isr())
                + (p.elr() == null || p.elr().isEmpty() ? "" : " elr=" + ids(p.elr()));
    }

    static List<Integer> ids(List<Node> ns) {
        return ns.stream().map(Node::id).collect(Collectors.toList());
    }

    /** The topic as node id describes it (null while that node does not know it). */
    static TopicDescription describe(Admin a, String t) {
        try {
            return a.describeTopics(List.of(t)).allTopicNames().get(30, SECONDS).get(t);
        } catch (Exception e) {
            return null;
        }
    }

    /** The problems of one view of an RF-3 topic with the given partitions ("" = none). */
    static String problems(TopicDescription d, int partitions, int rf, Set<Integer> brokers) {
        if (d == null) return "topic unknown";
        List<String> bad = new ArrayList<>();
        if (d.partitions().size() != partitions) bad.add(d.partitions().size() + " partitions, want " + partitions);
        Map<Integer, Integer> leads = new TreeMap<>();
        for (TopicPartitionInfo p : d.partitions()) {
            List<Integer> r = ids(p.replicas());
            if (r.size() != rf) bad.add(show(p) + ": " + r.size() + " replicas, want " + rf);
            if (new HashSet<>(r).size() != r.size()) bad.add(show(p) + ": replicas not distinct");
            if (!brokers.containsAll(r)) bad.add(show(p) + ": replica on an unknown broker");
            if (!new HashSet<>(ids(p.isr())).equals(new HashSet<>(r))) bad.add(show(p) + ": ISR != replicas");
            if (p.leader() == null || !r.contains(p.leader().id())) bad.add(show(p) + ": leader not in replicas");
            else leads.merge(p.leader().id(), 1, Integer::sum);
        }
        if (partitions >= brokers.size() && rf == brokers.size() && !leads.keySet().equals(brokers)) {
            bad.add("leaders not spread: partitions led per broker " + leads + ", brokers " + brokers);
        }
        return String.join("; ", bad);
    }

    static String summary(TopicDescription d) {
        if (d == null) return "(unknown)";
        return d.topicId() + " " + d.partitions().stream().map(Cluster::show).collect(Collectors.joining(", "));
    }

    // ---------------------------------------------------------------------------------

    static void describeCluster() throws Exception {
        Set<String> clusterIds = new HashSet<>();
        for (int id = 1; id <= 3; id++) {
            try (Admin a = admin(id)) {
                DescribeClusterResult r = a.describeCluster();
                Collection<Node> nodes = r.nodes().get(30, SECONDS);
                Node controller = r.controller().get(30, SECONDS);
                String cid = r.clusterId().get(30, SECONDS);
                System.out.println("via node " + id + ": cluster " + cid + ", controller "
                        + (controller == null ? "none" : controller.id()) + ", nodes " + nodes);
                Map<Integer, String> got = new TreeMap<>();
                for (Node n : nodes) {
                    Util.check(got.put(n.id(), n.host() + ":" + n.port()) == null, "node id " + n.id() + " listed twice: " + nodes);
                }
                Map<Integer, String> want = new TreeMap<>(Map.of(1, node(1), 2, node(2), 3, node(3)));
                Util.eq(got, want, "describeCluster nodes via node " + id);
                Util.check(controller != null && want.containsKey(controller.id()),
                        "controller via node " + id + " is " + controller + ", want one of the live nodes");
                Util.check(cid != null && !cid.isEmpty(), "empty cluster id via node " + id);
                clusterIds.add(cid);
            }
        }
        Util.eq(clusterIds.size(), 1, "distinct cluster ids across the nodes " + clusterIds);
    }

    static void createRf3ViaNode2() throws Exception {
        String t = Util.topic("java-rf3");
        try (Admin a = admin(2)) {
            CreateTopicsResult r = create(a, t, 6, 3);
            int parts = r.numPartitions(t).get(30, SECONDS);
            int rf = r.replicationFactor(t).get(30, SECONDS);
            Uuid id = r.topicId(t).get(30, SECONDS);
            System.out.println("created " + t + " via node 2: id " + id + ", " + parts + " partitions, RF " + rf);
            Util.eq(parts, 6, "createTopics result: partitions");
            Util.eq(rf, 3, "createTopics result: replication factor");
            Util.check(id != null && !Uuid.ZERO_UUID.equals(id), "createTopics result: topic id " + id);
            TopicDescription[] last = new TopicDescription[1];
            waitFor(() -> {
                last[0] = describe(a, t);
                return last[0] == null ? "unknown" : problems(last[0], 6, 3, Set.of(1, 2, 3));
            }, CONVERGE, "a correct description of " + t + " via node 2", () -> summary(last[0]));
            Util.eq(last[0].topicId(), id, "topic id described vs created");
            System.out.println("described: " + summary(last[0]));
        }
    }

    static void describeAllNodes() throws Exception {
        String t = Util.topic("java-describe");
        try (Admin a2 = admin(2)) {
            create(a2, t, 6, 3);
        }
        Admin[] admins = {admin(1), admin(2), admin(3)};
        try {
            Map<Integer, TopicDescription> views = new TreeMap<>();
            long deadline = System.currentTimeMillis() + CONVERGE.toMillis();
            while (true) {
                // Each Admin is asked three times: it sends describeTopics to its least-loaded
                // node, so between them the three Admins reach every broker.
                Map<String, List<Integer>> distinct = new LinkedHashMap<>();
                List<String> bad = new ArrayList<>();
                for (int id = 1; id <= 3; id++) {
                    for (int k = 0; k < 3; k++) {
                        TopicDescription d = describe(admins[id - 1], t);
                        views.put(id, d);
                        String p = problems(d, 6, 3, Set.of(1, 2, 3));
                        if (!p.isEmpty()) bad.add("via node " + id + ": " + p);
                        distinct.computeIfAbsent(summary(d), x -> new ArrayList<>()).add(id);
                    }
                }
                if (bad.isEmpty() && distinct.size() == 1) break;
                if (System.currentTimeMillis() > deadline) {
                    StringBuilder sb = new StringBuilder("views of " + t + " still wrong or different after "
                            + CONVERGE.toSeconds() + "s:");
                    for (String b : bad) sb.append("\n  ").append(b);
                    for (Map.Entry<String, List<Integer>> e : distinct.entrySet()) {
                        sb.append("\n  via nodes ").append(e.getValue()).append(": ").append(e.getKey());
                    }
                    throw new AssertionError(sb.toString());
                }
                Thread.sleep(300);
            }
            System.out.println("every view: " + summary(views.get(1)));
        } finally {
            for (Admin a : admins) a.close(Duration.ofSeconds(5));
        }
    }

    static void rf4Invalid() throws Exception {
        for (int via : new int[] {2, 1}) {
            String t = Util.topic("java-rf4");
            try (Admin a = admin(via)) {
                Throwable e = failure(a.createTopics(List.of(new NewTopic(t, 3, (short) 4))).all());
                System.out.println("RF 4 via node " + via + ": " + e);
                Util.check(e instanceof InvalidReplicationFactorException,
                        "createTopics RF 4 via node " + via + ": want InvalidReplicationFactorException, got " + e);
                Set<String> names = a.listTopics().names().get(30, SECONDS);
                Util.check(!names.contains(t), "topic " + t + " exists after a refused create: " + names);
            }
        }
    }

    static void produceConsume() throws Exception {
        String t = Util.topic("java-cluster-pc");
        int n = 100;
        try (Admin a = admin(1)) {
            create(a, t, 6, 3);
        }
        // Every node must know the topic (and its leaders) before the clients use it.
        for (int id = 1; id <= 3; id++) {
            try (Admin a = admin(id)) {
                TopicDescription[] last = new TopicDescription[1];
                waitFor(() -> {
                    last[0] = describe(a, t);
                    if (last[0] == null) return "unknown";
                    if (last[0].partitions().size() != 6) return last[0].partitions().size() + " partitions";
                    return last[0].partitions().stream().allMatch(p -> p.leader() != null) ? "" : "a partition without leader";
                }, CONVERGE, t + " with 6 led partitions via node " + id, () -> summary(last[0]));
            }
        }
        Map<String, String> want = new LinkedHashMap<>();
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> p = Util.producer(ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000", ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000")) {
            List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                want.put("k" + i, "value-" + i);
                fs.add(p.send(new ProducerRecord<>(t, Util.b("k" + i), Util.b("value-" + i))));
            }
            p.flush();
            for (java.util.concurrent.Future<RecordMetadata> f : fs) {
                RecordMetadata m = f.get(60, SECONDS);
                offsets.computeIfAbsent(m.partition(), x -> new ArrayList<>()).add(m.offset());
            }
        }
        System.out.println("acknowledged per partition: " + offsets.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue().size()).collect(Collectors.joining(" ")));
        for (Map.Entry<Integer, List<Long>> e : offsets.entrySet()) {
            List<Long> got = new ArrayList<>(e.getValue());
            Collections.sort(got);
            List<Long> dense = new ArrayList<>();
            for (long o = 0; o < got.size(); o++) dense.add(o);
            Util.eq(got, dense, "acknowledged offsets of partition " + e.getKey());
        }
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < 6; p++) tps.add(new TopicPartition(t, p));
        List<ConsumerRecord<byte[], byte[]>> rs = Util.readAll(t, tps, n, Duration.ofSeconds(60));
        Map<String, String> got = new LinkedHashMap<>();
        Map<Integer, Long> next = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : rs) {
            String k = Util.s(r.key());
            Util.check(got.put(k, Util.s(r.value())) == null, "key " + k + " read twice");
            long want0 = next.getOrDefault(r.partition(), 0L);
            Util.eq(r.offset(), want0, "offset in partition " + r.partition());
            next.put(r.partition(), want0 + 1);
        }
        Util.eq(new TreeMap<>(got), new TreeMap<>(want), "records read back (key -> value)");
    }

    static long pid(String dir, int id) throws Exception {
        return Long.parseLong(java.nio.file.Files.readString(java.nio.file.Path.of(dir, "node-" + id + ".pid")).trim());
    }

    /** scripts/cluster ARGS --dir DIR; fails on a non-zero exit. */
    static void clusterCtl(String dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(System.getenv("COMPAT_DIR") + "/../scripts/cluster");
        cmd.addAll(List.of(args));
        cmd.add("--dir");
        cmd.add(dir);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        Util.check(p.waitFor(120, SECONDS) && p.exitValue() == 0, "scripts/cluster " + args[0] + " failed: " + out);
    }

    static void failoverRolling(String dir) throws Exception {
        String t = Util.topic("java-failover");
        int victim;
        try (Admin a = admin(2)) {
            NewTopic nt = new NewTopic(t, 3, (short) 3).configs(Map.of("min.insync.replicas", "2"));
            a.createTopics(List.of(nt)).all().get(60, SECONDS);
            TopicDescription[] d = new TopicDescription[1];
            waitFor(() -> {
                d[0] = describe(a, t);
                return d[0] != null && d[0].partitions().stream().allMatch(p -> p.leader() != null && p.isr().size() == 3)
                        ? "" : "not led with a whole ISR";
            }, CONVERGE, t + " led with a whole ISR", () -> summary(d[0]));
            victim = d[0].partitions().get(0).leader().id();
        }
        // What the producer saw goes to a history file; the Rust checker compares it with
        // the final log.
        History h = new History(History.path(t));
        List<String> failed = Collections.synchronizedList(new ArrayList<>());
        long t0 = System.currentTimeMillis();
        Thread faults = new Thread(() -> {
            try {
                Thread.sleep(2000);
                ProcessHandle.of(pid(dir, victim)).ifPresent(ProcessHandle::destroyForcibly);
                System.out.println("SIGKILL node " + victim + " at " + (System.currentTimeMillis() - t0) + " ms");
                Thread.sleep(5000);
                clusterCtl(dir, "start", String.valueOf(victim));
                for (int id = 1; id <= 3; id++) {
                    Thread.sleep(2000);
                    ProcessHandle ph = ProcessHandle.of(pid(dir, id)).orElseThrow();
                    ph.destroy();
                    ph.onExit().get(30, SECONDS);
                    System.out.println("SIGTERM node " + id + " exited at " + (System.currentTimeMillis() - t0) + " ms");
                    clusterCtl(dir, "start", String.valueOf(id));
                }
            } catch (Exception e) {
                failed.add("fault thread: " + e);
            }
        });
        Writer w = new Writer(t, h);
        try (w) {
            faults.start();
            while (faults.isAlive() || System.currentTimeMillis() - t0 < 10_000) {
                w.sendNext();
                if (w.sent % 50 == 0) Thread.sleep(5);
            }
        }
        faults.join();
        System.out.println(w.summary());
        Util.check(failed.isEmpty(), "the fault schedule failed: " + failed);
        Util.check(w.failed.isEmpty(), "sends failed: " + w.failed.subList(0, Math.min(5, w.failed.size())));
        // The final log, then the checker: every acknowledged record in the log at its offset,
        // none twice, each partition in send order.
        System.out.println("final log, records per partition: " + History.readFinalLog(t, 3, h, Duration.ofSeconds(90)));
        h.close();
        History.check(h.path);
    }

    static void produceUntil(String t, String stop, String history) throws Exception {
        String summary;
        try (History h = new History(java.nio.file.Path.of(history)); Writer w = new Writer(t, h)) {
            while (!java.nio.file.Files.exists(java.nio.file.Path.of(stop))) {
                w.sendNext();
                if (w.sent % 10 == 0) Thread.sleep(5);
            }
            w.p.flush();
            summary = w.summary();
        }
        System.out.println("java writer: " + summary);
    }

    /**
     * The fault checks' writer: "java:SEQ" round-robin to partitions 0-2 of a topic with a
     * default (idempotent, acks=all) producer; every acknowledgement and failure goes to the
     * history (which stays open). close() flushes and closes the producer.
     */
    static final class Writer implements AutoCloseable {
        final String topic;
        final History h;
        final KafkaProducer<byte[], byte[]> p = Util.producer(ProducerConfig.LINGER_MS_CONFIG, "5",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000", ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        final java.util.concurrent.atomic.AtomicInteger acked = new java.util.concurrent.atomic.AtomicInteger();
        final List<String> failed = Collections.synchronizedList(new ArrayList<>());
        int sent;

        Writer(String topic, History h) {
            this.topic = topic;
            this.h = h;
        }

        void sendNext() {
            int part = sent % 3;
            String v = "java:" + String.format("%08d", sent);
            p.send(new ProducerRecord<>(topic, part, null, Util.b(v)), (m, e) -> {
                if (e != null) {
                    h.fail(part, v, e.toString());
                    failed.add(v + ": " + e);
                } else {
                    h.ack(m.partition(), m.offset(), v);
                    acked.incrementAndGet();
                }
            });
            sent++;
        }

        String summary() {
            return "sent " + sent + ", acknowledged " + acked.get() + ", failed " + failed.size()
                    + (failed.isEmpty() ? "" : " e.g. " + failed.subList(0, Math.min(3, failed.size())));
        }

        @Override
        public void close() {
            p.flush();
            p.close();
        }
    }

    static void deleteViaNode3() throws Exception {
        String t = Util.topic("java-delete");
        try (Admin a1 = admin(1); Admin a3 = admin(3)) {
            create(a1, t, 3, 3);
            Util.waitUntil(() -> describe(a3, t) != null, CONVERGE, t + " known via node 3");
            Util.waitUntil(() -> { Set<String> s = names(a1); return s != null && s.contains(t); },
                    CONVERGE, t + " listed via node 1");
            a3.deleteTopics(List.of(t)).all().get(60, SECONDS);
            long t0 = System.currentTimeMillis();
            Util.waitUntil(() -> { Set<String> s = names(a1); return s != null && !s.contains(t); },
                    Duration.ofSeconds(10),
                    t + " gone from node 1's listTopics after deleteTopics via node 3");
            System.out.println("deleted via node 3; gone from node 1's listTopics after "
                    + (System.currentTimeMillis() - t0) + " ms");
        }
    }

    static void describeQuorum() throws Exception {
        Set<Integer> leaders = new TreeSet<>();
        for (int id = 1; id <= 3; id++) {
            try (Admin a = admin(id)) {
                QuorumInfo q = a.describeMetadataQuorum().quorumInfo().get(30, SECONDS);
                System.out.println("via node " + id + ": leader " + q.leaderId() + ", epoch " + q.leaderEpoch()
                        + ", high watermark " + q.highWatermark() + ", voters " + q.voters()
                        + ", observers " + q.observers());
                Set<Integer> voters = q.voters().stream().map(QuorumInfo.ReplicaState::replicaId)
                        .collect(Collectors.toCollection(TreeSet::new));
                Util.eq(voters, new TreeSet<>(Set.of(1, 2, 3)), "voters via node " + id);
                Util.check(voters.contains(q.leaderId()), "leader " + q.leaderId() + " via node " + id + " is not a voter");
                leaders.add(q.leaderId());
            }
        }
        Util.eq(leaders.size(), 1, "distinct quorum leaders named by the nodes " + leaders);
    }

    /** listTopics' names, or null when the call failed. */
    static Set<String> names(Admin a) {
        try {
            return a.listTopics().names().get(30, SECONDS);
        } catch (Exception e) {
            System.out.println("listTopics: " + e);
            return null;
        }
    }

    /** Polls problem() until it answers "" or the limit passes; fails with the last answer. */
    static void waitFor(java.util.function.Supplier<String> problem, Duration limit, String what,
                        java.util.function.Supplier<String> state) throws InterruptedException {
        long deadline = System.currentTimeMillis() + limit.toMillis();
        String last;
        while (true) {
            last = problem.get();
            if (last.isEmpty()) return;
            if (System.currentTimeMillis() > deadline) break;
            Thread.sleep(250);
        }
        throw new AssertionError("timed out after " + limit.toSeconds() + "s waiting for " + what
                + ": " + last + (state == null ? "" : "; last seen: " + state.get()));
    }
}
