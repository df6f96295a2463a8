//! The writer's savepoints, taken when a job first writes rather than before every job.
//!
//! Each job of a batch runs under a savepoint, so one that fails is rolled back alone. On
//! PostgreSQL the savepoint is a round trip, and once a batch reads ahead (`prefetch`) and holds
//! new orders and journal rows until it commits (`books`), most orders write nothing to the
//! database while they run: the savepoint was the last round trip an order paid. So a job that
//! says what it reads (a hinted job: orders, refunds, cancels) gets its savepoint only when it
//! first writes: every function in `store` that writes calls [`before_write`] first. A hinted job
//! that fails having written nothing is undone in the batch cache alone.
//!
//! Guarantees:
//! - Every write of a job comes after its savepoint: `before_write` takes it, and the writer's
//!   connection watches every statement ([`observe`]); a write while the savepoint is still
//!   pending is a bug, caught by the tests (debug builds panic), and in a release build, if the
//!   job then fails, the whole batch is rolled back and nothing of it is booked.
//! - Jobs without a hint get their savepoint before they run, as before.

use super::conn::DbConn;
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::QueryResult;
use std::cell::{Cell, RefCell};

/// Where the batch's savepoint `job` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sp {
    /// None is open (outside a batch, or before its first savepoint).
    Off,
    /// Open, with the writes of earlier jobs after it: the next job releases it first.
    Used,
    /// Open, nothing after it (just taken or just rolled back to): the next job can use it.
    Fresh,
    /// The running job's own.
    Mine,
    /// The running job has none yet; `open`: an older one is open (released when it is taken).
    Pending { open: bool },
}

thread_local! {
    static STATE: Cell<Sp> = const { Cell::new(Sp::Off) };
    /// A write seen while the savepoint was pending: the statement's first words.
    static WROTE_UNGUARDED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// How a job ended, for the writer.
pub(super) enum Ended {
    Kept,
    /// Failed, and rolled back (to its savepoint, or in the cache alone).
    RolledBack,
    /// Failed after writing without a savepoint: the batch must not commit.
    Unrecoverable(String),
}

/// A batch begins: no savepoint is open.
pub(super) fn begin_batch() {
    STATE.with(|s| s.set(Sp::Off));
    WROTE_UNGUARDED.with(|w| w.borrow_mut().take());
}

/// A job begins: `lazy` for a hinted job (its savepoint is taken at its first write).
pub(super) fn begin_job(conn: &mut DbConn, lazy: bool) -> QueryResult<()> {
    let now = STATE.with(Cell::get);
    let next = match (now, lazy) {
        (Sp::Fresh, _) => Sp::Mine,
        (Sp::Off, true) => Sp::Pending { open: false },
        (Sp::Used, true) => Sp::Pending { open: true },
        (Sp::Off, false) => {
            conn.batch_execute("SAVEPOINT job")?;
            Sp::Mine
        }
        (Sp::Used, false) => {
            conn.batch_execute("RELEASE SAVEPOINT job; SAVEPOINT job")?;
            Sp::Mine
        }
        (Sp::Mine | Sp::Pending { .. }, _) => unreachable!("a job begins after the one before ended"),
    };
    STATE.with(|s| s.set(next));
    Ok(())
}

/// Before a statement that writes: takes the running job's savepoint if it has none yet.
pub fn before_write(conn: &mut DbConn) -> QueryResult<()> {
    let Sp::Pending { open } = STATE.with(Cell::get) else { return Ok(()) };
    // Marked first: the statement below is ours, not an unguarded write.
    STATE.with(|s| s.set(Sp::Mine));
    conn.batch_execute(if open { "RELEASE SAVEPOINT job; SAVEPOINT job" } else { "SAVEPOINT job" })
}

/// A job ended; when it failed, rolls the database back to its savepoint if it took one.
pub(super) fn end_job(conn: &mut DbConn, ok: bool) -> QueryResult<Ended> {
    let unguarded = WROTE_UNGUARDED.with(|w| w.borrow_mut().take());
    if let Some(sql) = &unguarded {
        tracing::error!(statement = %sql, "a job wrote before taking its savepoint");
        debug_assert!(false, "a job wrote before taking its savepoint: {sql}");
    }
    let (next, ended) = match (STATE.with(Cell::get), ok) {
        (Sp::Mine, true) => (Sp::Used, Ended::Kept),
        (Sp::Mine, false) => {
            conn.batch_execute("ROLLBACK TO SAVEPOINT job")?;
            (Sp::Fresh, Ended::RolledBack)
        }
        (Sp::Pending { open }, ok) => {
            let next = if open { Sp::Used } else { Sp::Off };
            match (ok, unguarded) {
                (true, _) => (next, Ended::Kept),
                (false, None) => (next, Ended::RolledBack),
                (false, Some(sql)) => (next, Ended::Unrecoverable(sql)),
            }
        }
        (s, _) => unreachable!("a job ends in state {s:?}"),
    };
    STATE.with(|s| s.set(next));
    Ok(ended)
}

/// The jobs are done: what follows (the batch's own writes, the commit) needs no savepoint.
pub(super) fn end_batch() {
    STATE.with(|s| s.set(Sp::Off));
}

/// Watches the writer's statements (its connection's instrumentation): a write while the
/// running job's savepoint is pending is remembered for [`end_job`].
pub(super) fn observe(event: InstrumentationEvent<'_>) {
    let InstrumentationEvent::StartQuery { query, .. } = event else { return };
    if !matches!(STATE.with(Cell::get), Sp::Pending { .. }) {
        return;
    }
    let sql = query.to_string();
    // The statement's words only: diesel appends the bound values (which may be secrets).
    let text = sql.split(" -- binds:").next().unwrap_or("");
    let head: String = text.trim_start().chars().take(60).collect();
    let word = head.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    if word != "SELECT" {
        WROTE_UNGUARDED.with(|w| {
            w.borrow_mut().get_or_insert(head);
        });
    }
}
