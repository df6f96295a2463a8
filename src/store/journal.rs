//! The journal as the exports read it: every posting of the entries recorded in a period, with
//! its entry, its order's program version and what an operator wrote about the entry, in
//! (recorded_at, entry id, posting id) order.
//!
//! SQLite streams it from one statement on a reader thread, in batches whose text is copied
//! once into one buffer (a `String` per field of millions of postings was a sixth of the
//! export's time), while the caller writes the batch before. PostgreSQL reads it in pages of
//! [`PAGE`] by keyset, so no statement holds the whole period. Both hand the caller the same
//! borrowed [`Line`].

use super::conn::DbConn;
use super::schema::*;
use crate::domain::ledger::Account;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

/// Postings read per page on PostgreSQL, and between two progress ticks on either backend.
pub const PAGE: i64 = 5_000;

/// What an operator wrote about an entry, by its kind: the reason of an adjustment or a
/// write-off, the bank reference of a deposit, a settlement or a paid withdrawal, the reason a
/// withdrawal was rejected. Other kinds have none (the CASE stops at the kind, so an order's
/// entry costs no lookup).
const MEMO_SQL: &str = "CASE WHEN entries.reference IS NULL THEN NULL ELSE CASE entries.kind \
    WHEN 'adjustment' THEN (SELECT m.reason FROM adjustments m WHERE m.adjustment_id = entries.reference) \
    WHEN 'clawback_write_off' THEN (SELECT m.reason FROM writeoffs m WHERE m.writeoff_id = entries.reference) \
    WHEN 'reserve_deposit' THEN (SELECT m.reference FROM deposits m WHERE m.deposit_id = entries.reference) \
    WHEN 'settlement' THEN (SELECT m.reference FROM settlements m \
        WHERE m.merchant_id = entries.merchant_id AND m.settlement_id = entries.reference) \
    WHEN 'withdrawal_paid' THEN (SELECT m.reference FROM withdrawals m WHERE m.withdrawal_id = entries.reference) \
    WHEN 'withdrawal_rejected' THEN (SELECT m.reason FROM withdrawals m WHERE m.withdrawal_id = entries.reference) \
    END END";

/// The name of a stored account code (the table's CHECK keeps codes to known accounts).
fn account_name(code: i16) -> &'static str {
    Account::from_code(code).expect("stored account code").name()
}

/// A posting with its entry, as the exports print it, borrowed from the row it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub entry_id: i64,
    pub kind: &'a str,
    pub recorded_at: i64,
    pub occurred_at: i64,
    pub merchant_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub posting_id: i64,
    pub account: &'a str,
    pub owner: &'a str,
    pub currency: &'a str,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    /// The program version of the entry's order, if it has one.
    pub program_version: Option<i64>,
    /// What an operator wrote about the entry (see [`MEMO_SQL`]).
    pub memo: Option<&'a str>,
}

/// The same line, owned: what a PostgreSQL page holds.
#[derive(Debug, Clone, Queryable)]
struct Row {
    entry_id: i64,
    kind: String,
    recorded_at: i64,
    occurred_at: i64,
    merchant_id: Option<String>,
    order_id: Option<String>,
    reference: Option<String>,
    posting_id: i64,
    account_code: i16,
    owner: String,
    currency: String,
    amount_minor: i64,
    balance_after_minor: i64,
    program_version: Option<i32>,
    memo: Option<String>,
}

impl Row {
    fn line(&self) -> Line<'_> {
        Line {
            entry_id: self.entry_id,
            kind: &self.kind,
            recorded_at: self.recorded_at,
            occurred_at: self.occurred_at,
            merchant_id: self.merchant_id.as_deref(),
            order_id: self.order_id.as_deref(),
            reference: self.reference.as_deref(),
            posting_id: self.posting_id,
            account: account_name(self.account_code),
            owner: &self.owner,
            currency: &self.currency,
            amount_minor: self.amount_minor,
            balance_after_minor: self.balance_after_minor,
            program_version: self.program_version.map(i64::from),
            memo: self.memo.as_deref(),
        }
    }
}

