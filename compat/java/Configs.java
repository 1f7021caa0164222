import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Java kafka-clients 4.3.0 config checks (Admin incrementalAlterConfigs / describeConfigs),
 * compared value by value and source by source.
 *
 *   Configs alter-topic       SET / DELETE / APPEND / SUBTRACT on a live topic, validateOnly,
 *                             unknown names and bad values refused; max.message.bytes acts on
 *                             the next send without a restart
 *   Configs all-topic-configs createTopics with every documented Kafka topic config; each is
 *                             described back as DYNAMIC_TOPIC_CONFIG; an unknown name is refused
 *   Configs broker-configs    cluster default and per-broker log.retention.ms reach a topic
 *                             without an override (DYNAMIC_DEFAULT_BROKER / DYNAMIC_BROKER)
 *   Configs group-logger      GROUP configs and BROKER_LOGGER levels: describe and alter
 *   Configs recompress        topics with compression.type gzip / zstd / uncompressed get
 *                             records from an lz4 (and an uncompressed) producer back intact:
 *                             keys, values, timestamps, duplicate header keys, offsets
 */
public class Configs {
    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "alter-topic" -> alterTopic();
                case "all-topic-configs" -> allTopicConfigs();
                case "broker-configs" -> brokerConfigs();
                case "group-logger" -> groupLogger();
                case "recompress" -> recompress();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static void alter(Admin a, ConfigResource r, boolean validateOnly, AlterConfigOp... ops) throws Exception {
        a.incrementalAlterConfigs(Map.of(r, List.of(ops)), new AlterConfigsOptions().validateOnly(validateOnly))
                .all().get(60, SECONDS);
    }

    static AlterConfigOp op(String k, String v, AlterConfigOp.OpType t) {
        return new AlterConfigOp(new ConfigEntry(k, v), t);
    }

    static ConfigEntry entry(Admin a, ConfigResource r, String k) throws Exception {
        Config c = a.describeConfigs(List.of(r), new DescribeConfigsOptions().includeSynonyms(true))
                .all().get(60, SECONDS).get(r);
        ConfigEntry e = c.get(k);
        Util.check(e != null, r + ": " + k + " not described");
        return e;
    }

    static void expect(Admin a, ConfigResource r, String k, String value, ConfigEntry.ConfigSource source) throws Exception {
        ConfigEntry e = entry(a, r, k);
        Util.eq(e.value(), value, r.name() + " " + k);
        Util.eq(e.source(), source, r.name() + " " + k + " source");
    }

    static void refused(Admin a, ConfigResource r, Class<?> want, AlterConfigOp... ops) throws Exception {
        try {
            alter(a, r, false, ops);
            throw new AssertionError("accepted: " + Arrays.toString(ops));
        } catch (ExecutionException e) {
            Util.check(want.isInstance(e.getCause()), "want " + want.getSimpleName() + ", got " + e.getCause());
            System.out.println("refused as expected: " + e.getCause().getMessage());
        }
    }

