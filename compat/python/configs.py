"""Config admin calls from Python clients, checked value by value.

  configs.py ck-alter   confluent-kafka: incremental_alter_configs SET / APPEND / SUBTRACT /
                        DELETE on a topic, validate_only, INVALID_CONFIG for unknown names,
                        describe_configs values and sources, a topic created with every
                        documented topic config, per-broker log.retention.ms reaching a topic
  configs.py kp-alter   kafka-python: legacy AlterConfigs (replace) and IncrementalAlterConfigs,
                        describe_configs with synonyms, GROUP and BROKER_LOGGER resources
"""
import sys

from common import BOOTSTRAP, NODE_ID, check, eq, main, topic_name

ALL = {
    "cleanup.policy": "delete", "compression.gzip.level": "5", "compression.lz4.level": "10",
    "compression.type": "producer", "compression.zstd.level": "7", "delete.retention.ms": "1000",
    "file.delete.delay.ms": "1000", "flush.messages": "100000", "flush.ms": "500",
    "follower.replication.throttled.replicas": "0:0", "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*", "local.retention.bytes": "-2",
    "local.retention.ms": "-2", "max.compaction.lag.ms": "100000", "max.message.bytes": "2000000",
    "message.timestamp.after.max.ms": "7200000", "message.timestamp.before.max.ms": "86400000000",
    "message.timestamp.type": "CreateTime", "min.cleanable.dirty.ratio": "0.3",
    "min.compaction.lag.ms": "10", "min.insync.replicas": "1", "preallocate": "true",
    "remote.log.copy.disable": "false", "remote.log.delete.on.disable": "false",
    "remote.storage.enable": "false", "retention.bytes": "123456789", "retention.ms": "3600000",
    "segment.bytes": "2097152", "segment.index.bytes": "4096", "segment.jitter.ms": "10",
    "segment.ms": "600000", "unclean.leader.election.enable": "false",
}


