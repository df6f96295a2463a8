//! Reserve deposits (API.md §6): the platform's own cash into the reserve, never a wallet.

use super::error::ApiResult;
use super::input::{client_id, currency, money, note, positive};
use super::{idem, Outcome, Services};
use crate::domain::engine;
use crate::domain::money::format_minor;
use crate::domain::time::format_ts;
use crate::store::books::DbBooks;
use crate::store::{repo, DbConn};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub deposit_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[schema(schema_with = crate::app::schema::note)]
    pub reference: String,
}

pub fn deposit(conn: &mut DbConn, svc: &Services, operator: &str, input: DepositIn, now: i64) -> ApiResult<Outcome> {
    let id = client_id("deposit_id", &input.deposit_id)?;
    let raw = money("amount", &input.amount)?;
    note("reference", &input.reference, 500)?;
    let scope = idem::scope(&["deposit"]);
    let resolved = currency(&input.currency).and_then(|c| Ok((c, positive("amount", &raw, c)?)));
    let (cur, amount) = idem::deferred(conn, &scope, &id, resolved)?;
    let canonical = json!({"currency": cur.code(), "amount": amount, "reference": input.reference}).to_string();
    if let Some(prev) = idem::check(conn, &scope, &id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    engine::deposit(&mut DbBooks { conn, now }, cur, amount, &id, now)?;
    repo::insert_deposit(conn, &id, cur.code(), amount, &input.reference, operator, now)?;
    let body = json!({"deposit_id": id, "currency": cur.code(), "amount": format_minor(amount, cur),
        "reference": input.reference, "recorded_at": format_ts(now, svc.tz)});
    repo::audit(conn, now, operator, "reserve.deposit", &id, &body.to_string())?;
    idem::remember(conn, &scope, &id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}
