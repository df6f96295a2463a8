//! Finance exports (API.md §11): the journal (CSV, hledger, beancount) and the trial balance.
//! Every report selects and orders entries by `recorded_at`; the journal is streamed
//! (`store::journal`), so memory stays flat whatever the period's size.

pub mod journal;
pub mod liabilities;
pub mod names;
pub mod statements;
pub mod trial;

use crate::store::journal::{each_line, Line};
use crate::store::DbConn;
use std::collections::BTreeMap;

/// Told how many postings each batch or page read.
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
    f: impl FnMut(&Line<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut tick = |n: u64| {
        PROGRESS.with(|p| {
            if let Some(tick) = p.borrow_mut().as_mut() {
                tick(n)
            }
        })
    };
    each_line(conn, from, to, &mut tick, f)
}

/// (debit, credit) totals per (currency, account, owner) of everything recorded before `at`.
pub type Totals = BTreeMap<(String, String, String), (i64, i64)>;

pub fn totals_before(conn: &mut DbConn, at: i64) -> anyhow::Result<Totals> {
    let mut t = Totals::new();
    each_posting(conn, i64::MIN, at, |r| {
        let e = t.entry((r.currency.to_string(), r.account.to_string(), r.owner.to_string())).or_default();
        if r.amount_minor > 0 {
            e.0 += r.amount_minor;
        } else {
            e.1 -= r.amount_minor;
        }
        Ok(())
    })?;
    Ok(t)
}
