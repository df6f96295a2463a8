//! The simulation's output: tables (CSV, JSON) and the text summary. Every decimal is printed
//! rounded half-even to 6 decimals; the fixed side prints money in its currency's minor unit.

use super::run::{Outcome, Reason};
use crate::domain::money::format_minor;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write as _;

/// Rounded half-even to 6 decimals, without trailing zeros ("1.428571", "21", "0").
pub fn d6(v: Decimal) -> String {
    v.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize().to_string()
}

/// A table: its header and its rows, all as text; CSV and JSON are both written from it.
pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

pub fn orders(o: &Outcome) -> Table {
    let cur = o.scenario.currency;
    Table {
        header: vec![
            "order",
            "period",
            "amount",
            "points_issued",
            "pool",
            "points_outstanding",
            "price",
            "sales",
            "cash_paid",
            "fixed_cashback",
        ],
        rows: o
            .orders
            .iter()
            .map(|r| {
                vec![
                    r.order.to_string(),
                    r.period.to_string(),
                    d6(r.amount),
                    d6(r.points_issued),
                    d6(r.pool),
                    d6(r.points_outstanding),
                    d6(r.price),
                    r.sales.to_string(),
                    d6(r.cash_paid),
                    format_minor(r.fixed_cashback_minor, cur),
                ]
            })
            .collect(),
    }
}

pub fn users(o: &Outcome) -> Table {
    let cur = o.scenario.currency;
    let price = o.end.price;
    Table {
        header: vec![
            "user",
            "period",
            "cohort",
            "spent",
            "value_at_issue",
            "cash_received",
            "sold_after_order",
            "sold_in_period",
            "sold_because",
            "points_held",
            "value_held",
            "outcome",
            "run_cash",
            "fixed_cashback",
        ],
        rows: o
            .users
            .iter()
            .map(|u| {
                let held = u.points_held * price;
                let (after, period, why) = match u.sold {
                    None => (String::new(), String::new(), String::new()),
                    Some((order, period, r)) => (
                        order.to_string(),
                        period.to_string(),
                        match r {
                            Reason::Policy => "policy",
                            Reason::ForcedExit => "forced_exit",
                        }
                        .to_string(),
                    ),
                };
                vec![
                    u.user.to_string(),
                    u.period.to_string(),
                    (u.cohort + 1).to_string(),
                    d6(u.spent),
                    d6(u.value_at_issue),
                    d6(u.cash),
                    after,
                    period,
                    why,
                    d6(u.points_held),
                    d6(held),
                    d6(u.cash + held),
                    d6(u.run_cash),
                    format_minor(u.fixed_cashback_minor, cur),
                ]
            })
            .collect(),
    }
}

pub fn cohorts(o: &Outcome) -> Table {
    let cur = o.scenario.currency;
    Table {
        header: vec![
            "cohort",
            "orders",
            "spent",
            "value_at_issue",
            "cash_received",
            "value_held",
            "outcome",
            "outcome_per_spent",
            "gain",
            "gain_paid_by_own",
            "gain_paid_by_earlier",
            "gain_paid_by_later",
            "later_share_of_gain",
            "left_in_pool_selling",
            "run_cash",
            "fixed_cashback",
            "fixed_per_spent",
            "fixed_paid_by_later",
        ],
        rows: o
            .cohorts
            .iter()
            .map(|c| {
                let fixed = Decimal::new(c.fixed_cashback_minor, cur.minor_units());
                vec![
                    (c.index + 1).to_string(),
                    format!("{}-{}", c.first_order, c.last_order),
                    d6(c.spent),
                    d6(c.value_at_issue),
                    d6(c.cash),
                    d6(c.held),
                    d6(c.outcome()),
                    d6(c.outcome() / c.spent),
                    d6(c.gain()),
                    d6(c.gain_own),
                    d6(c.gain_earlier),
                    d6(c.gain_later),
                    d6(c.later_share()),
                    d6(c.retained),
                    d6(c.run_cash),
                    format_minor(c.fixed_cashback_minor, cur),
                    d6(fixed / c.spent),
                    "0".to_string(),
                ]
            })
            .collect(),
    }
}

pub fn csv(t: &Table) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&t.header)?;
    for r in &t.rows {
        w.write_record(r)?;
    }
    Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

fn json_rows(t: &Table) -> serde_json::Value {
    t.rows
        .iter()
        .map(|r| t.header.iter().zip(r).map(|(h, v)| (h.to_string(), serde_json::Value::String(v.clone()))).collect())
        .collect::<Vec<serde_json::Map<_, _>>>()
        .into()
}

/// The summary's figures, by name: the text report and JSON both print these.
fn summary(o: &Outcome) -> Vec<(&'static str, String)> {
    let cur = o.scenario.currency;
    let m = |v: i64| format_minor(v, cur);
    let e = &o.end;
    let first = o.cohorts.first();
    vec![
        ("orders", o.scenario.orders().to_string()),
        ("spent", d6(o.spent)),
        ("pool.paid_in", d6(o.paid_into_pool)),
        ("pool.to_platform", d6(o.to_platform)),
        ("pool.to_referrers", d6(o.to_referrers)),
        ("pool.value_at_issue", d6(o.users.iter().map(|u| u.value_at_issue).sum())),
        ("pool.cash_paid_to_sellers", d6(o.cash_paid)),
        ("pool.price_at_end", d6(e.price)),
        ("pool.holders_at_end", e.holders.to_string()),
        ("pool.spent_by_holders", d6(e.spent_by_holders)),
        ("pool.value_held_at_end", d6(e.value_held)),
        ("pool.run_cash_if_all_sell", d6(e.run_cash)),
        ("pool.left_unclaimed_after_run", d6(e.unclaimed)),
        ("pool.first_cohort_outcome_per_spent", first.map(|c| d6(c.outcome() / c.spent)).unwrap_or_default()),
        ("pool.first_cohort_later_share_of_gain", first.map(|c| d6(c.later_share())).unwrap_or_default()),
        ("fixed.commission", m(o.fixed.commission_minor)),
        ("fixed.cashback", m(o.fixed.cashback_minor)),
        ("fixed.referral", m(o.fixed.referral_minor)),
        ("fixed.platform_share", m(o.fixed.platform_minor)),
        ("fixed.later_share_of_gain", "0".into()),
    ]
}

