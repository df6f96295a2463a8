//! What a batch of checkout jobs will read, fetched in a few statements when the batch starts.
//!
//! Booking an order reads its key (is it a replay?), its buyer, whether anything has come due
//! for the buyer or the referrer, and their balances. On PostgreSQL each of those reads is a
//! round trip, and round trips, not work, bounded the writer: about six per order. A job may
//! carry a [`Hint`] (the order's key, the buyer, the idempotency keys a refund or a cancel
//! checks); the writer gives the batch's hints to [`load`], which reads all of it for every
//! job at once, and the queries in `repo` and `books` answer from here while the batch runs.
//!
//! Guarantees:
//! - What is known is what the database held when the batch began, moved by every write the
//!   batch's jobs made through `repo` since: each write to an order, a user, a redemption or
//!   an idempotency record keeps it true (or forgets it), and a job rolled back to its
//!   savepoint undoes what it changed here with the rest of the batch cache.
//! - "Nothing due" for a user is kept only up to a time (`clear_until`), and a write that makes
//!   something due before it forgets it; a job whose clock is past it asks the database.
//! - After a job without a hint (anything but orders, refunds and cancels), everything known
//!   here except balances is forgotten: such a job may write in ways this module does not watch.
//!   Balances are only ever written through the batch cache, so they stay.

use super::ahead::{self, IdemKey, OrderKey};
use super::books;
use super::conn::DbConn;
use super::repo::{OrderRow, RedemptionRow, UserRow};
use diesel::QueryResult;
use std::collections::{HashMap, HashSet};

/// What a job will read: its order's key and its buyer, the idempotency keys it checks, and
/// the latest time it may run at.
#[derive(Debug, Clone)]
pub struct Hint {
    pub order: Option<(String, String)>,
    pub user: Option<String>,
    /// (scope, key) of the idempotency records the job looks up (a refund's, a cancel's).
    pub remembered: Vec<(String, String)>,
    /// "Nothing due" is read up to this time: the job's clock when it was queued, plus margin.
    pub horizon: i64,
}

impl Hint {
    /// How far past its queueing time a job is expected to run (queues drain in milliseconds).
    pub const MARGIN_S: i64 = 60;

    pub fn new(merchant: &str, order_id: &str, user: Option<&str>, now: i64) -> Hint {
        Hint {
            order: Some((merchant.to_string(), order_id.to_string())),
            user: user.map(str::to_string),
            remembered: Vec::new(),
            horizon: now + Self::MARGIN_S,
        }
    }

    /// The job also looks up these idempotency keys of `scope`.
    pub fn remembering(mut self, scope: &str, keys: &[&str]) -> Hint {
        self.remembered.extend(keys.iter().map(|k| (scope.to_string(), k.to_string())));
        self
    }
}

/// An idempotency record: the canonical request and the first answer.
type Remembered = (String, String);

/// What the batch knows; lives in the batch cache (`books`), with its undo log.
#[derive(Debug, Default)]
pub(super) struct Known {
    orders: HashMap<OrderKey, Option<OrderRow>>,
    users: HashMap<String, Option<UserRow>>,
    remembered: HashMap<IdemKey, Option<Remembered>>,
    /// No pending order of the user's (as buyer or referrer) releases, and no held redemption
    /// of theirs expires, at or before this time.
    clear_until: HashMap<String, i64>,
    /// Owners whose every balance row is in the batch cache: a key of theirs not there is a
    /// zero balance with no row yet.
    pub(super) owners: HashSet<String>,
}

#[derive(Debug)]
pub(super) enum Undo {
    Order(OrderKey, Option<Option<OrderRow>>),
    User(String, Option<Option<UserRow>>),
    Remembered(IdemKey, Option<Option<Remembered>>),
    Clear(String, Option<i64>),
}

