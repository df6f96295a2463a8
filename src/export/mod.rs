//! Finance exports (API.md §11): the journal (CSV, hledger, beancount) and the trial balance.
//! Every report selects and orders entries by `recorded_at`; the journal is read in pages, so
//! memory stays flat whatever the period's size.

pub mod journal;
pub mod liabilities;
pub mod names;
pub mod statements;
pub mod trial;

use crate::store::repo::{self, JournalRow};
use crate::store::DbConn;
use std::collections::BTreeMap;

/// Postings read per page.
pub const PAGE: i64 = 5_000;

/// Told how many postings each page read.
pub type Tick = Box<dyn FnMut(u64)>;

thread_local! {
    /// Set while a command shows progress.
    static PROGRESS: std::cell::RefCell<Option<Tick>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `tick` told of every page of postings read on this thread.
pub fn with_progress<T>(tick: Tick, f: impl FnOnce() -> T) -> T {
    PROGRESS.with(|p| *p.borrow_mut() = Some(tick));
    let out = f();
    PROGRESS.with(|p| *p.borrow_mut() = None);
    out
}

/// Calls `f` with each posting of entries recorded in [from, to), in order.
pub fn each_posting(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    mut f: impl FnMut(&JournalRow) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    each_posting_with(conn, from, to, |_, r| Ok(f(r)?))
}

/// The same, with the connection free for lookups between pages' rows.
pub fn each_posting_with(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    mut f: impl FnMut(&mut DbConn, &JournalRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after = (i64::MIN, i64::MIN, i64::MIN);
    loop {
        let rows = repo::journal_page(conn, from, to, after, PAGE)?;
        for r in &rows {
            f(conn, r)?;
        }
        PROGRESS.with(|p| {
            if let Some(tick) = p.borrow_mut().as_mut() {
                tick(rows.len() as u64)
            }
        });
        match rows.last() {
            Some(r) if rows.len() as i64 == PAGE => after = (r.recorded_at, r.entry_id, r.posting_id),
            _ => return Ok(()),
        }
    }
}

/// (debit, credit) totals per (currency, account, owner) of everything recorded before `at`.
pub type Totals = BTreeMap<(String, String, String), (i64, i64)>;

pub fn totals_before(conn: &mut DbConn, at: i64) -> anyhow::Result<Totals> {
    let mut t = Totals::new();
    each_posting(conn, i64::MIN, at, |r| {
        let e = t.entry((r.currency.clone(), r.account.clone(), r.owner.clone())).or_default();
        if r.amount_minor > 0 {
            e.0 += r.amount_minor;
        } else {
            e.1 -= r.amount_minor;
        }
        Ok(())
    })?;
    Ok(t)
}
