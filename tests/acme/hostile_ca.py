#!/usr/bin/env python3
"""A hostile ACME server for gardien's certificate tests (issue 13, WEB-1): it speaks enough
RFC 8555 for instant-acme (nonces, account, order, authorization, challenge, finalize,
certificate) and then lies, in the way the path's first segment says:

  good        signs the CSR (openssl, with the given CA), with junk around the chain
  other-key   returns a certificate for the domain, but for another key than the CSR's
  other-name  asks to prove another name than the one ordered
  bad-token   gives a challenge token that names a path (../../x)
  long        signs the CSR for 9999 days
  short       signs the CSR for 2 days
  ca-leaf     signs the CSR as an authority's certificate (CA:TRUE)
  not-x509    adds a CERTIFICATE block that is not a certificate

Usage: hostile_ca.py PORT TLS_CERT TLS_KEY CA_CERT CA_KEY
The directory of a mode is https://localhost:PORT/MODE/dir. Verifies no signature: it is
not a CA, it is what a broken or malicious one may answer."""
import base64
import http.server
import itertools
import json
import os
import ssl
import subprocess
import sys
import tempfile

PORT, TLS_CERT, TLS_KEY, CA_CERT, CA_KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
BASE = "https://localhost:%s" % PORT
nonce = itertools.count()
orders = {}  # mode -> {"domain", "status", "csr"}


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def sign(csr_der, days, ca=False):
    with tempfile.TemporaryDirectory() as d:
        csr = os.path.join(d, "csr.der")
        ext = os.path.join(d, "ext.cnf")
        with open(csr, "wb") as f:
            f.write(csr_der)
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:%s\n" % (orders["domain"], "TRUE" if ca else "FALSE"))
        return openssl("x509", "-req", "-inform", "DER", "-in", csr, "-CA", CA_CERT, "-CAkey", CA_KEY,
                       "-CAcreateserial", "-CAserial", os.path.join(d, "serial"), "-days", str(days),
                       "-extfile", ext).decode()


def other_key_cert():
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "k.pem")
        csr = os.path.join(d, "c.der")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-outform", "DER", "-out", csr, "-subj", "/CN=" + orders["domain"])
        with open(csr, "rb") as f:
            return sign(f.read(), 90)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, ctype="application/json", location=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Replay-Nonce", "n%d" % next(nonce))
        self.send_header("Content-Type", ctype)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.reply(200, b"")

    def do_GET(self):
        mode = self.path.split("/")[1]
        b = "%s/%s" % (BASE, mode)
        if self.path.endswith("/dir"):
            self.reply(200, {"newNonce": b + "/nonce", "newAccount": b + "/account", "newOrder": b + "/order",
                             "revokeCert": b + "/revoke", "keyChange": b + "/key-change"})
        else:
            self.reply(200, b"")

    def order(self, b):
        o = {"status": orders["status"], "identifiers": [{"type": "dns", "value": orders["domain"]}],
             "authorizations": [b + "/authz/1"], "finalize": b + "/finalize/1"}
        if orders["status"] == "valid":
            o["certificate"] = b + "/cert/1"
        return o

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        payload = json.loads(body).get("payload", "")
        mode, what = self.path.split("/")[1], "/".join(self.path.split("/")[2:])
        b = "%s/%s" % (BASE, mode)
        if what == "account":
            self.reply(201, {"status": "valid"}, location=b + "/account/1")
        elif what.startswith("account/"):
            self.reply(200, {"status": "valid"})
        elif what == "order":
            orders.update(domain=json.loads(b64d(payload))["identifiers"][0]["value"], status="pending")
            self.reply(201, self.order(b), location=b + "/order/1")
        elif what == "order/1":
            self.reply(200, self.order(b))
        elif what == "authz/1":
            name = "evil.example.com" if mode == "other-name" else orders["domain"]
            token = "../../x" if mode == "bad-token" else "T0ken_-abc"
            self.reply(200, {"status": "pending", "identifier": {"type": "dns", "value": name},
                             "challenges": [{"type": "http-01", "url": b + "/challenge/1", "token": token,
                                             "status": "pending"}]})
        elif what == "challenge/1":
            orders["status"] = "ready"
            self.reply(200, {"type": "http-01", "url": b + "/challenge/1", "token": "T0ken_-abc",
                             "status": "processing"})
        elif what == "finalize/1":
            csr = b64d(json.loads(b64d(payload))["csr"])
            if mode == "other-key":
                orders["chain"] = other_key_cert()
            elif mode == "long":
                orders["chain"] = sign(csr, 9999)
            elif mode == "short":
                orders["chain"] = sign(csr, 2)
            elif mode == "ca-leaf":
                orders["chain"] = sign(csr, 90, ca=True)
            elif mode == "not-x509":
                orders["chain"] = sign(csr, 90) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            else:
                leaf = sign(csr, 90)
                with open(CA_CERT) as f:
                    ca = f.read()
                orders["chain"] = ("\x1b[31mjunk\n" + leaf + "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                   "-----END PRIVATE KEY-----\n" + ca)
            orders["status"] = "valid"
            self.reply(200, self.order(b))
        elif what == "cert/1":
            self.reply(200, orders["chain"], ctype="application/pem-certificate-chain")
        else:
            self.reply(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "no such resource"})

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(TLS_CERT, TLS_KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
