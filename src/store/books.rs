//! The ledger's books in the database: the engine's [`Books`] over a write connection.
//!
//! Hot accounts (DESIGN.md §6): inside the writer, balances are kept in a per-batch cache
//! ([`Batch`]) instead of being read and rewritten by every posting. A balance is read from the
//! database the first time a batch touches it, moved in memory by every posting (each posting
//! still stores its exact balance after), and written once, just before the batch commits. So
//! `income:platform-share` and a merchant's receivable, touched by every order, cost one row
//! write per group commit rather than one per order. Entry and posting ids are allocated from
//! the same cache, and the journal rows themselves (entries, postings) are kept there and
//! written in a few multi-row INSERTs: a round trip per statement is what PostgreSQL costs.
//! Whatever reads the journal inside the writer calls [`flush_journal`] first. A job that fails
//! rolls its changes to the cache back with its savepoint; a batch that does not commit throws
//! the cache away. Outside the writer thread (no batch open), every call goes to the database
//! directly.

use super::conn::DbConn;
use super::prefetch;
use super::repo::{OrderRow, ProgramRow};
use super::savepoint;
use super::schema::{balances, entries, orders, postings};
use crate::domain::engine::LedgerError;
use crate::domain::ledger::{Account, Books, NewEntry};
use crate::domain::money::Currency;
use diesel::prelude::*;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// Books inside the writer's transaction; `now` is the booking time (`recorded_at`).
pub struct DbBooks<'a> {
    pub conn: &'a mut DbConn,
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

type Key = (&'static str, &'static str, String);

#[derive(Debug, Clone, Copy)]
pub(super) struct Cached {
    balance: i64,
    /// Whether the row exists in the database (UPDATE) or not yet (INSERT) at flush.
    stored: bool,
    dirty: bool,
}

#[derive(Debug)]
pub(super) enum Undo {
    Balance(Key, Option<Cached>),
    Ids(Option<i64>, Option<i64>),
    /// The pending rows' lengths before an append.
    Appended(Lens),
    /// A merchant's current program as it was in the cache before (None: not cached).
    Program(ProgramKey, Option<Option<ProgramRow>>),
    /// What the batch read ahead ([`prefetch`]).
    Known(prefetch::Undo),
}

type ProgramKey = (String, String);

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = entries)]
struct EntryRow {
    id: i64,
    kind: &'static str,
    currency: &'static str,
    occurred_at: i64,
    recorded_at: i64,
    merchant_id: Option<String>,
    order_id: Option<String>,
    reference: Option<String>,
    program_version: Option<i32>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = postings)]
struct PostingRow {
    id: i64,
    entry_id: i64,
    account: &'static str,
    owner: String,
    currency: &'static str,
    amount_minor: i64,
    balance_after_minor: i64,
}

/// How many rows of each kind the batch holds (or had written when a job began).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lens {
    orders: usize,
    entries: usize,
    postings: usize,
}

impl Lens {
    fn min(self, o: Lens) -> Lens {
        Lens {
            orders: self.orders.min(o.orders),
            entries: self.entries.min(o.entries),
            postings: self.postings.min(o.postings),
        }
    }
}

/// What one group commit has booked but not yet written: balances, the next ids, and the
/// new orders and journal rows (those before `flushed` are in the database already).
#[derive(Debug, Default)]
struct Batch {
    balances: HashMap<Key, Cached>,
    next_entry: Option<i64>,
    next_posting: Option<i64>,
    orders: Vec<OrderRow>,
    entries: Vec<EntryRow>,
    postings: Vec<PostingRow>,
    flushed: Lens,
    /// Current programs by (merchant, currency): read once a batch, not once an order.
    programs: HashMap<ProgramKey, Option<ProgramRow>>,
    /// Orders, users, due items and whose balances are all here, read ahead for the batch.
    known: prefetch::Known,
    undo: Vec<Undo>,
}

/// Journal rows per INSERT: well inside both backends' limits on bound values.
const ROWS_PER_INSERT: usize = 500;

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// A point in the batch a failed job rolls back to: its undo log, and how much of the journal
/// was in the database when the job's savepoint began.
pub struct Mark(usize, Lens);

/// Opens the batch cache on this thread (the writer, before its transaction).
pub fn begin_batch() {
    BATCH.with(|b| *b.borrow_mut() = Some(Batch::default()));
}

