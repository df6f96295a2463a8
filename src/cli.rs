//! The `cashback` command: serve, migrate, verify, export, reconcile, bench, simulate, sign.

use crate::app::verify;
use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::startup::{open_writer, Application, Parts};
use crate::store::conn::migrate;
use crate::store::DbUrl;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cashback", version, about = "A double-entry cashback ledger")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Generate what is missing (admin token, keys), seed a demo shop, and print how to try it.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Check every invariant over the whole ledger; exits 1 when any fails.
    Verify,
    /// Copy a SQLite database, online, to a new file (a consistent snapshot; restore by pointing
    /// DATABASE_URL at it). PostgreSQL: use pg_dump.
    Backup {
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Measure: signed HTTP traffic (http), the writer alone (ceiling), or seed a database (seed).
    #[command(subcommand)]
    Bench(crate::bench::BenchMode),
    /// Write a finance export to standard output (or --output FILE).
    Export {
        /// journal, trial-balance, merchant-statements, liabilities, payouts or audit
        report: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        as_of: Option<String>,
        /// csv, hledger or beancount (the journal); csv (the trial balance)
        #[arg(long, default_value = "csv")]
        format: String,
        /// The trial balance per class of account instead of per account.
        #[arg(long)]
        by_class: bool,
        /// The payouts export: requested, processing, paid or rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Compare the shop's order report with the ledger; exits 1 when there is any difference.
    Reconcile {
        #[arg(long)]
        orders: std::path::PathBuf,
        #[arg(long)]
        merchant_id: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Print a single-use wallet login link for a user (valid five minutes), signed with
    /// CASHBACK_WALLET_SECRET (or the demo's).
    LoginLink {
        #[arg(long)]
        user: String,
        /// The address the user's browser reaches the service at.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
    },
    /// Run the points-pool model next to this ledger's fixed cashback on the same orders
    /// (an analysis: books nothing). See docs/why-fixed-cashback.md.
    Simulate(Box<crate::simulate::SimulateArgs>),
    /// Print an X-Cashback-Signature header value for a body, signed now.
    Sign {
        /// The merchant's signing secret.
        #[arg(long, env = "CASHBACK_MERCHANT_SECRET", hide_env_values = true)]
        secret: String,
        /// The exact body to send (empty for GET).
        #[arg(long, default_value = "")]
        body: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let s = cli.settings;
    match cli.command {
        Command::Serve { demo } => serve(&s, demo),
        Command::Migrate => {
            let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
            let n = migrate(&mut conn)?;
            println!("migrations applied: {n}");
            Ok(0)
        }
        Command::Verify => {
            let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
            let (ok, checks) = verify::run(&mut conn)?;
            for c in &checks {
                println!("{} {}: {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail);
            }
            Ok(if ok { 0 } else { 1 })
        }
        Command::Backup { output } => {
            let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
            crate::store::conn::backup_sqlite(&mut conn, &output)?;
            // VACUUM INTO leaves the copy to the page cache: on disk before we say it is written.
            std::fs::File::open(&output)?.sync_all()?;
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!("backup written: {} ({size} bytes)", output.display());
            Ok(0)
        }
        Command::Bench(mode) => crate::bench::run(mode),
        Command::Simulate(args) => crate::simulate::main(*args),
        Command::Export { report, from, to, as_of, format, by_class, output, status } => {
            let tz = s.tz().map_err(anyhow::Error::msg)?;
            if report != "journal" && format != "csv" {
                anyhow::bail!("{report} is csv only");
            }
            if report == "trial-balance" && (from.is_some() || to.is_some()) {
                anyhow::bail!("the trial balance takes --as-of, not --from/--to");
            }
            if report != "trial-balance" && as_of.is_some() {
                anyhow::bail!("--as-of is for the trial balance; {report} takes --from and --to");
            }
            if status.is_some() && report != "payouts" {
                anyhow::bail!("--status is for the payouts export");
            }
            let svc = crate::app::Services {
                tz,
                secrets: SecretBox::from_base64(&crate::crypto::random_key_base64()).map_err(anyhow::Error::msg)?,
            };
            let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
            same_timezone(&mut conn, &s.timezone)?;
            let mut out: Box<dyn std::io::Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?)),
                None => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
            };
            let e = |e: crate::app::error::ApiError| anyhow::anyhow!("{e}");
            match report.as_str() {
                "journal" => {
                    let f = crate::app::exports::format(Some(&format)).map_err(e)?;
                    let from = crate::app::exports::bound("from", from.as_deref(), f, &svc).map_err(e)?;
                    let to = crate::app::exports::bound("to", to.as_deref(), f, &svc).map_err(e)?;
                    // A progress bar on a terminal (stderr); nothing when piped or redirected, and
                    // then no count either (on 10 million postings it costs seconds).
                    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                        let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
                        indicatif::ProgressBar::new(crate::store::journal::count_postings(&mut conn, lo, hi)? as u64)
                    } else {
                        indicatif::ProgressBar::hidden()
                    };
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} postings {eta}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    let b = bar.clone();
                    crate::export::with_progress(Box::new(move |n| b.inc(n)), || {
                        crate::export::journal::write(&mut conn, tz, from, to, f, &mut out)
                    })?;
                    bar.finish_and_clear();
                }
                "trial-balance" => {
                    let at = crate::app::exports::as_of(as_of.as_deref(), &svc, chrono::Utc::now().timestamp())
                        .map_err(e)?;
                    crate::export::trial::write(&mut conn, at, by_class, &mut out)?;
                }
                "liabilities" => {
                    let b = |f: &str, v: &Option<String>| {
                        v.as_deref().map(|v| crate::app::corrections::bound(f, v, &svc)).transpose()
                    };
                    let from = b("from", &from).map_err(e)?.unwrap_or(i64::MIN);
                    let to = b("to", &to).map_err(e)?.unwrap_or(chrono::Utc::now().timestamp() + 1);
                    crate::export::liabilities::write(&mut conn, from, to, &mut out)?;
                }
                "merchant-statements" => {
                    let b = |f: &str, v: &Option<String>| {
                        v.as_deref().map(|v| crate::app::corrections::bound(f, v, &svc)).transpose()
                    };
                    let from = b("from", &from).map_err(e)?.unwrap_or(i64::MIN);
                    let to = b("to", &to).map_err(e)?.unwrap_or(chrono::Utc::now().timestamp() + 1);
                    crate::export::statements::write(&mut conn, from, to, &mut out)?;
                }
                "payouts" | "audit" => {
                    let b = |f: &str, v: &Option<String>| {
                        v.as_deref().map(|v| crate::app::corrections::bound(f, v, &svc)).transpose()
                    };
                    let from = b("from", &from).map_err(e)?.unwrap_or(i64::MIN);
                    let to = b("to", &to).map_err(e)?.unwrap_or(i64::MAX);
                    let csv = if report == "payouts" {
                        crate::app::payouts::export(&mut conn, &svc, from, to, status.as_deref()).map_err(e)?
                    } else {
                        crate::app::payouts::audit_csv(&mut conn, &svc, from, to).map_err(e)?
                    };
                    out.write_all(csv.as_bytes())?;
                }
                other => anyhow::bail!(
                    "unknown report {other:?}: journal, trial-balance, merchant-statements, liabilities, payouts or audit"
                ),
            }
            out.flush()?;
            if std::env::var_os("CASHBACK_PEAK_MEMORY").is_some() {
                // For the memory benchmark (.ci/export-memory): the process's peak resident set.
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: unknown");
                eprintln!("peak memory {}", peak.trim_start_matches("VmHWM:").trim());
            }
            Ok(0)
        }
        Command::Reconcile { orders, merchant_id, from, to, output } => {
            let tz = s.tz().map_err(anyhow::Error::msg)?;
            let svc = crate::app::Services {
                tz,
                secrets: SecretBox::from_base64(&crate::crypto::random_key_base64()).map_err(anyhow::Error::msg)?,
            };
            let e = |e: crate::app::error::ApiError| anyhow::anyhow!("{e}");
            let from = crate::app::corrections::bound("from", &from, &svc).map_err(e)?;
            let to = crate::app::corrections::bound("to", &to, &svc).map_err(e)?;
            let file = std::fs::read(&orders)?;
            let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
            same_timezone(&mut conn, &s.timezone)?;
            let (csv, differences) = crate::app::reconcile::run(&mut conn, &merchant_id, from, to, &file).map_err(e)?;
            match output {
                Some(p) => std::fs::write(p, csv)?,
                None => print!("{csv}"),
            }
            Ok(if differences > 0 { 1 } else { 0 })
        }
        Command::LoginLink { user, base_url } => {
            let key = match &s.wallet_secret {
                Some(k) => k.clone(),
                None => {
                    let mut conn = DbUrl::parse(&s.database_url)?.connect()?;
                    crate::store::repo::meta_value(&mut conn, "demo.wallet_secret")?
                        .ok_or_else(|| anyhow::anyhow!("CASHBACK_WALLET_SECRET is not set"))?
                }
            };
            println!("{}", crate::demo::login_link(&base_url, &key, &user, chrono::Utc::now().timestamp()));
            Ok(0)
        }
        Command::Sign { secret, body } => {
            let t = chrono::Utc::now().timestamp();
            println!("t={t},v1={}", crate::crypto::sign(&secret, t, body.as_bytes()));
            Ok(0)
        }
    }
}

