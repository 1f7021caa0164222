import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Log compaction with the Java 4.3 clients.
 *
 *   Compaction switch-to-compact
 *       A topic created with cleanup.policy=delete, 1 MiB segments and delete.retention.ms=1000
 *       gets about 20,800 keyed records over 1,000 keys from the default (idempotent) producer,
 *       about 4.7 MB: several sealed segments. Ten rounds write every key; then 100 keys get a
 *       tombstone and no record after it, and key k is written in the next 1 + k % 23 rounds,
 *       so the latest records lie scattered over the second half. Admin incrementalAlterConfigs (what `kafka-configs --alter` sends) then sets
 *       cleanup.policy=compact, min.cleanable.dirty.ratio=0.01 and segment.ms=1000. The broker's
 *       /metrics ($COMPAT_HTTP) show the first pass over the partition; it keeps the tombstones
 *       (they must outlive it by delete.retention.ms). delete.retention.ms later 50 records of
 *       new keys (enough to be due at that ratio) are rolled (segment.ms) and a pass after
 *       them drops the tombstones, if an earlier pass (the idle roll of the tail) has not. Then a KafkaConsumer
 *       (assign + seekToBeginning) and a group member (subscribe) each read the whole topic
 *       and must see exactly the latest record of every live key, at the offset its send was
 *       acknowledged at, no deleted key, offsets strictly increasing with gaps, position()
 *       equal to endOffsets after the last poll; earliest/latest offsets are unchanged.
 */
public class Compaction {
    static final int KEYS = 1_000;
    /** Rounds over every key before the tombstones. */
    static final int FIRST_ROUNDS = 10;
    static final long DELETE_RETENTION_MS = 1_000;

    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "switch-to-compact" -> switchToCompact();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static String key(int k) { return String.format("key-%04d", k); }

    /** A deleted key: 100 of the 1,000. */
    static boolean deleted(int k) { return k % 10 == 3; }

    /** An acknowledged record: key and value (null: tombstone). */
    record Sent(String key, String value) {}

    static void switchToCompact() throws Exception {
        String http = System.getenv("COMPAT_HTTP");
        Util.check(http != null && !http.isEmpty(), "COMPAT_HTTP (broker metrics address) is set");
        String t = Util.topic("java-compact");
        TopicPartition tp = new TopicPartition(t, 0);
        try (Admin a = Util.admin()) {
            a.createTopics(List.of(new NewTopic(t, 1, (short) 1).configs(Map.of(
                    "cleanup.policy", "delete", "segment.bytes", "1048576",
                    "delete.retention.ms", Long.toString(DELETE_RETENTION_MS))))).all().get(60, SECONDS);

            // offset -> record, as acknowledged.
            TreeMap<Long, Sent> acked = new TreeMap<>();
            Random rnd = new Random(12);
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
                List<Future<RecordMetadata>> futs = new ArrayList<>();
                List<Sent> sent = new ArrayList<>();
                for (int round = 0; round < FIRST_ROUNDS + 23; round++) {
                    if (round == FIRST_ROUNDS) {
                        for (int k = 0; k < KEYS; k++) {
                            if (deleted(k)) sent.add(new Sent(key(k), null));
                        }
                    }
                    for (int k = 0; k < KEYS; k++) {
                        if (round >= FIRST_ROUNDS && (deleted(k) || round > FIRST_ROUNDS + k % 23)) continue;
                        byte[] pad = new byte[100];
                        rnd.nextBytes(pad);
                        sent.add(new Sent(key(k), "v" + sent.size() + "-" + HexFormat.of().formatHex(pad)));
                    }
                }
                for (Sent s : sent) {
                    futs.add(p.send(new ProducerRecord<>(t, 0, Util.b(s.key()), s.value() == null ? null : Util.b(s.value()))));
                }
                p.flush();
                for (int i = 0; i < sent.size(); i++) {
                    acked.put(futs.get(i).get(60, SECONDS).offset(), sent.get(i));
                }
                Util.eq(acked.size(), sent.size(), "acknowledged records (values and tombstones)");
            }
            Util.eq(acked.lastKey(), (long) acked.size() - 1, "last acknowledged offset");
            long earliest = offset(a, tp, OffsetSpec.earliest());
            Util.eq(earliest, 0L, "earliest offset before compaction");

            Configs.alter(a, new ConfigResource(ConfigResource.Type.TOPIC, t), false,
                    Configs.op("cleanup.policy", "compact", AlterConfigOp.OpType.SET),
                    Configs.op("min.cleanable.dirty.ratio", "0.01", AlterConfigOp.OpType.SET),
                    Configs.op("segment.ms", "1000", AlterConfigOp.OpType.SET));
            long switched = System.currentTimeMillis();
            long firstPass = waitForPass(http, t, switched, "the first pass after the switch");
            System.out.printf("first pass %.1f s after the switch%n", (firstPass - switched) / 1000.0);

            // Tombstones survive a pass by delete.retention.ms: only a later pass drops them.
            // That pass needs new dirty data: one record of a new key, sent when it rolls the
            // segment (segment.ms) and the tombstones' segments are old enough.
            long wait = firstPass + DELETE_RETENTION_MS + 500 - System.currentTimeMillis();
            if (wait > 0) Thread.sleep(wait);
            long rolled = System.currentTimeMillis();
            try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
                // Enough new keys (about 3% of the cleaned log) to make the partition due at
                // min.cleanable.dirty.ratio=0.01 once they are rolled (segment.ms): an earlier
                // pass may already have run on its own (the idle roll of the tail).
                for (int i = 0; i < 50; i++) {
                    String k = "roll-" + i, v = "roll-" + i + "-" + "r".repeat(100);
                    RecordMetadata m = p.send(new ProducerRecord<>(t, 0, Util.b(k), Util.b(v))).get(60, SECONDS);
                    acked.put(m.offset(), new Sent(k, v));
                }
            }
            long secondPass = waitForPass(http, t, rolled, "a pass after the segment rolled");
            System.out.printf("second pass %.1f s after the roll%n", (secondPass - rolled) / 1000.0);
            long end = acked.lastKey() + 1;

