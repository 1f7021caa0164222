import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Java kafka-clients 4.3.0 Admin calls that tools and web UIs make, on a single broker.
 *
 *   AdminApis log-dirs            describeLogDirs (sizes after producing), describeReplicaLogDirs,
 *                                 alterReplicaLogDirs to the broker's only log dir
 *   AdminApis describe-producers  the idempotent producer's id, epoch and last sequence
 *   AdminApis elect-leaders       electLeaders: ELECTION_NOT_NEEDED, unknown partitions
 *   AdminApis reassignments       alter/listPartitionReassignments: to [this node] succeeds,
 *                                 to another node fails, cancel with none in progress fails
 *   AdminApis describe-topics     describeTopics through DescribeTopicPartitions (paged, one
 *                                 partition per response), with authorized operations; and
 *                                 describeCluster / describeConsumerGroups with
 *                                 includeAuthorizedOperations
 */
public class AdminApis {
    public static void main(String[] args) {
        String cmd = args[0];
        Util.main(cmd, () -> {
            switch (cmd) {
                case "log-dirs" -> logDirs();
                case "describe-producers" -> describeProducers();
                case "elect-leaders" -> electLeaders();
                case "reassignments" -> reassignments();
                case "describe-topics" -> describeTopics();
                default -> throw new IllegalArgumentException(cmd);
            }
        });
    }

