// Builds a realistic gardien data dir with the real binary and starts `gardien serve` on it
// over HTTPS (a test CA and a leaf certificate for 127.0.0.1, made with openssl).
//
//   import { startGardien } from './setup.mjs';
//   const g = await startGardien();   // { base, bin, dataDir, ids, ... , kill() }
//
// GARDIEN_BIN names the binary (default: the workspace's release build). It is copied into
// the temp dir first, so that a rebuild under way does not pull it from under the server.

import { spawn, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_BIN = resolve(here, '../../target/release/gardien');
export const PASSWORD = 'correct horse battery staple';
export const OPERATOR = 'hebergeur.example';

// A scope long enough to wrap, over several lines, as a real request would be.
export const OBSERVATION_SCOPE = [
  'Observation des pratiques pédagogiques sur la plateforme Moodle du lycée, année scolaire 2025-2026.',
  "Données lues : l'activité des forums des classes de seconde (messages, dates, fils de discussion), " +
    'anonymisée avant toute lecture : chaque identifiant est remplacé par un numéro sans lien avec la personne.',
  'Exclus : les messages privés, les notes, les données de santé et tout document déposé par les élèves.',
  "Durée : jusqu'au 30 juin 2027 ; les extraits sont détruits à la fin de l'étude et un certificat est remis au lycée.",
  "Finalité : une étude sur l'usage des forums en classe, publiée sous forme agrégée seulement.",
].join('\n');

export const DISCLOSURE_SCOPE =
  "Transmettre la liste des élèves de seconde (nom, prénom, classe) au prestataire de l'ENT, " +
  'pour créer leurs comptes avant la rentrée.';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The environment without any GARDIEN_* variable (each command names what it means). */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GARDIEN_')) delete env[k];
  return env;
}

/** Runs the copied binary; returns its stdout (trimmed). Throws with its stderr. */
export function runner(bin, dataDir) {
  return (args, { input, as } = {}) => {
    const full = ['--data-dir', dataDir, ...(as ? ['--as', as] : []), ...args];
    try {
      return execFileSync(bin, full, {
        input: input ?? '',
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: 60_000,
        env: cleanEnv(),
      }).trim();
    } catch (e) {
      throw new Error(`gardien ${full.join(' ')} failed (${e.status}): ${e.stderr || e.message}`);
    }
  };
}

/**
 * Copies the binary into `dir` and checks that the copy runs. A binary missing or being
 * rewritten by a build is waited for (up to `waitMs`).
 */
export async function copyBinary(src, dir, waitMs = 15 * 60_000) {
  const dst = join(dir, 'gardien');
  const deadline = Date.now() + waitMs;
  let last;
  for (;;) {
    try {
      rmSync(dst, { force: true });
      copyFileSync(src, dst);
      chmodSync(dst, 0o755);
      execFileSync(dst, ['serve', '--help'], { stdio: 'pipe', timeout: 30_000 });
      return dst;
    } catch (e) {
      last = e;
      if (Date.now() > deadline) throw new Error(`cannot use the gardien binary ${src}: ${e.message}`);
      await sleep(10_000);
    }
  }
}

