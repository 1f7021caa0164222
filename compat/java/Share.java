import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Share groups (KIP-932) with the Java 4.3 KafkaShareConsumer: delivery exactly once with
 * three members, release → redelivery, reject → never again, the delivery limit, a poison
 * record isolated by throttled delivery, a topic gaining a partition while consumed (its
 * records from offset 0 delivered), a member SIGKILLed with records acquired, the admin view, a classic, a consumer-protocol and a share
 * group on one topic at once, and acknowledged records/s with 1 and 3 members.
 */
public final class Share {
    public static void main(String[] args) throws Exception {
        String cmd = args[0];
        if (cmd.equals("hog")) { hog(args[1], args[2]); return; }
        Util.main("share " + cmd + (args.length > 1 ? " " + args[1] : ""), () -> {
            switch (cmd) {
                case "three-members" -> threeMembers();
                case "release-reject-limit" -> releaseRejectLimit();
                case "poison" -> poison();
                case "grow" -> grow();
                case "sigkill" -> sigkill();
                case "admin" -> admin();
                case "mixed" -> mixed();
                case "throughput" -> throughput(Integer.parseInt(args[1]),
                        args.length > 2 ? Short.parseShort(args[2]) : 1);
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static KafkaShareConsumer<byte[], byte[]> shareConsumer(String group, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, Util.BOOTSTRAP);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        return new KafkaShareConsumer<>(p);
    }

    /** Sets the group's share configs (earliest, the shortest lock) through IncrementalAlterConfigs. */
    static void groupConfig(Admin a, String group, String... kv) throws Exception {
        List<AlterConfigOp> ops = new ArrayList<>();
        ops.add(new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET));
        ops.add(new AlterConfigOp(new ConfigEntry("share.record.lock.duration.ms", "15000"), AlterConfigOp.OpType.SET));
        for (int i = 0; i + 1 < kv.length; i += 2)
            ops.add(new AlterConfigOp(new ConfigEntry(kv[i], kv[i + 1]), AlterConfigOp.OpType.SET));
        a.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops))
                .all().get(60, TimeUnit.SECONDS);
        String got = a.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.GROUP, group)))
                .all().get(60, TimeUnit.SECONDS).values().iterator().next().get("share.auto.offset.reset").value();
        Util.eq(got, "earliest", "share.auto.offset.reset described back");
    }

    static void produce(String topic, int n, int partitions) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
            for (int i = 0; i < n; i++)
                p.send(new ProducerRecord<>(topic, i % partitions, null, Util.b("k" + i), Util.b("v" + i)));
            p.flush();
        }
    }

    static String key(ConsumerRecord<byte[], byte[]> r) { return Util.s(r.key()); }

    /** Three members accept everything: every record accepted exactly once, none twice. */
    static void threeMembers() throws Exception {
        String topic = Util.topic("java-share3");
        String group = Util.topic("sg3");
        int n = 3000;
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 3);
            groupConfig(a, group);
        }
        produce(topic, n, 3);
        Map<String, Integer> accepted = new ConcurrentHashMap<>();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        for (int m = 0; m < 3; m++) {
            String id = "m" + m;
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, id)) {
                    c.subscribe(List.of(topic));
                    while (!stop.get()) {
                        ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                        for (ConsumerRecord<byte[], byte[]> r : recs) {
                            c.acknowledge(r, AcknowledgeType.ACCEPT);
                            accepted.merge(key(r), 1, Integer::sum);
                        }
                        if (!recs.isEmpty()) c.commitSync(Duration.ofSeconds(30));
                    }
                } catch (Throwable e) { errors.add(e); }
            });
            t.start();
            threads.add(t);
        }
        Util.waitUntil(() -> accepted.size() >= n || !errors.isEmpty(), Duration.ofSeconds(120), n + " records accepted");
        Thread.sleep(2000);
        stop.set(true);
        for (Thread t : threads) t.join(30000);
        Util.check(errors.isEmpty(), "member errors: " + errors);
        Util.eq(accepted.size(), n, "distinct records accepted");
        List<String> twice = accepted.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList();
        Util.check(twice.isEmpty(), "records accepted twice: " + twice.subList(0, Math.min(10, twice.size())));
    }

    /** One member: release → redelivered with delivery count 2; reject → never again;
     *  delivery limit 2 → a record released twice is archived. */
    static void releaseRejectLimit() throws Exception {
        String topic = Util.topic("java-share-rrl");
        String group = Util.topic("sg-rrl");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 1);
            groupConfig(a, group, "share.delivery.count.limit", "2");
        }
        produce(topic, 30, 1);
        Map<String, List<Short>> seen = new HashMap<>();
        long deadline = System.currentTimeMillis() + 60000;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "rrl")) {
            c.subscribe(List.of(topic));
            boolean quiet = false;
            long quietSince = 0;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) {
                    if (seen.size() >= 30) {
                        if (!quiet) { quiet = true; quietSince = System.currentTimeMillis(); }
                        else if (System.currentTimeMillis() - quietSince > 3000) break;
                    }
                    continue;
                }
                quiet = false;
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    String k = key(r);
                    short dc = r.deliveryCount().orElse((short) -1);
                    seen.computeIfAbsent(k, x -> new ArrayList<>()).add(dc);
                    AcknowledgeType t = switch (k) {
                        case "k3" -> seen.get(k).size() == 1 ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT;
                        case "k5" -> AcknowledgeType.REJECT;
                        case "k7" -> AcknowledgeType.RELEASE;
                        default -> AcknowledgeType.ACCEPT;
                    };
                    c.acknowledge(r, t);
                }
                c.commitSync(Duration.ofSeconds(30));
            }
        }
        Util.eq(seen.size(), 30, "distinct records delivered");
        Util.eq(seen.get("k3"), List.of((short) 1, (short) 2), "released record k3: delivery counts");
        Util.eq(seen.get("k5"), List.of((short) 1), "rejected record k5: delivered once");
        Util.eq(seen.get("k7"), List.of((short) 1, (short) 2), "always-released k7: archived at the limit of 2");
        for (Map.Entry<String, List<Short>> e : seen.entrySet())
            if (!Set.of("k3", "k7").contains(e.getKey()))
                Util.eq(e.getValue(), List.of((short) 1), "record " + e.getKey() + " delivery counts");
    }

    /** A poison record: the application fails (releases) every poll that holds k13 and accepts
     *  the others. Throttled delivery isolates k13 before the delivery limit (5), so it alone is
     *  archived and every other record of its batch is accepted once. */
    static void poison() throws Exception {
        String topic = Util.topic("java-share-poison");
        String group = Util.topic("sg-poison");
        int n = 200;
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 1);
            groupConfig(a, group, "share.delivery.count.limit", "5");
        }
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "1000", "batch.size", "1000000")) {
            for (int i = 0; i < n; i++)
                p.send(new ProducerRecord<>(topic, 0, null, Util.b("k" + i), Util.b("v" + i)));
            p.flush();
        }
        Map<String, Integer> accepted = new HashMap<>();
        List<Short> poisonCounts = new ArrayList<>();
        List<Integer> poisonPollSizes = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 120000;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "poison")) {
            c.subscribe(List.of(topic));
            long quietSince = -1;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) {
                    if (accepted.size() >= n - 1 || poisonCounts.size() >= 5) {
                        if (quietSince < 0) quietSince = System.currentTimeMillis();
                        else if (System.currentTimeMillis() - quietSince > 3000) break;
                    }
                    continue;
                }
                quietSince = -1;
                boolean poisoned = false;
                for (ConsumerRecord<byte[], byte[]> r : recs)
                    if (key(r).equals("k13")) {
                        poisoned = true;
                        poisonCounts.add(r.deliveryCount().orElse((short) -1));
                        poisonPollSizes.add(recs.count());
                    }
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    c.acknowledge(r, poisoned ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                    if (!poisoned) accepted.merge(key(r), 1, Integer::sum);
                }
                c.commitSync(Duration.ofSeconds(30));
            }
        }
        System.out.println("poison: k13 delivered with counts " + poisonCounts + " in polls of " + poisonPollSizes
                + " records; " + accepted.size() + " other records accepted");
        Util.eq(poisonCounts, List.of((short) 1, (short) 2, (short) 3, (short) 4, (short) 5),
                "k13 delivered up to the limit, then archived");
        Util.eq(poisonPollSizes.get(4), 1, "k13 alone on its last delivery");
        Util.eq(accepted.size(), n - 1, "every other record accepted");
        Util.check(!accepted.containsKey("k13"), "k13 never accepted");
        List<String> twice = accepted.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList();
        Util.check(twice.isEmpty(), "records accepted twice: " + twice);
    }

    /** A topic the share group consumes gains a partition and records go to it at once,
     *  before the member hears of it (the default share.auto.offset.reset=latest): the new
     *  partition starts at offset 0, so every one of them is delivered. */
    static void grow() throws Exception {
        String topic = Util.topic("java-share-grow");
        String group = Util.topic("sg-grow");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 1);
        }
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        Thread member = new Thread(() -> {
            try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "grow")) {
                c.subscribe(List.of(topic));
                while (!stop.get()) {
                    ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                    for (ConsumerRecord<byte[], byte[]> r : recs) {
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                        accepted.add(r.partition() + ":" + key(r));
                    }
                    if (!recs.isEmpty()) c.commitSync(Duration.ofSeconds(30));
                }
            } catch (Throwable e) { errors.add(e); }
        });
        member.start();
        // The member owns partition 0 once a record produced now reaches it.
        try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
            long until = System.currentTimeMillis() + 60000;
            while (!accepted.contains("0:ready") && errors.isEmpty()) {
                Util.check(System.currentTimeMillis() < until, "the member never consumed partition 0");
                p.send(new ProducerRecord<>(topic, 0, null, Util.b("ready"), Util.b("v"))).get();
                Thread.sleep(500);
            }
            try (Admin a = Util.admin()) {
                a.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get(60, TimeUnit.SECONDS);
            }
            for (int i = 0; i < 50; i++)
                p.send(new ProducerRecord<>(topic, 1, null, Util.b("n" + i), Util.b("v" + i)));
            p.flush();
        }
        Util.waitUntil(() -> accepted.stream().filter(k -> k.startsWith("1:")).count() >= 50 || !errors.isEmpty(),
                Duration.ofSeconds(60), "the 50 records of the new partition accepted");
        stop.set(true);
        member.join(30000);
        Util.check(errors.isEmpty(), "member errors: " + errors);
        Util.eq(accepted.stream().filter(k -> k.startsWith("1:")).count(), 50L, "records of partition 1 accepted");
    }

    /** A member in another JVM acquires records and never acknowledges (prints HOLD). */
    static void hog(String group, String topic) throws Exception {
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "hog")) {
            c.subscribe(List.of(topic));
            while (true) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                if (!recs.isEmpty()) {
                    System.out.println("HOLD " + recs.count());
                    System.out.flush();
                    Thread.sleep(Long.MAX_VALUE);
                }
            }
        }
    }

    /** A member is SIGKILLed with records acquired: another member gets them (delivery count 2). */
    static void sigkill() throws Exception {
        String topic = Util.topic("java-share-kill");
        String group = Util.topic("sg-kill");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 1);
            groupConfig(a, group);
        }
        produce(topic, 200, 1);
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Process proc = Util.spawn(new ProcessBuilder(javaBin, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dlog4j2.configurationFile=" + System.getProperty("log4j2.configurationFile", ""),
                "-cp", System.getProperty("java.class.path"), "Share", "hog", group, topic)
                .redirectError(ProcessBuilder.Redirect.INHERIT));
        BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
        String line = r.readLine();
        Util.check(line != null && line.startsWith("HOLD "), "the hog acquired records: " + line);
        int held = Integer.parseInt(line.substring(5).trim());
        new ProcessBuilder("kill", "-9", Long.toString(proc.pid())).start().waitFor();
        long killed = System.currentTimeMillis();
        Map<String, Short> got = new HashMap<>();
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "survivor")) {
            c.subscribe(List.of(topic));
            long deadline = killed + 60000;
            while (got.size() < 200 && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                for (ConsumerRecord<byte[], byte[]> rec : recs) {
                    got.put(key(rec), rec.deliveryCount().orElse((short) -1));
                    c.acknowledge(rec, AcknowledgeType.ACCEPT);
                }
                if (!recs.isEmpty()) c.commitSync(Duration.ofSeconds(30));
            }
        }
        Util.eq(got.size(), 200, "records the survivor accepted");
        long redelivered = got.values().stream().filter(d -> d == 2).count();
        Util.eq(redelivered, (long) held, "records redelivered with delivery count 2 (held by the killed member)");
        System.out.printf("sigkill: %d records held by the killed member redelivered after %.1fs%n",
                held, (System.currentTimeMillis() - killed) / 1000.0);
    }

    /** What kafka-share-groups --describe reads: the group, its members, start offsets. */
    static void admin() throws Exception {
        String topic = Util.topic("java-share-admin");
        String group = Util.topic("sg-admin");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, 2);
            groupConfig(a, group);
            produce(topic, 100, 2);
            try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "admin-member")) {
                c.subscribe(List.of(topic));
                int acked = 0;
                long deadline = System.currentTimeMillis() + 60000;
                while (acked < 100 && System.currentTimeMillis() < deadline) {
                    ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(500));
                    for (ConsumerRecord<byte[], byte[]> rec : recs) { c.acknowledge(rec, AcknowledgeType.ACCEPT); acked++; }
                    if (!recs.isEmpty()) c.commitSync(Duration.ofSeconds(30));
                }
                Util.eq(acked, 100, "records accepted");
                ShareGroupDescription d = a.describeShareGroups(List.of(group)).all().get(60, TimeUnit.SECONDS).get(group);
                Util.eq(d.groupState().toString(), "Stable", "group state");
                Util.eq(d.members().size(), 1, "members");
                Map<TopicPartition, SharePartitionOffsetInfo> offs = a
                        .listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                        .partitionsToOffsetInfo(group).get(60, TimeUnit.SECONDS);
                Util.eq(offs.size(), 2, "share-partitions with a start offset");
                for (Map.Entry<TopicPartition, SharePartitionOffsetInfo> e : offs.entrySet())
                    Util.eq(e.getValue().startOffset(), 50L, e.getKey() + " start offset");
            }
        }
    }

    /** A classic group and a share group read the same topic: both see every record. */
    /**
     * One classic group, one consumer-protocol (KIP-848) group and one share group read the
     * same 3-partition topic at once, half the records produced before they start and half
     * while they run: the classic and the consumer group each see every record once (one
     * member each, commitSync per poll), the share group accepts every record once.
     */
    static void mixed() throws Exception {
        String topic = Util.topic("java-share-mixed");
        String group = Util.topic("sg-mixed");
        int n = 2000, partitions = 3;
        try (Admin a = Util.admin()) {
            Util.createTopic(a, topic, partitions);
            groupConfig(a, group);
        }
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
            for (int i = 0; i < n / 2; i++)
                p.send(new ProducerRecord<>(topic, i % partitions, null, Util.b("k" + i), Util.b("v" + i)));
            p.flush();
        }
        Map<String, Map<String, Integer>> seen = new ConcurrentHashMap<>();
        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        List<Thread> readers = new ArrayList<>();
        for (String kind : List.of("classic", "consumer", "share")) {
            Map<String, Integer> counts = new ConcurrentHashMap<>();
            seen.put(kind, counts);
            Thread t = new Thread(() -> {
                long deadline = System.currentTimeMillis() + 120_000;
                try {
                    if (kind.equals("share")) {
                        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, "mixed-share")) {
                            c.subscribe(List.of(topic));
                            while (counts.size() < n && System.currentTimeMillis() < deadline) {
                                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                                for (ConsumerRecord<byte[], byte[]> rec : recs) c.acknowledge(rec, AcknowledgeType.ACCEPT);
                                if (recs.isEmpty()) continue;
                                // Counted once the acceptance is durable.
                                Map<TopicIdPartition, Optional<KafkaException>> r = c.commitSync(Duration.ofSeconds(30));
                                r.values().forEach(e -> e.ifPresent(x -> errors.add("share commit: " + x)));
                                for (ConsumerRecord<byte[], byte[]> rec : recs) counts.merge(key(rec), 1, Integer::sum);
                            }
                        }
                    } else {
                        String g = Util.topic(kind + "-mixed");
                        KafkaConsumer<byte[], byte[]> consumer = kind.equals("consumer")
                                ? Util.consumer(ConsumerConfig.GROUP_ID_CONFIG, g, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")
                                : Util.consumer(ConsumerConfig.GROUP_ID_CONFIG, g);
                        try (KafkaConsumer<byte[], byte[]> c = consumer) {
                            c.subscribe(List.of(topic));
                            while (counts.size() < n && System.currentTimeMillis() < deadline) {
                                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                                if (recs.isEmpty()) continue;
                                c.commitSync(Duration.ofSeconds(30));
                                for (ConsumerRecord<byte[], byte[]> rec : recs) counts.merge(key(rec), 1, Integer::sum);
                            }
                        }
                    }
                } catch (Exception e) {
                    errors.add(kind + ": " + e);
                }
            }, "mixed-" + kind);
            t.start();
            readers.add(t);
        }
        Thread.sleep(2000);
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
            for (int i = n / 2; i < n; i++) {
                p.send(new ProducerRecord<>(topic, i % partitions, null, Util.b("k" + i), Util.b("v" + i)));
                if (i % 100 == 0) Thread.sleep(50);
            }
            p.flush();
        }
        for (Thread t : readers) t.join(150_000);
        Util.check(errors.isEmpty(), "errors: " + errors);
        for (var e : seen.entrySet()) {
            Map<String, Integer> counts = e.getValue();
            List<String> twice = counts.entrySet().stream().filter(c -> c.getValue() != 1).map(Map.Entry::getKey).limit(5).toList();
            System.out.println(e.getKey() + " group: " + counts.size() + " distinct records, more than once: " + twice);
            Util.eq(counts.size(), n, e.getKey() + " group: distinct records");
            Util.check(twice.isEmpty(), e.getKey() + " group: records seen more than once: " + twice);
        }
    }

    /** Records/s acknowledged by `members` share consumers on a 3-partition topic of
     *  replication factor `rf` (figure; rf 3 needs a cluster). */
    static void throughput(int members, short rf) throws Exception {
        String topic = Util.topic("java-share-tp");
        String group = Util.topic("sg-tp");
        int n = 100_000;
        try (Admin a = Util.admin()) {
            a.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(topic, 3, rf)))
                    .all().get(60, TimeUnit.SECONDS);
            groupConfig(a, group);
        }
        produce(topic, n, 3);
        AtomicLong acked = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        long[] firstAck = {0};
        for (int m = 0; m < members; m++) {
            String id = "tp" + m;
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(group, id)) {
                    c.subscribe(List.of(topic));
                    while (!stop.get()) {
                        ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                        for (ConsumerRecord<byte[], byte[]> rec : recs) c.acknowledge(rec, AcknowledgeType.ACCEPT);
                        if (!recs.isEmpty()) {
                            c.commitSync(Duration.ofSeconds(30));
                            synchronized (firstAck) { if (firstAck[0] == 0) firstAck[0] = System.nanoTime(); }
                            acked.addAndGet(recs.count());
                        }
                    }
                }
            });
            t.start();
            threads.add(t);
        }
        Util.waitUntil(() -> acked.get() >= n, Duration.ofSeconds(300), n + " records acknowledged");
        long end = System.nanoTime();
        stop.set(true);
        for (Thread t : threads) t.join(30000);
        double secs = (end - firstAck[0]) / 1e9;
        System.out.printf("share throughput: %d members, RF %d, %d records acknowledged (commitSync per poll) in %.1fs = %.0f records/s%n",
                members, rf, acked.get(), secs, acked.get() / secs);
    }
}
