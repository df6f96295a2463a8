//! The read-ahead's reads (`prefetch::load`): for a batch's order keys, buyers and idempotency
//! keys, the orders, users, everyone concerned (buyers and referrers), who of them has
//! something due, their balances and the house accounts', and the idempotency records.
//!
//! On PostgreSQL it is one statement. The reads depend on each other only through keys (the
//! orders found name buyers, the buyers name referrers), so CTEs chain them in the server and
//! the batch pays one round trip instead of five or six; each kind of row comes back as one
//! JSON array. On SQLite, in process, round trips cost nothing and each read is its own query.
//!
//! Guarantees:
//! - `people` is the set both `due` and the balances were read for, from the same statement:
//!   the caller may take "absent from `due`" and "no balance row" as facts for exactly them.
//! - Both backends read the same sets (`tests` in `prefetch` run on SQLite; the PostgreSQL
//!   suite runs every order through this statement).

use super::conn::DbConn;
use super::repo::{OrderRow, UserRow};
use super::schema::{balances, idempotency, orders, redemptions, users};
use diesel::prelude::*;
use std::collections::HashSet;

pub(super) type OrderKey = (String, String);
pub(super) type IdemKey = (String, String);

/// What a batch asks for.
pub(super) struct Ask<'a> {
    pub keys: Vec<&'a OrderKey>,
    /// The hinted buyers.
    pub users: Vec<&'a str>,
    /// Owners of house accounts the orders move (their merchants, the platform's "").
    pub houses: Vec<&'a str>,
    /// "Due" means due at or before this time.
    pub horizon: i64,
    pub remembered: Vec<&'a IdemKey>,
}

/// What the database held for it.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub orders: Vec<OrderRow>,
    pub users: Vec<UserRow>,
    /// The hinted buyers, the buyers of the orders found, and the referrers of both.
    pub people: Vec<String>,
    /// Those of `people` (and maybe others) with an order releasing or a hold expiring by the
    /// horizon.
    pub due: HashSet<String>,
    /// Every balance of `people` and of the houses: (currency, account, owner, balance).
    pub balances: Vec<(String, String, String, i64)>,
    /// (scope, key, request, response).
    pub remembered: Vec<(String, String, String, String)>,
}

pub(super) fn read(conn: &mut DbConn, ask: &Ask) -> QueryResult<Found> {
    match conn {
        DbConn::Postgresql(pg) => read_pg(pg, ask),
        DbConn::Sqlite(c) => read_sqlite(c, ask),
    }
}

/// The CTEs: the keys' orders `o`; the wanted users `w` (hinted, and the orders' buyers) and
/// their rows `u`; everyone concerned `pp`, as one array so the lookups after it are `= ANY`
/// index scans; who of them has an order releasing (`dord`) or a hold expiring (`due`); their
/// balances and the houses' (`b`); the idempotency records (`i`).
pub(super) const SQL: &str = "WITH \
  o AS (SELECT o.* FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(merchant_id, order_id) \
        ON o.merchant_id = k.merchant_id AND o.order_id = k.order_id), \
  w AS (SELECT unnest($3::text[]) AS id UNION SELECT user_id FROM o), \
  u AS (SELECT s.* FROM users s JOIN w ON s.user_id = w.id), \
  pp AS (SELECT coalesce(array_agg(id), '{}') AS a FROM (SELECT id FROM w \
         UNION SELECT referrer_id FROM u WHERE referrer_id IS NOT NULL \
         UNION SELECT referrer_id FROM o WHERE referrer_id IS NOT NULL) x), \
  dord AS (SELECT user_id, referrer_id FROM orders WHERE released_at IS NULL AND status = 'pending' \
        AND release_at <= $4 AND (user_id = ANY((SELECT a FROM pp)::text[]) OR referrer_id = ANY((SELECT a FROM pp)::text[]))), \
  due AS (SELECT user_id AS id FROM dord UNION SELECT referrer_id FROM dord WHERE referrer_id IS NOT NULL \
        UNION SELECT user_id FROM redemptions WHERE status = 'held' AND expires_at <= $4 \
        AND user_id = ANY((SELECT a FROM pp)::text[])), \
  b AS (SELECT currency, account, owner, balance_minor FROM balances \
        WHERE owner = ANY((SELECT a FROM pp) || $5::text[])), \
  i AS (SELECT i.scope, i.key, i.request, i.response FROM idempotency i \
        JOIN unnest($6::text[], $7::text[]) AS k(scope, key) ON i.scope = k.scope AND i.key = k.key) \
SELECT (SELECT coalesce(json_agg(o), '[]') FROM o)::text AS orders, \
  (SELECT coalesce(json_agg(u), '[]') FROM u)::text AS users, \
  (SELECT array_to_json(a) FROM pp)::text AS people, \
  (SELECT coalesce(json_agg(id), '[]') FROM due)::text AS due, \
  (SELECT coalesce(json_agg(json_build_array(currency, account, owner, balance_minor)), '[]') FROM b)::text \
    AS balances, \
  (SELECT coalesce(json_agg(json_build_array(scope, key, request, response)), '[]') FROM i)::text AS remembered";

