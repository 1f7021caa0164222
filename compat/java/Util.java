import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Shared helpers for the compat Java programs: configs, names, assertions. */
final class Util {
    static final String BOOTSTRAP = System.getenv().getOrDefault("BOOTSTRAP", "127.0.0.1:9092");
    /** The broker runs with --node-id 0; a peer broker used during development may differ. */
    static final int NODE_ID = Integer.parseInt(System.getenv().getOrDefault("COMPAT_NODE_ID", "0"));
    /** Kafka's num.partitions, the broker default for auto-created topics and -1 partitions. */
    static final int DEFAULT_PARTITIONS = Integer.parseInt(System.getenv().getOrDefault("COMPAT_DEFAULT_PARTITIONS", "1"));
    /** Explicit record timestamps start an hour in the past: recent enough that retention
     *  (7 days) and time-based segment rolling leave them alone. */
    static final long BASE_TS = (System.currentTimeMillis() / 1000 - 3600) * 1000;

    private Util() {}

    static String topic(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    /** A producer with default settings (idempotent, acks=all) plus the given overrides. */
    static KafkaProducer<byte[], byte[]> producer(String... kv) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        for (int i = 0; i + 1 < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<byte[], byte[]> consumer(String... kv) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        for (int i = 0; i + 1 < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaConsumer<>(p);
    }

    static void createTopic(Admin a, String t, int partitions) throws Exception {
        a.createTopics(List.of(new NewTopic(t, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
    }

    /** Reads exactly n records from the assigned partitions (from the beginning) or fails. */
    static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, Collection<TopicPartition> tps, int n,
                                                         Duration limit) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + limit.toMillis();
            while (out.size() < n && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) out.add(r);
            }
            // One more short poll: nothing beyond n may show up.
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) out.add(r);
        }
        eq(out.size(), n, "records read from " + topic + " within " + limit.toSeconds() + "s");
        return out;
    }

    /** The broker's /metrics as series (name with labels) -> value. */
    static Map<String, Double> metrics(String addr) throws Exception {
        HttpClient h = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> resp = h.send(HttpRequest.newBuilder(URI.create("http://" + addr + "/metrics"))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        Util.eq(resp.statusCode(), 200, "GET /metrics");
        Map<String, Double> out = new HashMap<>();
        Pattern line = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*\\})?) (\\S+)$");
        for (String l : resp.body().split("\n")) {
            Matcher mm = line.matcher(l);
            if (mm.matches()) out.put(mm.group(1), Double.parseDouble(mm.group(2)));
        }
        return out;
    }

    static void check(boolean cond, String msg) {
        if (!cond) throw new AssertionError(msg);
    }

    static void eq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) throw new AssertionError(what + ": got " + got + ", want " + want);
    }

    static void waitUntil(BooleanSupplier f, Duration limit, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + limit.toMillis();
        while (System.currentTimeMillis() < deadline) {
            if (f.getAsBoolean()) return;
            Thread.sleep(200);
        }
        throw new AssertionError("timed out after " + limit.toSeconds() + "s waiting for " + what);
    }

    /** Child processes (group members in other JVMs / clients) killed before exit. */
    static final List<Process> CHILDREN = Collections.synchronizedList(new ArrayList<>());

    static Process spawn(ProcessBuilder pb) throws java.io.IOException {
        Process p = pb.start();
        CHILDREN.add(p);
        return p;
    }

    interface Body { void run() throws Exception; }

    /** Runs a check body: prints OK, or the failure, and exits with 0 or 1. */
    static void main(String name, Body body) {
        long t0 = System.currentTimeMillis();
        int rc = 0;
        try {
            body.run();
            System.out.printf("OK %s (%.1fs)%n", name, (System.currentTimeMillis() - t0) / 1000.0);
        } catch (AssertionError e) {
            System.out.println("ASSERTION FAILED in " + name + ": " + e.getMessage());
            rc = 1;
        } catch (Throwable e) {
            System.out.println("ERROR in " + name + ": " + e);
            e.printStackTrace(System.out);
            rc = 1;
        }
        synchronized (CHILDREN) { for (Process p : CHILDREN) p.destroyForcibly(); }
        System.out.flush();
        // Exit hard: a stuck client thread must not keep the JVM alive.
        Runtime.getRuntime().halt(rc);
    }
}
