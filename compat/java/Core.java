import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Java kafka-clients 4.3.0 core checks.
 *
 *   Core produce-consume    default KafkaProducer (idempotent, acks=all): 20,000 records to a
 *                           3-partition topic; assign + seekToBeginning reads all back
 *   Core producer-restart   two idempotent producers (no transactional.id) in a row
 *   Core admin-topics       createTopics, describeTopics, listTopics, deleteTopics
 *   Core create-partitions  createPartitions 3 -> 5 (and 5 -> 4 refused)
 *   Core describe-configs   topic and broker configs
 *   Core describe-cluster   one node, id 0, controller, cluster id
 *   Core list-offsets       listOffsets earliest / latest / by timestamp / max timestamp
 */
public class Core {
    static final int N = 20_000;

    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "produce-consume" -> produceConsume();
                case "producer-restart" -> producerRestart();
                case "admin-topics" -> adminTopics();
                case "create-partitions" -> createPartitions();
                case "describe-configs" -> describeConfigs();
                case "describe-cluster" -> describeCluster();
                case "list-offsets" -> listOffsets();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static List<Header> headers(int i) {
        return List.of(new RecordHeader("i", Util.b(Integer.toString(i))),
                new RecordHeader("dup", Util.b("a")), new RecordHeader("dup", Util.b("b")));
    }

    static String value(int i) {
        return "value-" + i + "-" + "x".repeat(i % 50);
    }