fn read_pg(pg: &mut diesel::PgConnection, ask: &Ask) -> QueryResult<Found> {
    use diesel::sql_types::{Array, BigInt, Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        orders: String,
        #[diesel(sql_type = Text)]
        users: String,
        #[diesel(sql_type = Text)]
        people: String,
        #[diesel(sql_type = Text)]
        due: String,
        #[diesel(sql_type = Text)]
        balances: String,
        #[diesel(sql_type = Text)]
        remembered: String,
    }
    let row: Row = super::prepared::Fixed::new(SQL)
        .bind::<Array<Text>, _>(ask.keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(ask.keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(&ask.users)
        .bind::<BigInt, _>(ask.horizon)
        .bind::<Array<Text>, _>(&ask.houses)
        .bind::<Array<Text>, _>(ask.remembered.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(ask.remembered.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
        .get_result(pg)?;
    fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> QueryResult<T> {
        serde_json::from_str(s)
            .map_err(|e| diesel::result::Error::DeserializationError(format!("read-ahead {what}: {e}").into()))
    }
    Ok(Found {
        orders: json("orders", &row.orders)?,
        users: json("users", &row.users)?,
        people: json("people", &row.people)?,
        due: json("due", &row.due)?,
        balances: json("balances", &row.balances)?,
        remembered: json("idempotency records", &row.remembered)?,
    })
}

fn read_sqlite(c: &mut diesel::SqliteConnection, ask: &Ask) -> QueryResult<Found> {
    let mut f = Found::default();
    for k in &ask.keys {
        let row = orders::table.find((&k.0, &k.1)).select(OrderRow::as_select()).first(c).optional()?;
        f.orders.extend(row);
    }
    let wanted = dedup(ask.users.iter().copied().chain(f.orders.iter().map(|o| o.user_id.as_str())));
    f.users = users::table.filter(users::user_id.eq_any(&wanted)).select(UserRow::as_select()).load(c)?;
    let referrers = f.users.iter().filter_map(|u| u.referrer_id.as_deref());
    let people =
        dedup(wanted.iter().copied().chain(referrers).chain(f.orders.iter().filter_map(|o| o.referrer_id.as_deref())));
    let due_orders: Vec<(String, Option<String>)> = due_orders_sqlite(&people, ask.horizon).load(c)?;
    let due_holds: Vec<String> = redemptions::table
        .filter(redemptions::status.eq("held"))
        .filter(redemptions::expires_at.le(ask.horizon))
        .filter(redemptions::user_id.eq_any(&people))
        .select(redemptions::user_id)
        .load(c)?;
    f.due = due_holds.into_iter().collect();
    for (u, r) in due_orders {
        f.due.insert(u);
        f.due.extend(r);
    }
    let owners = dedup(people.iter().chain(&ask.houses).copied());
    f.balances = balances::table
        .filter(balances::owner.eq_any(&owners))
        .select((balances::currency, balances::account, balances::owner, balances::balance_minor))
        .load(c)?;
    for (scope, key) in &ask.remembered {
        let row: Option<(String, String)> = idempotency::table
            .find((scope, key))
            .select((idempotency::request, idempotency::response))
            .first(c)
            .optional()?;
        f.remembered.extend(row.map(|(req, resp)| (scope.clone(), key.clone(), req, resp)));
    }
    f.people = people.into_iter().map(str::to_string).collect();
    Ok(f)
}

type DueRow = (diesel::sql_types::Text, diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// The buyers and referrers among `people` of the pending orders releasing by `horizon`.
/// `released_at IS NULL` is spelled out so that SQLite may read the partial index
/// `orders_pending_by_user` and the pending range of `orders_by_referrer` (the schema test
/// checks it).
/// Boxing costs no prepared statement: diesel never caches SQLite's `IN (…)` of a runtime list.
pub(super) fn due_orders_sqlite<'a>(
    people: &'a [&'a str],
    horizon: i64,
) -> orders::BoxedQuery<'a, diesel::sqlite::Sqlite, DueRow> {
    orders::table
        .filter(orders::released_at.is_null())
        .filter(orders::status.eq("pending"))
        .filter(orders::release_at.le(horizon))
        .filter(orders::user_id.eq_any(people).or(orders::referrer_id.eq_any(people)))
        .select((orders::user_id, orders::referrer_id))
        .into_boxed()
}

pub(super) fn dedup<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    it.filter(|s| seen.insert(*s)).collect()
}
