//! The checkout hook's orders, quotes, refunds and cancels (API.md §8).

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency, long_id, money, positive, timestamp};
use super::{catchup, idem, programs, users, Outcome, Services};
use crate::domain::engine::{self, OrderStatus};
use crate::domain::money::{format_minor, Currency};
use crate::domain::program::{Components, Line, Program};
use crate::domain::time::{format_ts, month_bounds};
use crate::store::books::DbBooks;
use crate::store::prefetch::Hint;
use crate::store::repo::{self, OrderRow, ProgramRow, RefundRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};

/// How far ahead of the server clock a `paid_at` may be (clock skew between shop and us).
pub const MAX_CLOCK_SKEW: i64 = 300;
pub const MAX_LINES: usize = 1000;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    #[schema(schema_with = crate::app::schema::long_id)]
    pub sku: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_client_id)]
    pub category: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderIn {
    #[schema(schema_with = crate::app::schema::long_id)]
    pub order_id: String,
    #[schema(schema_with = crate::app::schema::client_id)]
    pub user_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[schema(schema_with = crate::app::schema::timestamp)]
    pub paid_at: String,
    #[serde(default)]
    pub lines: Option<Vec<LineIn>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteIn {
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_client_id)]
    pub user_id: Option<String>,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[serde(default)]
    pub lines: Option<Vec<LineIn>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    #[schema(schema_with = crate::app::schema::long_id)]
    pub refund_id: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_timestamp)]
    pub refunded_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineCmd {
    pub sku: String,
    pub amount: i64,
    pub category: Option<String>,
}

/// An order whose body passed its grammar; what depends on its currency is judged after the
/// idempotency key (API.md §1: 409 before 422).
pub struct OrderCmd {
    pub merchant_id: String,
    pub order_id: String,
    pub resolved: ApiResult<PlaceOrder>,
}

impl From<PlaceOrder> for OrderCmd {
    fn from(p: PlaceOrder) -> OrderCmd {
        OrderCmd { merchant_id: p.merchant_id.clone(), order_id: p.order_id.clone(), resolved: Ok(p) }
    }
}

/// A validated order: what the idempotency check compares, in canonical form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlaceOrder {
    #[serde(skip)]
    pub merchant_id: String,
    #[serde(skip)]
    pub order_id: String,
    pub user_id: String,
    #[serde(skip)]
    pub currency: Currency,
    pub currency_code: &'static str,
    pub amount: i64,
    pub paid_at: i64,
    pub lines: Option<Vec<LineCmd>>,
}

/// Grammar of the lines before the currency is known, then their amounts in it.
fn lines(input: &Option<Vec<LineIn>>, cur: Currency) -> ApiResult<Option<Vec<LineCmd>>> {
    let Some(list) = input else { return Ok(None) };
    if list.len() > MAX_LINES {
        return Err(err(Code::InvalidRequest, format!("at most {MAX_LINES} lines")));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, l) in list.iter().enumerate() {
        long_id(&format!("lines[{i}].sku"), &l.sku)?;
        if let Some(c) = &l.category {
            client_id(&format!("lines[{i}].category"), c)?;
        }
        let a = positive(&format!("lines[{i}].amount"), &money(&format!("lines[{i}].amount"), &l.amount)?, cur)?;
        out.push(LineCmd { sku: l.sku.clone(), amount: a, category: l.category.clone() });
    }
    // Their sum was judged exactly, before the currency (line_grammar).
    Ok(Some(out))
}

/// The lines' grammar, and their sum, before the currency is known (both are 400s).
fn line_grammar(input: &Option<Vec<LineIn>>, amount: &crate::domain::money::RawAmount) -> ApiResult<()> {
    let Some(list) = input else { return Ok(()) };
    let mut sum = Some(rust_decimal::Decimal::ZERO);
    for (i, l) in list.iter().enumerate() {
        let v = money(&format!("lines[{i}].amount"), &l.amount)?.value();
        sum = sum.zip(v).and_then(|(a, b)| a.checked_add(b));
    }
    // Amounts too long for a decimal are refused later, by their currency's decimals.
    if let (Some(sum), Some(total)) = (sum, amount.value()) {
        if sum != total {
            return Err(err(Code::InvalidRequest, format!("lines sum to {sum}, not the order amount {total}")));
        }
    }
    Ok(())
}

