// gardien: in-browser verification of a ledger entry's tlog-proof and of a destruction
// certificate, against the log's verifier key. No dependency, no network: WebCrypto only
// (SHA-256, Ed25519). It checks what the Rust verifiers check, in the same order:
//
// - `parseVerifierKey` is `ledger::note::Verifier::parse` (the Go sumdb/note verifier key
//   `<name>+<id>+<base64(0x01 || Ed25519 public key)>`, id = hex of the first 4 bytes of
//   SHA-256(name || "\n" || 0x01 || public key)).
// - `verifyProof` is `gardien ledger verify-proof --key K --proof P --entry E`
//   (`InclusionProof::parse` and `InclusionProof::verify`: C2SP signed note, tlog-checkpoint,
//   RFC 9162 §2.1.3.2 inclusion of SHA-256(0x00 || entry)). A tlog-proof does not carry the
//   entry it proves: the entry's bytes (`gardien ledger entry N -o FILE`) are the third
//   argument, without which nothing is proven and the answer is `ok: false`.
// - `verifyCertificate` is `gardien certificate verify FILE --key K`
//   (`vault::certificate::verify_certificate`).
//
// Each returns `{ok, errors, facts}` and never throws; `facts` is filled only when `ok`.
// Sizes and indexes are u64 in the formats: they are given as decimal strings.
//
// The page (served under `default-src 'self'; script-src 'self'`) loads it with
// `<script type="module" src="verify.js"></script>` and holds:
//
//   <form id="verify-form">
//     <select id="kind"><option value="proof">…</option><option value="certificate">…</option></select>
//     <textarea id="verifier-key"></textarea>
//     <input type="file" id="file">  and/or  <textarea id="text"></textarea>
//     <!-- for a proof, the entry it proves: -->
//     <div id="entry-fields"><input type="file" id="entry-file"> and/or <textarea id="entry-text"></textarea></div>
//     <button type="submit">…</button>
//   </form>
//   <div id="result" role="status" aria-live="polite"></div>
//
// Labels follow `<html lang="fr">` or `lang="en"`. Results are written as text nodes only.

const MAX_INPUT = 16 * 1024 * 1024; // `read_small`: no certificate, checkpoint or proof is larger
const U64_MAX = (1n << 64n) - 1n;
const TLOG_PROOF = 'c2sp.org/tlog-proof@v1';
const CERT_MAGIC = 'gardien-certificate/v1';
const EVENT_MAGIC = 'gardien-event/v1';
const SIG_PREFIX = '\u2014 '; // an em dash and a space start a signature line
const ED25519 = 0x01;

// Every action's name (`vault::event::Action::as_str`): an entry naming another is refused.
// verify.test.mjs compares this list with crates/vault/src/event.rs.
export const EVENT_ACTIONS = Object.freeze([
  'vault:init', 'store:add', 'store:list', 'client:add', 'client:list', 'dataset:ingest',
  'dataset:list', 'dataset:show', 'dataset:get', 'dataset:verify', 'dataset:export', 'vault:fsck',
  'vault:migrate',
  'contract:add', 'contract:deal', 'contract:set', 'contract:show', 'contract:list', 'vault:sweep',
  'dataset:destroy', 'dataset:hold', 'dataset:release', 'copy:out', 'copy:list', 'copy:attest',
  'certificate:list', 'certificate:show', 'certificate:verify', 'person:add', 'person:list',
  'person:disable', 'ledger:key', 'ledger:checkpoint', 'ledger:entry', 'ledger:list',
  'ledger:proof', 'ledger:consistency', 'ledger:verify', 'environment:add', 'environment:list',
  'approval:request', 'approval:list', 'approval:show', 'approval:decide', 'approval:revoke',
  'policy:validate', 'policy:show', 'policy:explain', 'public-mentions', 'client:key-add',
  'client:key-remove', 'client:key-list', 'person:password', 'person:totp', 'token:create',
  'token:list', 'token:revoke', 'session:login', 'session:logout', 'session:show',
  'drop:create', 'drop:list', 'drop:show', 'drop:revoke', 'drop:open', 'drop:upload', 'drop:receive',
  'drop:terminate', 'drop:expire', 'person:contact', 'notify:config', 'notify:list', 'notify:flush',
  'webhook:add', 'webhook:list', 'webhook:remove', 'site:add', 'site:list', 'site:show', 'site:check',
  'site:restitution', 'site:backup', 'site:restore', 'server:add', 'server:list', 'server:show',
  'server:app-add', 'server:ports', 'server:check', 'server:app-cert', 'server:fail2ban', 'server:access', 'access:revoke', 'access:list', 'maneuver:add', 'maneuver:list',
  'bastion:set', 'sshd:config',
]);
const ACTIONS = new Set(EVENT_ACTIONS);