    static void alterTopic() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-alter");
            Util.createTopic(a, t, 1);
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, t);
            expect(a, r, "retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            expect(a, r, "flush.ms", "1000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            alter(a, r, false, op("retention.ms", "3600000", AlterConfigOp.OpType.SET),
                    op("cleanup.policy", "compact", AlterConfigOp.OpType.APPEND));
            expect(a, r, "retention.ms", "3600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expect(a, r, "cleanup.policy", "delete,compact", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            alter(a, r, false, op("cleanup.policy", "compact", AlterConfigOp.OpType.SUBTRACT));
            expect(a, r, "cleanup.policy", "delete", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            alter(a, r, false, op("cleanup.policy", null, AlterConfigOp.OpType.DELETE),
                    op("retention.ms", null, AlterConfigOp.OpType.DELETE));
            expect(a, r, "retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            // Only the overridden configs are non-default (what kafka-topics --describe lists).
            alter(a, r, false, op("segment.ms", "3600000", AlterConfigOp.OpType.SET));
            Config c = a.describeConfigs(List.of(r)).all().get(60, SECONDS).get(r);
            List<String> overrides = c.entries().stream().filter(e -> !e.isDefault()).map(ConfigEntry::name)
                    .sorted().collect(Collectors.toList());
            Util.eq(overrides, List.of("segment.ms"), "non-default configs");
            Util.check(c.entries().size() >= 33, "every topic config described: " + c.entries().size());
            // validateOnly changes nothing.
            alter(a, r, true, op("retention.ms", "1000", AlterConfigOp.OpType.SET));
            expect(a, r, "retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            refused(a, r, org.apache.kafka.common.errors.InvalidConfigurationException.class,
                    op("retention.mss", "1", AlterConfigOp.OpType.SET));
            refused(a, r, org.apache.kafka.common.errors.InvalidConfigurationException.class,
                    op("retention.ms", "soon", AlterConfigOp.OpType.SET));
            refused(a, r, org.apache.kafka.common.errors.InvalidConfigurationException.class,
                    op("retention.ms", "1", AlterConfigOp.OpType.APPEND));
            refused(a, new ConfigResource(ConfigResource.Type.TOPIC, Util.topic("java-alter-missing")),
                    org.apache.kafka.common.errors.UnknownTopicOrPartitionException.class,
                    op("retention.ms", "1", AlterConfigOp.OpType.SET));
            // max.message.bytes takes effect on the running partition.
            try (KafkaProducer<byte[], byte[]> p = Util.producer("linger.ms", "0")) {
                byte[] big = new byte[4000];
                p.send(new ProducerRecord<>(t, 0, Util.b("k"), big)).get(60, SECONDS);
                alter(a, r, false, op("max.message.bytes", "1000", AlterConfigOp.OpType.SET));
                try {
                    p.send(new ProducerRecord<>(t, 0, Util.b("k"), big)).get(60, SECONDS);
                    throw new AssertionError("a 4 KB record passed max.message.bytes=1000");
                } catch (ExecutionException e) {
                    Util.check(e.getCause() instanceof org.apache.kafka.common.errors.RecordTooLargeException,
                            "want RecordTooLargeException, got " + e.getCause());
                }
                alter(a, r, false, op("max.message.bytes", null, AlterConfigOp.OpType.DELETE));
                p.send(new ProducerRecord<>(t, 0, Util.b("k"), big)).get(60, SECONDS);
            }
        }
    }

    /** Every topic config of Kafka 4.3 with a non-default value Runnel accepts. */
    static final Map<String, String> ALL = new TreeMap<>(Map.ofEntries(
            Map.entry("cleanup.policy", "delete"), Map.entry("compression.gzip.level", "5"),
            Map.entry("compression.lz4.level", "10"), Map.entry("compression.type", "producer"),
            Map.entry("compression.zstd.level", "7"), Map.entry("delete.retention.ms", "1000"),
            Map.entry("file.delete.delay.ms", "1000"), Map.entry("flush.messages", "100000"),
            Map.entry("flush.ms", "500"), Map.entry("follower.replication.throttled.replicas", "0:0"),
            Map.entry("index.interval.bytes", "8192"), Map.entry("leader.replication.throttled.replicas", "*"),
            Map.entry("local.retention.bytes", "-2"), Map.entry("local.retention.ms", "-2"),
            Map.entry("max.compaction.lag.ms", "100000"), Map.entry("max.message.bytes", "2000000"),
            Map.entry("message.timestamp.after.max.ms", "7200000"), Map.entry("message.timestamp.before.max.ms", "86400000000"),
            Map.entry("message.timestamp.type", "CreateTime"), Map.entry("min.cleanable.dirty.ratio", "0.3"),
            Map.entry("min.compaction.lag.ms", "10"), Map.entry("min.insync.replicas", "1"),
            Map.entry("preallocate", "true"), Map.entry("remote.log.copy.disable", "false"),
            Map.entry("remote.log.delete.on.disable", "false"), Map.entry("remote.storage.enable", "false"),
            Map.entry("retention.bytes", "123456789"), Map.entry("retention.ms", "3600000"),
            Map.entry("segment.bytes", "2097152"), Map.entry("segment.index.bytes", "4096"),
            Map.entry("segment.jitter.ms", "10"), Map.entry("segment.ms", "600000"),
            Map.entry("unclean.leader.election.enable", "false")));

    static void allTopicConfigs() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-allcfg");
            a.createTopics(List.of(new NewTopic(t, 1, (short) 1).configs(ALL))).all().get(60, SECONDS);
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, t);
            Config c = a.describeConfigs(List.of(r)).all().get(60, SECONDS).get(r);
            for (Map.Entry<String, String> e : ALL.entrySet()) {
                ConfigEntry got = c.get(e.getKey());
                Util.check(got != null, e.getKey() + " not described");
                Util.eq(got.value(), e.getValue(), e.getKey());
                Util.eq(got.source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, e.getKey() + " source");
            }
            Util.eq(c.entries().size(), ALL.size(), "described topic configs");
            try {
                a.createTopics(List.of(new NewTopic(Util.topic("java-allcfg-bad"), 1, (short) 1)
                        .configs(Map.of("message.format.version", "3.0")))).all().get(60, SECONDS);
                throw new AssertionError("an unknown topic config was accepted");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof org.apache.kafka.common.errors.InvalidConfigurationException,
                        "want InvalidConfigurationException, got " + e.getCause());
            }
        }
    }

    static void brokerConfigs() throws Exception {
        try (Admin a = Util.admin()) {
            String t = Util.topic("java-brokercfg");
            Util.createTopic(a, t, 1);
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, t);
            ConfigResource def = new ConfigResource(ConfigResource.Type.BROKER, "");
            ConfigResource node = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(Util.NODE_ID));
            try {
                alter(a, def, false, op("log.retention.ms", "172800000", AlterConfigOp.OpType.SET));
                expect(a, topic, "retention.ms", "172800000", ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
                expect(a, node, "log.retention.ms", "172800000", ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
                alter(a, node, false, op("log.retention.ms", "259200000", AlterConfigOp.OpType.SET));
                expect(a, topic, "retention.ms", "259200000", ConfigEntry.ConfigSource.DYNAMIC_BROKER_CONFIG);
                ConfigEntry e = entry(a, node, "log.retention.ms");
                Util.eq(e.synonyms().stream().map(s -> s.source().toString()).collect(Collectors.toList()),
                        List.of("DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG", "DEFAULT_CONFIG"),
                        "log.retention.ms synonyms");
                Util.check(entry(a, node, "log.dirs").isReadOnly(), "log.dirs read-only");
                refused(a, node, org.apache.kafka.common.errors.InvalidRequestException.class,
                        op("log.dirs", "/tmp/x", AlterConfigOp.OpType.SET));
            } finally {
                alter(a, node, false, op("log.retention.ms", null, AlterConfigOp.OpType.DELETE));
                alter(a, def, false, op("log.retention.ms", null, AlterConfigOp.OpType.DELETE));
            }
            expect(a, topic, "retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
        }
    }

    static void groupLogger() throws Exception {
        try (Admin a = Util.admin()) {
            ConfigResource g = new ConfigResource(ConfigResource.Type.GROUP, "java-cfg-group");
            expect(a, g, "consumer.session.timeout.ms", "45000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            alter(a, g, false, op("consumer.session.timeout.ms", "50000", AlterConfigOp.OpType.SET));
            expect(a, g, "consumer.session.timeout.ms", "50000", ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG);
            ConfigResource l = new ConfigResource(ConfigResource.Type.BROKER_LOGGER, Integer.toString(Util.NODE_ID));
            Config levels = a.describeConfigs(List.of(l)).all().get(60, SECONDS).get(l);
            Util.check(levels.get("root") != null, "root logger described");
            alter(a, l, false, op("runnel::group", "DEBUG", AlterConfigOp.OpType.SET));
            expect(a, l, "runnel::group", "DEBUG", ConfigEntry.ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG);
            alter(a, l, false, op("runnel::group", null, AlterConfigOp.OpType.DELETE));
            refused(a, l, org.apache.kafka.common.errors.InvalidConfigurationException.class,
                    op("runnel::group", "LOUD", AlterConfigOp.OpType.SET));
        }
    }

    static void recompress() throws Exception {
        try (Admin a = Util.admin()) {
            for (String codec : List.of("gzip", "zstd", "uncompressed", "snappy")) {
                String t = Util.topic("java-recompress-" + codec);
                a.createTopics(List.of(new NewTopic(t, 1, (short) 1).configs(Map.of("compression.type", codec))))
                        .all().get(60, SECONDS);
                int n = 500;
                for (String producerCodec : List.of("lz4", "none")) {
                    try (KafkaProducer<byte[], byte[]> p = Util.producer("compression.type", producerCodec, "linger.ms", "20")) {
                        for (int i = 0; i < n; i++) {
                            p.send(new ProducerRecord<>(t, 0, Util.BASE_TS + i, Util.b("k" + i),
                                    Util.b("value-" + i + "-" + "y".repeat(i % 40)), Core.headers(i)));
                        }
                        p.flush();
                    }
                }
                var got = Util.readAll(t, List.of(new org.apache.kafka.common.TopicPartition(t, 0)), 2 * n,
                        java.time.Duration.ofSeconds(60));
                for (int j = 0; j < 2 * n; j++) {
                    var r = got.get(j);
                    int i = j % n;
                    Util.eq(r.offset(), (long) j, codec + " offset");
                    Util.eq(Util.s(r.key()), "k" + i, codec + " key at " + j);
                    Util.eq(Util.s(r.value()), "value-" + i + "-" + "y".repeat(i % 40), codec + " value at " + j);
                    Util.eq(r.timestamp(), Util.BASE_TS + i, codec + " timestamp at " + j);
                    Util.eq(Arrays.asList(r.headers().toArray()), Core.headers(i), codec + " headers at " + j);
                }
                System.out.println(codec + ": " + 2 * n + " records from lz4 and uncompressed producers read back intact");
            }
        }
    }
}
