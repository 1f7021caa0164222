import java.time.Duration;
import java.util.*;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;

import static java.nio.charset.StandardCharsets.UTF_8;

/**
 * Java kafka-clients 4.3 transactions (transaction protocol v1: the broker does not finalize
 * transaction.version 2, so the producer sends AddPartitionsToTxn v3, EndTxn v4, TxnOffsetCommit
 * v4, Produce v11).
 *
 *   Txn eos-crash    Exactly-once consume-transform-produce: 20,000 input records over 4
 *                    partitions; a consumer group member reads them and a transactional
 *                    producer writes one output record per input record and commits the
 *                    group's offsets in the same transaction (sendOffsetsToTransaction), 200
 *                    records per transaction. After a third of the input, inside a transaction
 *                    whose records are written but not its offsets or commit, the broker is
 *                    killed (SIGKILL) and restarted (compat/lib.sh crash_restart_broker); the
 *                    transaction commits after the restart, or fails and the loop aborts,
 *                    rewinds to the committed offsets and carries on. A read_committed
 *                    consumer then finds every input record exactly once in the output, and the
 *                    group's committed offsets at the input's end.
 *   Txn eos-cluster DIR
 *                    (DIR: the cluster dir of compat/run's 3-node cluster) the same loop on
 *                    RF 3 topics (min.insync.replicas=2), but the broker killed is the
 *                    transaction coordinator of the producer's transactional id (Admin
 *                    describeTransactions' coordinator id): SIGKILLed inside a transaction,
 *                    started again 5 s later; its `__transaction_state` partition moves to
 *                    another broker, which loads the transaction and carries on. Output =
 *                    input exactly once.
 *   Txn admin        Admin listTransactions / describeTransactions (what kafka-transactions
 *                    --list / --describe send) show an open transaction with its partitions,
 *                    then CompleteCommit; ListOffsets with read_committed answers the LSO.
 */
public final class Txn {
    static final int INPUT = 20_000;
    static final int PARTITIONS = 4;

    public static void main(String[] args) {
        String mode = args[0];
        Util.main("Txn " + mode, () -> {
            switch (mode) {
                case "eos-crash" -> eosCrash(null);
                case "eos-cluster" -> eosCrash(args[1]);
                case "admin" -> admin();
                default -> throw new IllegalArgumentException(mode);
            }
        });
    }

    static KafkaProducer<byte[], byte[]> txnProducer(String txnId) {
        KafkaProducer<byte[], byte[]> p = Util.producer(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
                ProducerConfig.LINGER_MS_CONFIG, "5",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000",
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.initTransactions();
        return p;
    }

    static void crashBroker() throws Exception {
        String lib = System.getenv("COMPAT_DIR") + "/lib.sh";
        Process p = new ProcessBuilder("bash", "-c", "source '" + lib + "' && crash_restart_broker")
                .inheritIO().start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("crash_restart_broker failed");
        }
    }

    /** SIGKILLs the coordinator of txnId in the cluster at dir; starts it again 5 s later. */
    static void killCoordinator(String dir, String txnId) throws Exception {
        int id;
        try (Admin a = Util.admin()) {
            id = a.describeTransactions(List.of(txnId)).description(txnId).get(30, TimeUnit.SECONDS).coordinatorId();
        }
        System.out.println("killing node " + id + ", the coordinator of " + txnId);
        ProcessHandle.of(Cluster.pid(dir, id)).ifPresent(ProcessHandle::destroyForcibly);
        Thread.sleep(5000);
        Cluster.clusterCtl(dir, "start", String.valueOf(id));
    }

