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

use super::bulk;
use super::conn::DbConn;
use super::prefetch;
use super::prepared::Fixed;
use super::repo::{OrderRow, ProgramRow, RefundRow};
use super::savepoint;
use super::schema::{balances, entries, idempotency, orders, postings, refunds};
use crate::domain::engine::LedgerError;
use crate::domain::ledger::{Account, Books, NewEntry};
use crate::domain::money::Currency;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
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
pub(super) struct EntryRow {
    pub id: i64,
    pub kind: &'static str,
    pub currency: &'static str,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub merchant_id: Option<String>,
    pub order_id: Option<String>,
    pub reference: Option<String>,
    pub program_version: Option<i32>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = postings)]
pub(super) struct PostingRow {
    pub id: i64,
    pub entry_id: i64,
    pub account_code: i16,
    pub owner: String,
    pub currency: &'static str,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
}

/// How many rows of each kind the batch holds (or had written when a job began).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lens {
    orders: usize,
    states: usize,
    refunds: usize,
    remembered: usize,
    entries: usize,
    postings: usize,
}

impl Lens {
    fn min(self, o: Lens) -> Lens {
        Lens {
            orders: self.orders.min(o.orders),
            states: self.states.min(o.states),
            refunds: self.refunds.min(o.refunds),
            remembered: self.remembered.min(o.remembered),
            entries: self.entries.min(o.entries),
            postings: self.postings.min(o.postings),
        }
    }
}

/// An order's state as `repo::save_order_state` writes it.
#[derive(Debug, Clone)]
pub(super) struct OrderState {
    pub merchant_id: String,
    pub order_id: String,
    pub rev_cashback_minor: i64,
    pub rev_referral_minor: i64,
    pub rev_platform_minor: i64,
    pub refunded_minor: i64,
    pub status: String,
    pub released_at: Option<i64>,
}

impl From<&OrderRow> for OrderState {
    fn from(o: &OrderRow) -> OrderState {
        OrderState {
            merchant_id: o.merchant_id.clone(),
            order_id: o.order_id.clone(),
            rev_cashback_minor: o.rev_cashback_minor,
            rev_referral_minor: o.rev_referral_minor,
            rev_platform_minor: o.rev_platform_minor,
            refunded_minor: o.refunded_minor,
            status: o.status.clone(),
            released_at: o.released_at,
        }
    }
}

impl OrderState {
    /// `row` with this state: the columns a saved state writes.
    pub(super) fn applied_to(self, row: &OrderRow) -> OrderRow {
        OrderRow {
            rev_cashback_minor: self.rev_cashback_minor,
            rev_referral_minor: self.rev_referral_minor,
            rev_platform_minor: self.rev_platform_minor,
            refunded_minor: self.refunded_minor,
            status: self.status,
            released_at: self.released_at,
            ..row.clone()
        }
    }
}

/// An idempotency record, as `repo::remember` stores it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency)]
pub(super) struct IdemRow {
    pub scope: String,
    pub key: String,
    pub request: String,
    pub response: String,
    pub created_at: i64,
}

/// What one group commit has booked but not yet written: balances, the next ids, the new
/// orders, their new states, refunds and idempotency records, and the journal rows (those
/// before `flushed` are in the database already).
#[derive(Debug, Default)]
struct Batch {
    balances: HashMap<Key, Cached>,
    next_entry: Option<i64>,
    next_posting: Option<i64>,
    orders: Vec<OrderRow>,
    states: Vec<OrderState>,
    refunds: Vec<RefundRow>,
    remembered: Vec<IdemRow>,
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
    /// PostgreSQL: what a committed batch knew that the next one may start from (see [`Carry`]).
    static CARRY: RefCell<Option<Carry>> = const { RefCell::new(None) };
}

/// What the next batch may take over from one that committed, on PostgreSQL only: the next
/// entry and posting ids and the current programs it read. There the writer holds the
/// database's writer lock for its connection's whole life (`conn::setup_writer`), so no one
/// else adds journal rows or programs in between, and every program the writer stores forgets
/// its cache entry. It saves three round trips a batch. A batch that fails carries nothing,
/// and its successor reads them again (on SQLite, in process, reading is as cheap as keeping).
#[derive(Debug)]
struct Carry {
    next_entry: Option<i64>,
    next_posting: Option<i64>,
    programs: HashMap<ProgramKey, Option<ProgramRow>>,
}

/// A point in the batch a failed job rolls back to: its undo log, and how much of the journal
/// was in the database when the job's savepoint began.
pub struct Mark(usize, Lens);

