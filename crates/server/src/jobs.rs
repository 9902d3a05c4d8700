//! Long work a person starts from the portal or the API (a restitution), run on its own
//! thread, its progress followed from the site's page. Jobs live in the server's memory:
//! a restart forgets them (what a killed restitution left is cleaned up like every
//! interrupted ingest, and its event says it failed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One job's state.
#[derive(Debug)]
pub(crate) struct Job {
    pub id: String,
    pub site: String,
    pub recipient: String,
    pub started_by: String,
    pub started: Instant,
    pub started_at: String,
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub files: AtomicU64,
    /// Set once the vault let it begin (the policy allowed it): only then do the site's
    /// other viewers see it. A refusal is its requester's alone.
    pub began: std::sync::atomic::AtomicBool,
    /// None while it runs; then the dataset made, or the error as the API shows it.
    pub outcome: Mutex<Option<Result<String, crate::errors::Problem>>>,
}

impl Job {
    /// A job for `site`, started now by `by`.
    pub fn new(site: &str, recipient: &str, by: &str) -> Job {
        Job {
            id: new_id(),
            site: site.to_owned(),
            recipient: recipient.to_owned(),
            started_by: by.to_owned(),
            started: Instant::now(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            files: AtomicU64::new(0),
            began: std::sync::atomic::AtomicBool::new(false),
            outcome: Mutex::new(None),
        }
    }

    pub fn finish(&self, r: Result<String, crate::errors::Problem>) {
        if r.is_ok() {
            self.done.store(self.total.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        *self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
    }

    pub fn began(&self) -> bool {
        self.began.load(Ordering::Relaxed)
    }

    /// Whether the vault decided (the work began, or it ended).
    pub fn decided(&self) -> bool {
        self.total.load(Ordering::Relaxed) > 0 || self.outcome().is_some()
    }

    /// (done, total, files, rate in bytes per second, seconds left if known).
    pub fn progress(&self) -> (u64, u64, u64, u64, Option<u64>) {
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (done as f64 / secs) as u64;
        let left = (rate > 0 && total > done).then(|| (total - done) / rate);
        (done, total, self.files.load(Ordering::Relaxed), rate, left)
    }

    pub fn outcome(&self) -> Option<Result<String, crate::errors::Problem>> {
        self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl vault::Progress for Job {
    fn set_total(&self, total: u64) {
        self.total.store(total.max(1), Ordering::Relaxed);
        self.began.store(true, Ordering::Relaxed);
    }
    fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }
    fn set_files(&self, files: u64) {
        self.files.store(files, Ordering::Relaxed);
    }
}

/// Every job since the server started (at most `KEEP` ended ones).
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

const KEEP: usize = 200;

impl Jobs {
    pub fn add(&self, job: Job) -> Arc<Job> {
        let job = Arc::new(job);
        let mut jobs = self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A person's attempts that never began (refused, unknown site) are theirs alone and
        // kept few: five at most, so that nobody's noise pushes out another's jobs.
        let mut theirs: Vec<_> = jobs
            .values()
            .filter(|j| j.started_by == job.started_by && !j.began() && j.outcome().is_some())
            .map(|j| (j.started, j.id.clone()))
            .collect();
        theirs.sort();
        for (_, id) in theirs.iter().take((theirs.len() + 1).saturating_sub(5)) {
            jobs.remove(id);
        }
        if jobs.len() >= KEEP {
            // The oldest ended ones go, those that never began first.
            let mut ended: Vec<_> =
                jobs.values().filter(|j| j.outcome().is_some()).map(|j| (j.began(), j.started, j.id.clone())).collect();
            ended.sort();
            for (_, _, id) in ended.iter().take(jobs.len() + 1 - KEEP) {
                jobs.remove(id);
            }
        }
        jobs.insert(job.id.clone(), job.clone());
        job
    }

    /// A site's jobs as they stand now, newest first (shown to whoever `site:show` lets
    /// see the site). Taken before the vault is read: a job seen done has its archive in
    /// what the vault answers next.
    pub fn of_site(&self, site: &str) -> Vec<JobState> {
        let jobs = self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<_> = jobs.values().filter(|j| j.site == site).map(JobState::of).collect();
        v.sort_by_key(|j| std::cmp::Reverse(j.job.started));
        v
    }
}

/// A job at one instant.
#[derive(Debug, Clone)]
pub(crate) struct JobState {
    pub job: Arc<Job>,
    pub began: bool,
    pub outcome: Option<Result<String, crate::errors::Problem>>,
    /// (done, total, files, rate, seconds left).
    pub progress: (u64, u64, u64, u64, Option<u64>),
}

impl JobState {
    pub fn of(job: &Arc<Job>) -> JobState {
        // The outcome first: a job ended is ended with its last progress.
        let outcome = job.outcome();
        JobState { job: job.clone(), began: job.began(), outcome, progress: job.progress() }
    }

    /// Whether `viewer` (who may see the site) sees it: once it began, or their own.
    pub fn seen_by(&self, viewer: &str) -> bool {
        self.began || self.job.started_by == viewer
    }
}

/// A new job id.
fn new_id() -> String {
    let mut b = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("job-{}", hex::encode(b))
}

/// Starts a restitution of `site` to `recipient` as `who` (its own thread and vault; the
/// door decides there, and records it).
pub(crate) fn start_restitution(
    state: &crate::Shared,
    who: crate::pool::Who,
    site: String,
    recipient: String,
    by: &str,
) -> Arc<Job> {
    let job = state.jobs.add(Job::new(&site, &recipient, by));
    let j = job.clone();
    state.pool.detached(who, move |r| {
        let out = r.and_then(|(v, _)| {
            v.restitution_create(&site, &recipient, false, &*j, chrono::Utc::now()).map(|m| m.dataset.id)
        });
        j.finish(out.map_err(|e| crate::errors::ApiError::Vault(e).problem()));
    });
    job
}