pub fn mark() -> Mark {
    BATCH.with(|b| b.borrow().as_ref().map_or(Mark(0, Lens::default()), |b| Mark(b.undo.len(), b.flushed)))
}

/// Undoes what the jobs after `m` did to the cache (their savepoint was rolled back).
pub fn rollback_to(m: Mark) {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return };
        while b.undo.len() > m.0 {
            match b.undo.pop().expect("len > mark") {
                Undo::Balance(k, Some(prev)) => {
                    b.balances.insert(k, prev);
                }
                Undo::Balance(k, None) => {
                    b.balances.remove(&k);
                }
                Undo::Ids(e, p) => {
                    b.next_entry = e;
                    b.next_posting = p;
                }
                Undo::Appended(l) => {
                    b.orders.truncate(l.orders);
                    b.entries.truncate(l.entries);
                    b.postings.truncate(l.postings);
                }
                Undo::Program(k, Some(prev)) => {
                    b.programs.insert(k, prev);
                }
                Undo::Program(k, None) => {
                    b.programs.remove(&k);
                }
                Undo::Known(u) => b.known.undo(u),
            }
        }
        // The savepoint took back the rows written since it began, earlier jobs' included:
        // those are still in the cache and are written again by the next flush.
        b.flushed = b.flushed.min(m.1);
    });
}

/// Keeps a new order with the batch's journal rows, written with them (`false`: no batch is
/// open, the caller writes it).
pub(super) fn buffer_order(o: &OrderRow) -> bool {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return false };
        b.undo.push(Undo::Appended(b.lens()));
        b.orders.push(o.clone());
        true
    })
}

impl Batch {
    fn lens(&self) -> Lens {
        Lens { orders: self.orders.len(), entries: self.entries.len(), postings: self.postings.len() }
    }
}

/// Writes the new orders the batch holds, so a query inside the writer can read them; with
/// `only`, just when that order is one of them (an update of it, a refund referring to it).
pub(super) fn flush_orders(conn: &mut DbConn, only: Option<(&str, &str)>) -> QueryResult<()> {
    let pending = BATCH.with(|b| {
        let b = b.borrow();
        let pending = &b.as_ref()?.orders[b.as_ref()?.flushed.orders..];
        let wanted = match only {
            None => !pending.is_empty(),
            Some((m, o)) => pending.iter().any(|r| r.merchant_id == m && r.order_id == o),
        };
        wanted.then(|| pending.to_vec())
    });
    let Some(os) = pending else { return Ok(()) };
    savepoint::before_write(conn)?;
    // As for the journal below: many rows a statement on PostgreSQL, one a statement on SQLite.
    match conn {
        DbConn::Postgresql(c) => {
            for chunk in os.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(orders::table).values(chunk).execute(c)?;
            }
        }
        DbConn::Sqlite(c) => {
            for o in &os {
                diesel::insert_into(orders::table).values(o).execute(c)?;
            }
        }
    }
    BATCH.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.flushed.orders = b.orders.len();
        }
    });
    Ok(())
}

/// Writes the new orders and journal rows the batch holds, so a query inside the writer can
/// read them: whatever reads the journal in the writer calls it first.
pub fn flush_journal(conn: &mut DbConn) -> QueryResult<()> {
    flush_orders(conn, None)?;
    let pending = BATCH.with(|b| {
        let b = b.borrow();
        let b = b.as_ref()?;
        let f = b.flushed;
        if (f.entries, f.postings) == (b.entries.len(), b.postings.len()) {
            return None;
        }
        Some((b.entries[f.entries..].to_vec(), b.postings[f.postings..].to_vec()))
    });
    let Some((es, ps)) = pending else { return Ok(()) };
    savepoint::before_write(conn)?;
    // Entries first: postings refer to them. PostgreSQL pays a round trip per statement, so
    // many rows go in each; SQLite runs in process, and one cached single-row statement per row
    // is cheaper than preparing a new many-row one each time.
    match conn {
        DbConn::Postgresql(c) => {
            for chunk in es.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(entries::table).values(chunk).execute(c)?;
            }
            for chunk in ps.chunks(ROWS_PER_INSERT) {
                diesel::insert_into(postings::table).values(chunk).execute(c)?;
            }
        }
        DbConn::Sqlite(c) => {
            for e in &es {
                diesel::insert_into(entries::table).values(e).execute(c)?;
            }
            for p in &ps {
                diesel::insert_into(postings::table).values(p).execute(c)?;
            }
        }
    }
    BATCH.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.flushed.entries = b.entries.len();
            b.flushed.postings = b.postings.len();
        }
    });
    Ok(())
}

