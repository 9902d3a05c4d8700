//! The age v1 file format (<https://c2sp.org/age>), written and read by us so that
//! the payload can be sealed and opened on every core, and so that a file can be
//! handed to another recipient by re-wrapping its file key in a new header while the
//! payload bytes stay as they are.
//!
//! The `age` crate does the key wrapping (its X25519 `Recipient`/`Identity` are the
//! one joint of the format); this module does the framing it keeps private: the header
//! with its MAC, and the STREAM payload (ChaCha20-Poly1305 over 64 KiB chunks, here
//! through `ring`, which has the fastest sound implementation on this hardware).
//! Every file written here opens with Debian's `age -d`, and every file `age`
//! writes to an X25519 recipient opens here: the tests hold both.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, mpsc};

use age::{Identity as _, Recipient as _};
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD_NO_PAD;
use rand::RngCore as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Plaintext bytes in one STREAM chunk.
pub const CHUNK: usize = 64 * 1024;
/// Poly1305 tag bytes after each chunk.
const TAG: usize = 16;
/// Ciphertext bytes of a full chunk.
const CT_CHUNK: usize = CHUNK + TAG;
/// Chunks handed to a worker at a time: large enough to amortise the hand-offs, small
/// enough that the pipeline's memory stays a few MiB whatever the input size.
const CHUNKS_PER_BLOCK: usize = 16;
/// Plaintext bytes in one block.
pub const BLOCK: usize = CHUNK * CHUNKS_PER_BLOCK;
const CT_BLOCK: usize = CT_CHUNK * CHUNKS_PER_BLOCK;
const PAYLOAD_NONCE: usize = 16;
const MAGIC: &str = "age-encryption.org/v1";
/// No header we write or accept is larger: one or a few stanzas, never megabytes.
const MAX_HEADER: usize = 64 * 1024;

/// What can go wrong reading or writing an age file.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// The bytes are not an age v1 header.
    #[error("not an age v1 file (bad header)")]
    BadHeader,
    /// No stanza of the header opens with the identity we hold.
    #[error("the key does not open this file")]
    NoMatchingKey,
    /// The header was altered after it was written.
    #[error("the header's MAC does not match (the file was altered)")]
    BadMac,
    /// A payload chunk failed authentication, or the payload was cut short or extended.
    #[error("payload chunk {chunk} failed authentication (the file was altered or truncated)")]
    BadChunk {
        /// Index of the first chunk that failed.
        chunk: u64,
    },
    /// The age crate refused to wrap the file key.
    #[error("could not wrap the file key: {0}")]
    Wrap(String),
    /// Reading the input or writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The consumer of the stream stopped it with an error of its own.
    #[error("{0}")]
    Sink(String),
}

/// A fresh random file key.
pub fn new_file_key() -> FileKey {
    FileKey::init_with_mut(|k| rand::rngs::OsRng.fill_bytes(k))
}

