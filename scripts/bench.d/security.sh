#!/usr/bin/env bash
# scripts/bench.d/security.sh [RECORDS] — what TLS and SASL cost: produce and consume
# records/s and broker CPU per record over PLAINTEXT, SSL and SASL_SSL (PLAIN login), and
# new connections per second (plaintext, TLS, TLS+SCRAM; security_handshakes.py).
#
# One broker from compat/lib.sh's start_security_brokers (certificates made now, users from
# `runnel user add`) with the authorizer off, so the three listeners differ only in
# transport and login. Load: Debian's kcat (librdkafka 2.0.2, with SSL and SASL), RECORDS
# (default 1,000,000) records of 100 bytes to one partition, acks=1, linger.ms=5; then the
# same records consumed from the beginning. Records/s is wall time of the kcat process
# (connect and login included: milliseconds against seconds). Broker CPU is utime+stime of
# the broker (schedstat of its threads, see cpu()) over each kcat run, divided by records.
# Client and broker share the machine's CPUs. A benchmark: prints figures, asserts nothing.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../../compat/lib.sh"
N="${1:-1000000}"
export COMPAT_SEC_AUTHORIZER=false COMPAT_SEC_MTLS=0 COMPAT_LOGDIR="${TMPDIR:-/tmp}"
trap cleanup_broker EXIT
install_kcat || { echo "kcat missing" >&2; exit 1; }
start_security_brokers || { echo "broker did not start" >&2; exit 1; }
PID="$(cat "$COMPAT_BROKER_PIDFILE")"
REC="$COMPAT_DATA_DIR/records.txt"
python3 -c "import sys; l=b'r'*99+b'\n'; sys.stdout.buffer.write(l*$N)" >"$REC"
# Broker CPU, ns: on-CPU time summed over its threads (/proc/PID/task/*/schedstat; tokio's
# workers live as long as the broker), or utime+stime (10 ms ticks, also counting threads that
# exited) when that is larger.
cpu() {
    local sched stat
    sched=$(cat /proc/"$PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }')
    stat=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1e9 / hz }' "/proc/$PID/stat")
    echo $((stat > sched + 20000000 ? stat : sched))
}
now() { date +%s.%N; }

run() { # label kcat-args... ; prints records/s and broker us/record for -P then -C
    local label="$1" t="bench-$1-$RANDOM" c0 t0 c1 t1 got
    shift
    c0=$(cpu); t0=$(now)
    timeout 300 kcat "$@" -P -t "$t" -p 0 -X acks=1 -X linger.ms=5 -X queue.buffering.max.messages=1000000 <"$REC" ||
        { echo "  $label: produce failed" >&2; return 1; }
    t1=$(now); c1=$(cpu)
    awk -v l="$label" -v n="$N" -v dt="$(echo "$t1 - $t0" | bc)" -v dc="$((c1 - c0))" \
        'BEGIN { printf "  %-10s produce %9.0f records/s   broker CPU %6.3f us/record\n", l, n / dt, dc / 1e3 / n }'
    c0=$(cpu); t0=$(now)
    got=$(timeout 300 kcat "$@" -C -t "$t" -p 0 -o beginning -e -q -f 'x\n' | wc -l)
    t1=$(now); c1=$(cpu)
    [[ "$got" == "$N" ]] || echo "  $label: consumed $got of $N records" >&2
    awk -v l="$label" -v n="$N" -v dt="$(echo "$t1 - $t0" | bc)" -v dc="$((c1 - c0))" \
        'BEGIN { printf "  %-10s consume %9.0f records/s   broker CPU %6.3f us/record\n", l, n / dt, dc / 1e3 / n }'
}

echo "security bench: $N records of 100 B, 1 partition, acks=1, linger.ms=5 (kcat $KCAT_VERSION); load $(cut -d' ' -f1-3 /proc/loadavg)"
run PLAINTEXT -b "$SEC_PLAINTEXT"
run SSL -b "$SEC_SSL" -X security.protocol=SSL -X "ssl.ca.location=$SEC_DIR/ca.pem"
# PLAIN: after the login a SASL_SSL connection costs the same whatever the mechanism, and
# librdkafka 2.0.2's SCRAM client-final repeats its nonce (Runnel refuses that, as Kafka 4).
run SASL_SSL -b "$SEC_SASL_SSL" -X security.protocol=SASL_SSL -X "ssl.ca.location=$SEC_DIR/ca.pem" \
    -X sasl.mechanism=PLAIN -X sasl.username=admin -X "sasl.password=$SEC_ADMIN_PW"
echo "new connections (2 client processes, 5 s each):"
python3 "$HERE/security_handshakes.py" "$PID" "$SEC_DIR/ca.pem" "$SEC_PLAINTEXT" "$SEC_SSL" "$SEC_SASL_SSL" \
    admin "$SEC_ADMIN_PW" 5
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