fn domain_lines(lines: &Option<Vec<LineCmd>>, amount: i64) -> Vec<Line> {
    match lines {
        None => vec![Line { category: None, amount_minor: amount }],
        Some(ls) => ls.iter().map(|l| Line { category: l.category.clone(), amount_minor: l.amount }).collect(),
    }
}

impl OrderIn {
    pub fn validate(self, merchant_id: &str, now: i64) -> ApiResult<OrderCmd> {
        let order_id = long_id("order_id", &self.order_id)?;
        let user_id = client_id("user_id", &self.user_id)?;
        let raw = money("amount", &self.amount)?;
        line_grammar(&self.lines, &raw)?;
        let paid_at = timestamp("paid_at", &self.paid_at)?;
        if paid_at > now + MAX_CLOCK_SKEW {
            return Err(err(Code::InvalidRequest, "paid_at is more than 300 s ahead of the server clock"));
        }
        let resolved = currency(&self.currency).and_then(|cur| {
            let amount = positive("amount", &raw, cur)?;
            let lines = lines(&self.lines, cur)?;
            Ok(PlaceOrder {
                merchant_id: merchant_id.to_string(),
                order_id: order_id.clone(),
                user_id,
                currency: cur,
                currency_code: cur.code(),
                amount,
                paid_at,
                lines,
            })
        });
        Ok(OrderCmd { merchant_id: merchant_id.to_string(), order_id, resolved })
    }
}

fn program_for(conn: &mut DbConn, merchant: &str, cur: Currency) -> ApiResult<(ProgramRow, Program)> {
    let row = repo::current_program(conn, merchant, cur.code())?
        .ok_or_else(|| err(Code::CurrencyNotSupported, format!("the merchant has no program in {cur}")))?;
    let p = programs::to_domain(&row);
    Ok((row, p))
}

fn parts_json(p: &Components, cur: Currency) -> Value {
    json!({
        "commission": format_minor(p.commission, cur),
        "cashback": format_minor(p.cashback, cur),
        "referral": format_minor(p.referral, cur),
        "platform": format_minor(p.platform, cur),
    })
}

/// The order as the contract shows it; with `refunds`, the `GET` shape.
pub fn view(o: &OrderRow, svc: &Services, refunds: Option<&[RefundRow]>) -> Value {
    let cur = Currency::parse(&o.currency).expect("stored currency");
    let m = |v| format_minor(v, cur);
    let mut v = json!({
        "order_id": o.order_id,
        "user_id": o.user_id,
        "currency": o.currency,
        "amount": m(o.amount_minor),
        "status": o.status,
        "commission": m(o.commission_minor),
        "cashback": m(o.cashback_minor),
        "referral": o.referrer_id.as_ref().map(|r| json!({"user_id": r, "amount": m(o.referral_minor)})),
        "platform": m(o.platform_minor),
        "capped": o.capped,
        "paid_at": format_ts(o.paid_at, svc.tz),
        "release_at": format_ts(o.release_at, svc.tz),
        "program_version": o.program_version,
    });
    if let Some(refunds) = refunds {
        let d = o.to_domain();
        v["refunded"] = json!(m(o.refunded_minor));
        v["reversed"] = parts_json(&d.reversed, cur);
        v["released_at"] = json!(o.released_at.map(|t| format_ts(t, svc.tz)));
        let lines: Option<Vec<LineCmd>> = serde_json::from_str(&o.lines).unwrap_or(None);
        v["lines"] = json!(lines.map(|ls| ls
            .iter()
            .map(|l| json!({"sku": l.sku, "amount": m(l.amount), "category": l.category}))
            .collect::<Vec<_>>()));
        v["refunds"] = refunds
            .iter()
            .map(|r| {
                json!({
                    "refund_id": r.refund_id,
                    "amount": m(r.amount_minor),
                    "reversed": parts_json(&Components { commission: r.commission_minor, cashback: r.cashback_minor, referral: r.referral_minor, platform: r.platform_minor }, cur),
                    "refunded_at": format_ts(r.refunded_at, svc.tz),
                    "recorded_at": format_ts(r.recorded_at, svc.tz),
                })
            })
            .collect();
    }
    v
}

