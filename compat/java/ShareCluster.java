import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Share groups (KIP-932) on the 3-node cluster with the Java 4.3 KafkaShareConsumer: three
 * members consume a 3-partition RF 3 topic (min.insync.replicas=2), accepting every record
 * except every tenth, which they reject; each poll's acknowledgements are committed with
 * commitSync, whose per-partition result says whether the broker made them durable. Mid-run
 * one broker is SIGKILLed and started again 5 s later:
 *
 *   ShareCluster kill-leader DIR       the leader of the partition least consumed so far (its
 *                                      share-partition state is at the group's coordinator)
 *   ShareCluster kill-coordinator DIR  the share group's coordinator (holds the share state
 *                                      in the group's __consumer_offsets partition)
 *
 * (DIR: the cluster dir of scripts/cluster.) Checks: every record to accept is accepted at
 * least once; no record is delivered again after a commitSync reported its acknowledgement
 * (accept or reject) durable — so nothing acknowledged before the kill comes back after it,
 * and a rejected record is never redelivered.
 */
public final class ShareCluster {
    public static void main(String[] args) {
        String cmd = args[0];
        Util.main("share-cluster " + cmd, () -> {
            switch (cmd) {
                case "kill-leader" -> killRun(true, args[1]);
                case "kill-coordinator" -> killRun(false, args[1]);
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static int index(String key) { return Integer.parseInt(key.substring(1)); }

    /** Share.shareConsumer with at most 50 records a poll. */
    static KafkaShareConsumer<byte[], byte[]> consumer(String group, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, Util.BOOTSTRAP);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
        p.put("share.acknowledgement.mode", "explicit");
        return new KafkaShareConsumer<>(p);
    }

    static void killRun(boolean leader, String dir) throws Exception {
        String topic = Util.topic(leader ? "share-kill-leader" : "share-kill-coord");
        String group = Util.topic(leader ? "sg-kill-leader" : "sg-kill-coord");
        int n = 12000;
        try (Admin a = Util.admin()) {
            NewTopic nt = new NewTopic(topic, 3, (short) 3).configs(Map.of("min.insync.replicas", "2"));
            a.createTopics(List.of(nt)).all().get(60, SECONDS);
            Share.groupConfig(a, group);
        }
        Share.produce(topic, n, 3);
        int toAccept = (int) java.util.stream.IntStream.range(0, n).filter(i -> i % 10 != 0).count();

        // key -> when a commitSync reported its acknowledgement durable (nanoTime), and its type.
        Map<String, Long> ackedAt = new ConcurrentHashMap<>();
        Map<String, AcknowledgeType> ackedType = new ConcurrentHashMap<>();
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        List<String> violations = Collections.synchronizedList(new ArrayList<>());
        List<String> transientErrors = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger failedAcks = new AtomicInteger();
        AtomicInteger deliveries = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong killAt = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int m = 0; m < 3; m++) {
            String id = "kc" + m;
            Thread t = new Thread(() -> {
                while (!stop.get()) {
                    try (KafkaShareConsumer<byte[], byte[]> c = consumer(group, id)) {
                        c.subscribe(List.of(topic));
                        while (!stop.get()) {
                            ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(300));
                            long at = System.nanoTime();
                            Map<TopicPartition, List<String>> pending = new HashMap<>();
                            for (ConsumerRecord<byte[], byte[]> r : recs) {
                                deliveries.incrementAndGet();
                                String k = Share.key(r);
                                Long prev = ackedAt.get(k);
                                if (prev != null && prev < at)
                                    violations.add(k + " (" + ackedType.get(k) + " durable "
                                            + (prev < killAt.get() || killAt.get() == 0 ? "before" : "after")
                                            + " the kill) delivered again to " + id + ", delivery count "
                                            + r.deliveryCount().orElse((short) -1));
                                AcknowledgeType type = index(k) % 10 == 0 ? AcknowledgeType.REJECT : AcknowledgeType.ACCEPT;
                                c.acknowledge(r, type);
                                pending.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), x -> new ArrayList<>()).add(k);
                            }
                            if (recs.isEmpty()) continue;
                            // Paced (~1,500 records/s for three members) so that the kill
                            // falls in the middle of the run.
                            Thread.sleep(100);
                            Map<TopicIdPartition, Optional<KafkaException>> res = c.commitSync(Duration.ofSeconds(30));
                            long done = System.nanoTime();
                            Set<TopicPartition> ok = new HashSet<>();
                            res.forEach((tip, err) -> { if (err.isEmpty()) ok.add(tip.topicPartition()); });
                            pending.forEach((tp, keys) -> {
                                if (!ok.contains(tp)) {
                                    failedAcks.addAndGet(keys.size());
                                    return;
                                }
                                for (String k : keys) {
                                    AcknowledgeType type = index(k) % 10 == 0 ? AcknowledgeType.REJECT : AcknowledgeType.ACCEPT;
                                    ackedAt.putIfAbsent(k, done);
                                    ackedType.putIfAbsent(k, type);
                                    if (type == AcknowledgeType.ACCEPT) accepted.add(k);
                                }
                            });
                        }
                    } catch (Throwable e) {
                        // A broker going away may surface as an exception: a new member goes on.
                        transientErrors.add(id + ": " + e);
                        try { Thread.sleep(500); } catch (InterruptedException ie) { return; }
                    }
                }
            });
            t.start();
            threads.add(t);
        }
        Util.waitUntil(() -> accepted.size() >= toAccept / 4, Duration.ofSeconds(120), "a quarter of the records accepted");
        int victim;
        int[] perPartition = new int[3];
        for (String k : accepted) perPartition[index(k) % 3]++;
        int behind = 0;
        for (int p = 1; p < 3; p++) if (perPartition[p] < perPartition[behind]) behind = p;
        try (Admin a = Util.admin()) {
            if (leader) {
                victim = a.describeTopics(List.of(topic)).allTopicNames().get(60, SECONDS).get(topic)
                        .partitions().get(behind).leader().id();
            } else {
                victim = a.describeShareGroups(List.of(group)).describedGroups().get(group).get(60, SECONDS)
                        .coordinator().id();
            }
        }
        killAt.set(System.nanoTime());
        ProcessHandle.of(Cluster.pid(dir, victim)).ifPresent(ProcessHandle::destroyForcibly);
        System.out.println("SIGKILL node " + victim + " (" + (leader ? "leader of partition " + behind : "share coordinator")
                + ") with " + accepted.size() + "/" + toAccept + " accepted, per partition " + Arrays.toString(perPartition));
        Thread.sleep(5000);
        Cluster.clusterCtl(dir, "start", String.valueOf(victim));
        System.out.println("node " + victim + " started again with " + accepted.size() + "/" + toAccept + " accepted");
        Util.waitUntil(() -> accepted.size() >= toAccept || !violations.isEmpty(), Duration.ofSeconds(240),
                toAccept + " records accepted");
        // A late redelivery of an acknowledged record would show up now.
        Thread.sleep(3000);
        stop.set(true);
        for (Thread t : threads) t.join(60000);
        System.out.printf("deliveries %d, acknowledgements not made durable %d (redelivered, as allowed), member errors %d%s%n",
                deliveries.get(), failedAcks.get(), transientErrors.size(),
                transientErrors.isEmpty() ? "" : " (first: " + transientErrors.get(0) + ")");
        Util.check(violations.isEmpty(), violations.size() + " acknowledged records delivered again: "
                + violations.subList(0, Math.min(10, violations.size())));
        Util.eq(accepted.size(), toAccept, "distinct records accepted");
        long rejected = ackedType.values().stream().filter(t -> t == AcknowledgeType.REJECT).count();
        Util.eq((int) rejected, n - toAccept, "distinct records rejected");
    }
}
