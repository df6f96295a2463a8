//! Operator bookings (API.md §6, §11): merchant settlements, clawback write-offs, adjustments,
//! and the audit trail they leave. An operator can never create money for a user: an
//! adjustment credits a user only to correct a named entry, by at most that entry's amount.

use super::error::{err, ApiResult, Code};
use super::input::{client_id, currency, money, opt_money, text, timestamp};
use super::{cursor, idem, Outcome, Services};
use crate::domain::engine::{self, Settlement};
use crate::domain::ledger::{Account, Owner, Posting};
use crate::domain::money::{format_minor, Currency, RawAmount};
use crate::domain::time::{format_ts, start_of_day};
use crate::store::books::DbBooks;
use crate::store::{repo, DbConn};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A non-negative amount (settlement amounts may be "0.00").
fn zero_ok(field: &str, raw: &RawAmount, cur: Currency) -> ApiResult<i64> {
    raw.to_minor(cur).map_err(|e| err(Code::InvalidAmount, format!("{field}: {e}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub settlement_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::money)]
    pub commission_received: Value,
    #[schema(schema_with = crate::app::schema::money)]
    pub credit_paid: Value,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_money)]
    pub commission_refunded: Option<Value>,
    #[schema(schema_with = crate::app::schema::timestamp)]
    pub settled_at: String,
    #[schema(schema_with = crate::app::schema::text)]
    pub reference: String,
}

pub fn settle(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    merchant: &str,
    input: SettlementIn,
    now: i64,
) -> ApiResult<Outcome> {
    let id = client_id("settlement_id", &input.settlement_id)?;
    let received = money("commission_received", &input.commission_received)?;
    let paid = money("credit_paid", &input.credit_paid)?;
    let refunded = opt_money("commission_refunded", &input.commission_refunded)?;
    let settled_at = timestamp("settled_at", &input.settled_at)?;
    text("reference", &input.reference, 500)?;
    if repo::merchant(conn, merchant)?.is_none() {
        return Err(err(Code::NotFound, format!("no merchant {merchant:?}")));
    }
    let scope = idem::scope(&["settlement", merchant]);
    let resolved = currency(&input.currency).and_then(|c| {
        let r = refunded.as_ref().map(|r| zero_ok("commission_refunded", r, c)).transpose()?.unwrap_or(0);
        Ok((
            c,
            Settlement {
                commission_received: zero_ok("commission_received", &received, c)?,
                credit_paid: zero_ok("credit_paid", &paid, c)?,
                commission_refunded: r,
            },
        ))
    });
    let (cur, s) = idem::deferred(conn, &scope, &id, resolved)?;
    let canonical = json!({"currency": cur.code(), "received": s.commission_received, "paid": s.credit_paid,
        "refunded": s.commission_refunded, "settled_at": settled_at, "reference": input.reference})
    .to_string();
    if let Some(prev) = idem::check(conn, &scope, &id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    engine::settle(&mut DbBooks { conn, now }, merchant, cur, s, &id, settled_at)?;
    let amounts = (s.commission_received, s.credit_paid, s.commission_refunded);
    repo::insert_settlement(conn, merchant, &id, cur.code(), amounts, settled_at, &input.reference, operator, now)?;
    let m = |v| format_minor(v, cur);
    let body = json!({"settlement_id": id, "merchant_id": merchant, "currency": cur.code(),
        "commission_received": m(s.commission_received), "credit_paid": m(s.credit_paid),
        "commission_refunded": m(s.commission_refunded), "settled_at": format_ts(settled_at, svc.tz),
        "reference": input.reference, "recorded_at": format_ts(now, svc.tz)});
    repo::audit(conn, now, operator, "merchant.settlement", merchant, &body.to_string())?;
    idem::remember(conn, &scope, &id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteOffIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub writeoff_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::positive_money)]
    pub amount: Value,
    #[schema(schema_with = crate::app::schema::text)]
    pub reason: String,
}

pub fn write_off(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    user: &str,
    input: WriteOffIn,
    now: i64,
) -> ApiResult<Outcome> {
    let id = client_id("writeoff_id", &input.writeoff_id)?;
    let user = client_id("user_id", user)?;
    let raw = money("amount", &input.amount)?;
    text("reason", &input.reason, 500)?;
    if repo::user(conn, &user)?.is_none() {
        return Err(err(Code::NotFound, format!("no user {user:?}")));
    }
    let scope = idem::scope(&["writeoff"]);
    let resolved = currency(&input.currency).and_then(|c| Ok((c, super::input::positive("amount", &raw, c)?)));
    let (cur, amount) = idem::deferred(conn, &scope, &id, resolved)?;
    let canonical =
        json!({"user_id": user, "currency": cur.code(), "amount": amount, "reason": input.reason}).to_string();
    if let Some(prev) = idem::check(conn, &scope, &id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    engine::write_off(&mut DbBooks { conn, now }, &user, cur, amount, &id, now)?;
    repo::insert_writeoff(conn, &id, &user, cur.code(), amount, &input.reason, operator, now)?;
    let body = json!({"writeoff_id": id, "user_id": user, "currency": cur.code(), "amount": format_minor(amount, cur),
        "reason": input.reason, "operator": operator, "recorded_at": format_ts(now, svc.tz)});
    repo::audit(conn, now, operator, "clawback.write_off", &user, &body.to_string())?;
    idem::remember(conn, &scope, &id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentPostingIn {
    #[schema(schema_with = crate::app::schema::account)]
    pub account: String,
    #[serde(default)]
    #[schema(schema_with = crate::app::schema::opt_client_id)]
    pub owner: Option<String>,
    /// Signed: positive debits, negative credits.
    #[schema(schema_with = crate::app::schema::signed_money)]
    pub amount: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentIn {
    #[schema(schema_with = crate::app::schema::client_id)]
    pub adjustment_id: String,
    #[schema(schema_with = crate::app::schema::currency)]
    pub currency: String,
    #[schema(schema_with = crate::app::schema::text)]
    pub reason: String,
    /// The entry this corrects (an `entry_id` as the exports and the wallet show it).
    #[schema(schema_with = crate::app::schema::entry_id)]
    pub corrects_entry_id: Value,
    #[schema(min_items = 1, max_items = 100)]
    pub postings: Vec<AdjustmentPostingIn>,
}

/// A signed amount: an optional leading '-' and the money grammar.
fn signed(field: &str, v: &Value) -> ApiResult<(bool, RawAmount)> {
    let s = v.as_str().ok_or_else(|| err(Code::InvalidAmount, format!("{field} must be a decimal string")))?;
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let raw = RawAmount::parse(rest).map_err(|e| err(Code::InvalidAmount, format!("{field}: {e}")))?;
    Ok((neg, raw))
}

pub fn adjust(conn: &mut DbConn, svc: &Services, operator: &str, input: AdjustmentIn, now: i64) -> ApiResult<Outcome> {
    let id = client_id("adjustment_id", &input.adjustment_id)?;
    text("reason", &input.reason, 500)?;
    let corrects = match &input.corrects_entry_id {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f < 9.0e15).map(|f| f as i64))
        }
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| err(Code::InvalidRequest, "corrects_entry_id must be an entry id"))?;
    if input.postings.is_empty() || input.postings.len() > 100 {
        return Err(err(Code::InvalidRequest, "an adjustment has 1-100 postings"));
    }
    let mut parsed = Vec::new();
    for (i, p) in input.postings.iter().enumerate() {
        let account = Account::parse(&p.account).ok_or_else(|| {
            err(Code::InvalidRequest, format!("postings[{i}].account is not an account of the ledger"))
        })?;
        let owner = match (account.owner(), &p.owner) {
            (Owner::Platform, None) => String::new(),
            (Owner::Platform, Some(_)) => {
                return Err(err(Code::InvalidRequest, format!("postings[{i}]: {} has no owner", account.name())))
            }
            (_, Some(o)) => client_id(&format!("postings[{i}].owner"), o)?,
            (_, None) => {
                return Err(err(Code::InvalidRequest, format!("postings[{i}]: {} needs an owner", account.name())))
            }
        };
        parsed.push((account, owner, signed(&format!("postings[{i}].amount"), &p.amount)?));
    }
    let scope = idem::scope(&["adjustment"]);
    let resolved = currency(&input.currency).and_then(|c| {
        parsed
            .iter()
            .enumerate()
            .map(|(i, (a, o, (neg, raw)))| {
                let v = super::input::positive(&format!("postings[{i}].amount"), raw, c)?;
                Ok(Posting::new(*a, o, if *neg { -v } else { v }))
            })
            .collect::<ApiResult<Vec<Posting>>>()
            .map(|ps| (c, ps))
    });
    let (cur, postings) = idem::deferred(conn, &scope, &id, resolved)?;
    let canonical = json!({"currency": cur.code(), "reason": input.reason, "corrects": corrects,
        "postings": postings.iter().map(|p| (p.account.name(), &p.owner, p.amount)).collect::<Vec<_>>()})
    .to_string();
    if let Some(prev) = idem::check(conn, &scope, &id, &canonical)? {
        return Ok(Outcome::Replayed(prev));
    }
    let invalid = |why: String| err(Code::AdjustmentInvalid, why);
    let (entry_cur, named) =
        repo::entry_postings(conn, corrects)?.ok_or_else(|| invalid(format!("there is no entry {corrects}")))?;
    if entry_cur != cur.code() {
        return Err(invalid(format!("entry {corrects} is in {entry_cur}, not {cur}")));
    }
    if repo::entry_kind(conn, corrects)?.as_deref() == Some("adjustment") {
        return Err(invalid("an adjustment corrects a business entry, not another adjustment".into()));
    }
    // What a user gains: credits to their liability accounts and to their clawback debt.
    let gains = |ps: &mut dyn Iterator<Item = (Account, String, i64)>| {
        let mut by_user: BTreeMap<String, i64> = BTreeMap::new();
        for (a, o, v) in ps {
            if a.owner() == Owner::User {
                *by_user.entry(o).or_default() -= v;
            }
        }
        by_user
    };
    // Per user, what the named entry moved for them: the larger of its debits and credits on
    // that user's accounts. A user the entry did not touch may not be credited at all.
    let mut moved: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (a, o, v) in &named {
        if a.owner() == Owner::User {
            let m = moved.entry(o.clone()).or_default();
            if *v > 0 {
                m.0 += v;
            } else {
                m.1 -= v;
            }
        }
    }
    let entry_amount: i64 = named.iter().map(|(_, _, v)| (*v).max(0)).sum();
    let earlier = repo::adjustment_postings_of(conn, corrects)?;
    let before = gains(&mut earlier.into_iter());
    let now_gains = gains(&mut postings.iter().map(|p| (p.account, p.owner.clone(), p.amount)));
    let mut credited = 0;
    for (user, gain) in &now_gains {
        if *gain <= 0 {
            continue;
        }
        let total = gain + before.get(user).copied().unwrap_or(0);
        let cap = moved.get(user).map(|(d, c)| *d.max(c)).unwrap_or(0);
        if total > cap {
            return Err(invalid(format!(
                "it credits {user} {} {cur} in all, above the {} {cur} entry {corrects} moved for them",
                format_minor(total, cur),
                format_minor(cap, cur)
            )));
        }
        credited += total;
    }
    let others: i64 = before.iter().filter(|(u, g)| **g > 0 && !now_gains.contains_key(*u)).map(|(_, g)| *g).sum();
    if credited + others > entry_amount {
        return Err(invalid(format!("the adjustments of entry {corrects} would credit users more than its amount")));
    }
    engine::adjust(&mut DbBooks { conn, now }, cur, &postings, &id, now)?;
    repo::insert_adjustment(conn, &id, cur.code(), corrects, &input.reason, operator, now)?;
    let body = json!({"adjustment_id": id, "currency": cur.code(), "reason": input.reason,
        "corrects_entry_id": corrects.to_string(), "operator": operator, "recorded_at": format_ts(now, svc.tz),
        "postings": postings.iter().map(|p| json!({"account": p.account.name(),
            "owner": (!p.owner.is_empty()).then_some(&p.owner), "amount": format_minor(p.amount, cur)})).collect::<Vec<_>>()});
    repo::audit(conn, now, operator, "adjustment", &id, &body.to_string())?;
    idem::remember(conn, &scope, &id, &canonical, &body, now)?;
    Ok(Outcome::Created(body))
}

/// A report bound: a date (00:00 of that day in the business time zone) or an RFC 3339 instant.
pub fn bound(field: &str, v: &str, svc: &Services) -> ApiResult<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(start_of_day(d, svc.tz));
    }
    timestamp(field, v)
        .map_err(|_| err(Code::InvalidRequest, format!("{field} must be a date (2026-11-01) or an RFC 3339 instant")))
}

/// The audit trail: every operator action, oldest first, with the operator's name.
pub fn audit(
    conn: &mut DbConn,
    svc: &Services,
    from: Option<&str>,
    to: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<Value> {
    let from = from.map(|f| bound("from", f, svc)).transpose()?.unwrap_or(i64::MIN);
    let to = to.map(|t| bound("to", t, svc)).transpose()?.unwrap_or(i64::MAX);
    let after: i64 = after.map(cursor::decode).transpose()?.unwrap_or(0);
    let limit = cursor::limit(limit, 100, 1000)?;
    let rows = repo::audit_page(conn, from, to, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let shown = &rows[..rows.len().min(limit as usize)];
    let next = more.then(|| shown.last().map(|r| cursor::encode(&r.0))).flatten();
    let items: Vec<Value> = shown
        .iter()
        .map(|(id, at, op, action, target, detail)| {
            json!({"id": id.to_string(), "at": format_ts(*at, svc.tz), "operator": op, "action": action,
                "target": target, "detail": serde_json::from_str::<Value>(detail).unwrap_or(Value::Null)})
        })
        .collect();
    Ok(json!({"audit": items, "next_cursor": next}))
}
