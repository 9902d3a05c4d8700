// The secure drop's tus 1.0 endpoint, driven by real clients: tus-js-client (its Node build)
// and curl. Runs the binary named by $GARDIEN_BIN on a throwaway data dir with one
// `gardien serve` on loopback, and opens one drop per case (a drop takes one file). Each case
// checks that the drop is `received`, that its dataset's size and sha256 are the plaintext's,
// that `copy out` gives the plaintext back byte for byte, and that the drop's link no longer
// opens a session (403).
//
//   cd tests/drop && npm ci && GARDIEN_BIN=/path/to/gardien npm test
//
// Needs Debian's `age` and `curl`.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import * as tus from 'tus-js-client'

const MIB = 1024 * 1024
const BIN = process.env.GARDIEN_BIN ? path.resolve(process.env.GARDIEN_BIN) : null

let root // the temp dir: data dir, server stderr, files
let env // the environment every gardien command runs with
let server // the `gardien serve` child, in its own process group
let base // http://127.0.0.1:PORT

function gardien(args, { as } = {}) {
  const argv = as ? ['--as', as, ...args] : args
  try {
    return execFileSync(BIN, argv, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    throw new Error(`gardien ${argv.join(' ')} exited ${e.status}\n${e.stdout}\n${e.stderr}`)
  }
}

function serverStderr() {
  try {
    return fs.readFileSync(path.join(root, 'serve.stderr'), 'utf8')
  } catch {
    return ''
  }
}

before(async () => {
  assert.ok(BIN, 'GARDIEN_BIN must name the gardien binary')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gardien-tusjs-'))
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GARDIEN_')))
  env.GARDIEN_DATA_DIR = path.join(root, 'data')
  gardien(['init', '--operator', 'hebergeur.example'])
  gardien(['client', 'add', 'acme', '--name', 'ACME Formation'])
  gardien(['person', 'add', 'tom', '--role', 'technical-operator'])
  gardien(['contract', 'add', 'case-1', '--client', 'acme', '--presales-until', '2027-06-30'])
  gardien(['environment', 'add', 'laptop', '--kind', 'local-test', '--holder', 'tom'])

  const errFd = fs.openSync(path.join(root, 'serve.stderr'), 'w')
  server = spawn(BIN, ['serve', '--listen', '127.0.0.1:0'], {
    env,
    detached: true, // its own process group, killed whole in after()
    stdio: ['ignore', 'ignore', errFd],
  })
  fs.closeSync(errFd)
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const m = serverStderr().match(/gardien listening on (http:\/\/127\.0\.0\.1:\d+)/)
    if (m) {
      base = m[1]
      return
    }
    if (server.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`gardien serve did not start:\n${serverStderr()}`)
})

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r))
    try {
      process.kill(-server.pid, 'SIGTERM')
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-server.pid, 'SIGKILL')
      } catch {}
    }, 10_000)
    await exited
    clearTimeout(timer)
  }
  if (failures === 0 && base) {
    fs.rmSync(root, { recursive: true, force: true })
  } else if (root) {
    console.log(`# gardien serve stderr:\n${serverStderr().replace(/^/gm, '#   ')}`)
    console.log(`# data dir kept in ${root}`)
  }
})

let failures = 0 // the temp dir is kept when a case failed
function track(name, fn) {
  return test(name, { timeout: 30_000 }, async (t) => {
    try {
      await fn(t)
    } catch (e) {
      failures++
      throw e
    }
  })
}

async function openSession(drop) {
  const res = await fetch(base + drop.url + '/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ password: drop.password }),
  })
  return { status: res.status, body: await res.text() }
}

/** A fresh drop and an open upload session. */
async function newDrop() {
  const drop = JSON.parse(
    gardien(['drop', 'create', '--client', 'acme', '--to', 'tom', '--contract', 'case-1', '--json']),
  )
  const { status, body } = await openSession(drop)
  assert.equal(status, 200, `session open: ${body}`)
  const sess = JSON.parse(body)
  assert.equal(sess.tus_endpoint, '/tus/')
  assert.equal(sess.recipient, drop.recipient)
  return { drop, sess, endpoint: base + sess.tus_endpoint }
}

/** A random plaintext of `size` bytes in a fresh work dir, and its age file for `recipient`. */
function makeAgeFile(name, size, recipient) {
  const work = fs.mkdtempSync(path.join(root, `${name}-`))
  const plain = path.join(work, `${name}.bin`)
  const fd = fs.openSync(plain, 'w')
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 4 * MIB)
    fs.writeSync(fd, randomBytes(n))
    left -= n
  }
  fs.closeSync(fd)
  const enc = `${plain}.age`
  execFileSync('age', ['-r', recipient, '-o', enc, plain])
  return { work, plain, enc }
}

function sha256File(p) {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex')
}

