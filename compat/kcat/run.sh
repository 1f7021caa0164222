#!/usr/bin/env bash
# compat/kcat/run.sh ISSUE — Debian's kcat 1.7.1 (librdkafka 2.0.2: an old librdkafka that
# is strict about ApiVersions). The checks are in checks.sh.
# issues: core groups
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
esac
# Results are recorded by `check`; a non-zero exit here means run.sh itself broke.
exit 0
