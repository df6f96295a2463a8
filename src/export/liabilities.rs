//! The liability roll-forward per currency: what the platform owes users at the start of the
//! period, each kind of movement booked in it, and what it owes at the end, each line summed
//! from the journal; then the clawback receivable rolled forward on its own (never netted
//! against the liabilities). Each closes with a row saying whether it ties to the trial balance.

use super::{each_posting, totals_before, Totals};
use crate::domain::ledger::{Account, Owner};
use crate::domain::money::{format_minor, Currency};
use crate::store::DbConn;
use std::collections::BTreeMap;
use std::io::Write;

const LIABILITY_LINES: [&str; 9] = [
    "earned",
    "reversed",
    "clawback_repaid",
    "spent_as_credit",
    "credit_refunded",
    "withdrawn",
    "fees",
    "adjustments",
    "other",
];
const CLAWBACK_LINES: [&str; 4] = ["clawed_back", "repaid", "written_off", "adjustments"];

fn is_liability(a: Account) -> bool {
    matches!(a, Account::Pending | Account::Available | Account::Held | Account::Withdrawing)
}

/// (user liabilities, clawback receivable) per currency, from totals, user's view / asset view.
fn positions(t: &Totals) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for ((cur, acct, _), (dr, cr)) in t {
        let Some(a) = Account::parse(acct) else { continue };
        let e = out.entry(cur.clone()).or_default();
        if is_liability(a) {
            e.0 += cr - dr;
        } else if a == Account::ClawbackReceivable {
            e.1 += dr - cr;
        }
    }
    out
}

#[derive(Default)]
struct Lines {
    liab: BTreeMap<&'static str, i64>,
    claw: BTreeMap<&'static str, i64>,
}

/// Books one entry's movements into the lines: `liab` is the change of what users are owed,
/// `repaid` the clawback debt its credits repaid.
fn classify(lines: &mut Lines, kind: &str, liab: i64, claw_debits: i64, claw_credits: i64) {
    let (repaid_kinds, l) = (
        matches!(kind, "release" | "void" | "hold_expired" | "capture" | "credit_refund" | "withdrawal_rejected"),
        &mut lines.liab,
    );
    let line = match kind {
        "order_paid" => "earned",
        "refund" => "reversed",
        "capture" => "spent_as_credit",
        "credit_refund" => "credit_refunded",
        "withdrawal_paid" => "withdrawn",
        "withdrawal_requested" | "withdrawal_rejected" => "fees",
        "adjustment" => "adjustments",
        _ => "other",
    };
    if repaid_kinds {
        // The repaid debt is shown on its own line; the rest stays with the event.
        *l.entry(line).or_default() += liab + claw_credits;
        *l.entry("clawback_repaid").or_default() -= claw_credits;
    } else {
        *l.entry(line).or_default() += liab;
    }
    let c = &mut lines.claw;
    match kind {
        "clawback_write_off" => *c.entry("written_off").or_default() -= claw_credits,
        "adjustment" => *c.entry("adjustments").or_default() += claw_debits - claw_credits,
        _ => {
            *c.entry("clawed_back").or_default() += claw_debits;
            *c.entry("repaid").or_default() -= claw_credits;
        }
    }
}

pub fn write(conn: &mut DbConn, from: i64, to: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let opening = positions(&totals_before(conn, from)?);
    let closing_tb = positions(&totals_before(conn, to)?);
    let mut lines: BTreeMap<String, Lines> = BTreeMap::new();
    // One entry at a time: (entry id, kind, currency, liability change, clawback debits, credits).
    let mut cur_entry: Option<(i64, String, String, i64, i64, i64)> = None;
    let flush = |e: Option<(i64, String, String, i64, i64, i64)>, lines: &mut BTreeMap<String, Lines>| {
        if let Some((_, kind, c, liab, dr, cr)) = e {
            classify(lines.entry(c).or_default(), &kind, liab, dr, cr);
        }
    };
    each_posting(conn, from, to, |r| {
        if cur_entry.as_ref().map(|e| e.0) != Some(r.entry_id) {
            flush(cur_entry.take(), &mut lines);
            cur_entry = Some((r.entry_id, r.kind.to_string(), r.currency.to_string(), 0, 0, 0));
        }
        let e = cur_entry.as_mut().expect("an entry is open");
        if let Some(a) = Account::parse(r.account).filter(|a| a.owner() == Owner::User) {
            if is_liability(a) {
                e.3 -= r.amount_minor;
            } else if r.amount_minor > 0 {
                e.4 += r.amount_minor;
            } else {
                e.5 -= r.amount_minor;
            }
        }
        Ok(())
    })?;
    flush(cur_entry.take(), &mut lines);
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(["currency", "section", "line", "amount"])?;
    let mut currencies: Vec<String> = opening.keys().chain(closing_tb.keys()).chain(lines.keys()).cloned().collect();
    currencies.sort();
    currencies.dedup();
    for code in currencies {
        let c = Currency::parse(&code).expect("stored currency");
        let m = |v: i64| format_minor(v, c);
        let (open_l, open_c) = opening.get(&code).copied().unwrap_or_default();
        let (tb_l, tb_c) = closing_tb.get(&code).copied().unwrap_or_default();
        let l = lines.remove(&code).unwrap_or_default();
        for (section, open, names, got, tb) in [
            ("liabilities", open_l, &LIABILITY_LINES[..], &l.liab, tb_l),
            ("clawback_receivable", open_c, &CLAWBACK_LINES[..], &l.claw, tb_c),
        ] {
            w.write_record([code.as_str(), section, "opening", &m(open)])?;
            let mut close = open;
            for name in names {
                let v = got.get(name).copied().unwrap_or(0);
                close += v;
                w.write_record([code.as_str(), section, name, &m(v)])?;
            }
            w.write_record([code.as_str(), section, "closing", &m(close)])?;
            w.write_record([code.as_str(), section, "ties_to_trial_balance", if close == tb { "yes" } else { "no" }])?;
        }
    }
    w.flush()?;
    Ok(())
}