/// Writes every balance the batch moved, inside its transaction, and closes the cache.
pub fn flush_batch(conn: &mut DbConn) -> QueryResult<usize> {
    flush_journal(conn)?;
    let Some(batch) = BATCH.with(|b| b.borrow_mut().take()) else { return Ok(0) };
    if let DbConn::Postgresql(pg) = conn {
        return pg_write_balances(pg, &batch.balances);
    }
    let mut written = 0;
    for ((currency, account, owner), c) in batch.balances.iter().filter(|(_, c)| c.dirty) {
        let key = (*currency, *account, owner.as_str());
        if c.stored {
            let q = diesel::update(balances::table.find(key)).set(balances::balance_minor.eq(c.balance));
            crate::on_backend!(conn, |db| q.execute(db))?;
        } else {
            let q = diesel::insert_into(balances::table).values((
                balances::currency.eq(currency),
                balances::account.eq(account),
                balances::owner.eq(owner),
                balances::balance_minor.eq(c.balance),
            ));
            crate::on_backend!(conn, |db| q.execute(db))?;
        }
        written += 1;
    }
    Ok(written)
}

type Columns = (Vec<&'static str>, Vec<&'static str>, Vec<String>, Vec<i64>);

/// PostgreSQL: every moved balance in two statements (one UPDATE, one INSERT), each over
/// arrays of keys and values, instead of one round trip per account.
fn pg_write_balances(pg: &mut diesel::PgConnection, all: &HashMap<Key, Cached>) -> QueryResult<usize> {
    use diesel::sql_types::{Array, BigInt, Text};
    let (mut update, mut insert): (Columns, Columns) = Default::default();
    for ((currency, account, owner), c) in all.iter().filter(|(_, c)| c.dirty) {
        let to = if c.stored { &mut update } else { &mut insert };
        to.0.push(currency);
        to.1.push(account);
        to.2.push(owner.clone());
        to.3.push(c.balance);
    }
    let n = update.0.len() + insert.0.len();
    if !update.0.is_empty() {
        diesel::sql_query(
            "UPDATE balances AS b SET balance_minor = v.balance_minor \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(currency, account, owner, balance_minor) \
             WHERE b.currency = v.currency AND b.account = v.account AND b.owner = v.owner",
        )
        .bind::<Array<Text>, _>(&update.0)
        .bind::<Array<Text>, _>(&update.1)
        .bind::<Array<Text>, _>(&update.2)
        .bind::<Array<BigInt>, _>(&update.3)
        .execute(pg)?;
    }
    if !insert.0.is_empty() {
        diesel::sql_query(
            "INSERT INTO balances (currency, account, owner, balance_minor) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
        )
        .bind::<Array<Text>, _>(&insert.0)
        .bind::<Array<Text>, _>(&insert.1)
        .bind::<Array<Text>, _>(&insert.2)
        .bind::<Array<BigInt>, _>(&insert.3)
        .execute(pg)?;
    }
    Ok(n)
}

#[derive(QueryableByName)]
struct StoredBalance {
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    account: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    owner: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    balance_minor: i64,
}

