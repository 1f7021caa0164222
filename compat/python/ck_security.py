"""Security checks (issue `security`) with confluent-kafka (librdkafka) and raw sockets.

    ck_security.py CHECK

Run by compat/python/run.sh against the two brokers of lib.sh's start_security_brokers;
the listeners' addresses, the certificates and the users' passwords come from SEC_*
variables. Each check prints the exact errors the client reported (the "saw:" lines) and
asserts their code and text. Users: admin (super user), alice and bob (no ACLs until a
check grants them); the anonymous principal (SSL without a client certificate) gets ACLs
on the "anon-" prefix from `grant-anonymous`.
"""
import os
import socket
import ssl
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType)

from common import check, eq, main, topic_name

E = os.environ
CERTS = E.get("SEC_DIR", "")
PW = {"admin": E.get("SEC_ADMIN_PW", ""), "alice": E.get("SEC_ALICE_PW", ""), "bob": E.get("SEC_BOB_PW", "")}


def ssl_conf(ca="ca.pem", cert=None):
    c = {"ssl.ca.location": os.path.join(CERTS, ca), "ssl.endpoint.identification.algorithm": "https"}
    if cert:
        c["ssl.certificate.location"] = os.path.join(CERTS, cert + ".pem")
        c["ssl.key.location"] = os.path.join(CERTS, cert + ".key")
    return c


def conf(kind, user="admin", password=None, mechanism="SCRAM-SHA-512", **extra):
    """Client config for one of the listeners: ssl, sasl_ssl, sasl_plaintext, scram_only,
    mtls, plaintext."""
    c = {"socket.timeout.ms": 10000, "reconnect.backoff.max.ms": 1000}
    if kind == "ssl":
        c.update(ssl_conf(), **{"bootstrap.servers": E["SEC_SSL"], "security.protocol": "SSL"})
    elif kind == "mtls":
        c.update(ssl_conf(), **{"bootstrap.servers": E["SEC_MTLS"], "security.protocol": "SSL"})
    elif kind == "plaintext":
        c.update({"bootstrap.servers": E["SEC_PLAINTEXT"], "security.protocol": "PLAINTEXT"})
    else:
        addr = {"sasl_ssl": "SEC_SASL_SSL", "sasl_plaintext": "SEC_SASL_PLAINTEXT", "scram_only": "SEC_SCRAM_ONLY"}[kind]
        c.update({"bootstrap.servers": E[addr], "sasl.mechanism": mechanism,
                  "security.protocol": "SASL_SSL" if kind == "sasl_ssl" else "SASL_PLAINTEXT",
                  "sasl.username": user, "sasl.password": PW[user] if password is None else password})
        if kind == "sasl_ssl":
            c.update(ssl_conf())
    c.update(extra)
    return c


def admin():
    return AdminClient(conf("sasl_ssl"))


def create_topic(t, partitions=1):
    a = admin()  # held: a collected AdminClient fails its futures with _DESTROY
    for f in a.create_topics([NewTopic(t, partitions, 1)]).values():
        f.result(30)


def acl(restype, name, principal, op, pattern=ResourcePatternType.LITERAL, perm=AclPermissionType.ALLOW):
    return AclBinding(restype, name, pattern, principal, "*", op, perm)


def grant(*bindings):
    a = admin()
    for b, f in a.create_acls(list(bindings)).items():
        f.result(30)
    print(f"granted {len(bindings)} ACL(s)", flush=True)


