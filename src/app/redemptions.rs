//! Store credit: holds with the user's consent, partial capture, void, expiry and refunds of
//! captured credit (API.md §8). The signing merchant is the one the credit is spent at.

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency, long_id, money, opt_money, positive};
use super::{catchup, idem, Outcome, Services};
use crate::domain::engine::{self, RedemptionStatus};
use crate::domain::money::{format_minor, Currency, RawAmount};
use crate::domain::time::format_ts;
use crate::store::books::DbBooks;
use crate::store::repo::{self, RedemptionRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};

pub const DEFAULT_HOLD_SECONDS: i64 = 900;
pub const MAX_HOLD_SECONDS: i64 = 86_400;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub redemption_id: String,
    #[schema(schema_with = crate::app::schema::client_id)]
    pub user_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_long_id)]
    pub order_id: Option<String>,
    #[serde(default, deserialize_with = "super::input::opt_whole_number")]
    #[schema(minimum = 1, maximum = 86400)]
    pub hold_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureIn {
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_positive_money)]
    pub amount: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRefundIn {
    #[schema(schema_with = crate::app::schema::long_id)]
    pub refund_id: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
}

/// A hold whose body passed its grammar; its currency and amount are judged after the
/// idempotency key and the user's consent.
pub struct HoldCmd {
    pub redemption_id: String,
    pub user_id: String,
    pub order_id: Option<String>,
    pub hold_seconds: i64,
    pub resolved: ApiResult<(Currency, i64)>,
}

impl HoldIn {
    pub fn validate(self) -> ApiResult<HoldCmd> {
        let redemption_id = client_id("redemption_id", &self.redemption_id)?;
        let user_id = client_id("user_id", &self.user_id)?;
        let order_id = self.order_id.as_deref().map(|o| long_id("order_id", o)).transpose()?;
        let hold_seconds = self.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
        if !(1..=MAX_HOLD_SECONDS).contains(&hold_seconds) {
            return Err(err(Code::InvalidRequest, format!("hold_seconds must be between 1 and {MAX_HOLD_SECONDS}")));
        }
        let raw = money("amount", &self.amount)?;
        let resolved = currency(&self.currency).and_then(|cur| Ok((cur, positive("amount", &raw, cur)?)));
        Ok(HoldCmd { redemption_id, user_id, order_id, hold_seconds, resolved })
    }
}

/// A redemption as it stands; a held one past `expires_at` reads `expired` whether or not
/// the expiry is booked yet.
pub fn view(r: &RedemptionRow, svc: &Services, now: i64) -> Value {
    let cur = Currency::parse(&r.currency).expect("stored currency");
    let m = |v| format_minor(v, cur);
    let status = if r.to_domain().is_due(now) { RedemptionStatus::Expired.as_str() } else { r.status.as_str() };
    json!({
        "redemption_id": r.redemption_id,
        "user_id": r.user_id,
        "currency": r.currency,
        "status": status,
        "amount": m(r.amount_minor),
        "captured": (r.status == "captured").then(|| m(r.captured_minor)),
        "refunded": m(r.refunded_minor),
        "order_id": r.order_id,
        "created_at": format_ts(r.created_at, svc.tz),
        "expires_at": format_ts(r.expires_at, svc.tz),
    })
}