/// The answer `POST /v1/orders` gave when it booked the order: everything in it is fixed at
/// booking, and the status was `released` only for a report that came after its window.
fn first_answer(row: &OrderRow, svc: &Services) -> Value {
    let mut v = view(row, svc, None);
    let status = if row.release_at <= row.created_at { OrderStatus::Released } else { OrderStatus::Pending };
    v["status"] = json!(status.as_str());
    v
}

/// The canonical request an order row was booked from (what idempotency compares).
fn canonical_of(row: &OrderRow) -> String {
    let cur = Currency::parse(&row.currency).expect("stored currency");
    let cmd = PlaceOrder {
        merchant_id: row.merchant_id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        currency: cur,
        currency_code: cur.code(),
        amount: row.amount_minor,
        paid_at: row.paid_at,
        lines: serde_json::from_str(&row.lines).expect("stored lines"),
    };
    serde_json::to_string(&cmd).expect("order serializes")
}

fn used_key(order_id: &str) -> crate::app::error::ApiError {
    err(Code::IdempotencyConflict, format!("{order_id:?} was already used with a different request"))
}

/// Idempotency of orders (API.md §4) is judged on the order row itself, which holds the whole
/// canonical request and every figure of the first answer: no separate record is kept, which
/// saves a write and about 600 bytes per order (docs/performance.md).
pub fn place(conn: &mut DbConn, svc: &Services, cmd: OrderCmd, now: i64) -> ApiResult<Outcome> {
    let existing = repo::order(conn, &cmd.merchant_id, &cmd.order_id)?;
    let cmd = match (cmd.resolved, &existing) {
        (Ok(c), _) => c,
        // The first body's currency was fine, so a body whose currency is not is another request.
        (Err(_), Some(_)) => return Err(used_key(&cmd.order_id)),
        (Err(e), None) => return Err(e),
    };
    let canonical = serde_json::to_string(&cmd).expect("order serializes");
    if let Some(row) = existing {
        if canonical_of(&row) != canonical {
            return Err(used_key(&cmd.order_id));
        }
        return Ok(Outcome::Replayed(first_answer(&row, svc).to_string()));
    }
    let cur = cmd.currency;
    let (prow, program) = program_for(conn, &cmd.merchant_id, cur)?;
    let buyer = users::ensure(conn, &cmd.user_id, &cmd.merchant_id, now)?;
    catchup::users(conn, &buyer.user_id, buyer.referrer_id.as_deref(), now)?;
    let (from, to) = month_bounds(cmd.paid_at, svc.tz);
    // The month's usage matters only under a monthly cap; without one it is not read.
    let used = match program.monthly_cap_per_user {
        Some(_) => repo::cashback_in_period(conn, &cmd.user_id, &cmd.merchant_id, cur.code(), from, to)?,
        None => 0,
    };
    let split = program.split(&domain_lines(&cmd.lines, cmd.amount), buyer.referrer_id.is_some(), used);
    let p = split.parts;
    let mut row = OrderRow {
        merchant_id: cmd.merchant_id.clone(),
        order_id: cmd.order_id.clone(),
        user_id: cmd.user_id.clone(),
        referrer_id: buyer.referrer_id.clone(),
        currency: cur.code().to_string(),
        amount_minor: cmd.amount,
        paid_at: cmd.paid_at,
        release_at: cmd.paid_at + program.hold_days as i64 * 86_400,
        released_at: None,
        status: OrderStatus::Pending.as_str().to_string(),
        commission_minor: p.commission,
        cashback_minor: p.cashback,
        referral_minor: p.referral,
        platform_minor: p.platform,
        rev_cashback_minor: 0,
        rev_referral_minor: 0,
        rev_platform_minor: 0,
        refunded_minor: 0,
        capped: split.capped,
        program_version: prow.version,
        lines: serde_json::to_string(&cmd.lines).expect("lines serialize"),
        created_at: now,
    };
    repo::insert_order(conn, &row)?;
    engine::book_order(&mut DbBooks { conn, now }, &row.to_domain())?;
    if row.release_at <= now {
        // A past paid_at whose window has already ended is released in the same transaction.
        row = catchup::release(conn, row, now)?;
    }
    Ok(Outcome::Created(view(&row, svc, None)))
}