/** A refusal with a message for a person. */
class Refused extends Error {}
const refuse = (message) => {
  throw new Refused(message);
};

// ---------------------------------------------------------------------------------------
// Bytes and text

const encoder = new TextEncoder();
const utf8 = (s) => encoder.encode(s);

/** Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` uses. */
function isRustWhitespace(code) {
  return (
    (code >= 0x09 && code <= 0x0d) || code === 0x20 || code === 0x85 || code === 0xa0 ||
    code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 ||
    code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000
  );
}

/** Rust's `str::trim` (JavaScript's also strips U+FEFF and keeps U+0085). */
function rustTrim(s) {
  let a = 0;
  let b = s.length;
  while (a < b && isRustWhitespace(s.charCodeAt(a))) a++;
  while (b > a && isRustWhitespace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Rust's `str::lines`: split at `\n`, drop one `\r` before it, no empty last line. */
function rustLines(s) {
  const out = [];
  let start = 0;
  while (start < s.length) {
    const nl = s.indexOf('\n', start);
    if (nl < 0) {
      out.push(s.slice(start));
      break;
    }
    let line = s.slice(start, nl);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    out.push(line);
    start = nl + 1;
  }
  return out;
}

/** Rust's `split_once(' ')`. */
function splitOnce(s, sep) {
  const at = s.indexOf(sep);
  return at < 0 ? null : [s.slice(0, at), s.slice(at + sep.length)];
}

function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

function asBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return null;
}

/** `read_small_text`: UTF-8 text (a byte order mark is kept, as Rust keeps it), ≤ 16 MiB. */
function asText(input, what) {
  if (typeof input === 'string') {
    if (!isWellFormed(input)) refuse(`${what} is not valid Unicode text`);
    if (input.length > MAX_INPUT || utf8(input).length > MAX_INPUT) {
      refuse(`${what} is larger than 16 MiB, which no certificate, checkpoint or proof is`);
    }
    return input;
  }
  const bytes = asBytes(input);
  if (bytes === null) refuse(`${what} is missing`);
  if (bytes.length > MAX_INPUT) {
    refuse(`${what} is larger than 16 MiB, which no certificate, checkpoint or proof is`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return refuse(`${what} is not UTF-8 text`);
  }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Quotes a person's input in a message, shortened. */
function quote(s) {
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

// Base64 as the Rust `base64` crate's STANDARD engine decodes it: the standard alphabet,
// canonical padding required, no whitespace, and the unused bits of the last character zero
// (else a changed character could decode to the same bytes and go unnoticed).
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

function base64Decode(s) {
  if (s.length % 4 !== 0) return null;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const n = s.length - pad;
  const vals = new Uint8Array(s.length);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) return null;
    vals[i] = v;
  }
  if (pad === 1 && (vals[n - 1] & 0x03) !== 0) return null;
  if (pad === 2 && (vals[n - 1] & 0x0f) !== 0) return null;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const t = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6) | vals[i + 3];
    if (o < out.length) out[o++] = (t >> 16) & 0xff;
    if (o < out.length) out[o++] = (t >> 8) & 0xff;
    if (o < out.length) out[o++] = t & 0xff;
  }
  return out;
}

/** A base64 SHA-256 hash (exactly 32 bytes), or null. */
function hashB64(s) {
  const h = base64Decode(s);
  return h !== null && h.length === 32 ? h : null;
}

/** `decimal` of proof.rs: digits, no leading zero, a u64. */
function decimal(s, what) {
  if (s === '' || (s.length > 1 && s.startsWith('0')) || !/^[0-9]+$/.test(s)) {
    return { error: `${what} '${quote(s)}' is not a decimal without leading zeroes` };
  }
  const n = BigInt(s);
  if (n > U64_MAX) return { error: `${what} '${quote(s)}' is out of range` };
  return { value: n };
}

// ---------------------------------------------------------------------------------------
// WebCrypto

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    refuse('this browser offers no WebCrypto here (the page must be served over HTTPS or from localhost)');
  }
  return s;
}

async function sha256(bytes) {
  return new Uint8Array(await subtle().digest('SHA-256', bytes));
}

const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

