#!/usr/bin/env bash
# compat/kcat/run.sh ISSUE — Debian's kcat 1.7.1 (librdkafka 2.0.2: an old librdkafka that
# is strict about ApiVersions). The checks are in checks.sh.
# issues: core groups security
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
c() { check "$1/kcat/$2" -- bash "$COMPAT_DIR/kcat/checks.sh" "$2"; }
case "$1" in
core)
    c core metadata
    c core produce-consume
    c core tail-offset
    c core headers
    c core codecs
    ;;
groups)
    c groups group
    ;;
security)
    # Debian's kcat links a librdkafka built with SSL and SASL (PLAIN, SCRAM).
    feats="$(kcat -V 2>&1 | grep -o 'builtin.features=[^)]*')"
    for f in ssl sasl_plain sasl_scram; do
        [[ ",${feats#*=}," == *",$f,"* ]] || fail "security/kcat/features" "kcat's librdkafka lacks $f ($feats)"
    done
    # ACLs for the anonymous principal of the SSL listener (confluent-kafka as admin).
    if install_python >/dev/null 2>&1; then
        check security/kcat/grant-anonymous --timeout 60 -- "$PYTHON" -u "$COMPAT_DIR/python/ck_security.py" grant-anonymous
    else
        fail security/kcat/grant-anonymous "install_python failed"
    fi
    for s in ssl sasl-ssl-scram-sha-512 sasl-plaintext-plain wrong-password; do
        c security "sec-$s"
    done
    ;;
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