    static void eosCrash(String clusterDir) throws Exception {
        boolean canCrash = clusterDir != null || (System.getenv("COMPAT_BROKER_PIDFILE") != null
                && !System.getenv("COMPAT_BROKER_PIDFILE").isEmpty());
        String in = Util.topic("eos-in"), out = Util.topic("eos-out"), group = Util.topic("eos-g");
        try (Admin a = Util.admin()) {
            if (clusterDir == null) {
                Util.createTopic(a, in, PARTITIONS);
                Util.createTopic(a, out, PARTITIONS);
            } else {
                Map<String, String> cfg = Map.of("min.insync.replicas", "2");
                a.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(in, PARTITIONS, (short) 3).configs(cfg),
                        new org.apache.kafka.clients.admin.NewTopic(out, PARTITIONS, (short) 3).configs(cfg)))
                        .all().get(60, TimeUnit.SECONDS);
            }
        }
        try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
            for (int i = 0; i < INPUT; i++) {
                p.send(new ProducerRecord<>(in, i % PARTITIONS, null, Util.b("in-" + i)));
            }
            p.flush();
        }
        String txnId = Util.topic("eos-txn");
        KafkaProducer<byte[], byte[]> producer = txnProducer(txnId);
        KafkaConsumer<byte[], byte[]> consumer = Util.consumer(
                ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200");
        consumer.subscribe(List.of(in));
        long committedTxns = 0, aborts = 0;
        boolean crashed = false;
        long deadline = System.currentTimeMillis() + 180_000;
        while (System.currentTimeMillis() < deadline) {
            ConsumerRecords<byte[], byte[]> recs;
            try {
                recs = consumer.poll(Duration.ofMillis(500));
            } catch (KafkaException e) {
                System.out.println("poll failed, retrying: " + e);
                continue;
            }
            if (recs.isEmpty()) {
                if (done(in, group)) break;
                continue;
            }
            try {
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    producer.send(new ProducerRecord<>(out, r.partition(), null,
                            Util.b("out-" + Util.s(r.value()))));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                if (!crashed && canCrash && committedTxns * 200 >= INPUT / 3) {
                    // In the middle of a transaction: its records are written, its offsets
                    // and its commit are not.
                    producer.flush();
                    System.out.println("killing the broker inside transaction " + (committedTxns + 1));
                    if (clusterDir == null) crashBroker();
                    else killCoordinator(clusterDir, txnId);
                    crashed = true;
                }
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                producer.commitTransaction();
                committedTxns++;
            } catch (ProducerFencedException e) {
                throw new AssertionError("the only producer of " + txnId + " was fenced", e);
            } catch (KafkaException e) {
                aborts++;
                System.out.println("transaction failed (" + e + "), aborting and rewinding");
                try {
                    producer.abortTransaction();
                } catch (KafkaException fatal) {
                    // The producer cannot go on (e.g. its transaction timed out meanwhile):
                    // a new one with the same id fences the old one, as an application would.
                    System.out.println("abort failed (" + fatal + "), replacing the producer");
                    producer.close(Duration.ZERO);
                    producer = txnProducer(txnId);
                }
                rewind(consumer, group);
            }
        }
        producer.close();
        consumer.close();
        Util.check(done(in, group), "the group did not commit the input's end offsets in time");
        System.out.println("committed " + committedTxns + " transactions, " + aborts + " aborted, broker killed: " + crashed);
        if (canCrash) Util.check(crashed, "the broker was never killed");
        // Exactly once: every input record once in the output.
        List<TopicPartition> outTps = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) outTps.add(new TopicPartition(out, p));
        Map<String, Integer> counts = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")) {
            c.assign(outTps);
            c.seekToBeginning(outTps);
            Map<TopicPartition, Long> end = c.endOffsets(outTps);
            long until = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < until) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    counts.merge(Util.s(r.value()), 1, Integer::sum);
                }
                boolean atEnd = true;
                for (TopicPartition tp : outTps) atEnd &= c.position(tp) >= end.get(tp);
                if (atEnd) break;
            }
        }
        List<String> dup = new ArrayList<>(), missing = new ArrayList<>();
        for (int i = 0; i < INPUT; i++) {
            Integer n = counts.get("out-in-" + i);
            if (n == null) missing.add("in-" + i);
            else if (n > 1) dup.add("in-" + i + " x" + n);
        }
        Util.check(missing.isEmpty() && dup.isEmpty() && counts.size() == INPUT,
                "output is not exactly once: " + missing.size() + " missing " + head(missing)
                        + ", " + dup.size() + " duplicated " + head(dup) + ", " + counts.size() + " distinct");
    }

    static String head(List<String> l) {
        return l.subList(0, Math.min(5, l.size())).toString();
    }

    /** Seeks every assigned partition back to the group's committed offset. */
    static void rewind(KafkaConsumer<byte[], byte[]> c, String group) {
        Set<TopicPartition> assigned = c.assignment();
        Map<TopicPartition, OffsetAndMetadata> committed = c.committed(assigned, Duration.ofSeconds(60));
        for (TopicPartition tp : assigned) {
            OffsetAndMetadata o = committed.get(tp);
            if (o == null) c.seekToBeginning(List.of(tp));
            else c.seek(tp, o.offset());
        }
    }

    /** Whether the group's committed offsets reached the input's end. */
    static boolean done(String in, String group) {
        try (Admin a = Util.admin()) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                    a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            long total = 0;
            for (OffsetAndMetadata o : committed.values()) total += o == null ? 0 : o.offset();
            return total == INPUT;
        } catch (Exception e) {
            return false;
        }
    }

    static void admin() throws Exception {
        String t = Util.topic("txn-admin");
        String txnId = Util.topic("admin-txn");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 2);
            KafkaProducer<byte[], byte[]> p = txnProducer(txnId);
            p.beginTransaction();
            p.send(new ProducerRecord<>(t, 0, null, Util.b("one"))).get();
            p.send(new ProducerRecord<>(t, 1, null, Util.b("two"))).get();
            p.send(new ProducerRecord<>(t, 1, null, Util.b("three"))).get();
            Collection<TransactionListing> listed = a.listTransactions().all().get(30, TimeUnit.SECONDS);
            TransactionListing mine = listed.stream().filter(l -> l.transactionalId().equals(txnId)).findFirst()
                    .orElseThrow(() -> new AssertionError(txnId + " not listed: " + listed));
            Util.eq(mine.state().toString(), "Ongoing", "listed state");
            TransactionDescription d = a.describeTransactions(List.of(txnId)).description(txnId).get(30, TimeUnit.SECONDS);
            Util.eq(d.state().toString(), "Ongoing", "described state");
            Util.eq(new HashSet<>(d.topicPartitions()), Set.of(new TopicPartition(t, 0), new TopicPartition(t, 1)),
                    "described partitions");
            Util.eq(d.coordinatorId(), Util.NODE_ID, "coordinator id");
            Util.check(d.transactionStartTimeMs().isPresent(), "start time present");
            // The LSO of partition 1 is its first open offset (0); the high watermark is 2.
            TopicPartition tp1 = new TopicPartition(t, 1);
            ListOffsetsResult committedEnd = a.listOffsets(Map.of(tp1, OffsetSpec.latest()),
                    new org.apache.kafka.clients.admin.ListOffsetsOptions(IsolationLevel.READ_COMMITTED));
            Util.eq(committedEnd.partitionResult(tp1).get().offset(), 0L, "read_committed latest offset (LSO)");
            ListOffsetsResult end = a.listOffsets(Map.of(tp1, OffsetSpec.latest()));
            Util.eq(end.partitionResult(tp1).get().offset(), 2L, "read_uncommitted latest offset");
            p.commitTransaction();
            p.close();
            Util.waitUntil(() -> {
                try {
                    return a.describeTransactions(List.of(txnId)).description(txnId).get().state().toString()
                            .equals("CompleteCommit");
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(30), "CompleteCommit");
            Util.eq(a.listOffsets(Map.of(tp1, OffsetSpec.latest()),
                            new org.apache.kafka.clients.admin.ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                    .partitionResult(tp1).get().offset(), 3L, "LSO after the commit marker");
        }
    }
}