async function importEd25519(raw) {
  try {
    return await subtle().importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    if (e instanceof Refused) throw e;
    return refuse(
      'this browser cannot check Ed25519 signatures (WebCrypto Ed25519 needs a recent browser: ' +
        'Chrome 137, Firefox 129, Safari 17 or later)',
    );
  }
}

// Whether 32 bytes decode to a point of edwards25519 as curve25519-dalek's `decompress`
// accepts it (`VerifyingKey::from_bytes`): y is the low 255 bits taken mod p, and
// (y² − 1) / (d·y² + 1) must be a square. WebCrypto does not always check it on import.
const P = (1n << 255n) - 19n;
function modPow(b, e, m) {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
const D = ((-121665n * modPow(121666n, P - 2n, P)) % P + P) % P;
function isEdwardsPoint(bytes) {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? bytes[i] & 0x7f : bytes[i]);
  y %= P;
  const yy = (y * y) % P;
  const u = (yy - 1n + P) % P;
  const v = (D * yy + 1n) % P;
  if (u === 0n) return true;
  const w = (u * modPow(v, P - 2n, P)) % P;
  return modPow(w, (P - 1n) / 2n, P) === 1n;
}

// ---------------------------------------------------------------------------------------
// Verifier keys and signed notes (ledger/src/note.rs)

function checkKeyName(name) {
  let ws = false;
  for (let i = 0; i < name.length; i++) if (isRustWhitespace(name.charCodeAt(i))) ws = true;
  if (name === '' || ws || name.includes('+')) {
    refuse(`bad key: key name '${quote(name)}' must be non-empty, without spaces or '+'`);
  }
}

async function keyId(name, publicKey) {
  return (await sha256(concat(utf8(name), new Uint8Array([0x0a, ED25519]), publicKey))).slice(0, 4);
}

/** `Verifier::parse`; the verifier with its imported key. */
async function verifierFrom(input) {
  const text = rustTrim(asText(input, 'the verifier key'));
  const bad = () => refuse(`bad key: '${quote(text)}' is not a verifier key (<name>+<id>+<key>)`);
  const first = splitOnce(text, '+');
  if (first === null) bad();
  const second = splitOnce(first[1], '+');
  if (second === null) bad();
  const [name, [id, key]] = [first[0], second];
  checkKeyName(name);
  const raw = base64Decode(key);
  if (raw === null) bad();
  if (raw.length === 0 || raw[0] !== ED25519) {
    refuse('bad key: only Ed25519 verifier keys (type 0x01) are supported');
  }
  if (raw.length !== 33) bad();
  const publicKey = raw.slice(1);
  if (!isEdwardsPoint(publicKey)) bad();
  const idBytes = await keyId(name, publicKey);
  if (hex(idBytes) !== id) refuse("bad key: the verifier key's id does not match its key");
  const cryptoKey = await importEd25519(publicKey);
  return { name, id: idBytes, publicKey, cryptoKey, text };
}

function checkText(text) {
  let control = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) control = true;
  }
  if (!text.endsWith('\n') || control) {
    refuse('bad signed note: the text must end in a newline and hold no control characters');
  }
}

/** `Verifier::open`: the note's text, if a signature by this key verifies and none fails. */
async function openNote(note, v) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) refuse('bad signed note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  checkText(text);
  if (!sigs.endsWith('\n')) refuse('bad signed note: the signature lines must end in a newline');
  const message = utf8(text);
  let verified = false;
  for (const line of rustLines(sigs)) {
    const badLine = () => refuse(`bad signed note: bad signature line '${quote(line)}'`);
    if (!line.startsWith(SIG_PREFIX)) badLine();
    const parts = splitOnce(line.slice(SIG_PREFIX.length), ' ');
    if (parts === null) badLine();
    const raw = base64Decode(parts[1]);
    if (raw === null) badLine();
    if (parts[0] !== v.name || raw.length < 4 || !equalBytes(raw.subarray(0, 4), v.id)) continue;
    const badSignature = () =>
      refuse(`the signature by ${v.name} does not verify (the note was altered or signed by another key)`);
    const sig = raw.slice(4);
    if (sig.length !== 64) badSignature();
    if (!(await subtle().verify({ name: 'Ed25519' }, v.cryptoKey, sig, message))) badSignature();
    verified = true;
  }
  if (!verified) refuse(`the note carries no signature by ${v.name}`);
  return text;
}

// ---------------------------------------------------------------------------------------
// Checkpoints and inclusion proofs (ledger/src/proof.rs, ledger/src/merkle.rs)

