//! `cashback bench`: measures the service; figures go in docs/performance.md, never into timed
//! tests. Three modes:
//! - `http`: signed traffic (orders, refunds, wallet reads) against a `cashback serve` it starts
//!   on a fresh database, at a given concurrency (closed loop) or offered rate (open loop);
//! - `ceiling`: the same bookings through the one writer, in process, without HTTP;
//! - `seed`: fills a database with N users and M orders, quickly, for the read and export figures.

mod ceiling;
mod db;
mod http;
mod seed;
mod stats;

use clap::{Args, Subcommand};
use std::path::PathBuf;

pub use db::BenchDb;

/// The merchant, its signing secret and the wallet secret every mode uses, so a seeded
/// database can be measured by `http --existing`.
pub const MERCHANT: &str = "bench";
pub const MERCHANT_SECRET: &str = "bench-merchant-secret";
pub const WALLET_SECRET: &str = "bench-wallet-secret";
pub const ADMIN_TOKEN: &str = "bench-admin-token";

#[derive(Subcommand, Debug)]
pub enum BenchMode {
    /// Signed HTTP traffic against a server started on a fresh database.
    Http(HttpArgs),
    /// The same bookings through the writer in process, without HTTP (the ceiling).
    Ceiling(CeilingArgs),
    /// Fill a database with users and orders (with referrers), with a progress bar.
    Seed(SeedArgs),
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// sqlite or postgres. PostgreSQL needs --bench-url (a server; a fresh database is made in it).
    #[arg(long, default_value = "sqlite")]
    pub backend: String,
    /// SQLite: the file (sqlite:///path.db); PostgreSQL: a database on the server to work from.
    #[arg(long)]
    pub bench_url: Option<String>,
    /// Use the database at --bench-url as it is (made by `bench seed`) instead of a fresh one.
    #[arg(long)]
    pub existing: bool,
    /// Keep the fresh database afterwards (its URL is printed).
    #[arg(long)]
    pub keep: bool,
    /// Skip `verify` at the end. It reads the whole ledger into memory: on a seeded database of
    /// millions of orders, run `cashback verify` on it once instead of after every measurement.
    #[arg(long)]
    pub no_verify: bool,
    /// Write the report as JSON to this file ("-": standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct HttpArgs {
    #[command(flatten)]
    pub target: Target,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Callers, each waiting for its answer before the next request (closed loop).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Requests per second offered on a fixed schedule, whatever the answers (open loop), each
    /// on an idle connection or a new one. Overrides --concurrency.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Share of requests that refund part of an earlier order.
    #[arg(long, default_value_t = 0.10)]
    pub refunds: f64,
    /// Share of requests that read a wallet (balances, then the first page of history).
    #[arg(long, default_value_t = 0.10)]
    pub wallet_reads: f64,
    /// Buyers, each referred by the one before.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Open loop: print every request slower than this many milliseconds, with when it was
    /// sent (seconds into the run), to find what a stall lines up with.
    #[arg(long)]
    pub slow_ms: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct CeilingArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 0.10)]
    pub refunds: f64,
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
}

#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Orders booked by one writer job.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

pub fn run(mode: BenchMode) -> anyhow::Result<i32> {
    match mode {
        BenchMode::Http(a) => http::run(a),
        BenchMode::Ceiling(a) => ceiling::run(a),
        BenchMode::Seed(a) => seed::run(a),
    }
}
