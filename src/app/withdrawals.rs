//! Withdrawals (API.md §9, §10) and their settings (§6): requested → processing → paid or
//! rejected. The full amount leaves available at the request; a rejection returns all of it.

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency, money, positive};
use super::{catchup, cursor, idem, Outcome, Services};
use crate::domain::engine::{self, WithdrawalStatus};
use crate::domain::money::{format_minor, Currency};
use crate::domain::time::format_ts;
use crate::store::books::DbBooks;
use crate::store::repo::{self, WithdrawalRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub minimum: Value,
    #[schema(schema_with = crate::app::schema::money)]
    pub fee: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub withdrawal_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[schema(schema_with = crate::app::schema::destination)]
    pub destination: String,
    #[schema(schema_with = crate::app::schema::money)]
    pub expected_fee: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidIn {
    #[schema(schema_with = crate::app::schema::note)]
    pub reference: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectIn {
    #[schema(schema_with = crate::app::schema::note)]
    pub reason: String,
}

/// (minimum, fee) for a currency: the operator's, or one unit and no fee.
pub fn settings(conn: &mut DbConn, cur: Currency) -> ApiResult<(i64, i64)> {
    Ok(repo::withdrawal_settings(conn, cur.code())?.unwrap_or((cur.scale(), 0)))
}

pub fn put_settings(conn: &mut DbConn, operator: &str, code: &str, input: SettingsIn, now: i64) -> ApiResult<Value> {
    let min_raw = money("minimum", &input.minimum)?;
    let fee_raw = money("fee", &input.fee)?;
    let cur = currency(code)?;
    let minimum = positive("minimum", &min_raw, cur)?;
    let fee = fee_raw.to_minor(cur).map_err(|e| err(Code::InvalidAmount, format!("fee: {e}")))?;
    if fee >= minimum {
        return Err(err(Code::InvalidRequest, "the fee must be below the minimum, so every withdrawal pays something"));
    }
    repo::put_withdrawal_settings(conn, cur.code(), minimum, fee, now)?;
    let body = json!({"currency": cur.code(), "minimum": format_minor(minimum, cur), "fee": format_minor(fee, cur)});
    repo::audit(conn, now, operator, "withdrawal_settings.put", cur.code(), &body.to_string())?;
    Ok(body)
}

pub fn view(w: &WithdrawalRow, svc: &Services) -> Value {
    let cur = Currency::parse(&w.currency).expect("stored currency");
    let m = |v| format_minor(v, cur);
    json!({
        "withdrawal_id": w.withdrawal_id, "user_id": w.user_id, "currency": w.currency,
        "status": w.status, "amount": m(w.amount_minor), "fee": m(w.fee_minor),
        "net": m(w.amount_minor - w.fee_minor), "destination": w.destination,
        "reference": w.reference, "reason": w.reason,
        "requested_at": format_ts(w.requested_at, svc.tz), "updated_at": format_ts(w.updated_at, svc.tz),
    })
}

/// A withdrawal whose body passed its grammar; its money is judged after the key.
pub struct RequestCmd {
    pub withdrawal_id: String,
    pub destination: String,
    pub resolved: ApiResult<(Currency, i64, i64)>,
}

impl WithdrawalIn {
    pub fn validate(self) -> ApiResult<RequestCmd> {
        let withdrawal_id = client_id("withdrawal_id", &self.withdrawal_id)?;
        let amount = money("amount", &self.amount)?;
        let expected = money("expected_fee", &self.expected_fee)?;
        if self.destination.is_empty() || self.destination.chars().count() > 200 {
            return Err(err(Code::InvalidRequest, "destination must be one of the user's payout destinations"));
        }
        let resolved = currency(&self.currency).and_then(|cur| {
            let a = positive("amount", &amount, cur)?;
            let f = expected.to_minor(cur).map_err(|e| err(Code::InvalidAmount, format!("expected_fee: {e}")))?;
            Ok((cur, a, f))
        });
        Ok(RequestCmd { withdrawal_id, destination: self.destination, resolved })
    }
}

pub fn request(conn: &mut DbConn, svc: &Services, user_id: &str, cmd: RequestCmd, now: i64) -> ApiResult<Outcome> {
    // Withdrawal ids are unique per deployment: another user's id is a conflict.
    let scope = idem::scope(&["withdrawal"]);
    let (cur, amount, expected_fee) = idem::deferred(conn, &scope, &cmd.withdrawal_id, cmd.resolved)?;
    let canonical = json!({"user_id": user_id, "currency": cur.code(), "amount": amount,
        "destination": cmd.destination, "expected_fee": expected_fee})
    .to_string();
    if let Some(prev) = idem::check(conn, &scope, &cmd.withdrawal_id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    let user = repo::user(conn, user_id)?;
    let dests: Vec<String> =
        user.as_ref().and_then(|u| serde_json::from_str(&u.payout_destinations).ok()).unwrap_or_default();
    if !dests.contains(&cmd.destination) {
        return Err(err(
            Code::InvalidRequest,
            "destination is not one of the payout destinations your shop registered",
        ));
    }
    let (minimum, fee) = settings(conn, cur)?;
    if expected_fee != fee {
        return Err(err(
            Code::FeeChanged,
            format!("the fee is now {} {cur}; confirm the new amount", format_minor(fee, cur)),
        ));
    }
    catchup::user(conn, user_id, now)?;
    let row = WithdrawalRow {
        withdrawal_id: cmd.withdrawal_id.clone(),
        user_id: user_id.to_string(),
        currency: cur.code().to_string(),
        amount_minor: amount,
        fee_minor: fee,
        destination: cmd.destination.clone(),
        status: WithdrawalStatus::Requested.as_str().to_string(),
        reference: None,
        reason: None,
        batch_id: None,
        requested_at: now,
        updated_at: now,
    };
    engine::request_withdrawal(&mut DbBooks { conn, now }, &row.to_domain(), minimum)?;
    repo::insert_withdrawal(conn, &row)?;
    let body = view(&row, svc);
    idem::remember(conn, &scope, &cmd.withdrawal_id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

fn known(conn: &mut DbConn, id: &str) -> ApiResult<WithdrawalRow> {
    repo::withdrawal(conn, id)?.ok_or_else(|| err(Code::NotFound, format!("no withdrawal {id:?}")))
}

/// Paid (with the payment's reference) or rejected (with a reason), by an operator.
pub fn finish(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    id: &str,
    paid: bool,
    note: &str,
    now: i64,
) -> ApiResult<Value> {
    super::input::note(if paid { "reference" } else { "reason" }, note, 500)?;
    let mut row = known(conn, id)?;
    let action = if paid { "paid" } else { "reject" };
    let scope = idem::scope(&["withdrawal", action]);
    let canonical = json!({ "note": note }).to_string();
    if let Some(prev) = idem::check(conn, &scope, id, &canonical)? {
        return Ok(serde_json::from_str(&prev).unwrap_or(Value::Null));
    }
    // A rejection credits available: what came due for the user is booked first.
    catchup::user(conn, &row.user_id, now)?;
    let mut w = row.to_domain();
    let mut books = DbBooks { conn, now };
    if paid {
        engine::pay_withdrawal(&mut books, &mut w, now)?;
        row.reference = Some(note.to_string());
    } else {
        engine::reject_withdrawal(&mut books, &mut w, now)?;
        row.reason = Some(note.to_string());
    }
    row.status = w.status.as_str().to_string();
    row.updated_at = now;
    repo::save_withdrawal_state(conn, &row)?;
    let body = view(&row, svc);
    repo::audit(conn, now, operator, &format!("withdrawal.{action}"), id, &canonical)?;
    idem::remember(conn, &scope, id, &canonical, &body, now)?;
    Ok(body)
}

pub fn list(
    conn: &mut DbConn,
    svc: &Services,
    status: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<Value> {
    if let Some(s) = status {
        WithdrawalStatus::parse(s)
            .ok_or_else(|| err(Code::InvalidRequest, "status must be requested, processing, paid or rejected"))?;
    }
    let after: Option<(i64, String)> = after.map(cursor::decode).transpose()?;
    let limit = cursor::limit(limit, 50, 200)?;
    let rows = repo::withdrawals_page(conn, status, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let shown = &rows[..rows.len().min(limit as usize)];
    let next = more.then(|| shown.last().map(|w| cursor::encode(&(w.requested_at, &w.withdrawal_id)))).flatten();
    Ok(json!({"withdrawals": shown.iter().map(|w| view(w, svc)).collect::<Vec<_>>(), "next_cursor": next}))
}