function parseCheckpointText(text) {
  const bad = (m) => refuse(`bad checkpoint: ${m}`);
  if (!text.endsWith('\n')) bad('no final newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) bad(`${lines.length} lines where 3 are expected (origin, size, root)`);
  const [origin, sizeText, rootText] = lines;
  if (origin === '') bad('empty origin');
  const size = decimal(sizeText, 'tree size');
  if (size.error) bad(size.error);
  const root = hashB64(rootText);
  if (root === null) bad('the root is not a base64 SHA-256 hash');
  return { origin, size: size.value, root };
}

/** `Checkpoint::open`. */
async function openCheckpoint(note, v) {
  const cp = parseCheckpointText(await openNote(note, v));
  if (cp.origin !== v.name) {
    refuse(`bad checkpoint: origin '${quote(cp.origin)}' is not the key's name '${v.name}'`);
  }
  return cp;
}

/** `InclusionProof::parse`. */
function parseProof(text) {
  const bad = (m) => refuse(`bad proof: ${m}`);
  const at = text.indexOf('\n\n');
  if (at < 0) bad('no blank line before the checkpoint');
  const lines = text.slice(0, at).split('\n');
  const checkpoint = text.slice(at + 2);
  let i = 0;
  if (lines[i++] !== TLOG_PROOF) bad(`the first line is not ${TLOG_PROOF}`);
  let line = i < lines.length ? lines[i++] : '';
  if (line.startsWith('extra ')) line = i < lines.length ? lines[i++] : '';
  if (!line.startsWith('index ')) bad("no 'index N' line");
  const index = decimal(line.slice('index '.length), 'index');
  if (index.error) bad(index.error);
  const path = lines.slice(i).map((l) => {
    const h = hashB64(l);
    if (h === null) bad(`'${quote(l)}' is not a base64 SHA-256 hash`);
    return h;
  });
  return { index: index.value, path, checkpoint };
}

/** RFC 9162 §2.1.3.2, as `merkle::verify_inclusion`. */
async function verifyInclusion(index, size, leaf, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

/** `InclusionProof::verify`: the checkpoint it leads to. */
async function verifyParsedProof(proof, entry, v) {
  const cp = await openCheckpoint(proof.checkpoint, v);
  if (proof.index >= cp.size) {
    refuse(`the proof does not verify: index ${proof.index} is beyond the tree size ${cp.size}`);
  }
  if (!(await verifyInclusion(proof.index, cp.size, await leafHash(entry), proof.path, cp.root))) {
    refuse(`the proof does not verify: this entry is not at index ${proof.index} of the tree of size ${cp.size}`);
  }
  return cp;
}

// ---------------------------------------------------------------------------------------
// Events (vault/src/event.rs)

function encodeEvent(e) {
  const clean = (field, v) => {
    if (v === '' || v.includes('\n') || v.includes('\r')) {
      refuse(`event ${field} '${quote(v)}' is empty or spans lines`);
    }
  };
  clean('time', e.time);
  clean('actor', e.actor);
  clean('clause', e.clause);
  let s = `${EVENT_MAGIC}\ntime ${e.time}\nactor ${e.actor}\naction ${e.action}\n`;
  for (const r of e.resources) {
    clean('resource', r);
    s += `resource ${r}\n`;
  }
  s += `decision ${e.decision} ${e.clause}\noutcome ${e.outcome}\ncommitment ${e.commitment}\n`;
  return utf8(s);
}

/** `Event::decode`: anything not in the canonical form is refused. */
function decodeEvent(bytes) {
  const bad = (why) => refuse(`the ledger entry is not a gardien event: ${why}`);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    bad('not UTF-8');
  }
  if (!text.endsWith('\n')) bad('no final newline');
  const lines = text.slice(0, -1).split('\n');
  let i = 0;
  const next = () => (i < lines.length ? lines[i++] : null);
  if (next() !== EVENT_MAGIC) bad('unknown version');
  const field = (name) => {
    const l = next();
    if (l === null || !l.startsWith(`${name} `)) bad(`no ${name} line`);
    return l.slice(name.length + 1);
  };
  const time = field('time');
  const actor = field('actor');
  const action = field('action');
  if (!ACTIONS.has(action)) bad('unknown action');
  const resources = [];
  while (i < lines.length && lines[i].startsWith('resource ')) resources.push(next().slice('resource '.length));
  const decisionLine = next();
  if (decisionLine === null || !decisionLine.startsWith('decision ')) bad('no decision');
  const d = splitOnce(decisionLine.slice('decision '.length), ' ');
  if (d === null || (d[0] !== 'allow' && d[0] !== 'deny')) bad('bad decision');
  const outcomeLine = next();
  const outcome = outcomeLine !== null && outcomeLine.startsWith('outcome ') ? outcomeLine.slice(8) : null;
  if (outcome !== 'allowed' && outcome !== 'denied' && outcome !== 'failed') bad('bad outcome');
  const commitmentLine = next();
  if (commitmentLine === null || !commitmentLine.startsWith('commitment ')) bad('no commitment');
  if (i < lines.length) bad('trailing lines');
  const event = {
    time,
    actor,
    action,
    resources,
    decision: d[0],
    clause: d[1],
    outcome,
    commitment: commitmentLine.slice('commitment '.length),
  };
  if (!equalBytes(encodeEvent(event), bytes)) bad('not canonical');
  return event;
}

// ---------------------------------------------------------------------------------------
// The three checks

async function run(check) {
  try {
    const facts = await check();
    return { ok: true, errors: [], facts };
  } catch (e) {
    const message =
      e instanceof Refused ? e.message : `unexpected error while verifying: ${e && e.message ? e.message : e}`;
    return { ok: false, errors: [message], facts: {} };
  }
}

/**
 * Parses a verifier key `<name>+<id>+<base64(0x01 || key)>` as `gardien ledger key` prints it.
 * facts: `{name, id, publicKey}` (id in hex, the public key in base64 of its 32 bytes).
 */
export async function parseVerifierKey(text) {
  return run(async () => {
    const v = await verifierFrom(text);
    return { name: v.name, id: hex(v.id), publicKey: base64Encode(v.publicKey), key: v.text };
  });
}

function base64Encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = bytes.length - i;
    const t = (bytes[i] << 16) | ((n > 1 ? bytes[i + 1] : 0) << 8) | (n > 2 ? bytes[i + 2] : 0);
    s += B64[(t >> 18) & 63] + B64[(t >> 12) & 63] + (n > 1 ? B64[(t >> 6) & 63] : '=') + (n > 2 ? B64[t & 63] : '=');
  }
  return s;
}