pub fn get(conn: &mut DbConn, svc: &Services, merchant: &str, order_id: &str) -> ApiResult<Value> {
    let row = known(conn, merchant, order_id)?;
    let refunds = repo::refunds_of(conn, merchant, order_id)?;
    Ok(view(&row, svc, Some(&refunds)))
}

fn known(conn: &mut DbConn, merchant: &str, order_id: &str) -> ApiResult<OrderRow> {
    repo::order(conn, merchant, order_id)?.ok_or_else(|| err(Code::NotFound, format!("no order {order_id:?}")))
}

/// Shape and grammar of a refund, checked before anything is looked up.
pub struct RefundCmd {
    pub refund_id: String,
    pub amount: crate::domain::money::RawAmount,
    pub refunded_at: Option<i64>,
}

impl RefundIn {
    pub fn validate(self) -> ApiResult<RefundCmd> {
        let refund_id = long_id("refund_id", &self.refund_id)?;
        if refund_id == CANCEL {
            return Err(err(Code::InvalidRequest, "refund_id \"cancel\" is reserved for POST /cancel"));
        }
        let amount = money("amount", &self.amount)?;
        let refunded_at = self.refunded_at.as_deref().map(|t| timestamp("refunded_at", t)).transpose()?;
        Ok(RefundCmd { refund_id, amount, refunded_at })
    }
}

const CANCEL: &str = "cancel";

/// Where an order's refund keys (and its cancel) are remembered.
fn refund_scope(merchant: &str, order_id: &str) -> String {
    idem::scope(&["refund", merchant, order_id])
}

/// What placing an order reads, for the writer to fetch ahead ([`Hint`]).
pub fn place_hint(cmd: &OrderCmd, now: i64) -> Hint {
    let user = cmd.resolved.as_ref().ok().map(|p| p.user_id.as_str());
    Hint::new(&cmd.merchant_id, &cmd.order_id, user, now)
}

/// What a refund reads: its order, its key and the cancel's.
pub fn refund_hint(merchant: &str, order_id: &str, refund_id: &str, now: i64) -> Hint {
    Hint::new(merchant, order_id, None, now).remembering(&refund_scope(merchant, order_id), &[refund_id, CANCEL])
}

/// What a cancel reads: its order and its key.
pub fn cancel_hint(merchant: &str, order_id: &str, now: i64) -> Hint {
    Hint::new(merchant, order_id, None, now).remembering(&refund_scope(merchant, order_id), &[CANCEL])
}

fn refund_view(row: &OrderRow, refund_id: &str, amount: i64, now: &Components) -> Value {
    let cur = Currency::parse(&row.currency).expect("stored currency");
    json!({
        "refund_id": refund_id,
        "order_id": row.order_id,
        "amount": format_minor(amount, cur),
        "reversed": parts_json(now, cur),
        "order": {"refunded": format_minor(row.refunded_minor, cur), "status": row.status},
    })
}

/// Books what has come due for everyone the order touches, this order's release included.
fn catch_up(conn: &mut DbConn, row: &OrderRow, now: i64) -> ApiResult<OrderRow> {
    catchup::users(conn, &row.user_id, row.referrer_id.as_deref(), now)?;
    known(conn, &row.merchant_id, &row.order_id)
}

fn book_refund(
    conn: &mut DbConn,
    mut row: OrderRow,
    refund_id: &str,
    amount: i64,
    at: i64,
    cancel: bool,
    now: i64,
) -> ApiResult<Value> {
    let mut o = row.to_domain();
    let reversed = if cancel && o.refunded == o.amount {
        // Cancelling a fully refunded order reverses nothing and keeps `refunded`.
        Components::default()
    } else {
        engine::refund_order(&mut DbBooks { conn, now }, &mut o, amount, at, cancel, refund_id)?
    };
    row.absorb(&o);
    repo::save_order_state(conn, &row)?;
    repo::insert_refund(
        conn,
        &RefundRow {
            merchant_id: row.merchant_id.clone(),
            order_id: row.order_id.clone(),
            refund_id: refund_id.to_string(),
            amount_minor: amount,
            commission_minor: reversed.commission,
            cashback_minor: reversed.cashback,
            referral_minor: reversed.referral,
            platform_minor: reversed.platform,
            refunded_at: at,
            recorded_at: now,
        },
    )?;
    Ok(refund_view(&row, refund_id, amount, &reversed))
}

