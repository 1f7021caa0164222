"""Shared helpers for the compat/python programs: bootstrap address, unique names,
deterministic record content, assertions with readable messages."""
import os
import sys
import time
import uuid

BOOTSTRAP = os.environ.get("BOOTSTRAP", "127.0.0.1:9092")
# The broker is started with --node-id 0; a peer broker used for development may differ.
NODE_ID = int(os.environ.get("COMPAT_NODE_ID", "0"))


def topic_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def record(i, codec="none"):
    """Key, value, headers and timestamp of record i (deterministic, compressible)."""
    key = f"key-{i:06d}".encode()
    value = (f"value {i} {codec} " * (1 + i % 7)).encode() + bytes([i % 256])
    headers = [
        ("h-index", str(i).encode()),
        ("dup", b"first"),
        ("dup", b"second"),       # duplicate header keys: order must be preserved
        ("empty", b""),
        ("dup", str(i % 3).encode()),
    ]
    return key, value, headers


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def wait_until(fn, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            r = fn()
            if r:
                return r
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def main(fn):
    """Run fn(); print OK or the assertion and exit non-zero."""
    t0 = time.time()
    try:
        fn()
    except AssertionError as e:
        print(f"ASSERTION FAILED: {e}", flush=True)
        sys.exit(1)
    print(f"OK ({time.time() - t0:.1f}s)", flush=True)
