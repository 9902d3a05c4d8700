// The secure drop in a real browser (issue 11): Debian's Chromium opens a drop's link,
// gives its password, picks a 200 MiB file, and the page encrypts it with age and sends it
// over tus. The server is killed (SIGKILL) and restarted mid-way: the upload resumes and
// finishes. Then the technical operator's copy gives back the original bytes, anyone
// else is refused (PRE-3), and the lost deal's sweep destroys it with a certificate (PRE-6).
//
//   cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci && node --test drop.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { DEFAULT_BIN, copyBinary, makeCert, runner, serve } from './setup.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SIZE = 200 * 1024 * 1024;
const MARKER = 'MARQUEUR-DEPOT-NAVIGATEUR-2026';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir, bin, g, tls, dataDir, server, browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gardien-drop-browser-'));
  bin = await copyBinary(process.env.GARDIEN_BIN || DEFAULT_BIN, dir);
  tls = makeCert(dir);
  dataDir = join(dir, 'data');
  g = runner(bin, dataDir);
  g(['init', '--operator', 'hebergeur.example']);
  g(['client', 'add', 'lycee-hugo', '--name', 'Lycée Victor Hugo']);
  g(['person', 'add', 'jdupont', '--role', 'technical-operator', '--name', 'Jeanne Dupont']);
  g(['person', 'add', 'autre-tech', '--role', 'technical-operator']);
  g(['environment', 'add', 'portable-jdupont', '--kind', 'local-test', '--holder', 'jdupont']);
  g(['contract', 'add', 'hugo-essai', '--client', 'lycee-hugo', '--presales-until', '2099-12-31']);
  server = await serve(bin, dataDir, tls);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    headless: true,
  });
}, { timeout: 20 * 60_000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) server.child.kill('SIGKILL');
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

/** A file of `size` random bytes with a marker in it; its SHA-256. */
function bigFile(path, size) {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  let left = size - MARKER.length;
  while (left > 0) {
    const b = randomBytes(Math.min(left, 8 << 20));
    writeSync(fd, b);
    h.update(b);
    left -= b.length;
  }
  writeSync(fd, MARKER);
  h.update(MARKER);
  closeSync(fd);
  return h.digest('hex');
}

/** axe-core on `url` (after `steps`), in a context of its own that lets axe's script in. */
async function axe(url, steps = async () => {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(url);
  await steps(page);
  await page.addScriptTag({ content: AXE_SOURCE });
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  await context.close();
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
}

test('a 200 MiB file, encrypted in the browser, survives a server kill and lands for its technical operator only', { timeout: 15 * 60_000 }, async () => {
  const d = JSON.parse(g(['drop', 'create', '--client', 'lycee-hugo', '--to', 'jdupont', '--contract', 'hugo-essai', '--json']));
  const file = join(dir, 'export-moodle.sql');
  const sha = bigFile(file, SIZE);
  // Its own subdirectory: journeys.test.mjs checks the screenshot dir holds its pages only.
  const shots = process.env.SCREENSHOTS && join(process.env.SCREENSHOTS, 'drop');
  if (shots) mkdirSync(shots, { recursive: true });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION/.test(m.text())) errors.push(m.text()); });

  // The same page for any link: nothing tells whether a drop exists (PRE-1).
  await page.goto(`${server.base}/d/not-a-real-link`);
  const unknownHtml = (await page.content()).replace(/\/d\/[^/"]+\/session/, '');
  await page.goto(`${server.base}${d.url}`);
  assert.equal((await page.content()).replace(/\/d\/[^/"]+\/session/, ''), unknownHtml);
  assert.deepEqual(await axe(page.url()), [], 'axe, password form (FR)');
  assert.deepEqual(await axe(`${page.url()}?lang=en`), [], 'axe, password form (EN)');
  if (shots) await page.screenshot({ path: join(shots, 'drop-1-password.png'), fullPage: true });

  // A wrong password: the one refusal.
  await page.fill('#password', 'pas-le-bon-mot-de-passe');
  await page.click('#open button');
  await page.waitForSelector('#open-error:not([hidden])');
  assert.match(await page.textContent('#open-error'), /n'ouvrent pas de dépôt/);

  await page.fill('#password', d.password);
  await page.click('#open button');
  await page.waitForSelector('#drop:not([hidden])');
  assert.equal(await page.textContent('#d-to'), 'jdupont');
  assert.equal(await page.textContent('#d-client'), 'lycee-hugo');
  for (const lang of ['fr', 'en']) {
    const open = async (p) => {
      await p.fill('#password', d.password);
      await p.click('#open button');
      await p.waitForSelector('#drop:not([hidden])');
    };
    assert.deepEqual(await axe(`${server.base}${d.url}?lang=${lang}`, open), [], `axe, the drop (${lang})`);
  }
  if (shots) await page.screenshot({ path: join(shots, 'drop-2-open.png'), fullPage: true });

  await page.setInputFiles('#file', file);
  // Loopback is faster than any sender's link: 25 MB/s up, so the kill lands mid-way.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 25e6 });
  await page.click('#send');
  // Mid-way, the server dies (SIGKILL) and comes back on the same address.
  await page.waitForFunction(() => Number(document.getElementById('bar').value) > 30, null, { timeout: 5 * 60_000, polling: 100 });
  const at = await page.evaluate(() => Number(document.getElementById('bar').value));
  if (shots) await page.screenshot({ path: join(shots, 'drop-3-progress.png'), fullPage: true });
  const listen = server.base.replace('https://', '');
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGKILL');
  await exited;
  await sleep(1500);
  server = await serve(bin, dataDir, tls, 30_000, listen);
  await page.waitForFunction(() => document.body.dataset.dropDone === '1' || document.body.dataset.dropFailed === '1', null, { timeout: 10 * 60_000, polling: 500 });
  const status = await page.textContent('#status');
  if (shots) await page.screenshot({ path: join(shots, 'drop-4-done.png'), fullPage: true });
  assert.equal(await page.evaluate(() => document.body.dataset.dropDone), '1', `the upload did not finish: ${status}`);
  assert.ok(at > 30 && at < 100, `killed at ${at} %`);
  assert.deepEqual(errors, []);

  // In the vault: a sample of lycee-hugo's, addressed to jdupont, the original bytes.
  const shown = JSON.parse(g(['drop', 'show', d.id, '--json']));
  assert.equal(shown.state, 'received');
  const ds = shown.dataset;
  const info = JSON.parse(g(['dataset', 'show', ds, '--json']));
  assert.equal(info.sha256, sha);
  assert.equal(info.size, SIZE);
  const out = join(dir, 'copie.sql');
  g(['copy', 'out', ds, '--to', 'portable-jdupont', '-o', out], { as: 'jdupont' });
  assert.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), sha);
  rmSync(out);
  // PRE-3: nobody else reads it.
  assert.throws(() => g(['copy', 'out', ds, '--to', 'portable-jdupont', '-o', join(dir, 'x')], { as: 'autre-tech' }), /refused/);
  assert.ok(!existsSync(join(dir, 'x')));
  // PRE-6: the deal is lost; the sweep destroys it, and its certificate says so.
  g(['copy', 'attest', ds, (c => c.copy || c.id)(JSON.parse(g(['copy', 'list', ds, '--json']))[0])], { as: 'jdupont' });
  g(['contract', 'deal', 'hugo-essai', '--lost']);
  g(['sweep']);
  assert.match(g(['certificate', 'list']), new RegExp(ds));
  await context.close();
});
