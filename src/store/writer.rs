//! The one writer per database (DESIGN.md §6): a thread that owns the write connection,
//! takes jobs from a bounded queue, books every job waiting in one transaction (group commit)
//! with a savepoint each, and answers each job only after the commit.

use super::books;
use super::conn::DbConn;
use super::prefetch::{self, Hint};
use super::savepoint;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use tokio::sync::oneshot;

/// Jobs booked together in one transaction at most.
const MAX_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    /// The job ran and refused (its savepoint was rolled back; nothing it did remains).
    #[error(transparent)]
    Job(E),
    /// The queue is full, the writer stopped, or the commit failed: nothing was booked.
    #[error("the writer is unavailable: {0}")]
    Unavailable(String),
}

trait Job: Send {
    /// Runs inside the batch transaction, under the writer's savepoint for it (for a hinted
    /// job, taken at its first write: store::savepoint); false when it refused (the writer then
    /// rolls it back, in the database and in the batch cache).
    fn run(&mut self, conn: &mut DbConn) -> bool;
    /// What the job will read, for the batch to fetch ahead ([`prefetch`]).
    fn hint(&self) -> Option<&Hint>;
    /// Answers after the batch: `committed` is false when the whole batch rolled back.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Typed<T, E, F> {
    work: Option<F>,
    hint: Option<Hint>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, WriteError<E>>>,
}

impl<T, E, F> Job for Typed<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static + From<diesel::result::Error>,
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConn) -> bool {
        let work = self.work.take().expect("a job runs once");
        let r = work(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn hint(&self) -> Option<&Hint> {
        self.hint.as_ref()
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Ok(()), Some(Err(e))) => Err(WriteError::Job(e)),
            (Err(why), _) => Err(WriteError::Unavailable(why)),
            (Ok(()), None) => Err(WriteError::Unavailable("job did not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Box<dyn Job>>,
    thread: std::sync::Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
    stats: std::sync::Arc<Stats>,
}

/// What the writer has done: for tests, the bench and metrics.
#[derive(Default)]
pub struct Stats {
    /// Jobs waiting in the queue, not yet taken into a batch.
    pub queued: AtomicI64,
    /// Batches run (committed or not) and the jobs they held.
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    /// Told the size of every batch (metrics): set once, by whoever exports them.
    observer: std::sync::OnceLock<Box<dyn Fn(usize) + Send + Sync>>,
}

impl Stats {
    /// Calls `f` with the size of each batch from now on (the first caller wins).
    pub fn observe_batches(&self, f: Box<dyn Fn(usize) + Send + Sync>) {
        let _ = self.observer.set(f);
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, with a queue of `capacity` jobs.
    /// `reopen` gives a fresh connection after a job panicked mid-batch (the broken
    /// transaction dies with the old connection, so nothing of that batch is booked).
    pub fn start(conn: DbConn, capacity: usize, reopen: Reopen) -> Writer {
        let (tx, rx) = sync_channel::<Box<dyn Job>>(capacity);
        let stats = std::sync::Arc::new(Stats::default());
        let counted = stats.clone();
        let handle = std::thread::Builder::new()
            .name("cashback-writer".into())
            .spawn(move || run(conn, rx, reopen, &counted))
            .expect("spawn the writer thread");
        Writer { queue: tx, thread: std::sync::Arc::new(std::sync::Mutex::new(Some(handle))), stats }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Alive while the writer is: for helpers that must stop with it.
    pub fn watch(&self) -> std::sync::Weak<Stats> {
        std::sync::Arc::downgrade(&self.stats)
    }

    /// Stops the writer once every job queued has been answered, and waits until its
    /// connection (with the PostgreSQL writer lock) is closed. Call it on the last clone.
    pub fn close(self) {
        let Writer { queue, thread, .. } = self;
        drop(queue);
        let handle = thread.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Submits a job and waits for its answer, given after its batch commits.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static + From<diesel::result::Error>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let rx = self.submit(None, work)?;
        rx.await.unwrap_or_else(|_| Err(WriteError::Unavailable("the writer stopped".into())))
    }

    /// The same, for a job that tells what it will read (an order, a refund): the batch reads
    /// it ahead for all such jobs at once.
    pub async fn write_hinted<T, E, F>(&self, hint: Hint, work: F) -> Result<T, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static + From<diesel::result::Error>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let rx = self.submit(Some(hint), work)?;
        rx.await.unwrap_or_else(|_| Err(WriteError::Unavailable("the writer stopped".into())))
    }

    /// The same from a thread that is not async (CLI commands, jobs).
    pub fn write_blocking<T, E, F>(&self, work: F) -> Result<T, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static + From<diesel::result::Error>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let rx = self.submit(None, work)?;
        rx.blocking_recv().unwrap_or_else(|_| Err(WriteError::Unavailable("the writer stopped".into())))
    }

    /// Queues a job without waiting; the receiver gets its answer after its batch commits.
    pub fn submit<T, E, F>(
        &self,
        hint: Option<Hint>,
        work: F,
    ) -> Result<oneshot::Receiver<Result<T, WriteError<E>>>, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static + From<diesel::result::Error>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(Typed { work: Some(work), hint, result: None, reply });
        // Counted before it is sent, so the writer never takes a job not yet counted.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.queue.try_send(job);
        if sent.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(WriteError::Unavailable("the write queue is full".into())),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Unavailable("the writer stopped".into())),
        }
    }
}