/// Serialises a v1 header for `stanzas`, MACed with the file key, ending with its newline.
pub fn write_header(file_key: &FileKey, stanzas: &[Stanza]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    for s in stanzas {
        out.extend_from_slice(b"-> ");
        out.extend_from_slice(s.tag.as_bytes());
        for a in &s.args {
            out.push(b' ');
            out.extend_from_slice(a.as_bytes());
        }
        out.push(b'\n');
        let body = BASE64_STANDARD_NO_PAD.encode(&s.body);
        let mut rest = body.as_str();
        // Full lines are 64 columns; the last line is always shorter, empty if need be.
        while rest.len() >= 64 {
            let (line, r) = rest.split_at(64);
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            rest = r;
        }
        out.extend_from_slice(rest.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"---");
    let mac = header_mac(file_key, &out);
    out.push(b' ');
    out.extend_from_slice(BASE64_STANDARD_NO_PAD.encode(mac.as_ref()).as_bytes());
    out.push(b'\n');
    out
}

/// A header with `file_key` wrapped to one X25519 recipient.
pub fn header_for(file_key: &FileKey, recipient: &age::x25519::Recipient) -> Result<Vec<u8>, AgeError> {
    let (stanzas, _labels) = recipient.wrap_file_key(file_key).map_err(|e| AgeError::Wrap(e.to_string()))?;
    Ok(write_header(file_key, &stanzas))
}

fn header_mac(file_key: &FileKey, header_up_to_dashes: &[u8]) -> ring::hmac::Tag {
    let mac_key = Zeroizing::new(age_core::primitives::hkdf(&[], b"header", file_key.expose_secret()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key.as_ref());
    ring::hmac::sign(&key, header_up_to_dashes)
}

/// A parsed header: its stanzas, its MAC, and the exact bytes the MAC covers.
pub struct Header {
    /// The recipient stanzas.
    pub stanzas: Vec<Stanza>,
    mac: Vec<u8>,
    maced: Vec<u8>,
}

impl Header {
    /// Reads a header from the start of `input`, consuming exactly its bytes.
    pub fn read(input: &mut dyn Read) -> Result<Header, AgeError> {
        let mut raw = Vec::with_capacity(256);
        let mut lines: Vec<(usize, usize)> = Vec::new();
        // Byte-at-a-time reads would be slow on a raw file; headers are tiny, so read
        // lines through a one-byte buffer only until the MAC line. Callers pass buffered
        // readers where it matters.
        loop {
            let start = raw.len();
            loop {
                let mut b = [0u8; 1];
                if input.read(&mut b)? == 0 {
                    return Err(AgeError::BadHeader);
                }
                raw.push(b[0]);
                if b[0] == b'\n' {
                    break;
                }
                if raw.len() > MAX_HEADER {
                    return Err(AgeError::BadHeader);
                }
            }
            lines.push((start, raw.len() - 1));
            if raw[start..].starts_with(b"---") {
                break;
            }
        }
        let text = std::str::from_utf8(&raw).map_err(|_| AgeError::BadHeader)?;
        let line = |i: usize| &text[lines[i].0..lines[i].1];
        if line(0) != MAGIC {
            return Err(AgeError::BadHeader);
        }
        let mut stanzas = Vec::new();
        let mut i = 1;
        let last = lines.len() - 1;
        while i < last {
            let head = line(i).strip_prefix("-> ").ok_or(AgeError::BadHeader)?;
            let mut words = head.split(' ');
            let tag = words.next().filter(|t| !t.is_empty()).ok_or(AgeError::BadHeader)?;
            let args: Vec<String> = words.map(str::to_owned).collect();
            if args.iter().any(String::is_empty) {
                return Err(AgeError::BadHeader);
            }
            i += 1;
            let mut body_b64 = String::new();
            loop {
                if i >= last {
                    return Err(AgeError::BadHeader);
                }
                let l = line(i);
                i += 1;
                if l.len() > 64 {
                    return Err(AgeError::BadHeader);
                }
                body_b64.push_str(l);
                if l.len() < 64 {
                    break;
                }
            }
            let body = BASE64_STANDARD_NO_PAD.decode(&body_b64).map_err(|_| AgeError::BadHeader)?;
            stanzas.push(Stanza { tag: tag.to_owned(), args, body });
        }
        let mac_line = line(last);
        let mac_b64 = mac_line.strip_prefix("--- ").ok_or(AgeError::BadHeader)?;
        let mac = BASE64_STANDARD_NO_PAD.decode(mac_b64).map_err(|_| AgeError::BadHeader)?;
        if mac.len() != 32 || stanzas.is_empty() {
            return Err(AgeError::BadHeader);
        }
        let maced_len = lines[last].0 + 3;
        raw.truncate(maced_len);
        Ok(Header { stanzas, mac, maced: raw })
    }

    /// Unwraps the file key with `identity` and checks the header's MAC with it.
    pub fn open(&self, identity: &age::x25519::Identity) -> Result<FileKey, AgeError> {
        let file_key = match identity.unwrap_stanzas(&self.stanzas) {
            Some(Ok(k)) => k,
            Some(Err(_)) => return Err(AgeError::BadHeader),
            None => return Err(AgeError::NoMatchingKey),
        };
        let mac_key = Zeroizing::new(age_core::primitives::hkdf(&[], b"header", file_key.expose_secret()));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key.as_ref());
        // ring's verify compares in constant time.
        ring::hmac::verify(&key, &self.maced, &self.mac).map_err(|_| AgeError::BadMac)?;
        Ok(file_key)
    }
}

/// The payload key: HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload").
fn payload_key(file_key: &FileKey, nonce: &[u8; PAYLOAD_NONCE]) -> LessSafeKey {
    let k = Zeroizing::new(age_core::primitives::hkdf(nonce, b"payload", file_key.expose_secret()));
    #[allow(clippy::expect_used)] // 32 bytes is ChaCha20-Poly1305's key length
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, k.as_ref()).expect("32-byte key"))
}

fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// What a sealed or opened payload held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `input` in blocks of `size` bytes, one block ahead so that the last one is known
/// as such (age flags the final chunk), and hands each to `send` with its sequence number.
/// Stops early when `send` returns false. Returns the bytes read.
fn read_blocks(
    input: &mut dyn Read,
    size: usize,
    pool: Option<&Pool>,
    mut send: impl FnMut(u64, Vec<u8>, bool) -> bool,
) -> Result<u64, AgeError> {
    // A block the workers are done with, or a new one.
    let block = || {
        let mut b = pool.and_then(Pool::take).unwrap_or_default();
        b.resize(size, 0);
        b
    };
    let mut total = 0u64;
    let mut cur = block();
    let mut len = read_full(input, &mut cur)?;
    for seq in 0.. {
        let mut next = Vec::new();
        let mut next_len = 0;
        let mut last = len < size;
        if !last {
            next = block();
            next_len = read_full(input, &mut next)?;
            last = next_len == 0;
        }
        cur.truncate(len);
        total += len as u64;
        if !send(seq, cur, last) || last {
            break;
        }
        cur = next;
        len = next_len;
    }
    Ok(total)
}

/// Blocks given back by the last of the hasher and the worker to be done with them: a
/// new block would be zeroed (a memset of the whole input) before it is read into.
#[derive(Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.pop()
    }

    /// Keeps `block` if this was its last holder (a few at most: as many as are in flight).
    fn give(&self, block: Arc<Vec<u8>>) {
        if let Some(b) = Arc::into_inner(block)
            && let Ok(mut p) = self.0.lock()
            && p.len() < 16
        {
            p.push(b);
        }
    }
}

/// The next job for a worker; `None` once the queue is closed.
fn next_job<T>(rx: &Mutex<mpsc::Receiver<T>>) -> Option<T> {
    rx.lock().ok()?.recv().ok()
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4)
}

struct Job {
    seq: u64,
    data: Arc<Vec<u8>>,
    last: bool,
}

/// Positional writes, called from several threads at once, each range written exactly
/// once: where sealed bytes go, and where opened plaintext goes when it is a file. A file
/// (`pwrite`) is the natural one; spreading the copies into the page cache over every core
/// is most of the speed on a 2-core machine.
pub trait WriteAt: Sync {
    /// Writes `data` at byte `offset`.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), String>;
}

