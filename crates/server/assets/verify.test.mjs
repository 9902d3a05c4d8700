// The in-browser verifier against the real binary's proofs and certificates:
//   node --test crates/server/assets/verify.test.mjs
// GARDIEN_BIN names the binary (default /work/main/target/release/gardien); it is copied
// into a fresh temp dir first (a build may replace it meanwhile) and every data dir lives
// there. Each refusal is also asked of the Rust verifier (`ledger verify-proof`,
// `certificate verify --key`), and the two must agree. Nothing is skipped: a missing
// binary fails the run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { EVENT_ACTIONS, attach, parseVerifierKey, verifyCertificate, verifyProof } from './verify.js';

const SOURCE_BIN = process.env.GARDIEN_BIN || '/work/main/target/release/gardien';
const ORIGIN = 'hebergeur.example/gardien';

let T; // the temp dir
let BIN; // the copied binary
let ENV; // the environment of every child
const w = {}; // what the binary made

function gardien(dataDir, args, opts = {}) {
  return execFileSync(BIN, ['--data-dir', dataDir, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
const text = (b) => Buffer.from(b).toString('utf8');

before(() => {
  if (!fs.existsSync(SOURCE_BIN)) {
    throw new Error(`no gardien binary at ${SOURCE_BIN}: build it or set GARDIEN_BIN`);
  }
  T = fs.mkdtempSync(path.join(os.tmpdir(), 'gardien-verify-js-'));
  BIN = path.join(T, 'gardien');
  fs.copyFileSync(SOURCE_BIN, BIN);
  fs.chmodSync(BIN, 0o755);
  fs.mkdirSync(path.join(T, 'tmp'));
  ENV = { PATH: process.env.PATH, HOME: T, TMPDIR: path.join(T, 'tmp') };
  const data = path.join(T, 'data');
  const g = (...args) => text(gardien(data, args));

  g('init', '--operator', 'hebergeur.example');
  g('client', 'add', 'acme', '--name', 'ACME Formation');
  g('contract', 'add', 'trial', '--client', 'acme', '--presales-until', '2099-12-31');
  g('person', 'add', 'jdupont', '--role', 'technical-operator');
  const sample = path.join(T, 'sample.csv');
  fs.writeFileSync(sample, 'id,name\n1,<script>alert(1)</script>\n');
  w.dataset = g('dataset', 'ingest', sample, '--client', 'acme', '--class', 'presales-sample', '--contract', 'trial',
    '--to', 'jdupont', '--provider', 'ACME').trim();
  const events = JSON.parse(g('ledger', 'list', '--json'));
  const ingest = events.find((e) => e.action === 'dataset:ingest');
  assert.ok(ingest, 'the ingest is in the ledger');
  w.index = ingest.index;
  w.ingest = ingest;
  w.proof = gardien(data, ['ledger', 'proof', String(w.index)]);
  w.entry = gardien(data, ['ledger', 'entry', String(w.index)]);
  w.prevEntry = gardien(data, ['ledger', 'entry', String(w.index - 1)]);
  w.key = g('ledger', 'key').trim();

  // The destruction: the case is lost, so the sample is due now (PRE-6), and the sweep
  // issues the certificate.
  g('contract', 'deal', 'trial', '--lost');
  g('sweep');
  const certPath = path.join(T, 'cert.txt');
  gardien(data, ['certificate', 'export', w.dataset, '-o', certPath]);
  w.cert = fs.readFileSync(certPath);

  // Another data dir with the same operator name: the same key name, another key.
  const other = path.join(T, 'other');
  gardien(other, ['init', '--operator', 'hebergeur.example']);
  w.otherKey = text(gardien(other, ['ledger', 'key'])).trim();
  const third = path.join(T, 'third');
  gardien(third, ['init', '--operator', 'autre.example']);
  w.foreignKey = text(gardien(third, ['ledger', 'key'])).trim();

  // The signing key of the first data dir, to re-sign edited notes: then only the checks
  // under the signature can refuse them.
  const sk = fs.readFileSync(path.join(data, 'keys', 'signing.key'), 'utf8').trim();
  const rest = sk.slice('PRIVATE+KEY+'.length);
  const [name, id] = rest.split('+', 2);
  const raw = Buffer.from(rest.slice(name.length + id.length + 2), 'base64');
  assert.equal(raw[0], 1);
  w.signer = {
    name,
    id: Buffer.from(id, 'hex'),
    key: crypto.createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), raw.subarray(1)]),
      format: 'der',
      type: 'pkcs8',
    }),
  };
});