/// PostgreSQL: reads every balance an entry moves that the batch has not seen yet, in one
/// query, so booking an order costs one round trip for its users' balances, not one each.
fn pg_prefetch(conn: &mut DbConn, e: &NewEntry) -> QueryResult<()> {
    use diesel::sql_types::{Array, Text};
    let DbConn::Postgresql(pg) = conn else { return Ok(()) };
    let missing: Vec<Key> = BATCH.with(|b| {
        let b = b.borrow();
        let Some(b) = b.as_ref() else { return Vec::new() };
        let mut keys: Vec<Key> = Vec::new();
        for p in &e.postings {
            let k = (e.currency.code(), p.account.name(), p.owner.clone());
            if !b.balances.contains_key(&k) && !b.known.owners.contains(&k.2) && !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    });
    if missing.len() < 2 {
        return Ok(());
    }
    let rows: Vec<StoredBalance> = diesel::sql_query(
        "SELECT b.currency, b.account, b.owner, b.balance_minor FROM balances b \
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(currency, account, owner) \
         ON b.currency = k.currency AND b.account = k.account AND b.owner = k.owner",
    )
    .bind::<Array<Text>, _>(missing.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(missing.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(missing.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .load(pg)?;
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return };
        for k in missing {
            let found = rows.iter().find(|r| r.currency == k.0 && r.account == k.1 && r.owner == k.2);
            let c = Cached { balance: found.map_or(0, |r| r.balance_minor), stored: found.is_some(), dirty: false };
            b.balances.insert(k, c);
        }
    });
    Ok(())
}

/// The merchant's current program in `currency` if this batch has read it: `Some(found)`.
pub fn cached_program(merchant: &str, currency: &str) -> Option<Option<ProgramRow>> {
    BATCH.with(|b| b.borrow().as_ref()?.programs.get(&(merchant.to_string(), currency.to_string())).cloned())
}

/// Keeps what the database said (`Some`), or forgets it (`None`: a new version was stored).
pub fn cache_program(merchant: &str, currency: &str, v: Option<Option<ProgramRow>>) {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return };
        let k = (merchant.to_string(), currency.to_string());
        let prev = match v {
            Some(v) => b.programs.insert(k.clone(), v),
            None => b.programs.remove(&k),
        };
        b.undo.push(Undo::Program(k, prev));
    });
}

/// Throws the cache away (the batch rolled back).
pub fn discard_batch() {
    BATCH.with(|b| *b.borrow_mut() = None);
}

pub(super) fn in_batch() -> bool {
    BATCH.with(|b| b.borrow().is_some())
}

/// Runs `f` on what the batch read ahead, with the undo log for what it changes; `None`
/// outside a batch.
pub(super) fn with_known<R>(f: impl FnOnce(&mut prefetch::Known, &mut Vec<Undo>) -> R) -> Option<R> {
    BATCH.with(|b| b.borrow_mut().as_mut().map(|b| f(&mut b.known, &mut b.undo)))
}

/// After a job without a hint: see [`prefetch`]'s guarantees.
pub fn forget_known() {
    BATCH.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.known.forget();
        }
    });
}

/// Every balance row of `owners`, read ahead: the cache keeps what it has (the batch's own
/// moves), takes the rest, and from now on knows that a key of theirs it lacks has no row.
pub(super) fn preload_balances(rows: Vec<(String, String, String, i64)>, owners: HashSet<String>) {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return };
        for (currency, account, owner, balance) in rows {
            // A name the program does not know is never asked for: leaving it out is safe.
            let (Some(cur), Some(acc)) = (Currency::parse(&currency), Account::parse(&account)) else { continue };
            b.balances.entry((cur.code(), acc.name(), owner)).or_insert(Cached { balance, stored: true, dirty: false });
        }
        b.known.owners.extend(owners);
    });
}

fn stored_balance(conn: &mut DbConn, key: (&str, &str, &str)) -> QueryResult<Option<i64>> {
    crate::on_backend!(conn, |c| balances::table.find(key).select(balances::balance_minor).first(c).optional())
}

/// The balance through the cache, reading it from the database on first touch.
fn cached(conn: &mut DbConn, key: &Key) -> QueryResult<Cached> {
    let known = BATCH.with(|b| {
        let b = b.borrow();
        let b = b.as_ref()?;
        let absent = Cached { balance: 0, stored: false, dirty: false };
        b.balances.get(key).copied().or_else(|| b.known.owners.contains(&key.2).then_some(absent))
    });
    if let Some(c) = known {
        return Ok(c);
    }
    let stored = stored_balance(conn, (key.0, key.1, key.2.as_str()))?;
    let c = Cached { balance: stored.unwrap_or(0), stored: stored.is_some(), dirty: false };
    // A read changes nothing a rollback must undo: the value is what the database holds.
    BATCH.with(|b| b.borrow_mut().as_mut().map(|b| b.balances.insert(key.clone(), c)));
    Ok(c)
}