/// Seals `input` as an age payload under `file_key`, after `header`.
///
/// The header and payload nonce go to offset 0; each block of 16 chunks is then sealed
/// and written at its own offset by whichever worker sealed it, so the copies into the
/// page cache run on every core alongside the hashing. The plaintext is hashed in order
/// on its own thread. Memory stays bounded by a few blocks in flight, whatever the input
/// size. `progress` gets the plaintext bytes read.
pub fn seal(
    input: &mut (dyn Read + Send),
    file_key: &FileKey,
    header: &[u8],
    sink: &dyn WriteAt,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Digest, AgeError> {
    let mut nonce = [0u8; PAYLOAD_NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let key = payload_key(file_key, &nonce);
    let mut first = header.to_vec();
    first.extend_from_slice(&nonce);
    sink.write_at(0, &first).map_err(AgeError::Sink)?;
    let payload_start = first.len() as u64;

    let n = workers();
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(n);
    let job_rx = Mutex::new(job_rx);
    let (hash_tx, hash_rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(4);
    // The first error of any worker; the others stop at their next block.
    let failed: Mutex<Option<AgeError>> = Mutex::new(None);
    let pool = Pool::default();

    std::thread::scope(|s| {
        let pool = &pool;
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for block in hash_rx {
                h.update(&block[..]);
                pool.give(block);
            }
            h.finalize()
        });
        let mut workers = Vec::new();
        for _ in 0..n {
            let (job_rx, key, failed) = (&job_rx, &key, &failed);
            workers.push(s.spawn(move || {
                while let Some(job) = next_job(job_rx) {
                    // After a failure, the jobs still sent are taken and dropped: a worker
                    // that left would leave the reader blocked on a full channel (and the
                    // input's writer on it), for ever.
                    if failed.lock().map_or(true, |f| f.is_some()) {
                        continue;
                    }
                    let ct = seal_block(key, &job);
                    pool.give(job.data);
                    let offset = payload_start + job.seq * CT_BLOCK as u64;
                    if let Err(e) = sink.write_at(offset, &ct)
                        && let Ok(mut f) = failed.lock()
                    {
                        f.get_or_insert(AgeError::Sink(e));
                    }
                }
            }));
        }

        let mut done = 0u64;
        let read = read_blocks(input, BLOCK, Some(pool), |seq, block, last| {
            done += block.len() as u64;
            let data = Arc::new(block);
            // After a failure the workers drain what was sent; the reader stops here.
            let go_on = hash_tx.send(Arc::clone(&data)).is_ok()
                && job_tx.send(Job { seq, data, last }).is_ok()
                && failed.lock().is_ok_and(|f| f.is_none());
            progress(done);
            go_on
        });
        drop(job_tx);
        drop(hash_tx);
        let mut panicked = workers.into_iter().any(|w| w.join().is_err());
        let sha = hasher.join();
        panicked |= sha.is_err();
        let total = read?;
        if let Some(e) = failed.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        match sha {
            Ok(sha) if !panicked => Ok(Digest { size: total, sha256: sha.into() }),
            _ => Err(AgeError::Sink("a pipeline thread panicked".into())),
        }
    })
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T, AgeError>>) -> Result<T, AgeError> {
    h.join().unwrap_or_else(|_| Err(AgeError::Sink("a pipeline thread panicked".into())))
}

fn seal_block(key: &LessSafeKey, job: &Job) -> Vec<u8> {
    let chunks = job.data.len().div_ceil(CHUNK).max(1);
    let mut out = Vec::with_capacity(job.data.len() + chunks * TAG);
    let first = job.seq * CHUNKS_PER_BLOCK as u64;
    for i in 0..chunks {
        let pt = &job.data[(i * CHUNK).min(job.data.len())..((i + 1) * CHUNK).min(job.data.len())];
        let start = out.len();
        out.extend_from_slice(pt);
        let last = job.last && i + 1 == chunks;
        #[allow(clippy::expect_used)] // fails only past 2^32 blocks of 64 bytes per chunk
        let tag = key
            .seal_in_place_separate_tag(chunk_nonce(first + i as u64, last), Aad::empty(), &mut out[start..])
            .expect("chunk within ChaCha20's limit");
        out.extend_from_slice(tag.as_ref());
    }
    out
}

/// One opened block, handed to the consumer in order.
pub struct Opened<'a> {
    /// The ciphertext as read (for a re-wrap that keeps the payload as it is).
    pub ciphertext: &'a [u8],
    /// The authenticated plaintext.
    pub plaintext: &'a [u8],
}

struct OpenJob {
    seq: u64,
    ct: Vec<u8>,
    last: bool,
}

/// Where `open` delivers.
pub enum Out<'a> {
    /// Every block in order, to a callback (a stream, or the ciphertext for a re-wrap).
    Ordered(&'a mut (dyn FnMut(Opened<'_>) -> Result<(), String> + Send)),
    /// Every block's plaintext at its offset, written by the worker that opened it.
    At(&'a dyn WriteAt),
}

