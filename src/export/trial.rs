//! The trial balance at an instant: one row per account (or per class), debits, credits and the
//! balance in ledger sign, then a TOTAL row per currency whose balance is zero.

use super::totals_before;
use crate::domain::money::{format_minor, Currency};
use crate::store::DbConn;
use std::collections::BTreeMap;
use std::io::Write;

pub fn write(conn: &mut DbConn, as_of: i64, by_class: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let totals = totals_before(conn, as_of)?;
    let mut rows: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for ((cur, account, owner), (dr, cr)) in totals {
        let key = if by_class {
            (cur, account.split(':').next().unwrap_or("").to_string(), String::new())
        } else {
            (cur, account, owner)
        };
        let e = rows.entry(key).or_default();
        e.0 += dr;
        e.1 += cr;
    }
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(["account", "owner", "currency", "debit", "credit", "balance"])?;
    let mut per_cur: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for ((cur, account, owner), (dr, cr)) in &rows {
        let c = Currency::parse(cur).expect("stored currency");
        w.write_record([account, owner, cur, &format_minor(*dr, c), &format_minor(*cr, c), &format_minor(dr - cr, c)])?;
        let t = per_cur.entry(cur.clone()).or_default();
        t.0 += dr;
        t.1 += cr;
    }
    for (cur, (dr, cr)) in &per_cur {
        let c = Currency::parse(cur).expect("stored currency");
        w.write_record(["TOTAL", "", cur, &format_minor(*dr, c), &format_minor(*cr, c), &format_minor(dr - cr, c)])?;
    }
    w.flush()?;
    Ok(())
}
