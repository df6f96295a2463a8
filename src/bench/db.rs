//! The bench's database: a fresh SQLite file or a fresh PostgreSQL database (dropped after the
//! run unless kept), or an existing one; the shared setup; what it weighs on disk.

use super::{Target, MERCHANT, MERCHANT_SECRET};
use crate::app::error::ApiError;
use crate::app::merchants::{self, MerchantIn};
use crate::app::{programs, users, Actor, Services};
use crate::crypto::SecretBox;
use crate::store::conn::{check_timezone, migrate, setup_writer};
use crate::store::{DbConn, DbUrl, Writer};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

pub const TIMEZONE: &str = "Asia/Shanghai";

pub struct BenchDb {
    pub url: String,
    pub backend: &'static str,
    /// A database made for this run, dropped (or its file removed) at the end.
    fresh: Option<Fresh>,
}

enum Fresh {
    SqliteDir(std::path::PathBuf),
    Postgres { server: String, name: String },
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl BenchDb {
    pub fn open(t: &Target) -> anyhow::Result<BenchDb> {
        match (t.backend.as_str(), &t.bench_url, t.existing) {
            (_, Some(url), true) => {
                let backend = if DbUrl::parse(url)?.is_sqlite() { "sqlite" } else { "postgres" };
                Ok(BenchDb { url: url.clone(), backend, fresh: None })
            }
            (_, None, true) => anyhow::bail!("--existing needs --bench-url"),
            ("sqlite", None, false) => {
                let dir = std::env::temp_dir().join(format!("cashback-bench-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}/bench.db", dir.display());
                Ok(BenchDb { url, backend: "sqlite", fresh: Some(Fresh::SqliteDir(dir)) })
            }
            ("sqlite", Some(url), false) => {
                let DbUrl::Sqlite(path) = DbUrl::parse(url)? else { anyhow::bail!("--backend sqlite needs sqlite://") };
                if std::path::Path::new(&path).exists() {
                    anyhow::bail!("{path} exists: the bench books into a new file (or pass --existing)");
                }
                Ok(BenchDb { url: url.clone(), backend: "sqlite", fresh: None })
            }
            ("postgres", Some(server), false) => {
                let name = format!("cashback_bench_{}_{}", std::process::id(), chrono::Utc::now().timestamp());
                let mut c = diesel::PgConnection::establish(server)?;
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c)?;
                let url = with_database(server, &name)?;
                Ok(BenchDb { url, backend: "postgres", fresh: Some(Fresh::Postgres { server: server.clone(), name }) })
            }
            ("postgres", None, _) => anyhow::bail!("--backend postgres needs --bench-url postgres://..."),
            (other, _, _) => anyhow::bail!("--backend {other}: sqlite or postgres"),
        }
    }

    pub fn connect(&self) -> anyhow::Result<DbConn> {
        Ok(DbUrl::parse(&self.url)?.connect()?)
    }

    /// Opens the one writer on it (migrated, time zone recorded), as `serve` would.
    pub fn writer(&self) -> anyhow::Result<Writer> {
        let mut conn = self.connect()?;
        migrate(&mut conn)?;
        check_timezone(&mut conn, TIMEZONE)?;
        setup_writer(&mut conn)?;
        let writer = Writer::start(conn, 100_000, Box::new(|| None));
        crate::store::conn::spawn_checkpointer(&DbUrl::parse(&self.url)?, writer.watch());
        Ok(writer)
    }

    /// Bytes on disk, indexes included (SQLite: the file after a checkpoint; PostgreSQL:
    /// pg_database_size), and the orders it holds.
    pub fn size(&self) -> anyhow::Result<(i64, i64)> {
        let mut c = self.connect()?;
        let bytes = match &mut c {
            DbConn::Sqlite(s) => {
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(s).ok();
                let DbUrl::Sqlite(path) = DbUrl::parse(&self.url)? else { unreachable!() };
                let wal = std::fs::metadata(format!("{path}-wal")).map(|m| m.len()).unwrap_or(0);
                (std::fs::metadata(&path)?.len() + wal) as i64
            }
            DbConn::Postgresql(p) => {
                diesel::sql_query("SELECT pg_database_size(current_database())::BIGINT AS n").get_result::<N>(p)?.n
            }
        };
        let orders = diesel::sql_query("SELECT COUNT(*) AS n FROM orders").get_result::<N>(&mut c)?.n;
        Ok((bytes, orders))
    }

    /// The end of a measured run: its size on disk and `verify` go into the report, which is
    /// printed (and saved with --json); the database is kept with --keep. Whether verify passed.
    pub fn conclude(&mut self, report: &mut super::stats::Report, t: &Target) -> anyhow::Result<bool> {
        let (bytes, orders_n) = self.size()?;
        report.fact("db_bytes", bytes);
        report.fact("db_bytes_per_order", (bytes as f64 / orders_n.max(1) as f64).round());
        let ok = if t.no_verify {
            report.fact("verify", "skipped");
            true
        } else {
            let (ok, _) = crate::app::verify::run(&mut self.connect()?).map_err(|e| anyhow::anyhow!("{e}"))?;
            report.fact("verify", if ok { "ok" } else { "FAILED" });
            ok
        };
        report.finish(t.json.as_deref())?;
        if t.keep {
            self.keep();
        }
        Ok(ok)
    }

    pub fn keep(&mut self) {
        if self.fresh.take().is_some() {
            println!("kept: {}", self.url);
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        match self.fresh.take() {
            Some(Fresh::SqliteDir(dir)) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Some(Fresh::Postgres { server, name }) => {
                if let Ok(mut c) = diesel::PgConnection::establish(&server) {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c);
                }
            }
            None => {}
        }
    }
}

/// The same server URL naming another database.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| anyhow::anyhow!("not a URL: {url}"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// The bench's CASHBACK_SECRET_KEY: fixed, so the server it starts (and a later run on a
/// seeded database) can open the merchant secret the setup sealed. A bench database only.
pub fn secret_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b"cashback-bench-only-key-32-bytes")
}

