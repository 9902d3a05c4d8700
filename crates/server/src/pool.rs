//! A few open vaults, one per request at a time: each has its own catalog connection and
//! policy, all share one group-commit writer for the ledger. Operations run on tokio's
//! blocking threads (SQLite, argon2 and Cedar are synchronous).

use std::path::Path;
use std::sync::{Arc, Mutex};

use vault::Vault;

pub(crate) struct Pool {
    shared: Arc<Shared>,
    free: Arc<tokio::sync::Semaphore>,
}

/// What the blocking side needs: the vaults, and how to replace one lost to a panic.
struct Shared {
    vaults: Mutex<Vec<Vault>>,
    dir: std::path::PathBuf,
    master_key: Option<std::path::PathBuf>,
    group: vault::GroupCommit,
}

impl Shared {
    fn give_back(&self, v: Vault) {
        self.vaults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v);
    }

    fn fresh(&self) -> Result<Vault, vault::Error> {
        let mut v = Vault::open(&self.dir, self.master_key.as_deref())?;
        v.use_group_commit(self.group.clone());
        v.defer_durability();
        Ok(v)
    }
}

impl Pool {
    pub fn open(dir: &Path, master_key: Option<&Path>, size: usize) -> Result<Pool, vault::Error> {
        let size = size.max(1);
        let first = Vault::open(dir, master_key)?;
        let group = first.start_group_commit()?;
        let mut vaults = vec![first];
        while vaults.len() < size {
            vaults.push(Vault::open(dir, master_key)?);
        }
        for v in &mut vaults {
            v.use_group_commit(group.clone());
            v.defer_durability();
        }
        Ok(Pool {
            free: Arc::new(tokio::sync::Semaphore::new(vaults.len())),
            shared: Arc::new(Shared {
                vaults: Mutex::new(vaults),
                dir: dir.to_owned(),
                master_key: master_key.map(Path::to_owned),
                group,
            }),
        })
    }

    /// Runs `f` on a vault acting as the person `who` names, on a blocking thread: the
    /// credential is checked there, then the operation runs, in one trip. The vault and
    /// its permit go back from the blocking thread itself, so a request dropped meanwhile
    /// (a client gone, a time limit) loses nothing; a panic replaces the vault.
    pub async fn run<T: Send + 'static>(
        &self,
        who: Who,
        f: impl FnOnce(&Vault, &Signed) -> Result<T, vault::Error> + Send + 'static,
    ) -> Result<T, vault::Error> {
        let permit =
            self.free.clone().acquire_owned().await.map_err(|_| vault::Error::LedgerWrite("shutting down".into()))?;
        let shared = self.shared.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut v = match shared.vaults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() {
                Some(v) => v,
                None => shared.fresh()?,
            };
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let r = signed(&mut v, who).and_then(|s| f(&v, &s));
                (r, v.take_pending())
            }));
            match ran {
                Ok((r, pending)) => {
                    shared.give_back(v);
                    drop(permit);
                    Ok((r, pending))
                }
                Err(_) => {
                    // Its state is unknown: a new vault takes its place.
                    tracing::error!("a request's operation panicked; its vault was replaced");
                    drop(v);
                    let fresh = shared.fresh();
                    if let Ok(fresh) = fresh {
                        shared.give_back(fresh);
                    }
                    drop(permit);
                    Err(vault::Error::Corrupt("the operation failed unexpectedly".into()))
                }
            }
        })
        .await;
        let (r, pending) = match joined {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(vault::Error::Corrupt(format!("the operation could not run: {e}"))),
        };
        // The vault is back: others run while this event becomes durable (in a larger
        // group); the answer waits for it.
        for p in pending {
            let required = p.required;
            if let Err(e) = p.wait().await {
                if required && r.is_ok() {
                    return Err(e);
                }
                tracing::error!("could not record a refused or failed operation in the ledger: {e}");
            }
        }
        r
    }
}

/// Whom a request acts as.
#[derive(Debug)]
pub(crate) enum Who {
    /// A handle as given (sign-in: the operation checks the password).
    Claimed(String),
    /// A bearer token.
    Token(String),
    /// A session cookie; `full` requires the second factor to have been given.
    Session { secret: String, full: bool },
}

/// The person a request acts as, once their credential was checked.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub person: Option<vault::Person>,
    pub session: Option<vault::Session>,
}

fn signed(v: &mut Vault, who: Who) -> Result<Signed, vault::Error> {
    let now = chrono::Utc::now();
    match who {
        Who::Claimed(handle) => {
            v.act_as(&handle);
            Ok(Signed { person: None, session: None })
        }
        Who::Token(token) => {
            let p = v.authenticate_token(&token, now)?;
            v.act_as(&p.handle);
            Ok(Signed { person: Some(p), session: None })
        }
        Who::Session { secret, full } => {
            let s = v.session(&secret, now)?;
            if full && s.second_factor_due {
                return Err(vault::Error::NotSignedIn);
            }
            v.act_as(&s.person.handle);
            Ok(Signed { person: Some(s.person.clone()), session: Some(s) })
        }
    }
}

impl Pool {
    /// Runs `f` on its own thread with a vault of its own, acting as `who`: work that
    /// lasts minutes (a restitution) must not hold one of the request workers. Returns at
    /// once; `f` reports through what it captures.
    pub fn detached(&self, who: Who, f: impl FnOnce(Result<(&Vault, &Signed), vault::Error>) + Send + 'static) {
        let shared = self.shared.clone();
        std::thread::spawn(move || {
            let opened = Vault::open(&shared.dir, shared.master_key.as_deref()).map(|mut v| {
                // Its events wait for their own durability inside each operation.
                v.use_group_commit(shared.group.clone());
                v
            });
            match opened {
                Ok(mut v) => match signed(&mut v, who) {
                    Ok(s) => f(Ok((&v, &s))),
                    Err(e) => f(Err(e)),
                },
                Err(e) => f(Err(e)),
            }
        });
    }
}
