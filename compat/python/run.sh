#!/usr/bin/env bash
# compat/python/run.sh ISSUE — confluent-kafka and kafka-python checks (pinned in
# requirements.txt). Called by compat/run with the broker up and $BOOTSTRAP/$PYTHON set.
# issues: core groups txn cluster security kip848
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$COMPAT_DIR/python" || exit 1
issue="$1"

case "$issue" in
core)
    for codec in none gzip snappy lz4 zstd; do
        check "core/confluent-kafka/codec-$codec" -- "$PYTHON" -u ck_core.py codec "$codec"
    done
    check core/confluent-kafka/idempotent-producer -- "$PYTHON" -u ck_core.py idempotent
    check core/confluent-kafka/admin-topics -- "$PYTHON" -u ck_core.py admin
    check core/confluent-kafka/authorized-operations -- "$PYTHON" -u ck_core.py authorized-ops
    check core/confluent-kafka/compaction-after-switch-to-compact --timeout 240 -- "$PYTHON" -u ck_compact.py switch
    for codec in none gzip snappy lz4 zstd; do
        check "core/kafka-python/codec-$codec" -- "$PYTHON" -u kp_core.py codec "$codec"
    done
    check core/kafka-python/admin-topics -- "$PYTHON" -u kp_core.py admin
    check core/confluent-kafka/admin-configs -- "$PYTHON" -u configs.py ck-alter
    check core/kafka-python/admin-configs -- "$PYTHON" -u configs.py kp-alter
    if broker_external; then
        skip core/restart/durability "external broker: cannot restart it"
    else
        state="$COMPAT_LOGDIR/restart-state.json"
        if check core/restart/before -- "$PYTHON" -u restart.py before "$state"; then
            if restart_broker; then
                if check core/restart/durability -- "$PYTHON" -u restart.py after "$state"; then
                    if crash_restart_broker; then
                        check core/restart/crash-recovery -- "$PYTHON" -u restart.py crashed "$state"
                    else
                        fail core/restart/crash-recovery "broker did not come back after SIGKILL"
                    fi
                fi
            else
                fail core/restart/durability "broker did not come back after SIGTERM"
            fi
        else
            skip core/restart/durability "produce phase failed"
        fi
    fi
    ;;
security)
    # Two brokers from lib.sh's start_security_brokers (TLS, SASL, ACLs; mTLS required).
    S() { check "security/confluent-kafka/$1" --timeout "${2:-60}" -- "$PYTHON" -u ck_security.py "$1"; }
    S grant-anonymous
    for c in ssl-produce-consume sasl-ssl-scram-sha-512 sasl-ssl-scram-sha-256 sasl-ssl-plain \
        sasl-plaintext-plain sasl-plaintext-scram-sha-512 client-cert-principal \
        wrong-password wrong-password-plain unknown-user mechanism-not-enabled untrusted-server-cert \
        mtls-required-no-cert mtls-required-with-cert mtls-required-untrusted-cert mtls-required-expired-cert \
        acl-produce acl-consume-group-topic acl-describe-metadata acl-admin-api; do
        S "$c"
    done
    S plaintext-to-tls-port 90
    S sasl-garbage-frames
    S sasl-100mb-frame
    S sasl-reauthentication
    S scram-client-nonces
    if [[ -n "${SEC_HTTP_AUTH:-}" ]]; then
        check security/console/unauthenticated-401 --timeout 60 -- "$PYTHON" -u ck_security.py console-401
    else
        skip security/console/unauthenticated-401 "this broker has no console credential setting ([http] user/password/token)"
    fi
    ;;
txn)
    for c in commit-abort open fencing killed send-offsets; do
        check "txn/confluent-kafka/$c" --timeout 120 -- "$PYTHON" -u ck_txn.py "$c"
    done
    ;;