/// Opens the batch cache on this thread (the writer, before its transaction).
pub fn begin_batch() {
    let mut batch = Batch::default();
    if let Some(c) = CARRY.with(|c| c.borrow_mut().take()) {
        (batch.next_entry, batch.next_posting, batch.programs) = (c.next_entry, c.next_posting, c.programs);
    }
    BATCH.with(|b| *b.borrow_mut() = Some(batch));
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
                    b.states.truncate(l.states);
                    b.refunds.truncate(l.refunds);
                    b.remembered.truncate(l.remembered);
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

/// Keeps a row for the batch to write before it commits (`false`: no batch is open, the
/// caller writes it). Whatever reads or refers to such rows inside the writer flushes them
/// first: [`flush_orders`], [`flush_refunds`], [`flush_remembered`], or all of them with
/// [`flush_journal`].
fn buffer(f: impl FnOnce(&mut Batch)) -> bool {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return false };
        b.undo.push(Undo::Appended(b.lens()));
        f(b);
        true
    })
}

pub(super) fn buffer_order(o: &OrderRow) -> bool {
    buffer(|b| b.orders.push(o.clone()))
}

pub(super) fn buffer_order_state(o: &OrderRow) -> bool {
    buffer(|b| b.states.push(o.into()))
}

pub(super) fn buffer_refund(r: &RefundRow) -> bool {
    buffer(|b| b.refunds.push(r.clone()))
}

pub(super) fn buffer_remembered(r: IdemRow) -> bool {
    buffer(|b| b.remembered.push(r))
}

impl Batch {
    fn lens(&self) -> Lens {
        Lens {
            orders: self.orders.len(),
            states: self.states.len(),
            refunds: self.refunds.len(),
            remembered: self.remembered.len(),
            entries: self.entries.len(),
            postings: self.postings.len(),
        }
    }
}

/// The rows of one kind the batch holds and has not written; `None` when there are none.
fn unwritten<T: Clone>(pick: impl Fn(&Batch) -> (&[T], usize)) -> Option<Vec<T>> {
    BATCH.with(|b| {
        let b = b.borrow();
        let (rows, flushed) = pick(b.as_ref()?);
        (rows.len() > flushed).then(|| rows[flushed..].to_vec())
    })
}

/// Records that every row of one kind the batch holds is written.
fn written(set: impl FnOnce(&mut Batch)) {
    BATCH.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            set(b);
        }
    });
}

/// Inserts rows: many a statement on PostgreSQL (a round trip per statement is what it costs);
/// on SQLite, in process, one cached single-row statement per row is cheaper than preparing a
/// new many-row one each time.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConn::Postgresql(c) => {
                for chunk in $rows.chunks(ROWS_PER_INSERT) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            DbConn::Sqlite(c) => {
                for r in $rows.iter() {
                    diesel::insert_into($table).values(r).execute(c)?;
                }
            }
        }
    };
}

/// Writes the new orders and the order states the batch holds, so a query inside the writer
/// can read them.
pub(super) fn flush_orders(conn: &mut DbConn) -> QueryResult<()> {
    if let Some(os) = unwritten(|b| (&b.orders, b.flushed.orders)) {
        savepoint::before_write(conn)?;
        insert_rows!(conn, orders::table, os);
        written(|b| b.flushed.orders = b.orders.len());
    }
    if let Some(states) = unwritten(|b| (&b.states, b.flushed.states)) {
        savepoint::before_write(conn)?;
        write_states(conn, states)?;
        written(|b| b.flushed.states = b.states.len());
    }
    Ok(())
}