/// Opens the payload that follows a header in `input` with `file_key`.
///
/// Every chunk is authenticated before its plaintext is handed on, so an altered or
/// truncated file never yields an unauthenticated byte; chunks are opened on every core
/// and hashed in order. `progress` gets the plaintext bytes delivered.
pub fn open(
    input: &mut (dyn Read + Send),
    file_key: &FileKey,
    out: Out<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Digest, AgeError> {
    let (mut ordered, at) = match out {
        Out::Ordered(f) => (Some(f), None),
        Out::At(w) => (None, Some(w)),
    };
    let mut nonce = [0u8; PAYLOAD_NONCE];
    if read_full(input, &mut nonce)? != PAYLOAD_NONCE {
        return Err(AgeError::BadChunk { chunk: 0 });
    }
    let key = payload_key(file_key, &nonce);
    let n = workers();
    let (job_tx, job_rx) = mpsc::sync_channel::<OpenJob>(n);
    let job_rx = Mutex::new(job_rx);
    type Done = (u64, Vec<u8>, Result<Vec<u8>, AgeError>);
    let (out_tx, out_rx) = mpsc::sync_channel::<Done>(2 * n);
    let (hash_tx, hash_rx) = mpsc::sync_channel::<Vec<u8>>(4);

    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            let mut size = 0u64;
            for block in hash_rx {
                size += block.len() as u64;
                h.update(&block);
            }
            (size, h.finalize())
        });
        for _ in 0..n {
            let out_tx = out_tx.clone();
            let (job_rx, key) = (&job_rx, &key);
            s.spawn(move || {
                // Once the writer stopped (an error), the jobs still sent are taken and
                // dropped: a worker that left would leave the reader blocked on a full
                // channel, for ever.
                let mut stopped = false;
                while let Some(job) = next_job(job_rx) {
                    if stopped {
                        continue;
                    }
                    let mut pt = open_block(key, &job);
                    if let (Some(w), Ok(p)) = (at, &pt)
                        && let Err(e) = w.write_at(job.seq * BLOCK as u64, p)
                    {
                        pt = Err(AgeError::Sink(e));
                    }
                    stopped = out_tx.send((job.seq, job.ct, pt)).is_err();
                }
            });
        }
        drop(out_tx);
        let writer = s.spawn(move || -> Result<(), AgeError> {
            let mut pending = std::collections::BTreeMap::new();
            let mut next = 0u64;
            let mut delivered = 0u64;
            for (seq, ct, pt) in out_rx {
                pending.insert(seq, (ct, pt));
                while let Some((ct, pt)) = pending.remove(&next) {
                    let pt = pt?;
                    if let Some(sink) = ordered.as_mut() {
                        sink(Opened { ciphertext: &ct, plaintext: &pt }).map_err(AgeError::Sink)?;
                    }
                    delivered += pt.len() as u64;
                    progress(delivered);
                    if hash_tx.send(pt).is_err() {
                        return Err(AgeError::Sink("the hashing thread stopped".into()));
                    }
                    next += 1;
                }
            }
            Ok(())
        });

        let read = read_blocks(input, CT_BLOCK, None, |seq, ct, last| job_tx.send(OpenJob { seq, ct, last }).is_ok());
        drop(job_tx);
        let written = join(writer);
        let digest = hasher.join();
        read?;
        written?;
        let (size, sha) = digest.map_err(|_| AgeError::Sink("the hashing thread panicked".into()))?;
        Ok(Digest { size, sha256: sha.into() })
    })
}

fn open_block(key: &LessSafeKey, job: &OpenJob) -> Result<Vec<u8>, AgeError> {
    let first = job.seq * CHUNKS_PER_BLOCK as u64;
    let bad = |i: usize| AgeError::BadChunk { chunk: first + i as u64 };
    let chunks = job.ct.len().div_ceil(CT_CHUNK);
    if chunks == 0 {
        return Err(bad(0));
    }
    let mut out = Vec::with_capacity(job.ct.len());
    for i in 0..chunks {
        let c = &job.ct[i * CT_CHUNK..((i + 1) * CT_CHUNK).min(job.ct.len())];
        if c.len() < TAG {
            return Err(bad(i));
        }
        let last = job.last && i + 1 == chunks;
        // Only the very first chunk of an empty payload may be empty (c2sp.org/age).
        if last && c.len() == TAG && first + i as u64 != 0 {
            return Err(bad(i));
        }
        let start = out.len();
        out.extend_from_slice(c);
        let pt_len = key
            .open_in_place(chunk_nonce(first + i as u64, last), Aad::empty(), &mut out[start..])
            .map_err(|_| bad(i))?
            .len();
        out.truncate(start + pt_len);
    }
    Ok(out)
}