    static void produceConsume() throws Exception {
        String t = Util.topic("java-pc");
        try (Admin a = Util.admin()) { Util.createTopic(a, t, 3); }
        List<Future<RecordMetadata>> futs = new ArrayList<>(N);
        try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
            for (int i = 0; i < N; i++) {
                futs.add(p.send(new ProducerRecord<>(t, null, Util.BASE_TS + i, Util.b("key-" + i),
                        Util.b(value(i)), headers(i))));
            }
            p.flush();
        }
        // Where each record went; offsets are dense per partition and follow send order.
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        Map<String, Integer> sentAt = new HashMap<>();
        for (int i = 0; i < N; i++) {
            RecordMetadata m = futs.get(i).get(60, SECONDS);
            offsets.computeIfAbsent(m.partition(), k -> new ArrayList<>()).add(m.offset());
            sentAt.put(m.partition() + "/" + m.offset(), i);
        }
        Util.eq(offsets.keySet(), Set.of(0, 1, 2), "partitions used by the default partitioner");
        for (var e : offsets.entrySet()) {
            List<Long> want = range(e.getValue().size());
            Util.eq(e.getValue(), want, "offsets of partition " + e.getKey() + " in send order");
        }
        List<TopicPartition> tps = IntStream.range(0, 3).mapToObj(i -> new TopicPartition(t, i)).toList();
        List<ConsumerRecord<byte[], byte[]>> got = Util.readAll(t, tps, N, Duration.ofSeconds(120));
        Map<Integer, Long> next = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            long want = next.getOrDefault(r.partition(), 0L);
            Util.eq(r.offset(), want, "consumed offset in partition " + r.partition());
            next.put(r.partition(), want + 1);
            Integer i = sentAt.get(r.partition() + "/" + r.offset());
            Util.check(i != null, "record at " + r.partition() + "/" + r.offset() + " was never sent");
            Util.eq(Util.s(r.key()), "key-" + i, "key at " + r.partition() + "/" + r.offset());
            Util.eq(Util.s(r.value()), value(i), "value at " + r.partition() + "/" + r.offset());
            Util.eq(r.timestamp(), Util.BASE_TS + i, "timestamp at " + r.partition() + "/" + r.offset());
            Util.eq(Arrays.asList(r.headers().toArray()), headers(i), "headers at " + r.partition() + "/" + r.offset());
        }
    }

    static List<Long> range(long n) {
        List<Long> l = new ArrayList<>();
        for (long x = 0; x < n; x++) l.add(x);
        return l;
    }

    static void producerRestart() throws Exception {
        String t = Util.topic("java-prodrestart");
        try (Admin a = Util.admin()) { Util.createTopic(a, t, 1); }
        int per = 1000;
        List<Long> offs = new ArrayList<>();
        for (int round = 0; round < 2; round++) {
            try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
                List<Future<RecordMetadata>> futs = new ArrayList<>();
                for (int i = round * per; i < (round + 1) * per; i++) {
                    futs.add(p.send(new ProducerRecord<>(t, 0, Util.b("k" + i), Util.b(value(i)))));
                }
                p.flush();
                for (Future<RecordMetadata> f : futs) offs.add(f.get(60, SECONDS).offset());
            }
        }
        Util.eq(offs, range(2 * per), "offsets of two producers in a row");
        List<ConsumerRecord<byte[], byte[]>> got =
                Util.readAll(t, List.of(new TopicPartition(t, 0)), 2 * per, Duration.ofSeconds(60));
        for (int i = 0; i < 2 * per; i++) Util.eq(Util.s(got.get(i).value()), value(i), "value " + i);
    }

    /** createTopics (explicit and broker-default partitions), describeTopics, listTopics, deleteTopics. */
    static void adminTopics() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-admin");
            CreateTopicsResult cr = a.createTopics(List.of(new NewTopic(t, 3, (short) 1)));
            cr.all().get(60, SECONDS);
            Util.eq(cr.numPartitions(t).get(), 3, "CreateTopics result partitions");
            Uuid createdId = cr.topicId(t).get();
            Util.check(createdId != null && !createdId.equals(Uuid.ZERO_UUID), "CreateTopics topic id is zero: " + createdId);

            TopicDescription d = a.describeTopics(List.of(t)).allTopicNames().get(60, SECONDS).get(t);
            Util.eq(d.partitions().size(), 3, "describeTopics partition count");
            for (TopicPartitionInfo p : d.partitions()) {
                Util.check(p.leader() != null, "partition " + p.partition() + " has no leader");
                Util.eq(p.leader().id(), Util.NODE_ID, "leader of partition " + p.partition());
                Util.eq(p.replicas().size(), 1, "replicas of partition " + p.partition());
                Util.eq(p.isr().size(), 1, "isr of partition " + p.partition());
            }
            Util.check(d.topicId() != null && !d.topicId().equals(Uuid.ZERO_UUID), "topic id is zero: " + d.topicId());
            Util.eq(d.topicId(), createdId, "topic id (describeTopics vs createTopics)");
            Util.check(!d.isInternal(), "topic marked internal");

            // Default partition count (-1 = broker default, num.partitions)
            String t1 = Util.topic("java-admin-default");
            a.createTopics(List.of(new NewTopic(t1, Optional.empty(), Optional.empty()))).all().get(60, SECONDS);
            Util.eq(a.describeTopics(List.of(t1)).allTopicNames().get().get(t1).partitions().size(),
                    Util.DEFAULT_PARTITIONS, "partitions of a topic created with the broker default");

            try {
                a.createTopics(List.of(new NewTopic(t, 3, (short) 1))).all().get(60, SECONDS);
                throw new AssertionError("second createTopics succeeded");
            } catch (java.util.concurrent.ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException,
                        "second createTopics: want TopicExistsException, got " + e.getCause());
            }

            Set<String> names = a.listTopics().names().get(60, SECONDS);
            Util.check(names.contains(t) && names.contains(t1), "listTopics misses " + t + " or " + t1);

            a.deleteTopics(List.of(t, t1)).all().get(60, SECONDS);
            Util.waitUntil(() -> {
                try {
                    Set<String> n = a.listTopics().names().get();
                    return !n.contains(t) && !n.contains(t1);
                } catch (Exception e) { return false; }
            }, Duration.ofSeconds(15), "deleted topics gone from listTopics");
            try {
                a.describeTopics(List.of(t)).allTopicNames().get(60, SECONDS);
                throw new AssertionError("describeTopics of a deleted topic succeeded");
            } catch (java.util.concurrent.ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException,
                        "describeTopics after delete: want UnknownTopicOrPartitionException, got " + e.getCause());
            }
        }
    }

    /** createPartitions 3 -> 5; the new partitions are usable. */
    static void createPartitions() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-cp");
            Util.createTopic(a, t, 3);
            a.createPartitions(Map.of(t, NewPartitions.increaseTo(5))).all().get(60, SECONDS);
            Util.waitUntil(() -> {
                try {
                    return a.describeTopics(List.of(t)).allTopicNames().get().get(t).partitions().size() == 5;
                } catch (Exception e) { return false; }
            }, Duration.ofSeconds(15), "5 partitions after createPartitions");
            try {
                a.createPartitions(Map.of(t, NewPartitions.increaseTo(4))).all().get(60, SECONDS);
                throw new AssertionError("decreasing partitions 5 -> 4 succeeded");
            } catch (java.util.concurrent.ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.InvalidPartitionsException,
                        "createPartitions 5 -> 4: want InvalidPartitionsException, got " + e.getCause());
            }
            try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
                RecordMetadata m = p.send(new ProducerRecord<>(t, 4, Util.b("k"), Util.b("on partition 4"))).get(60, SECONDS);
                Util.eq(m.offset(), 0L, "first offset on new partition 4");
            }
            List<ConsumerRecord<byte[], byte[]>> got =
                    Util.readAll(t, List.of(new TopicPartition(t, 4)), 1, Duration.ofSeconds(30));
            Util.eq(Util.s(got.get(0).value()), "on partition 4", "record on partition 4");
        }
    }

    /** describeConfigs for a topic (the keys kafka-topics --describe shows) and the broker. */
    static void describeConfigs() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-cfg");
            Util.createTopic(a, t, 1);
            ConfigResource tr = new ConfigResource(ConfigResource.Type.TOPIC, t);
            Config tc = a.describeConfigs(List.of(tr)).all().get(60, SECONDS).get(tr);
            System.out.println("topic configs: " + tc.entries().stream().map(e -> e.name() + "=" + e.value()).sorted().collect(Collectors.joining(", ")));
            for (String k : List.of("retention.ms", "retention.bytes", "cleanup.policy", "segment.bytes",
                    "max.message.bytes", "message.timestamp.type")) {
                Util.check(tc.get(k) != null, "topic config " + k + " missing");
            }
            Util.eq(tc.get("cleanup.policy").value(), "delete", "cleanup.policy");
            Util.eq(tc.get("message.timestamp.type").value(), "CreateTime", "message.timestamp.type");
            Util.check(Long.parseLong(tc.get("retention.ms").value()) != 0, "retention.ms is 0");

            ConfigResource br = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(Util.NODE_ID));
            Config bc = a.describeConfigs(List.of(br)).all().get(60, SECONDS).get(br);
            System.out.println("broker configs: " + bc.entries().size() + " entries: "
                    + bc.entries().stream().map(e -> e.name() + "=" + e.value()).sorted().collect(Collectors.joining(", ")));
            Util.check(!bc.entries().isEmpty(), "broker config is empty");

            ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, Util.topic("java-cfg-missing"));
            try {
                a.describeConfigs(List.of(missing)).all().get(60, SECONDS);
                throw new AssertionError("describeConfigs of a missing topic succeeded");
            } catch (java.util.concurrent.ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException,
                        "describeConfigs of a missing topic: want UnknownTopicOrPartitionException, got " + e.getCause());
            }
        }
    }

    /** describeCluster: one node (id 0), a controller, a cluster id. */
    static void describeCluster() throws Exception {
        try (Admin a = Util.admin()) {
            DescribeClusterResult dc = a.describeCluster();
            Collection<org.apache.kafka.common.Node> nodes = dc.nodes().get(60, SECONDS);
            Util.eq(nodes.size(), 1, "describeCluster node count");
            org.apache.kafka.common.Node n = nodes.iterator().next();
            Util.eq(n.id(), Util.NODE_ID, "node id");
            Util.eq(n.host() + ":" + n.port(), Util.BOOTSTRAP, "advertised host:port");
            org.apache.kafka.common.Node ctl = dc.controller().get(60, SECONDS);
            Util.check(ctl != null && !ctl.isEmpty(), "no controller: " + ctl);
            Util.eq(ctl.id(), Util.NODE_ID, "controller id");
            String cid = dc.clusterId().get(60, SECONDS);
            Util.check(cid != null && !cid.isEmpty(), "cluster id empty");
            System.out.println("cluster id " + cid + ", node " + n + ", controller " + ctl);
        }
    }

    static void listOffsets() throws Exception {
        String t = Util.topic("java-lo");
        int n = 1000;
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 2);
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
                for (int i = 0; i < n; i++) {
                    // partition 0: timestamps BASE_TS + 10*i; partition 1 stays empty
                    p.send(new ProducerRecord<>(t, 0, Util.BASE_TS + 10L * i, Util.b("k" + i), Util.b(value(i))));
                }
                p.flush();
            }
            TopicPartition p0 = new TopicPartition(t, 0), p1 = new TopicPartition(t, 1);
            Util.eq(offset(a, p0, OffsetSpec.earliest()), 0L, "earliest p0");
            Util.eq(offset(a, p0, OffsetSpec.latest()), (long) n, "latest p0 (= record count)");
            Util.eq(offset(a, p1, OffsetSpec.earliest()), 0L, "earliest of empty p1");
            Util.eq(offset(a, p1, OffsetSpec.latest()), 0L, "latest of empty p1");
            Util.eq(offset(a, p0, OffsetSpec.forTimestamp(Util.BASE_TS + 5000)), 500L, "offset for ts BASE+5000");
            Util.eq(offset(a, p0, OffsetSpec.forTimestamp(Util.BASE_TS + 5001)), 501L, "offset for ts BASE+5001");
            Util.eq(offset(a, p0, OffsetSpec.forTimestamp(0)), 0L, "offset for ts 0");
            Util.eq(offset(a, p0, OffsetSpec.forTimestamp(Util.BASE_TS + 10L * n)), -1L, "offset for a ts after the last record");
            ListOffsetsResult.ListOffsetsResultInfo mx =
                    a.listOffsets(Map.of(p0, OffsetSpec.maxTimestamp())).partitionResult(p0).get(60, SECONDS);
            Util.eq(mx.offset(), (long) n - 1, "maxTimestamp offset");
            Util.eq(mx.timestamp(), Util.BASE_TS + 10L * (n - 1), "maxTimestamp timestamp");
            ListOffsetsResult.ListOffsetsResultInfo ts =
                    a.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(Util.BASE_TS + 5000))).partitionResult(p0).get(60, SECONDS);
            Util.eq(ts.timestamp(), Util.BASE_TS + 5000, "timestamp returned for ts BASE+5000");
        }
    }

    static long offset(Admin a, TopicPartition tp, OffsetSpec spec) throws Exception {
        KafkaFuture<ListOffsetsResult.ListOffsetsResultInfo> f = a.listOffsets(Map.of(tp, spec)).partitionResult(tp);
        return f.get(60, SECONDS).offset();
    }
}
