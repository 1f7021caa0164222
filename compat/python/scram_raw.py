"""A raw-socket Kafka SASL/SCRAM client (RFC 5802 over SaslHandshake v1 + SaslAuthenticate
v1), standard library only: used by ck_security.py (a client nonce of any printable
characters, as librdkafka makes them) and scripts/bench.d/security_handshakes.py (logins per
second). Verifies the server's signature."""
import base64
import hashlib
import hmac
import os
import struct

# PBKDF2 results by (password, salt, iterations, hash): a benchmark logs in thousands of times.
_salted = {}


def frame(api_key, version, body, corr):
    hdr = struct.pack(">hhih", api_key, version, corr, 6) + b"compat"
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


def recv_frame(s):
    def n(k):
        buf = bytearray()
        while len(buf) < k:
            c = s.recv(k - len(buf))
            if not c:
                raise ConnectionError("closed by the broker")
            buf += c
        return bytes(buf)
    return n(struct.unpack(">i", n(4))[0])


def authenticate(s, data, corr):
    """SaslAuthenticate v1 → auth bytes; raises on an error code."""
    s.sendall(frame(36, 1, struct.pack(">i", len(data)) + data, corr))
    r = recv_frame(s)[4:]
    err, mlen = struct.unpack(">hh", r[:4])
    pos = 4 + max(mlen, 0)
    if err:
        raise PermissionError(f"SaslAuthenticate error {err}: {r[4:pos].decode()}")
    blen, = struct.unpack(">i", r[pos:pos + 4])
    return r[pos + 4:pos + 4 + blen]


def login(s, user, password, mechanism="SCRAM-SHA-512", nonce=None):
    """SaslHandshake + the two SCRAM rounds on a connected socket (ApiVersions optional)."""
    h = {"SCRAM-SHA-512": hashlib.sha512, "SCRAM-SHA-256": hashlib.sha256}[mechanism]
    m = mechanism.encode()
    s.sendall(frame(17, 1, struct.pack(">h", len(m)) + m, 2))
    err, = struct.unpack(">h", recv_frame(s)[4:6])
    if err:
        raise PermissionError(f"SaslHandshake error {err}")
    cnonce = nonce or base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={cnonce}"
    server_first = authenticate(s, ("n,," + first_bare).encode(), 3).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(cnonce):
        raise ValueError(f"server nonce does not extend ours: {server_first}")
    key = (password, attrs["s"], attrs["i"], mechanism)
    if key not in _salted:
        _salted[key] = hashlib.pbkdf2_hmac(h().name, password.encode(), base64.b64decode(attrs["s"]),
                                           int(attrs["i"]))
    salted = _salted[key]
    client_key = hmac.new(salted, b"Client Key", h).digest()
    final_wo = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo}".encode()
    sig = hmac.new(h(client_key).digest(), auth_msg, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    server_final = authenticate(s, f"{final_wo},p={base64.b64encode(proof).decode()}".encode(), 4).decode()
    server_key = hmac.new(salted, b"Server Key", h).digest()
    want = base64.b64encode(hmac.new(server_key, auth_msg, h).digest()).decode()
    if server_final != f"v={want}":
        raise ValueError(f"server signature mismatch: {server_final}")