/// Checks an age file as its bytes arrive, in order and in pieces of any size (the secure
/// drop's uploads): the header is opened with `identity` as soon as it is complete, then
/// every payload chunk is authenticated once the next byte shows it is not the last, and
/// the plaintext is hashed and dropped. Nothing but the unauthenticated tail (at most one
/// chunk and the last piece pushed) is held. `finish` takes the last chunk, flagged last.
///
/// It is `Clone` so that a caller can keep the state before a piece it may take back (a
/// tus PATCH whose checksum turns out wrong).
#[derive(Clone)]
pub struct Check {
    identity: age::x25519::Identity,
    key: Option<Arc<LessSafeKey>>,
    /// Bytes pushed but not consumed: the header so far, or ciphertext not yet opened.
    pending: Vec<u8>,
    counter: u64,
    hasher: Sha256,
    size: u64,
}

impl Check {
    /// A check of a file for `identity`, before its first byte.
    pub fn new(identity: age::x25519::Identity) -> Check {
        Check { identity, key: None, pending: Vec::new(), counter: 0, hasher: Sha256::new(), size: 0 }
    }

    /// Plaintext bytes authenticated so far.
    pub fn plaintext_so_far(&self) -> u64 {
        self.size
    }

    /// Takes the next piece of the file. An error is final: the file is not an age file
    /// for this identity, or was altered.
    pub fn push(&mut self, data: &[u8]) -> Result<(), AgeError> {
        self.pending.extend_from_slice(data);
        if self.key.is_none() {
            // A file that does not start as an age file is refused at once, not after
            // its first 64 KiB.
            let magic = MAGIC.as_bytes();
            let n = self.pending.len().min(magic.len());
            if self.pending[..n] != magic[..n] {
                return Err(AgeError::BadHeader);
            }
            let Some(end) = header_end(&self.pending) else {
                return if self.pending.len() > MAX_HEADER { Err(AgeError::BadHeader) } else { Ok(()) };
            };
            if end > MAX_HEADER {
                return Err(AgeError::BadHeader);
            }
            if self.pending.len() < end + PAYLOAD_NONCE {
                return Ok(());
            }
            let header = Header::read(&mut &self.pending[..end])?;
            let file_key = header.open(&self.identity)?;
            let mut nonce = [0u8; PAYLOAD_NONCE];
            nonce.copy_from_slice(&self.pending[end..end + PAYLOAD_NONCE]);
            self.key = Some(Arc::new(payload_key(&file_key, &nonce)));
            self.pending.drain(..end + PAYLOAD_NONCE);
        }
        // Every full chunk followed by at least one more byte is not the last.
        let mut at = 0;
        while self.pending.len() - at > CT_CHUNK {
            self.open_chunk(at, CT_CHUNK, false)?;
            at += CT_CHUNK;
        }
        self.pending.drain(..at);
        Ok(())
    }

    fn open_chunk(&mut self, at: usize, len: usize, last: bool) -> Result<(), AgeError> {
        let bad = AgeError::BadChunk { chunk: self.counter };
        let key = self.key.as_ref().ok_or(AgeError::BadHeader)?;
        let chunk = &mut self.pending[at..at + len];
        let plain = key.open_in_place(chunk_nonce(self.counter, last), Aad::empty(), chunk).map_err(|_| bad)?;
        self.hasher.update(&*plain);
        self.size += plain.len() as u64;
        self.counter += 1;
        Ok(())
    }

    /// The file ended: opens its last chunk and gives the plaintext's size and SHA-256.
    pub fn finish(mut self) -> Result<Digest, AgeError> {
        if self.key.is_none() {
            return Err(AgeError::BadHeader);
        }
        let len = self.pending.len();
        // The last chunk holds at least one byte, but for an empty payload (c2sp.org/age).
        if !(TAG..=CT_CHUNK).contains(&len) || (len == TAG && self.counter != 0) {
            return Err(AgeError::BadChunk { chunk: self.counter });
        }
        self.open_chunk(0, len, true)?;
        Ok(Digest { size: self.size, sha256: self.hasher.finalize().into() })
    }
}

