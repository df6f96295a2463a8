//! `cashback bench`: books orders through the one writer from many concurrent callers and
//! reports throughput and latency. In-process, without HTTP, so it measures the ledger, the
//! store and group commit; figures go in docs/performance.md, never into timed tests.

use crate::app::error::ApiError;
use crate::app::merchants::{self, MerchantIn};
use crate::app::orders::{self, PlaceOrder};
use crate::app::{programs, verify, Services};
use crate::crypto::{random_key_base64, SecretBox};
use crate::domain::money::Currency;
use crate::store::conn::{check_timezone, migrate, take_writer_lock};
use crate::store::{DbUrl, Writer};
use std::time::{Duration, Instant};

pub struct BenchArgs {
    pub url: Option<String>,
    pub orders: usize,
    pub concurrency: usize,
    pub users: usize,
}

pub fn run(args: BenchArgs) -> anyhow::Result<i32> {
    let dir = tempfile_dir()?;
    let url = args.url.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let db = DbUrl::parse(&url)?;
    let mut conn = db.connect()?;
    migrate(&mut conn)?;
    check_timezone(&mut conn, "Asia/Shanghai")?;
    take_writer_lock(&mut conn)?;
    let writer = Writer::start(conn, 100_000, Box::new(|| None));
    let svc = Services {
        tz: chrono_tz::Asia::Shanghai,
        secrets: SecretBox::from_base64(&random_key_base64()).map_err(anyhow::Error::msg)?,
    };
    let now = chrono::Utc::now().timestamp();
    let s = svc.clone();
    let users = args.users.max(1);
    writer
        .write_blocking(move |c| -> Result<(), ApiError> {
            let m = MerchantIn { name: "Bench".into(), secret: Some("bench-secret".into()), wallet_secret: None };
            merchants::put(c, &s, "bench", "bench", m, now)?;
            let p = serde_json::from_value(serde_json::json!({
                "currency": "CNY", "commission_rate": "0.2", "cashback_rate": "0.112", "referral_rate": "0.01",
                "hold_days": 7, "per_order_cap": "500.00"}))
            .expect("bench program");
            programs::put(c, &s, "bench", "bench", p, now)?;
            // Each buyer referred by the one before, so an order books four postings.
            for i in 0..users {
                let referrer = (i > 0).then(|| format!("u{}", i - 1));
                let input = crate::app::users::UserIn { referrer_id: referrer, payout_destinations: None };
                crate::app::users::put(
                    c,
                    &s,
                    &crate::app::Actor::Operator("bench".into()),
                    &format!("u{i}"),
                    input,
                    now,
                )?;
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let latencies: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for worker in 0..args.concurrency {
            let (writer, svc) = (writer.clone(), svc.clone());
            let (orders, users, concurrency) = (args.orders, args.users.max(1), args.concurrency);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                for i in (worker..orders).step_by(concurrency) {
                    let cmd = PlaceOrder {
                        merchant_id: "bench".into(),
                        order_id: format!("o{i}"),
                        user_id: format!("u{}", i % users),
                        currency: Currency::parse("CNY").expect("CNY"),
                        currency_code: "CNY",
                        amount: 10_000 + (i as i64 % 977),
                        paid_at: now - 60,
                        lines: None,
                    };
                    let svc = svc.clone();
                    let t = Instant::now();
                    writer.write(move |c| orders::place(c, &svc, cmd.into(), now)).await.expect("order booked");
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("bench task"));
        }
        all
    });
    let elapsed = started.elapsed();
    let mut lat = latencies;
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!("backend:      {}", if db.is_sqlite() { "sqlite" } else { "postgres" });
    println!("orders:       {} from {} concurrent callers, {} users", lat.len(), args.concurrency, args.users);
    println!("elapsed:      {:.2} s", elapsed.as_secs_f64());
    println!("throughput:   {:.0} orders/s", lat.len() as f64 / elapsed.as_secs_f64());
    println!("latency:      p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms(pct(0.50)), ms(pct(0.99)), ms(pct(1.0)));
    let mut check = db.connect()?;
    let (ok, _) = verify::run(&mut check).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("verify:       {}", if ok { "ok" } else { "FAILED" });
    Ok(if ok { 0 } else { 1 })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cashback-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