/** The drop received its one file, and the dataset gives the plaintext back. */
async function assertReceived(drop, plain, work) {
  const shown = JSON.parse(gardien(['drop', 'show', drop.id, '--json']))
  assert.equal(shown.state, 'received', JSON.stringify(shown))
  assert.match(shown.dataset ?? '', /^ds-/)
  const want = sha256File(plain)
  const info = JSON.parse(gardien(['dataset', 'show', shown.dataset, '--json'], { as: 'tom' }))
  assert.equal(info.size, fs.statSync(plain).size)
  assert.equal(info.sha256, want)
  const out = path.join(work, 'copy-out.bin')
  assert.ok(!fs.existsSync(out))
  gardien(['copy', 'out', shown.dataset, '--to', 'laptop', '-o', out], { as: 'tom' })
  assert.equal(sha256File(out), want, 'copy out gives the plaintext back')
  const again = await openSession(drop)
  assert.equal(again.status, 403, `a session on a received drop: ${again.body}`)
  return shown
}

/** Runs a tus-js-client upload to its end; resolves with the requests it sent. */
function tusUpload(source, options) {
  const log = []
  const entries = new Map() // request object -> its log entry
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(source, {
      retryDelays: null, // a failure is a failure: no silent retry
      ...options,
      onBeforeRequest(req) {
        const h = {}
        for (const k of ['Upload-Offset', 'Upload-Length', 'Upload-Defer-Length', 'Upload-Concat']) {
          const v = req.getHeader(k)
          if (v !== undefined) h[k] = v
        }
        const entry = { method: req.getMethod(), url: req.getURL(), headers: h }
        entries.set(req, entry)
        log.push(entry)
      },
      onAfterResponse(req, res) {
        const entry = entries.get(req)
        if (entry) {
          entry.status = res.getStatus()
          entry.offset = res.getHeader('Upload-Offset')
          entry.location = res.getHeader('Location')
        }
      },
      onError: (e) => reject(e),
      onSuccess: () => resolve({ upload, log }),
    })
    upload.start()
  })
}

track('tus-js-client: a ~10 MiB age file from a ReadStream, 2 MiB chunks', async () => {
  const { drop, sess, endpoint } = await newDrop()
  const { work, plain, enc } = makeAgeFile('single', 10 * MIB + 4321, sess.recipient)
  const size = fs.statSync(enc).size
  const { upload, log } = await tusUpload(fs.createReadStream(enc), {
    endpoint,
    chunkSize: 2 * MIB,
    headers: { Authorization: `Bearer ${sess.upload_token}` },
    metadata: { filename: 'single.bin.age' },
  })
  assert.match(upload.url, new RegExp(`^${base}/tus/up-`))
  const patches = log.filter((e) => e.method === 'PATCH')
  assert.equal(patches.length, Math.ceil(size / (2 * MIB)))
  assert.ok(patches.every((p) => p.status === 204), JSON.stringify(patches))
  assert.equal(Number(patches.at(-1).offset), size)
  await assertReceived(drop, plain, work)
})

track('tus-js-client: parallelUploads 3, partial uploads concatenated into a final one', async () => {
  const { drop, sess, endpoint } = await newDrop()
  const { work, plain, enc } = makeAgeFile('parallel', 10 * MIB + 777, sess.recipient)
  const size = fs.statSync(enc).size
  const { upload, log } = await tusUpload(fs.createReadStream(enc), {
    endpoint,
    chunkSize: 1 * MIB,
    parallelUploads: 3,
    headers: { Authorization: `Bearer ${sess.upload_token}` },
    metadata: { filename: 'parallel.bin.age' },
  })
  const posts = log.filter((e) => e.method === 'POST')
  const partials = posts.filter((e) => e.headers['Upload-Concat'] === 'partial')
  const finals = posts.filter((e) => (e.headers['Upload-Concat'] ?? '').startsWith('final;'))
  assert.equal(partials.length, 3, JSON.stringify(posts))
  assert.ok(partials.every((p) => p.status === 201), JSON.stringify(partials))
  assert.equal(finals.length, 1, JSON.stringify(posts))
  assert.equal(finals[0].status, 201, JSON.stringify(finals))
  assert.equal(finals[0].headers['Upload-Concat'].split(/[; ]/).length, 4)
  assert.match(upload.url, new RegExp(`^${base}/tus/up-`))
  // The partial uploads' bytes add up to the file.
  const patched = log
    .filter((e) => e.method === 'PATCH' && e.status === 204)
    .reduce((m, e) => m.set(e.url, Math.max(m.get(e.url) ?? 0, Number(e.offset))), new Map())
  assert.equal([...patched.values()].reduce((a, b) => a + b, 0), size)
  const shown = await assertReceived(drop, plain, work)
  assert.ok(shown.uploads.some((u) => u.concat && u.concat !== 'none'), JSON.stringify(shown.uploads))
})