fn move_cached(conn: &mut DbConn, key: Key, amount: i64) -> QueryResult<i64> {
    let c = cached(conn, &key)?;
    let new = Cached { balance: c.balance + amount, stored: c.stored, dirty: true };
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let b = b.as_mut().expect("in a batch");
        b.undo.push(Undo::Balance(key.clone(), Some(c)));
        b.balances.insert(key, new);
    });
    Ok(new.balance)
}

/// Ids are allocated by the one writer, under its transaction, so they never collide; a
/// rolled-back job gives its ids back, so ids have no gaps.
fn next_ids(conn: &mut DbConn, postings_n: usize) -> QueryResult<(i64, i64)> {
    let (e, p) = BATCH.with(|b| b.borrow().as_ref().map_or((None, None), |b| (b.next_entry, b.next_posting)));
    let entry = match e {
        Some(v) => v,
        None => entries::table.select(diesel::dsl::max(entries::id)).get_result::<Option<i64>>(conn)?.unwrap_or(0) + 1,
    };
    let posting = match p {
        Some(v) => v,
        None => {
            postings::table.select(diesel::dsl::max(postings::id)).get_result::<Option<i64>>(conn)?.unwrap_or(0) + 1
        }
    };
    BATCH.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.undo.push(Undo::Ids(b.next_entry, b.next_posting));
            b.next_entry = Some(entry + 1);
            b.next_posting = Some(posting + postings_n as i64);
        }
    });
    Ok((entry, posting))
}

impl Books for DbBooks<'_> {
    type Error = BooksError;

    fn balance(&mut self, currency: Currency, account: Account, owner: &str) -> Result<i64, BooksError> {
        if in_batch() {
            return Ok(cached(self.conn, &(currency.code(), account.name(), owner.to_string()))?.balance);
        }
        Ok(stored_balance(self.conn, (currency.code(), account.name(), owner))?.unwrap_or(0))
    }

    fn append(&mut self, e: &NewEntry) -> Result<i64, BooksError> {
        let batch = in_batch();
        if batch {
            pg_prefetch(self.conn, e)?;
        }
        let (id, first_posting) = next_ids(self.conn, e.postings.len())?;
        let entry = EntryRow {
            id,
            kind: e.kind.as_str(),
            currency: e.currency.code(),
            occurred_at: e.occurred_at,
            recorded_at: self.now,
            merchant_id: e.merchant_id.clone(),
            order_id: e.order_id.clone(),
            reference: e.reference.clone(),
            program_version: e.program_version,
        };
        let mut rows = Vec::with_capacity(e.postings.len());
        for (pid, p) in (first_posting..).zip(&e.postings) {
            let new = if batch {
                move_cached(self.conn, (e.currency.code(), p.account.name(), p.owner.clone()), p.amount)?
            } else {
                write_through(self.conn, (e.currency.code(), p.account.name(), p.owner.as_str()), p.amount)?
            };
            rows.push(PostingRow {
                id: pid,
                entry_id: id,
                account: p.account.name(),
                owner: p.owner.clone(),
                currency: e.currency.code(),
                amount_minor: p.amount,
                balance_after_minor: new,
            });
        }
        if batch {
            BATCH.with(|b| {
                let mut b = b.borrow_mut();
                let b = b.as_mut().expect("in a batch");
                b.undo.push(Undo::Appended(b.lens()));
                b.entries.push(entry);
                b.postings.extend(rows);
            });
        } else {
            crate::on_backend!(self.conn, |c| diesel::insert_into(entries::table).values(&entry).execute(c))?;
            crate::on_backend!(self.conn, |c| diesel::insert_into(postings::table).values(&rows).execute(c))?;
        }
        Ok(id)
    }
}

/// Without a batch: read, move and store the balance row at once.
fn write_through(conn: &mut DbConn, key: (&str, &str, &str), amount: i64) -> QueryResult<i64> {
    let old = stored_balance(conn, key)?;
    let new = old.unwrap_or(0) + amount;
    match old {
        Some(_) => diesel::update(balances::table.find(key)).set(balances::balance_minor.eq(new)).execute(conn)?,
        None => diesel::insert_into(balances::table)
            .values((
                balances::currency.eq(key.0),
                balances::account.eq(key.1),
                balances::owner.eq(key.2),
                balances::balance_minor.eq(new),
            ))
            .execute(conn)?,
    };
    Ok(new)
}
