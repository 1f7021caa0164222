#!/usr/bin/env bash
# compat/python/run.sh ISSUE — confluent-kafka and kafka-python checks (pinned in
# requirements.txt). Called by compat/run with the broker up and $BOOTSTRAP/$PYTHON set.
# issues: core groups
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
groups)
    check groups/confluent-kafka/group-consume --timeout 240 -- "$PYTHON" -u ck_groups.py consume
    check groups/kafka-python/group-consume --timeout 240 -- "$PYTHON" -u kp_groups.py consume
    check groups/kafka-python/admin-groups --timeout 240 -- "$PYTHON" -u kp_groups.py admin
    check groups/kafka-python-2/group-consume --timeout 240 -- "$PYTHON_KP2" -u kp_groups.py consume
    check groups/kafka-python-2/admin-groups --timeout 240 -- "$PYTHON_KP2" -u kp_groups.py admin
    ;;
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