pub fn hold(conn: &mut DbConn, svc: &Services, merchant: &str, cmd: HoldCmd, now: i64) -> ApiResult<Outcome> {
    let scope = idem::scope(&["redemption", merchant]);
    let (cur, amount) = idem::deferred(conn, &scope, &cmd.redemption_id, cmd.resolved)?;
    let canonical = json!({
        "user_id": cmd.user_id, "currency": cur.code(), "amount": amount,
        "order_id": cmd.order_id, "hold_seconds": cmd.hold_seconds,
    })
    .to_string();
    if let Some(prev) = idem::check(conn, &scope, &cmd.redemption_id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    if repo::current_program(conn, merchant, cur.code())?.is_none() {
        return Err(err(Code::CurrencyNotSupported, format!("the merchant has no program in {cur}")));
    }
    if repo::user(conn, &cmd.user_id)?.is_none() {
        return Err(err(Code::InsufficientBalance, "the user has no available balance"));
    }
    catchup::user(conn, &cmd.user_id, now)?;
    let row = RedemptionRow {
        merchant_id: merchant.to_string(),
        redemption_id: cmd.redemption_id.clone(),
        user_id: cmd.user_id.clone(),
        currency: cur.code().to_string(),
        amount_minor: amount,
        captured_minor: 0,
        refunded_minor: 0,
        status: RedemptionStatus::Held.as_str().to_string(),
        order_id: cmd.order_id.clone(),
        created_at: now,
        expires_at: now + cmd.hold_seconds,
    };
    engine::hold(&mut DbBooks { conn, now }, &row.to_domain())?;
    repo::insert_redemption(conn, &row)?;
    let body = view(&row, svc, now);
    idem::remember(conn, &scope, &cmd.redemption_id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

fn known(conn: &mut DbConn, merchant: &str, id: &str, now: i64) -> ApiResult<RedemptionRow> {
    let row =
        repo::redemption(conn, merchant, id)?.ok_or_else(|| err(Code::NotFound, format!("no redemption {id:?}")))?;
    // Whatever has come due for the user is booked first, this hold's expiry included.
    catchup::user(conn, &row.user_id, now)?;
    Ok(repo::redemption(conn, merchant, id)?.expect("the redemption still exists"))
}

pub fn get(conn: &mut DbConn, svc: &Services, merchant: &str, id: &str, now: i64) -> ApiResult<Value> {
    let row =
        repo::redemption(conn, merchant, id)?.ok_or_else(|| err(Code::NotFound, format!("no redemption {id:?}")))?;
    Ok(view(&row, svc, now))
}

fn action_scope(merchant: &str, id: &str) -> String {
    idem::scope(&["redemption-action", merchant, id])
}

pub fn capture(conn: &mut DbConn, merchant: &str, id: &str, input: CaptureIn, now: i64) -> ApiResult<Outcome> {
    let raw: Option<RawAmount> = opt_money("amount", &input.amount)?;
    let row =
        repo::redemption(conn, merchant, id)?.ok_or_else(|| err(Code::NotFound, format!("no redemption {id:?}")))?;
    let cur = Currency::parse(&row.currency).expect("stored currency");
    // An absent amount means the whole hold, also when a retry is compared.
    let amount = raw.map(|a| positive("amount", &a, cur)).transpose()?.unwrap_or(row.amount_minor);
    let scope = action_scope(merchant, id);
    let canonical = json!({"amount": amount}).to_string();
    if let Some(prev) = idem::check(conn, &scope, "capture", &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    let mut row = known(conn, merchant, id, now)?;
    let mut r = row.to_domain();
    engine::capture(&mut DbBooks { conn, now }, &mut r, amount, now)?;
    row.absorb(&r);
    repo::save_redemption_state(conn, &row)?;
    let body = json!({
        "redemption_id": id, "status": "captured",
        "captured": format_minor(amount, cur), "released": format_minor(r.amount - amount, cur),
    });
    idem::remember(conn, &scope, "capture", &canonical, &body, now)?;
    Ok(Outcome::Done(body))
}

pub fn void(conn: &mut DbConn, merchant: &str, id: &str, now: i64) -> ApiResult<Outcome> {
    let scope = action_scope(merchant, id);
    if repo::redemption(conn, merchant, id)?.is_none() {
        return Err(err(Code::NotFound, format!("no redemption {id:?}")));
    }
    if let Some(prev) = idem::check(conn, &scope, "void", "{}")? {
        return Ok(Outcome::Replayed(prev));
    }
    let mut row = known(conn, merchant, id, now)?;
    let mut r = row.to_domain();
    engine::void(&mut DbBooks { conn, now }, &mut r, false, now)?;
    row.absorb(&r);
    repo::save_redemption_state(conn, &row)?;
    let body = json!({"redemption_id": id, "status": "voided"});
    idem::remember(conn, &scope, "void", "{}", &body, now)?;
    Ok(Outcome::Done(body))
}

pub fn credit_refund(
    conn: &mut DbConn,
    merchant: &str,
    id: &str,
    input: CreditRefundIn,
    now: i64,
) -> ApiResult<Outcome> {
    let refund_id = long_id("refund_id", &input.refund_id)?;
    let raw = money("amount", &input.amount)?;
    let row =
        repo::redemption(conn, merchant, id)?.ok_or_else(|| err(Code::NotFound, format!("no redemption {id:?}")))?;
    let cur = Currency::parse(&row.currency).expect("stored currency");
    let amount = positive("amount", &raw, cur)?;
    let scope = idem::scope(&["credit-refund", merchant, id]);
    let canonical = json!({"amount": amount}).to_string();
    if let Some(prev) = idem::check(conn, &scope, &refund_id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    let mut row = known(conn, merchant, id, now)?;
    let mut r = row.to_domain();
    engine::credit_refund(&mut DbBooks { conn, now }, &mut r, amount, now, &refund_id)?;
    row.absorb(&r);
    repo::save_redemption_state(conn, &row)?;
    let body = json!({
        "refund_id": refund_id, "redemption_id": id, "amount": format_minor(amount, cur),
        "refunded": format_minor(r.refunded, cur), "status": row.status,
    });
    idem::remember(conn, &scope, &refund_id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}
