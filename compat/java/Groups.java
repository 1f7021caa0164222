import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Java kafka-clients 4.3.0 consumer-group checks (classic protocol).
 *
 *   Groups members range|cooperative-sticky
 *       3 KafkaConsumers in one group on a 6-partition topic, commitSync after every batch:
 *       every record exactly once; one member closes (LeaveGroup) and the others take over;
 *       a member in a separate JVM is SIGKILLed and its partitions move after the session
 *       timeout; the broker restarts (unless COMPAT_EXTERNAL_BROKER) and the consumers resume
 *       from the committed offsets; a fresh member of the group sees nothing old.
 *   Groups admin
 *       listGroups, describeConsumerGroups, listConsumerGroupOffsets, listOffsets (lag),
 *       alterConsumerGroupOffsets, deleteConsumerGroupOffsets, deleteConsumerGroups, checked
 *       value by value against what the consumer did.
 *   Groups mixed
 *       a Java consumer and a librdkafka (confluent-kafka) consumer share one group.
 *   Groups member GROUP TOPIC ASSIGNOR   (child process for "members": prints REC/COMMIT lines)
 *
 * ASSIGNOR "consumer-uniform" / "consumer-range" runs the members with the KIP-848 protocol
 * (group.protocol=consumer, group.remote.assignor=uniform|range; session and heartbeat are
 * the broker's) and also checks that no partition is ever owned by two members at once
 * (rebalance callbacks against a shared owner table).
 *
 *   Groups settle ASSIGNOR
 *       2 members stable, a third joins: prints the time until the 3 own disjoint, complete
 *       assignments ("settle after join").
 *   Groups describe-consumer
 *       Admin.describeConsumerGroups / listGroups on a KIP-848 group, as
 *       kafka-consumer-groups --describe --members --verbose / --state read it.
 *   Groups rolling [ASSIGNOR]
 *       online migration: 3 classic members (cooperative-sticky unless ASSIGNOR) consuming under load are
 *       replaced one by one by group.protocol=consumer members (rolling upgrade: the group
 *       becomes a consumer group with classic members, UPGRADED in the Admin view), then back
 *       one by one (rolling downgrade: a classic group again), the broker restarted
 *       mid-migration (unless COMPAT_EXTERNAL_BROKER); every record exactly once with
 *       commits, no partition ever owned by two members at once.
 *   Groups coordinator-kill DIR
 *       (DIR: the cluster dir of compat/run's 3-node cluster) 3 KIP-848 members (uniform) on a
 *       6-partition RF 3 topic (min.insync.replicas=2) while a producer writes; the group's
 *       coordinator (leader of its __consumer_offsets partition, describeConsumerGroups'
 *       coordinator) is SIGKILLed and started again 5 s later, then the broker that took the group
 *       over, the same way. Each time the group re-forms on the new
 *       coordinator with the same member ids and a group epoch that never goes back (no
 *       GROUP_ID_NOT_FOUND or other fatal error in any member), every record is delivered,
 *       none again after a successful commit, and no partition is owned by two members at once.
 */
public class Groups {
    static final int PARTITIONS = 6;
    static final String SESSION_TIMEOUT_MS = "6000"; // Kafka's group.min.session.timeout.ms

    public static void main(String[] args) throws Exception {
        String cmd = args[0];
        if (cmd.equals("member")) { member(args[1], args[2], args[3]); return; }
        Util.main(cmd + (args.length > 1 ? " " + args[1] : ""), () -> {
            switch (cmd) {
                case "members" -> members(args[1]);
                case "admin" -> admin();
                case "mixed" -> mixed();
                case "settle" -> settle(args[1]);
                case "describe-consumer" -> describeConsumer();
                case "rolling" -> rolling(args.length > 1 ? args[1] : "cooperative-sticky");
                case "coordinator-kill" -> coordinatorKill(args[1]);
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static String assignorClass(String name) {
        return switch (name) {
            case "range" -> RangeAssignor.class.getName();
            case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
            default -> throw new IllegalArgumentException(name);
        };
    }

    static boolean consumerProtocol(String assignor) { return assignor.startsWith("consumer-"); }

    /** Owner of each partition, for the KIP-848 "never owned twice" check. */
    static final ConcurrentHashMap<Integer, String> OWNERS = new ConcurrentHashMap<>();
    /** Track owners for classic members too (the rolling migration mixes both). */
    static volatile boolean TRACK_ALL = false;

    static KafkaConsumer<byte[], byte[]> groupConsumer(String group, String assignor, String clientId) {
        if (consumerProtocol(assignor)) {
            return Util.consumer(
                    ConsumerConfig.GROUP_ID_CONFIG, group,
                    ConsumerConfig.CLIENT_ID_CONFIG, clientId,
                    ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                    ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, assignor.substring("consumer-".length()),
                    ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200");
        }
        return Util.consumer(
                ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.CLIENT_ID_CONFIG, clientId,
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass(assignor),
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, SESSION_TIMEOUT_MS,
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500",
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200");
    }

    // ------------------------------------------------------------------------------------
    // Delivery ledger: which (partition, offset) was delivered to whom, and whether the
    // commit covering that delivery succeeded. A record may be delivered twice only if the
    // commit of its earlier delivery failed ("no re-delivery beyond the last commit").
    // ------------------------------------------------------------------------------------
    static final class Ledger {
        final Map<String, List<String>> deliveries = new ConcurrentHashMap<>(); // "p/o" -> [member:committed?]
        final List<String> problems = Collections.synchronizedList(new ArrayList<>());

        void delivered(String member, List<String> keys, boolean committed) {
            for (String k : keys) deliveries.computeIfAbsent(k, x -> Collections.synchronizedList(new ArrayList<>()))
                    .add(member + (committed ? ":committed" : ":uncommitted"));
        }

        int distinct() { return deliveries.size(); }

        /** Every produced record delivered; a repeat only after an uncommitted delivery. */
        void verify(Map<Integer, Long> endOffsets) {
            int expected = 0;
            for (var e : endOffsets.entrySet()) {
                for (long o = 0; o < e.getValue(); o++) {
                    expected++;
                    List<String> d = deliveries.get(e.getKey() + "/" + o);
                    Util.check(d != null, "record " + e.getKey() + "/" + o + " never delivered");
                    synchronized (d) {
                        for (int i = 0; i + 1 < d.size(); i++) {
                            Util.check(d.get(i).endsWith(":uncommitted"), "record " + e.getKey() + "/" + o
                                    + " delivered again after a successful commit: " + d);
                        }
                    }
                }
            }
            Util.eq(deliveries.size(), expected, "distinct records delivered");
            Util.check(problems.isEmpty(), "problems: " + problems);
        }
    }

    /** One in-process group member on its own thread. */
    static final class Member implements Runnable {
        final String name, group, topic, assignor;
        final Ledger ledger;
        final AtomicBoolean stop = new AtomicBoolean();
        volatile Set<Integer> assignment = Set.of();
        volatile long lastCommitOk = 0;
        volatile Throwable error;
        final Thread thread;
        final CountDownLatch closed = new CountDownLatch(1);

        Member(String name, String group, String topic, String assignor, Ledger ledger) {
            this.name = name; this.group = group; this.topic = topic; this.assignor = assignor; this.ledger = ledger;
            thread = new Thread(this, name);
            thread.start();
        }

        public void run() {
            try (KafkaConsumer<byte[], byte[]> c = groupConsumer(group, assignor, name)) {
                boolean track = TRACK_ALL || consumerProtocol(assignor);
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                        if (track) for (TopicPartition tp : ps) OWNERS.remove(tp.partition(), name);
                    }
                    public void onPartitionsLost(Collection<TopicPartition> ps) { onPartitionsRevoked(ps); }
                    public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                        if (!track) return;
                        for (TopicPartition tp : ps) {
                            String prev = OWNERS.putIfAbsent(tp.partition(), name);
                            if (prev != null && !prev.equals(name))
                                ledger.problems.add("partition " + tp.partition() + " assigned to " + name + " while " + prev + " owns it");
                        }
                    }
                });
                boolean retryCommit = false;
                while (!stop.get()) {
                    ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                    assignment = c.assignment().stream().map(TopicPartition::partition).collect(Collectors.toSet());
                    if (recs.isEmpty() && !retryCommit) continue;
                    List<String> keys = new ArrayList<>();
                    for (ConsumerRecord<byte[], byte[]> r : recs) keys.add(r.partition() + "/" + r.offset());
                    // Like an application would: a failed commit is retried on the next round
                    // (commitSync() commits the positions of the partitions still owned).
                    boolean ok;
                    try {
                        c.commitSync(Duration.ofSeconds(30));
                        ok = true;
                        lastCommitOk = System.currentTimeMillis();
                    } catch (CommitFailedException | org.apache.kafka.common.errors.RebalanceInProgressException e) {
                        ok = false;
                        System.out.println(name + ": commit failed (allowed, records may be re-delivered): " + e);
                    }
                    retryCommit = !ok;
                    ledger.delivered(name, keys, ok);
                }
            } catch (Throwable t) {
                error = t;
                ledger.problems.add(name + ": " + t);
                t.printStackTrace(System.out);
            } finally {
                assignment = Set.of();
                closed.countDown();
            }
        }

        void close() throws InterruptedException {
            stop.set(true);
            Util.check(closed.await(60, SECONDS), name + " did not close within 60 s");
        }
    }

    /** A group member in a child JVM, so that it can be SIGKILLed (no LeaveGroup). */
    static final class ChildMember {
        final Process proc;
        volatile Set<Integer> assignment = Set.of();
        volatile int delivered = 0;
        final List<String> pending = new ArrayList<>();

        ChildMember(String group, String topic, String assignor, Ledger ledger) throws Exception {
            String javaBin = System.getProperty("java.home") + "/bin/java";
            proc = Util.spawn(new ProcessBuilder(javaBin, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dlog4j2.configurationFile=" + System.getProperty("log4j2.configurationFile", ""),
                    "-cp", System.getProperty("java.class.path"), "Groups", "member", group, topic, assignor)
                    .redirectError(ProcessBuilder.Redirect.INHERIT));
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        if (line.startsWith("REC ")) {
                            synchronized (pending) { pending.add(line.substring(4)); }
                        } else if (line.startsWith("COMMIT ")) {
                            List<String> keys;
                            synchronized (pending) { keys = new ArrayList<>(pending); pending.clear(); }
                            ledger.delivered("child", keys, line.equals("COMMIT ok"));
                            delivered += keys.size();
                        } else if (line.startsWith("ASSIGNED ")) {
                            String s = line.substring(9).trim();
                            assignment = s.isEmpty() ? Set.of() : Arrays.stream(s.split(",")).map(Integer::parseInt).collect(Collectors.toSet());
                        } else {
                            System.out.println("child: " + line);
                        }
                    }
                } catch (Exception e) {
                    System.out.println("child reader: " + e);
                }
                // Killed: deliveries without a commit line were never committed.
                List<String> keys;
                synchronized (pending) { keys = new ArrayList<>(pending); pending.clear(); }
                ledger.delivered("child", keys, false);
            }, "child-reader");
            reader.setDaemon(true);
            reader.start();
        }

        void kill() throws InterruptedException {
            proc.destroyForcibly(); // SIGKILL
            proc.waitFor(10, SECONDS);
        }
    }

    /** Child-process member: prints ASSIGNED / REC / COMMIT lines until killed. */
    static void member(String group, String topic, String assignor) {
        try (KafkaConsumer<byte[], byte[]> c = groupConsumer(group, assignor, "child-member")) {
            c.subscribe(List.of(topic));
            String last = null;
            boolean retryCommit = false;
            while (true) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                String a = c.assignment().stream().map(tp -> Integer.toString(tp.partition())).sorted().collect(Collectors.joining(","));
                if (!a.equals(last)) { System.out.println("ASSIGNED " + a); System.out.flush(); last = a; }
                if (recs.isEmpty() && !retryCommit) continue;
                StringBuilder sb = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> r : recs) sb.append("REC ").append(r.partition()).append('/').append(r.offset()).append('\n');
                System.out.print(sb);
                try {
                    c.commitSync(Duration.ofSeconds(30));
                    System.out.println("COMMIT ok");
                    retryCommit = false;
                } catch (CommitFailedException | org.apache.kafka.common.errors.RebalanceInProgressException e) {
                    System.out.println("COMMIT failed " + e);
                    retryCommit = true;
                }
                System.out.flush();
            }
        } catch (Throwable t) {
            t.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
    }

    static Map<Integer, Long> produce(String topic, int perPartition, Map<Integer, Long> end) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
            for (int i = 0; i < perPartition; i++) {
                for (int part = 0; part < PARTITIONS; part++) {
                    p.send(new ProducerRecord<>(topic, part, Util.b("k" + i), Util.b("v" + i)));
                }
            }
            p.flush();
        }
        Map<Integer, Long> m = new TreeMap<>(end);
        for (int part = 0; part < PARTITIONS; part++) m.merge(part, (long) perPartition, Long::sum);
        return m;
    }

    static int total(Map<Integer, Long> end) { return end.values().stream().mapToInt(Long::intValue).sum(); }

    /** The members' assignments are disjoint and cover all partitions. */
    static void awaitCoverage(String what, Duration limit, List<Member> members, ChildMember child) throws Exception {
        long t0 = System.currentTimeMillis();
        Util.waitUntil(() -> {
            List<Set<Integer>> sets = new ArrayList<>();
            for (Member m : members) sets.add(m.assignment);
            if (child != null) sets.add(child.assignment);
            if (sets.stream().anyMatch(Set::isEmpty)) return false;
            Set<Integer> all = new HashSet<>();
            int n = 0;
            for (Set<Integer> s : sets) { all.addAll(s); n += s.size(); }
            return n == PARTITIONS && all.size() == PARTITIONS;
        }, limit, what);
        StringBuilder sb = new StringBuilder();
        for (Member m : members) sb.append(m.name).append('=').append(new TreeSet<>(m.assignment)).append(' ');
        if (child != null) sb.append("child=").append(new TreeSet<>(child.assignment));
        System.out.printf("%s after %.1fs: %s%n", what, (System.currentTimeMillis() - t0) / 1000.0, sb);
    }

    static void awaitDelivered(Ledger l, Map<Integer, Long> end, Duration limit, String what) throws Exception {
        Util.waitUntil(() -> l.distinct() >= total(end), limit, what + " (" + total(end) + " records)");
        Thread.sleep(500); // let any duplicate show up before verifying
        l.verify(end);
    }

    static void members(String assignor) throws Exception {
        String topic = Util.topic("java-grp-" + assignor);
        String group = Util.topic("g-" + assignor);
        try (Admin a = Util.admin()) { Util.createTopic(a, topic, PARTITIONS); }
        Ledger ledger = new Ledger();
        Map<Integer, Long> end = new TreeMap<>();

        // 1. three members, every record exactly once
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < 3; i++) ms.add(new Member("m" + i, group, topic, assignor, ledger));
        awaitCoverage("3 members assigned", Duration.ofSeconds(60), ms, null);
        end = produce(topic, 500, end);
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "3 members consume");
        for (Member m : ms) Util.check(m.assignment.size() == 2, m.name + " should own 2 of 6 partitions: " + m.assignment);

        // 2. one member closes (LeaveGroup): the others take over its partitions
        Member gone = ms.remove(2);
        long t0 = System.currentTimeMillis();
        gone.close();
        awaitCoverage("2 members after close", Duration.ofSeconds(30), ms, null);
        System.out.printf("takeover after close: %.1fs%n", (System.currentTimeMillis() - t0) / 1000.0);
        end = produce(topic, 300, end);
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "2 members consume");

        // 3. a member in another JVM is SIGKILLed: its partitions move after the session timeout
        ChildMember child = new ChildMember(group, topic, assignor, ledger);
        awaitCoverage("2 members + child JVM", Duration.ofSeconds(60), ms, child);
        end = produce(topic, 300, end);
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "2 members + child consume");
        Util.check(child.delivered > 0, "child JVM consumed nothing");
        Set<Integer> childParts = child.assignment;
        child.kill();
        t0 = System.currentTimeMillis();
        child.assignment = Set.of();
        Util.waitUntil(() -> {
            Set<Integer> all = new HashSet<>();
            for (Member m : ms) all.addAll(m.assignment);
            return all.containsAll(childParts);
        }, Duration.ofSeconds(45), "the killed member's partitions " + childParts + " to move");
        double took = (System.currentTimeMillis() - t0) / 1000.0;
        System.out.printf("takeover after SIGKILL: %.1fs (session.timeout.ms=%s)%n", took, SESSION_TIMEOUT_MS);
        awaitCoverage("2 members after SIGKILL", Duration.ofSeconds(30), ms, null);
        end = produce(topic, 300, end);
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "2 members consume after SIGKILL");

        // 4. broker restart: the members resume from the committed offsets
        if (System.getenv("COMPAT_EXTERNAL_BROKER") == null || System.getenv("COMPAT_EXTERNAL_BROKER").isEmpty()) {
            Process p = new ProcessBuilder("bash", "-c", "source \"$COMPAT_DIR/lib.sh\" && restart_broker")
                    .inheritIO().start();
            Util.check(p.waitFor(90, SECONDS) && p.exitValue() == 0, "restart_broker failed");
            System.out.println("broker restarted");
            end = produce(topic, 300, end);
            awaitDelivered(ledger, end, Duration.ofSeconds(90), "2 members consume after broker restart");
        } else {
            System.out.println("broker restart skipped (external broker)");
        }
        for (Member m : ms) m.close();

        // committed offsets = log end offsets; a fresh member sees nothing old
        try (Admin a = Util.admin()) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                    a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS);
            Map<Integer, Long> got = new TreeMap<>();
            committed.forEach((tp, om) -> got.put(tp.partition(), om.offset()));
            Util.eq(got, end, "committed offsets = log end offsets");
        }
        Ledger fresh = new Ledger();
        Member late = new Member("late", group, topic, assignor, fresh);
        awaitCoverage("fresh member assigned", Duration.ofSeconds(60), List.of(late), null);
        Thread.sleep(2000);
        late.close();
        Util.eq(fresh.distinct(), 0, "records re-delivered to a fresh member of the group");
        for (Member m : ms) Util.check(m.error == null, m.name + " failed: " + m.error);
    }

    // ------------------------------------------------------------------------------------

    static void admin() throws Exception {
        String topic = Util.topic("java-gadmin");
        String group = Util.topic("g-admin");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 3);
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
                for (int i = 0; i < 100; i++)
                    for (int part = 0; part < 3; part++)
                        p.send(new ProducerRecord<>(topic, part, Util.b("k" + i), Util.b("v" + i)));
                p.flush();
            }
            TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1), p2 = new TopicPartition(topic, 2);
            Map<TopicPartition, Long> want = Map.of(p0, 30L, p1, 60L, p2, 100L);

            // An active member commits explicit offsets and keeps heartbeating.
            AtomicBoolean stop = new AtomicBoolean();
            CountDownLatch committed = new CountDownLatch(1);
            ExecutorService ex = Executors.newSingleThreadExecutor();
            Future<?> f = ex.submit(() -> {
                try (KafkaConsumer<byte[], byte[]> c = groupConsumer(group, "range", "admin-member")) {
                    c.subscribe(List.of(topic));
                    while (c.assignment().size() < 3) c.poll(Duration.ofMillis(200));
                    Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                    want.forEach((tp, o) -> offs.put(tp, new OffsetAndMetadata(o, "meta-" + o)));
                    c.commitSync(offs);
                    committed.countDown();
                    while (!stop.get()) c.poll(Duration.ofMillis(200));
                }
                return null;
            });
            Util.check(committed.await(60, SECONDS), "member did not join and commit within 60 s");

            // listGroups
            Collection<GroupListing> groups = a.listGroups().all().get(60, SECONDS);
            GroupListing gl = groups.stream().filter(g -> g.groupId().equals(group)).findFirst().orElse(null);
            Util.check(gl != null, "listGroups misses " + group + ": " + groups);
            System.out.println("listGroups: " + gl);
            Util.eq(gl.protocol(), "consumer", "listGroups protocol type");
            gl.groupState().ifPresent(s -> Util.eq(s, GroupState.STABLE, "listGroups state"));

            // describeConsumerGroups
            ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(60, SECONDS);
            System.out.println("describe: " + d);
            Util.eq(d.groupState(), GroupState.STABLE, "state");
            Util.eq(d.partitionAssignor(), "range", "assignor");
            Util.eq(d.coordinator().id(), Util.NODE_ID, "coordinator");
            Util.eq(d.members().size(), 1, "members");
            MemberDescription md = d.members().iterator().next();
            Util.eq(md.clientId(), "admin-member", "member client id");
            Util.check(md.host().startsWith("/127.0.0.1"), "member host: " + md.host());
            Util.check(!md.consumerId().isEmpty(), "member id empty");
            Util.eq(md.assignment().topicPartitions(), Set.of(p0, p1, p2), "member assignment");

            // listConsumerGroupOffsets + listOffsets = lag
            Map<TopicPartition, OffsetAndMetadata> got = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS);
            Util.eq(got.keySet(), want.keySet(), "committed partitions");
            for (var e : want.entrySet()) {
                Util.eq(got.get(e.getKey()).offset(), e.getValue(), "committed offset of " + e.getKey());
                Util.eq(got.get(e.getKey()).metadata(), "meta-" + e.getValue(), "commit metadata of " + e.getKey());
            }
            Map<TopicPartition, OffsetSpec> latest = Map.of(p0, OffsetSpec.latest(), p1, OffsetSpec.latest(), p2, OffsetSpec.latest());
            var leo = a.listOffsets(latest).all().get(60, SECONDS);
            Map<Integer, Long> lag = new TreeMap<>();
            for (TopicPartition tp : want.keySet()) lag.put(tp.partition(), leo.get(tp).offset() - got.get(tp).offset());
            Util.eq(lag, Map.of(0, 70L, 1, 40L, 2, 0L), "LAG = log end offset - committed offset");

            // Not allowed while the group has members
            try {
                a.deleteConsumerGroups(List.of(group)).all().get(60, SECONDS);
                throw new AssertionError("deleteConsumerGroups of an active group succeeded");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.GroupNotEmptyException,
                        "delete active group: want GroupNotEmptyException, got " + e.getCause());
            }
            try {
                a.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(0))).all().get(60, SECONDS);
                throw new AssertionError("alterConsumerGroupOffsets of an active group succeeded");
            } catch (ExecutionException e) {
                System.out.println("alter on active group refused: " + e.getCause());
            }
            try {
                a.deleteConsumerGroupOffsets(group, Set.of(p2)).all().get(60, SECONDS);
                throw new AssertionError("deleteConsumerGroupOffsets of a subscribed topic succeeded");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.GroupSubscribedToTopicException,
                        "delete offsets of a subscribed topic: want GroupSubscribedToTopicException, got " + e.getCause());
            }

            // The member leaves: group Empty, offsets kept
            stop.set(true);
            f.get(60, SECONDS);
            ex.shutdown();
            Util.waitUntil(() -> {
                try {
                    return a.describeConsumerGroups(List.of(group)).describedGroups().get(group).get().groupState() == GroupState.EMPTY;
                } catch (Exception e) { return false; }
            }, Duration.ofSeconds(30), "group Empty after the member closed");
            d = a.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(60, SECONDS);
            Util.eq(d.members().size(), 0, "members of the empty group");

            // alterConsumerGroupOffsets on the inactive group (= kafka-consumer-groups --reset-offsets --execute)
            a.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(5), p1, new OffsetAndMetadata(0))).all().get(60, SECONDS);
            got = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS);
            Util.eq(offsets(got), Map.of(0, 5L, 1, 0L, 2, 100L), "offsets after alterConsumerGroupOffsets");

            // ... and on a group that does not exist yet: it becomes an Empty offsets-only group
            String g2 = Util.topic("g-admin-reset");
            a.alterConsumerGroupOffsets(g2, Map.of(p1, new OffsetAndMetadata(42))).all().get(60, SECONDS);
            Util.eq(offsets(a.listConsumerGroupOffsets(g2).partitionsToOffsetAndMetadata().get(60, SECONDS)),
                    Map.of(1, 42L), "offsets of a group created by alterConsumerGroupOffsets");
            ConsumerGroupDescription d2 = a.describeConsumerGroups(List.of(g2)).describedGroups().get(g2).get(60, SECONDS);
            Util.eq(d2.groupState(), GroupState.EMPTY, "state of the offsets-only group");
            Util.check(a.listGroups().all().get(60, SECONDS).stream().anyMatch(g -> g.groupId().equals(g2)),
                    "listGroups misses the offsets-only group");

            // deleteConsumerGroupOffsets on the inactive group
            a.deleteConsumerGroupOffsets(group, Set.of(p2)).all().get(60, SECONDS);
            got = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS);
            Util.eq(offsets(got), Map.of(0, 5L, 1, 0L), "offsets after deleteConsumerGroupOffsets(p2)");

            // deleteConsumerGroups
            a.deleteConsumerGroups(List.of(group, g2)).all().get(60, SECONDS);
            Util.check(a.listGroups().all().get(60, SECONDS).stream().noneMatch(g -> g.groupId().equals(group) || g.groupId().equals(g2)),
                    "deleted groups still listed");
            try {
                ConsumerGroupDescription dd = a.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(60, SECONDS);
                Util.eq(dd.groupState(), GroupState.DEAD, "state of a deleted group");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException,
                        "describe deleted group: want GroupIdNotFoundException or Dead, got " + e.getCause());
            }
            got = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS);
            Util.eq(offsets(got), Map.of(), "offsets of a deleted group");
        }
    }

    static Map<Integer, Long> offsets(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<Integer, Long> r = new TreeMap<>();
        m.forEach((tp, om) -> { if (om != null) r.put(tp.partition(), om.offset()); });
        return r;
    }

    // ------------------------------------------------------------------------------------

    /** A librdkafka consumer (confluent-kafka, python/ck_groups.py member) and a Java consumer in one group. */
    static void mixed() throws Exception {
        String python = System.getenv("PYTHON");
        Util.check(python != null, "PYTHON not set (install_python)");
        String topic = Util.topic("java-mixed");
        String group = Util.topic("g-mixed");
        try (Admin a = Util.admin()) { Util.createTopic(a, topic, PARTITIONS); }
        Ledger ledger = new Ledger();
        Member j = new Member("java", group, topic, "range", ledger);
        Process py = Util.spawn(new ProcessBuilder(python, "-u", System.getenv("COMPAT_DIR") + "/python/ck_groups.py", "member", group, topic)
                .redirectError(ProcessBuilder.Redirect.INHERIT));
        Set<Integer>[] pyAssign = new Set[] {Set.of()};
        List<String> pending = new ArrayList<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(py.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("REC ")) pending.add(line.substring(4));
                    else if (line.startsWith("COMMIT ")) { ledger.delivered("librdkafka", new ArrayList<>(pending), line.equals("COMMIT ok")); pending.clear(); }
                    else if (line.startsWith("ASSIGNED ")) {
                        String s = line.substring(9).trim();
                        pyAssign[0] = s.isEmpty() ? Set.of() : Arrays.stream(s.split(",")).map(Integer::parseInt).collect(Collectors.toSet());
                    } else System.out.println("librdkafka: " + line);
                }
            } catch (Exception e) { System.out.println("reader: " + e); }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            Util.waitUntil(() -> {
                Set<Integer> jj = j.assignment, pp = pyAssign[0];
                if (jj.isEmpty() || pp.isEmpty()) return false;
                Set<Integer> all = new HashSet<>(jj); all.addAll(pp);
                return all.size() == PARTITIONS && jj.size() + pp.size() == PARTITIONS;
            }, Duration.ofSeconds(90), "Java and librdkafka members to share the 6 partitions");
            System.out.println("java=" + new TreeSet<>(j.assignment) + " librdkafka=" + new TreeSet<>(pyAssign[0]));
            Map<Integer, Long> end = produce(topic, 200, new TreeMap<>());
            awaitDelivered(ledger, end, Duration.ofSeconds(60), "mixed group consumes");
            long byPy = ledger.deliveries.values().stream().filter(l -> l.get(0).startsWith("librdkafka")).count();
            Util.check(byPy > 0 && byPy < total(end), "librdkafka member consumed " + byPy + " of " + total(end));
        } finally {
            py.destroy();
            py.waitFor(15, SECONDS);
            py.destroyForcibly();
            j.close();
        }
    }

    // ------------------------------------------------------------------------------------

    static void settle(String assignor) throws Exception {
        String topic = Util.topic("java-settle-" + assignor);
        String group = Util.topic("g-settle-" + assignor);
        try (Admin a = Util.admin()) { Util.createTopic(a, topic, PARTITIONS); }
        Ledger ledger = new Ledger();
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < 2; i++) ms.add(new Member("s" + i, group, topic, assignor, ledger));
        awaitCoverage("2 members assigned", Duration.ofSeconds(60), ms, null);
        Map<Integer, Long> end = produce(topic, 200, new TreeMap<>());
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "2 members consume");
        long t0 = System.currentTimeMillis();
        ms.add(new Member("s2", group, topic, assignor, ledger));
        awaitCoverage("3 members after a join", Duration.ofSeconds(90), ms, null);
        System.out.printf("SETTLE %s: %.2fs after the third member joined%n", assignor, (System.currentTimeMillis() - t0) / 1000.0);
        end = produce(topic, 200, end);
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "3 members consume");
        for (Member m : ms) m.close();
        for (Member m : ms) Util.check(m.error == null, m.name + " failed: " + m.error);
    }

    static void describeConsumer() throws Exception {
        String topic = Util.topic("java-kip848-describe");
        String group = Util.topic("g-kip848-describe");
        try (Admin a = Util.admin()) { Util.createTopic(a, topic, PARTITIONS); }
        Ledger ledger = new Ledger();
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < 2; i++) ms.add(new Member("d" + i, group, topic, "consumer-range", ledger));
        awaitCoverage("2 members assigned", Duration.ofSeconds(60), ms, null);
        Map<Integer, Long> end = produce(topic, 100, new TreeMap<>());
        awaitDelivered(ledger, end, Duration.ofSeconds(60), "2 members consume");
        try (Admin a = Util.admin()) {
            // What kafka-consumer-groups --describe --state / --members --verbose read.
            Util.waitUntil(() -> {
                try {
                    return a.describeConsumerGroups(List.of(group)).all().get(30, SECONDS).get(group).groupState() == GroupState.STABLE;
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(30), "group Stable");
            ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).all().get(30, SECONDS).get(group);
            System.out.println("describe: " + d);
            Util.eq(d.type(), org.apache.kafka.common.GroupType.CONSUMER, "group type");
            Util.eq(d.partitionAssignor(), "range", "assignment strategy");
            Util.eq(d.members().size(), 2, "members");
            Util.check(d.groupEpoch().isPresent() && d.groupEpoch().get() > 0, "group epoch: " + d.groupEpoch());
            Util.eq(d.targetAssignmentEpoch(), d.groupEpoch(), "target assignment epoch");
            int owned = 0;
            for (MemberDescription m : d.members()) {
                Util.check(m.memberEpoch().isPresent(), "member epoch of " + m.consumerId());
                Util.eq(m.targetAssignment().map(MemberAssignment::topicPartitions), Optional.of(m.assignment().topicPartitions()), "target = current for " + m.consumerId());
                owned += m.assignment().topicPartitions().size();
                Util.eq(m.upgraded(), Optional.of(true), "member uses the consumer protocol (MemberType 1)");
            }
            Util.eq(owned, PARTITIONS, "partitions owned");
            // --list: ListGroups v5 with the group type.
            var listed = a.listGroups().all().get(30, SECONDS).stream().filter(g -> g.groupId().equals(group)).toList();
            Util.eq(listed.size(), 1, "listed");
            Util.eq(listed.get(0).type(), Optional.of(org.apache.kafka.common.GroupType.CONSUMER), "listed type");
            Util.eq(listed.get(0).protocol(), "consumer", "listed protocol");
            // --describe (offsets): committed offsets of the group.
            Map<TopicPartition, OffsetAndMetadata> committed =
                    a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, SECONDS);
            Map<Integer, Long> got = new TreeMap<>();
            committed.forEach((tp, om) -> got.put(tp.partition(), om.offset()));
            Util.eq(got, end, "committed offsets");
            // A non-empty consumer group cannot be deleted.
            try {
                a.deleteConsumerGroups(List.of(group)).all().get(30, SECONDS);
                Util.check(false, "deleting a non-empty group succeeded");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.GroupNotEmptyException, "delete error: " + e.getCause());
            }
        }
        for (Member m : ms) m.close();
        try (Admin a = Util.admin()) {
            ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).all().get(30, SECONDS).get(group);
            Util.eq(d.groupState(), GroupState.EMPTY, "state after every member left");
            a.deleteConsumerGroups(List.of(group)).all().get(30, SECONDS);
        }
        for (Member m : ms) Util.check(m.error == null, m.name + " failed: " + m.error);
    }

    /** Admin view of the group: its type and, per member client id, whether it is upgraded. */
    static ConsumerGroupDescription describe(Admin a, String group) throws Exception {
        return a.describeConsumerGroups(List.of(group)).all().get(30, SECONDS).get(group);
    }

    static void rolling(String classicAssignor) throws Exception {
        TRACK_ALL = true;
        String topic = Util.topic("java-rolling");
        String group = Util.topic("g-rolling");
        try (Admin a = Util.admin()) { Util.createTopic(a, topic, PARTITIONS); }
        Ledger ledger = new Ledger();
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < 3; i++) ms.add(new Member("classic" + i, group, topic, classicAssignor, ledger));
        awaitCoverage("3 classic members assigned", Duration.ofSeconds(60), ms, null);

        // Load: a producer thread writes all along the rolls.
        AtomicBoolean stopLoad = new AtomicBoolean();
        Thread load = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
                int i = 0;
                while (!stopLoad.get()) {
                    for (int part = 0; part < PARTITIONS; part++)
                        p.send(new ProducerRecord<>(topic, part, Util.b("k" + i), Util.b("v" + i)));
                    i++;
                    if (i % 20 == 0) { p.flush(); Thread.sleep(20); }
                }
                p.flush();
            } catch (Exception e) {
                ledger.problems.add("producer: " + e);
            }
        }, "load");
        load.start();
        Thread.sleep(2000);

        try (Admin a = Util.admin()) {
            Util.eq(describe(a, group).type(), org.apache.kafka.common.GroupType.CLASSIC, "type before the upgrade");
            // Rolling upgrade.
            for (int i = 0; i < 3; i++) {
                long t0 = System.currentTimeMillis();
                ms.remove(0).close();
                ms.add(new Member("consumer" + i, group, topic, "consumer-uniform", ledger));
                awaitCoverage("upgrade step " + (i + 1), Duration.ofSeconds(90), ms, null);
                System.out.printf("ROLL upgrade step %d: %.1fs%n", i + 1, (System.currentTimeMillis() - t0) / 1000.0);
                ConsumerGroupDescription d = describe(a, group);
                System.out.println("describe: " + d);
                Util.eq(d.type(), org.apache.kafka.common.GroupType.CONSUMER, "type after upgrade step " + (i + 1));
                for (MemberDescription m : d.members())
                    Util.eq(m.upgraded(), Optional.of(m.clientId().startsWith("consumer")), "upgraded flag of " + m.clientId());
                Thread.sleep(2000);
                // Mid-migration (classic and consumer members in one group): the broker
                // restarts and the group comes back as it was.
                if (i == 1 && (System.getenv("COMPAT_EXTERNAL_BROKER") == null || System.getenv("COMPAT_EXTERNAL_BROKER").isEmpty())) {
                    Process p = new ProcessBuilder("bash", "-c", "source \"$COMPAT_DIR/lib.sh\" && restart_broker")
                            .inheritIO().start();
                    Util.check(p.waitFor(90, SECONDS) && p.exitValue() == 0, "restart_broker failed");
                    System.out.println("broker restarted mid-migration");
                    awaitCoverage("after the restart", Duration.ofSeconds(90), ms, null);
                }
            }
            // Rolling downgrade.
            for (int i = 0; i < 3; i++) {
                long t0 = System.currentTimeMillis();
                ms.remove(0).close();
                ms.add(new Member("classicagain" + i, group, topic, classicAssignor, ledger));
                awaitCoverage("downgrade step " + (i + 1), Duration.ofSeconds(90), ms, null);
                System.out.printf("ROLL downgrade step %d: %.1fs%n", i + 1, (System.currentTimeMillis() - t0) / 1000.0);
                Thread.sleep(2000);
            }
            Util.eq(describe(a, group).type(), org.apache.kafka.common.GroupType.CLASSIC, "type after the downgrade");
        }
        stopLoad.set(true);
        load.join(30_000);
        Map<Integer, Long> end = new TreeMap<>();
        try (Admin a = Util.admin()) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            a.listOffsets(latest).all().get(30, SECONDS).forEach((tp, r) -> end.put(tp.partition(), r.offset()));
        }
        System.out.println("produced " + total(end) + " records during the rolls");
        awaitDelivered(ledger, end, Duration.ofSeconds(90), "every record consumed across the rolls");
        for (Member m : ms) m.close();
        for (Member m : ms) Util.check(m.error == null, m.name + " failed: " + m.error);
    }

    // ------------------------------------------------------------------------------------

    /** The group's description via Admin a (null while it cannot be described). */
    static ConsumerGroupDescription describeGroup(Admin a, String group) {
        try {
            return a.describeConsumerGroups(List.of(group)).all().get(30, SECONDS).get(group);
        } catch (Exception e) {
            return null;
        }
    }

    static Set<String> memberIds(ConsumerGroupDescription d) {
        return d.members().stream().map(MemberDescription::consumerId).collect(Collectors.toCollection(TreeSet::new));
    }

    static void coordinatorKill(String dir) throws Exception {
        String topic = Util.topic("java-kip848-cluster");
        String group = Util.topic("g-kip848-cluster");
        try (Admin a = Util.admin()) {
            a.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
                    .all().get(60, SECONDS);
        }
        Ledger ledger = new Ledger();
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < 3; i++) ms.add(new Member("c" + i, group, topic, "consumer-uniform", ledger));
        awaitCoverage("3 members assigned", Duration.ofSeconds(90), ms, null);

        // A producer writes round-robin to the 6 partitions for the whole run (~300 records/s).
        AtomicBoolean stopProducing = new AtomicBoolean();
        List<String> sendErrors = Collections.synchronizedList(new ArrayList<>());
        Thread producer = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5",
                    "delivery.timeout.ms", "120000", "request.timeout.ms", "10000")) {
                for (int i = 0; !stopProducing.get(); i++) {
                    p.send(new ProducerRecord<>(topic, i % PARTITIONS, Util.b("k" + i), Util.b("v" + i)), (md, e) -> {
                        if (e != null) sendErrors.add(e.toString());
                    });
                    if (i % 30 == 29) Thread.sleep(100);
                }
                p.flush();
            } catch (Exception e) {
                sendErrors.add("producer: " + e);
            }
        }, "producer");
        producer.start();

        // Two rounds: the coordinator is killed, then the broker that took the group over.
        for (int round = 1; round <= 2; round++) {
            ConsumerGroupDescription before;
            int victim;
            try (Admin a = Util.admin()) {
                Util.waitUntil(() -> {
                    ConsumerGroupDescription d = describeGroup(a, group);
                    return d != null && d.groupState() == GroupState.STABLE && d.members().size() == 3;
                }, Duration.ofSeconds(60), "group Stable with 3 members");
                Thread.sleep(4000); // consume under load for a while
                before = describeGroup(a, group);
                Util.check(before != null, "group not describable before kill " + round);
                victim = before.coordinator().id();
            }
            int delivered = ledger.distinct();
            System.out.println("round " + round + ": coordinator " + victim + ", group epoch " + before.groupEpoch()
                    + ", members " + memberIds(before) + ", " + delivered + " records delivered so far");
            long t0 = System.currentTimeMillis();
            ProcessHandle.of(Cluster.pid(dir, victim)).ifPresent(ProcessHandle::destroyForcibly);
            System.out.println("SIGKILL node " + victim + " (the group coordinator)");
            Thread.sleep(5000);
            Cluster.clusterCtl(dir, "start", String.valueOf(victim));
            System.out.printf("node %d started again %.1fs after the kill%n", victim, (System.currentTimeMillis() - t0) / 1000.0);

            ConsumerGroupDescription[] after = new ConsumerGroupDescription[1];
            try (Admin a = Util.admin()) {
                Util.waitUntil(() -> {
                    after[0] = describeGroup(a, group);
                    return after[0] != null && after[0].groupState() == GroupState.STABLE && after[0].members().size() == 3;
                }, Duration.ofSeconds(90), "group Stable with 3 members after kill " + round);
            }
            System.out.printf("after kill %d (%.1fs): coordinator %d, group epoch %s, members %s%n", round,
                    (System.currentTimeMillis() - t0) / 1000.0, after[0].coordinator().id(), after[0].groupEpoch(), memberIds(after[0]));
            Util.eq(memberIds(after[0]), memberIds(before), "member ids after the coordinator moved");
            Util.check(after[0].groupEpoch().orElse(-1) >= before.groupEpoch().orElse(0),
                    "group epoch went back: " + before.groupEpoch() + " -> " + after[0].groupEpoch());
            awaitCoverage("3 members after kill " + round, Duration.ofSeconds(60), ms, null);
            Util.waitUntil(() -> ledger.distinct() > delivered + 300, Duration.ofSeconds(60),
                    "consumption to go on after kill " + round);
        }
        Thread.sleep(3000); // more records consumed on the new coordinator
        stopProducing.set(true);
        producer.join(180_000);
        Util.check(sendErrors.isEmpty(), "sends failed: " + sendErrors.subList(0, Math.min(5, sendErrors.size())));
        Map<Integer, Long> end = new TreeMap<>();
        try (Admin a = Util.admin()) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            a.listOffsets(latest).all().get(60, SECONDS).forEach((tp, r) -> end.put(tp.partition(), r.offset()));
        }
        System.out.println("records produced: " + total(end) + " " + end);
        awaitDelivered(ledger, end, Duration.ofSeconds(120), "3 members consume everything");
        for (Member m : ms) m.close();
        for (Member m : ms) Util.check(m.error == null, m.name + " failed: " + m.error);
        try (Admin a = Util.admin()) {
            Map<Integer, Long> got = offsets(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, SECONDS));
            Util.eq(got, end, "committed offsets = log end offsets");
        }
    }
}
