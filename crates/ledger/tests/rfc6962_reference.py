#!/usr/bin/env python3
"""An independent RFC 6962 reference, written from the RFC's recursive definitions
(section 2.1) with nothing shared with the Rust code: for leaves "leaf-0".."leaf-(N-1)",
prints JSON with every root, every inclusion path and every consistency proof."""
import base64, hashlib, json, sys

def h(b): return hashlib.sha256(b).digest()
def leaf(d): return h(b"\x00" + d)
def node(l, r): return h(b"\x01" + l + r)

def k_of(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k

def mth(d):
    n = len(d)
    if n == 0: return h(b"")
    if n == 1: return leaf(d[0])
    k = k_of(n)
    return node(mth(d[:k]), mth(d[k:]))

def path(m, d):
    n = len(d)
    if n <= 1: return []
    k = k_of(n)
    if m < k: return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]

def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k: return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]

def proof(m, d):
    return [] if m == 0 or m == len(d) else subproof(m, d, True)

b64 = lambda x: base64.b64encode(x).decode()
N = int(sys.argv[1])
d = [f"leaf-{i}".encode() for i in range(N)]
out = {"roots": [b64(mth(d[:n])) for n in range(N + 1)],
       "inclusion": {f"{m}/{n}": [b64(x) for x in path(m, d[:n])] for n in range(1, N + 1) for m in range(n)},
       "consistency": {f"{m}/{n}": [b64(x) for x in proof(m, d[:n])] for n in range(1, N + 1) for m in range(0, n + 1)}}
json.dump(out, sys.stdout)
