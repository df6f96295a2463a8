//! The journal for a period: CSV (one row per posting), hledger (also read by ledger-cli) and
//! beancount. Transactions are dated by the business-zone date of `recorded_at`; a period that
//! starts after the beginning opens with a transaction of opening balances. Directives that
//! need the whole period (accounts, commodities, closing balances) are written at the end, so
//! the file streams.

use super::names;
use super::{each_posting, totals_before};
use crate::domain::money::{format_minor, Currency};
use crate::store::journal::Line;
use crate::store::DbConn;
use chrono::TimeZone;
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Hledger,
    Beancount,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "hledger" | "ledger" => Some(Format::Hledger),
            "beancount" => Some(Format::Beancount),
            _ => None,
        }
    }
}

fn date(t: i64, tz: Tz) -> String {
    tz.timestamp_opt(t, 0).single().map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn money(v: i64, code: &str) -> String {
    let cur = Currency::parse(code).expect("stored currency");
    format!("{} {code}", format_minor(v, cur))
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Writes the journal of entries recorded in [from, to) (`None`: unbounded), from one snapshot.
pub fn write(
    conn: &mut DbConn,
    tz: Tz,
    from: Option<i64>,
    to: Option<i64>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    crate::store::conn::snapshot(conn, |c| write_snapshot(c, tz, from, to, format, out))
}

fn write_snapshot(
    conn: &mut DbConn,
    tz: Tz,
    from: Option<i64>,
    to: Option<i64>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    if format == Format::Csv {
        return csv(conn, tz, lo, hi, out);
    }
    let bean = format == Format::Beancount;
    let name = |a: &str, o: &str| if bean { names::beancount(a, o) } else { names::hledger(a, o) };
    let opening_account = if bean { "Equity:Opening-balances" } else { "equity:opening-balances" };
    let mut accounts: BTreeSet<String> = BTreeSet::new();
    let mut currencies: BTreeSet<String> = BTreeSet::new();
    // Closing balance per (account name, currency), in ledger sign.
    let mut closing: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut first_date: Option<String> = None;
    let mut last_date: Option<String> = None;
    writeln!(out, "; Cashback ledger journal, entries recorded in the period, dates in {tz}")?;
    if bean {
        writeln!(out, "option \"title\" \"Cashback ledger\"")?;
    }
    if let Some(f) = from {
        let opening = totals_before(conn, f)?;
        let d = date(f, tz);
        first_date = Some(d.clone());
        let lines: Vec<_> = opening.iter().filter(|(_, (dr, cr))| dr != cr).collect();
        if !lines.is_empty() {
            writeln!(out, "\n{d} {}", if bean { "* \"Opening balances\"" } else { "opening balances" })?;
            let mut per_cur: BTreeMap<&str, i64> = BTreeMap::new();
            for ((cur, acct, owner), (dr, cr)) in lines {
                let n = name(acct, owner);
                writeln!(out, "    {n}  {}", money(dr - cr, cur))?;
                *per_cur.entry(cur).or_default() += dr - cr;
                closing.insert((n.clone(), cur.clone()), dr - cr);
                accounts.insert(n);
                currencies.insert(cur.clone());
            }
            // Explicit per currency, so the transaction balances in each.
            for (cur, v) in per_cur {
                writeln!(out, "    {opening_account}  {}", money(-v, cur))?;
            }
            accounts.insert(opening_account.to_string());
        }
    }
    let mut current: Option<i64> = None;
    each_posting(conn, lo, hi, |r: &Line<'_>| {
        if current != Some(r.entry_id) {
            current = Some(r.entry_id);
            let d = date(r.recorded_at, tz);
            first_date.get_or_insert_with(|| d.clone());
            last_date = Some(d.clone());
            let mut tags = vec![format!("entry:{}", r.entry_id)];
            if let Some(m) = r.merchant_id {
                tags.push(format!("merchant:{m}"));
            }
            if let Some(o) = r.order_id {
                tags.push(format!("order:{}", o.replace(',', "_")));
            }
            if let Some(x) = r.reference {
                tags.push(format!("ref:{}", x.replace(',', "_")));
            }
            tags.push(format!("occurred:{}", date(r.occurred_at, tz)));
            if bean {
                writeln!(out, "\n{d} * \"{}\" \"entry {}\"", r.kind, r.entry_id)?;
                writeln!(out, "  entry: \"{}\"", r.entry_id)?;
                for (k, v) in [("merchant", r.merchant_id), ("order", r.order_id), ("ref", r.reference)] {
                    if let Some(v) = v {
                        writeln!(out, "  {k}: \"{}\"", quote(v))?;
                    }
                }
                writeln!(out, "  occurred: \"{}\"", date(r.occurred_at, tz))?;
            } else {
                writeln!(out, "\n{d} {}  ; {}", r.kind, tags.join(", "))?;
            }
        }
        let n = name(r.account, r.owner);
        if bean {
            writeln!(out, "  {n}  {}", money(r.amount_minor, r.currency))?;
        } else {
            // A balance assertion after every posting: the account's running balance.
            writeln!(
                out,
                "    {n}  {} = {}",
                money(r.amount_minor, r.currency),
                money(r.balance_after_minor, r.currency)
            )?;
        }
        // Closing balances are beancount's alone (hledger asserts after every posting).
        if bean {
            closing.insert((n.clone(), r.currency.to_string()), r.balance_after_minor);
        }
        accounts.insert(n);
        if !currencies.contains(r.currency) {
            currencies.insert(r.currency.to_string());
        }
        Ok(())
    })?;
    // Declarations, valid from the first date of the file.
    let open = first_date.clone().unwrap_or_else(|| "1970-01-01".into());
    writeln!(out)?;
    for c in &currencies {
        let cur = Currency::parse(c).expect("stored currency");
        if bean {
            writeln!(out, "{open} commodity {c}")?;
        } else {
            writeln!(out, "commodity {c}\n    format {} {c}", format_minor(1000 * cur.scale(), cur))?;
        }
    }
    for a in &accounts {
        if bean {
            writeln!(out, "{open} open {a}")?;
        } else {
            writeln!(out, "account {a}")?;
        }
    }
    if bean {
        // Closing balances at the end of the period, with a tolerance below one minor unit.
        let end = match to {
            Some(t) => date(t, tz),
            None => {
                let last = last_date.unwrap_or(open);
                let d = chrono::NaiveDate::parse_from_str(&last, "%Y-%m-%d")?;
                (d + chrono::Duration::days(1)).format("%Y-%m-%d").to_string()
            }
        };
        for ((a, c), v) in &closing {
            let cur = Currency::parse(c).expect("stored currency");
            let tol = tolerance_below_one_unit(cur);
            writeln!(out, "{end} balance {a}  {} ~ {tol} {c}", format_minor(*v, cur))?;
        }
    }
    Ok(())
}

/// A tolerance below one minor unit: `0.001` for two decimals, `0.1` for none.
fn tolerance_below_one_unit(cur: Currency) -> String {
    let m = cur.minor_units() as usize + 1;
    format!("0.{}1", "0".repeat(m - 1))
}

/// The last instant formatted, and its text.
#[derive(Default)]
struct Stamp {
    at: Option<i64>,
    text: String,
}

impl Stamp {
    fn get(&mut self, t: i64, tz: Tz) -> &str {
        if self.at != Some(t) {
            self.at = Some(t);
            self.text = crate::domain::time::format_ts(t, tz);
        }
        &self.text
    }
}

fn csv(conn: &mut DbConn, tz: Tz, from: i64, to: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record([
        "entry_id",
        "recorded_at",
        "occurred_at",
        "kind",
        "account",
        "owner",
        "currency",
        "debit",
        "credit",
        "balance",
        "merchant_id",
        "order_id",
        "reference",
        "program_version",
        "memo",
    ])?;
    // Many postings share an entry's second: each instant is formatted once.
    let (mut recorded, mut occurred) = (Stamp::default(), Stamp::default());
    let mut figures = [String::new(), String::new(), String::new()];
    // Once per entry: its id and its order's program version, as text.
    let (mut entry, mut entry_id, mut version) = (None, String::new(), String::new());
    // Looked up only when it changes: a search of the ISO 4217 table on every line showed in profiles.
    let mut currency: Option<Currency> = None;
    each_posting(conn, from, to, |r| {
        if entry != Some(r.entry_id) {
            entry = Some(r.entry_id);
            write_int(&mut entry_id, Some(r.entry_id));
            write_int(&mut version, r.program_version);
        }
        let cur = match currency {
            Some(c) if c.code() == r.currency => c,
            _ => *currency.insert(Currency::parse(r.currency).expect("stored currency")),
        };
        let (dr, cr) = if r.amount_minor > 0 { (r.amount_minor, 0) } else { (0, -r.amount_minor) };
        for (buf, v) in figures.iter_mut().zip([dr, cr, r.balance_after_minor]) {
            buf.clear();
            crate::domain::money::write_minor(buf, v, cur);
        }
        w.write_record([
            entry_id.as_str(),
            recorded.get(r.recorded_at, tz),
            occurred.get(r.occurred_at, tz),
            r.kind,
            r.account,
            r.owner,
            r.currency,
            &figures[0],
            &figures[1],
            &figures[2],
            r.merchant_id.unwrap_or_default(),
            r.order_id.unwrap_or_default(),
            r.reference.unwrap_or_default(),
            &version,
            r.memo.unwrap_or_default(),
        ])?;
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

/// `v` in decimal into a reused buffer, or nothing.
fn write_int(buf: &mut String, v: Option<i64>) {
    buf.clear();
    if let Some(v) = v {
        buf.push_str(itoa::Buffer::new().format(v));
    }
}