pub fn refund(conn: &mut DbConn, merchant: &str, order_id: &str, cmd: RefundCmd, now: i64) -> ApiResult<Outcome> {
    let row = known(conn, merchant, order_id)?;
    let cur = Currency::parse(&row.currency).expect("stored currency");
    let amount = positive("amount", &cmd.amount, cur)?;
    let scope = refund_scope(merchant, order_id);
    let canonical = json!({"amount": amount, "refunded_at": cmd.refunded_at}).to_string();
    if let Some(prev) = idem::check(conn, &scope, &cmd.refund_id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    // Without a refunded_at, the refund happened now, but never before the order was paid
    // (a paid_at may be up to 300 s ahead of our clock).
    let at = cmd.refunded_at.unwrap_or(now.max(row.paid_at));
    if at < row.paid_at {
        return Err(err(Code::InvalidRequest, "refunded_at is before the order's paid_at"));
    }
    if row.status == OrderStatus::Cancelled.as_str() || repo::remembered(conn, &scope, CANCEL)?.is_some() {
        return Err(err(Code::OrderCancelled, format!("order {order_id:?} is cancelled")));
    }
    let row = catch_up(conn, &row, now)?;
    let body = book_refund(conn, row, &cmd.refund_id, amount, at, false, now)?;
    idem::remember(conn, &scope, &cmd.refund_id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

pub fn cancel(conn: &mut DbConn, merchant: &str, order_id: &str, now: i64) -> ApiResult<Outcome> {
    let row = known(conn, merchant, order_id)?;
    let scope = refund_scope(merchant, order_id);
    if let Some(prev) = idem::check(conn, &scope, CANCEL, "{}")? {
        return Ok(Outcome::Replayed(prev));
    }
    let row = catch_up(conn, &row, now)?;
    let rest = row.amount_minor - row.refunded_minor;
    let body = book_refund(conn, row, CANCEL, rest, now, true, now)?;
    idem::remember(conn, &scope, CANCEL, "{}", &body, now)?;
    Ok(Outcome::Done(body))
}

/// A preview of what the same order would book now; writes nothing.
pub fn quote(conn: &mut DbConn, svc: &Services, merchant: &str, input: QuoteIn, now: i64) -> ApiResult<Value> {
    let user_id = input.user_id.as_deref().map(|u| client_id("user_id", u)).transpose()?;
    let raw = money("amount", &input.amount)?;
    line_grammar(&input.lines, &raw)?;
    let cur = currency(&input.currency)?;
    let amount = positive("amount", &raw, cur)?;
    let lines = lines(&input.lines, cur)?;
    let (prow, program) = program_for(conn, merchant, cur)?;
    let user = match &user_id {
        Some(u) => repo::user(conn, u)?,
        None => None,
    };
    let referrer = user.as_ref().and_then(|u| u.referrer_id.clone());
    let used = match &user {
        Some(u) if program.monthly_cap_per_user.is_some() => {
            let (from, to) = month_bounds(now, svc.tz);
            repo::cashback_in_period(conn, &u.user_id, merchant, cur.code(), from, to)?
        }
        _ => 0,
    };
    let split = program.split(&domain_lines(&lines, amount), referrer.is_some(), used);
    let p = split.parts;
    let m = |v| format_minor(v, cur);
    Ok(json!({
        "currency": cur.code(),
        "amount": m(amount),
        "commission": m(p.commission),
        "cashback": m(p.cashback),
        "referral": referrer.map(|r| json!({"user_id": r, "amount": m(p.referral)})),
        "platform": m(p.platform),
        "capped": split.capped,
        "program_version": prow.version,
        "terms": {
            "cashback_rate": program.rates.cashback.to_string(),
            "referral_rate": program.rates.referral.to_string(),
            "hold_days": program.hold_days,
            "per_order_cap": program.per_order_cap.map(m),
            "monthly_cap_per_user": program.monthly_cap_per_user.map(m),
            "monthly_cap_remaining": program.monthly_cap_remaining(used).map(m),
            "expiry": "none",
        },
    }))
}
