import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Security checks (issue `security`) with the Java 4.3 client, configured the stock way:
 * security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512, a PKCS12 truststore made at test
 * time (compat/security/gen-certs.sh). Brokers from lib.sh's start_security_brokers; users
 * admin (super user), alice and bob (no ACLs until a check grants some).
 *
 *   Security scram-produce-consume   2,000 records over SASL_SSL SCRAM-SHA-512 as admin
 *   Security acls                    Admin createAcls / describeAcls / deleteAcls round trip
 *   Security alter-scram             alterUserScramCredentials creates a user who then logs
 *                                    in; describeUserScramCredentials; a wrong password and a
 *                                    deleted credential give SaslAuthenticationException
 *   Security denied                  alice's producer: TopicAuthorizationException; her
 *                                    consumer: TopicAuthorizationException, then (topic ACL
 *                                    only) GroupAuthorizationException, then (both) the record
 */
public class Security {
    static final String SASL_SSL = System.getenv("SEC_SASL_SSL");
    static final String DIR = System.getenv("SEC_DIR");

    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "scram-produce-consume" -> produceConsume();
                case "acls" -> acls();
                case "alter-scram" -> alterScram();
                case "denied" -> denied();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static String[] sasl(String user, String password, String mechanism) {
        String jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user
                + "\" password=\"" + password + "\";";
        return new String[] {
            CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, SASL_SSL,
            CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL",
            SaslConfigs.SASL_MECHANISM, mechanism,
            SaslConfigs.SASL_JAAS_CONFIG, jaas,
            SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, DIR + "/truststore.p12",
            SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PKCS12",
            SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG, "changeit",
        };
    }

    static String[] as(String user) {
        return sasl(user, System.getenv("SEC_" + user.toUpperCase(Locale.ROOT) + "_PW"), "SCRAM-SHA-512");
    }

