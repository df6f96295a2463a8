//! The wallet's balances and terms (API.md §9), from the user's point of view.

use super::error::ApiResult;
use super::{programs, Services};
use crate::domain::ledger::Account;
use crate::domain::money::{format_minor, Currency};
use crate::domain::time::format_ts;
use crate::store::{repo, DbConn};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
struct Sums {
    available: i64,
    debt: i64,
    pending: i64,
    held: i64,
    withdrawing: i64,
    lifetime: i64,
    next_release: Option<i64>,
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
    let mut merchants: BTreeSet<(String, String)> = BTreeSet::new();
    for o in repo::orders_touching(conn, user)? {
        let d = o.to_domain();
        let net = d.booked.minus(&d.reversed);
        let s = by_cur.entry(o.currency.clone()).or_default();
        let share = if o.user_id == user { net.cashback } else { net.referral };
        s.lifetime += share;
        if o.released_at.is_none() && o.status == "pending" && share > 0 {
            s.next_release = Some(s.next_release.map_or(o.release_at, |t: i64| t.min(o.release_at)));
        }
        if o.user_id == user {
            merchants.insert((o.merchant_id.clone(), o.currency.clone()));
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
                "withdrawal": {"minimum": m(c.scale()), "fee": m(0)},
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