            // The latest record of every key, by offset; deleted keys (latest is a tombstone) gone.
            Map<String, Long> latest = new HashMap<>();
            for (Map.Entry<Long, Sent> e : acked.entrySet()) latest.put(e.getValue().key(), e.getKey());
            TreeMap<Long, Sent> want = new TreeMap<>();
            for (long off : latest.values()) if (acked.get(off).value() != null) want.put(off, acked.get(off));
            Util.eq(want.size(), KEYS - KEYS / 10 + 50, "live keys (and the 50 roll records)");

            List<ConsumerRecord<byte[], byte[]>> assigned = new ArrayList<>();
            try (KafkaConsumer<byte[], byte[]> c = Util.consumer()) {
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                readToEnd(c, tp, end, assigned);
            }
            verify(assigned, want, acked, "assign + seekToBeginning");

            List<ConsumerRecord<byte[], byte[]>> grouped = new ArrayList<>();
            String group = Util.topic("java-compact-group");
            try (KafkaConsumer<byte[], byte[]> c = Util.consumer("group.id", group)) {
                c.subscribe(List.of(t));
                readToEnd(c, tp, end, grouped);
                c.commitSync(Duration.ofSeconds(30));
                OffsetAndMetadata committed = c.committed(Set.of(tp), Duration.ofSeconds(30)).get(tp);
                Util.eq(committed == null ? null : committed.offset(), end, "committed offset of the group");
            }
            verify(grouped, want, acked, "subscribe (group " + group + ")");

            Util.eq(offset(a, tp, OffsetSpec.earliest()), 0L, "earliest offset after compaction");
            Util.eq(offset(a, tp, OffsetSpec.latest()), end, "latest offset after compaction");
            System.out.printf("%d records written, %d read back: the latest of each of %d live keys at its acknowledged offset%n",
                    acked.size(), want.size(), want.size() - 1);
        }
    }

    static long offset(Admin a, TopicPartition tp, OffsetSpec spec) throws Exception {
        return a.listOffsets(Map.of(tp, spec)).partitionResult(tp).get(60, SECONDS).offset();
    }

    /**
     * Waits (60 s at most) for a cleaner pass over `topic`/0 that started after `after` (ms),
     * from the broker's runnel_log_cleaner_seconds_since_last_clean; returns its time (ms).
     */
    static long waitForPass(String http, String topic, long after, String what) throws Exception {
        String series = "runnel_log_cleaner_seconds_since_last_clean{partition=\"0\",topic=\"" + topic + "\"}";
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            Double since = Util.metrics(http).get(series);
            // Taken after the scrape: the estimate is late by the scrape's latency, never early.
            long at = System.currentTimeMillis() - (since == null ? 0 : (long) (since * 1000));
            if (since != null && at >= after) return at;
            Thread.sleep(200);
        }
        throw new AssertionError("timed out after 60s waiting for " + what + " (" + series + ")");
    }

    /** Polls until position() reaches `end` (60 s at most); the records read go to `out`. */
    static void readToEnd(KafkaConsumer<byte[], byte[]> c, TopicPartition tp, long end,
                          List<ConsumerRecord<byte[], byte[]>> out) {
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) out.add(r);
            if (c.assignment().contains(tp) && c.position(tp) >= end) break;
        }
        Util.check(c.assignment().contains(tp), "assigned " + tp);
        // Gaps (removed records, dropped batches) must not stall the consumer short of the end.
        Util.eq(c.position(tp), end, "position after the last poll");
        Util.eq(c.endOffsets(List.of(tp)).get(tp), end, "endOffsets");
    }

    static void verify(List<ConsumerRecord<byte[], byte[]>> got, TreeMap<Long, Sent> want,
                       TreeMap<Long, Sent> acked, String how) {
        long prev = -1;
        int gaps = 0;
        Set<String> keys = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            Util.check(r.offset() > prev, how + ": offset " + r.offset() + " after " + prev);
            if (r.offset() > prev + 1) gaps++;
            prev = r.offset();
            String k = Util.s(r.key());
            Util.check(keys.add(k), how + ": key " + k + " read twice (offset " + r.offset() + ")");
            Util.eq(new Sent(k, Util.s(r.value())), acked.get(r.offset()), how + ": record at offset " + r.offset());
            Util.check(r.value() != null, how + ": tombstone of " + k + " at " + r.offset()
                    + " still there after delete.retention.ms and a later pass");
        }
        Util.check(gaps > 0, how + ": no gaps in the offsets");
        Map<Long, Sent> read = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> r : got) read.put(r.offset(), new Sent(Util.s(r.key()), Util.s(r.value())));
        Util.eq(read.keySet(), want.keySet(), how + ": offsets of the latest record of every live key");
        Util.eq(read, want, how + ": records");
        System.out.printf("%s: %d records, %d gaps, offsets %d..%d%n", how, got.size(), gaps,
                got.get(0).offset(), got.get(got.size() - 1).offset());
    }
}
