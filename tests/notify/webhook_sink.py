#!/usr/bin/env python3
"""A webhook receiver on loopback for gardien's tests, Python's standard library only. It
checks each delivery the way docs/webhooks.md tells a receiver to:

1. `Gardien-Signature: t=<unix seconds>,hmac-sha256=<hex>`; the MAC is HMAC-SHA-256 keyed
   with the secret (its ASCII bytes) over `<t>.<raw body>`, compared in constant time;
2. a `t` more than 300 seconds from this machine's clock is refused (a replay);
3. a body `id` already taken (within a day) is answered 200 and not acted on again.

    python webhook_sink.py DIR SECRET_FILE [PORT]

Appends one JSON line per request to DIR/log.jsonl ({"verdict", "delivery", "event",
"signature", "body"}), answers 200 (accepted or duplicate) or 401 (refused), prints
`listening PORT` once ready, and runs until killed. The secret file is read at each
request (the secret is printed by `gardien webhook add` after the receiver starts).
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300


def verify(secret, header, body, now, seen):
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        mac = bytes.fromhex(parts["hmac-sha256"])
    except (KeyError, ValueError):
        return "refused: no t= or hmac-sha256="
    expected = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return "refused: bad signature"
    if abs(now - t) > TOLERANCE:
        return "refused: stale"
    return "accepted"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with open(self.server.secret_file, "rb") as f:
            secret = f.read().strip()
        delivery = self.headers.get("Gardien-Delivery", "")
        verdict = verify(secret, self.headers.get("Gardien-Signature", ""), body, time.time(), self.server.seen)
        if verdict == "accepted":
            # The signed body's id, not the header: a retry or a replay is acknowledged
            # and not acted on twice (remembered for a day; older replays were refused as
            # stale above).
            now = time.time()
            self.server.seen = {d: t for d, t in self.server.seen.items() if now - t <= 86400}
            delivery = str(json.loads(body)["id"])
            if delivery in self.server.seen:
                verdict = "duplicate"
            else:
                self.server.seen[delivery] = now
        with open(os.path.join(self.server.directory, "log.jsonl"), "a") as f:
            f.write(json.dumps({
                "verdict": verdict,
                "delivery": delivery,
                "event": self.headers.get("Gardien-Event"),
                "signature": self.headers.get("Gardien-Signature"),
                "content_type": self.headers.get("Content-Type"),
                "body": body.decode("utf-8", "replace"),
            }) + "\n")
        status = 401 if verdict.startswith("refused") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    directory, secret_file = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(directory, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.allow_reuse_address = True
    server.directory = directory
    server.secret_file = secret_file
    server.seen = {}
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
