//! A pipe between two threads of this process that moves buffers, not bytes: the packer's
//! output reaches the vault's seal without two copies through the kernel and a context
//! switch every 64 KiB (a kernel pipe's size).

use std::io::{self, Read, Write};
use std::sync::mpsc;

/// The size of the buffers handed over; two may wait, so the pipe holds at most 3 MiB.
const CHUNK: usize = 1 << 20;

/// Makes a pipe: what is written to the writer is read from the reader, in order. The
/// reader sees the end once the writer is dropped (after what it held is sent); the writer
/// gets `BrokenPipe` once the reader is dropped.
pub(crate) fn pipe() -> (PipeReader, PipeWriter) {
    let (tx, rx) = mpsc::sync_channel(2);
    (PipeReader { rx, buf: Vec::new(), at: 0 }, PipeWriter { tx, buf: Vec::with_capacity(CHUNK) })
}

pub(crate) struct PipeWriter {
    tx: mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(full).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // The reader, if it is still there, gets the rest before the end.
        let _ = self.send();
    }
}

pub(crate) struct PipeReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.at = 0;
                }
                // The writer is gone: the end.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes arrive in order and whole, whatever the sizes of the writes and the reads;
    /// a dropped reader breaks the writer.
    #[test]
    fn bytes_in_order_and_a_broken_pipe() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let (mut r, mut w) = pipe();
        let sent = data.clone();
        let t = std::thread::spawn(move || {
            let mut at = 0;
            for step in [1usize, 7, 65_536, 3 << 20, 999].iter().cycle() {
                if at == sent.len() {
                    break;
                }
                let end = (at + step).min(sent.len());
                w.write_all(&sent[at..end]).expect("write");
                at = end;
            }
        });
        let mut got = Vec::new();
        let mut small = [0u8; 4093];
        loop {
            let n = r.read(&mut small).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        t.join().expect("writer");
        assert_eq!(got, data);

        let (r, mut w) = pipe();
        drop(r);
        let e = w.write_all(&vec![0u8; 3 * CHUNK]).expect_err("no reader");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