    static String[] plus(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static Admin admin(String... kv) {
        Properties p = new Properties();
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        for (int i = 0; i + 1 < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return Admin.create(p);
    }

    static void createTopic(String t) throws Exception {
        try (Admin a = admin(as("admin"))) {
            a.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    static void grant(AclBinding... b) throws Exception {
        try (Admin a = admin(as("admin"))) {
            a.createAcls(List.of(b)).all().get(30, TimeUnit.SECONDS);
        }
    }

    static AclBinding allow(ResourceType rt, String name, PatternType pt, String principal, AclOperation op) {
        return new AclBinding(new ResourcePattern(rt, name, pt),
                new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
    }

    static void produceConsume() throws Exception {
        String t = Util.topic("java-scram");
        createTopic(t);
        int n = 2000;
        try (KafkaProducer<byte[], byte[]> p = Util.producer(as("admin"))) {
            for (int i = 0; i < n; i++) p.send(new ProducerRecord<>(t, 0, Util.b("k" + i), Util.b("v" + i)));
            p.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer(as("admin"))) {
            TopicPartition tp = new TopicPartition(t, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 30_000;
            while (got.size() < n && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) got.add(r);
            }
        }
        Util.eq(got.size(), n, "records consumed over SASL_SSL");
        for (int i = 0; i < n; i++) Util.eq(Util.s(got.get(i).value()), "v" + i, "value of record " + i);
        System.out.println(n + " records over SASL_SSL SCRAM-SHA-512 with a PKCS12 truststore");
    }

    static void acls() throws Exception {
        String pfx = Util.topic("java-acl");
        List<AclBinding> bindings = List.of(
                allow(ResourceType.TOPIC, pfx + "-t", PatternType.LITERAL, "User:alice", AclOperation.READ),
                allow(ResourceType.TOPIC, pfx, PatternType.PREFIXED, "User:alice", AclOperation.WRITE),
                allow(ResourceType.GROUP, pfx + "-g", PatternType.LITERAL, "User:bob", AclOperation.READ),
                new AclBinding(new ResourcePattern(ResourceType.TRANSACTIONAL_ID, pfx + "-tx", PatternType.LITERAL),
                        new AccessControlEntry("User:bob", "*", AclOperation.WRITE, AclPermissionType.DENY)));
        try (Admin a = admin(as("admin"))) {
            a.createAcls(bindings).all().get(30, TimeUnit.SECONDS);
            Set<AclBinding> mine = new HashSet<>();
            for (AclBinding b : a.describeAcls(AclBindingFilter.ANY).values().get(30, TimeUnit.SECONDS)) {
                if (b.pattern().name().startsWith(pfx)) mine.add(b);
            }
            System.out.println("describeAcls: " + mine);
            Util.eq(mine, new HashSet<>(bindings), "describeAcls(ANY)");
            AclBindingFilter match = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, pfx + "-t", PatternType.MATCH),
                    AccessControlEntryFilter.ANY);
            Util.eq(new HashSet<>(a.describeAcls(match).values().get(30, TimeUnit.SECONDS)),
                    new HashSet<>(bindings.subList(0, 2)), "describeAcls(MATCH " + pfx + "-t)");
            List<AclBindingFilter> filters = new ArrayList<>();
            for (AclBinding b : bindings) filters.add(b.toFilter());
            Collection<AclBinding> deleted = a.deleteAcls(filters).all().get(30, TimeUnit.SECONDS);
            Util.eq(new HashSet<>(deleted), new HashSet<>(bindings), "deleteAcls");
            for (AclBinding b : a.describeAcls(AclBindingFilter.ANY).values().get(30, TimeUnit.SECONDS)) {
                Util.check(!b.pattern().name().startsWith(pfx), "still there after deleteAcls: " + b);
            }
        }
    }

    static void expectLoginFails(String user, String password) throws Exception {
        try (Admin a = admin(sasl(user, password, "SCRAM-SHA-512"))) {
            a.listTopics().names().get(30, TimeUnit.SECONDS);
            throw new AssertionError(user + " logged in with " + password);
        } catch (ExecutionException e) {
            System.out.println("saw (" + user + "): " + e.getCause());
            Util.check(e.getCause() instanceof SaslAuthenticationException,
                    "want SaslAuthenticationException, got " + e.getCause());
        }
    }

    static void alterScram() throws Exception {
        String user = "carol" + Util.topic("x").substring(2);
        try (Admin a = admin(as("admin"))) {
            a.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                            "carol-secret"),
                    new UserScramCredentialUpsertion(user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                            "carol-secret-256"))).all().get(30, TimeUnit.SECONDS);
            UserScramCredentialsDescription d = a.describeUserScramCredentials(List.of(user))
                    .description(user).get(30, TimeUnit.SECONDS);
            System.out.println("describeUserScramCredentials: " + d);
            Set<String> infos = new HashSet<>();
            for (ScramCredentialInfo i : d.credentialInfos()) infos.add(i.mechanism() + "/" + i.iterations());
            Util.eq(infos, Set.of("SCRAM_SHA_512/8192", "SCRAM_SHA_256/4096"), "credential infos of " + user);
            // admin, alice and bob were made by `runnel user add`: listed too.
            Set<String> all = a.describeUserScramCredentials().users().get(30, TimeUnit.SECONDS).stream()
                    .collect(java.util.stream.Collectors.toSet());
            Util.check(all.containsAll(Set.of("admin", "alice", "bob", user)), "describe all users: " + all);
        }
        // The new user logs in (SCRAM-SHA-512 and -256) and produces once granted WRITE.
        String t = Util.topic("java-carol");
        createTopic(t);
        grant(allow(ResourceType.TOPIC, t, PatternType.LITERAL, "User:" + user, AclOperation.WRITE));
        try (KafkaProducer<byte[], byte[]> p = Util.producer(sasl(user, "carol-secret", "SCRAM-SHA-512"))) {
            p.send(new ProducerRecord<>(t, 0, null, Util.b("from carol"))).get(30, TimeUnit.SECONDS);
        }
        try (Admin a = admin(sasl(user, "carol-secret-256", "SCRAM-SHA-256"))) {
            a.listTopics().names().get(30, TimeUnit.SECONDS);
        }
        expectLoginFails(user, "wrong");
        try (Admin a = admin(as("admin"))) {
            a.alterUserScramCredentials(List.of(new UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)))
                    .all().get(30, TimeUnit.SECONDS);
        }
        expectLoginFails(user, "carol-secret");
    }

    static void denied() throws Exception {
        String t = Util.topic("java-denied");
        String g = t + "-group";
        createTopic(t);
        try (KafkaProducer<byte[], byte[]> p = Util.producer(as("admin"))) {
            p.send(new ProducerRecord<>(t, 0, null, Util.b("secret"))).get(30, TimeUnit.SECONDS);
        }
        try (KafkaProducer<byte[], byte[]> p = Util.producer(plus(as("alice"), "max.block.ms", "15000"))) {
            p.send(new ProducerRecord<>(t, 0, null, Util.b("denied"))).get(30, TimeUnit.SECONDS);
            throw new AssertionError("alice produced without an ACL");
        } catch (ExecutionException e) {
            System.out.println("saw (producer): " + e.getCause());
            Util.check(e.getCause() instanceof TopicAuthorizationException, "want TopicAuthorizationException");
        } catch (TopicAuthorizationException e) {
            System.out.println("saw (producer): " + e);
        }
        // The Java consumer asks for the subscribed topic's metadata before it looks for the
        // coordinator: with no ACL at all it reports the topic first.
        String[] cc = plus(as("alice"), "group.id", g);
        expectConsumerError(cc, t, TopicAuthorizationException.class);
        grant(allow(ResourceType.TOPIC, t, PatternType.LITERAL, "User:alice", AclOperation.READ));
        expectConsumerError(cc, t, GroupAuthorizationException.class);
        grant(allow(ResourceType.GROUP, g, PatternType.LITERAL, "User:alice", AclOperation.READ));
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer(cc)) {
            c.subscribe(List.of(t));
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    Util.eq(Util.s(r.value()), "secret", "record");
                    return;
                }
            }
        }
        throw new AssertionError("no record for alice after both ACLs");
    }

    static void expectConsumerError(String[] cc, String t, Class<? extends Exception> want) {
        try (KafkaConsumer<byte[], byte[]> c = Util.consumer(cc)) {
            c.subscribe(List.of(t));
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                Util.check(c.poll(Duration.ofMillis(500)).isEmpty(), "alice consumed while denied");
            }
            throw new AssertionError("no " + want.getSimpleName() + " within 30 s");
        } catch (RuntimeException e) {
            System.out.println("saw (consumer): " + e);
            Util.check(want.isInstance(e), "want " + want.getSimpleName() + ", got " + e);
        }
    }
}