/// The journal's query for [from, to), in export order, optionally with `$filter` added; the
/// columns in [`Line`]'s order.
macro_rules! journal {
    ($from:expr, $to:expr, $filter:expr) => {
        journal!($from, $to).filter($filter)
    };
    ($from:expr, $to:expr) => {
        entries::table
            .inner_join(postings::table)
            .filter(entries::recorded_at.ge($from))
            .filter(entries::recorded_at.lt($to))
            .order((entries::recorded_at, entries::id, postings::id))
            .select((
                entries::id,
                entries::kind,
                entries::recorded_at,
                entries::occurred_at,
                entries::merchant_id,
                entries::order_id,
                entries::reference,
                postings::id,
                postings::account_code,
                postings::owner,
                postings::currency,
                postings::amount_minor,
                postings::balance_after_minor,
                entries::program_version,
                diesel::dsl::sql::<Nullable<Text>>(MEMO_SQL),
            ))
    };
}

/// Calls `f` with every posting of entries recorded in [from, to), in order, and `tick` with
/// the number of postings read every [`PAGE`] of them. Callers that need one instant for the
/// whole file run this inside [`super::conn::snapshot`].
pub fn each_line(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    tick: &mut dyn FnMut(u64),
    f: impl FnMut(&Line<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match conn {
        DbConn::Sqlite(c) => stream_sqlite(c, from, to, PAGE as usize, tick, f),
        conn => paged(conn, from, to, PAGE, tick, f),
    }
}

/// Pages of `limit` lines by keyset, one after the other (either backend).
fn paged(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    limit: i64,
    tick: &mut dyn FnMut(u64),
    mut f: impl FnMut(&Line<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut after = (i64::MIN, i64::MIN, i64::MIN);
    loop {
        let rows = page(conn, from, to, after, limit)?;
        for r in &rows {
            f(&r.line())?;
        }
        tick(rows.len() as u64);
        match rows.last() {
            Some(r) if rows.len() as i64 == limit => after = (r.recorded_at, r.entry_id, r.posting_id),
            _ => return Ok(()),
        }
    }
}

/// One statement for the whole period, read on a thread of its own while the caller formats
/// what was read before: reading (SQLite's B-trees) and writing (formatting, the file) each
/// take about half of an export, so on two cores they overlap. Lines travel in batches of
/// `batch_len` ([`PAGE`]), their text copied once into the batch's buffer; batches go back to
/// the reader to be filled again, so the export allocates nothing per line.
fn stream_sqlite(
    c: &mut diesel::SqliteConnection,
    from: i64,
    to: i64,
    batch_len: usize,
    tick: &mut dyn FnMut(u64),
    mut f: impl FnMut(&Line<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::sync::mpsc;
    // A few batches in flight, so neither side waits on the other's hiccups (about 1 MB each).
    let (full_tx, full_rx) = mpsc::sync_channel::<QueryResult<Batch>>(8);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let reader = std::thread::Builder::new().name("cashback-journal".into()).spawn_scoped(s, move || {
            if let Err(e) = read_batches(c, from, to, batch_len, &full_tx, &empty_rx) {
                let _ = full_tx.send(Err(e));
            }
        })?;
        // Owns the receiver: returning (an error from `f`) drops it, which stops the reader
        // at its next batch, before it is joined below.
        let written = (move || -> anyhow::Result<()> {
            for batch in full_rx {
                let batch = batch?;
                for p in &batch.lines {
                    f(&batch.line(p))?;
                }
                tick(batch.lines.len() as u64);
                let _ = empty_tx.send(batch);
            }
            Ok(())
        })();
        // A reader that panicked ended the stream early: an error, never a short file.
        let read = reader.join().map_err(|_| anyhow::anyhow!("the journal's reader thread failed"));
        written.and(read)
    })
}

/// The reader's half of [`stream_sqlite`]: every row of the query, in batches, until the
/// caller stops listening.
fn read_batches(
    c: &mut diesel::SqliteConnection,
    from: i64,
    to: i64,
    batch_len: usize,
    full: &std::sync::mpsc::SyncSender<QueryResult<Batch>>,
    empty: &std::sync::mpsc::Receiver<Batch>,
) -> QueryResult<()> {
    use diesel::connection::LoadConnection;
    let mut batch = Batch::default();
    for row in c.load(journal!(from, to))? {
        batch.push(&row?);
        if batch.lines.len() == batch_len {
            let mut next = empty.try_recv().unwrap_or_default();
            next.clear();
            if full.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.lines.is_empty() {
        let _ = full.send(Ok(batch));
    }
    Ok(())
}

/// Where a text field of a [`Packed`] line is in its batch's buffer; `NULL` for none.
type Span = (u32, u32);
const NULL: Span = (u32::MAX, 0);

/// A line of a [`Batch`]: its numbers, and its texts as spans of the batch's buffer.
#[derive(Debug, Clone, Copy)]
struct Packed {
    /// entry id, recorded_at, occurred_at, posting id, amount, balance after, account code.
    ints: [i64; 7],
    program_version: Option<i64>,
    /// kind, merchant id, order id, reference, owner, currency, memo.
    texts: [Span; 7],
}

/// Lines read from SQLite, their text in one buffer.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    lines: Vec<Packed>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }

    /// Copies a row of the journal query (columns in [`Line`]'s order) into the batch. The
    /// entry's columns are read only for its first posting in the batch; the others share them
    /// (an entry has about four postings, and each column read is a call into SQLite).
    fn push<'a>(&mut self, row: &impl diesel::row::Row<'a, diesel::sqlite::Sqlite>) {
        use diesel::row::Field;
        let int = |i: usize| {
            let field = row.get(i).expect("the journal query selects 15 columns");
            let value = field.value();
            value.map(|mut v| v.read_long())
        };
        let entry_id = int(0).unwrap_or_default();
        let same_entry = self.lines.last().filter(|l| l.ints[0] == entry_id).copied();
        let mut packed = same_entry.unwrap_or(Packed { ints: [0; 7], program_version: None, texts: [NULL; 7] });
        packed.ints[0] = entry_id;
        for (slot, i) in [(3, 7), (4, 11), (5, 12), (6, 8)] {
            packed.ints[slot] = int(i).unwrap_or_default();
        }
        if same_entry.is_none() {
            packed.ints[1] = int(2).unwrap_or_default();
            packed.ints[2] = int(3).unwrap_or_default();
            packed.program_version = int(13);
        }
        // (slot in `texts`, column): kind, merchant id, order id, reference, memo are the
        // entry's; owner, currency the posting's.
        let texts: &[(usize, usize)] = if same_entry.is_some() {
            &[(4, 9), (5, 10)]
        } else {
            &[(0, 1), (1, 4), (2, 5), (3, 6), (4, 9), (5, 10), (6, 14)]
        };
        for &(slot, i) in texts {
            let field = row.get(i).expect("the journal query selects 15 columns");
            packed.texts[slot] = match field.value() {
                Some(mut v) => {
                    let t = v.read_text();
                    self.text.push_str(t);
                    // Fields of at most a few hundred characters, a few thousand lines a batch.
                    let end = u32::try_from(self.text.len()).expect("a batch's text is far below 4 GiB");
                    (end - t.len() as u32, t.len() as u32)
                }
                None => NULL,
            };
        }
        self.lines.push(packed);
    }

    fn line(&self, p: &Packed) -> Line<'_> {
        let t = |i: usize| {
            let (start, len) = p.texts[i];
            (start != u32::MAX).then(|| &self.text[start as usize..(start + len) as usize])
        };
        let [entry_id, recorded_at, occurred_at, posting_id, amount_minor, balance_after_minor, account_code] = p.ints;
        Line {
            entry_id,
            kind: t(0).unwrap_or_default(),
            recorded_at,
            occurred_at,
            merchant_id: t(1),
            order_id: t(2),
            reference: t(3),
            posting_id,
            account: account_name(i16::try_from(account_code).unwrap_or_default()),
            owner: t(4).unwrap_or_default(),
            currency: t(5).unwrap_or_default(),
            amount_minor,
            balance_after_minor,
            program_version: p.program_version,
            memo: t(6),
        }
    }
}