def t_ck_alter():
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource, NewTopic, ResourceType)
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    t = topic_name("ck-cfg")
    for f in a.create_topics([NewTopic(t, 1, 1)], request_timeout=30).values():
        f.result()

    def alter(entries, res=None, validate_only=False):
        # (A ConfigResource without configs is falsy: no `res or ...` here.)
        r = res if res is not None else ConfigResource(ResourceType.TOPIC, t)
        r = ConfigResource(r.restype, r.name, incremental_configs=[
            ConfigEntry(k, v, incremental_operation=op) for k, v, op in entries])
        for f in a.incremental_alter_configs([r], validate_only=validate_only, request_timeout=30).values():
            f.result()

    def describe(kind=ResourceType.TOPIC, name=None):
        r = ConfigResource(kind, name or t)
        return list(a.describe_configs([r], request_timeout=30).values())[0].result()

    d = describe()
    eq(d["retention.ms"].value, "604800000", "default retention.ms")
    eq(d["retention.ms"].source, ConfigSource.DEFAULT_CONFIG.value, "default retention.ms source")
    eq(d["flush.ms"].source, ConfigSource.DEFAULT_CONFIG.value, "flush.ms is a default, not an override")
    check(len(d) >= 33, f"every topic config described: {len(d)}")
    alter([("retention.ms", "3600000", AlterConfigOpType.SET),
           ("cleanup.policy", "compact", AlterConfigOpType.APPEND)])
    d = describe()
    eq((d["retention.ms"].value, d["retention.ms"].source), ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value), "retention.ms")
    eq(d["cleanup.policy"].value, "delete,compact", "cleanup.policy after APPEND")
    alter([("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)])
    eq(describe()["cleanup.policy"].value, "compact", "cleanup.policy after SUBTRACT")
    alter([("cleanup.policy", None, AlterConfigOpType.DELETE), ("retention.ms", None, AlterConfigOpType.DELETE)])
    d = describe()
    eq((d["cleanup.policy"].value, d["cleanup.policy"].source), ("delete", ConfigSource.DEFAULT_CONFIG.value), "reset cleanup.policy")
    alter([("retention.ms", "1000", AlterConfigOpType.SET)], validate_only=True)
    eq(describe()["retention.ms"].value, "604800000", "validate_only changed nothing")
    try:
        alter([("retention.mss", "1", AlterConfigOpType.SET)])
        raise AssertionError("unknown config accepted")
    except KafkaException as e:
        eq(e.args[0].name(), "INVALID_CONFIG", "unknown config name")
    # This broker's dynamic log.retention.ms reaches a topic without its own override
    # (librdkafka refuses the empty name of the cluster-wide default resource).
    broker = ConfigResource(ResourceType.BROKER, str(NODE_ID))
    alter([("log.retention.ms", "172800000", AlterConfigOpType.SET)], res=broker)
    try:
        d = describe()
        eq((d["retention.ms"].value, d["retention.ms"].source),
           ("172800000", ConfigSource.DYNAMIC_BROKER_CONFIG.value), "retention.ms from the broker setting")
        b = describe(ResourceType.BROKER, str(NODE_ID))
        eq((b["log.retention.ms"].value, b["log.retention.ms"].source),
           ("172800000", ConfigSource.DYNAMIC_BROKER_CONFIG.value), "broker log.retention.ms")
        check(b["log.dirs"].is_read_only, "log.dirs is read-only")
    finally:
        alter([("log.retention.ms", None, AlterConfigOpType.DELETE)], res=broker)
    # Every documented topic config at creation.
    t2 = topic_name("ck-allcfg")
    for f in a.create_topics([NewTopic(t2, 1, 1, config=ALL)], request_timeout=30).values():
        f.result()
    d = describe(name=t2)
    for k, v in ALL.items():
        eq((d[k].value, d[k].source), (v, ConfigSource.DYNAMIC_TOPIC_CONFIG.value), k)
    print(f"{len(ALL)} topic configs set at creation and described back")


def t_kp_alter():
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.admin._configs import AlterConfigOp
    a = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    from kafka.admin import NewTopic
    t = topic_name("kp-cfg")
    a.create_topics([NewTopic(t, 1, 1)], timeout_ms=30000)

    def describe(kind=ConfigResourceType.TOPIC, name=None):
        r = a.describe_configs([ConfigResource(kind, name or t)], include_synonyms=True, config_filter="all")
        return r[kind.name.lower()][name or t]

    # Legacy AlterConfigs: the whole set is replaced.
    res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": "3600000", "segment.ms": "600000"})],
                          incremental=False)
    eq(res["topic"][t], "OK", "legacy alter_configs")
    d = describe()
    eq((d["retention.ms"]["value"], d["retention.ms"]["config_source"]), ("3600000", "DYNAMIC_TOPIC_CONFIG"), "retention.ms")
    eq(d["retention.ms"]["synonyms"][0]["source"], "DYNAMIC_TOPIC_CONFIG", "first synonym")
    eq(d["retention.ms"]["synonyms"][-1]["name"], "log.retention.ms", "broker synonym")
    res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, {"segment.ms": "700000"})],
                          incremental=False, raise_on_unknown=False)
    eq(res["topic"][t], "OK", "legacy alter_configs (2)")
    # kafka-python fills in the other modified keys before a legacy call, so retention.ms stays.
    eq(describe()["segment.ms"]["value"], "700000", "segment.ms")
    # Incremental.
    res = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t,
                                          {"cleanup.policy": (AlterConfigOp.APPEND, "compact"),
                                           "retention.ms": (AlterConfigOp.DELETE, None)})], incremental=True)
    eq(res["topic"][t], "OK", "incremental alter_configs")
    d = describe()
    eq(d["cleanup.policy"]["value"], "delete,compact", "cleanup.policy")
    eq((d["retention.ms"]["value"], d["retention.ms"]["config_source"]), ("604800000", "DEFAULT_CONFIG"), "retention.ms reset")
    modified = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])["topic"][t]
    eq(sorted(modified), ["cleanup.policy", "segment.ms"], "modified configs only")
    # GROUP and BROKER_LOGGER.
    g = describe(ConfigResourceType.GROUP, "kp-cfg-group")
    eq((g["consumer.session.timeout.ms"]["value"], g["consumer.session.timeout.ms"]["config_source"]),
       ("45000", "DEFAULT_CONFIG"), "group default")
    res = a.alter_configs([ConfigResource(ConfigResourceType.GROUP, "kp-cfg-group", {"consumer.heartbeat.interval.ms": "6000"})],
                          incremental=True, raise_on_unknown=False)
    eq(res["group"]["kp-cfg-group"], "OK", "group alter")
    eq(describe(ConfigResourceType.GROUP, "kp-cfg-group")["consumer.heartbeat.interval.ms"]["config_source"],
       "DYNAMIC_GROUP_CONFIG", "group override")
    loggers = describe(ConfigResourceType.BROKER_LOGGER, str(NODE_ID))
    check("root" in loggers, f"root logger listed: {sorted(loggers)}")
    res = a.alter_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, str(NODE_ID), {"runnel::http": "WARN"})],
                          incremental=True, raise_on_unknown=False)
    eq(res["broker_logger"][str(NODE_ID)], "OK", "logger alter")
    eq(describe(ConfigResourceType.BROKER_LOGGER, str(NODE_ID))["runnel::http"]["value"], "WARN", "logger level")
    a.alter_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, str(NODE_ID), {"runnel::http": (AlterConfigOp.DELETE, None)})],
                    incremental=True, raise_on_unknown=False)
    a.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    main({"ck-alter": t_ck_alter, "kp-alter": t_kp_alter}[cmd])
