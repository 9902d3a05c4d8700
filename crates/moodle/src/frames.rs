//! The archive's compression: its tar stream cut into segments of 5 MiB, each one zstd
//! frame, made on worker threads and written in order (as `pzstd` does). A segment that
//! does not compress (a site's files are mostly PDFs, images, videos and office files,
//! already compressed) is stored in a frame of raw blocks instead of being put through the
//! compressor for nothing: zstd spends about a second per GiB finding nothing there.
//!
//! Frames one after the other are one zstd stream: `zstd -d`, `tar --zstd` and every
//! decoder give back the whole tar (RFC 8878, 3.1: "a compressed stream is made of one or
//! more frames"). Each compressed frame carries its content checksum; a raw frame needs
//! none (the age payload is authenticated, and SHA256SUMS covers every member).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// The size of a segment: a piece of the dump (4 MiB) with its header fits in one.
const SEGMENT: usize = 5 << 20;
/// Segments given to the workers and not yet written out, at most.
const IN_FLIGHT: usize = 6;
/// zstd's level, as the operator's `zstd -3` (and zstd's default).
const LEVEL: i32 = 3;
/// The largest block of a frame (RFC 8878, 3.1.1.2.4: `Block_Maximum_Size`).
const RAW_BLOCK: usize = 128 << 10;

/// A segment compressed, or its data to store as is.
enum Done {
    Compressed(Vec<u8>),
    Raw,
}

struct Result_ {
    seq: u64,
    data: Vec<u8>,
    done: io::Result<Done>,
}

/// The writer: what goes in comes out in frames, in order, into `out`.
pub(crate) struct Frames<W: Write> {
    out: Option<W>,
    seg: Vec<u8>,
    next: u64,
    written: u64,
    waiting: BTreeMap<u64, (Vec<u8>, Done)>,
    jobs: Option<mpsc::SyncSender<(u64, Vec<u8>)>>,
    results: mpsc::Receiver<Result_>,
    workers: Vec<JoinHandle<()>>,
    /// Segments' buffers given back, for the next ones (a new one is a page fault per 4 KiB).
    spare: Vec<Vec<u8>>,
}