/**
 * `gardien ledger verify-proof`: `entry` (its raw bytes, as `gardien ledger entry N` writes
 * them: a Uint8Array, an ArrayBuffer or a string) is at the proof's index in the log whose
 * checkpoint the verifier key signed.
 * facts: `{index, treeSize, origin, root, event}`; `event` is the entry decoded
 * (`{time, actor, action, resources, decision, clause, outcome, commitment}`), or null with
 * `eventError` if the proven bytes are not a gardien event (the Rust verifier proves any bytes).
 */
export async function verifyProof(proofText, verifierKeyText, entry) {
  return run(async () => {
    const v = await verifierFrom(verifierKeyText);
    const proof = parseProof(asText(proofText, 'the proof'));
    let entryBytes;
    if (entry === undefined || entry === null) {
      refuse(
        "the entry is missing: a tlog-proof proves the inclusion of an entry's exact bytes, which it does not " +
          'carry; give them too (gardien ledger entry N -o FILE)',
      );
    } else if (typeof entry === 'string') {
      if (!isWellFormed(entry)) refuse('the entry is not valid Unicode text');
      entryBytes = utf8(entry);
    } else {
      entryBytes = asBytes(entry);
      if (entryBytes === null) refuse('the entry must be bytes or text');
    }
    if (entryBytes.length > MAX_INPUT) refuse('the entry is larger than 16 MiB, which no entry is');
    const cp = await verifyParsedProof(proof, entryBytes, v);
    const facts = {
      index: proof.index.toString(),
      treeSize: cp.size.toString(),
      origin: cp.origin,
      root: hex(cp.root),
      event: null,
    };
    try {
      facts.event = decodeEvent(entryBytes);
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      facts.eventError = e.message;
    }
    return facts;
  });
}

/**
 * `gardien certificate verify FILE --key K`: the certificate's signature by the key, the
 * signed checkpoint inside it, its destruction entry's inclusion in that checkpoint's tree,
 * and that the entry records this destruction (action `dataset:destroy`, this dataset, this
 * clause).
 * facts: `{fields: [{key, value}], id, issued, client, contract, dataset, class, size,
 * sha256, rule, clause, keyShredded, keySurvivalBound, copies: [...], ledgerIndex, treeSize,
 * origin, root, event}` (each named field is its first line's value, or null).
 */
