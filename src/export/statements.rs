//! Merchant statements for a period: per merchant and currency, the orders booked and their
//! split, refunds and what they reversed, store credit spent at the merchant and returned,
//! settlements, and the receivable and payable at both ends, with a check that they tie.

use super::{each_posting, totals_before};
use crate::domain::ledger::Account;
use crate::domain::money::{format_minor, Currency};
use crate::store::{repo, DbConn};
use std::collections::BTreeMap;
use std::io::Write;

const COLUMNS: [&str; 26] = [
    "merchant_id",
    "currency",
    "orders",
    "gross",
    "commission",
    "cashback",
    "referral",
    "platform",
    "refunds",
    "refunded",
    "commission_reversed",
    "cashback_reversed",
    "referral_reversed",
    "platform_reversed",
    "credit_spent",
    "credit_refunded",
    "commission_received",
    "credit_paid",
    "commission_refunded",
    "opening_receivable",
    "closing_receivable",
    "opening_payable",
    "closing_payable",
    "adjustments_receivable",
    "adjustments_payable",
    "ties",
];

#[derive(Default, Clone, Copy)]
struct Row {
    orders: i64,
    gross: i64,
    commission: i64,
    cashback: i64,
    referral: i64,
    platform: i64,
    refunds: i64,
    refunded: i64,
    rev: [i64; 4],
    credit_spent: i64,
    credit_refunded: i64,
    received: i64,
    paid: i64,
    refunded_commission: i64,
    adj_receivable: i64,
    adj_payable: i64,
}

pub fn write(conn: &mut DbConn, from: i64, to: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    for o in repo::orders_booked_in(conn, from, to)? {
        let r = rows.entry((o.merchant_id.clone(), o.currency.clone())).or_default();
        r.orders += 1;
        r.gross += o.amount_minor;
        r.commission += o.commission_minor;
        r.cashback += o.cashback_minor;
        r.referral += o.referral_minor;
        r.platform += o.platform_minor;
    }
    for (f, cur) in repo::refunds_recorded_in(conn, from, to)? {
        let r = rows.entry((f.merchant_id.clone(), cur)).or_default();
        r.refunds += 1;
        r.refunded += f.amount_minor;
        for (i, v) in [f.commission_minor, f.cashback_minor, f.referral_minor, f.platform_minor].into_iter().enumerate()
        {
            r.rev[i] += v;
        }
    }
    each_posting(conn, from, to, |p| {
        let merchant_account =
            p.account == Account::MerchantPayable.name() || p.account == Account::MerchantReceivable.name();
        if merchant_account {
            let r = rows.entry((p.owner.to_string(), p.currency.to_string())).or_default();
            let payable = p.account == Account::MerchantPayable.name();
            match (p.kind, payable) {
                ("capture", true) => r.credit_spent -= p.amount_minor,
                ("credit_refund", true) => r.credit_refunded += p.amount_minor,
                ("adjustment", true) => r.adj_payable -= p.amount_minor,
                ("adjustment", false) => r.adj_receivable += p.amount_minor,
                _ => {}
            }
        }
        Ok(())
    })?;
    for (m, cur, received, paid, refunded) in repo::settlements_recorded_in(conn, from, to)? {
        let r = rows.entry((m, cur)).or_default();
        r.received += received;
        r.paid += paid;
        r.refunded_commission += refunded;
    }
    let (open, close) = (totals_before(conn, from)?, totals_before(conn, to)?);
    let bal = |t: &super::Totals, cur: &str, acct: Account, m: &str| {
        t.get(&(cur.to_string(), acct.name().to_string(), m.to_string())).map(|(d, c)| d - c).unwrap_or(0)
    };
    // Merchants with a receivable or payable but no activity in the period still get a row.
    for ((cur, acct, owner), _) in close.iter().chain(open.iter()) {
        if acct == Account::MerchantReceivable.name() || acct == Account::MerchantPayable.name() {
            rows.entry((owner.clone(), cur.clone())).or_default();
        }
    }
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for ((m, cur), r) in &rows {
        let c = Currency::parse(cur).expect("stored currency");
        let f = |v: i64| format_minor(v, c);
        let (or, cr) =
            (bal(&open, cur, Account::MerchantReceivable, m), bal(&close, cur, Account::MerchantReceivable, m));
        let (op, cp) = (-bal(&open, cur, Account::MerchantPayable, m), -bal(&close, cur, Account::MerchantPayable, m));
        let ties = or + r.commission - r.rev[0] - r.received + r.refunded_commission + r.adj_receivable == cr
            && op + r.credit_spent - r.credit_refunded - r.paid + r.adj_payable == cp;
        w.write_record([
            m.clone(),
            cur.clone(),
            r.orders.to_string(),
            f(r.gross),
            f(r.commission),
            f(r.cashback),
            f(r.referral),
            f(r.platform),
            r.refunds.to_string(),
            f(r.refunded),
            f(r.rev[0]),
            f(r.rev[1]),
            f(r.rev[2]),
            f(r.rev[3]),
            f(r.credit_spent),
            f(r.credit_refunded),
            f(r.received),
            f(r.paid),
            f(r.refunded_commission),
            f(or),
            f(cr),
            f(op),
            f(cp),
            f(r.adj_receivable),
            f(r.adj_payable),
            if ties { "yes" } else { "no" }.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