/// Where a header ends (after the newline of its `---` line), once it is all there.
fn header_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + nl];
        if line.starts_with(b"---") {
            return Some(start + nl + 1);
        }
        start += nl + 1;
        if start > MAX_HEADER {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory file for `seal`.
    struct Buf(Mutex<Vec<u8>>);
    impl WriteAt for Buf {
        fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), String> {
            let mut v = self.0.lock().unwrap();
            let end = offset as usize + data.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[offset as usize..end].copy_from_slice(data);
            Ok(())
        }
    }

    fn seal_to_vec(data: &[u8], fk: &FileKey, header: &[u8]) -> (Vec<u8>, Digest) {
        let buf = Buf(Mutex::new(Vec::new()));
        let d = seal(&mut &data[..], fk, header, &buf, &|_| {}).unwrap();
        (buf.0.into_inner().unwrap(), d)
    }

    fn roundtrip(len: usize) {
        let id = age::x25519::Identity::generate();
        let fk = new_file_key();
        let header = header_for(&fk, &id.to_public()).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let (file, d) = seal_to_vec(&data, &fk, &header);
        assert_eq!(d.size, len as u64);
        let mut r = &file[..];
        let h = Header::read(&mut r).unwrap();
        let fk2 = h.open(&id).unwrap();
        let mut back = Vec::new();
        let d2 = open(
            &mut r,
            &fk2,
            Out::Ordered(&mut |o| {
                back.extend_from_slice(o.plaintext);
                Ok(())
            }),
            &|_| {},
        )
        .unwrap();
        assert_eq!(back, data);
        assert_eq!(d, d2);
        // The age crate agrees: our files are standard.
        assert_eq!(age::decrypt(&id, &file).unwrap(), data);
    }

    #[test]
    fn sizes_around_chunk_and_block_boundaries_roundtrip() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + CHUNK] {
            roundtrip(len);
        }
    }

    #[test]
    fn files_from_the_age_crate_open_here() {
        let id = age::x25519::Identity::generate();
        for len in [0, 5, CHUNK, BLOCK + 7] {
            let data = vec![7u8; len];
            let file = age::encrypt(&id.to_public(), &data).unwrap();
            let mut r = &file[..];
            let fk = Header::read(&mut r).unwrap().open(&id).unwrap();
            let mut back = Vec::new();
            open(
                &mut r,
                &fk,
                Out::Ordered(&mut |o| {
                    back.extend_from_slice(o.plaintext);
                    Ok(())
                }),
                &|_| {},
            )
            .unwrap();
            assert_eq!(back, data, "len {len}");
            // The same through positional writes, as `get -o` does.
            let mut r = &file[..];
            let fk = Header::read(&mut r).unwrap().open(&id).unwrap();
            let buf = Buf(Mutex::new(Vec::new()));
            open(&mut r, &fk, Out::At(&buf), &|_| {}).unwrap();
            assert_eq!(buf.0.into_inner().unwrap(), data, "len {len}, positional");
        }
    }

    #[test]
    fn altered_truncated_or_extended_payloads_are_refused() {
        let id = age::x25519::Identity::generate();
        let fk = new_file_key();
        let header = header_for(&fk, &id.to_public()).unwrap();
        let data = vec![1u8; 2 * CHUNK];
        let (file, _) = seal_to_vec(&data, &fk, &header);
        let hlen = header.len() + PAYLOAD_NONCE;
        let try_open = |f: &[u8]| {
            let mut r = f;
            let fk = Header::read(&mut r)?.open(&id)?;
            open(&mut r, &fk, Out::Ordered(&mut |_| Ok(())), &|_| {})
        };
        let mut flipped = file.clone();
        flipped[hlen + 10] ^= 1;
        assert!(matches!(try_open(&flipped), Err(AgeError::BadChunk { chunk: 0 })));
        // Dropping the final chunk leaves a full chunk not flagged last.
        assert!(matches!(try_open(&file[..hlen + CT_CHUNK]), Err(AgeError::BadChunk { chunk: 0 })));
        let mut longer = file.clone();
        longer.extend_from_slice(&[0; TAG]);
        assert!(matches!(try_open(&longer), Err(AgeError::BadChunk { .. })));
        let mut header_edit = file.clone();
        let pos = header_edit.iter().position(|&b| b == b'\n').unwrap() + 5;
        header_edit[pos] ^= 0x20;
        assert!(try_open(&header_edit).is_err());
        let other = age::x25519::Identity::generate();
        let mut r = &file[..];
        assert!(matches!(Header::read(&mut r).unwrap().open(&other), Err(AgeError::NoMatchingKey)));
        assert!(matches!(Header::read(&mut &b"garbage\n---\n"[..]), Err(AgeError::BadHeader)));
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_refused() {
        // A cheap, deterministic stand-in for fuzzing the reader: no edit of a sealed file
        // yields plaintext, and none makes the parser panic.
        let id = age::x25519::Identity::generate();
        let fk = new_file_key();
        let header = header_for(&fk, &id.to_public()).unwrap();
        let data: Vec<u8> = (0..CHUNK + 100).map(|i| i as u8).collect();
        let (file, _) = seal_to_vec(&data, &fk, &header);
        let opens = |f: &[u8]| -> bool {
            let mut r = f;
            let Ok(h) = Header::read(&mut r) else { return false };
            let Ok(fk) = h.open(&id) else { return false };
            open(&mut r, &fk, Out::Ordered(&mut |_| Ok(())), &|_| {}).is_ok()
        };
        assert!(opens(&file));
        let positions = (0..header.len() + PAYLOAD_NONCE + 64)
            .chain((header.len()..file.len()).step_by(251))
            .chain(file.len() - 40..file.len());
        for pos in positions {
            for bit in [0x01u8, 0x80] {
                let mut f = file.clone();
                f[pos] ^= bit;
                assert!(!opens(&f), "flipping bit {bit:#x} of byte {pos} went unnoticed");
            }
        }
        for len in (0..header.len() + 40).chain([file.len() - CT_CHUNK, file.len() - 1]) {
            assert!(!opens(&file[..len]), "truncation to {len} bytes went unnoticed");
        }
    }

    #[test]
    fn a_file_checked_piece_by_piece_gives_the_digest_of_its_plaintext() {
        let identity = age::x25519::Identity::generate();
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let fk = new_file_key();
            let header = header_for(&fk, &identity.to_public()).unwrap();
            let (file, digest) = seal_to_vec(&data, &fk, &header);
            for piece in [1usize, 7, 1000, CT_CHUNK, CT_CHUNK + 1, 1 << 20] {
                let mut c = Check::new(identity.clone());
                for p in file.chunks(piece) {
                    c.push(p).unwrap();
                }
                assert_eq!(c.finish().unwrap(), digest, "len {len} piece {piece}");
            }
            // Cut short anywhere, or any byte flipped: refused.
            for cut in [file.len() - 1, header.len() + 16, header.len() - 1] {
                let mut c = Check::new(identity.clone());
                let r = c.push(&file[..cut]).and_then(|()| c.finish().map(|_| ()));
                assert!(r.is_err(), "len {len} cut at {cut}");
            }
            let mut bad = file.clone();
            let i = bad.len() - 1;
            bad[i] ^= 1;
            let mut c = Check::new(identity.clone());
            assert!(c.push(&bad).and_then(|()| c.finish().map(|_| ())).is_err());
        }
        // Another recipient's file, and a file that is not age at all.
        let other = age::x25519::Identity::generate();
        let fk = new_file_key();
        let (file, _) = seal_to_vec(b"x", &fk, &header_for(&fk, &other.to_public()).unwrap());
        assert!(matches!(Check::new(identity.clone()).push(&file), Err(AgeError::NoMatchingKey)));
        assert!(matches!(Check::new(identity).push(b"-- MySQL dump"), Err(AgeError::BadHeader)));
    }
}