pub fn services() -> anyhow::Result<Services> {
    Ok(Services {
        tz: TIMEZONE.parse().map_err(|_| anyhow::anyhow!("time zone"))?,
        secrets: SecretBox::from_base64(&secret_key()).map_err(anyhow::Error::msg)?,
    })
}

/// The bench merchant (the example program: commission 0.2, cashback 0.112, referral 0.01,
/// 7 days' hold, a per-order cap) and `n` buyers `u0…`, each referred by the one before, so
/// an order books four postings.
pub fn setup(writer: &Writer, svc: &Services, n: usize, now: i64) -> anyhow::Result<()> {
    let s = svc.clone();
    writer
        .write_blocking(move |c| -> Result<(), ApiError> {
            let m = MerchantIn { name: "Bench".into(), secret: Some(MERCHANT_SECRET.into()), wallet_secret: None };
            merchants::put(c, &s, "bench", MERCHANT, m, now)?;
            let p = serde_json::from_value(serde_json::json!({
                "currency": "CNY", "commission_rate": "0.2", "cashback_rate": "0.112", "referral_rate": "0.01",
                "hold_days": 7, "per_order_cap": "500.00"}))
            .expect("bench program");
            programs::put(c, &s, "bench", MERCHANT, p, now)?;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bar = super::seed::bar(n as u64, "users");
    for start in (0..n).step_by(1000) {
        let s = svc.clone();
        let end = (start + 1000).min(n);
        writer
            .write_blocking(move |c| -> Result<(), ApiError> {
                for i in start..end {
                    let input = users::UserIn {
                        referrer_id: (i > 0).then(|| format!("u{}", i - 1)),
                        payout_destinations: None,
                    };
                    users::put(c, &s, &Actor::Operator("bench".into()), &format!("u{i}"), input, now)?;
                }
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    Ok(())
}