groups)
    check groups/confluent-kafka/group-consume --timeout 240 -- "$PYTHON" -u ck_groups.py consume
    check groups/kafka-python/group-consume --timeout 240 -- "$PYTHON" -u kp_groups.py consume
    check groups/kafka-python/admin-groups --timeout 240 -- "$PYTHON" -u kp_groups.py admin
    check groups/kafka-python-2/group-consume --timeout 240 -- "$PYTHON_KP2" -u kp_groups.py consume
    check groups/kafka-python-2/admin-groups --timeout 240 -- "$PYTHON_KP2" -u kp_groups.py admin
    ;;
kip848)
    check kip848/confluent-kafka/consume-848 --timeout 240 -- "$PYTHON" -u ck_groups.py consume-848
    ;;
cluster)
    # Interrupted: stop after the current check (compat/run's EXIT trap stops the cluster).
    trap 'echo "cluster suite interrupted" >&2; exit 130' INT TERM
    # A 3-node cluster started by compat/run (scripts/cluster, $COMPAT_CLUSTER_DIR).
    check cluster/confluent-kafka/metadata-every-node --timeout 90 -- "$PYTHON" -u ck_cluster.py metadata
    check cluster/confluent-kafka/create-rf2-via-node3 --timeout 90 -- "$PYTHON" -u ck_cluster.py create-rf2-via-node3
    check cluster/raw/admin-at-every-broker --timeout 90 -- "$PYTHON" -u ck_cluster.py admin-every-broker
    check cluster/confluent-kafka/group-any-node --timeout 120 -- "$PYTHON" -u ck_cluster.py group-any-node
    check cluster/raw/describe-quorum-every-version --timeout 60 -- "$PYTHON" -u ck_cluster.py describe-quorum-versions
    check cluster/replication/no-acked-record-lost-sigkill-sigstop --timeout 240 -- \
        "$PYTHON" -u ck_cluster.py no-acked-loss "$COMPAT_CLUSTER_DIR"
    cluster_ctl wait || fail cluster/replication/every-node-ready-again "a node is not ready after the replication check"
    check cluster/groups/committed-offsets-survive-coordinator-sigkill --timeout 240 -- \
        "$PYTHON" -u ck_cluster.py group-failover "$COMPAT_CLUSTER_DIR"
    cluster_ctl wait || fail cluster/groups/every-node-ready-again "a node is not ready after the group failover check"
    check cluster/txn/confluent-kafka-leader-and-coordinator-sigkill --timeout 300 -- \
        "$PYTHON" -u ck_cluster.py txn-leader-failover "$COMPAT_CLUSTER_DIR"
    cluster_ctl wait || fail cluster/txn/every-node-ready-again "a node is not ready after the transaction failover check"
    # Network partitions: a cluster of its own, each node in a network namespace (root,
    # iproute2 and unshare needed; the machine CI runs on has them).
    if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
        part_dir="$(mktemp -d "${TMPDIR:-/tmp}/runnel-compat-partition.XXXXXX")"
        # The Java 4.3 writer beside librdkafka's (installed by the java suite; cached).
        if install_java >"$COMPAT_LOGDIR/install-java.log" 2>&1; then
            java_cmd
            COMPAT_JAVA_ARGV="$(printf '%s\n' "${JAVA[@]}")"
            export COMPAT_JAVA_ARGV
        fi
        "$PYTHON" ck_partition.py cleanup >/dev/null 2>&1 || true
        check cluster/partitions/leader-cut-off-no-acked-record-lost --timeout 300 -- \
            "$PYTHON" -u ck_partition.py run "$part_dir"
        "$PYTHON" ck_partition.py cleanup >&2 || true
        [[ "${COMPAT_KEEP:-0}" == 1 ]] || rm -rf "$part_dir"
    else
        skip cluster/partitions/leader-cut-off-no-acked-record-lost "no network namespaces here (unshare -n / ip)"
    fi
    # Failover: SIGKILL each node in turn (one of them is the quorum leader at its turn:
    # leadership only moves when its holder dies), restart it; then stop all three and start
    # them again on the same data.
    state="$COMPAT_LOGDIR/cluster-state.json"
    leader_file="$COMPAT_LOGDIR/quorum-leader"
    for n in 1 2 3; do
        "$PYTHON" -u ck_cluster.py quorum-leader "$leader_file" >>"$COMPAT_LOGDIR/quorum-leader.log" 2>&1
        leader="$(cat "$leader_file" 2>/dev/null || echo unknown)"
        if ! cluster_ctl kill "$n"; then
            fail "cluster/failover/kill-$n-create-within-15s" "scripts/cluster kill $n failed"
            continue
        fi
        killed_at="$(date +%s.%N)"
        via=$((n % 3 + 1))
        check "cluster/failover/kill-$n-create-within-15s" --timeout 60 -- \
            "$PYTHON" -u ck_cluster.py create-after-kill "$killed_at" "$n" "$via" "$leader"
        if check "cluster/failover/kill-$n-fenced" --timeout 60 -- "$PYTHON" -u ck_cluster.py fenced "$killed_at" "$n" &&
            [[ $n == 1 ]]; then
            check cluster/failover/kill-1-leaders-moved --timeout 60 -- "$PYTHON" -u ck_cluster.py leaders-moved 1
        fi
        started_at="$(date +%s.%N)"
        if cluster_ctl start "$n" --no-wait; then
            check "cluster/failover/kill-$n-rejoin-within-20s" --timeout 60 -- \
                "$PYTHON" -u ck_cluster.py rejoin "$started_at" "$n"
            # Ready (caught up) before the next node is killed.
            cluster_ctl wait "$n" || fail "cluster/failover/kill-$n-ready-again" "node $n not ready after its restart"
        else
            fail "cluster/failover/kill-$n-rejoin-within-20s" "scripts/cluster start $n failed"
        fi
    done
    if check cluster/failover/snapshot --timeout 90 -- "$PYTHON" -u ck_cluster.py snapshot "$state"; then
        # SIGTERM to all three at once; scripts/cluster SIGKILLs what is left after 15 s.
        down_log="$COMPAT_LOGDIR/cluster-down.log"
        t0=$SECONDS
        cluster_ctl down 2>"$down_log"
        if grep -q 'SIGKILL' "$down_log"; then
            fail cluster/failover/sigterm-stops-all "$(grep -c 'SIGKILL' "$down_log") node(s) needed SIGKILL after 15 s of SIGTERM"
            sed 's/^/    | /' "$down_log"
        else
            pass cluster/failover/sigterm-stops-all "$((SECONDS - t0))s"
        fi
        if cluster_up >/dev/null 2>"$COMPAT_LOGDIR/cluster-up-again.log"; then
            check cluster/failover/restart-all-topics-back --timeout 90 -- "$PYTHON" -u ck_cluster.py compare "$state"
            check cluster/failover/restart-partition-dirs-match-replicas --timeout 60 -- \
                "$PYTHON" -u ck_cluster.py partition-dirs "$COMPAT_CLUSTER_DIR"
            # Bad starts, last: they register brokers 2 (refused) and 7 (fenced, never served).
            check cluster/bad-input/duplicate-node-id --timeout 90 -- \
                "$PYTHON" -u ck_cluster.py refuse-duplicate-id "$COMPAT_CLUSTER_DIR"
            check cluster/bad-input/foreign-data-dir --timeout 120 -- \
                "$PYTHON" -u ck_cluster.py refuse-foreign-dir "$COMPAT_CLUSTER_DIR"
        else
            fail cluster/failover/restart-all-topics-back "the cluster did not come back: scripts/cluster up 3 on the old data failed"
            tail -n 40 "$COMPAT_LOGDIR/cluster-up-again.log" | sed 's/^/    | /'
        fi
    else
        skip cluster/failover/restart-all-topics-back "no snapshot of the topics"
    fi
    ;;
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
