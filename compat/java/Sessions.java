import java.time.Duration;
import java.util.*;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Incremental fetch sessions (KIP-227) with the Java consumer.
 *
 *   Sessions incremental-2000   one KafkaConsumer assigned 2,000 partitions (4 topics x 500);
 *                               10,000 records produced into 200 of them, then, while the
 *                               consumer polls, one record into each of 20 others; every
 *                               record is read exactly once with its value. The broker's
 *                               /metrics (address in $COMPAT_HTTP) must show incremental
 *                               fetches, a session holding all 2,000 partitions while the
 *                               consumer idles, and no fetch session errors (codes 70, 71).
 */
public class Sessions {
    static final int TOPICS = 4;
    static final int PER_TOPIC = 500;

    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "incremental-2000" -> incremental2000();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static void incremental2000() throws Exception {
        String http = System.getenv("COMPAT_HTTP");
        Util.check(http != null && !http.isEmpty(), "COMPAT_HTTP (broker metrics address) is set");
        List<TopicPartition> all = new ArrayList<>();
        try (Admin a = Util.admin()) {
            for (int t = 0; t < TOPICS; t++) {
                String name = Util.topic("java-fs" + t);
                Util.createTopic(a, name, PER_TOPIC);
                for (int p = 0; p < PER_TOPIC; p++) all.add(new TopicPartition(name, p));
            }
        }
        Util.eq(all.size(), 2000, "partitions");
        // Wave 1: 50 records into every 10th partition, before the consumer starts.
        Map<String, String> want = new HashMap<>();
        try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "5")) {
            for (int i = 0; i < all.size(); i += 10) {
                TopicPartition tp = all.get(i);
                for (int k = 0; k < 50; k++) {
                    String v = "w1-" + tp + "-" + k;
                    p.send(new ProducerRecord<>(tp.topic(), tp.partition(), null, Util.b(v)));
                    want.put(tp + "@" + k, v);
                }
            }
            p.flush();
        }
        Util.eq(want.size(), 10_000, "wave 1 records");
        Map<String, String> got = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer("max.partition.fetch.bytes", "65536")) {
            c.assign(all);
            c.seekToBeginning(all);
            pollUntil(c, got, 10_000, Duration.ofSeconds(90));
            // Wave 2: data arrives while the consumer is caught up and fetching incrementally.
            try (KafkaProducer<byte[], byte[]> p = Util.producer()) {
                for (int i = 5; i < all.size(); i += 100) {
                    TopicPartition tp = all.get(i);
                    String v = "w2-" + tp;
                    p.send(new ProducerRecord<>(tp.topic(), tp.partition(), null, Util.b(v))).get(60, SECONDS);
                    want.put(tp + "@0", v);
                }
            }
            pollUntil(c, got, want.size(), Duration.ofSeconds(60));
            // Idle for ~3 s (fetch.max.wait.ms 500): nothing buffered, so each of these fetches
            // is an incremental one over the whole session with nothing to send.
            Map<String, Double> before = Util.metrics(http);
            for (int i = 0; i < 6; i++) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    throw new AssertionError("unexpected record " + r);
                }
            }
            Util.eq(got, want, "records read (partition@offset -> value)");

            Map<String, Double> m = Util.metrics(http);
            double incremental = m.getOrDefault("runnel_fetch_requests_total{kind=\"incremental\"}", 0.0);
            double full = m.getOrDefault("runnel_fetch_requests_total{kind=\"full\"}", 0.0);
            double sessions = m.getOrDefault("runnel_fetch_sessions", 0.0);
            double cached = m.getOrDefault("runnel_fetch_session_partitions", 0.0);
            double notFound = m.getOrDefault("runnel_requests_total{api=\"Fetch\",error_code=\"70\"}", 0.0);
            double badEpoch = m.getOrDefault("runnel_requests_total{api=\"Fetch\",error_code=\"71\"}", 0.0);
            // Informational: what an idle fetch of 2,000 partitions costs on the wire.
            double idleFetches = 0;
            for (String kind : List.of("full", "incremental", "sessionless")) {
                String k = "runnel_fetch_requests_total{kind=\"" + kind + "\"}";
                idleFetches += m.getOrDefault(k, 0.0) - before.getOrDefault(k, 0.0);
            }
            double idleBytes = m.getOrDefault("runnel_response_bytes_total", 0.0)
                    - before.getOrDefault("runnel_response_bytes_total", 0.0);
            System.out.printf("idle: %.0f fetches, %.0f response bytes in all%n", idleFetches, idleBytes);
            System.out.printf("fetches: incremental=%.0f full=%.0f; sessions=%.0f cached partitions=%.0f;"
                    + " errors 70=%.0f 71=%.0f%n", incremental, full, sessions, cached, notFound, badEpoch);
            Util.check(incremental >= 5, "at least 5 incremental fetches, got " + incremental);
            Util.check(incremental > full, "incremental fetches outnumber full ones: " + incremental + " vs " + full);
            Util.check(sessions >= 1, "a live fetch session, got " + sessions);
            Util.check(cached >= 2000, "the session holds all 2,000 partitions, got " + cached);
            Util.eq(notFound + badEpoch, 0.0, "fetch session errors");
        }
    }

    static void pollUntil(KafkaConsumer<byte[], byte[]> c, Map<String, String> got, int n, Duration limit) {
        long deadline = System.currentTimeMillis() + limit.toMillis();
        while (got.size() < n && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                String key = r.topic() + "-" + r.partition() + "@" + r.offset();
                if (got.put(key, Util.s(r.value())) != null) throw new AssertionError("read twice: " + key);
            }
        }
        Util.eq(got.size(), n, "records read within " + limit.toSeconds() + "s");
    }
}
