//! `bench ceiling`: the bookings of `bench http` (orders and part refunds) through the one
//! writer from concurrent callers, in process and without HTTP: what the store and group commit
//! can do on their own, the ceiling the HTTP figures are compared with.

use super::db::{self, BenchDb};
use super::stats::{Report, Samples};
use super::CeilingArgs;
use crate::app::orders::{self, PlaceOrder, RefundCmd};
use crate::domain::money::{Currency, RawAmount};
use crate::store::prefetch::Hint;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub fn run(a: CeilingArgs) -> anyhow::Result<i32> {
    let mut bdb = BenchDb::open(&a.target)?;
    let writer = bdb.writer()?;
    let svc = db::services()?;
    let now = chrono::Utc::now().timestamp();
    let users = a.users.max(1);
    if !a.target.existing {
        db::setup(&writer, &svc, users, now)?;
    }
    let concurrency = a.concurrency.max(1);
    let settings =
        serde_json::json!({"orders": a.orders, "concurrency": concurrency, "refunds": a.refunds, "users": users});
    let mut report = Report::new("ceiling", bdb.backend, settings);
    let booked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let (ord, refs) = rt.block_on(async {
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let (writer, svc, booked) = (writer.clone(), svc.clone(), booked.clone());
            let (n, refunds) = (a.orders, a.refunds);
            tasks.push(tokio::spawn(async move {
                let (mut ord, mut refs) = (Samples::default(), Samples::default());
                for i in (worker..n).step_by(concurrency) {
                    // Every tenth-or-so operation refunds 30% of an order booked earlier.
                    let pick = refund_due(i, refunds).then(|| booked.lock().expect("lock").pop()).flatten();
                    let t = Instant::now();
                    if let Some((order_id, amount)) = pick {
                        let cmd = RefundCmd {
                            refund_id: format!("r{i}"),
                            amount: RawAmount::parse(&crate::domain::money::format_minor(
                                amount * 3 / 10,
                                Currency::parse("CNY").expect("CNY"),
                            ))
                            .expect("amount"),
                            refunded_at: None,
                        };
                        let hint = orders::refund_hint(super::MERCHANT, &order_id, &cmd.refund_id, now);
                        let r = writer
                            .write_hinted(hint, move |c| orders::refund(c, super::MERCHANT, &order_id, cmd, now))
                            .await;
                        if r.is_ok() {
                            refs.push(t.elapsed())
                        } else {
                            refs.errors += 1
                        }
                        continue;
                    }
                    let amount = 10_000 + (i as i64 * 7919 % 90_000);
                    let cmd = PlaceOrder {
                        merchant_id: super::MERCHANT.into(),
                        order_id: format!("o{i}"),
                        user_id: format!("u{}", i % users),
                        currency: Currency::parse("CNY").expect("CNY"),
                        currency_code: "CNY",
                        amount,
                        paid_at: now - 60,
                        lines: None,
                    };
                    let svc = svc.clone();
                    let hint = Hint::new(&cmd.merchant_id, &cmd.order_id, Some(&cmd.user_id), now);
                    match writer.write_hinted(hint, move |c| orders::place(c, &svc, cmd.into(), now)).await {
                        Ok(_) => {
                            ord.push(t.elapsed());
                            booked.lock().expect("lock").push((format!("o{i}"), amount));
                        }
                        Err(_) => ord.errors += 1,
                    }
                }
                (ord, refs)
            }));
        }
        let (mut ord, mut refs) = (Samples::default(), Samples::default());
        for t in tasks {
            let (o, r) = t.await.expect("bench task");
            ord.merge(o);
            refs.merge(r);
        }
        (ord, refs)
    });
    let elapsed = started.elapsed();
    report.elapsed_s = elapsed.as_secs_f64();
    let total = ord.micros.len() + refs.micros.len();
    report.fact("bookings_per_second", (total as f64 / elapsed.as_secs_f64()).round());
    report.rows.push(ord.row("order", elapsed));
    report.rows.push(refs.row("refund", elapsed));
    writer.close();
    let ok = bdb.conclude(&mut report, &a.target)?;
    Ok(if ok { 0 } else { 1 })
}

/// Whether operation `i` is a refund, spreading `share` evenly (share 0.1: every tenth).
pub fn refund_due(i: usize, share: f64) -> bool {
    let step = |k: usize| (k as f64 * share).floor();
    share > 0.0 && step(i + 1) > step(i)
}