/// Postings of entries recorded in [from, to) after the position `after` = (recorded_at,
/// entry id, posting id), `limit` at a time.
///
/// Three range queries, each a seek on an index: the rest of the entry the last page ended in,
/// the entries of the same second after it, then the seconds after that. One query with the
/// three cases ORed could not seek and scanned the whole second from its start on every page:
/// quadratic where many entries share a second (9,000 lines/s on 10 million postings).
fn page(conn: &mut DbConn, from: i64, to: i64, after: (i64, i64, i64), limit: i64) -> QueryResult<Vec<Row>> {
    let (t, e, p) = after;
    let mut rows = Vec::new();
    if t != i64::MIN {
        let rest_of_entry = entries::recorded_at.eq(t).and(entries::id.eq(e)).and(postings::id.gt(p));
        rows = journal!(from, to, rest_of_entry).limit(limit).load::<Row>(conn)?;
        if (rows.len() as i64) < limit {
            let rest_of_second = entries::recorded_at.eq(t).and(entries::id.gt(e));
            rows.extend(journal!(from, to, rest_of_second).limit(limit - rows.len() as i64).load::<Row>(conn)?);
        }
    }
    if (rows.len() as i64) < limit {
        let later = entries::recorded_at.gt(t);
        rows.extend(journal!(from, to, later).limit(limit - rows.len() as i64).load::<Row>(conn)?);
    }
    Ok(rows)
}