/** A test CA and a leaf certificate it signed for IP:127.0.0.1 (CA:FALSE). */
export function makeCert(dir) {
  const o = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 60_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  o(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=gardien browser-test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  o(['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'key.pem', '-out', 'req.pem']);
  writeFileSync(
    join(dir, 'ext'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  o(['x509', '-req', '-in', 'req.pem', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext', '-out', 'cert.pem']);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

// Bech32 (BIP 173), for fresh age X25519 recipients (`age1...`).
const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
function polymod(values) {
  const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const b = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= G[i];
  }
  return chk >>> 0;
}
function bech32(hrp, bytes) {
  const data = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      data.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) data.push((acc << (5 - bits)) & 31);
  const expand = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)];
  const mod = polymod([...expand, ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...data, ...checksum].map((d) => BECH32[d]).join('')}`;
}

/** A fresh age recipient (an X25519 public key, `age1...`). */
export function ageRecipient() {
  const { publicKey } = generateKeyPairSync('x25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  return bech32('age', raw);
}

/** Builds the data dir (see the top of this file). Returns what the journeys need to know. */
export function buildDataDir(bin, dir) {
  const dataDir = join(dir, 'data');
  const g = runner(bin, dataDir);
  g(['init', '--operator', OPERATOR]);
  g(['client', 'add', 'lycee-hugo', '--name', 'Lycée Victor Hugo']);
  g(['client', 'add', 'univ-nord', '--name', 'Université du Nord']);
  const people = [
    ['admin-hugo', 'client-admin', 'lycee-hugo', 'Anne Martin'],
    ['signer-hugo', 'client-signer', 'lycee-hugo', 'Paul Proviseur'],
    ['chercheur', 'third-party', 'lycee-hugo', 'Claire Chercheuse'],
    ['admin-nord', 'client-admin', 'univ-nord', 'Nadia Nord'],
  ];
  for (const [handle, role, client, name] of people) {
    g(['person', 'add', handle, '--role', role, '--client', client, '--name', name]);
    g(['person', 'password', handle], { input: `${PASSWORD}\n` });
  }
  g(['person', 'add', 'jdupont', '--role', 'technical-operator', '--name', 'Jeanne Dupont']);

  const files = join(dir, 'files');
  execFileSync('mkdir', ['-p', files]);
  const file = (name, text) => {
    writeFileSync(join(files, name), text);
    return join(files, name);
  };
  // lycee-hugo: loading data under a concluded contract (destroyed when the VSR ends), and
  // a plain file; univ-nord: one file.
  g(['contract', 'add', 'hugo', '--client', 'lycee-hugo']);
  g(['contract', 'deal', 'hugo', '--concluded']);
  g(['contract', 'set', 'hugo', '--vsr-until', '2027-03-31']);
  const moodle = g([
    'dataset', 'ingest', file('moodle-hugo.sql', 'CREATE TABLE mdl_user (id int, username text);\nINSERT INTO mdl_user VALUES (1, \'eleve1\');\n'),
    '--client', 'lycee-hugo', '--class', 'loading-data', '--contract', 'hugo', '--label', 'Base Moodle du lycée',
  ]);
  const eleves = g([
    'dataset', 'ingest', file('eleves.csv', 'nom,prenom,classe\nHugo,Victor,2nde A\nSand,George,2nde B\n'),
    '--client', 'lycee-hugo', '--class', 'other', '--label', 'Liste des élèves',
  ]);
  const nord = g([
    'dataset', 'ingest', file('notes-nord.csv', 'etudiant,ue,note\n1,INF101,14\n'),
    '--client', 'univ-nord', '--class', 'other', '--label', 'Notes Université du Nord',
  ]);
  // A pre-sales sample, the deal lost: the sweep destroys it and issues its certificate.
  g(['contract', 'add', 'hugo-essai', '--client', 'lycee-hugo', '--presales-until', '2099-12-31']);
  const sample = g([
    'dataset', 'ingest', file('echantillon.csv', 'id,valeur\n1,a\n2,b\n'),
    '--client', 'lycee-hugo', '--class', 'presales-sample', '--contract', 'hugo-essai', '--to', 'jdupont',
    '--label', "Échantillon d'avant-vente",
  ]);
  g(['contract', 'deal', 'hugo-essai', '--lost']);
  g(['sweep']);
  const certLine = g(['certificate', 'list']).split('\n').find((l) => l.includes(sample));
  if (!certLine) throw new Error(`no certificate for the destroyed sample ${sample}`);
  const certificate = certLine.trim().split(/\s+/)[0];
  // An observation for the third party, waiting for the signer.
  const approval = g([
    'approval', 'request', 'observation', '--client', 'lycee-hugo', '--for', 'chercheur', '--dataset', moodle,
    '--scope', OBSERVATION_SCOPE, '--until', '2027-06-30',
  ]);
  // A disclosure still waiting for the signer (its page shows the decision form).
  const pending = g([
    'approval', 'request', 'disclosure', '--client', 'lycee-hugo', '--for', 'chercheur', '--dataset', eleves,
    '--scope', DISCLOSURE_SCOPE, '--until', '2027-01-31',
  ]);
  // One age key already registered for lycee-hugo, by its admin.
  const existingKey = ageRecipient();
  g(['client', 'key', 'add', 'lycee-hugo', existingKey, '--label', 'Clé du proviseur'], { as: 'admin-hugo' });
  // Its Moodle site (OPS-2: handed back from the portal); no database answers at that
  // socket, so a restitution asked for here fails, and the page says so.
  mkdirSync(join(dir, 'moodledata', 'filedir'), { recursive: true });
  g(['site', 'add', 'hugo-moodle', '--client', 'lycee-hugo', '--contract', 'hugo',
    '--db', 'postgres://moodle@/moodle?host=/nonexistent', '--moodledata', join(dir, 'moodledata')]);
  // A server dedicated to lycee-hugo, checked once: its HTTPS does not answer (a WEB-1
  // finding the server's page shows); `server check` exits 3 when it finds anything.
  g(['server', 'add', 'hugo-1', '--site', 'fr-roubaix', '--kind', 'dedicated', '--client', 'lycee-hugo',
    '--address', '127.0.0.1:1']);
  g(['server', 'app', 'add', 'hugo-1', '--kind', 'moodle', '--domain', 'moodle.lycee-hugo.fr', '--https', '127.0.0.1:1']);
  try {
    g(['server', 'check', 'hugo-1', '--ports', '1', '--timeout-ms', '500']);
  } catch (e) {
    if (!/failed \(3\)/.test(e.message)) throw e;
  }
  const verifierKey = g(['ledger', 'key']);
  return {
    dataDir,
    verifierKey,
    ids: { moodle, eleves, nord, sample, certificate, approval, pending, existingKey },
  };
}

/**
 * Starts `gardien serve` on `dataDir` over HTTPS on a free loopback port; resolves once it
 * printed `... gardien listening on https://127.0.0.1:PORT`.
 */
export function serve(bin, dataDir, tls, timeoutMs = 30_000, listen = '127.0.0.1:0') {
  const child = spawn(
    bin,
    ['--data-dir', dataDir, 'serve', '--listen', listen, '--tls-cert', tls.cert, '--tls-key', tls.key],
    { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() },
  );
  const log = [];
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gardien serve did not start within ${timeoutMs} ms:\n${log.join('\n')}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gardien serve exited (${code ?? signal}):\n${log.join('\n')}`));
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      log.push(line);
      const m = line.match(/gardien listening on (https:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, base: m[1], log });
      }
    });
  });
}

/**
 * Everything at once: a temp dir, the binary copied into it, a TLS certificate, the data
 * dir, the server. `kill()` stops the server and removes the temp dir (unless `keep`).
 */
export async function startGardien({ bin = process.env.GARDIEN_BIN || DEFAULT_BIN, keep = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gardien-browser-'));
  let copied, tls, data, server;
  try {
    copied = await copyBinary(bin, dir);
    tls = makeCert(dir);
    data = buildDataDir(copied, dir);
    server = await serve(copied, data.dataDir, tls);
  } catch (e) {
    if (!keep) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    if (server.child.exitCode === null && server.child.signalCode === null) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      const t = setTimeout(() => server.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  return {
    base: server.base,
    bin: copied,
    dir,
    dataDir: data.dataDir,
    tls,
    verifierKey: data.verifierKey,
    ids: data.ids,
    log: server.log,
    gardien: runner(copied, data.dataDir),
    kill,
  };
}

// `node setup.mjs`: build and serve, print where, until Ctrl-C (to look around by hand).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const g = await startGardien({ keep: true });
  console.log(JSON.stringify({ base: g.base, dataDir: g.dataDir, ids: g.ids, verifierKey: g.verifierKey }, null, 2));
  const stop = async () => {
    await g.kill();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
