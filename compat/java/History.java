import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * The history file of a cluster fault check (the Java side of compat/python/history.py):
 * what the clients saw, one JSON object a line, for the Rust checker compat/history
 * (format and invariants in compat/history/events.rs and checks.rs). Values are
 * "WRITER:SEQ", SEQ increasing in send order per writer. Thread-safe (producer callbacks
 * run on the I/O thread); times are wall-clock milliseconds. JSON is written by hand (no
 * Jackson on the class path): strings escaped per RFC 8259.
 *
 *   History h = new History(History.path("java-failover"));
 *   h.ack(p, o, v) / h.fail(p, v, err) / h.read(consumer, p, o, v) / h.commit(...) / ...
 *   History.readFinalLog(topic, partitions, h); h.close(); History.check(h.path);
 */
final class History implements AutoCloseable {
    final Path path;
    private final BufferedWriter out;

    History(Path path) throws IOException {
        this.path = path;
        this.out = Files.newBufferedWriter(path, StandardCharsets.UTF_8);
    }

    /** A new file in the check's log dir ($COMPAT_LOGDIR, else the temp dir). */
    static Path path(String name) throws IOException {
        String dir = System.getenv().getOrDefault("COMPAT_LOGDIR", System.getProperty("java.io.tmpdir"));
        Files.createDirectories(Path.of(dir));
        return Path.of(dir, "history-" + name + "-" + UUID.randomUUID().toString().substring(0, 8) + ".jsonl");
    }

    static long now() { return System.currentTimeMillis(); }

    static String str(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    private synchronized void line(String json) {
        try {
            out.write(json);
            out.write('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void ack(int p, long o, String v) {
        line("{\"op\":\"ack\",\"t\":" + now() + ",\"p\":" + p + ",\"o\":" + o + ",\"v\":" + str(v) + "}");
    }

    void fail(int p, String v, String err) {
        line("{\"op\":\"fail\",\"t\":" + now() + ",\"p\":" + p + ",\"v\":" + str(v) + ",\"e\":" + str(err) + "}");
    }

    void read(String consumer, int p, long o, String v) {
        line("{\"op\":\"read\",\"t\":" + now() + ",\"c\":" + str(consumer) + ",\"p\":" + p + ",\"o\":" + o
                + ",\"v\":" + str(v) + "}");
    }

    void log(int p, long o, String v) {
        line("{\"op\":\"log\",\"p\":" + p + ",\"o\":" + o + ",\"v\":" + str(v) + "}");
    }

    void logEnd(int p, long hw) {
        line("{\"op\":\"log_end\",\"p\":" + p + ",\"o\":" + hw + "}");
    }

    /** An offset commit sent at t0 and acknowledged now. */
    void commit(String g, int gen, String m, int p, long o, long t0) {
        line("{\"op\":\"commit\",\"t0\":" + t0 + ",\"t\":" + now() + ",\"g\":" + str(g) + ",\"gen\":" + gen
                + ",\"m\":" + str(m) + ",\"p\":" + p + ",\"o\":" + o + "}");
    }

    /** A committed offset (-1: none) read back by an OffsetFetch started at t0. */
    void committed(String g, int p, long o, long t0) {
        line("{\"op\":\"committed\",\"t0\":" + t0 + ",\"g\":" + str(g) + ",\"p\":" + p + ",\"o\":" + o + "}");
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    /**
     * Reads each partition from its beginning to its end offset (high watermark) with a plain
     * assigned consumer into h as log lines and a log_end line; returns {p: records read}.
     * What is not read within the limit is left out: the checker reports the missing offsets.
     */
    static Map<Integer, Long> readFinalLog(String topic, int partitions, History h, Duration limit) {
        Map<Integer, Long> read = new TreeMap<>();
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer()) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, limit);
            long deadline = System.currentTimeMillis() + limit.toMillis();
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    if (r.offset() >= end.get(new TopicPartition(topic, r.partition()))) continue;
                    h.log(r.partition(), r.offset(), Util.s(r.value()));
                    read.merge(r.partition(), 1L, Long::sum);
                }
            }
            for (TopicPartition tp : tps) h.logEnd(tp.partition(), end.get(tp));
        }
        return read;
    }

    /**
     * Runs the checker ($RUNNEL_HISTORY_CHECK) on the files, prints its report, and fails
     * (AssertionError) on a violation or a malformed history. Returns its summary line.
     */
    static String check(Path... paths) throws Exception {
        String bin = System.getenv().getOrDefault("RUNNEL_HISTORY_CHECK", "");
        Util.check(!bin.isEmpty() && Files.isExecutable(Path.of(bin)), "history checker not found: RUNNEL_HISTORY_CHECK='"
                + bin + "' (build it with: cargo build --release --example history_check)");
        List<String> cmd = new ArrayList<>(List.of(bin));
        for (Path p : paths) cmd.add(p.toString());
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        Util.check(proc.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "history checker still running after 300 s");
        System.out.print(out);
        List<String> lines = out.lines().toList();
        int rc = proc.exitValue();
        Util.check(rc == 0, "history check failed (exit " + rc + ") on " + Arrays.toString(paths) + ": "
                + String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size())));
        return lines.stream().filter(l -> l.startsWith("history:")).findFirst().orElse("");
    }
}