/// How many postings entries recorded in [from, to) have (for a progress bar).
pub fn count_postings(conn: &mut DbConn, from: i64, to: i64) -> QueryResult<i64> {
    postings::table
        .inner_join(entries::table)
        .filter(entries::recorded_at.ge(from))
        .filter(entries::recorded_at.lt(to))
        .count()
        .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DbUrl;
    use diesel::connection::SimpleConnection;

    /// A journal of 40 entries of 1 to 5 postings, recorded out of id order, several in the
    /// same second, a third without merchant, order or program version.
    fn journal() -> (tempfile::TempDir, DbConn) {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::Sqlite(dir.path().join("journal.db").to_str().unwrap().to_string());
        let mut conn = url.connect().unwrap();
        crate::store::conn::migrate(&mut conn).unwrap();
        let mut sql = String::from("BEGIN;");
        let mut posting = 0;
        for e in 1..=40_i64 {
            let (merchant, order, version) = if e % 3 == 0 {
                ("NULL".to_string(), "NULL".to_string(), "NULL".to_string())
            } else {
                (format!("'m{}'", e % 2), format!("'o{e}'"), (e % 4 + 1).to_string())
            };
            sql += &format!(
                "INSERT INTO entries (id, kind, currency, occurred_at, recorded_at, merchant_id, order_id, \
                 reference, program_version) VALUES ({e}, 'order_paid', 'CNY', {}, {}, {merchant}, {order}, NULL, \
                 {version});",
                1_000 + e,
                2_000 + e * 7 % 10
            );
            for _ in 0..e % 5 + 1 {
                posting += 1;
                sql += &format!(
                    "INSERT INTO postings (id, entry_id, account_code, owner, currency, amount_minor, \
                     balance_after_minor) VALUES ({posting}, {e}, 4, 'u{}', 'CNY', \
                     {posting}, {});",
                    posting % 7,
                    -posting
                );
            }
        }
        conn.batch_execute(&(sql + "COMMIT;")).unwrap();
        (dir, conn)
    }

    fn read(conn: &mut DbConn, from: i64, to: i64, stream_batch: Option<usize>) -> (Vec<String>, u64) {
        let (mut lines, mut ticked) = (Vec::new(), 0);
        let mut tick = |n: u64| ticked += n;
        let f = |l: &Line<'_>| {
            lines.push(format!("{l:?}"));
            Ok(())
        };
        match (conn, stream_batch) {
            (DbConn::Sqlite(c), Some(n)) => stream_sqlite(c, from, to, n, &mut tick, f).unwrap(),
            (conn, _) => paged(conn, from, to, 3, &mut tick, f).unwrap(),
        }
        (lines, ticked)
    }

    #[test]
    fn the_sqlite_stream_reads_what_the_pages_read_whatever_the_batch_size() {
        let (_dir, mut conn) = journal();
        for (from, to) in [(i64::MIN, i64::MAX), (2_003, 2_008)] {
            let (expected, n) = read(&mut conn, from, to, None);
            assert_eq!(n as usize, expected.len());
            if from == i64::MIN {
                assert_eq!(expected.len(), 120, "every posting");
            }
            // Batches of 1 to 7 cut entries anywhere; 1,000 holds them all.
            for batch in [1, 2, 3, 7, 1_000] {
                let (got, ticked) = read(&mut conn, from, to, Some(batch));
                assert_eq!(got, expected, "batches of {batch}, period [{from}, {to})");
                assert_eq!(ticked as usize, expected.len());
            }
        }
    }

    #[test]
    fn an_error_from_the_caller_stops_the_stream_and_is_returned() {
        let (_dir, mut conn) = journal();
        let DbConn::Sqlite(c) = &mut conn else { unreachable!() };
        let mut seen = 0;
        // Batches of one: the reader is waiting on a full channel when the caller gives up.
        let r = stream_sqlite(c, i64::MIN, i64::MAX, 1, &mut |_| {}, |_| {
            seen += 1;
            if seen == 5 {
                anyhow::bail!("disk full")
            }
            Ok(())
        });
        assert_eq!(r.unwrap_err().to_string(), "disk full");
        assert_eq!(seen, 5);
        // The connection is free again and its snapshot-less reads work.
        assert_eq!(count_postings(&mut conn, i64::MIN, i64::MAX).unwrap(), 120);
    }
}