impl Known {
    pub(super) fn undo(&mut self, u: Undo) {
        fn restore<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>, k: K, prev: Option<V>) {
            match prev {
                Some(v) => m.insert(k, v),
                None => m.remove(&k),
            };
        }
        match u {
            Undo::Order(k, prev) => restore(&mut self.orders, k, prev),
            Undo::User(k, prev) => restore(&mut self.users, k, prev),
            Undo::Remembered(k, prev) => restore(&mut self.remembered, k, prev),
            Undo::Clear(k, prev) => restore(&mut self.clear_until, k, prev),
        }
    }

    /// Forgets all but the balances' owners (see the module's guarantees).
    pub(super) fn forget(&mut self) {
        self.orders.clear();
        self.users.clear();
        self.remembered.clear();
        self.clear_until.clear();
    }
}

/// Reads, for every hint of the batch, its order, its user, its idempotency records, what is
/// due for them and their referrers, and all their balances and those of the house accounts
/// its order moves (`ahead`: one statement on PostgreSQL).
pub fn load(conn: &mut DbConn, hints: &[&Hint]) -> QueryResult<()> {
    if hints.is_empty() || !books::in_batch() {
        return Ok(());
    }
    let keys: Vec<&OrderKey> = hints.iter().filter_map(|h| h.order.as_ref()).collect();
    let ask = ahead::Ask {
        users: ahead::dedup(hints.iter().filter_map(|h| h.user.as_deref())),
        // The house accounts every order moves: its merchant's and the platform's.
        houses: ahead::dedup(keys.iter().map(|k| k.0.as_str()).chain([""])),
        horizon: hints.iter().map(|h| h.horizon).min().expect("hints is not empty"),
        remembered: hints.iter().flat_map(|h| &h.remembered).collect(),
        keys,
    };
    let found = ahead::read(conn, &ask)?;
    let mut order_map: HashMap<OrderKey, Option<OrderRow>> = ask.keys.iter().map(|k| ((*k).clone(), None)).collect();
    // The users asked for are the hinted buyers and those of the orders found (refunds).
    let mut user_map: HashMap<String, Option<UserRow>> = HashMap::new();
    for u in ask.users.iter().copied().chain(found.orders.iter().map(|o| o.user_id.as_str())) {
        user_map.insert(u.to_string(), None);
    }
    for o in found.orders {
        if let Some(slot) = order_map.get_mut(&(o.merchant_id.clone(), o.order_id.clone())) {
            *slot = Some(o);
        }
    }
    for u in found.users {
        user_map.insert(u.user_id.clone(), Some(u));
    }
    let mut idem_map: HashMap<IdemKey, Option<Remembered>> =
        ask.remembered.iter().map(|k| ((*k).clone(), None)).collect();
    for (scope, key, request, response) in found.remembered {
        idem_map.insert((scope, key), Some((request, response)));
    }
    let clear: HashMap<String, i64> =
        found.people.iter().filter(|p| !found.due.contains(*p)).map(|p| (p.clone(), ask.horizon)).collect();
    let owners: HashSet<String> = found.people.into_iter().chain(ask.houses.iter().map(|h| h.to_string())).collect();
    books::with_known(|k, _| {
        // What the batch already wrote wins over what was read before it (a batch is loaded
        // once, before its first job, so nothing is there yet; this keeps it true regardless).
        for (key, v) in order_map {
            k.orders.entry(key).or_insert(v);
        }
        for (key, v) in user_map {
            k.users.entry(key).or_insert(v);
        }
        for (key, v) in idem_map {
            k.remembered.entry(key).or_insert(v);
        }
        for (key, v) in clear {
            k.clear_until.entry(key).or_insert(v);
        }
    });
    books::preload_balances(found.balances, owners);
    Ok(())
}

/// The order as the batch knows it: `Some(found)`, or `None` when it must be read.
pub fn order(merchant: &str, order_id: &str) -> Option<Option<OrderRow>> {
    books::with_known(|k, _| k.orders.get(&(merchant.to_string(), order_id.to_string())).cloned()).flatten()
}

