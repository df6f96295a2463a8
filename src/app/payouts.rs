//! Payout batches and the payouts export (API.md §11): a batch moves every requested
//! withdrawal of a currency to `processing` and lists it once, so no batch pays one twice.

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency};
use super::{idem, Outcome, Services};
use crate::domain::engine::WithdrawalStatus;
use crate::domain::money::{format_minor, Currency};
use crate::domain::time::format_ts;
use crate::store::repo::{self, WithdrawalRow};
use crate::store::DbConn;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub batch_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
}

const COLUMNS: [&str; 12] = [
    "withdrawal_id",
    "user_id",
    "currency",
    "amount",
    "fee",
    "net",
    "destination",
    "status",
    "batch_id",
    "reference",
    "requested_at",
    "updated_at",
];

fn rows_csv(rows: &[WithdrawalRow], svc: &Services) -> ApiResult<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| err(Code::Internal, e.to_string());
    w.write_record(COLUMNS).map_err(fail)?;
    for r in rows {
        let c = Currency::parse(&r.currency).expect("stored currency");
        w.write_record([
            r.withdrawal_id.clone(),
            r.user_id.clone(),
            r.currency.clone(),
            format_minor(r.amount_minor, c),
            format_minor(r.fee_minor, c),
            format_minor(r.amount_minor - r.fee_minor, c),
            r.destination.clone(),
            r.status.clone(),
            r.batch_id.clone().unwrap_or_default(),
            r.reference.clone().unwrap_or_default(),
            format_ts(r.requested_at, svc.tz),
            format_ts(r.updated_at, svc.tz),
        ])
        .map_err(fail)?;
    }
    String::from_utf8(w.into_inner().map_err(|e| err(Code::Internal, e.to_string()))?)
        .map_err(|e| err(Code::Internal, e.to_string()))
}

/// Creates a batch; answers its CSV (the same CSV again for the same batch id).
pub fn batch(conn: &mut DbConn, svc: &Services, operator: &str, input: BatchIn, now: i64) -> ApiResult<Outcome> {
    let id = client_id("batch_id", &input.batch_id)?;
    let scope = idem::scope(&["payout-batch"]);
    let cur = idem::deferred(conn, &scope, &id, currency(&input.currency))?;
    let canonical = json!({"currency": cur.code()}).to_string();
    if let Some(prev) = idem::check(conn, &scope, &id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    let mut rows =
        repo::withdrawals_in(conn, i64::MIN, i64::MAX, Some(WithdrawalStatus::Requested.as_str()), Some(cur.code()))?;
    for r in rows.iter_mut() {
        r.status = WithdrawalStatus::Processing.as_str().to_string();
        r.batch_id = Some(id.clone());
        r.updated_at = now;
        repo::save_withdrawal_state(conn, r)?;
    }
    let csv = rows_csv(&rows, svc)?;
    repo::audit(
        conn,
        now,
        operator,
        "payout_batch.create",
        &id,
        &json!({"currency": cur.code(), "withdrawals": rows.len()}).to_string(),
    )?;
    // Remembered as the CSV text itself: a retry answers the same file.
    repo::remember(conn, &scope, &id, &canonical, &csv, now)?;
    Ok(Outcome::Created(Value::String(csv)))
}

/// Withdrawals requested in [from, to), read only.
pub fn export(conn: &mut DbConn, svc: &Services, from: i64, to: i64, status: Option<&str>) -> ApiResult<String> {
    if let Some(s) = status {
        if !matches!(s, "requested" | "processing" | "paid" | "rejected") {
            return Err(err(Code::InvalidRequest, "status must be requested, processing, paid or rejected"));
        }
    }
    rows_csv(&repo::withdrawals_in(conn, from, to, status, None)?, svc)
}

/// The audit trail as CSV.
pub fn audit_csv(conn: &mut DbConn, svc: &Services, from: i64, to: i64) -> ApiResult<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| err(Code::Internal, e.to_string());
    w.write_record(["id", "at", "operator", "action", "target", "detail"]).map_err(fail)?;
    let mut after = 0;
    loop {
        let rows = repo::audit_page(conn, from, to, after, 1000)?;
        for (id, at, op, action, target, detail) in &rows {
            w.write_record([
                id.to_string(),
                format_ts(*at, svc.tz),
                op.clone(),
                action.clone(),
                target.clone(),
                detail.clone(),
            ])
            .map_err(fail)?;
        }
        match rows.last() {
            Some(r) if rows.len() == 1000 => after = r.0,
            _ => break,
        }
    }
    String::from_utf8(w.into_inner().map_err(|e| err(Code::Internal, e.to_string()))?)
        .map_err(|e| err(Code::Internal, e.to_string()))
}
