//! Group commit: many requests' events made durable by one transaction and one fsync.
//!
//! A server answers many requests at once, and each read is an event that must be durable
//! before its response leaves (fail closed). One transaction per event would be one fsync
//! each; instead, the events of operations that change nothing else (reads, listings,
//! refusals) go to one writer thread with its own connection. It takes every event waiting,
//! appends them in order in one `BEGIN IMMEDIATE` transaction, commits (one fsync), and only
//! then tells each waiting operation its entry's index. While it commits, the next events
//! queue: the busier the server, the larger the groups. Operations that change the catalog
//! still append their event in their own transaction, with their change (both or neither);
//! SQLite orders the two kinds of writers (and the CLI's) on its write lock, so the log
//! stays one contiguous sequence.

use std::sync::mpsc;
use std::thread;

use futures::channel::oneshot;

use crate::Error;
use crate::catalog::Catalog;

/// The most events one transaction takes.
const MAX_GROUP: usize = 1024;

struct Job {
    entry: Vec<u8>,
    salt: [u8; 16],
    details: String,
    done: oneshot::Sender<Result<u64, String>>,
}

/// An event handed to the writer, not yet known durable: its operation's answer waits on
/// it (`wait`), without holding the vault it ran on (a server).
#[derive(Debug)]
pub struct Pending {
    done: oneshot::Receiver<Result<u64, String>>,
    /// Whether the operation's answer depends on it (an allowed operation's event); a
    /// refusal's or failure's event is logged if it cannot be recorded, as in the CLI.
    pub required: bool,
}

impl Pending {
    /// Waits until the event is durable; its index.
    pub async fn wait(self) -> Result<u64, Error> {
        match self.done.await {
            Ok(Ok(index)) => Ok(index),
            Ok(Err(e)) => Err(Error::LedgerWrite(e)),
            Err(_) => Err(Error::LedgerWrite("the ledger writer has stopped".into())),
        }
    }
}

/// The writer thread's handle; clone it into every `Vault` that shares it.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl GroupCommit {
    /// Starts the writer on its own connection to the catalog at `path`. It stops when the
    /// last handle is dropped, after committing what it was given.
    pub(crate) fn start(location: &crate::catalog::Location, dir: &std::path::Path) -> Result<GroupCommit, Error> {
        let catalog = Catalog::open(location, dir, false)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("gardien-ledger".into())
            .spawn(move || writer(&catalog, &rx))
            .map_err(|e| Error::LedgerWrite(format!("cannot start the ledger writer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Hands one event to the writer; the answer says when it is durable.
    pub(crate) fn submit(
        &self,
        entry: Vec<u8>,
        salt: [u8; 16],
        details: String,
        required: bool,
    ) -> Result<Pending, Error> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { entry, salt, details, done })
            .map_err(|_| Error::LedgerWrite("the ledger writer has stopped".into()))?;
        Ok(Pending { done: wait, required })
    }
}

fn writer(catalog: &Catalog, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<(&[u8], &[u8], &str)> =
            group.iter().map(|j| (j.entry.as_slice(), j.salt.as_slice(), j.details.as_str())).collect();
        let result = catalog.write(|c| c.ledger_append_all(&entries));
        drop(entries);
        match result {
            Ok(first) => {
                for (i, job) in group.into_iter().enumerate() {
                    let _ = job.done.send(Ok(first + i as u64));
                }
            }
            Err(e) => {
                // Nothing of the group was committed: every operation in it fails closed.
                tracing::error!("a group of {} ledger events could not be committed: {e}", group.len());
                for job in group {
                    let _ = job.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
