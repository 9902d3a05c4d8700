#!/usr/bin/env python3
"""The secure drop's tus 1.0 endpoint, driven by a real client: tuspy (tus-py-client).

Runs the binary named by $GARDIEN_BIN on a throwaway data dir with one `gardien serve` on
loopback, and opens one drop per case (a drop takes one file):

  a. a ~12 MiB age file in 1 MiB chunks, each PATCH with a sha1 Upload-Checksum (tuspy's
     `upload_checksum=True`); the dataset lands and its plaintext round-trips via `copy out`.
  b. interrupted and resumed: a child process uploads ~40 MiB in 512 KiB chunks, slowed down,
     and is SIGKILLed mid-way; a HEAD shows 0 < Upload-Offset < Upload-Length; a new process
     resumes with tuspy's `url=` and finishes; the dataset round-trips.
  c1. a PATCH whose sha1 Upload-Checksum does not match (tuspy with a broken digest) is
      answered 460, the offset stays, then tuspy finishes the same upload.
  c2. a PATCH whose body was altered after its sha256 was taken (http.client) is answered
      460, the offset stays, then tuspy finishes the same upload.

Needs tuspy (requirements.txt beside this file) and Debian's `age`. Prints `# pass N` and
`# fail M` at the end and exits non-zero on any failure.

    python3 -m venv /tmp/tusvenv && /tmp/tusvenv/bin/pip install -r tests/drop/requirements.txt
    GARDIEN_BIN=target/release/gardien /tmp/tusvenv/bin/python tests/drop/tuspy_test.py
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

MIB = 1024 * 1024


# --------------------------------------------------------------------------------------
# The child process of case b: a tuspy upload, slowed down, that the parent kills.
# --------------------------------------------------------------------------------------

def child_upload(argv):
    """`tuspy_test.py --child ENDPOINT TOKEN FILE CHUNK SLEEP [URL]`: upload FILE with tuspy,
    printing `url U` once the upload exists and `offset N` after every chunk."""
    from tusclient import client as tus_client

    endpoint, token, path, chunk, pause = argv[:5]
    url = argv[5] if len(argv) > 5 else None
    tc = tus_client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
    up = tc.uploader(file_path=path, chunk_size=int(chunk), url=url, upload_checksum=True)
    if not up.url:
        up.set_url(up.create_url())
        up.offset = 0
    print("url", up.url, flush=True)
    print("offset", up.offset, flush=True)
    size = up.get_file_size()
    while up.offset < size:
        up.upload_chunk()
        print("offset", up.offset, flush=True)
        time.sleep(float(pause))
    print("done", flush=True)


# --------------------------------------------------------------------------------------
# The harness: a data dir, a server, drops.
# --------------------------------------------------------------------------------------

class Gardien:
    def __init__(self, binary, root):
        self.bin = binary
        self.root = root
        self.data = os.path.join(root, "data")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GARDIEN_")}
        self.env["GARDIEN_DATA_DIR"] = self.data
        self.server = None
        self.base = None
        self.stderr_path = os.path.join(root, "serve.stderr")

    def run(self, *args, as_=None, check=True):
        cmd = [self.bin] + (["--as", as_] if as_ else []) + list(args)
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return p

    def setup(self):
        self.run("init", "--operator", "hebergeur.example")
        self.run("client", "add", "acme", "--name", "ACME Formation")
        self.run("person", "add", "tom", "--role", "technical-operator")
        self.run("contract", "add", "case-1", "--client", "acme", "--presales-until", "2027-06-30")
        self.run("environment", "add", "laptop", "--kind", "local-test", "--holder", "tom")

    def serve(self):
        err = open(self.stderr_path, "wb")
        self.server = subprocess.Popen(
            [self.bin, "serve", "--listen", "127.0.0.1:0"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        err.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.stderr_path, "r", errors="replace") as f:
                m = re.search(r"gardien listening on (http://127\.0\.0\.1:\d+)", f.read())
            if m:
                self.base = m.group(1)
                return
            if self.server.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("gardien serve did not start:\n" + self.server_stderr())

    def stop(self):
        if self.server and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()

    def server_stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def new_drop(self):
        """A fresh drop and an open upload session: (drop id, session JSON)."""
        drop = json.loads(self.run("drop", "create", "--client", "acme", "--to", "tom",
                                   "--contract", "case-1", "--json").stdout)
        status, body = self.open_session(drop)
        assert status == 200, "session open answered %d: %r" % (status, body)
        sess = json.loads(body)
        assert sess["tus_endpoint"] == "/tus/", sess
        assert sess["recipient"] == drop["recipient"], (sess, drop)
        return drop, sess

    def open_session(self, drop):
        req = urllib.request.Request(
            self.base + drop["url"] + "/session", method="POST",
            data=json.dumps({"password": drop["password"]}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def tus_endpoint(self, sess):
        return self.base + sess["tus_endpoint"]

    def assert_received(self, drop, plain_path, work):
        """The drop is `received`, its dataset holds the plaintext, and `copy out` gives it
        back byte for byte. A second session open on the drop is refused (403)."""
        shown = json.loads(self.run("drop", "show", drop["id"], "--json").stdout)
        assert shown["state"] == "received", shown
        ds = shown.get("dataset") or ""
        assert ds.startswith("ds-"), shown
        with open(plain_path, "rb") as f:
            plain = f.read()
        want = hashlib.sha256(plain).hexdigest()
        info = json.loads(self.run("dataset", "show", ds, "--json", as_="tom").stdout)
        assert info["size"] == len(plain), (info["size"], len(plain))
        assert info["sha256"] == want, (info["sha256"], want)
        out = os.path.join(work, "copy-out.bin")
        assert not os.path.exists(out)
        self.run("copy", "out", ds, "--to", "laptop", "-o", out, as_="tom")
        with open(out, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        assert got == want, "copy out gave sha256 %s, the plaintext is %s" % (got, want)
        status, body = self.open_session(drop)
        assert status == 403, "a session on a received drop answered %d: %r" % (status, body)
        return ds


def make_age_file(work, name, size, recipient):
    plain = os.path.join(work, name)
    with open(plain, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    enc = plain + ".age"
    subprocess.run(["age", "-r", recipient, "-o", enc, plain], check=True)
    return plain, enc


def tus_request(method, url, token, headers=None, body=None):
    """One raw tus request: (status, lower-cased headers, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + token}
    h.update(headers or {})
    conn.request(method, u.path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def head_offset(url, token):
    status, h, _ = tus_request("HEAD", url, token)
    assert status == 200, "HEAD %s answered %d %r" % (url, status, h)
    return int(h["upload-offset"]), int(h["upload-length"]) if "upload-length" in h else None


# --------------------------------------------------------------------------------------
# The cases.
# --------------------------------------------------------------------------------------

def case_a_checksummed_chunks(g, work):
    """~12 MiB in 1 MiB chunks, each with a sha1 Upload-Checksum; the dataset round-trips."""
    from tusclient import client as tus_client

    drop, sess = g.new_drop()
    plain, enc = make_age_file(work, "a.bin", 12 * MIB + 12345, sess["recipient"])
    tc = tus_client.TusClient(g.tus_endpoint(sess),
                              headers={"Authorization": "Bearer " + sess["upload_token"]})
    up = tc.uploader(file_path=enc, chunk_size=1 * MIB, upload_checksum=True,
                     metadata={"filename": "a.bin.age"})
    assert up.checksum_algorithm_name == "sha1"
    up.upload()
    size = os.path.getsize(enc)
    assert up.offset == size, (up.offset, size)
    assert up.request.response_headers.get("upload-offset") == str(size)
    assert up.url.startswith(g.base + "/tus/up-"), up.url
    g.assert_received(drop, plain, work)


def case_b_interrupted_and_resumed(g, work):
    """A tuspy process killed mid-upload; a new one resumes from the server's offset."""
    drop, sess = g.new_drop()
    plain, enc = make_age_file(work, "b.bin", 40 * MIB, sess["recipient"])
    size = os.path.getsize(enc)
    token = sess["upload_token"]
    me = os.path.abspath(__file__)
    args = [sys.executable, me, "--child", g.tus_endpoint(sess), token, enc, str(512 * 1024)]

    first = subprocess.Popen(args + ["0.02"], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    url, last = None, 0
    deadline = time.time() + 40
    try:
        for line in first.stdout:
            word, _, value = line.strip().partition(" ")
            if word == "url":
                url = value
            elif word == "offset":
                last = int(value)
                if last >= 8 * MIB:
                    break
            if time.time() > deadline:
                break
    finally:
        # SIGKILL, no goodbye: the child may be in the middle of a PATCH or between two.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        first.stdout.close()
    assert url and url.startswith(g.base + "/tus/up-"), url
    assert last >= 8 * MIB, "the first process stopped at offset %d" % last

    offset, length = head_offset(url, token)
    assert 0 < offset < size, "after the kill the offset is %d of %d" % (offset, size)
    assert length == size, (length, size)
    assert offset >= last, "the server lost acknowledged bytes: %d < %d" % (offset, last)

    second = subprocess.run(args + ["0", url], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, "resume exited %d: %s" % (second.returncode, second.stderr)
    lines = second.stdout.split("\n")
    assert lines[0] == "url " + url, lines[:2]
    resumed_at = int(lines[1].split()[1])
    assert resumed_at == offset, "tuspy resumed at %d, HEAD said %d" % (resumed_at, offset)
    assert "done" in lines, second.stdout[-300:]
    assert lines[-3] == "offset %d" % size, lines[-4:]
    g.assert_received(drop, plain, work)


def _checksummed_upload_at_1mib(g, work, name):
    """A drop, its ~3 MiB age file, and a tuspy upload whose first 1 MiB chunk (with its
    sha1) was accepted: (drop, plain, enc, token, client, url)."""
    from tusclient import client as tus_client

    drop, sess = g.new_drop()
    plain, enc = make_age_file(work, name, 3 * MIB + 777, sess["recipient"])
    token = sess["upload_token"]
    tc = tus_client.TusClient(g.tus_endpoint(sess), headers={"Authorization": "Bearer " + token})
    good = tc.uploader(file_path=enc, chunk_size=1 * MIB, upload_checksum=True)
    good.upload_chunk()
    assert good.offset == MIB, good.offset
    assert head_offset(good.url, token)[0] == MIB
    return drop, plain, enc, token, tc, good.url


def _finish_with_tuspy(g, work, drop, plain, enc, token, tc, url):
    rest = tc.uploader(file_path=enc, url=url, chunk_size=1 * MIB, upload_checksum=True)
    assert rest.offset == MIB, "tuspy resumed at %d, not 1 MiB" % rest.offset
    rest.upload()
    size = os.path.getsize(enc)
    assert rest.offset == size, (rest.offset, size)
    g.assert_received(drop, plain, work)


def case_c1_wrong_checksum_refused(g, work):
    """tuspy sends a chunk whose sha1 Upload-Checksum is not the chunk's: 460, the offset
    stays, and tuspy then finishes the same upload."""
    from tusclient.exceptions import TusUploadFailed
    from tusclient.uploader import Uploader

    drop, plain, enc, token, tc, url = _checksummed_upload_at_1mib(g, work, "c1.bin")

    # tuspy with a broken sha1: the header names sha1 but the digest is of other bytes.
    class WrongSha1(Uploader):
        CHECKSUM_ALGORITHM_PAIR = ("sha1", lambda data: hashlib.sha1(b"not the chunk" + data))

    bad = WrongSha1(file_path=enc, url=url, client=tc, chunk_size=1 * MIB, upload_checksum=True)
    assert bad.offset == MIB, bad.offset
    try:
        bad.upload_chunk()
    except TusUploadFailed as e:
        assert e.status_code == 460, "a wrong sha1 answered %r: %r" % (e.status_code, e.response_content)
    else:
        raise AssertionError("a wrong sha1 was accepted: %r" % (bad.request.response_headers,))
    assert head_offset(url, token)[0] == MIB, "the offset moved after a 460"

    _finish_with_tuspy(g, work, drop, plain, enc, token, tc, url)


def case_c2_corrupted_body_refused(g, work):
    """A chunk altered on the way (one bit of its body flipped after its sha256 was taken)
    is what the checksum extension is for: 460, the chunk is not kept, the offset stays,
    the upload goes on. (Sent with http.client: tuspy hashes the bytes it sends.)"""
    drop, plain, enc, token, tc, url = _checksummed_upload_at_1mib(g, work, "c2.bin")

    with open(enc, "rb") as f:
        f.seek(MIB)
        chunk = f.read(MIB)
    digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    corrupted = bytearray(chunk)
    corrupted[len(corrupted) // 2] ^= 0x01
    status, h, body = tus_request("PATCH", url, token, body=bytes(corrupted), headers={
        "Upload-Offset": str(MIB),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": "sha256 " + digest,
    })
    assert status == 460, "a chunk whose body does not match its Upload-Checksum answered %d " \
        "(want 460): %r" % (status, body)
    assert head_offset(url, token)[0] == MIB, "the offset moved after a 460"

    _finish_with_tuspy(g, work, drop, plain, enc, token, tc, url)


CASES = [
    case_a_checksummed_chunks,
    case_b_interrupted_and_resumed,
    case_c1_wrong_checksum_refused,
    case_c2_corrupted_body_refused,
]


def main():
    binary = os.environ.get("GARDIEN_BIN")
    if not binary:
        print("GARDIEN_BIN must name the gardien binary", file=sys.stderr)
        print("# pass 0\n# fail 1")
        return 1
    binary = os.path.abspath(binary)
    root = tempfile.mkdtemp(prefix="gardien-tuspy-")
    g = Gardien(binary, root)
    passed = failed = 0
    started = time.time()
    try:
        g.setup()
        g.serve()
        for case in CASES:
            work = os.path.join(root, case.__name__)
            os.makedirs(work)
            t0 = time.time()
            try:
                case(g, work)
            except Exception:
                failed += 1
                print("not ok - %s (%.1fs)" % (case.__name__, time.time() - t0))
                traceback.print_exc(file=sys.stdout)
            else:
                passed += 1
                print("ok - %s (%.1fs)" % (case.__name__, time.time() - t0))
            shutil.rmtree(work, ignore_errors=True)
    except Exception:
        failed += 1
        print("not ok - setup")
        traceback.print_exc(file=sys.stdout)
    finally:
        g.stop()
    if failed:
        print("--- gardien serve stderr ---\n" + g.server_stderr())
        print("data dir kept in " + root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print("tuspy drop tests: %.1fs" % (time.time() - started))
    print("# pass %d" % passed)
    print("# fail %d" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_upload(sys.argv[2:])
    else:
        sys.exit(main())
