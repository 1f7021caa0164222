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
import multiprocessing as mp
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "compat", "python"))
import scram_raw  # noqa: E402 - the compat suite's raw SCRAM client

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def one(kind, addr, ca, user, password, ctx=[]):  # noqa: B006 - per-process TLS context cache
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if kind != "plaintext":
            if not ctx:
                ctx.append(ssl.create_default_context(cafile=ca))
            s = ctx[0].wrap_socket(s, server_hostname="localhost")
        s.sendall(scram_raw.frame(18, 0, b"", 1))
        scram_raw.recv_frame(s)
        if kind == "tls+scram":
            scram_raw.login(s, user, password)
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