/// An order was inserted as `o`, or its state (the columns `repo::save_order_state` writes)
/// saved from `o`.
pub fn wrote_order(o: &OrderRow, inserted: bool) {
    books::with_known(|k, undo| {
        let key = (o.merchant_id.clone(), o.order_id.clone());
        let next = match (inserted, k.orders.get(&key)) {
            (true, _) => o.clone(),
            (false, Some(Some(prev))) => books::OrderState::from(o).applied_to(prev),
            // Not known (or known absent, which a saved state contradicts): read it next time.
            (false, _) => {
                if let Some(prev) = k.orders.remove(&key) {
                    undo.push(books::Undo::Known(Undo::Order(key, Some(prev))));
                }
                return;
            }
        };
        let pending = next.released_at.is_none() && next.status == "pending";
        let (release_at, user, referrer) = (next.release_at, next.user_id.clone(), next.referrer_id.clone());
        let prev = k.orders.insert(key.clone(), Some(next));
        undo.push(books::Undo::Known(Undo::Order(key, prev)));
        if pending {
            for who in std::iter::once(&user).chain(&referrer) {
                spoil(k, undo, who, release_at);
            }
        }
    });
}

/// The idempotency record as the batch knows it: `Some(found)`, or `None` when it must be read.
pub fn remembered(scope: &str, key: &str) -> Option<Option<Remembered>> {
    books::with_known(|k, _| k.remembered.get(&(scope.to_string(), key.to_string())).cloned()).flatten()
}

/// An idempotency record was stored (it was absent: the key is unique).
pub fn wrote_remembered(scope: &str, key: &str, request: &str, response: &str) {
    books::with_known(|k, undo| {
        let key = (scope.to_string(), key.to_string());
        let prev = k.remembered.insert(key.clone(), Some((request.to_string(), response.to_string())));
        undo.push(books::Undo::Known(Undo::Remembered(key, prev)));
    });
}

/// The user as the batch knows it.
pub fn user(id: &str) -> Option<Option<UserRow>> {
    books::with_known(|k, _| k.users.get(id).cloned()).flatten()
}

/// A user was inserted or updated as `u`.
pub fn wrote_user(u: &UserRow) {
    books::with_known(|k, undo| {
        let prev = k.users.insert(u.user_id.clone(), Some(u.clone()));
        undo.push(books::Undo::Known(Undo::User(u.user_id.clone(), prev)));
    });
}

/// A redemption was inserted or its state saved.
pub fn wrote_redemption(r: &RedemptionRow) {
    books::with_known(|k, undo| {
        if r.status == "held" {
            spoil(k, undo, &r.user_id, r.expires_at);
        }
    });
}

/// Something of `who`'s comes due at `at`: "nothing due" up to a later time is no longer true.
fn spoil(k: &mut Known, undo: &mut Vec<books::Undo>, who: &str, at: i64) {
    if k.clear_until.get(who).is_some_and(|until| at <= *until) {
        let prev = k.clear_until.remove(who);
        undo.push(books::Undo::Known(Undo::Clear(who.to_string(), prev)));
    }
}

