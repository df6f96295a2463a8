//! `bench seed`: N users and M orders (each buyer referred by the one before) booked through
//! the one writer, many orders a job, so every invariant holds as in production. `paid_at` is
//! spread over the last 60 days, so most orders are already released and a wallet has both
//! pending and available money, as a real one does.

use super::db::{self, BenchDb};
use super::stats::Report;
use super::SeedArgs;
use crate::app::error::ApiError;
use crate::app::orders::{self, PlaceOrder};
use crate::domain::money::Currency;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

pub fn bar(n: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(n);
    b.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"))
            .expect("progress template"),
    );
    b
}

pub fn run(a: SeedArgs) -> anyhow::Result<i32> {
    let mut bdb = BenchDb::open(&a.target)?;
    let writer = bdb.writer()?;
    let svc = db::services()?;
    let now = chrono::Utc::now().timestamp();
    let users = a.users.max(1);
    let started = Instant::now();
    db::setup(&writer, &svc, users, now)?;
    let bar = bar(a.orders as u64, "orders");
    let batch = a.batch.max(1);
    // Jobs are queued ahead (a bounded number), so the writer never waits for the next one.
    let mut inflight = std::collections::VecDeque::new();
    for start in (0..a.orders).step_by(batch) {
        let end = (start + batch).min(a.orders);
        let svc = svc.clone();
        let rx = writer.submit(None, move |c| -> Result<usize, ApiError> {
            for i in start..end {
                let cmd = PlaceOrder {
                    merchant_id: super::MERCHANT.into(),
                    order_id: format!("s{i}"),
                    user_id: format!("u{}", (i * 7919) % users),
                    currency: Currency::parse("CNY").expect("CNY"),
                    currency_code: "CNY",
                    amount: 1_000 + (i as i64 * 104_729 % 99_000),
                    paid_at: now - 60 * 86_400 + (i as i64 * 60 * 86_400 / a.orders.max(1) as i64),
                    lines: None,
                };
                orders::place(c, &svc, cmd.into(), now)?;
            }
            Ok(end - start)
        });
        inflight.push_back(rx.map_err(|e| anyhow::anyhow!("{e}"))?);
        while inflight.len() > 8 {
            let n = inflight.pop_front().expect("queued").blocking_recv()?.map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.inc(n as u64);
        }
    }
    for rx in inflight {
        bar.inc(rx.blocking_recv()?.map_err(|e| anyhow::anyhow!("{e}"))? as u64);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    writer.close();
    let settings = serde_json::json!({"users": users, "orders": a.orders, "batch": batch});
    let mut report = Report::new("seed", bdb.backend, settings);
    report.elapsed_s = elapsed.as_secs_f64();
    report.fact("orders_per_second", (a.orders as f64 / elapsed.as_secs_f64()).round());
    let (bytes, orders_n) = bdb.size()?;
    report.fact("db_bytes", bytes);
    report.fact("db_bytes_per_order", (bytes as f64 / orders_n.max(1) as f64).round());
    let mut c = bdb.connect()?;
    report.fact("postings", crate::store::journal::count_postings(&mut c, i64::MIN, i64::MAX)?);
    report.finish(a.target.json.as_deref())?;
    bdb.keep();
    Ok(0)
}