after(() => {
  if (T) fs.rmSync(T, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Helpers

/** A signed note of `body` (ending in a newline) by the first data dir's key. */
function sign(body) {
  const sig = crypto.sign(null, Buffer.from(body, 'utf8'), w.signer.key);
  return `${body}\n\u2014 ${w.signer.name} ${Buffer.concat([w.signer.id, sig]).toString('base64')}\n`;
}
const noteBody = (note) => note.slice(0, note.lastIndexOf('\n\n') + 1);
const resign = (note) => sign(noteBody(note));

let seq = 0;
function tmpFile(bytes) {
  const p = path.join(T, `in-${seq++}`);
  fs.writeFileSync(p, bytes);
  return p;
}

/** The Rust verifiers' answers, offline, as a client runs them. */
const rust = {
  proof(proof, entry, key) {
    const args = ['--data-dir', '/nonexistent', 'ledger', 'verify-proof', '--key', key, '--proof', tmpFile(proof)];
    const r = spawnSync(BIN, [...args, '--entry', tmpFile(entry)], { env: ENV });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  },
  cert(cert, key) {
    const args = ['--data-dir', '/nonexistent', 'certificate', 'verify', tmpFile(cert), '--key', key];
    const r = spawnSync(BIN, args, { env: ENV });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  },
};

/** The JS answer, checked against the Rust one. */
async function proofBoth(proof, entry, key = w.key, what = '') {
  const js = await verifyProof(new Uint8Array(Buffer.from(proof)), key, new Uint8Array(Buffer.from(entry)));
  const rs = rust.proof(Buffer.from(proof), Buffer.from(entry), key);
  assert.equal(js.ok, rs.ok, `${what}: JS says ${JSON.stringify(js.errors)}, Rust says ${rs.out}`);
  return js;
}
async function certBoth(cert, key = w.key, what = '') {
  const js = await verifyCertificate(new Uint8Array(Buffer.from(cert)), key);
  const rs = rust.cert(Buffer.from(cert), key);
  assert.equal(js.ok, rs.ok, `${what}: JS says ${JSON.stringify(js.errors)}, Rust says ${rs.out}`);
  return js;
}
function refused(r, pattern, what) {
  assert.equal(r.ok, false, `${what} was accepted`);
  assert.deepEqual(r.facts, {}, `${what}: no facts from a refused input`);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], pattern, what);
}

/** Replaces the character at `i` of `s` with another base64 character. */
function otherB64Char(s, i) {
  return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

/** Flips bit 0 of decoded byte `off` of a base64 value: exactly one character changes. */
function flipDecoded(b64, off) {
  const b = Buffer.from(b64, 'base64');
  b[off] ^= 1;
  const out = b.toString('base64');
  let changed = 0;
  for (let i = 0; i < out.length; i++) if (out[i] !== b64[i]) changed++;
  assert.equal(changed, 1, 'one base64 character');
  return out;
}

/** An offset in the first hash line of a proof where flipping bit 0 leaves a base64 letter. */
function hashByte(proofText) {
  let at = proofText.indexOf('\n', proofText.indexOf('\nindex ') + 1) + 5;
  while (!/[A-Za-z0-9]/.test(String.fromCharCode(proofText.charCodeAt(at) ^ 1))) at++;
  return at;
}

const certField = (cert, k) => cert.split('\n').find((l) => l.startsWith(`${k} `)).slice(k.length + 1);
function setCertField(cert, k, v) {
  return cert.replace(`\n${k} ${certField(cert, k)}\n`, `\n${k} ${v}\n`);
}
const innerProof = (cert) => Buffer.from(certField(cert, 'ledger-tlog-proof'), 'base64').toString('utf8');
const withInnerProof = (cert, proofText) =>
  resign(setCertField(cert, 'ledger-tlog-proof', Buffer.from(proofText).toString('base64')));

/** The proof with line `i` of its checkpoint replaced, re-signed: a valid signature. */
function proofWithCheckpointLine(proofText, i, value) {
  const at = proofText.indexOf('\n\n');
  const cp = proofText.slice(at + 2);
  const lines = noteBody(cp).split('\n');
  lines[i] = value;
  return proofText.slice(0, at + 2) + sign(lines.join('\n'));
}
const proofWithSize = (proofText, size) => proofWithCheckpointLine(proofText, 1, String(size));

// RFC 6962 §2.1 from its definitions, independent of verify.js: MTH and PATH.
const sha = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const leafOf = (entry) => sha(Buffer.from([0]), Buffer.from(entry));
const split = (n) => 2 ** Math.floor(Math.log2(n - 1));
const mth = (leaves) =>
  leaves.length === 1 ? leaves[0] : sha(Buffer.from([1]), mth(leaves.slice(0, split(leaves.length))), mth(leaves.slice(split(leaves.length))));
function auditPath(m, leaves) {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), mth(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

/** A log of `entries`, its checkpoint (of `size`, by default the real one) signed by the
 * log's own key, and entry `index`'s tlog-proof in it: what only the checks under the
 * signatures can refuse. */
function fakeLog(entries, index, size = entries.length) {
  const leaves = entries.map(leafOf);
  const path = auditPath(index, leaves).map((h) => `${h.toString('base64')}\n`).join('');
  const cp = sign(`${ORIGIN}\n${size}\n${mth(leaves).toString('base64')}\n`);
  return `c2sp.org/tlog-proof@v1\nindex ${index}\n${path}\n${cp}`;
}
const oneEntryLog = (entry) => fakeLog([entry], 0);

// ---------------------------------------------------------------------------------------
// Keys and actions

test("the event actions are event.rs's, no more, no less", () => {
  const src = fs.readFileSync(new URL('../../vault/src/event.rs', import.meta.url), 'utf8');
  const body = src.slice(src.indexOf('pub fn as_str(self)'), src.indexOf('pub fn parse(s: &str)'));
  const names = [...body.matchAll(/=> "([^"]+)"/g)].map((m) => m[1]);
  assert.ok(names.length >= 51, `${names.length} actions read from event.rs`);
  assert.deepEqual([...EVENT_ACTIONS].sort(), names.sort());
});

test('the verifier key parses as the Go note verifier key it is', async () => {
  const r = await parseVerifierKey(`  ${w.key}\n`);
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  assert.equal(r.facts.name, ORIGIN);
  assert.equal(r.facts.id, w.key.split('+')[1]);
  assert.equal(Buffer.from(r.facts.publicKey, 'base64').length, 32);
  // The Go documentation's example key (ledger/src/note.rs tests it too).
  const go = await parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
  assert.equal(go.ok, true, JSON.stringify(go.errors));
  const [name, id, k] = [ORIGIN, w.key.split('+')[1], w.key.split('+').slice(2).join('+')];
  const raw = Buffer.from(k, 'base64');
  const bad = [
    ['garbage', /is not a verifier key/],
    ['', /is not a verifier key/],
    [`${name}+00000000+${k}`, /id does not match/],
    [`${name}+${id[0] === '0' ? '1' : '0'}${id.slice(1)}+${k}`, /id does not match/],
    [`other.example/gardien+${id}+${k}`, /id does not match/],
    [`${name}+${id}+${Buffer.concat([Buffer.from([2]), raw.subarray(1)]).toString('base64')}`, /only Ed25519/],
    [`${name}+${id}+${raw.subarray(0, 32).toString('base64')}`, /is not a verifier key/],
    [`${name}+${id}+${k} x`, /is not a verifier key/],
    [`has space+${id}+${k}`, /must be non-empty, without spaces/],
    [`\uFEFF${w.key}`, /./], // Rust's trim keeps a byte order mark; so must this
  ];
  // hex::encode writes lowercase: an uppercase id does not match (when it has a letter).
  if (id !== id.toUpperCase()) bad.push([`${name}+${id.toUpperCase()}+${k}`, /id does not match/]);
  for (const [key, pattern] of bad) {
    const js = await parseVerifierKey(key);
    refused(js, pattern, `key ${JSON.stringify(key)}`);
    // Rust refuses it too (exit 1: the key does not parse).
    assert.equal(rust.proof(w.proof, w.entry, key).ok, false, `Rust accepted key ${JSON.stringify(key)}`);
  }
  // Not a point of the curve: Rust's VerifyingKey::from_bytes refuses it at parsing.
  for (let y = 2; ; y++) {
    const pub = Buffer.alloc(32);
    pub[0] = y;
    const idOf = crypto.createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n\x01`), pub])).digest();
    const key = `${name}+${idOf.subarray(0, 4).toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
    const rs = rust.proof(w.proof, w.entry, key);
    if (!/not a verifier key/.test(rs.out)) continue; // a point: try the next y
    refused(await parseVerifierKey(key), /is not a verifier key/, 'a key off the curve');
    break;
  }
});

// ---------------------------------------------------------------------------------------
// Proofs

test('a real tlog-proof verifies and shows its event', async () => {
  const r = await proofBoth(w.proof, w.entry, w.key, 'the real proof');
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  assert.deepEqual(r.errors, []);
  assert.equal(r.facts.index, String(w.index));
  const size = text(w.proof).split('\n\n')[1].split('\n')[1];
  assert.equal(r.facts.treeSize, size);
  assert.equal(r.facts.origin, ORIGIN);
  assert.match(r.facts.root, /^[0-9a-f]{64}$/);
  const e = r.facts.event;
  assert.equal(e.time, w.ingest.time);
  assert.equal(e.actor, 'person:operator');
  assert.equal(e.action, 'dataset:ingest');
  assert.deepEqual(e.resources, w.ingest.resources);
  assert.ok(e.resources.includes(`dataset:${w.dataset}`));
  assert.equal(e.decision, 'allow');
  assert.equal(e.clause, w.ingest.clause);
  assert.equal(e.outcome, 'allowed');
  assert.equal(e.commitment, w.ingest.commitment);
  // Text in, the same answer; and the Rust output names the same index and size.
  const again = await verifyProof(text(w.proof), w.key, text(w.entry));
  assert.deepEqual(again, r);
  assert.match(rust.proof(w.proof, w.entry, w.key).out, new RegExp(`ok: entry ${w.index} is in the log ${ORIGIN} of ${size} entries`));
});

test('a proof with one edited byte is refused: in the event, the signature, a hash, the tree size', async () => {
  const p = text(w.proof);
  // A byte of the event (the entry the proof is checked with).
  const entry = Buffer.from(w.entry);
  const at = entry.indexOf('person:operator') + 7;
  entry[at] ^= 0x01;
  refused(await proofBoth(w.proof, entry, w.key, 'event byte'), /this entry is not at index/, 'event byte');
  // A byte of the checkpoint's signature.
  const sigAt = p.lastIndexOf(`\u2014 ${ORIGIN} `) + ORIGIN.length + 3 + 20;
  const sig = otherB64Char(p, sigAt);
  refused(await proofBoth(sig, w.entry, w.key, 'signature byte'), /signature by .* does not verify/, 'signature byte');
  // A byte of a proof hash.
  const hashAt = p.indexOf(`index ${w.index}\n`) + `index ${w.index}\n`.length + 10;
  const hash = otherB64Char(p, hashAt);
  refused(await proofBoth(hash, w.entry, w.key, 'hash byte'), /this entry is not at index/, 'hash byte');
  // A byte of the checkpoint's tree size (its last digit, bit 0 flipped: still a digit).
  const cp = p.indexOf('\n\n') + 2;
  const sizeEnd = p.indexOf('\n', p.indexOf('\n', cp) + 1) - 1;
  const size = p.slice(0, sizeEnd) + String.fromCharCode(p.charCodeAt(sizeEnd) ^ 1) + p.slice(sizeEnd + 1);
  refused(await proofBoth(size, w.entry, w.key, 'size byte'), /signature by .* does not verify/, 'tree size byte');
  // The same tree size edits, re-signed by the log's own key: the Merkle check refuses them.
  const realSize = Number(p.slice(cp).split('\n')[1]);
  for (const s of [realSize + 1, realSize - 1, w.index + 1, 2 ** 40]) {
    refused(await proofBoth(proofWithSize(p, s), w.entry, w.key, `size ${s}`), /this entry is not at index/, `size ${s}`);
  }
  refused(await proofBoth(proofWithSize(p, w.index), w.entry, w.key, 'size = index'), /beyond the tree size/, 'size = index');
  // A checkpoint of another origin, signed by this key: refused (the origin is the key's name).
  refused(await proofBoth(proofWithCheckpointLine(p, 0, 'autre.example/gardien'), w.entry, w.key, 'origin'), /origin 'autre\.example\/gardien' is not the key's name/, 'origin');
  // A second signature line by the key that fails: refused, though the first verifies.
  const sigLine = p.slice(p.lastIndexOf('\n\u2014 ') + 1);
  const twice = p + otherB64Char(sigLine, ORIGIN.length + 3 + 20);
  refused(await proofBoth(twice, w.entry, w.key, 'a failing second signature'), /signature by .* does not verify/, 'a failing second signature');
  // A signature by another key (another name) is ignored; a signature line of another form is not.
  assert.equal((await proofBoth(`${p}\u2014 witness.example AAAAAAAA\n`, w.entry, w.key, 'a witness')).ok, true);
  refused(await proofBoth(`${p}-- witness.example AAAAAAAA\n`, w.entry, w.key, 'bad line'), /bad signature line/, 'bad line');
  // A signature of 65 bytes whose first 64 are the real one: refused.
  const sig65 = sigLine.replace(/ (\S+)\n$/, (_, b) => ` ${Buffer.concat([Buffer.from(b, 'base64'), Buffer.from([0])]).toString('base64')}\n`);
  refused(await proofBoth(p.slice(0, p.length - sigLine.length) + sig65, w.entry, w.key, '65 bytes'), /signature by .* does not verify/, '65-byte signature');
  // A byte order mark before the file: Rust keeps it, so the first line is not the header.
  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(w.proof)]);
  refused(await proofBoth(bom, w.entry, w.key, 'BOM'), /first line is not c2sp/, 'a byte order mark');
  // The resigner itself: the real size, re-signed, verifies.
  assert.equal((await proofBoth(proofWithSize(p, realSize), w.entry, w.key, 're-signed as is')).ok, true);
});

test('a proof is refused with another verifier key, another entry, or no entry', async () => {
  refused(await proofBoth(w.proof, w.entry, w.otherKey, 'other key'), /carries no signature by hebergeur\.example\/gardien/, 'same name, other key');
  refused(await proofBoth(w.proof, w.entry, w.foreignKey, 'foreign key'), /carries no signature by autre\.example\/gardien/, 'another log');
  refused(await proofBoth(w.proof, w.prevEntry, w.key, 'previous entry'), /this entry is not at index/, 'the previous entry');
  refused(await proofBoth(w.proof, Buffer.alloc(0), w.key, 'empty entry'), /this entry is not at index/, 'an empty entry');
  refused(await verifyProof(w.proof, w.key), /the entry is missing/, 'no entry');
  refused(await verifyProof(w.proof, w.key, null), /the entry is missing/, 'no entry');
  // Malformed inputs are refused with a message, never an exception.
  for (const [input, pattern] of [
    [undefined, /the proof is missing/],
    [42, /the proof is missing/],
    ['', /no blank line/],
    ['garbage', /no blank line/],
    [`c2sp.org/tlog-proof@v1\nindex 01\n\nx`, /not a decimal without leading zeroes/],
    [`c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\nx`, /out of range/],
    [new Uint8Array([0xff, 0xfe, 0x0a]), /not UTF-8 text/],
    [`\uFEFF${text(w.proof)}`, /first line is not c2sp\.org\/tlog-proof@v1/],
    [text(w.proof).replace('\n\n', '\n\r\n'), /is not a base64 SHA-256 hash/],
    [text(w.proof).replace(/\n$/, ''), /signature lines must end in a newline/],
    ['\ud800', /not valid Unicode/],
  ]) {
    refused(await verifyProof(input, w.key, w.entry), pattern, `proof ${JSON.stringify(input)?.slice(0, 40)}`);
  }
  // A hash whose last character differs in its unused bits only: the same 32 bytes to a
  // lenient decoder, refused by Rust's (canonical base64), so refused here.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const hashLine = text(w.proof).split('\n')[2];
  const last = hashLine.length - 2; // before the one '=' of 32 bytes
  const loose = `${hashLine.slice(0, last)}${B64[B64.indexOf(hashLine[last]) ^ 1]}=`;
  assert.deepEqual(Buffer.from(loose, 'base64'), Buffer.from(hashLine, 'base64'));
  refused(await proofBoth(text(w.proof).replace(hashLine, loose), w.entry, w.key, 'trailing bits'), /is not a base64 SHA-256 hash/, 'non-canonical base64');
  // An unauthenticated `extra` line is accepted and ignored, as the Rust parser does.
  const extra = text(w.proof).replace('\nindex ', '\nextra AAAA\nindex ');
  assert.equal((await proofBoth(extra, w.entry, w.key, 'extra line')).ok, true);
  // A signature line with CRLF: Rust's `lines()` drops the CR, so both accept it.
  const crlf = text(w.proof).replace(/\n$/, '\r\n');
  assert.equal((await proofBoth(crlf, w.entry, w.key, 'CRLF signature line')).ok, true);
});

test('every one-byte change or truncation of the proof and the entry is refused, as by the Rust verifier', async () => {
  const p = Buffer.from(w.proof);
  let n = 0;
  for (let i = 0; i < p.length; i++) {
    for (const bit of [0x01, 0x20, 0x80]) {
      const b = Buffer.from(p);
      b[i] ^= bit;
      const r = await proofBoth(b, w.entry, w.key, `proof byte ${i} ^ ${bit}`);
      assert.equal(r.ok, false, `proof byte ${i} ^ ${bit} went unnoticed`);
      n++;
    }
    const r = await proofBoth(p.subarray(0, i), w.entry, w.key, `proof cut at ${i}`);
    assert.equal(r.ok, false, `proof cut at ${i} went unnoticed`);
  }
  const e = Buffer.from(w.entry);
  for (let i = 0; i < e.length; i++) {
    const b = Buffer.from(e);
    b[i] ^= 0x01;
    assert.equal((await proofBoth(w.proof, b, w.key, `entry byte ${i}`)).ok, false, `entry byte ${i} went unnoticed`);
  }
  assert.ok(n > 300, `${n} edits tried`);
});

// ---------------------------------------------------------------------------------------
// Certificates

test('a real destruction certificate verifies and shows its fields', async () => {
  const r = await certBoth(w.cert, w.key, 'the real certificate');
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  const f = r.facts;
  assert.equal(f.dataset, w.dataset);
  assert.equal(f.client, 'acme');
  assert.equal(f.contract, 'trial');
  assert.equal(f.class, 'presales-sample');
  assert.equal(f.clause, 'PRE-6');
  assert.match(f.id, /^cert-[0-9a-f]{12}$/);
  assert.equal(f.size, String(Buffer.byteLength('id,name\n1,<script>alert(1)</script>\n')));
  assert.equal(f.sha256, crypto.createHash('sha256').update('id,name\n1,<script>alert(1)</script>\n').digest('hex'));
  assert.deepEqual(f.copies.map((c) => c.split(' deleted ')[0]), ['store local site fr-roubaix']);
  assert.equal(f.event.action, 'dataset:destroy');
  assert.ok(f.event.resources.includes(`dataset:${w.dataset}`));
  assert.equal(f.event.clause, 'PRE-6');
  assert.equal(f.origin, ORIGIN);
  assert.equal(f.fields[0].key, 'id');
  assert.match(
    rust.cert(w.cert, w.key).out,
    new RegExp(`ok: certificate ${f.id} for dataset ${w.dataset} \\(PRE-6\\), destruction recorded at ledger entry ${f.ledgerIndex} of a signed log of ${f.treeSize} entries`),
  );
  // The re-signer makes the same bytes (Ed25519 is deterministic): the edits below differ
  // from the real certificate by their edit alone.
  assert.equal(resign(text(w.cert)), text(w.cert));
});

test('a certificate with one edited byte is refused: in the event, the signature, a hash, the tree size', async () => {
  const c = text(w.cert);
  const entryB64 = certField(c, 'ledger-entry');
  const proofB64 = certField(c, 'ledger-tlog-proof');
  const proof = innerProof(c);
  const cpAt = proof.indexOf('\n\n') + 2;
  const edits = {
    // A byte of the destruction event, in the file as it is (one base64 character).
    event: setCertField(c, 'ledger-entry', flipDecoded(entryB64, 40)),
    // A byte of the certificate's signature.
    signature: otherB64Char(c, c.lastIndexOf(`\u2014 ${ORIGIN} `) + ORIGIN.length + 3 + 20),
    // A byte of the first hash of its inclusion proof.
    hash: setCertField(c, 'ledger-tlog-proof', flipDecoded(proofB64, hashByte(proof))),
    // A byte of its checkpoint's tree size.
    size: setCertField(c, 'ledger-tlog-proof', flipDecoded(proofB64, proof.indexOf('\n', cpAt) + 1)),
  };
  for (const [what, edited] of Object.entries(edits)) {
    let diff = 0;
    for (let i = 0; i < c.length; i++) if (edited[i] !== c[i]) diff++;
    assert.equal(diff, 1, `${what}: one byte edited`);
    refused(await certBoth(edited, w.key, what), /the certificate does not verify: the signature by .* does not verify/, what);
  }
  // The same edits, re-signed by the log's own key: the checks under the signature refuse them.
  refused(await certBoth(resign(edits.event), w.key, 'event re-signed'), /its destruction event: the proof does not verify/, 'event, re-signed');
  refused(await certBoth(resign(edits.hash), w.key, 'hash re-signed'), /its destruction event: the proof does not verify/, 'hash, re-signed');
  refused(await certBoth(resign(edits.size), w.key, 'size re-signed'), /its destruction event: the signature by .* does not verify/, 'size, re-signed');
  // The inner checkpoint's signature edited, the certificate re-signed.
  const innerSig = otherB64Char(proof, proof.lastIndexOf(`\u2014 ${ORIGIN} `) + ORIGIN.length + 3 + 20);
  refused(await certBoth(withInnerProof(c, innerSig), w.key, 'inner signature'), /its destruction event: the signature by/, 'inner signature');
  // The inner tree size edited and re-signed too: only the Merkle check is left to refuse it.
  const realSize = Number(proof.slice(cpAt).split('\n')[1]);
  for (const s of [realSize + 1, realSize + 5]) {
    refused(await certBoth(withInnerProof(c, proofWithSize(proof, s)), w.key, `size ${s}`), /this entry is not at index/, `inner size ${s}`);
  }
});

test('a certificate whose entry records something else is refused', async () => {
  const c = text(w.cert);
  refused(await certBoth(resign(setCertField(c, 'clause', 'OPS-3')), w.key, 'clause'), /does not record this destruction/, 'another clause');
  refused(await certBoth(resign(setCertField(c, 'dataset', 'ds-0000000000000000')), w.key, 'dataset'), /does not record this destruction/, 'another dataset');
  // A real entry with its real proof, but the ingest, not the destruction.
  const swapped = resign(
    setCertField(
      setCertField(c, 'ledger-entry', Buffer.from(w.entry).toString('base64')),
      'ledger-tlog-proof',
      Buffer.from(w.proof).toString('base64'),
    ),
  );
  refused(await certBoth(swapped, w.key, 'the ingest'), /does not record this destruction/, 'the ingest entry');
  // Missing lines, a foreign document, a malformed line.
  const without = (k) => resign(c.replace(`\n${k} ${certField(c, k)}`, ''));
  refused(await certBoth(without('ledger-entry'), w.key, 'no entry'), /no ledger-entry line/, 'no ledger-entry');
  refused(await certBoth(without('clause'), w.key, 'no clause'), /no clause line/, 'no clause');
  refused(await certBoth(resign(c.replace('gardien-certificate/v1', 'gardien-certificate/v2')), w.key, 'v2'), /not a gardien-certificate\/v1 document/, 'v2');
  refused(await certBoth(resign(c.replace('\nclient acme\n', '\nclientacme\n')), w.key, 'malformed'), /malformed line 'clientacme'/, 'malformed');
  refused(await certBoth(resign(setCertField(c, 'ledger-entry', `${certField(c, 'ledger-entry')}=`)), w.key, 'b64'), /bad ledger-entry/, 'bad base64');
  refused(await verifyCertificate(w.proof, w.key), /the certificate does not verify/, 'a proof given as a certificate');
});

test('in a log signed by the key, the certificate holds only if its entry is this destruction', async () => {
  const c = text(w.cert);
  const entry = Buffer.from(certField(c, 'ledger-entry'), 'base64').toString('utf8');
  const certOf = (e) =>
    resign(setCertField(setCertField(c, 'ledger-entry', Buffer.from(e).toString('base64')), 'ledger-tlog-proof',
      Buffer.from(oneEntryLog(e)).toString('base64')));
  // The real destruction event, in a one-entry log signed by the key: it holds.
  const same = await certBoth(certOf(entry), w.key, 'one-entry log');
  assert.equal(same.ok, true, JSON.stringify(same.errors));
  assert.equal(same.facts.treeSize, '1');
  const variants = [
    ['another action', entry.replace('action dataset:destroy', 'action dataset:get'), /does not record this destruction/],
    ['an unknown action', entry.replace('action dataset:destroy', 'action dataset:shred'), /unknown action/],
    ['no dataset resource', entry.replace(`resource dataset:${w.dataset}\n`, ''), /does not record this destruction/],
    ['another dataset', entry.replace(`resource dataset:${w.dataset}`, 'resource dataset:ds-0000000000000000'), /does not record this destruction/],
    ['another clause', entry.replace('decision allow PRE-6', 'decision allow OPS-3'), /does not record this destruction/],
    ['a bad verdict', entry.replace('decision allow', 'decision maybe'), /bad decision/],
    ['another outcome', entry.replace('outcome allowed', 'outcome done'), /bad outcome/],
    ['CRLF', entry.replace(/\n/g, '\r\n'), /not a gardien event|spans lines/],
    ['a trailing line', `${entry}extra\n`, /trailing lines/],
    ['no final newline', entry.slice(0, -1), /no final newline/],
    ['another version', entry.replace('gardien-event/v1', 'gardien-event/v2'), /unknown version/],
    ['no commitment', entry.replace(/commitment .*\n/, ''), /no commitment/],
    ['an empty actor', entry.replace(/actor .*\n/, 'actor \n'), /event actor '' is empty/],
    ['not UTF-8', Buffer.concat([Buffer.from(entry), Buffer.from([0xff])]), /not UTF-8/],
  ];
  for (const [what, e, pattern] of variants) refused(await certBoth(certOf(e), w.key, what), pattern, what);
  // The same one-entry log as a plain tlog-proof: any bytes are proven (the Rust verifier
  // decodes nothing); the facts say whether they are a gardien event.
  const anyBytes = Buffer.from('not an event');
  const r = await proofBoth(oneEntryLog(anyBytes), anyBytes, w.key, 'any bytes');
  assert.equal(r.ok, true, JSON.stringify(r.errors));
  assert.equal(r.facts.event, null);
  assert.match(r.facts.eventError, /not a gardien event: no final newline/);
  // Its inner proof with a byte order mark: refused as by Rust.
  const bomProof = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(oneEntryLog(entry))]).toString('base64');
  refused(await certBoth(resign(setCertField(certOf(entry), 'ledger-tlog-proof', bomProof)), w.key, 'BOM'), /its tlog-proof: bad proof: the first line/, 'inner BOM');
  // A certificate's text is a signed note: no control character in it, even signed.
  refused(await certBoth(resign(setCertField(c, 'rule', 'a\tb')), w.key, 'a tab'), /no control characters/, 'a tab');
});

test('in logs of 1 to 9 entries every entry is proven; a checkpoint of another size answers as in Rust', async () => {
  const entries = Array.from({ length: 9 }, (_, i) => `entry ${i}\n`);
  for (let n = 1; n <= entries.length; n++) {
    for (let i = 0; i < n; i++) {
      const log = entries.slice(0, n);
      const ok = await proofBoth(fakeLog(log, i), log[i], w.key, `${i} of ${n}`);
      assert.equal(ok.ok, true, `${i} of ${n}: ${ok.errors}`);
      assert.equal(ok.facts.treeSize, String(n));
      refused(await proofBoth(fakeLog(log, i), log[(i + 1) % n] + (n === 1 ? 'x' : ''), w.key, `other entry at ${i} of ${n}`), /not at index/, `another entry at ${i} of ${n}`);
      // A signed checkpoint that lies about its size may still hold a path (index 0 of 3
      // proves the same root in a tree of 4 whose last subtree is entry 2): the two
      // verifiers must agree. A full tree said to be one larger leaves the path too short.
      for (const other of [n + 1, n + 2, 2 * n, n - 1].filter((s) => s > i && s !== n)) {
        const r = await proofBoth(fakeLog(log, i, other), log[i], w.key, `${i} of ${n} said ${other}`);
        if ((n & (n - 1)) === 0 && other === n + 1) refused(r, /not at index/, `${i} of ${n} said to be of ${other}`);
      }
    }
  }
});

test('a certificate is refused with another verifier key', async () => {
  refused(await certBoth(w.cert, w.otherKey, 'other key'), /carries no signature by hebergeur\.example\/gardien/, 'same name, other key');
  refused(await certBoth(w.cert, w.foreignKey, 'foreign key'), /carries no signature by autre\.example\/gardien/, 'another log');
  refused(await verifyCertificate(w.cert, 'not a key'), /is not a verifier key/, 'garbage key');
  refused(await verifyCertificate(w.cert), /the verifier key is missing/, 'no key');
});

test('every one-byte change of the certificate is refused, as by the Rust verifier', async () => {
  const c = Buffer.from(w.cert);
  for (let i = 0; i < c.length; i++) {
    const b = Buffer.from(c);
    b[i] ^= 0x01;
    assert.equal((await certBoth(b, w.key, `certificate byte ${i}`)).ok, false, `certificate byte ${i} went unnoticed`);
  }
});

// ---------------------------------------------------------------------------------------
// The page, on a minimal DOM that throws on innerHTML

class FakeNode {
  constructor() {
    this.childNodes = [];
    this.parentNode = null;
  }
  get firstChild() {
    return this.childNodes[0] ?? null;
  }
  appendChild(n) {
    assert.ok(n instanceof FakeNode, 'only nodes are appended');
    this.childNodes.push(n);
    n.parentNode = this;
    return n;
  }
  removeChild(n) {
    this.childNodes.splice(this.childNodes.indexOf(n), 1);
    return n;
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join('');
  }
}
class FakeText extends FakeNode {
  constructor(data) {
    super();
    this.data = data;
  }
  get textContent() {
    return this.data;
  }
}
class FakeElement extends FakeNode {
  constructor(tag, id) {
    super();
    this.tagName = tag.toUpperCase();
    this.id = id;
    this.attributes = {};
    this.listeners = {};
    this.className = '';
    this.hidden = false;
    this.value = '';
    this.files = [];
  }
  setAttribute(k, v) {
    this.attributes[k] = String(v);
  }
  removeAttribute(k) {
    delete this.attributes[k];
  }
  addEventListener(type, f) {
    (this.listeners[type] ||= []).push(f);
  }
  set innerHTML(_) {
    throw new Error('innerHTML was written');
  }
  get innerHTML() {
    throw new Error('innerHTML was read');
  }
  /** Every element below, depth first. */
  all() {
    return this.childNodes.filter((c) => c instanceof FakeElement).flatMap((c) => [c, ...c.all()]);
  }
}

function fakePage(lang) {
  const els = {};
  const add = (tag, id) => (els[id] = new FakeElement(tag, id));
  add('form', 'verify-form');
  add('textarea', 'verifier-key');
  add('input', 'file');
  add('textarea', 'text');
  add('select', 'kind').value = 'proof';
  add('div', 'entry-fields');
  add('input', 'entry-file');
  add('textarea', 'entry-text');
  add('div', 'result');
  const doc = {
    documentElement: { lang },
    readyState: 'complete',
    getElementById: (id) => els[id] ?? null,
    createElement: (tag) => new FakeElement(tag),
    createTextNode: (t) => new FakeText(t),
    addEventListener() {},
  };
  const submit = async () => {
    let prevented = false;
    const results = await Promise.all(els['verify-form'].listeners.submit.map((f) => f({ preventDefault: () => (prevented = true) })));
    assert.ok(prevented, 'the submit is prevented');
    return results[0];
  };
  const file = (bytes) => [{ size: bytes.length, name: 'f', arrayBuffer: async () => new Uint8Array(bytes).buffer }];
  return { doc, els, submit, file };
}

test('the page verifies on submit and writes the result as text, in French and English', async () => {
  // French, a proof pasted as text (its last newline lost), the entry as a file.
  const fr = fakePage('fr');
  assert.equal(typeof attach(fr.doc), 'function');
  fr.els['verifier-key'].value = `${w.key}\n`;
  fr.els.text.value = text(w.proof).replace(/\n$/, '');
  fr.els['entry-file'].files = fr.file(w.entry);
  const r1 = await fr.submit();
  assert.equal(r1.ok, true, JSON.stringify(r1.errors));
  const out = fr.els.result;
  assert.equal(out.attributes['data-ok'], 'true');
  assert.equal(out.attributes['aria-busy'], undefined);
  const t1 = out.textContent;
  for (const s of ['Valide', "Index de l'entrée", "Taille de l'arbre", 'Date et heure', 'Acteur', 'Ressources', 'Décision',
    'Clause', 'person:operator', 'dataset:ingest', `dataset:${w.dataset}`, String(w.index)]) {
    assert.ok(t1.includes(s), `${s} missing from ${t1}`);
  }
  assert.ok(!t1.includes('Invalide'));
  // The same page, the certificate chosen as a file, edited: Invalide, with the reason.
  fr.els.kind.value = 'certificate';
  fr.els.file.files = fr.file(Buffer.from(text(w.cert).replace('clause PRE-6', 'clause PRE-7')));
  const r2 = await fr.submit();
  assert.equal(r2.ok, false);
  assert.equal(out.attributes['data-ok'], 'false');
  assert.ok(out.textContent.startsWith('Invalide'), out.textContent);
  assert.match(out.textContent, /the signature by .* does not verify/);

  // English, a certificate pasted; a hostile string in an error stays text.
  const en = fakePage('en');
  attach(en.doc);
  en.els.kind.value = 'certificate';
  en.els['verifier-key'].value = w.key;
  en.els.text.value = text(w.cert);
  const r3 = await en.submit();
  assert.equal(r3.ok, true, JSON.stringify(r3.errors));
  const t3 = en.els.result.textContent;
  for (const s of ['Valid', 'Dataset', w.dataset, 'Clause', 'PRE-6', 'Copies', 'store local site fr-roubaix', 'Ledger entry',
    'dataset:destroy']) {
    assert.ok(t3.includes(s), `${s} missing from ${t3}`);
  }
  assert.ok(!t3.includes('ledger-tlog-proof'), 'the base64 lines are not shown');
  en.els.text.value = 'x\n\n<img src=x onerror=alert(1)>\n';
  const r4 = await en.submit();
  assert.equal(r4.ok, false);
  const items = en.els.result.all().filter((e) => e.tagName === 'LI').map((e) => e.textContent);
  assert.deepEqual(items, [
    "the certificate does not verify: bad signed note: bad signature line '<img src=x onerror=alert(1)>'",
  ]);
  assert.ok(en.els.result.all().every((e) => ['P', 'STRONG', 'UL', 'LI', 'DL', 'DT', 'DD'].includes(e.tagName)));
  assert.ok(en.els.result.textContent.startsWith('Invalid'));
  // A proof without its entry, a certificate chosen as a proof: said so.
  en.els.kind.value = 'proof';
  const r5 = await en.submit();
  assert.equal(r5.ok, false);
  en.els.text.value = text(w.cert);
  await en.submit();
  assert.match(en.els.result.textContent, /looks like a destruction certificate/);
  en.els.text.value = '';
  await en.submit();
  assert.match(en.els.result.textContent, /Choose a file or paste the text/);
});

test('the module wires the page by itself when a document exists', async () => {
  const page = fakePage('en');
  globalThis.document = page.doc;
  try {
    await import('./verify.js?with-document');
  } finally {
    delete globalThis.document;
  }
  assert.equal(page.els['verify-form'].listeners.submit.length, 1);
  page.els['verifier-key'].value = w.otherKey;
  page.els['entry-text'].value = text(w.entry);
  page.els.text.value = text(w.proof);
  const r = await page.submit();
  assert.equal(r.ok, false);
  assert.match(page.els.result.textContent, /^Invalid.*carries no signature/s);
  page.els['verifier-key'].value = w.key;
  assert.equal((await page.submit()).ok, true);
  assert.match(page.els.result.textContent, /^Valid — Entry \d+ is in the log/);
});
