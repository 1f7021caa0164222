#!/usr/bin/env bash
# compat/kcat/checks.sh CHECK — one kcat check; exit 0 on success. Run by kcat/run.sh
# (through `check`, which bounds it with a timeout). Needs $BOOTSTRAP and $COMPAT_LOGDIR.
set -euo pipefail
W="$COMPAT_LOGDIR/kcat-work"; mkdir -p "$W"
B="$BOOTSTRAP"
NODE_ID="${COMPAT_NODE_ID:-0}"
uniq_topic() { echo "kcat-$1-$RANDOM$RANDOM"; }
die() { echo "CHECK FAILED: $*" >&2; exit 1; }
# Every kcat call is bounded: a hung client must not hang CI.
k() { timeout 60 kcat -b "$B" "$@"; }

gen_records() { # n -> key:value lines
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) { v = ""; for (j = 0; j <= i % 9; j++) v = v "v" i "-" j " ";
        printf "key-%05d:%s|end\n", i, v } }'
}

case "$1" in
produce-consume)  # 10,000 keyed records in, byte-identical out (auto-created topic)
    t=$(uniq_topic pc); echo "topic $t"
    gen_records 10000 >"$W/in.txt"
    k -P -t "$t" -K: -X acks=all <"$W/in.txt"
    k -C -t "$t" -K: -o beginning -e -q >"$W/out.txt"
    cmp "$W/in.txt" "$W/out.txt" || { diff <(head -5 "$W/in.txt") <(head -5 "$W/out.txt") || true; die "consumed records differ ($(wc -l <"$W/out.txt") lines out)"; }
    # offsets are dense 0..9999 and partition 0
    k -C -t "$t" -o beginning -e -q -f '%p %o\n' >"$W/offsets.txt"
    cmp <(seq 0 9999 | sed 's/^/0 /') "$W/offsets.txt" || die "offsets not dense 0..9999"
    echo "$t" >"$W/topic-pc"
    ;;
metadata)  # kcat -L lists the broker (node id, advertised address) and the topic
    t=$(uniq_topic md)
    echo "a:b" | k -P -t "$t" -K:
    k -L >"$W/L.txt" 2>&1 || { cat "$W/L.txt"; die "kcat -L failed"; }
    k -L -t "$t" >"$W/Lt.txt" 2>&1 || { cat "$W/Lt.txt"; die "kcat -L -t failed"; }
    cat "$W/L.txt"
    grep -q "^ 1 brokers:" "$W/L.txt" || die "not exactly 1 broker"
    grep -q "broker $NODE_ID at $B" "$W/L.txt" || die "no 'broker $NODE_ID at $B'"
    grep -q "topic \"$t\" with 1 partitions:" "$W/L.txt" || die "topic $t (1 partition, auto-created) not listed"
    grep -q "partition 0, leader $NODE_ID, replicas: $NODE_ID, isrs: $NODE_ID" "$W/Lt.txt" || die "partition 0 leader/replicas/isrs"
    k -L -J >"$W/L.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["brokers"][0]["id"]==int(sys.argv[2]), d; print("json ok")' "$W/L.json" "$NODE_ID"
    ;;
tail-offset)  # -o -5: the last five records
    t=$(uniq_topic tail)
    gen_records 100 >"$W/in100.txt"
    k -P -t "$t" -K: <"$W/in100.txt"
    k -C -t "$t" -K: -o -5 -e -q >"$W/tail.txt"
    cmp <(tail -n 5 "$W/in100.txt") "$W/tail.txt" || { cat "$W/tail.txt"; die "-o -5 did not give the last 5 records"; }
    k -C -t "$t" -K: -o 42 -c 3 -e -q >"$W/mid.txt"
    cmp <(sed -n 43,45p "$W/in100.txt") "$W/mid.txt" || die "-o 42 -c 3"
    ;;
headers)  # -H with duplicate keys, order preserved
    t=$(uniq_topic hdr)
    echo "k1:v1" | k -P -t "$t" -K: -H h1=a -H dup=1 -H dup=2 -H h2=b
    echo "k2:v2" | k -P -t "$t" -K: -H only=x
    k -C -t "$t" -o beginning -e -q -f '%k|%s|%h\n' >"$W/h.txt"
    cat "$W/h.txt"
    printf '%s\n' 'k1|v1|h1=a,dup=1,dup=2,h2=b' 'k2|v2|only=x' | cmp - "$W/h.txt" || die "headers differ"
    ;;