/// True when the batch knows nothing is due at `now` for `a` and `b`.
pub fn nothing_due(a: &str, b: &str, now: i64) -> bool {
    books::with_known(|k, _| {
        let clear = |u: &str| k.clear_until.get(u).is_some_and(|until| now <= *until);
        clear(a) && clear(b)
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{repo, DbUrl};
    use diesel::connection::SimpleConnection;

    fn db() -> (tempfile::TempDir, DbConn) {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::Sqlite(dir.path().join("prefetch.db").to_str().unwrap().to_string());
        let mut conn = url.connect().unwrap();
        crate::store::conn::migrate(&mut conn).unwrap();
        for id in ["a", "b"] {
            let mut u = UserRow {
                user_id: id.into(),
                referrer_id: (id == "b").then(|| "a".to_string()),
                payout_destinations: "[]".into(),
                created_by: None,
                created_seq: 0,
                created_at: 0,
                updated_at: 0,
            };
            repo::insert_user(&mut conn, &mut u).unwrap();
        }
        (dir, conn)
    }

    fn order(id: &str, user: &str, referrer: Option<&str>, release_at: i64) -> OrderRow {
        OrderRow {
            merchant_id: "m".into(),
            order_id: id.into(),
            user_id: user.into(),
            referrer_id: referrer.map(str::to_string),
            currency: "CNY".into(),
            amount_minor: 10_000,
            paid_at: 0,
            release_at,
            released_at: None,
            status: "pending".into(),
            commission_minor: 1_000,
            cashback_minor: 500,
            referral_minor: 100,
            platform_minor: 400,
            rev_cashback_minor: 0,
            rev_referral_minor: 0,
            rev_platform_minor: 0,
            refunded_minor: 0,
            capped: false,
            program_version: 1,
            lines: "null".into(),
            created_at: 0,
        }
    }

    /// The batch's last flush on PostgreSQL (`bulk`) writes a state saved for an order it
    /// also inserts as part of that insert, and each order's last state only.
    #[test]
    fn states_of_new_orders_go_into_their_insert_and_only_the_last_state_of_each_order_is_kept() {
        let state = |id: &str, refunded: i64| {
            let mut o = order(id, "a", None, 100);
            o.refunded_minor = refunded;
            books::OrderState::from(&o)
        };
        let mut orders = vec![order("new", "a", None, 100)];
        let states = vec![state("old", 100), state("new", 200), state("old", 300), state("new", 400)];
        let rest = crate::store::bulk::fold_states(&mut orders, states);
        assert_eq!(orders[0].refunded_minor, 400, "the new order is inserted with its last state");
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].order_id.as_str(), rest[0].refunded_minor), ("old", 300));
    }

    /// "Nothing due" holds until a write of the batch makes something due before the horizon
    /// (for the buyer and the referrer alike), and comes back when that write is rolled back.
    #[test]
    fn nothing_due_follows_the_batch_s_writes_and_their_rollback() {
        let (_dir, mut conn) = db();
        let now = 1_000;
        // Due later than any horizon: not due.
        repo::insert_order(&mut conn, &order("o0", "a", None, now + 3_600)).unwrap();
        books::begin_batch();
        conn.batch_execute("BEGIN").unwrap();
        let hint = Hint::new("m", "o1", Some("b"), now);
        load(&mut conn, &[&hint]).unwrap();
        assert!(super::order("m", "o0").is_none(), "o0 was not asked for");
        assert!(matches!(super::order("m", "o1"), Some(None)), "o1 is known to be absent");
        assert_eq!(user("b").flatten().and_then(|u| u.referrer_id), Some("a".to_string()));
        assert!(nothing_due("b", "a", now), "b and its referrer a have nothing due");
        assert!(nothing_due("b", "a", now + Hint::MARGIN_S));
        assert!(!nothing_due("b", "a", now + Hint::MARGIN_S + 1), "past the horizon: ask");
        assert!(repo::anything_due_of(&mut conn, "b", "a", now).unwrap() == (false, false));

        conn.batch_execute("SAVEPOINT job").unwrap();
        let mark = books::mark();
        // b's order releases inside the horizon: neither b nor its referrer a is clear now.
        let o1 = order("o1", "b", Some("a"), now + 30);
        repo::insert_order(&mut conn, &o1).unwrap();
        assert_eq!(super::order("m", "o1").flatten().map(|o| o.release_at), Some(now + 30));
        assert!(!nothing_due("b", "b", now));
        assert!(!nothing_due("a", "a", now));
        conn.batch_execute("ROLLBACK TO SAVEPOINT job").unwrap();
        books::rollback_to(mark);
        assert!(matches!(super::order("m", "o1"), Some(None)), "the insert is undone");
        assert!(nothing_due("b", "a", now), "and so is what it spoiled");

        // A saved state moves the known row; a pending order due after the horizon spoils nothing.
        let mut o2 = order("o1", "b", Some("a"), now + 3_600);
        repo::insert_order(&mut conn, &o2).unwrap();
        assert!(nothing_due("b", "a", now));
        o2.refunded_minor = 2_000;
        o2.lines = "changed in memory only".into();
        repo::save_order_state(&mut conn, &o2).unwrap();
        let known = super::order("m", "o1").flatten().unwrap();
        assert_eq!((known.refunded_minor, known.lines.as_str()), (2_000, "null"), "only the saved columns");

        // Anything else forgets all but balances.
        books::forget_known();
        assert_eq!(super::order("m", "o1").map(|_| ()), None);
        assert!(!nothing_due("b", "a", now));
        books::end_batch(false);
    }

    /// A new order, an order's new state, a refund and an idempotency record wait in the
    /// batch; a later job that needs them in the database writes them, and when that job is
    /// rolled back they go with it, so the next flush writes them again.
    #[test]
    fn rows_written_by_a_job_that_failed_are_written_again() {
        use crate::store::schema::{idempotency, orders, refunds};
        use diesel::prelude::*;
        let (_dir, mut conn) = db();
        let count = |c: &mut DbConn| -> (i64, i64, i64, i64) {
            let DbConn::Sqlite(c) = c else { unreachable!("a SQLite test") };
            let refunded: Option<i64> =
                orders::table.select(diesel::dsl::max(orders::refunded_minor)).first(c).unwrap();
            (
                orders::table.count().get_result(c).unwrap(),
                refunded.unwrap_or(0),
                refunds::table.count().get_result(c).unwrap(),
                idempotency::table.count().get_result(c).unwrap(),
            )
        };
        books::begin_batch();
        conn.batch_execute("BEGIN; SAVEPOINT job").unwrap();
        let hint = Hint::new("m", "o1", Some("a"), 0).remembering("s", &["k"]);
        load(&mut conn, &[&hint]).unwrap();
        let mut o = order("o1", "a", None, 3_600);
        repo::insert_order(&mut conn, &o).unwrap();
        o.refunded_minor = 3_000;
        repo::save_order_state(&mut conn, &o).unwrap();
        repo::insert_refund(
            &mut conn,
            &repo::RefundRow {
                merchant_id: "m".into(),
                order_id: "o1".into(),
                refund_id: "k".into(),
                amount_minor: 3_000,
                commission_minor: 300,
                cashback_minor: 150,
                referral_minor: 0,
                platform_minor: 150,
                refunded_at: 1,
                recorded_at: 1,
            },
        )
        .unwrap();
        assert_eq!(repo::remembered(&mut conn, "s", "k").unwrap(), None, "read ahead: unused");
        repo::remember(&mut conn, "s", "k", "req", "resp", 1).unwrap();
        assert_eq!(count(&mut conn), (0, 0, 0, 0), "held by the batch");
        assert_eq!(repo::remembered(&mut conn, "s", "k").unwrap(), Some(("req".into(), "resp".into())));
        conn.batch_execute("RELEASE SAVEPOINT job; SAVEPOINT job").unwrap();
        let mark = books::mark();
        // The next job reads everything (the batch writes it first), then fails.
        books::forget_known();
        assert_eq!(repo::due_orders(&mut conn, 10_000, 10).unwrap().len(), 1);
        assert_eq!(repo::refunds_of(&mut conn, "m", "o1").unwrap().len(), 1);
        assert!(repo::remembered(&mut conn, "s", "k").unwrap().is_some());
        assert_eq!(count(&mut conn), (1, 3_000, 1, 1));
        conn.batch_execute("ROLLBACK TO SAVEPOINT job").unwrap();
        books::rollback_to(mark);
        assert_eq!(count(&mut conn), (0, 0, 0, 0), "rolled back with the job that wrote them");
        books::flush_batch(&mut conn).unwrap();
        conn.batch_execute("COMMIT").unwrap();
        assert_eq!(count(&mut conn), (1, 3_000, 1, 1), "written again before the commit");
    }
}
