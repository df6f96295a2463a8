//! The wallet's balances and terms (API.md §9), from the user's point of view.

use super::error::ApiResult;
use super::{programs, Services};
use crate::domain::ledger::Account;
use crate::domain::money::{format_minor, Currency};
use crate::domain::time::format_ts;
use crate::store::{repo, DbConn};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Default)]
struct Sums {
    available: i64,
    debt: i64,
    pending: i64,
    held: i64,
    withdrawing: i64,
    lifetime: i64,
    next_release: Option<i64>,
    minimum: i64,
    fee: i64,
}

pub fn get(conn: &mut DbConn, svc: &Services, user: &str) -> ApiResult<Value> {
    let mut by_cur: BTreeMap<String, Sums> = BTreeMap::new();
    for (cur, account, v) in repo::user_balances(conn, user)? {
        let s = by_cur.entry(cur).or_default();
        match Account::parse(&account) {
            Some(Account::Available) => s.available = -v,
            Some(Account::ClawbackReceivable) => s.debt = v,
            Some(Account::Pending) => s.pending = -v,
            Some(Account::Held) => s.held = -v,
            Some(Account::Withdrawing) => s.withdrawing = -v,
            _ => {}
        }
    }
    for e in repo::earned(conn, user)? {
        let s = by_cur.entry(e.currency).or_default();
        s.lifetime = e.lifetime_minor;
        s.next_release = e.next_release_at;
    }
    let merchants = repo::merchants_bought_from(conn, user)?;
    for (code, s) in by_cur.iter_mut() {
        if let Some(c) = Currency::parse(code) {
            (s.minimum, s.fee) = super::withdrawals::settings(conn, c)?;
        }
    }
    let balances: Vec<Value> = by_cur
        .iter()
        .filter_map(|(code, s)| Currency::parse(code).map(|c| (c, s)))
        .map(|(c, s)| {
            let m = |v| format_minor(v, c);
            json!({
                "currency": c.code(),
                "available": m(s.available - s.debt),
                "pending": m(s.pending),
                "held": m(s.held),
                "withdrawing": m(s.withdrawing),
                "lifetime_earned": m(s.lifetime),
                "next_release_at": s.next_release.map(|t| format_ts(t, svc.tz)),
                "withdrawal": {"minimum": m(s.minimum), "fee": m(s.fee)},
            })
        })
        .collect();
    let mut terms = Vec::new();
    for (merchant, cur) in merchants {
        if let Some(row) = repo::current_program(conn, &merchant, &cur)? {
            let p = programs::to_domain(&row);
            let m = |v| format_minor(v, p.currency);
            terms.push(json!({
                "merchant_id": merchant, "currency": cur,
                "cashback_rate": p.rates.cashback.to_string(), "referral_rate": p.rates.referral.to_string(),
                "hold_days": p.hold_days, "per_order_cap": p.per_order_cap.map(m),
                "monthly_cap_per_user": p.monthly_cap_per_user.map(m), "expiry": "none",
            }));
        }
    }
    Ok(json!({"user_id": user, "balances": balances, "terms": terms}))
}

/// What a posting means to the user (API.md §9 `kind`).
fn kind(entry: &str, account: Account, to_buyer: bool) -> &str {
    let clawback = account == Account::ClawbackReceivable;
    match entry {
        "order_paid" if to_buyer => "order_paid",
        "order_paid" => "referral",
        "refund" if clawback => "clawback",
        "clawback_write_off" => "clawback_written_off",
        "hold" | "withdrawal_requested" | "withdrawal_paid" | "refund" | "adjustment" => entry,
        _ if clawback => "clawback_repaid",
        other => other,
    }
}

fn bucket(account: Account) -> &'static str {
    match account {
        Account::Pending => "pending",
        Account::Available => "available",
        Account::Held => "held",
        Account::Withdrawing => "withdrawing",
        _ => "clawback",
    }
}