/// Each order's last state only, in one statement on PostgreSQL.
pub(super) fn write_states(conn: &mut DbConn, states: Vec<OrderState>) -> QueryResult<()> {
    match conn {
        DbConn::Postgresql(pg) => bulk::write(pg, bulk::Rows { states, ..Default::default() })?,
        DbConn::Sqlite(c) => {
            for s in &bulk::fold_states(&mut [], states) {
                Fixed::new(SQLITE_SAVE_STATE)
                    .bind::<BigInt, _>(s.rev_cashback_minor)
                    .bind::<BigInt, _>(s.rev_referral_minor)
                    .bind::<BigInt, _>(s.rev_platform_minor)
                    .bind::<BigInt, _>(s.refunded_minor)
                    .bind::<Text, _>(&s.status)
                    .bind::<Nullable<BigInt>, _>(s.released_at)
                    .bind::<Text, _>(&s.merchant_id)
                    .bind::<Text, _>(&s.order_id)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Writes the refunds the batch holds (and the orders they refer to).
pub(super) fn flush_refunds(conn: &mut DbConn) -> QueryResult<()> {
    flush_orders(conn)?;
    if let Some(rs) = unwritten(|b| (&b.refunds, b.flushed.refunds)) {
        savepoint::before_write(conn)?;
        insert_rows!(conn, refunds::table, rs);
        written(|b| b.flushed.refunds = b.refunds.len());
    }
    Ok(())
}

/// Writes the idempotency records the batch holds.
pub(super) fn flush_remembered(conn: &mut DbConn) -> QueryResult<()> {
    if let Some(rs) = unwritten(|b| (&b.remembered, b.flushed.remembered)) {
        savepoint::before_write(conn)?;
        insert_rows!(conn, idempotency::table, rs);
        written(|b| b.flushed.remembered = b.remembered.len());
    }
    Ok(())
}

/// Writes every row the batch holds (orders, their states, refunds, idempotency records,
/// entries and postings), so a query inside the writer can read them: whatever reads the
/// journal in the writer calls it first.
pub fn flush_journal(conn: &mut DbConn) -> QueryResult<()> {
    flush_refunds(conn)?;
    flush_remembered(conn)?;
    // Entries first: postings refer to them.
    if let Some(es) = unwritten(|b| (&b.entries, b.flushed.entries)) {
        savepoint::before_write(conn)?;
        insert_rows!(conn, entries::table, es);
        written(|b| b.flushed.entries = b.entries.len());
    }
    if let Some(ps) = unwritten(|b| (&b.postings, b.flushed.postings)) {
        savepoint::before_write(conn)?;
        insert_rows!(conn, postings::table, ps);
        written(|b| b.flushed.postings = b.postings.len());
    }
    Ok(())
}

// Updates as texts the connection keeps prepared (`store::prepared`: diesel parses its
// `update` again at every call).
const SAVE_BALANCE: &str = "UPDATE balances SET balance_minor = $1 WHERE currency = $2 AND account = $3 AND owner = $4";
const SQLITE_SAVE_STATE: &str = "UPDATE orders SET rev_cashback_minor = $1, rev_referral_minor = $2, \
     rev_platform_minor = $3, refunded_minor = $4, status = $5, released_at = $6 \
     WHERE merchant_id = $7 AND order_id = $8";

/// Stores a balance: updates its row if `stored` (it exists already), inserts it otherwise.
fn save_balance(conn: &mut DbConn, key: (&str, &str, &str), balance: i64, stored: bool) -> QueryResult<usize> {
    if stored {
        return crate::on_backend!(conn, |c| Fixed::new(SAVE_BALANCE)
            .bind::<BigInt, _>(balance)
            .bind::<Text, _>(key.0)
            .bind::<Text, _>(key.1)
            .bind::<Text, _>(key.2)
            .execute(c));
    }
    diesel::insert_into(balances::table)
        .values((
            balances::currency.eq(key.0),
            balances::account.eq(key.1),
            balances::owner.eq(key.2),
            balances::balance_minor.eq(balance),
        ))
        .execute(conn)
}

/// Writes everything the batch holds (new rows, then every balance it moved), inside its
/// transaction, and closes the cache: on PostgreSQL in one statement ([`bulk`]).
pub fn flush_batch(conn: &mut DbConn) -> QueryResult<usize> {
    if let DbConn::Postgresql(pg) = conn {
        let Some(batch) = BATCH.with(|b| b.borrow_mut().take()) else { return Ok(0) };
        return pg_flush_batch(pg, batch);
    }
    flush_journal(conn)?;
    let Some(batch) = BATCH.with(|b| b.borrow_mut().take()) else { return Ok(0) };
    let mut written = 0;
    for ((currency, account, owner), c) in batch.balances.iter().filter(|(_, c)| c.dirty) {
        let key = (*currency, *account, owner.as_str());
        save_balance(conn, key, c.balance, c.stored)?;
        written += 1;
    }
    Ok(written)
}

/// PostgreSQL: the rows not yet written and the moved balances, in one statement.
fn pg_flush_batch(pg: &mut diesel::PgConnection, mut b: Batch) -> QueryResult<usize> {
    let carry =
        Carry { next_entry: b.next_entry, next_posting: b.next_posting, programs: std::mem::take(&mut b.programs) };
    CARRY.with(|c| *c.borrow_mut() = Some(carry));
    let f = b.flushed;
    let mut rows = bulk::Rows {
        orders: b.orders.split_off(f.orders),
        states: b.states.split_off(f.states),
        refunds: b.refunds.split_off(f.refunds),
        remembered: b.remembered.split_off(f.remembered),
        entries: b.entries.split_off(f.entries),
        postings: b.postings.split_off(f.postings),
        ..Default::default()
    };
    for ((currency, account, owner), c) in b.balances.into_iter().filter(|(_, c)| c.dirty) {
        let to = if c.stored { &mut rows.balance_updates } else { &mut rows.balance_inserts };
        to.push((currency, account, owner, c.balance));
    }
    let n = rows.balance_updates.len() + rows.balance_inserts.len();
    bulk::write(pg, rows)?;
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

/// Closes the cache: `committed` is false when the batch rolled back, and then nothing of it
/// is carried to the next one.
pub fn end_batch(committed: bool) {
    BATCH.with(|b| *b.borrow_mut() = None);
    if !committed {
        CARRY.with(|c| c.borrow_mut().take());
    }
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
                account_code: p.account.code(),
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
    save_balance(conn, key, new, old.is_some())?;
    Ok(new)
}