export async function verifyCertificate(certText, verifierKeyText) {
  return run(async () => {
    const v = await verifierFrom(verifierKeyText);
    const note = asText(certText, 'the certificate');
    const bad = (why) => refuse(`the certificate does not verify: ${why}`);
    const within = async (f, prefix = '') => {
      try {
        return await f();
      } catch (e) {
        if (e instanceof Refused) bad(prefix + e.message);
        throw e;
      }
    };
    const text = await within(() => openNote(note, v));
    const lines = rustLines(text);
    if (lines[0] !== CERT_MAGIC) bad(`not a ${CERT_MAGIC} document`);
    const fields = [];
    for (const l of lines.slice(1)) {
      const kv = splitOnce(l, ' ');
      if (kv === null) bad(`malformed line '${quote(l)}'`);
      fields.push({ key: kv[0], value: kv[1] });
    }
    const get = (k) => {
      const f = fields.find((x) => x.key === k);
      return f ? f.value : null;
    };
    const need = (k) => {
      const value = get(k);
      if (value === null) bad(`no ${k} line`);
      return value;
    };
    const entry = base64Decode(need('ledger-entry'));
    if (entry === null) bad('bad ledger-entry');
    const proofBytes = base64Decode(need('ledger-tlog-proof'));
    let proofText = null;
    if (proofBytes !== null) {
      try {
        proofText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(proofBytes);
      } catch {
        proofText = null;
      }
    }
    if (proofText === null) bad('bad ledger-tlog-proof');
    const proof = await within(() => parseProof(proofText), 'its tlog-proof: ');
    const cp = await within(() => verifyParsedProof(proof, entry, v), 'its destruction event: ');
    const event = await within(() => decodeEvent(entry));
    const dataset = need('dataset');
    if (
      event.action !== 'dataset:destroy' ||
      !event.resources.includes(`dataset:${dataset}`) ||
      event.clause !== need('clause')
    ) {
      bad('its ledger entry does not record this destruction');
    }
    return {
      fields,
      id: get('id'),
      issued: get('issued'),
      client: get('client'),
      contract: get('contract'),
      dataset,
      class: get('class'),
      size: get('size'),
      sha256: get('sha256'),
      rule: get('rule'),
      clause: get('clause'),
      keyShredded: get('key-shredded'),
      keySurvivalBound: get('key-survival-bound'),
      copies: fields.filter((f) => f.key === 'copy').map((f) => f.value),
      ledgerIndex: proof.index.toString(),
      treeSize: cp.size.toString(),
      origin: cp.origin,
      root: hex(cp.root),
      event,
    };
  });
}

// ---------------------------------------------------------------------------------------
// The page

const LABELS = {
  en: {
    valid: 'Valid',
    invalid: 'Invalid',
    verifying: 'Verifying…',
    errors: 'Why',
    proofOk: (f) => `Entry ${f.index} is in the log ${f.origin} of ${f.treeSize} entries, signed by the given key.`,
    certOk: (f) =>
      `Certificate ${f.id ?? '?'} for dataset ${f.dataset} (${f.clause ?? '?'}): the destruction is recorded at ` +
      `ledger entry ${f.ledgerIndex} of a log of ${f.treeSize} entries signed by the given key.`,
    noInput: 'Choose a file or paste the text to verify.',
    noKey: "Paste the log's verifier key (gardien ledger key).",
    tooLarge: 'The file is larger than 16 MiB, which no certificate, checkpoint or proof is.',
    looksLikeCert: 'This looks like a destruction certificate: choose “certificate”.',
    looksLikeProof: 'This looks like a tlog-proof: choose “proof”.',
    notEvent: 'The proven bytes are not a gardien event',
    index: 'Entry index',
    treeSize: 'Tree size',
    origin: 'Log',
    root: 'Root hash (SHA-256)',
    time: 'Time',
    actor: 'Actor',
    action: 'Action',
    resources: 'Resources',
    decision: 'Decision',
    clause: 'Clause',
    outcome: 'Outcome',
    commitment: 'Commitment',
    event: 'Ledger event',
    id: 'Certificate',
    issued: 'Issued',
    client: 'Client',
    contract: 'Contract',
    dataset: 'Dataset',
    class: 'Class',
    size: 'Size (bytes)',
    sha256: 'Content SHA-256',
    rule: 'Rule',
    'key-shredded': 'Key destroyed',
    'key-survival-bound': 'No copy of the key after',
    copy: 'Copies',
    ledger: 'Ledger entry',
  },
  fr: {
    valid: 'Valide',
    invalid: 'Invalide',
    verifying: 'Vérification…',
    errors: 'Pourquoi',
    proofOk: (f) =>
      `L'entrée ${f.index} figure dans le journal ${f.origin} de ${f.treeSize} entrées, signé par la clé donnée.`,
    certOk: (f) =>
      `Certificat ${f.id ?? '?'} pour le jeu de données ${f.dataset} (${f.clause ?? '?'}) : la destruction est ` +
      `enregistrée à l'entrée ${f.ledgerIndex} d'un journal de ${f.treeSize} entrées signé par la clé donnée.`,
    noInput: 'Choisissez un fichier ou collez le texte à vérifier.',
    noKey: 'Collez la clé de vérification du journal (gardien ledger key).',
    tooLarge: 'Le fichier dépasse 16 Mio, ce que ne fait aucun certificat, checkpoint ou preuve.',
    looksLikeCert: 'Ceci ressemble à un certificat de destruction : choisissez « certificat ».',
    looksLikeProof: 'Ceci ressemble à une preuve tlog-proof : choisissez « preuve ».',
    notEvent: "Les octets prouvés ne sont pas un événement gardien",
    index: "Index de l'entrée",
    treeSize: "Taille de l'arbre",
    origin: 'Journal',
    root: 'Hash racine (SHA-256)',
    time: 'Date et heure',
    actor: 'Acteur',
    action: 'Action',
    resources: 'Ressources',
    decision: 'Décision',
    clause: 'Clause',
    outcome: 'Issue',
    commitment: 'Engagement',
    event: 'Événement du journal',
    id: 'Certificat',
    issued: 'Émis le',
    client: 'Client',
    contract: 'Contrat',
    dataset: 'Jeu de données',
    class: 'Nature',
    size: 'Taille (octets)',
    sha256: 'SHA-256 du contenu',
    rule: 'Règle',
    'key-shredded': 'Clé détruite le',
    'key-survival-bound': 'Aucune copie de la clé après le',
    copy: 'Copies',
    ledger: 'Entrée du journal',
  },
};