fn serve(s: &Settings, demo: bool) -> anyhow::Result<i32> {
    s.tz().map_err(anyhow::Error::msg)?;
    if s.secret_key.is_none() && !demo {
        anyhow::bail!("CASHBACK_SECRET_KEY is not set (32 bytes, base64; `openssl rand -base64 32`); `serve --demo` generates one");
    }
    let (url, writer) = open_writer(s)?;
    let mut admin_tokens = s.admin_token_list().map_err(anyhow::Error::msg)?;
    let mut wallet_secret = s.wallet_secret.clone();
    let key = match (&s.secret_key, demo) {
        (Some(k), _) => k.clone(),
        (None, true) => crate::demo::remembered_value(&writer, "demo.secret_key", crate::crypto::random_key_base64)?,
        (None, false) => unreachable!("checked above"),
    };
    let secrets = SecretBox::from_base64(&key).map_err(anyhow::Error::msg)?;
    if demo {
        if admin_tokens.is_empty() {
            let t = crate::demo::remembered_value(&writer, "demo.admin_token", crate::crypto::random_token)?;
            admin_tokens.push(("demo".to_string(), t));
        }
        if wallet_secret.is_none() {
            wallet_secret =
                Some(crate::demo::remembered_value(&writer, "demo.wallet_secret", crate::crypto::random_token)?);
        }
    } else if admin_tokens.is_empty() {
        tracing::warn!("no CASHBACK_ADMIN_TOKENS or CASHBACK_ADMIN_TOKEN: admin routes answer 401");
    }
    let parts = Parts { clock: Clock::default(), secrets, admin_tokens, wallet_secret };
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(s, writer, &url, parts)?;
        if demo {
            let host = s.bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
            let guide = crate::demo::seed(&app.state, &format!("http://{host}:{}", app.port())).await?;
            println!("{guide}");
        }
        tracing::info!(port = app.port(), "serving");
        app.run_until_stopped().await?;
        Ok::<_, anyhow::Error>(0)
    })
}

/// Reports cut days in the business time zone: refuse one other than the database's.
fn same_timezone(conn: &mut crate::store::DbConn, configured: &str) -> anyhow::Result<()> {
    match crate::store::repo::meta_value(conn, "timezone")? {
        Some(tz) if tz != configured => {
            anyhow::bail!("the database's time zone is {tz}; CASHBACK_TIMEZONE is {configured}. Set it to {tz}")
        }
        _ => Ok(()),
    }
}
