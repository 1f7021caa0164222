#!/usr/bin/env bash
# compat/kafkajs/run.sh ISSUE — kafkajs 2.2.4 (package-lock.json) via node. Called by
# compat/run with $BOOTSTRAP and $NODE_PATH set. kafkajs has no manual assignment, so its
# consume checks use a consumer group even in "core".
# issues: core txn security
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
T="$COMPAT_DIR/kafkajs/test.js"
case "$1" in
core)
    for codec in none gzip; do
        check "core/kafkajs/produce-$codec" --timeout 120 -- node "$T" codec "$codec" produce
        check "core/kafkajs/produce-consume-group-$codec" --timeout 180 -- node "$T" codec "$codec"
    done
    check core/kafkajs/admin --timeout 120 -- node "$T" admin
    ;;
security)
    S="$COMPAT_DIR/kafkajs/security.js"
    for m in scram-sha-512 plain; do
        check "security/kafkajs/sasl-ssl-$m" --timeout 120 -- node "$S" produce-consume "$m"
    done
    check security/kafkajs/wrong-password --timeout 60 -- node "$S" wrong-password
    ;;
txn)
    check txn/kafkajs/commit-abort-offsets-fencing --timeout 180 -- node "$T" txn
    ;;
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