/// One item per posting on the user's accounts, newest first, paged by an opaque cursor.
pub fn entries(
    conn: &mut DbConn,
    svc: &Services,
    user: &str,
    currency: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<Value> {
    let limit = super::cursor::limit(limit, 50, 200)?;
    let before: Option<(i64, i64)> = cursor.map(super::cursor::decode).transpose()?;
    if let Some(c) = currency {
        super::input::currency(c)?;
    }
    let rows = repo::user_postings(conn, user, currency, before, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let shown = &rows[..rows.len().min(limit as usize)];
    // The buyer of each order on the page (cashback or referral), looked up for the page's rows
    // only: a join would look up every posting of the user before the page is cut (tried:
    // p50 3 ms became 800 ms for users with many referrals).
    let mut buyers: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut items = Vec::with_capacity(shown.len());
    for p in shown {
        let account = Account::from_code(p.account_code).expect("stored account code");
        let to_buyer = match (&p.merchant_id, &p.order_id) {
            (Some(m), Some(o)) if p.kind == "order_paid" => {
                let key = (m.clone(), o.clone());
                if !buyers.contains_key(&key) {
                    let buyer = repo::order(conn, m, o)?.map(|o| o.user_id);
                    buyers.insert(key.clone(), buyer);
                }
                buyers[&key].as_deref() == Some(user)
            }
            _ => false,
        };
        let cur = Currency::parse(&p.currency).expect("stored currency");
        items.push(json!({
            "id": p.id.to_string(),
            "entry_id": p.entry_id.to_string(),
            "at": format_ts(p.recorded_at, svc.tz),
            "occurred_at": format_ts(p.occurred_at, svc.tz),
            "kind": kind(&p.kind, account, to_buyer),
            "currency": p.currency,
            "amount": format_minor(-p.amount_minor, cur),
            "bucket": bucket(account),
            "merchant_id": p.merchant_id,
            "order_id": p.order_id,
        }));
    }
    let next = more.then(|| shown.last().map(|p| super::cursor::encode(&(p.recorded_at, p.id)))).flatten();
    Ok(json!({"entries": items, "next_cursor": next}))
}

/// Cashback and referral rewards earned per calendar month of the business time zone (net of
/// reversals), for the last `months` months up to `now`: (label "2026-11", minor units).
pub fn monthly_earnings(
    conn: &mut DbConn,
    svc: &Services,
    user: &str,
    currency: &str,
    now: i64,
    months: usize,
) -> ApiResult<Vec<(String, i64)>> {
    use chrono::{Datelike, TimeZone};
    let local = |t: i64| svc.tz.timestamp_opt(t, 0).single().map(|d| (d.year(), d.month())).unwrap_or((1970, 1));
    let (mut y, mut m) = local(now);
    let mut out = Vec::with_capacity(months);
    for _ in 0..months {
        out.push(((y, m), 0i64));
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    }
    out.reverse();
    // Only the months shown are read: from the first instant of the first one (or everything,
    // should that midnight not exist in the zone).
    let Some(&((y0, m0), _)) = out.first() else { return Ok(Vec::new()) };
    let since = svc.tz.with_ymd_and_hms(y0, m0, 1, 0, 0, 0).earliest().map_or(i64::MIN, |d| d.timestamp());
    for (paid_at, share) in repo::shares_since(conn, user, currency, since)? {
        if let Some(slot) = out.iter_mut().find(|(ym, _)| *ym == local(paid_at)) {
            slot.1 += share;
        }
    }
    Ok(out.into_iter().map(|((y, m), v)| (format!("{y}-{m:02}"), v)).collect())
}

/// The payout destinations the user's shop registered.
pub fn destinations(conn: &mut DbConn, user: &str) -> ApiResult<Vec<String>> {
    Ok(repo::user(conn, user)?.and_then(|u| serde_json::from_str(&u.payout_destinations).ok()).unwrap_or_default())
}