codecs)  # -z for each codec: 2,000 records each, byte-identical back
    for z in gzip snappy lz4 zstd; do
        t=$(uniq_topic "z$z")
        gen_records 2000 >"$W/z.txt"
        k -P -t "$t" -K: -z "$z" -X linger.ms=20 <"$W/z.txt"
        k -C -t "$t" -K: -o beginning -e -q >"$W/zout.txt"
        cmp "$W/z.txt" "$W/zout.txt" || die "codec $z: records differ"
        echo "codec $z ok"
    done
    ;;
group)  # -G balanced consumer: consumes all, commits, a second run with the same group gets nothing
    t=$(uniq_topic grp); g="kcat-g-$RANDOM"
    gen_records 500 >"$W/g.txt"
    k -P -t "$t" -K: <"$W/g.txt"
    # Not "-o beginning": with -G, kcat assigns that offset explicitly and ignores the
    # committed offsets; auto.offset.reset only applies when the group has none.
    timeout 120 kcat -b "$B" -G "$g" -K: -e -q -X auto.offset.reset=earliest -X auto.commit.interval.ms=100 "$t" >"$W/g1.txt"
    cmp "$W/g.txt" "$W/g1.txt" || die "group consumer: records differ ($(wc -l <"$W/g1.txt") lines)"
    gen_records 510 | tail -n 10 >"$W/g2in.txt"
    k -P -t "$t" -K: <"$W/g2in.txt"
    timeout 120 kcat -b "$B" -G "$g" -K: -e -q -X auto.offset.reset=earliest "$t" >"$W/g2.txt"
    cmp "$W/g2in.txt" "$W/g2.txt" || { cat "$W/g2.txt" | head; die "second run of the group did not resume from the committed offset"; }
    ;;
sec-ssl | sec-sasl-ssl-scram-sha-512 | sec-sasl-plaintext-plain)  # security: 2,000 records in and out
    # SSL: no client certificate, so User:ANONYMOUS (ACLs on "anon-*" from the python setup).
    case "$1" in
    sec-ssl) B="$SEC_SSL"; X=(-X security.protocol=SSL -X "ssl.ca.location=$SEC_DIR/ca.pem"); t="anon-kcat-$RANDOM$RANDOM" ;;
    sec-sasl-ssl-scram-sha-512) B="$SEC_SASL_SSL"; t=$(uniq_topic scram)
        X=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$SEC_DIR/ca.pem" -X sasl.mechanism=SCRAM-SHA-512
            -X sasl.username=admin -X "sasl.password=$SEC_ADMIN_PW") ;;
    sec-sasl-plaintext-plain) B="$SEC_SASL_PLAINTEXT"; t=$(uniq_topic plain)
        X=(-X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=PLAIN -X sasl.username=admin -X "sasl.password=$SEC_ADMIN_PW") ;;
    esac
    gen_records 2000 >"$W/sec-in.txt"
    k "${X[@]}" -P -t "$t" -K: -X acks=all <"$W/sec-in.txt"
    k "${X[@]}" -C -t "$t" -K: -o beginning -e -q >"$W/sec-out.txt"
    cmp "$W/sec-in.txt" "$W/sec-out.txt" || die "consumed records differ ($(wc -l <"$W/sec-out.txt") lines out)"
    k "${X[@]}" -L -t "$t" >"$W/sec-L.txt"
    grep -q "topic \"$t\" with 1 partitions" "$W/sec-L.txt" || { cat "$W/sec-L.txt"; die "kcat -L over $1 does not list $t"; }
    ;;
sec-wrong-password)  # SCRAM-SHA-512 with a wrong password: refused with librdkafka's SASL error
    B="$SEC_SASL_SSL"
    set +e
    k -X security.protocol=SASL_SSL -X "ssl.ca.location=$SEC_DIR/ca.pem" -X sasl.mechanism=SCRAM-SHA-512 \
        -X sasl.username=alice -X sasl.password=wrong -m 8 -L >"$W/wrong.txt" 2>&1
    rc=$?
    set -e
    cat "$W/wrong.txt"
    [[ $rc != 0 ]] || die "kcat -L with a wrong password succeeded"
    grep -q "SASL authentication error" "$W/wrong.txt" || die "no 'SASL authentication error' in kcat's output"
    ;;
*) die "unknown check $1" ;;
esac
echo OK