def produce_consume(c, t, n=200, group=None):
    """n records into partition 0 of t and back (assign from the beginning)."""
    p = Producer(c)
    errs = []
    for i in range(n):
        p.produce(t, key=f"k{i}".encode(), value=f"v{i}".encode() * 10, partition=0,
                  on_delivery=lambda e, m: e and errs.append(e))
    left = p.flush(30)
    eq((left, errs), (0, []), "undelivered / delivery errors")
    cons = Consumer(dict(c, **{"group.id": group or f"{t}-g", "enable.auto.commit": False,
                               "auto.offset.reset": "earliest"}))
    cons.assign([TopicPartition(t, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < n and time.time() < deadline:
        m = cons.poll(0.5)
        if m is None:
            continue
        check(not m.error(), f"consume error: {m.error()}")
        got.append((m.key(), m.value()))
    cons.close()
    eq(got, [(f"k{i}".encode(), f"v{i}".encode() * 10) for i in range(n)], "consumed records")
    print(f"{n} records produced and consumed on {t}", flush=True)


def client_errors(c, seconds=10):
    """Start a producer with config c (it connects at once); wait up to `seconds` for
    error_cb; then ask for metadata (2 s). Returns (errors, metadata or None)."""
    errs = []
    c = dict(c, error_cb=lambda e: errs.append(e))
    p = Producer(c)
    md = None
    t0 = time.time()
    while not errs and time.time() - t0 < seconds:
        p.poll(0.1)
    try:
        md = p.list_topics(timeout=2 if errs else seconds)
    except KafkaException as e:
        errs.append(e.args[0])
    for e in errs:
        print(f"saw: {KafkaError(e.code()).name()} ({e.code()}): {e.str()}  [{time.time() - t0:.1f}s]", flush=True)
    return errs, md


def expect_refused(c, codes, texts, seconds=10):
    """The client is refused: no metadata, and an error with one of codes whose text
    contains every one of texts."""
    errs, md = client_errors(c, seconds)
    check(md is None, "the client got metadata: it was let in")
    ok = [e for e in errs if e.code() in codes and all(x.lower() in e.str().lower() for x in texts)]
    check(ok, f"no error with code in {[KafkaError(x).name() for x in codes]} containing {texts}; "
              f"saw {[(e.name(), e.str()) for e in errs]}")


# ------------------------------------------------------------------------------ transport

def ssl_produce_consume():
    # SSL without a client certificate: the principal is User:ANONYMOUS ("anon-" ACLs).
    t = topic_name("anon-ssl")
    create_topic(t)
    produce_consume(conf("ssl"), t, group=f"anon-{t}")


def sasl_produce_consume(kind, mechanism):
    t = topic_name(f"{kind}-{mechanism.lower()}")
    create_topic(t)
    produce_consume(conf(kind, mechanism=mechanism), t)


def client_cert_principal():
    """client_auth = requested: a verified client certificate makes the principal
    User:CN=client; it is denied until that principal gets ACLs."""
    t = topic_name("cert")
    create_topic(t)
    c = conf("ssl", **ssl_conf(cert="client"))
    p = Producer(c)
    errs = []
    p.produce(t, b"x", partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(20)
    print(f"saw (no ACL): {errs}", flush=True)
    check(errs and errs[0] is not None and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED,
          f"produce without ACL as the certificate's principal: want TOPIC_AUTHORIZATION_FAILED, got {errs}")
    grant(acl(ResourceType.TOPIC, t, "User:CN=client", AclOperation.ALL),
          acl(ResourceType.GROUP, t, "User:CN=client", AclOperation.READ))
    produce_consume(c, t, group=t)


# librdkafka: "SASL authentication error: <the broker's SaslAuthenticate error_message>",
# which Kafka starts with "Authentication failed".
AUTH_FAILED = ["SASL authentication error: Authentication failed"]


def wrong_password():
    expect_refused(conf("sasl_ssl", user="alice", password="not-the-password"),
                   [KafkaError._AUTHENTICATION], AUTH_FAILED)


def wrong_password_plain():
    expect_refused(conf("sasl_plaintext", user="alice", password="not-the-password", mechanism="PLAIN"),
                   [KafkaError._AUTHENTICATION], AUTH_FAILED)


def unknown_user():
    c = conf("sasl_ssl", user="alice", mechanism="SCRAM-SHA-256")
    c["sasl.username"] = "mallory"
    expect_refused(c, [KafkaError._AUTHENTICATION], AUTH_FAILED)


def mechanism_not_enabled():
    # The SCRAM_ONLY listener enables SCRAM-SHA-256 alone; PLAIN is refused at SaslHandshake.
    # librdkafka: "SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism:
    # broker's supported mechanisms: SCRAM-SHA-256".
    expect_refused(conf("scram_only", user="alice", mechanism="PLAIN"), [KafkaError._AUTHENTICATION],
                   ["SASL PLAIN mechanism handshake failed", "Unsupported SASL mechanism",
                    "supported mechanisms: SCRAM-SHA-256"])


def untrusted_server():
    # librdkafka 2.x: _TRANSPORT, "error:0A000086:SSL routines::certificate verify failed".
    c = conf("ssl", **ssl_conf(ca="other-ca.pem"))
    expect_refused(c, [KafkaError._TRANSPORT, KafkaError._SSL], ["certificate verify failed"])


def plaintext_to_tls():
    """A plaintext client on the TLS port is closed quickly (raw Kafka frame, librdkafka,
    and a connection that sends nothing at all)."""
    host, port = E["SEC_SSL"].rsplit(":", 1)
    silent = socket.create_connection((host, int(port)), timeout=5)
    t_silent = time.time()
    # 1. ApiVersions v0 in the clear: the broker must close, not answer and not hang.
    s = socket.create_connection((host, int(port)), timeout=10)
    t0 = time.time()
    s.sendall(frame(18, 0, b""))
    try:
        data = s.recv(65536)
    except (ConnectionResetError, socket.timeout) as e:
        data = e
    print(f"raw ApiVersions on the TLS port: {data!r} after {time.time() - t0:.2f}s", flush=True)
    check(not isinstance(data, socket.timeout), "no close within 10 s")
    if isinstance(data, bytes) and data:
        # A TLS alert record (content type 21) is a clean refusal; a Kafka answer is not.
        eq(data[0], 21, "first byte of the broker's answer (21 = TLS alert)")
        s.settimeout(5)
        try:
            check(s.recv(65536) == b"", "connection still open after the alert")
        except ConnectionResetError:
            pass
    s.close()
    # 2. librdkafka configured for PLAINTEXT: fails fast, with a transport error.
    t0 = time.time()
    errs, md = client_errors(conf("ssl", **{"security.protocol": "PLAINTEXT"}), seconds=8)
    check(md is None, "a PLAINTEXT client got metadata from the TLS port")
    check(errs, "librdkafka reported no error")
    # 3. A client that connects and says nothing: closed by the TLS handshake timeout
    #    (network.frame_timeout_ms, 5 s on these brokers).
    silent.settimeout(max(1.0, 15 - (time.time() - t_silent)))
    try:
        r = silent.recv(1)
    except ConnectionResetError:
        r = b""
    except socket.timeout:
        raise AssertionError("a silent connection to the TLS port is still open after 15 s")
    print(f"silent connection closed after {time.time() - t_silent:.1f}s ({r!r})", flush=True)
    eq(r, b"", "what the silent connection got")


# ---------------------------------------------------------------------------------- mTLS

# The broker's TLS alert as librdkafka reports it after the (TLS 1.3) handshake, _TRANSPORT:
# "Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate required".
TLS_FAIL = [KafkaError._TRANSPORT, KafkaError._SSL]


def mtls_no_cert():
    expect_refused(conf("mtls"), TLS_FAIL, ["alert certificate required"])


def mtls_cert():
    t = topic_name("mtls")
    c = conf("mtls", **ssl_conf(cert="client"))
    a = AdminClient(c)
    for f in a.create_topics([NewTopic(t, 1, 1)]).values():
        f.result(30)
    produce_consume(c, t)


def mtls_untrusted_cert():
    # The broker names its CA in the CertificateRequest; OpenSSL then sends no certificate
    # signed by another CA ("No matching issuer found ..."), so the alert is the same.
    expect_refused(conf("mtls", **ssl_conf(cert="intruder")), TLS_FAIL, ["alert certificate required"])
    # Python's ssl sends it anyway: the broker must refuse the certificate itself.
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    ctx.load_cert_chain(os.path.join(CERTS, "intruder.pem"), os.path.join(CERTS, "intruder.key"))
    host, port = E["SEC_MTLS"].rsplit(":", 1)
    try:
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host) as s:
            s.sendall(frame(18, 0, b""))
            got = s.recv(100)
    except (ssl.SSLError, ConnectionResetError) as e:
        got = e
    print(f"saw (python ssl, untrusted client certificate sent): {got!r}", flush=True)
    check(isinstance(got, ssl.SSLError) and "unknown ca" in str(got).lower() or got == b"",
          f"want the alert 'unknown ca' (or a close), got {got!r}")


def mtls_expired_cert():
    # "ssl/tls alert certificate expired: SSL alert number 45"
    expect_refused(conf("mtls", **ssl_conf(cert="expired")), TLS_FAIL, ["alert certificate expired"])


# ---------------------------------------------------------------------------------- ACLs

def grant_anonymous():
    """ACLs for User:ANONYMOUS (SSL without a certificate) on topics and groups "anon-*"."""
    p = ResourcePatternType.PREFIXED
    grant(acl(ResourceType.TOPIC, "anon-", "User:ANONYMOUS", AclOperation.ALL, p),
          acl(ResourceType.GROUP, "anon-", "User:ANONYMOUS", AclOperation.ALL, p))


def acl_produce():
    t = topic_name("aclp")
    create_topic(t)
    errs = []
    p = Producer(conf("sasl_ssl", user="alice"))
    p.produce(t, b"denied", partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(20)
    print(f"saw (no ACL): {[(e.name(), e.str()) if e else None for e in errs]}", flush=True)
    check(errs and errs[0] is not None and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED,
          f"produce without ACL: want TOPIC_AUTHORIZATION_FAILED, got {errs}")
    grant(acl(ResourceType.TOPIC, t, "User:alice", AclOperation.WRITE))
    errs.clear()
    p = Producer(conf("sasl_ssl", user="alice"))
    p.produce(t, b"allowed", partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(20)
    eq(errs, [None], "delivery after the WRITE ACL")


def poll_error(cons, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = cons.poll(0.5)
        if m is not None and m.error():
            print(f"saw: {m.error().name()}: {m.error().str()}", flush=True)
            return m.error()
        check(m is None, f"consumed a record while denied: {m}")
    raise AssertionError(f"no consumer error within {seconds}s")


def acl_consume():
    """No ACL → GROUP_AUTHORIZATION_FAILED; the group ACL only → TOPIC_AUTHORIZATION_FAILED;
    both → the record."""
    t = topic_name("aclc")
    g = f"{t}-group"
    create_topic(t)
    p = Producer(conf("sasl_ssl"))
    p.produce(t, b"secret", partition=0)
    eq(p.flush(20), 0, "admin's produce")

    def consumer():
        c = Consumer(conf("sasl_ssl", user="bob", mechanism="SCRAM-SHA-256", **{
            "group.id": g, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        c.subscribe([t])
        return c
    c = consumer()
    err = poll_error(c)
    c.close()
    eq(err.code(), KafkaError.GROUP_AUTHORIZATION_FAILED, "error without any ACL")
    grant(acl(ResourceType.GROUP, g, "User:bob", AclOperation.READ))
    c = consumer()
    err = poll_error(c)
    c.close()
    eq(err.code(), KafkaError.TOPIC_AUTHORIZATION_FAILED, "error with the group ACL only")
    grant(acl(ResourceType.TOPIC, t, "User:bob", AclOperation.READ))
    c = consumer()
    deadline = time.time() + 30
    m = None
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            break
        if m is not None:
            print(f"saw (allowed): {m.error()}", flush=True)
    c.close()
    check(m is not None and not m.error() and m.value() == b"secret", f"no record after both ACLs: {m}")


def acl_describe():
    """Metadata hides topics alice may not describe; a DESCRIBE ACL shows it."""
    t = topic_name("acld")
    create_topic(t)
    a = AdminClient(conf("sasl_ssl", user="alice"))
    md = a.list_topics(timeout=15)
    check(t not in md.topics, f"{t} listed to alice without an ACL")
    md = a.list_topics(topic=t, timeout=15)
    err = md.topics[t].error
    print(f"saw (asked by name): {err}", flush=True)
    check(err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED,
          f"metadata of {t} by name: want TOPIC_AUTHORIZATION_FAILED, got {err}")
    grant(acl(ResourceType.TOPIC, t, "User:alice", AclOperation.DESCRIBE))
    md = a.list_topics(timeout=15)
    check(t in md.topics and md.topics[t].error is None, f"{t} not listed after the DESCRIBE ACL")


def acl_admin_api():
    """create_acls / describe_acls / delete_acls round trip; alice may not manage ACLs."""
    pfx = topic_name("aclapi")
    bindings = [
        acl(ResourceType.TOPIC, pfx + "-lit", "User:alice", AclOperation.READ),
        acl(ResourceType.TOPIC, pfx, "User:alice", AclOperation.WRITE, ResourcePatternType.PREFIXED),
        acl(ResourceType.GROUP, pfx + "-g", "User:bob", AclOperation.READ, perm=AclPermissionType.DENY),
        acl(ResourceType.TRANSACTIONAL_ID, pfx + "-tx", "User:alice", AclOperation.WRITE),
    ]
    grant(*bindings)
    a = admin()
    any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    mine = lambda bs: sorted((b for b in bs if b.name.startswith(pfx)), key=str)  # noqa: E731
    got = mine(a.describe_acls(any_filter).result(30))
    print("described:", *got, sep="\n  ", flush=True)
    eq(got, sorted(bindings, key=str), "describe_acls (ANY filter)")
    f_alice = AclBindingFilter(ResourceType.TOPIC, pfx + "-lit", ResourcePatternType.MATCH, "User:alice", None,
                               AclOperation.ANY, AclPermissionType.ANY)
    got = sorted(a.describe_acls(f_alice).result(30), key=str)
    eq(got, sorted(bindings[:2], key=str), "describe_acls (MATCH on the literal name: literal + prefixed)")
    deleted = {}
    for f, fut in a.delete_acls([AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                                  AclOperation.ANY, AclPermissionType.ANY)]).items():
        deleted[f] = [b for b in fut.result(30)]
    gone = mine([b for bs in deleted.values() for b in bs])
    eq(gone, sorted(bindings, key=str), "delete_acls returned")
    eq(mine(a.describe_acls(any_filter).result(30)), [], "describe after delete")
    # Without ALTER on the cluster alice cannot create ACLs.
    alice = AdminClient(conf("sasl_ssl", user="alice"))
    fut = list(alice.create_acls([bindings[0]]).values())[0]
    try:
        fut.result(30)
        raise AssertionError("alice created an ACL")
    except KafkaException as e:
        print(f"saw (alice create_acls): {e.args[0].name()}: {e.args[0].str()}", flush=True)
        eq(e.args[0].code(), KafkaError.CLUSTER_AUTHORIZATION_FAILED, "alice's create_acls")


# ------------------------------------------------------------------------- raw SASL frames

def frame(api_key, version, body, corr=1):
    hdr = struct.pack(">hhih", api_key, version, corr, 6) + b"compat"
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def read_frame(s):
    def n(k):
        buf = b""
        while len(buf) < k:
            c = s.recv(k - len(buf))
            if not c:
                raise ConnectionResetError("closed by the broker")
            buf += c
        return buf
    size, = struct.unpack(">i", n(4))
    return n(size)


def sasl_connect(mechanism="PLAIN", listener="SEC_SASL_PLAINTEXT"):
    """A socket to a SASL_PLAINTEXT listener that completed SaslHandshake v1."""
    host, port = E[listener].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(frame(17, 1, kstr(mechanism)))
    r = read_frame(s)
    err, = struct.unpack(">h", r[4:6])
    eq(err, 0, "SaslHandshake error code")
    return s


def authenticate(s, auth_bytes, corr=2, lifetime=False):
    """SaslAuthenticate v1 → (error code, message[, session_lifetime_ms])."""
    s.sendall(frame(36, 1, struct.pack(">i", len(auth_bytes)) + auth_bytes, corr))
    r = read_frame(s)[4:]
    err, mlen = struct.unpack(">hh", r[:4])
    msg = r[4:4 + mlen].decode() if mlen >= 0 else None
    if not lifetime:
        return err, msg
    pos = 4 + max(mlen, 0)
    blen, = struct.unpack(">i", r[pos:pos + 4])
    life, = struct.unpack(">q", r[pos + 4 + max(blen, 0):pos + 12 + max(blen, 0)])
    return err, msg, life


def sasl_reauth():
    """connections_max_reauth_ms = 4000 (broker 2's REAUTH listener): SaslAuthenticate
    reports the session lifetime; a request after it ends closes the connection; librdkafka
    (KIP-368) re-authenticates and keeps producing across three lifetimes."""
    s = sasl_connect(listener="SEC_REAUTH")
    err, msg, life = authenticate(s, b"\0alice\0" + PW["alice"].encode(), lifetime=True)
    print(f"PLAIN login: error {err}, session_lifetime_ms {life}", flush=True)
    eq(err, 0, "login error code")
    check(0 < life <= 4000, f"session_lifetime_ms {life} not in (0, 4000]")
    s.sendall(frame(3, 1, struct.pack(">i", -1), 3))
    check(len(read_frame(s)) > 4, "Metadata within the session")
    time.sleep(life / 1000 + 0.5)
    r = closed_or_error("Metadata after the session ended",
                        lambda: (s.sendall(frame(3, 1, struct.pack(">i", -1), 4)), read_frame(s))[1])
    check(r is None, "Metadata answered after the session lifetime")
    s.close()
    errs, delivered = [], []
    c = {"bootstrap.servers": E["SEC_REAUTH"], "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bob", "sasl.password": PW["bob"],
         "error_cb": lambda e: errs.append(e)}
    t = topic_name("reauth")
    a = AdminClient(c)
    for f in a.create_topics([NewTopic(t, 1, 1)]).values():
        f.result(30)
    p = Producer(c)
    end = time.time() + 12
    i = 0
    while time.time() < end:
        p.produce(t, str(i).encode(), on_delivery=lambda e, m: delivered.append(e))
        i += 1
        p.poll(0.1)
    eq(p.flush(20), 0, "undelivered")
    print(f"{i} records over 12 s with 4 s sessions; client errors: {[e.str() for e in errs]}", flush=True)
    eq([e for e in delivered if e is not None], [], "delivery errors")
    eq(len(delivered), i, "delivery reports")
    eq([e.str() for e in errs], [], "librdkafka errors (a re-authentication failed or the broker cut it off)")


def closed_or_error(what, fn):
    try:
        r = fn()
    except (ConnectionResetError, BrokenPipeError) as e:
        print(f"{what}: connection closed ({e})", flush=True)
        return None
    except socket.timeout:
        raise AssertionError(f"{what}: no answer and no close within 10 s")
    print(f"{what}: answered {r!r}", flush=True)
    return r


def still_serves():
    """A good PLAIN login on a new connection, then a librdkafka client gets metadata."""
    s = sasl_connect()
    eq(authenticate(s, b"\0alice\0" + PW["alice"].encode())[0], 0, "PLAIN login after the bad frames")
    s.close()
    md = AdminClient(conf("sasl_ssl")).list_topics(timeout=15)
    check(md.brokers, "no brokers in metadata")
    print("broker still serves", flush=True)


def sasl_garbage():
    # 1. PLAIN with garbage auth bytes → SASL_AUTHENTICATION_FAILED (58), or a close.
    s = sasl_connect()
    r = closed_or_error("PLAIN garbage", lambda: authenticate(s, os.urandom(300)))
    if r is not None:
        eq(r[0], 58, "SaslAuthenticate error code (58 = SASL_AUTHENTICATION_FAILED)")
    s.close()
    # 2. SCRAM-SHA-512 with a garbage client-first message.
    s = sasl_connect("SCRAM-SHA-512")
    r = closed_or_error("SCRAM garbage", lambda: authenticate(s, b"\xff\xfen=,r=" + os.urandom(64)))
    if r is not None:
        eq(r[0], 58, "SaslAuthenticate error code (58 = SASL_AUTHENTICATION_FAILED)")
    s.close()
    # 3. A frame of random bytes (no valid request header) after the handshake: closed.
    s = sasl_connect()
    junk = os.urandom(1000)
    r = closed_or_error("random frame", lambda: (s.sendall(struct.pack(">i", len(junk)) + junk), read_frame(s))[1])
    check(r is None or len(r) >= 4, "garbage answer")
    s.close()
    # 4. Metadata before authentication: never served.
    s = sasl_connect()
    r = closed_or_error("Metadata before login", lambda: (s.sendall(frame(3, 1, struct.pack(">i", -1), 5)),
                                                          read_frame(s))[1])
    check(r is None, "Metadata was answered before authentication")
    s.close()
    still_serves()


def scram_nonces():
    """SCRAM client nonces of any printable characters but ',' (RFC 5802), as librdkafka
    makes them (32 characters from '-' to '~', so '=' in two logins of three): each logs in,
    for both mechanisms."""
    import scram_raw
    host, port = E["SEC_SASL_PLAINTEXT"].rsplit(":", 1)
    nonces = ["abc=def", "=3D=2C", "-~" + "".join(chr(c) for c in range(0x2d, 0x7f)), "q" * 32]
    for mech in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
        for n in nonces:
            s = socket.create_connection((host, int(port)), timeout=10)
            try:
                scram_raw.login(s, "alice", PW["alice"], mech, nonce=n)
                print(f"{mech} nonce {n!r}: ok", flush=True)
            except (PermissionError, ValueError, ConnectionError) as e:
                raise AssertionError(f"{mech} login with client nonce {n!r}: {e}")
            finally:
                s.close()


def sasl_100mb():
    """A 100 MiB SaslAuthenticate frame from an unauthenticated client: the broker closes
    the connection without reading it all (Kafka: sasl.server.max.receive.size, 512 KiB)."""
    size = 100 * 1024 * 1024
    s = sasl_connect()
    s.settimeout(10)
    hdr = struct.pack(">hhih", 36, 1, 2, 6) + b"compat" + struct.pack(">i", size - 20)
    sent = 0
    chunk = bytes(1 << 20)
    t0 = time.time()
    closed = None
    try:
        s.sendall(struct.pack(">i", size) + hdr)
        while sent < size:
            s.sendall(chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError) as e:
        closed = e
    except socket.timeout:
        closed = "stopped reading (send blocked 10 s)"
    print(f"sent {sent >> 20} MiB in {time.time() - t0:.2f}s; closed: {closed}", flush=True)
    if closed is None:
        r = closed_or_error("after 100 MiB", lambda: read_frame(s))
        raise AssertionError(f"the broker read the whole 100 MiB frame of an unauthenticated client (then: {r!r})")
    s.close()
    still_serves()


# ------------------------------------------------------------------------------- console

def console_401():
    import base64
    import urllib.error
    import urllib.request
    base = f"http://{E['SEC_HTTP']}"
    for path in ("/api/overview", "/api/topics", "/"):
        try:
            r = urllib.request.urlopen(base + path, timeout=10)
            raise AssertionError(f"GET {path} without a credential: {r.status}")
        except urllib.error.HTTPError as e:
            print(f"GET {path} without credential: {e.code} {e.headers.get('WWW-Authenticate')}", flush=True)
            eq(e.code, 401, f"GET {path} without a credential")
    bad = base64.b64encode(b"console:wrong").decode()
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/api/topics", headers={"Authorization": f"Basic {bad}"}),
                               timeout=10)
        raise AssertionError("wrong console password accepted")
    except urllib.error.HTTPError as e:
        eq(e.code, 401, "GET /api/topics with a wrong password")
    good = base64.b64encode(E["SEC_HTTP_AUTH"].encode()).decode()
    r = urllib.request.urlopen(urllib.request.Request(base + "/api/topics", headers={"Authorization": f"Basic {good}"}),
                               timeout=10)
    eq(r.status, 200, "GET /api/topics with the credential")
    tok = E["SEC_HTTP_TOKEN"]
    r = urllib.request.urlopen(urllib.request.Request(base + "/api/overview", headers={"Authorization": f"Bearer {tok}"}),
                               timeout=10)
    eq(r.status, 200, "GET /api/overview with the bearer token")
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/api/overview",
                                                      headers={"Authorization": "Bearer not-the-token"}), timeout=10)
        raise AssertionError("a wrong bearer token was accepted")
    except urllib.error.HTTPError as e:
        eq(e.code, 401, "GET /api/overview with a wrong bearer token")
    for path in ("/metrics", "/healthz"):
        eq(urllib.request.urlopen(base + path, timeout=10).status, 200, f"GET {path} (open)")


CHECKS = {
    "grant-anonymous": grant_anonymous,
    "ssl-produce-consume": ssl_produce_consume,
    "sasl-ssl-scram-sha-512": lambda: sasl_produce_consume("sasl_ssl", "SCRAM-SHA-512"),
    "sasl-ssl-scram-sha-256": lambda: sasl_produce_consume("sasl_ssl", "SCRAM-SHA-256"),
    "sasl-ssl-plain": lambda: sasl_produce_consume("sasl_ssl", "PLAIN"),
    "sasl-plaintext-plain": lambda: sasl_produce_consume("sasl_plaintext", "PLAIN"),
    "sasl-plaintext-scram-sha-512": lambda: sasl_produce_consume("sasl_plaintext", "SCRAM-SHA-512"),
    "client-cert-principal": client_cert_principal,
    "wrong-password": wrong_password,
    "wrong-password-plain": wrong_password_plain,
    "unknown-user": unknown_user,
    "mechanism-not-enabled": mechanism_not_enabled,
    "untrusted-server-cert": untrusted_server,
    "plaintext-to-tls-port": plaintext_to_tls,
    "mtls-required-no-cert": mtls_no_cert,
    "mtls-required-with-cert": mtls_cert,
    "mtls-required-untrusted-cert": mtls_untrusted_cert,
    "mtls-required-expired-cert": mtls_expired_cert,
    "acl-produce": acl_produce,
    "acl-consume-group-topic": acl_consume,
    "acl-describe-metadata": acl_describe,
    "acl-admin-api": acl_admin_api,
    "sasl-garbage-frames": sasl_garbage,
    "sasl-100mb-frame": sasl_100mb,
    "sasl-reauthentication": sasl_reauth,
    "scram-client-nonces": scram_nonces,
    "console-401": console_401,
}

if __name__ == "__main__":
    main(CHECKS[sys.argv[1]])