    static <T> Throwable failure(org.apache.kafka.common.KafkaFuture<T> f) throws Exception {
        try {
            f.get(60, SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    static void produce(String t, int partition, int n, String... kv) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = Util.producer(kv)) {
            for (int i = 0; i < n; i++) {
                p.send(new ProducerRecord<>(t, partition, Util.b("k" + i), Util.b("value-" + i)));
            }
            p.flush();
        }
    }

    static void logDirs() throws Exception {
        String t = Util.topic("java-logdirs");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 2);
            produce(t, 1, 500);
            Map<Integer, Map<String, LogDirDescription>> all =
                    a.describeLogDirs(List.of(Util.NODE_ID)).allDescriptions().get(60, SECONDS);
            Map<String, LogDirDescription> dirs = all.get(Util.NODE_ID);
            Util.check(dirs != null, "no log dirs for node " + Util.NODE_ID + ": " + all);
            Util.eq(dirs.size(), 1, "log dir count");
            String dir = dirs.keySet().iterator().next();
            LogDirDescription d = dirs.get(dir);
            Util.check(d.error() == null, "log dir error " + d.error());
            Util.check(d.totalBytes().isPresent() && d.totalBytes().getAsLong() > 0, "total bytes " + d.totalBytes());
            Util.check(d.usableBytes().isPresent() && d.usableBytes().getAsLong() >= 0, "usable bytes " + d.usableBytes());
            ReplicaInfo p0 = d.replicaInfos().get(new TopicPartition(t, 0));
            ReplicaInfo p1 = d.replicaInfos().get(new TopicPartition(t, 1));
            Util.check(p0 != null && p1 != null, "partitions missing from " + d.replicaInfos().keySet());
            Util.eq(p0.size(), 0L, "size of empty partition 0");
            Util.check(p1.size() > 500 * 10, "size of partition 1 after 500 records: " + p1.size());
            Util.eq(p1.offsetLag(), 0L, "offset lag");
            Util.check(!p1.isFuture(), "future replica");
            System.out.println("log dir " + dir + ": " + t + "-1 is " + p1.size() + " bytes, volume "
                    + d.usableBytes().getAsLong() + "/" + d.totalBytes().getAsLong());

            TopicPartitionReplica r1 = new TopicPartitionReplica(t, 1, Util.NODE_ID);
            DescribeReplicaLogDirsResult.ReplicaLogDirInfo info =
                    a.describeReplicaLogDirs(List.of(r1)).all().get(60, SECONDS).get(r1);
            Util.eq(info.getCurrentReplicaLogDir(), dir, "current replica log dir");
            Util.eq(info.getFutureReplicaLogDir(), null, "future replica log dir");
            a.alterReplicaLogDirs(Map.of(r1, dir)).all().get(60, SECONDS);
            Throwable e = failure(a.alterReplicaLogDirs(Map.of(r1, "/no/such/log/dir")).all());
            Util.check(e instanceof org.apache.kafka.common.errors.LogDirNotFoundException,
                    "alter to an unknown dir: want LogDirNotFoundException, got " + e);
        }
    }

    static void describeProducers() throws Exception {
        String t = Util.topic("java-producers");
        int n = 300;
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 1);
            produce(t, 0, n); // default producer: idempotent
            TopicPartition tp = new TopicPartition(t, 0);
            DescribeProducersResult.PartitionProducerState st =
                    a.describeProducers(List.of(tp)).partitionResult(tp).get(60, SECONDS);
            List<ProducerState> ps = st.activeProducers();
            Util.eq(ps.size(), 1, "active producers");
            ProducerState p = ps.get(0);
            System.out.println("producer " + p);
            Util.check(p.producerId() >= 0, "producer id " + p.producerId());
            Util.check(p.producerEpoch() >= 0, "producer epoch " + p.producerEpoch());
            Util.eq(p.lastSequence(), n - 1, "last sequence");
            Util.check(p.lastTimestamp() > 0, "last timestamp " + p.lastTimestamp());
            Util.check(p.coordinatorEpoch().isEmpty(), "coordinator epoch " + p.coordinatorEpoch());
            Util.check(p.currentTransactionStartOffset().isEmpty(), "txn start " + p.currentTransactionStartOffset());
            // (A partition that does not exist is not asked here: the Admin client first looks
            // up its leader and retries UNKNOWN_TOPIC_OR_PARTITION until its timeout, as it does
            // against Kafka; protocol-tests/admin.rs covers the broker's answer.)
        }
    }

    static void electLeaders() throws Exception {
        String t = Util.topic("java-elect");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 2);
            Set<TopicPartition> tps = Set.of(new TopicPartition(t, 0), new TopicPartition(t, 1));
            for (ElectionType type : ElectionType.values()) {
                Map<TopicPartition, Optional<Throwable>> r =
                        a.electLeaders(type, tps).partitions().get(60, SECONDS);
                Util.eq(r.keySet(), tps, type + ": partitions answered");
                for (Map.Entry<TopicPartition, Optional<Throwable>> e : r.entrySet()) {
                    Util.check(e.getValue().isPresent() && e.getValue().get() instanceof ElectionNotNeededException,
                            type + " " + e.getKey() + ": want ElectionNotNeededException, got " + e.getValue());
                }
            }
            TopicPartition missing = new TopicPartition(t, 9);
            Map<TopicPartition, Optional<Throwable>> r =
                    a.electLeaders(ElectionType.PREFERRED, Set.of(missing)).partitions().get(60, SECONDS);
            Util.check(r.get(missing).isPresent() && r.get(missing).get() instanceof UnknownTopicOrPartitionException,
                    "unknown partition: " + r);
            // Every partition: the ones that need no election are left out.
            Map<TopicPartition, Optional<Throwable>> all =
                    a.electLeaders(ElectionType.PREFERRED, null).partitions().get(60, SECONDS);
            Util.check(Collections.disjoint(all.keySet(), tps), "all-partitions election lists " + all);
        }
    }

    static void reassignments() throws Exception {
        String t = Util.topic("java-reassign");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 1);
            TopicPartition tp = new TopicPartition(t, 0);
            a.alterPartitionReassignments(Map.of(tp,
                    Optional.of(new NewPartitionReassignment(List.of(Util.NODE_ID))))).all().get(60, SECONDS);
            Throwable e = failure(a.alterPartitionReassignments(Map.of(tp,
                    Optional.of(new NewPartitionReassignment(List.of(Util.NODE_ID + 1))))).all());
            Util.check(e instanceof InvalidReplicaAssignmentException,
                    "reassign to another node: want InvalidReplicaAssignmentException, got " + e);
            e = failure(a.alterPartitionReassignments(Map.of(tp, Optional.empty())).all());
            Util.check(e instanceof NoReassignmentInProgressException,
                    "cancel with none in progress: want NoReassignmentInProgressException, got " + e);
            Map<TopicPartition, PartitionReassignment> ongoing =
                    a.listPartitionReassignments().reassignments().get(60, SECONDS);
            Util.eq(ongoing, Map.of(), "ongoing reassignments");
            ongoing = a.listPartitionReassignments(Set.of(tp)).reassignments().get(60, SECONDS);
            Util.eq(ongoing, Map.of(), "ongoing reassignments of " + tp);
            TopicPartitionInfo p = a.describeTopics(List.of(t)).allTopicNames().get(60, SECONDS)
                    .get(t).partitions().get(0);
            Util.eq(p.leader().id(), Util.NODE_ID, "leader after reassignment");
            Util.eq(p.replicas().stream().map(n -> n.id()).collect(Collectors.toList()), List.of(Util.NODE_ID), "replicas");
        }
    }

    static void describeTopics() throws Exception {
        String t = Util.topic("java-dtp");
        try (Admin a = Util.admin()) {
            Util.createTopic(a, t, 3);
            // One partition per DescribeTopicPartitions response: the client follows the cursor.
            TopicDescription d = a.describeTopics(List.of(t), new DescribeTopicsOptions()
                            .partitionSizeLimitPerResponse(1).includeAuthorizedOperations(true))
                    .allTopicNames().get(60, SECONDS).get(t);
            Util.eq(d.partitions().stream().map(TopicPartitionInfo::partition).collect(Collectors.toList()),
                    List.of(0, 1, 2), "partitions gathered over three pages");
            for (TopicPartitionInfo p : d.partitions()) {
                Util.eq(p.leader().id(), Util.NODE_ID, "leader of " + p.partition());
                Util.eq(p.isr().size(), 1, "isr of " + p.partition());
                Util.check(p.elr() != null && p.elr().isEmpty(), "elr of " + p.partition() + ": " + p.elr());
                Util.check(p.lastKnownElr() != null && p.lastKnownElr().isEmpty(),
                        "last known elr of " + p.partition() + ": " + p.lastKnownElr());
            }
            Set<AclOperation> topicOps = EnumSet.of(AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE,
                    AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
                    AclOperation.ALTER_CONFIGS);
            Util.eq(d.authorizedOperations(), topicOps, "topic authorized operations");
            Throwable e = failure(a.describeTopics(List.of(Util.topic("java-dtp-missing"))).allTopicNames());
            Util.check(e instanceof UnknownTopicOrPartitionException,
                    "describeTopics of a missing topic: want UnknownTopicOrPartitionException, got " + e);

            Set<AclOperation> clusterOps = a.describeCluster(new DescribeClusterOptions()
                    .includeAuthorizedOperations(true)).authorizedOperations().get(60, SECONDS);
            Util.eq(clusterOps, EnumSet.of(AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE,
                    AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
                    AclOperation.IDEMPOTENT_WRITE), "cluster authorized operations");

            // A group (offsets only) described with its operations (Kafka 4's GROUP set).
            String g = Util.topic("java-ops-group");
            a.alterConsumerGroupOffsets(g, Map.of(new TopicPartition(t, 0),
                    new org.apache.kafka.clients.consumer.OffsetAndMetadata(0))).all().get(60, SECONDS);
            ConsumerGroupDescription gd = a.describeConsumerGroups(List.of(g),
                    new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true))
                    .describedGroups().get(g).get(60, SECONDS);
            Util.eq(gd.authorizedOperations(), EnumSet.of(AclOperation.READ, AclOperation.DELETE,
                    AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS),
                    "group authorized operations");
        }
    }
}