pub type Reopen = Box<dyn Fn() -> Option<DbConn> + Send>;

fn run(mut conn: DbConn, rx: Receiver<Box<dyn Job>>, reopen: Reopen, stats: &Stats) {
    watch(&mut conn);
    let mut conn = Some(conn);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        stats.queued.fetch_sub(batch.len() as i64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Some(f) = stats.observer.get() {
            f(batch.len());
        }
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let c = conn.as_mut().expect("the writer holds a connection");
            books::begin_batch();
            let r = c.transaction::<(), diesel::result::Error, _>(|c| {
                let hints: Vec<&Hint> = batch.iter().filter_map(|j| j.hint()).collect();
                prefetch::load(c, &hints)?;
                // Each job runs under the savepoint `job`, a hinted one from its first write
                // on (store::savepoint); a job that fails is rolled back to it, and what it
                // did to the batch cache is undone.
                savepoint::begin_batch();
                for job in batch.iter_mut() {
                    savepoint::begin_job(c, job.hint().is_some())?;
                    let mark = books::mark();
                    let ok = job.run(c);
                    match savepoint::end_job(c, ok)? {
                        savepoint::Ended::Kept => {}
                        savepoint::Ended::RolledBack => books::rollback_to(mark),
                        savepoint::Ended::Unrecoverable(sql) => {
                            return Err(diesel::result::Error::QueryBuilderError(
                                format!("a job failed after writing outside its savepoint ({sql})").into(),
                            ))
                        }
                    }
                    if job.hint().is_none() {
                        books::forget_known();
                    }
                }
                savepoint::end_batch();
                // The balances the batch moved are written once, before the one commit.
                books::flush_batch(c)?;
                Ok(())
            });
            books::end_batch(r.is_ok());
            r
        }));
        let committed = match attempt {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, jobs = batch.len(), "batch commit failed; nothing was booked");
                // A lost connection (a database restart, a dropped socket) is replaced, so
                // the writer does not fail every batch after it.
                let alive = conn.as_mut().is_some_and(|c| c.batch_execute("SELECT 1").is_ok());
                if !alive && !replace(&mut conn, &reopen) {
                    fail_all(batch, "the writer lost its database connection");
                    return;
                }
                Err(e.to_string())
            }
            Err(_) => {
                books::end_batch(false);
                tracing::error!(
                    jobs = batch.len(),
                    "a job panicked; its batch is rolled back and the connection reopened"
                );
                if !replace(&mut conn, &reopen) {
                    fail_all(batch, "the writer lost its database connection");
                    return;
                }
                Err("internal error; nothing was booked".to_string())
            }
        };
        for job in batch {
            job.finish(committed.clone());
        }
    }
    tracing::info!("writer stopped");
}

/// Drops the connection first (on PostgreSQL it holds the writer lock), then opens another.
fn replace(conn: &mut Option<DbConn>, reopen: &Reopen) -> bool {
    drop(conn.take());
    *conn = reopen();
    conn.as_mut().map(watch).is_some()
}

/// The writer's connection tells `savepoint` of every statement it runs.
fn watch(conn: &mut DbConn) {
    conn.set_instrumentation(|e: diesel::connection::InstrumentationEvent<'_>| savepoint::observe(e));
}

fn fail_all(batch: Vec<Box<dyn Job>>, why: &str) {
    tracing::error!("{why}; the writer stops");
    for job in batch {
        job.finish(Err(why.to_string()));
    }
}

/// Runs `f` under a savepoint of its own inside the current job: when it returns `Err`, what
/// it wrote and what it did to the batch cache are undone and the job goes on (a webhook parks
/// the step it could not apply and keeps the delivery). The outer `Err` is the database's own
/// failure around the savepoint. Only for code running in the writer.
pub fn nested<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> diesel::QueryResult<Result<T, E>> {
    savepoint::before_write(conn)?;
    conn.batch_execute("SAVEPOINT nested")?;
    let mark = books::mark();
    let r = f(conn);
    if r.is_ok() {
        conn.batch_execute("RELEASE SAVEPOINT nested")?;
    } else {
        conn.batch_execute("ROLLBACK TO SAVEPOINT nested; RELEASE SAVEPOINT nested")?;
        books::rollback_to(mark);
    }
    Ok(r)
}
