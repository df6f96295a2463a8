//! Typed queries over the schema. Rows convert to domain types here, so callers above the
//! store never see diesel.

use super::books;
use super::conn::DbConn;
use super::prefetch;
use super::savepoint;
use super::schema::*;
use crate::domain::engine::{Order, OrderStatus, Redemption, RedemptionStatus};
use crate::domain::invariants::{EntryRow, PostingRow, Snapshot};
use crate::domain::ledger::{Account, EntryKind};
use crate::domain::money::Currency;
use crate::domain::program::Components;
use diesel::prelude::*;

type Q<T> = QueryResult<T>;

fn cur(code: &str) -> Currency {
    Currency::parse(code).expect("stored currencies are ISO 4217 codes")
}

// ---- merchants -------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = merchants)]
pub struct MerchantRow {
    pub merchant_id: String,
    pub name: String,
    pub wallet_secret_enc: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn merchant(conn: &mut DbConn, id: &str) -> Q<Option<MerchantRow>> {
    merchants::table.find(id).select(MerchantRow::as_select()).first(conn).optional()
}

pub fn insert_merchant(conn: &mut DbConn, m: &MerchantRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(merchants::table)
        .values((
            merchants::merchant_id.eq(&m.merchant_id),
            merchants::name.eq(&m.name),
            merchants::wallet_secret_enc.eq(&m.wallet_secret_enc),
            merchants::created_at.eq(m.created_at),
            merchants::updated_at.eq(m.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn update_merchant(conn: &mut DbConn, m: &MerchantRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::update(merchants::table.find(&m.merchant_id))
        .set((
            merchants::name.eq(&m.name),
            merchants::wallet_secret_enc.eq(&m.wallet_secret_enc),
            merchants::updated_at.eq(m.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = merchant_secrets)]
pub struct SecretRow {
    pub secret_id: String,
    pub merchant_id: String,
    pub secret_enc: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn active_secrets(conn: &mut DbConn, merchant: &str) -> Q<Vec<SecretRow>> {
    merchant_secrets::table
        .filter(merchant_secrets::merchant_id.eq(merchant))
        .filter(merchant_secrets::revoked_at.is_null())
        .order(merchant_secrets::created_at)
        .select(SecretRow::as_select())
        .load(conn)
}

pub fn insert_secret(conn: &mut DbConn, s: &SecretRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(merchant_secrets::table)
        .values((
            merchant_secrets::secret_id.eq(&s.secret_id),
            merchant_secrets::merchant_id.eq(&s.merchant_id),
            merchant_secrets::secret_enc.eq(&s.secret_enc),
            merchant_secrets::created_at.eq(s.created_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Revokes one secret (or every active one with `None`); returns how many were revoked.
pub fn revoke_secrets(conn: &mut DbConn, merchant: &str, secret_id: Option<&str>, now: i64) -> Q<usize> {
    savepoint::before_write(conn)?;
    let q = merchant_secrets::table
        .filter(merchant_secrets::merchant_id.eq(merchant))
        .filter(merchant_secrets::revoked_at.is_null());
    match secret_id {
        Some(id) => diesel::update(q.filter(merchant_secrets::secret_id.eq(id)))
            .set(merchant_secrets::revoked_at.eq(now))
            .execute(conn),
        None => diesel::update(q).set(merchant_secrets::revoked_at.eq(now)).execute(conn),
    }
}

// ---- programs --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = programs)]
pub struct ProgramRow {
    pub merchant_id: String,
    pub currency: String,
    pub version: i32,
    pub commission_rate: String,
    pub cashback_rate: String,
    pub referral_rate: String,
    pub hold_days: i32,
    pub per_order_cap_minor: Option<i64>,
    pub monthly_cap_minor: Option<i64>,
    /// JSON object: category → its own rates (canonical strings), as given.
    pub categories: String,
    pub created_at: i64,
}

pub fn current_program(conn: &mut DbConn, merchant: &str, currency: &str) -> Q<Option<ProgramRow>> {
    // Inside the writer, a batch reads it once (every order of a batch needs it).
    if let Some(known) = super::books::cached_program(merchant, currency) {
        return Ok(known);
    }
    let found = crate::on_backend!(conn, |c| {
        programs::table
            .filter(programs::merchant_id.eq(merchant))
            .filter(programs::currency.eq(currency))
            .order(programs::version.desc())
            .select(ProgramRow::as_select())
            .first(c)
            .optional()
    })?;
    super::books::cache_program(merchant, currency, Some(found.clone()));
    Ok(found)
}

pub fn current_programs(conn: &mut DbConn, merchant: &str) -> Q<Vec<ProgramRow>> {
    let all: Vec<ProgramRow> = programs::table
        .filter(programs::merchant_id.eq(merchant))
        .order((programs::currency, programs::version.desc()))
        .select(ProgramRow::as_select())
        .load(conn)?;
    let mut out: Vec<ProgramRow> = Vec::new();
    for p in all {
        if out.last().map(|l| l.currency != p.currency).unwrap_or(true) {
            out.push(p);
        }
    }
    Ok(out)
}

pub fn insert_program(conn: &mut DbConn, p: &ProgramRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(programs::table).values(p).execute(conn)?;
    super::books::cache_program(&p.merchant_id, &p.currency, None);
    Ok(())
}

// ---- users -----------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Deserialize)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub user_id: String,
    pub referrer_id: Option<String>,
    /// JSON array of strings.
    pub payout_destinations: String,
    pub created_by: Option<String>,
    pub created_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn user(conn: &mut DbConn, id: &str) -> Q<Option<UserRow>> {
    if let Some(known) = prefetch::user(id) {
        return Ok(known);
    }
    crate::on_backend!(conn, |c| { users::table.find(id).select(UserRow::as_select()).first(c).optional() })
}

/// Inserts a user; `created_seq` is assigned here so "created before" is a strict order.
pub fn insert_user(conn: &mut DbConn, u: &mut UserRow) -> Q<()> {
    savepoint::before_write(conn)?;
    let max: Option<i64> = users::table.select(diesel::dsl::max(users::created_seq)).first(conn)?;
    u.created_seq = max.unwrap_or(0) + 1;
    diesel::insert_into(users::table).values(&*u).execute(conn)?;
    prefetch::wrote_user(u);
    Ok(())
}

pub fn update_user(conn: &mut DbConn, u: &UserRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::update(users::table.find(&u.user_id))
        .set((
            users::referrer_id.eq(&u.referrer_id),
            users::payout_destinations.eq(&u.payout_destinations),
            users::updated_at.eq(u.updated_at),
        ))
        .execute(conn)?;
    // The other columns are as inserted, so the row given is the row stored.
    prefetch::wrote_user(u);
    Ok(())
}

pub fn has_orders(conn: &mut DbConn, user_id: &str) -> Q<bool> {
    see_orders(conn)?;
    diesel::select(diesel::dsl::exists(orders::table.filter(orders::user_id.eq(user_id)))).get_result(conn)
}

// ---- orders ----------------------------------------------------------------------------

// Deserialize: the PostgreSQL read-ahead (`ahead`) gets rows as JSON objects.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, serde::Deserialize)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub merchant_id: String,
    pub order_id: String,
    pub user_id: String,
    pub referrer_id: Option<String>,
    pub currency: String,
    pub amount_minor: i64,
    pub paid_at: i64,
    pub release_at: i64,
    pub released_at: Option<i64>,
    pub status: String,
    pub commission_minor: i64,
    pub cashback_minor: i64,
    pub referral_minor: i64,
    pub platform_minor: i64,
    pub rev_cashback_minor: i64,
    pub rev_referral_minor: i64,
    pub rev_platform_minor: i64,
    pub refunded_minor: i64,
    pub capped: bool,
    pub program_version: i32,
    pub lines: String,
    pub created_at: i64,
}

impl OrderRow {
    pub fn to_domain(&self) -> Order {
        let (c, r, p) = (self.rev_cashback_minor, self.rev_referral_minor, self.rev_platform_minor);
        Order {
            merchant_id: self.merchant_id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            referrer_id: self.referrer_id.clone(),
            currency: cur(&self.currency),
            amount: self.amount_minor,
            paid_at: self.paid_at,
            release_at: self.release_at,
            booked: Components {
                commission: self.commission_minor,
                cashback: self.cashback_minor,
                referral: self.referral_minor,
                platform: self.platform_minor,
            },
            reversed: Components { commission: c + r + p, cashback: c, referral: r, platform: p },
            refunded: self.refunded_minor,
            status: OrderStatus::parse(&self.status).expect("stored order status"),
            released_at: self.released_at,
            program_version: self.program_version,
        }
    }

    /// Takes the state an event left on the order.
    pub fn absorb(&mut self, o: &Order) {
        self.rev_cashback_minor = o.reversed.cashback;
        self.rev_referral_minor = o.reversed.referral;
        self.rev_platform_minor = o.reversed.platform;
        self.refunded_minor = o.refunded;
        self.status = o.status.as_str().to_string();
        self.released_at = o.released_at;
    }
}

pub fn order(conn: &mut DbConn, merchant: &str, order_id: &str) -> Q<Option<OrderRow>> {
    if let Some(known) = prefetch::order(merchant, order_id) {
        return Ok(known);
    }
    see_orders(conn)?;
    crate::on_backend!(conn, |c| {
        orders::table.find((merchant, order_id)).select(OrderRow::as_select()).first(c).optional()
    })
}

/// Orders and order states the writer's batch holds are written before a query that reads or
/// refers to them.
fn see_orders(conn: &mut DbConn) -> Q<()> {
    books::flush_orders(conn)
}

/// Inside the writer the row is written with the batch's journal (`books::flush_journal`):
/// every other function here that reads or refers to orders flushes first.
pub fn insert_order(conn: &mut DbConn, o: &OrderRow) -> Q<()> {
    if !books::buffer_order(o) {
        savepoint::before_write(conn)?;
        crate::on_backend!(conn, |c| diesel::insert_into(orders::table).values(o).execute(c))?;
    }
    prefetch::wrote_order(o, true);
    Ok(())
}

/// Inside the writer the new state waits in the batch like a new order (`insert_order`).
pub fn save_order_state(conn: &mut DbConn, o: &OrderRow) -> Q<()> {
    if !books::buffer_order_state(o) {
        savepoint::before_write(conn)?;
        books::write_states(conn, vec![o.into()])?;
    }
    prefetch::wrote_order(o, false);
    Ok(())
}

/// Pending orders whose release time has passed, for one user (as buyer or referrer) or all.
/// Each shape is its own fixed query, so the statement is prepared once per connection (a
/// boxed query is prepared again on every call, and this one runs before every order).
pub fn due_orders(conn: &mut DbConn, now: i64, limit: i64) -> Q<Vec<OrderRow>> {
    see_orders(conn)?;
    orders::table
        .filter(orders::released_at.is_null())
        .filter(orders::status.eq("pending"))
        .filter(orders::release_at.le(now))
        .order((orders::release_at, orders::merchant_id, orders::order_id))
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
}

/// The same for two users (a buyer and a referrer; or one user twice) in one fixed query, so
/// the statement is prepared once per connection and runs once before every order.
pub fn due_orders_of(conn: &mut DbConn, a: &str, b: &str, now: i64) -> Q<Vec<OrderRow>> {
    see_orders(conn)?;
    crate::on_backend!(conn, |c| pending_due_of!(a, b, now)
        .order((orders::release_at, orders::merchant_id, orders::order_id))
        .select(OrderRow::as_select())
        .load(c))
}

/// The pending orders that `a` or `b` bought or referred, releasing by `now`: what
/// `due_orders_of` loads and `anything_due_of` asks about. `released_at IS NULL` is spelled out
/// so that both backends read `orders_pending_by_user` and the pending range of
/// `orders_by_referrer`. A macro because the query's type is the same on both backends only
/// until it runs.
macro_rules! pending_due_of {
    ($a:expr, $b:expr, $now:expr) => {{
        let (a, b, now): (&str, &str, i64) = ($a, $b, $now);
        let who =
            orders::user_id.eq(a).or(orders::referrer_id.eq(a)).or(orders::user_id.eq(b)).or(orders::referrer_id.eq(b));
        orders::table
            .filter(orders::released_at.is_null())
            .filter(orders::status.eq("pending"))
            .filter(orders::release_at.le(now))
            .filter(who)
    }};
}
use pending_due_of;

/// The buyer's gross cashback at this merchant in this currency with `paid_at` in [from, to).
pub fn cashback_in_period(conn: &mut DbConn, user: &str, merchant: &str, currency: &str, from: i64, to: i64) -> Q<i64> {
    see_orders(conn)?;
    let rows: Vec<i64> = orders::table
        .filter(orders::user_id.eq(user))
        .filter(orders::merchant_id.eq(merchant))
        .filter(orders::currency.eq(currency))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .select(orders::cashback_minor)
        .load(conn)?;
    Ok(rows.iter().sum())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub struct RefundRow {
    pub merchant_id: String,
    pub order_id: String,
    pub refund_id: String,
    pub amount_minor: i64,
    pub commission_minor: i64,
    pub cashback_minor: i64,
    pub referral_minor: i64,
    pub platform_minor: i64,
    pub refunded_at: i64,
    pub recorded_at: i64,
}

pub fn refunds_of(conn: &mut DbConn, merchant: &str, order_id: &str) -> Q<Vec<RefundRow>> {
    books::flush_refunds(conn)?;
    refunds::table
        .filter(refunds::merchant_id.eq(merchant))
        .filter(refunds::order_id.eq(order_id))
        .order((refunds::recorded_at, refunds::refund_id))
        .select(RefundRow::as_select())
        .load(conn)
}

/// Inside the writer the row waits in the batch (`insert_order`). The writer writes it without
/// looking again: a refund's key is its idempotency key, which the same job has just found
/// unused (`app::orders`), and both are stored together.
pub fn insert_refund(conn: &mut DbConn, r: &RefundRow) -> Q<()> {
    if books::buffer_refund(r) {
        return Ok(());
    }
    savepoint::before_write(conn)?;
    crate::on_backend!(conn, |c| { diesel::insert_into(refunds::table).values(r).execute(c).map(drop) })
}

// ---- redemptions -----------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = redemptions)]
pub struct RedemptionRow {
    pub merchant_id: String,
    pub redemption_id: String,
    pub user_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub status: String,
    pub order_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl RedemptionRow {
    pub fn to_domain(&self) -> Redemption {
        Redemption {
            merchant_id: self.merchant_id.clone(),
            redemption_id: self.redemption_id.clone(),
            user_id: self.user_id.clone(),
            currency: cur(&self.currency),
            amount: self.amount_minor,
            captured: self.captured_minor,
            refunded: self.refunded_minor,
            status: RedemptionStatus::parse(&self.status).expect("stored redemption status"),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }

    pub fn absorb(&mut self, r: &Redemption) {
        self.captured_minor = r.captured;
        self.refunded_minor = r.refunded;
        self.status = r.status.as_str().to_string();
    }
}

pub fn redemption(conn: &mut DbConn, merchant: &str, id: &str) -> Q<Option<RedemptionRow>> {
    redemptions::table.find((merchant, id)).select(RedemptionRow::as_select()).first(conn).optional()
}

pub fn insert_redemption(conn: &mut DbConn, r: &RedemptionRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(redemptions::table).values(r).execute(conn)?;
    prefetch::wrote_redemption(r);
    Ok(())
}

pub fn save_redemption_state(conn: &mut DbConn, r: &RedemptionRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::update(redemptions::table.find((&r.merchant_id, &r.redemption_id)))
        .set((
            redemptions::captured_minor.eq(r.captured_minor),
            redemptions::refunded_minor.eq(r.refunded_minor),
            redemptions::status.eq(&r.status),
        ))
        .execute(conn)?;
    prefetch::wrote_redemption(r);
    Ok(())
}

pub fn due_holds(conn: &mut DbConn, now: i64, limit: i64) -> Q<Vec<RedemptionRow>> {
    redemptions::table
        .filter(redemptions::status.eq("held"))
        .filter(redemptions::expires_at.le(now))
        .order((redemptions::expires_at, redemptions::merchant_id, redemptions::redemption_id))
        .limit(limit)
        .select(RedemptionRow::as_select())
        .load(conn)
}

pub fn due_holds_of(conn: &mut DbConn, a: &str, b: &str, now: i64) -> Q<Vec<RedemptionRow>> {
    crate::on_backend!(conn, |c| redemptions::table
        .filter(redemptions::user_id.eq(a).or(redemptions::user_id.eq(b)))
        .filter(redemptions::status.eq("held"))
        .filter(redemptions::expires_at.le(now))
        .order((redemptions::expires_at, redemptions::merchant_id, redemptions::redemption_id))
        .select(RedemptionRow::as_select())
        .load(c))
}

/// Whether anything is due for two users (see `due_orders_of` and `due_holds_of`), in one
/// statement: almost always nothing is, and this runs before every order.
pub fn anything_due_of(conn: &mut DbConn, a: &str, b: &str, now: i64) -> Q<(bool, bool)> {
    if prefetch::nothing_due(a, b, now) {
        return Ok((false, false));
    }
    see_orders(conn)?;
    crate::on_backend!(conn, |c| due_check!(a, b, now).get_result(c))
}

/// `anything_due_of`'s question: (an order of `a` or `b` releasing by `now`, a hold of theirs
/// expiring by `now`). A macro like `pending_due_of!`; `due_questions` renders it for the
/// schema test.
macro_rules! due_check {
    ($a:expr, $b:expr, $now:expr) => {{
        use diesel::dsl::exists;
        let (a, b, now): (&str, &str, i64) = ($a, $b, $now);
        let due_orders = pending_due_of!(a, b, now);
        let due_holds = redemptions::table
            .filter(redemptions::user_id.eq(a).or(redemptions::user_id.eq(b)))
            .filter(redemptions::status.eq("held"))
            .filter(redemptions::expires_at.le(now));
        diesel::select((exists(due_orders), exists(due_holds)))
    }};
}
use due_check;

/// The SQL of the questions "has anything come due for these people?" on `conn`'s backend,
/// named, with their parameters unbound (`?` on SQLite, `$n` on PostgreSQL). For the schema
/// test that checks they read only pending orders (`orders_pending_by_user`, the pending range
/// of `orders_by_referrer`), not every order a person ever had. PostgreSQL's read-ahead asks it
/// inside `WRITER_STATEMENTS`.
pub fn due_questions(conn: &DbConn) -> Vec<(&'static str, String)> {
    fn sql(debug: String) -> String {
        debug.split(" -- binds:").next().unwrap_or_default().to_string()
    }
    let check = due_check!("a", "b", 0_i64);
    match conn {
        DbConn::Sqlite(_) => vec![
            (
                "read-ahead",
                sql(diesel::debug_query::<diesel::sqlite::Sqlite, _>(&super::ahead::due_orders_sqlite(&["a", "b"], 0))
                    .to_string()),
            ),
            ("anything_due_of", sql(diesel::debug_query::<diesel::sqlite::Sqlite, _>(&check).to_string())),
        ],
        DbConn::Postgresql(_) => {
            vec![("anything_due_of", sql(diesel::debug_query::<diesel::pg::Pg, _>(&check).to_string()))]
        }
    }
}

// ---- idempotency and audit -------------------------------------------------------------

/// The canonical request and the response of the first success under a key.
pub fn remembered(conn: &mut DbConn, scope: &str, key: &str) -> Q<Option<(String, String)>> {
    if let Some(known) = prefetch::remembered(scope, key) {
        return Ok(known);
    }
    books::flush_remembered(conn)?;
    crate::on_backend!(conn, |c| {
        idempotency::table.find((scope, key)).select((idempotency::request, idempotency::response)).first(c).optional()
    })
}

/// Inside the writer, a record whose key the batch read ahead and found unused waits in the
/// batch (`insert_order`); any other is written now, so a used key fails its own job.
pub fn remember(conn: &mut DbConn, scope: &str, key: &str, request: &str, response: &str, now: i64) -> Q<()> {
    let row = books::IdemRow {
        scope: scope.to_string(),
        key: key.to_string(),
        request: request.to_string(),
        response: response.to_string(),
        created_at: now,
    };
    let unused = matches!(prefetch::remembered(scope, key), Some(None));
    if !(unused && books::buffer_remembered(row.clone())) {
        savepoint::before_write(conn)?;
        books::flush_remembered(conn)?;
        crate::on_backend!(conn, |c| diesel::insert_into(idempotency::table).values(&row).execute(c))?;
    }
    prefetch::wrote_remembered(scope, key, request, response);
    Ok(())
}

pub fn audit(conn: &mut DbConn, at: i64, operator: &str, action: &str, target: &str, detail: &str) -> Q<()> {
    savepoint::before_write(conn)?;
    let max: Option<i64> = audit::table.select(diesel::dsl::max(audit::id)).first(conn)?;
    diesel::insert_into(audit::table)
        .values((
            audit::id.eq(max.unwrap_or(0) + 1),
            audit::at.eq(at),
            audit::operator.eq(operator),
            audit::action.eq(action),
            audit::target.eq(target),
            audit::detail.eq(detail),
        ))
        .execute(conn)
        .map(drop)
}

// ---- the whole ledger, for verify -----------------------------------------------------

pub fn snapshot(conn: &mut DbConn) -> Q<Snapshot> {
    books::flush_journal(conn)?;
    let mut s = Snapshot::default();
    type E = (i64, String, String, Option<String>, Option<String>, Option<String>, Option<i32>);
    let es: Vec<E> = entries::table
        .select((
            entries::id,
            entries::kind,
            entries::currency,
            entries::merchant_id,
            entries::order_id,
            entries::reference,
            entries::program_version,
        ))
        .load(conn)?;
    for (id, kind, c, merchant_id, order_id, reference, program_version) in es {
        let kind = EntryKind::parse(&kind).expect("stored entry kind");
        s.entries.push(EntryRow { id, kind, currency: cur(&c), merchant_id, order_id, reference, program_version });
    }
    type P = (i64, i64, i16, String, String, i64, i64);
    let ps: Vec<P> = postings::table
        .select((
            postings::id,
            postings::entry_id,
            postings::account_code,
            postings::owner,
            postings::currency,
            postings::amount_minor,
            postings::balance_after_minor,
        ))
        .load(conn)?;
    for (id, entry_id, a, owner, c, amount, balance_after) in ps {
        let account = Account::from_code(a).expect("stored account code");
        s.postings.push(PostingRow { id, entry_id, account, owner, currency: cur(&c), amount, balance_after });
    }
    let bs: Vec<(String, String, String, i64)> = balances::table
        .select((balances::currency, balances::account, balances::owner, balances::balance_minor))
        .load(conn)?;
    for (c, a, owner, v) in bs {
        s.balances.insert((cur(&c), Account::parse(&a).expect("stored account name"), owner), v);
    }
    let os: Vec<OrderRow> = orders::table.select(OrderRow::as_select()).load(conn)?;
    s.orders = os.iter().map(OrderRow::to_domain).collect();
    s.journal_guarded = super::conn::journal_guarded(conn)?;
    Ok(s)
}

// ---- settings kept in the database ----------------------------------------------------

pub fn meta_value(conn: &mut DbConn, k: &str) -> Q<Option<String>> {
    meta::table.find(k).select(meta::value).first(conn).optional()
}

pub fn set_meta_value(conn: &mut DbConn, k: &str, v: &str) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(meta::table).values((meta::key.eq(k), meta::value.eq(v))).execute(conn).map(drop)
}

// ---- a user's wallet -------------------------------------------------------------------

/// Every stored balance of a user's accounts: (currency, account, balance).
pub fn user_balances(conn: &mut DbConn, user: &str) -> Q<Vec<(String, String, i64)>> {
    balances::table
        .filter(balances::owner.eq(user))
        .filter(
            balances::account
                .like("liabilities:cashback:%")
                .or(balances::account.eq(Account::ClawbackReceivable.name())),
        )
        .select((balances::currency, balances::account, balances::balance_minor))
        .load(conn)
}

/// The user's share of an order, net of reversals: the buyer's cashback, else the referrer's
/// reward. `$1` is the user (SQLite reads `$1` as one named parameter, PostgreSQL as the first).
const SHARE_SQL: &str = "CASE WHEN user_id = $1 THEN cashback_minor - rev_cashback_minor \
                         ELSE referral_minor - rev_referral_minor END";

/// What the wallet shows of the user's orders in one currency.
#[derive(QueryableByName, Debug, PartialEq)]
pub struct Earned {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub currency: String,
    /// Σ the user's share of every order they bought or referred.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub lifetime_minor: i64,
    /// The earliest release still to come of an order whose share is above zero.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub next_release_at: Option<i64>,
}

/// Per currency, what the user earned on the orders they bought or referred, summed in the
/// database: a referrer can have thousands of orders, each of which used to be loaded whole.
pub fn earned(conn: &mut DbConn, user: &str) -> Q<Vec<Earned>> {
    see_orders(conn)?;
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT currency, CAST(COALESCE(SUM({SHARE_SQL}), 0) AS BIGINT) AS lifetime_minor, \
             MIN(CASE WHEN released_at IS NULL AND status = 'pending' AND {SHARE_SQL} > 0 \
                 THEN release_at END) AS next_release_at \
             FROM orders WHERE user_id = $1 OR referrer_id = $1 GROUP BY currency ORDER BY currency"
        )
    });
    diesel::sql_query(SQL.as_str()).bind::<diesel::sql_types::Text, _>(user).load(conn)
}

/// The merchants (and currencies) the user bought from.
pub fn merchants_bought_from(conn: &mut DbConn, user: &str) -> Q<Vec<(String, String)>> {
    see_orders(conn)?;
    orders::table
        .filter(orders::user_id.eq(user))
        .select((orders::merchant_id, orders::currency))
        .distinct()
        .order((orders::merchant_id, orders::currency))
        .load(conn)
}

#[derive(QueryableByName)]
struct Share {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    paid_at: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    share_minor: i64,
}

/// (paid_at, the user's share) of the orders in `currency` the user bought or referred, paid
/// at or after `since`.
pub fn shares_since(conn: &mut DbConn, user: &str, currency: &str, since: i64) -> Q<Vec<(i64, i64)>> {
    see_orders(conn)?;
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT paid_at, CAST({SHARE_SQL} AS BIGINT) AS share_minor FROM orders \
             WHERE (user_id = $1 OR referrer_id = $1) AND currency = $2 AND paid_at >= $3"
        )
    });
    let rows: Vec<Share> = diesel::sql_query(SQL.as_str())
        .bind::<diesel::sql_types::Text, _>(user)
        .bind::<diesel::sql_types::Text, _>(currency)
        .bind::<diesel::sql_types::BigInt, _>(since)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.paid_at, r.share_minor)).collect())
}

// ---- withdrawals, their settings, reserve deposits ------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = withdrawals)]
pub struct WithdrawalRow {
    pub withdrawal_id: String,
    pub user_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub destination: String,
    pub status: String,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub batch_id: Option<String>,
    pub requested_at: i64,
    pub updated_at: i64,
}

impl WithdrawalRow {
    pub fn to_domain(&self) -> crate::domain::engine::Withdrawal {
        crate::domain::engine::Withdrawal {
            withdrawal_id: self.withdrawal_id.clone(),
            user_id: self.user_id.clone(),
            currency: cur(&self.currency),
            amount: self.amount_minor,
            fee: self.fee_minor,
            status: crate::domain::engine::WithdrawalStatus::parse(&self.status).expect("stored withdrawal status"),
            requested_at: self.requested_at,
        }
    }
}

pub fn withdrawal(conn: &mut DbConn, id: &str) -> Q<Option<WithdrawalRow>> {
    withdrawals::table.find(id).select(WithdrawalRow::as_select()).first(conn).optional()
}

pub fn insert_withdrawal(conn: &mut DbConn, w: &WithdrawalRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(withdrawals::table).values(w).execute(conn).map(drop)
}

pub fn save_withdrawal_state(conn: &mut DbConn, w: &WithdrawalRow) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::update(withdrawals::table.find(&w.withdrawal_id))
        .set((
            withdrawals::status.eq(&w.status),
            withdrawals::reference.eq(&w.reference),
            withdrawals::reason.eq(&w.reason),
            withdrawals::batch_id.eq(&w.batch_id),
            withdrawals::updated_at.eq(w.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Withdrawals oldest first, after the cursor (requested_at, withdrawal_id).
pub fn withdrawals_page(
    conn: &mut DbConn,
    status: Option<&str>,
    after: Option<(i64, String)>,
    limit: i64,
) -> Q<Vec<WithdrawalRow>> {
    let mut q = withdrawals::table.into_boxed();
    if let Some(s) = status {
        q = q.filter(withdrawals::status.eq(s.to_string()));
    }
    if let Some((t, id)) = after {
        q = q.filter(
            withdrawals::requested_at.gt(t).or(withdrawals::requested_at.eq(t).and(withdrawals::withdrawal_id.gt(id))),
        );
    }
    q.order((withdrawals::requested_at, withdrawals::withdrawal_id))
        .limit(limit)
        .select(WithdrawalRow::as_select())
        .load(conn)
}

/// (minimum, fee) in minor units, if an operator set them.
pub fn withdrawal_settings(conn: &mut DbConn, currency: &str) -> Q<Option<(i64, i64)>> {
    withdrawal_settings::table
        .find(currency)
        .select((withdrawal_settings::minimum_minor, withdrawal_settings::fee_minor))
        .first(conn)
        .optional()
}

pub fn put_withdrawal_settings(conn: &mut DbConn, currency: &str, minimum: i64, fee: i64, now: i64) -> Q<()> {
    savepoint::before_write(conn)?;
    let n = diesel::update(withdrawal_settings::table.find(currency))
        .set((
            withdrawal_settings::minimum_minor.eq(minimum),
            withdrawal_settings::fee_minor.eq(fee),
            withdrawal_settings::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(withdrawal_settings::table)
            .values((
                withdrawal_settings::currency.eq(currency),
                withdrawal_settings::minimum_minor.eq(minimum),
                withdrawal_settings::fee_minor.eq(fee),
                withdrawal_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_deposit(
    conn: &mut DbConn,
    id: &str,
    currency: &str,
    amount: i64,
    reference: &str,
    operator: &str,
    now: i64,
) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(deposits::table)
        .values((
            deposits::deposit_id.eq(id),
            deposits::currency.eq(currency),
            deposits::amount_minor.eq(amount),
            deposits::reference.eq(reference),
            deposits::operator.eq(operator),
            deposits::recorded_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// A posting on one of a user's accounts, with its entry.
#[derive(Debug, Clone, Queryable)]
pub struct UserPosting {
    pub id: i64,
    pub entry_id: i64,
    pub account_code: i16,
    pub currency: String,
    pub amount_minor: i64,
    pub kind: String,
    pub recorded_at: i64,
    pub occurred_at: i64,
    pub merchant_id: Option<String>,
    pub order_id: Option<String>,
}

/// A user's postings, newest first by (recorded_at, id), before the cursor.
pub fn user_postings(
    conn: &mut DbConn,
    user: &str,
    currency: Option<&str>,
    before: Option<(i64, i64)>,
    limit: i64,
) -> Q<Vec<UserPosting>> {
    let user_accounts = [
        Account::Pending.code(),
        Account::Available.code(),
        Account::Held.code(),
        Account::Withdrawing.code(),
        Account::ClawbackReceivable.code(),
    ];
    let mut q = postings::table
        .inner_join(entries::table)
        .filter(postings::owner.eq(user.to_string()))
        .filter(postings::account_code.eq_any(user_accounts))
        .into_boxed();
    if let Some(c) = currency {
        q = q.filter(postings::currency.eq(c.to_string()));
    }
    if let Some((t, id)) = before {
        q = q.filter(entries::recorded_at.lt(t).or(entries::recorded_at.eq(t).and(postings::id.lt(id))));
    }
    q.order((entries::recorded_at.desc(), postings::id.desc()))
        .limit(limit)
        .select((
            postings::id,
            postings::entry_id,
            postings::account_code,
            postings::currency,
            postings::amount_minor,
            entries::kind,
            entries::recorded_at,
            entries::occurred_at,
            entries::merchant_id,
            entries::order_id,
        ))
        .load(conn)
}

// ---- wallet page sessions --------------------------------------------------------------

/// Records a login token's use; false when it was used before.
pub fn use_login_token(conn: &mut DbConn, jti: &str, user: &str, now: i64, expires_at: i64) -> Q<bool> {
    savepoint::before_write(conn)?;
    let seen: bool = diesel::select(diesel::dsl::exists(login_tokens::table.find(jti))).get_result(conn)?;
    if seen {
        return Ok(false);
    }
    diesel::insert_into(login_tokens::table)
        .values((
            login_tokens::jti.eq(jti),
            login_tokens::user_id.eq(user),
            login_tokens::used_at.eq(now),
            login_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn insert_session(conn: &mut DbConn, id_hash: &str, user: &str, csrf: &str, now: i64) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(id_hash),
            sessions::user_id.eq(user),
            sessions::csrf.eq(csrf),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// (user_id, csrf, created_at, last_seen_at) of a session.
pub fn session(conn: &mut DbConn, id_hash: &str) -> Q<Option<(String, String, i64, i64)>> {
    sessions::table
        .find(id_hash)
        .select((sessions::user_id, sessions::csrf, sessions::created_at, sessions::last_seen_at))
        .first(conn)
        .optional()
}

pub fn touch_session(conn: &mut DbConn, id_hash: &str, now: i64) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::update(sessions::table.find(id_hash)).set(sessions::last_seen_at.eq(now)).execute(conn).map(drop)
}

pub fn delete_session(conn: &mut DbConn, id_hash: &str) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::delete(sessions::table.find(id_hash)).execute(conn).map(drop)
}

// ---- settlements, write-offs, adjustments, the audit trail ------------------------------

#[allow(clippy::too_many_arguments)]
pub fn insert_settlement(
    conn: &mut DbConn,
    merchant: &str,
    id: &str,
    currency: &str,
    amounts: (i64, i64, i64),
    settled_at: i64,
    reference: &str,
    operator: &str,
    now: i64,
) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(settlements::table)
        .values((
            settlements::merchant_id.eq(merchant),
            settlements::settlement_id.eq(id),
            settlements::currency.eq(currency),
            settlements::commission_received_minor.eq(amounts.0),
            settlements::credit_paid_minor.eq(amounts.1),
            settlements::commission_refunded_minor.eq(amounts.2),
            settlements::settled_at.eq(settled_at),
            settlements::reference.eq(reference),
            settlements::operator.eq(operator),
            settlements::recorded_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_writeoff(
    conn: &mut DbConn,
    id: &str,
    user: &str,
    currency: &str,
    amount: i64,
    reason: &str,
    operator: &str,
    now: i64,
) -> Q<()> {
    savepoint::before_write(conn)?;
    diesel::insert_into(writeoffs::table)
        .values((
            writeoffs::writeoff_id.eq(id),
            writeoffs::user_id.eq(user),
            writeoffs::currency.eq(currency),
            writeoffs::amount_minor.eq(amount),
            writeoffs::reason.eq(reason),
            writeoffs::operator.eq(operator),
            writeoffs::recorded_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

pub fn insert_adjustment(
    conn: &mut DbConn,
    id: &str,
    currency: &str,
    corrects: i64,
    reason: &str,
    operator: &str,
    now: i64,
) -> Q<()> {
    savepoint::before_write(conn)?;
    // The writer keeps the journal rows of its batch until a query needs them.
    super::books::flush_journal(conn)?;
    diesel::insert_into(adjustments::table)
        .values((
            adjustments::adjustment_id.eq(id),
            adjustments::currency.eq(currency),
            adjustments::corrects_entry_id.eq(corrects),
            adjustments::reason.eq(reason),
            adjustments::operator.eq(operator),
            adjustments::recorded_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// A posting as (account, owner, amount).
pub type PostingTuple = (Account, String, i64);

/// Stored (account code, owner, amount) rows as postings (the table's CHECK keeps the codes to
/// known accounts).
fn named_accounts(rows: Vec<(i16, String, i64)>) -> Vec<PostingTuple> {
    rows.into_iter().map(|(a, o, v)| (Account::from_code(a).expect("stored account code"), o, v)).collect()
}

/// An audit row: (id, at, operator, action, target, detail).
pub type AuditRow = (i64, i64, String, String, String, String);

/// An entry's currency and postings.
pub fn entry_postings(conn: &mut DbConn, entry_id: i64) -> Q<Option<(String, Vec<PostingTuple>)>> {
    // The writer keeps the journal rows of its batch until a query needs them.
    super::books::flush_journal(conn)?;
    let Some(currency) = entries::table.find(entry_id).select(entries::currency).first::<String>(conn).optional()?
    else {
        return Ok(None);
    };
    let ps = postings::table
        .filter(postings::entry_id.eq(entry_id))
        .select((postings::account_code, postings::owner, postings::amount_minor))
        .load(conn)?;
    Ok(Some((currency, named_accounts(ps))))
}

/// The postings of every adjustment that corrects `entry_id`: (account, owner, amount).
pub fn adjustment_postings_of(conn: &mut DbConn, entry_id: i64) -> Q<Vec<PostingTuple>> {
    // The writer keeps the journal rows of its batch until a query needs them.
    super::books::flush_journal(conn)?;
    let ids: Vec<String> = adjustments::table
        .filter(adjustments::corrects_entry_id.eq(entry_id))
        .select(adjustments::adjustment_id)
        .load(conn)?;
    let ps = postings::table
        .inner_join(entries::table)
        .filter(entries::kind.eq("adjustment"))
        .filter(entries::reference.eq_any(ids))
        .select((postings::account_code, postings::owner, postings::amount_minor))
        .load(conn)?;
    Ok(named_accounts(ps))
}

/// Audit rows with `at` in [from, to), after the cursor id, oldest first.
pub fn audit_page(conn: &mut DbConn, from: i64, to: i64, after: i64, limit: i64) -> Q<Vec<AuditRow>> {
    audit::table
        .filter(audit::at.ge(from))
        .filter(audit::at.lt(to))
        .filter(audit::id.gt(after))
        .order(audit::id)
        .limit(limit)
        .select((audit::id, audit::at, audit::operator, audit::action, audit::target, audit::detail))
        .load(conn)
}

/// Removes sessions past their idle or absolute limit, and used login tokens a day after they
/// expired (an expired token is refused anyway, so its jti is no longer needed).
pub fn purge_sessions(conn: &mut DbConn, idle_before: i64, created_before: i64, tokens_before: i64) -> Q<usize> {
    savepoint::before_write(conn)?;
    let n = diesel::delete(
        sessions::table.filter(sessions::last_seen_at.lt(idle_before).or(sessions::created_at.lt(created_before))),
    )
    .execute(conn)?;
    Ok(n + diesel::delete(login_tokens::table.filter(login_tokens::expires_at.lt(tokens_before))).execute(conn)?)
}

// ---- withdrawals and orders by period, for exports ----------------------------------------

/// Withdrawals with `requested_at` in [from, to), optionally of one status, oldest first.
pub fn withdrawals_in(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    status: Option<&str>,
    currency: Option<&str>,
) -> Q<Vec<WithdrawalRow>> {
    let mut q = withdrawals::table
        .filter(withdrawals::requested_at.ge(from))
        .filter(withdrawals::requested_at.lt(to))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(withdrawals::status.eq(s.to_string()));
    }
    if let Some(c) = currency {
        q = q.filter(withdrawals::currency.eq(c.to_string()));
    }
    q.order((withdrawals::requested_at, withdrawals::withdrawal_id)).select(WithdrawalRow::as_select()).load(conn)
}

/// A merchant's orders with `paid_at` in [from, to).
pub fn orders_paid_in(conn: &mut DbConn, merchant: &str, from: i64, to: i64) -> Q<Vec<OrderRow>> {
    see_orders(conn)?;
    orders::table
        .filter(orders::merchant_id.eq(merchant))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .order(orders::order_id)
        .select(OrderRow::as_select())
        .load(conn)
}

/// Orders booked (created) in [from, to), all merchants.
pub fn orders_booked_in(conn: &mut DbConn, from: i64, to: i64) -> Q<Vec<OrderRow>> {
    see_orders(conn)?;
    orders::table
        .filter(orders::created_at.ge(from))
        .filter(orders::created_at.lt(to))
        .select(OrderRow::as_select())
        .load(conn)
}

/// Refunds recorded in [from, to), with their order's currency.
pub fn refunds_recorded_in(conn: &mut DbConn, from: i64, to: i64) -> Q<Vec<(RefundRow, String)>> {
    books::flush_refunds(conn)?;
    let rows: Vec<RefundRow> = refunds::table
        .filter(refunds::recorded_at.ge(from))
        .filter(refunds::recorded_at.lt(to))
        .select(RefundRow::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let cur = orders::table.find((&r.merchant_id, &r.order_id)).select(orders::currency).first::<String>(conn)?;
        out.push((r, cur));
    }
    Ok(out)
}

/// A settlement's (merchant, currency, received, paid, refunded).
pub type SettlementSums = (String, String, i64, i64, i64);

/// Settlements recorded in [from, to).
pub fn settlements_recorded_in(conn: &mut DbConn, from: i64, to: i64) -> Q<Vec<SettlementSums>> {
    settlements::table
        .filter(settlements::recorded_at.ge(from))
        .filter(settlements::recorded_at.lt(to))
        .select((
            settlements::merchant_id,
            settlements::currency,
            settlements::commission_received_minor,
            settlements::credit_paid_minor,
            settlements::commission_refunded_minor,
        ))
        .load(conn)
}

pub fn entry_kind(conn: &mut DbConn, entry_id: i64) -> Q<Option<String>> {
    // The writer keeps the journal rows of its batch until a query needs them.
    super::books::flush_journal(conn)?;
    entries::table.find(entry_id).select(entries::kind).first(conn).optional()
}

#[derive(QueryableByName)]
struct ClaimSum {
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    claims: i64,
}

/// What the reserve does not cover, per currency (DESIGN.md §5 coverage), summed in SQL for
/// metrics: Σ each user's max(0, available) + held + withdrawing + merchant-payable − reserve.
pub fn uncovered(conn: &mut DbConn) -> Q<Vec<(String, i64)>> {
    let rows: Vec<ClaimSum> = diesel::sql_query(
        "SELECT currency, CAST(COALESCE(SUM(CASE \
             WHEN account = 'liabilities:cashback:available' THEN CASE WHEN balance_minor < 0 THEN -balance_minor ELSE 0 END \
             ELSE -balance_minor END), 0) AS BIGINT) AS claims \
         FROM balances WHERE account IN ('liabilities:cashback:available', 'liabilities:cashback:held', \
             'liabilities:cashback:withdrawing', 'liabilities:merchant-payable', 'assets:reserve') \
         GROUP BY currency ORDER BY currency",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.currency, r.claims)).collect())
}

/// Every sealed secret in the database, as (table, key, sealed): for a key rotation.
pub fn sealed_secrets(conn: &mut DbConn) -> Q<Vec<(&'static str, String, String)>> {
    let mut out = Vec::new();
    for (id, enc) in merchant_secrets::table
        .select((merchant_secrets::secret_id, merchant_secrets::secret_enc))
        .load::<(String, String)>(conn)?
    {
        out.push(("merchant_secrets", id, enc));
    }
    for (id, enc) in merchants::table
        .filter(merchants::wallet_secret_enc.is_not_null())
        .select((merchants::merchant_id, merchants::wallet_secret_enc.assume_not_null()))
        .load::<(String, String)>(conn)?
    {
        out.push(("merchants", id, enc));
    }
    for (m, p, enc) in shop_integrations::table
        .select((shop_integrations::merchant_id, shop_integrations::platform, shop_integrations::secret_enc))
        .load::<(String, String, String)>(conn)?
    {
        out.push(("shop_integrations", format!("{m}/{p}"), enc));
    }
    Ok(out)
}

/// Stores a secret sealed again (see `sealed_secrets` for the keys).
/// Replaces one stored secret's ciphertext; the rows it changed (1, or 0 if the row is gone).
pub fn reseal(conn: &mut DbConn, table: &str, key: &str, sealed: &str) -> Q<usize> {
    savepoint::before_write(conn)?;
    match table {
        "merchant_secrets" => {
            diesel::update(merchant_secrets::table.find(key)).set(merchant_secrets::secret_enc.eq(sealed)).execute(conn)
        }
        "merchants" => {
            diesel::update(merchants::table.find(key)).set(merchants::wallet_secret_enc.eq(sealed)).execute(conn)
        }
        _ => {
            let (m, p) = key.split_once('/').unwrap_or((key, ""));
            diesel::update(shop_integrations::table.find((m, p)))
                .set(shop_integrations::secret_enc.eq(sealed))
                .execute(conn)
        }
    }
}