impl<W: Write> Frames<W> {
    pub(crate) fn new(out: W, threads: usize) -> io::Result<Self> {
        let (jobs, job_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
        let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
        let (result_tx, results) = mpsc::channel();
        let mut workers = Vec::new();
        for _ in 0..threads.max(1) {
            let mut z = zstd::bulk::Compressor::new(LEVEL)?;
            z.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
            let mut probe = zstd::bulk::Compressor::new(1)?;
            let (job_rx, result_tx) = (std::sync::Arc::clone(&job_rx), result_tx.clone());
            workers.push(std::thread::spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, data)) = job else { return };
                    let done = compress(&mut z, &mut probe, &data);
                    if result_tx.send(Result_ { seq, data, done }).is_err() {
                        return;
                    }
                }
            }));
        }
        Ok(Frames {
            out: Some(out),
            seg: Vec::with_capacity(SEGMENT),
            next: 0,
            written: 0,
            waiting: BTreeMap::new(),
            jobs: Some(jobs),
            results,
            workers,
            spare: Vec::new(),
        })
    }

    /// Hands the current segment to the workers, first writing out what is done when as
    /// many as allowed are in flight.
    fn dispatch(&mut self) -> io::Result<()> {
        if self.seg.is_empty() {
            return Ok(());
        }
        while self.next - self.written >= IN_FLIGHT as u64 {
            self.collect(true)?;
        }
        let fresh = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(SEGMENT));
        let seg = std::mem::replace(&mut self.seg, fresh);
        let jobs = self.jobs.as_ref().ok_or_else(|| io::Error::other("the compressor is closed"))?;
        jobs.send((self.next, seg)).map_err(|_| io::Error::other("the compressor's workers stopped"))?;
        self.next += 1;
        self.collect(false)
    }

    /// Takes the results there are (one at least when `wait`), and writes out those next
    /// in order.
    fn collect(&mut self, wait: bool) -> io::Result<()> {
        let mut first = wait;
        loop {
            let r = if first {
                first = false;
                self.results.recv().map_err(|_| io::Error::other("the compressor's workers stopped"))?
            } else {
                match self.results.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            self.waiting.insert(r.seq, (r.data, r.done?));
        }
        let out = self.out.as_mut().ok_or_else(|| io::Error::other("the compressor is closed"))?;
        while let Some((mut data, done)) = self.waiting.remove(&self.written) {
            match done {
                Done::Compressed(frame) => out.write_all(&frame)?,
                Done::Raw => write_raw(out, &data)?,
            }
            self.written += 1;
            data.clear();
            self.spare.push(data);
        }
        Ok(())
    }

    /// Ends the current segment here: what follows starts a new one (the dump's pieces and
    /// the files are kept apart, so that a segment of the dump is never stored with the
    /// files nor a segment of files compressed for the dump's sake).
    pub(crate) fn cut(&mut self) -> io::Result<()> {
        self.dispatch()
    }

    /// Writes out every segment, and gives back the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.dispatch()?;
        self.jobs = None;
        while self.written < self.next {
            self.collect(true)?;
        }
        let mut out = self.out.take().ok_or_else(|| io::Error::other("the compressor is closed"))?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for Frames<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(SEGMENT - self.seg.len());
        self.seg.extend_from_slice(&data[..n]);
        if self.seg.len() == SEGMENT {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Frames<W> {
    fn drop(&mut self) {
        // The workers end once the queue is closed; what they were given is dropped.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Whether zstd's fastest level saves less than 10% on 8 samples of 4 KiB across `data`
/// (but the one it shrinks most, which may have fallen on tar headers: zeros mostly, where
/// a directory's entries follow each other): then level 3 would not save much more on the
/// whole segment. Random bytes, JPEG, PDF streams, MP4 and ZIP-based office files come out
/// at 90-100%; SQL and text at 10-50%. Storing such a segment as it is loses at most about
/// a tenth of its size, and saves zstd's time on it (about a second per GiB).
fn incompressible(probe: &mut zstd::bulk::Compressor<'_>, data: &[u8]) -> bool {
    const SAMPLE: usize = 4 << 10;
    const SAMPLES: usize = 8;
    if data.len() < SAMPLE * SAMPLES {
        return false;
    }
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(SAMPLE));
    let mut sizes = [0usize; SAMPLES];
    for (i, size) in sizes.iter_mut().enumerate() {
        // In the middle of each eighth.
        let at = (data.len() * (2 * i + 1) / (2 * SAMPLES)).saturating_sub(SAMPLE / 2);
        out.clear();
        match probe.compress_to_buffer(&data[at..at + SAMPLE], &mut out) {
            Ok(n) => *size = n,
            Err(_) => return false,
        }
    }
    let smallest = sizes.iter().copied().min().unwrap_or(0);
    let kept: usize = sizes.iter().sum::<usize>() - smallest;
    kept * 100 >= (SAMPLES - 1) * SAMPLE * 90
}

fn compress(
    z: &mut zstd::bulk::Compressor<'_>,
    probe: &mut zstd::bulk::Compressor<'_>,
    data: &[u8],
) -> io::Result<Done> {
    if incompressible(probe, data) {
        return Ok(Done::Raw);
    }
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
    z.compress_to_buffer(data, &mut frame)?;
    // Never larger than the data stored as it is.
    if frame.len() >= raw_len(data.len()) {
        return Ok(Done::Raw);
    }
    Ok(Done::Compressed(frame))
}

/// The size of `len` bytes in a raw frame.
fn raw_len(len: usize) -> usize {
    6 + 3 * len.div_ceil(RAW_BLOCK).max(1) + len
}

/// `data` as one zstd frame of raw blocks (RFC 8878, 3.1.1): the magic number, a header
/// with a window of 128 KiB and no content size or checksum, then blocks of 128 KiB at
/// most, the last one marked.
fn write_raw(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    // Frame_Header_Descriptor 0 (no size, not single segment, no checksum, no dictionary);
    // Window_Descriptor: exponent 7, mantissa 0, so 1 << (10 + 7) = 128 KiB.
    out.write_all(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3])?;
    let mut blocks = data.chunks(RAW_BLOCK).peekable();
    if blocks.peek().is_none() {
        return out.write_all(&[1, 0, 0]);
    }
    while let Some(b) = blocks.next() {
        let last = u32::from(blocks.peek().is_none());
        // Block_Header: Last_Block (bit 0), Block_Type 0 = raw (bits 1-2), Block_Size.
        #[allow(clippy::cast_possible_truncation)] // a block is at most 128 KiB
        let header = last | ((b.len() as u32) << 3);
        out.write_all(&header.to_le_bytes()[..3])?;
        out.write_all(b)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Text and noise, in writes of every size, come back whole through zstd's decoder
    /// (the one `zstd -d` is); the noise is stored, the text compressed.
    #[test]
    fn frames_decode_as_one_stream() {
        let text: Vec<u8> =
            (0..300_000).flat_map(|i| format!("INSERT INTO mdl_log VALUES ({i}, 'élève');\n").into_bytes()).collect();
        let mut input = Vec::new();
        input.extend_from_slice(&text[..100]);
        input.extend_from_slice(&noise(9 << 20, 7));
        input.extend_from_slice(&text);
        input.extend_from_slice(&noise(RAW_BLOCK * 3 + 1, 9));
        let mut f = Frames::new(Vec::new(), 2).expect("frames");
        let mut at = 0;
        for step in [1usize, 511, 70_000, 5 << 20, 3].iter().cycle() {
            if at == input.len() {
                break;
            }
            let end = (at + step).min(input.len());
            f.write_all(&input[at..end]).expect("write");
            at = end;
        }
        let packed = f.finish().expect("finish");
        let mut back = Vec::new();
        zstd::stream::read::Decoder::new(&packed[..]).expect("decoder").read_to_end(&mut back).expect("decode");
        assert!(back == input, "the stream decodes to its input");
        // The noise is stored (not larger than itself plus block headers), the text compressed.
        let noise_len = (9 << 20) + RAW_BLOCK * 3 + 1;
        assert!(packed.len() < noise_len + text.len() / 5, "{} bytes", packed.len());
        assert!(packed.len() > noise_len, "{} bytes", packed.len());
        // And the zstd a client has (Debian's CLI, `tar --zstd` calls it) reads it whole.
        let mut z = std::process::Command::new("zstd")
            .args(["-dc", "-q"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the zstd command (scripts/test installs it)");
        let mut stdin = z.stdin.take().expect("stdin");
        let feed = std::thread::spawn(move || stdin.write_all(&packed));
        let out = z.wait_with_output().expect("zstd");
        feed.join().expect("feed").expect("write");
        assert!(out.status.success());
        assert!(out.stdout == input, "zstd -d gives the input back");
    }

    /// Mostly noise with one sample's worth of zeros (a directory's tar headers) is still
    /// stored; text is not; a short segment is never judged.
    #[test]
    fn what_is_stored_as_it_is() {
        let mut probe = zstd::bulk::Compressor::new(1).expect("probe");
        let mut seg = noise(2 << 20, 11);
        seg[(1 << 20) - 3000..(1 << 20) + 3000].fill(0);
        assert!(incompressible(&mut probe, &seg));
        let text: Vec<u8> = (0..60_000).flat_map(|i| format!("<p>Réponse {i}</p>\n").into_bytes()).collect();
        assert!(!incompressible(&mut probe, &text));
        assert!(!incompressible(&mut probe, &noise(20_000, 5)));
        // Half text, half noise: compressed (storing it would lose a third of its size).
        let mut half = noise(1 << 20, 13);
        half.extend_from_slice(&text[..1 << 20]);
        assert!(!incompressible(&mut probe, &half));
    }

    /// A raw frame of nothing, of one byte, of exactly a block and of a block and one.
    #[test]
    fn raw_frames_at_the_edges() {
        for n in [0, 1, RAW_BLOCK, RAW_BLOCK + 1] {
            let data = noise(n, 3);
            let mut frame = Vec::new();
            write_raw(&mut frame, &data).expect("raw");
            assert_eq!(frame.len(), raw_len(n), "{n}");
            let back = zstd::stream::decode_all(&frame[..]).expect("decode");
            assert!(back == data, "{n}");
        }
    }
}
