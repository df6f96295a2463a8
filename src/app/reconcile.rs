//! Reconciliation (API.md §11): the shop's order report against the ledger's orders of that
//! merchant with `paid_at` in [from, to). Each difference is a row; none means both agree.
//! Shop webhook deliveries parked as exceptions in that period are rows too (`hook_exception`).

use super::error::{err, ApiResult, Code};
use crate::domain::money::{format_minor, Currency, RawAmount};
use crate::store::repo::{self, OrderRow};
use crate::store::DbConn;
use std::collections::{BTreeMap, BTreeSet};

pub const HEADER: [&str; 10] = [
    "kind",
    "order_id",
    "currency",
    "shop_amount",
    "ledger_amount",
    "shop_refunded",
    "ledger_refunded",
    "shop_status",
    "ledger_status",
    "detail",
];

struct ShopRow {
    order_id: String,
    currency: String,
    amount: String,
    refunded: String,
    status: String,
}

fn parse(file: &[u8]) -> ApiResult<Vec<ShopRow>> {
    let bad = |d: String| err(Code::InvalidRequest, d);
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(file);
    let headers = r.headers().map_err(|e| bad(format!("the file is not CSV: {e}")))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| bad(format!("the file has no {name} column")))
    };
    let (o, c, a, f, s) = (col("order_id")?, col("currency")?, col("amount")?, col("refunded")?, col("status")?);
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        let get = |k: usize| rec.get(k).unwrap_or("").to_string();
        let status = get(s);
        if !matches!(status.as_str(), "paid" | "refunded" | "cancelled") {
            return Err(bad(format!("line {}: status must be paid, refunded or cancelled", i + 2)));
        }
        rows.push(ShopRow { order_id: get(o), currency: get(c), amount: get(a), refunded: get(f), status });
    }
    Ok(rows)
}

/// Money in the file, judged in its currency; unparseable money is reported as it stands.
fn minor(text: &str, cur: Option<Currency>) -> Option<i64> {
    let cur = cur?;
    let t = if text.is_empty() { "0" } else { text };
    RawAmount::parse(t).ok()?.to_minor(cur).ok()
}

fn status_matches(shop: &str, ledger: &str) -> bool {
    match shop {
        "paid" => matches!(ledger, "pending" | "released"),
        s => s == ledger,
    }
}

/// The differences as CSV rows (header first) and how many there are.
pub fn run(conn: &mut DbConn, merchant: &str, from: i64, to: i64, file: &[u8]) -> ApiResult<(String, usize)> {
    if repo::merchant(conn, merchant)?.is_none() {
        return Err(err(Code::NotFound, format!("no merchant {merchant:?}")));
    }
    let shop = parse(file)?;
    let expected: BTreeMap<String, OrderRow> =
        repo::orders_paid_in(conn, merchant, from, to)?.into_iter().map(|o| (o.order_id.clone(), o)).collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(HEADER).map_err(|e| err(Code::Internal, e.to_string()))?;
    let mut n = 0;
    let mut row = |out: &mut csv::Writer<Vec<u8>>, fields: [&str; 10]| -> ApiResult<()> {
        n += 1;
        out.write_record(fields).map_err(|e| err(Code::Internal, e.to_string()))
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for s in &shop {
        if !seen.insert(s.order_id.clone()) {
            row(
                &mut out,
                [
                    "duplicate_in_file",
                    &s.order_id,
                    &s.currency,
                    &s.amount,
                    "",
                    &s.refunded,
                    "",
                    &s.status,
                    "",
                    "the order is listed more than once",
                ],
            )?;
            continue;
        }
        let ledger = match expected.get(&s.order_id) {
            Some(o) => Some(o.clone()),
            None => repo::order(conn, merchant, &s.order_id)?,
        };
        let Some(o) = ledger else {
            row(
                &mut out,
                [
                    "missing_in_ledger",
                    &s.order_id,
                    &s.currency,
                    &s.amount,
                    "",
                    &s.refunded,
                    "",
                    &s.status,
                    "",
                    "the ledger has no such order",
                ],
            )?;
            continue;
        };
        let cur = Currency::parse(&o.currency).expect("stored currency");
        let (la, lf) = (format_minor(o.amount_minor, cur), format_minor(o.refunded_minor, cur));
        let fields = |kind: &'static str, detail: &'static str| {
            [
                kind,
                o.order_id.as_str(),
                o.currency.as_str(),
                s.amount.as_str(),
                la.as_str(),
                s.refunded.as_str(),
                lf.as_str(),
                s.status.as_str(),
                o.status.as_str(),
                detail,
            ]
        };
        let shop_cur = Currency::parse(&s.currency).filter(|c| c.code() == o.currency);
        if shop_cur.is_none() || minor(&s.amount, shop_cur) != Some(o.amount_minor) {
            row(&mut out, fields("amount_mismatch", "the amount or currency differs"))?;
        }
        // Judged in the ledger order's currency: a currency difference alone is an amount
        // mismatch, not also a refund mismatch.
        if minor(&s.refunded, Some(cur)) != Some(o.refunded_minor) {
            row(&mut out, fields("refund_mismatch", "the refunded amount differs"))?;
        }
        if !status_matches(&s.status, &o.status) {
            row(&mut out, fields("status_mismatch", "the status differs"))?;
        }
    }
    for (id, o) in &expected {
        if !seen.contains(id) {
            let cur = Currency::parse(&o.currency).expect("stored currency");
            let (la, lf) = (format_minor(o.amount_minor, cur), format_minor(o.refunded_minor, cur));
            row(
                &mut out,
                [
                    "missing_in_shop",
                    id,
                    &o.currency,
                    "",
                    &la,
                    "",
                    &lf,
                    "",
                    &o.status,
                    "the shop's report has no such order",
                ],
            )?;
        }
    }
    // Shop webhooks the ledger parked (a business rule refused them) explain differences
    // above, or are differences of their own: each is a row.
    for x in crate::store::hooks::exceptions_between(conn, merchant, from, to)? {
        let detail = format!(
            "{} {} delivery {} parked: {}: {}",
            x.platform,
            x.topic,
            x.delivery_id,
            x.code.as_deref().unwrap_or(""),
            x.detail
        );
        let order = x.order_ref.unwrap_or_default();
        row(&mut out, ["hook_exception", &order, "", "", "", "", "", "", "", &detail])?;
    }
    let text = String::from_utf8(out.into_inner().map_err(|e| err(Code::Internal, e.to_string()))?)
        .map_err(|e| err(Code::Internal, e.to_string()))?;
    Ok((text, n))
}
