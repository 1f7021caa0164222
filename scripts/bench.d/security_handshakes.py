#!/usr/bin/env python3
"""New Kafka connections per second, and the broker's CPU per connection, by security.

    security_handshakes.py BROKER_PID CA_PEM PLAINTEXT SSL SASL_SSL USER PASSWORD [SECONDS]

Three kinds of connection, each opened and closed in a loop by 2 processes for SECONDS
(default 5) against the listeners given (host:port):
  plaintext   TCP connect + ApiVersions v0
  tls         TCP + TLS handshake (verifying the broker's certificate against CA_PEM) +
              ApiVersions v0
  tls+scram   the same + SaslHandshake v1 (SCRAM-SHA-512) + SaslAuthenticate v1 twice
              (client-first, client-final), the server signature verified
Prints connections/s and broker CPU (utime+stime of BROKER_PID from /proc, 10 ms ticks)
per connection. The client's PBKDF2 of the salted password is computed once per salt and
reused (a real client computes it per login; the broker's side is the figure of interest).
A benchmark, not a test: it asserts nothing beyond each login succeeding."""
import base64
import hashlib
import hmac
import multiprocessing as mp
import os
import socket
import ssl
import struct
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def frame(api_key, version, body, corr):
    hdr = struct.pack(">hhih", api_key, version, corr, 5) + b"bench"
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


def recv_frame(s):
    def n(k):
        buf = bytearray()
        while len(buf) < k:
            c = s.recv(k - len(buf))
            if not c:
                raise ConnectionError("closed")
            buf += c
        return bytes(buf)
    return n(struct.unpack(">i", n(4))[0])


def sasl_auth(s, data, corr):
    s.sendall(frame(36, 1, struct.pack(">i", len(data)) + data, corr))
    r = recv_frame(s)[4:]
    err, mlen = struct.unpack(">hh", r[:4])
    pos = 4 + max(mlen, 0)
    blen, = struct.unpack(">i", r[pos:pos + 4])
    if err:
        raise RuntimeError(f"SaslAuthenticate error {err}: {r[4:4 + max(mlen, 0)].decode()}")
    return r[pos + 4:pos + 4 + blen]


_salted = {}


def scram_login(s, user, password):
    h = hashlib.sha512
    s.sendall(frame(17, 1, struct.pack(">h", 13) + b"SCRAM-SHA-512", 2))
    err, = struct.unpack(">h", recv_frame(s)[4:6])
    if err:
        raise RuntimeError(f"SaslHandshake error {err}")
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={cnonce}"
    server_first = sasl_auth(s, ("n,," + first_bare).encode(), 3).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce), server_first
    key = (attrs["s"], attrs["i"])
    if key not in _salted:
        _salted[key] = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    salted = _salted[key]
    client_key = hmac.new(salted, b"Client Key", h).digest()
    final_wo = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo}".encode()
    sig = hmac.new(h(client_key).digest(), auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    server_final = sasl_auth(s, f"{final_wo},p={base64.b64encode(proof).decode()}".encode(), 4).decode()
    server_key = hmac.new(salted, b"Server Key", h).digest()
    want = base64.b64encode(hmac.new(server_key, auth_msg, h).digest()).decode()
    assert server_final == f"v={want}", f"server signature mismatch: {server_final}"


def one(kind, addr, ca, user, password, ctx=[]):  # noqa: B006 - per-process TLS context cache
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if kind != "plaintext":
            if not ctx:
                ctx.append(ssl.create_default_context(cafile=ca))
            s = ctx[0].wrap_socket(s, server_hostname="localhost")
        s.sendall(frame(18, 0, b"", 1))
        recv_frame(s)
        if kind == "tls+scram":
            scram_login(s, user, password)
    finally:
        s.close()


def worker(kind, addr, ca, user, password, seconds, q):
    n = 0
    end = time.time() + seconds
    while time.time() < end:
        one(kind, addr, ca, user, password)
        n += 1
    q.put(n)


def main():
    pid, ca, plain, tls, sasl, user, password = sys.argv[1:8]
    seconds = float(sys.argv[8]) if len(sys.argv) > 8 else 5.0
    for kind, addr in (("plaintext", plain), ("tls", tls), ("tls+scram", sasl)):
        one(kind, addr, ca, user, password)  # warm-up, and a login that must succeed
        q = mp.Queue()
        c0, t0 = cpu_s(pid), time.time()
        procs = [mp.Process(target=worker, args=(kind, addr, ca, user, password, seconds, q)) for _ in range(2)]
        for p in procs:
            p.start()
        n = sum(q.get() for _ in procs)
        for p in procs:
            p.join()
        dt, dc = time.time() - t0, cpu_s(pid) - c0
        print(f"  {kind:<10} {n / dt:8.0f} connections/s   broker CPU {dc / n * 1e6:7.0f} us/connection"
              f"   ({n} in {dt:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