pub fn json(o: &Outcome) -> serde_json::Value {
    let summary: serde_json::Map<String, serde_json::Value> =
        summary(o).into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    serde_json::json!({
        "scenario": o.scenario.describe(),
        "summary": summary,
        "orders": json_rows(&orders(o)),
        "users": json_rows(&users(o)),
        "cohorts": json_rows(&cohorts(o)),
    })
}

/// Who got cash out of the pool, and when (each buyer's line: `--format csv --table users`).
fn sellers(o: &Outcome) -> String {
    let sold: Vec<_> = o.users.iter().filter_map(|u| u.sold.map(|s| (u, s))).collect();
    let Some(first) = sold.iter().min_by_key(|(_, s)| s.0) else {
        return "no buyer sold: every one still holds (per buyer: --format csv --table users)".into();
    };
    let last = sold.iter().max_by_key(|(_, s)| s.0).unwrap_or(first);
    let exits = sold.iter().filter(|(_, s)| s.2 == Reason::ForcedExit).count();
    let cash: Decimal = sold.iter().map(|(u, _)| u.cash).sum();
    let even = sold.iter().filter(|(u, _)| u.cash >= u.spent).count();
    format!(
        "{} {} sold ({} by their policy, {exits} by forced exit) for {} in cash, {even} of them at least what they \
         spent; the first after order {} (buyer {}), the last after order {} (per buyer: --format csv --table users)",
        sold.len(),
        if sold.len() == 1 { "buyer" } else { "buyers" },
        sold.len() - exits,
        d6(cash),
        first.1 .0,
        first.0.user,
        last.1 .0,
    )
}

/// The report a person reads: both models' totals, then the cohorts side by side.
pub fn text(o: &Outcome) -> String {
    let cur = o.scenario.currency;
    let code = cur.code();
    let s = summary(o);
    let get = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "cashback simulate: {}\n", o.scenario.describe());
    let _ = writeln!(out, "Buyers spent {} {code} on {} orders.\n", get("spent"), get("orders"));
    let _ = writeln!(out, "Points pool (its sellers' rules):");
    let _ = writeln!(out, "  paid into the pool            {}", get("pool.paid_in"));
    if o.scenario.platform_share > Decimal::ZERO {
        let _ =
            writeln!(out, "  to the platform / referrers   {} / {}", get("pool.to_platform"), get("pool.to_referrers"));
    }
    let _ = writeln!(out, "  value given at issue          {}", get("pool.value_at_issue"));
    let _ = writeln!(out, "  cash paid to sellers          {}", get("pool.cash_paid_to_sellers"));
    let _ = writeln!(out, "  {}", sellers(o));
    let _ = writeln!(
        out,
        "  when arrivals stop: {} holders, who spent {}, hold points worth {} at {} a point;",
        get("pool.holders_at_end"),
        get("pool.spent_by_holders"),
        get("pool.value_held_at_end"),
        get("pool.price_at_end")
    );
    let _ = writeln!(
        out,
        "  if they all sold, in order of arrival, they would get {} in cash and {} would stay in the pool, owned by no one.",
        get("pool.run_cash_if_all_sell"),
        get("pool.left_unclaimed_after_run")
    );
    let _ = writeln!(out, "\nFixed cashback (this ledger, DESIGN.md §3):");
    let _ = writeln!(
        out,
        "  commission {} {code}: cashback {}, referral {}, platform share {}",
        get("fixed.commission"),
        get("fixed.cashback"),
        get("fixed.referral"),
        get("fixed.platform_share")
    );
    let _ = writeln!(out, "  every buyer's cashback is money, fixed at checkout, funded by their own order: no one's depends on anyone after them.");
    let _ = writeln!(out, "\nCohorts (outcome = cash received + value still held; gain = outcome above the value at issue, before what selling left behind):");
    let _ = writeln!(
        out,
        "  {:>6} {:>13} {:>12} {:>12} {:>12} {:>9} {:>14} {:>12} {:>9}",
        "cohort", "orders", "spent", "pool outcome", "per spent", "gain", "paid by later", "fixed", "per spent"
    );
    for c in &o.cohorts {
        let fixed = Decimal::new(c.fixed_cashback_minor, cur.minor_units());
        let pct = |v: Decimal| format!("{}%", (v * Decimal::ONE_HUNDRED).round_dp(1));
        let _ = writeln!(
            out,
            "  {:>6} {:>13} {:>12} {:>12} {:>12} {:>9} {:>14} {:>12} {:>9}",
            c.index + 1,
            format!("{}-{}", c.first_order, c.last_order),
            c.spent.round_dp(2),
            c.outcome().round_dp(2),
            pct(c.outcome() / c.spent),
            c.gain().round_dp(2),
            pct(c.later_share()),
            format_minor(c.fixed_cashback_minor, cur),
            pct(fixed / c.spent),
        );
    }
    out
}