track('tus-js-client: uploadLengthDeferred, the source a pipe from age', async () => {
  const { drop, sess, endpoint } = await newDrop()
  const { work, plain, enc } = makeAgeFile('deferred', 5 * MIB + 99, sess.recipient)
  fs.rmSync(enc) // the upload reads age's stdout, a stream of unknown length
  const age = spawn('age', ['-r', sess.recipient], { stdio: [fs.openSync(plain, 'r'), 'pipe', 'inherit'] })
  const ageExit = new Promise((r) => age.once('exit', r))
  // Through a PassThrough: tus-js-client 4.3.1's StreamSource, reading a child process's
  // stdout (a net.Socket) directly, sees the stream end while data is still unread and
  // uploads a truncated file (the server then rightly refuses it, 422). Its size must also
  // not be a multiple of chunkSize (tus-js-client issue #779: the upload hangs).
  const source = age.stdout.pipe(new PassThrough())
  const { log } = await tusUpload(source, {
    endpoint,
    chunkSize: 1 * MIB,
    uploadLengthDeferred: true,
    headers: { Authorization: `Bearer ${sess.upload_token}` },
    metadata: { filename: 'deferred.bin.age' },
  })
  assert.equal(await ageExit, 0)
  const post = log.find((e) => e.method === 'POST')
  assert.equal(post.headers['Upload-Defer-Length'], '1')
  assert.equal(post.headers['Upload-Length'], undefined)
  assert.equal(post.status, 201)
  const patches = log.filter((e) => e.method === 'PATCH')
  assert.ok(patches.every((p) => p.status === 204), JSON.stringify(patches))
  const last = patches.at(-1)
  const total = Number(last.headers['Upload-Length'])
  assert.ok(total > 5 * MIB, JSON.stringify(last))
  assert.equal(Number(last.offset), total)
  assert.ok(patches.slice(0, -1).every((p) => p.headers['Upload-Length'] === undefined))
  // tus-js-client 4.3.1 in Node sends Upload-Length with the last bytes: its StreamSource sees
  // the end only when a read comes up short. A source whose size is a multiple of chunkSize
  // would need the empty PATCH after the last chunk, but there 4.3.1 waits forever for the
  // end (tus-js-client issue #779). The empty PATCH with Upload-Length is the curl case's.
  assert.ok(Number(patches.at(-2).offset) < total, 'the last PATCH carried bytes')
  await assertReceived(drop, plain, work)
})

track('curl: age | curl creation-with-upload of a pipe, deferred length, then an empty PATCH', async () => {
  const { drop, sess } = await newDrop()
  const { work, plain, enc } = makeAgeFile('curl', 3 * MIB + 5, sess.recipient)
  const size = fs.statSync(enc).size
  fs.rmSync(enc)
  const hdrs = path.join(work, 'post.headers')
  // `-T -` reads stdin of unknown length: curl sends it chunked. No trailing slash on the
  // URL, or curl appends the file name ("-") to it.
  execFileSync(
    'bash',
    [
      '-c',
      'set -o pipefail; age -r "$R" "$PLAIN" | curl -sS -v -f -X POST -D "$HDRS" -o /dev/null ' +
        '-H "Authorization: Bearer $TOKEN" -H "Tus-Resumable: 1.0.0" -H "Upload-Defer-Length: 1" ' +
        '-H "Content-Type: application/offset+octet-stream" -T - "$URL" 2>"$TRACE"',
    ],
    {
      env: {
        ...process.env,
        R: sess.recipient,
        PLAIN: plain,
        HDRS: hdrs,
        TOKEN: sess.upload_token,
        URL: `${base}/tus`,
        TRACE: path.join(work, 'curl.trace'),
      },
    },
  )
  const trace = fs.readFileSync(path.join(work, 'curl.trace'), 'utf8')
  assert.match(trace, /^> Transfer-Encoding: chunked/im, 'curl sent the pipe chunked')
  // The last header block (curl sent `Expect: 100-continue`, so a 100 may come first).
  const head = fs.readFileSync(hdrs, 'utf8').trim().split(/\r?\n\r?\n/).at(-1)
  assert.match(head, /^HTTP\/1\.1 201/, head)
  const location = head.match(/^location: (\S+)/im)?.[1]
  const offset = Number(head.match(/^upload-offset: (\d+)/im)?.[1])
  assert.match(location ?? '', /^\/tus\/up-/, head)
  assert.equal(offset, size, `the POST kept the whole pipe: ${head}`)

  const res = await fetch(base + location, {
    method: 'PATCH',
    headers: {
      Authorization: `Bearer ${sess.upload_token}`,
      'Tus-Resumable': '1.0.0',
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(offset),
      'Upload-Length': String(offset),
    },
    body: new Uint8Array(0),
  })
  assert.equal(res.status, 204, await res.text())
  assert.equal(res.headers.get('upload-offset'), String(size))
  await assertReceived(drop, plain, work)
})