function labelsFor(doc) {
  const lang = String((doc.documentElement && doc.documentElement.lang) || '').toLowerCase();
  return lang === 'fr' || lang.startsWith('fr-') ? LABELS.fr : LABELS.en;
}

/** Reads an `<input type=file>`'s file as bytes, or a textarea's text, or null. */
async function readInput(doc, fileId, textId, L) {
  const fileInput = doc.getElementById(fileId);
  const file = fileInput && fileInput.files && fileInput.files.length > 0 ? fileInput.files[0] : null;
  if (file) {
    if (file.size > MAX_INPUT) return { error: L.tooLarge };
    return { value: new Uint8Array(await file.arrayBuffer()) };
  }
  const area = doc.getElementById(textId);
  const text = area && typeof area.value === 'string' ? area.value : '';
  if (text === '') return { value: null };
  // Pasted text often loses its last newline, which no signature covers: give it back.
  return { value: text.endsWith('\n') ? text : `${text}\n` };
}

function firstLine(v) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : new TextDecoder('utf-8').decode(v.subarray(0, 64));
  return s.split('\n', 1)[0].replace(/^\uFEFF/, '');
}

function render(doc, out, L, kind, result, hints) {
  const el = (tag, text, cls) => {
    const e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.appendChild(doc.createTextNode(String(text)));
    return e;
  };
  const nodes = [];
  const verdict = el('p', undefined, result.ok ? 'verdict valid' : 'verdict invalid');
  verdict.appendChild(el('strong', result.ok ? L.valid : L.invalid));
  if (result.ok) {
    verdict.appendChild(doc.createTextNode(` — ${kind === 'proof' ? L.proofOk(result.facts) : L.certOk(result.facts)}`));
  }
  nodes.push(verdict);
  if (!result.ok) {
    nodes.push(el('p', L.errors, 'errors-title'));
    const ul = el('ul', undefined, 'errors');
    for (const m of [...result.errors, ...hints]) ul.appendChild(el('li', m));
    nodes.push(ul);
  } else {
    const dl = el('dl', undefined, 'facts');
    const row = (label, value) => {
      dl.appendChild(el('dt', label));
      if (Array.isArray(value)) {
        const dd = el('dd');
        const ul = el('ul');
        for (const v of value) ul.appendChild(el('li', v));
        dd.appendChild(ul);
        dl.appendChild(dd);
      } else {
        dl.appendChild(el('dd', value ?? '-'));
      }
    };
    const f = result.facts;
    if (kind === 'proof') {
      row(L.index, f.index);
      row(L.treeSize, f.treeSize);
      row(L.origin, f.origin);
      row(L.root, f.root);
    } else {
      const shown = ['id', 'issued', 'client', 'contract', 'dataset', 'class', 'size', 'sha256', 'rule', 'clause',
        'key-shredded', 'key-survival-bound'];
      for (const k of shown) {
        const first = f.fields.find((x) => x.key === k);
        row(L[k], first ? first.value : '-');
      }
      row(L.copy, f.copies);
      // Any other line the signed text holds is shown as it is, under its own name.
      const known = new Set([...shown, 'copy', 'ledger-entry', 'ledger-tlog-proof']);
      for (const x of f.fields) if (!known.has(x.key)) row(x.key, x.value);
      row(L.ledger, `${f.ledgerIndex} / ${f.treeSize}`);
      row(L.origin, f.origin);
    }
    nodes.push(dl);
    if (f.event) {
      nodes.push(el('p', L.event, 'event-title'));
      const ev = el('dl', undefined, 'event');
      const erow = (label, value) => {
        ev.appendChild(el('dt', label));
        if (Array.isArray(value)) {
          const dd = el('dd');
          const ul = el('ul');
          for (const v of value) ul.appendChild(el('li', v));
          dd.appendChild(ul);
          ev.appendChild(dd);
        } else {
          ev.appendChild(el('dd', value));
        }
      };
      for (const k of ['time', 'actor', 'action', 'resources', 'decision', 'clause', 'outcome', 'commitment']) {
        erow(L[k], f.event[k]);
      }
      nodes.push(ev);
    } else if (f.eventError) {
      nodes.push(el('p', `${L.notEvent}: ${f.eventError}`, 'event-error'));
    }
  }
  while (out.firstChild) out.removeChild(out.firstChild);
  for (const n of nodes) out.appendChild(n);
  out.setAttribute('data-ok', result.ok ? 'true' : 'false');
}

/**
 * Wires the form `#verify-form` of `doc` (see the top of this file). Returns the submit
 * handler, or null when the page has no such form. Runs on its own when a document exists.
 */
export function attach(doc) {
  const form = doc.getElementById('verify-form');
  const out = doc.getElementById('result');
  if (!form || !out) return null;
  const kindSelect = doc.getElementById('kind');
  const entryFields = doc.getElementById('entry-fields');
  const kindNow = () => (kindSelect && kindSelect.value === 'certificate' ? 'certificate' : 'proof');
  const showEntry = () => {
    if (entryFields) entryFields.hidden = kindNow() !== 'proof';
  };
  if (kindSelect && kindSelect.addEventListener) kindSelect.addEventListener('change', showEntry);
  showEntry();
  let generation = 0;
  const onSubmit = async (event) => {
    if (event && typeof event.preventDefault === 'function') event.preventDefault();
    const mine = ++generation;
    const L = labelsFor(doc);
    const kind = kindNow();
    out.setAttribute('aria-busy', 'true');
    while (out.firstChild) out.removeChild(out.firstChild);
    out.appendChild(doc.createTextNode(L.verifying));
    let result;
    const hints = [];
    try {
      const keyArea = doc.getElementById('verifier-key');
      const key = keyArea && typeof keyArea.value === 'string' ? keyArea.value : '';
      const input = await readInput(doc, 'file', 'text', L);
      const entry = kind === 'proof' ? await readInput(doc, 'entry-file', 'entry-text', L) : { value: null };
      if (input.error || entry.error) {
        result = { ok: false, errors: [input.error || entry.error], facts: {} };
      } else if (input.value === null) {
        result = { ok: false, errors: [L.noInput], facts: {} };
      } else if (rustTrim(key) === '') {
        result = { ok: false, errors: [L.noKey], facts: {} };
      } else if (kind === 'proof') {
        result = await verifyProof(input.value, key, entry.value);
        if (!result.ok && firstLine(input.value) === CERT_MAGIC) hints.push(L.looksLikeCert);
      } else {
        result = await verifyCertificate(input.value, key);
        if (!result.ok && firstLine(input.value) === TLOG_PROOF) hints.push(L.looksLikeProof);
      }
    } catch (e) {
      result = { ok: false, errors: [`unexpected error: ${e && e.message ? e.message : e}`], facts: {} };
    }
    if (mine !== generation) return result; // a later submission supersedes this one
    render(doc, out, L, kind, result, hints);
    out.removeAttribute('aria-busy');
    return result;
  };
  form.addEventListener('submit', onSubmit);
  return onSubmit;
}

if (typeof document !== 'undefined' && document && typeof document.getElementById === 'function') {
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => attach(document), { once: true });
  } else {
    attach(document);
  }
}
