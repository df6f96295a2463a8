//! `bench http`: starts `cashback serve` (this binary) on the bench database with the rate limit
//! off, then sends signed traffic over loopback HTTP/1.1 keep-alive connections: orders, part
//! refunds of orders it booked, and wallet reads (balances, then the first page of history),
//! closed loop (`--concurrency`) or open loop (`--rate`: requests leave on a fixed schedule
//! whatever the answers, each on an idle connection or a new one, so a stall of the server
//! shows in the latency of every request sent during it instead of delaying the schedule).

use super::db::{self, BenchDb};
use super::stats::{Report, Samples};
use super::{HttpArgs, ADMIN_TOKEN, MERCHANT, MERCHANT_SECRET, WALLET_SECRET};
use crate::crypto::{mint_wallet_token, sign, WalletClaims};
use crate::domain::money::{format_minor, Currency};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rand::Rng;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Conn = SendRequest<Full<Bytes>>;

pub fn run(a: HttpArgs) -> anyhow::Result<i32> {
    let mut bdb = BenchDb::open(&a.target)?;
    let users = a.users.max(1);
    if !a.target.existing {
        let writer = bdb.writer()?;
        db::setup(&writer, &db::services()?, users, chrono::Utc::now().timestamp())?;
        writer.close();
    }
    let server = Server::start(&bdb.url)?;
    let settings = serde_json::json!({
        "duration_s": a.duration, "concurrency": a.rate.map_or(Some(a.concurrency), |_| None), "rate": a.rate,
        "refunds": a.refunds, "wallet_reads": a.wallet_reads, "users": users, "existing": a.target.existing,
    });
    let mut report =
        Report::new(if a.rate.is_some() { "http open loop" } else { "http closed loop" }, bdb.backend, settings);
    let shared = Arc::new(Shared {
        addr: server.addr,
        users,
        refunds: a.refunds,
        wallet_reads: a.wallet_reads,
        run: chrono::Utc::now().timestamp_millis(),
        next: AtomicU64::new(0),
        booked: Mutex::new(Vec::new()),
        first_error: Mutex::new(None),
        dispatch_lag: Mutex::new(None),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let duration = Duration::from_secs(a.duration.max(1));
    let started = Instant::now();
    let outcome = rt.block_on(async {
        match a.rate {
            Some(rate) => open_loop(shared.clone(), rate, duration, a.slow_ms.map(Duration::from_millis)).await,
            None => closed_loop(shared.clone(), a.concurrency.max(1), duration).await,
        }
    });
    let elapsed = started.elapsed();
    report.fact("server_peak_rss_mib", server.peak_rss_kib().map(|k| (k as f64 / 1024.0).round()));
    server.stop();
    let samples = outcome?;
    report.elapsed_s = elapsed.as_secs_f64();
    let writes = samples[0].micros.len() + samples[1].micros.len();
    report.fact("bookings_per_second", (writes as f64 / elapsed.as_secs_f64()).round());
    for (name, s) in ["order", "refund", "wallet"].into_iter().zip(samples) {
        report.rows.push(s.row(name, elapsed));
    }
    if let Some(lag) = *shared.dispatch_lag.lock().expect("lock") {
        report.fact("dispatch_lag_max_ms", (lag.as_secs_f64() * 1e5).round() / 100.0);
    }
    if let Some(e) = shared.first_error.lock().expect("lock").take() {
        report.fact("first_error", e);
    }
    let ok = bdb.conclude(&mut report, &a.target)?;
    let errors: u64 = report.rows.iter().map(|r| r.errors).sum();
    Ok(if ok && errors == 0 { 0 } else { 1 })
}

/// The server under test: this binary's `serve`, its log in the temporary directory.
struct Server {
    child: Child,
    addr: SocketAddr,
    log_path: std::path::PathBuf,
}

impl Server {
    fn start(url: &str) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let log_path = std::env::temp_dir().join(format!("cashback-bench-server-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("CASHBACK_BIND", addr.to_string())
            .env("CASHBACK_SECRET_KEY", db::secret_key())
            .env("CASHBACK_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("CASHBACK_WALLET_SECRET", WALLET_SECRET)
            .env("CASHBACK_TIMEZONE", db::TIMEZONE)
            .env("CASHBACK_RATE_LIMIT", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut s = Server { child, addr, log_path };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline || s.child.try_wait()?.is_some() {
                let (log, shown) =
                    (std::fs::read_to_string(&s.log_path).unwrap_or_default(), s.log_path.display().to_string());
                s.stop();
                anyhow::bail!("the server did not start; its log ({shown}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("server: pid {} on {addr}, log {}", s.child.id(), s.log_path.display());
        Ok(s)
    }

    /// VmHWM: the most memory the server held at once.
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Stops the server and removes its log if it stayed empty (a log with warnings is kept).
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::fs::metadata(&self.log_path).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}

struct Shared {
    addr: SocketAddr,
    users: usize,
    refunds: f64,
    wallet_reads: f64,
    /// Order ids of this run start with it, so a run on a seeded database books new orders.
    run: i64,
    next: AtomicU64,
    /// Orders this run booked and has not refunded yet: (number, amount).
    booked: Mutex<Vec<(u64, i64)>>,
    first_error: Mutex<Option<String>>,
    /// Open loop: how late the dispatcher sent a request at worst.
    dispatch_lag: Mutex<Option<Duration>>,
}

const ORDER: usize = 0;
const REFUND: usize = 1;
const WALLET: usize = 2;

async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    c: &mut Conn,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let mut req = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    c.ready().await?;
    let resp = c.send_request(req.body(Full::new(Bytes::from(body)))?).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

async fn signed(c: &mut Conn, path: &str, body: String) -> anyhow::Result<(u16, Bytes)> {
    let t = chrono::Utc::now().timestamp();
    let sig = format!("t={t},v1={}", sign(MERCHANT_SECRET, t, body.as_bytes()));
    let h = [
        ("content-type", "application/json"),
        ("x-cashback-merchant", MERCHANT),
        ("x-cashback-signature", sig.as_str()),
    ];
    send(c, Method::POST, path, &h, body).await
}

/// One operation, chosen by the mix: which kind it was and whether it got the answer it should.
async fn one(c: &mut Conn, sh: &Shared) -> anyhow::Result<(usize, bool)> {
    let cny = Currency::parse("CNY").expect("CNY");
    let (op, user) = {
        let mut rng = rand::thread_rng();
        let x: f64 = rng.gen();
        let op = if x < sh.wallet_reads {
            WALLET
        } else if x < sh.wallet_reads + sh.refunds {
            REFUND
        } else {
            ORDER
        };
        (op, rng.gen_range(0..sh.users))
    };
    if op == WALLET {
        let now = chrono::Utc::now().timestamp();
        let claims = WalletClaims { sub: format!("u{user}"), iat: now, exp: now + 600, iss: None, jti: None };
        let auth = format!("Bearer {}", mint_wallet_token(WALLET_SECRET, &claims));
        let h = [("authorization", auth.as_str())];
        let (a, _) = send(c, Method::GET, "/v1/wallet", &h, String::new()).await?;
        let (b, body) = send(c, Method::GET, "/v1/wallet/entries?limit=20", &h, String::new()).await?;
        return Ok((WALLET, check(sh, "wallet", a.max(b), 200, &body)));
    }
    let refund = if op == REFUND {
        let mut b = sh.booked.lock().expect("lock");
        let n = b.len();
        (n > 0).then(|| b.swap_remove(rand::thread_rng().gen_range(0..n)))
    } else {
        None
    };
    if let Some((n, amount)) = refund {
        let k = sh.next.fetch_add(1, Ordering::Relaxed);
        let body = format!(r#"{{"refund_id":"r{k}","amount":"{}"}}"#, format_minor(amount * 3 / 10, cny));
        let (s, resp) = signed(c, &format!("/v1/orders/h{}-{n}/refunds", sh.run), body).await?;
        return Ok((REFUND, check(sh, "refund", s, 201, &resp)));
    }
    let n = sh.next.fetch_add(1, Ordering::Relaxed);
    let amount = 10_000 + (n as i64 * 7919 % 90_000);
    let paid_at =
        (chrono::Utc::now() - chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = format!(
        r#"{{"order_id":"h{}-{n}","user_id":"u{user}","currency":"CNY","amount":"{}","paid_at":"{paid_at}"}}"#,
        sh.run,
        format_minor(amount, cny)
    );
    let (s, resp) = signed(c, "/v1/orders", body).await?;
    let ok = check(sh, "order", s, 201, &resp);
    if ok {
        sh.booked.lock().expect("lock").push((n, amount));
    }
    Ok((ORDER, ok))
}

fn check(sh: &Shared, what: &str, status: u16, want: u16, body: &Bytes) -> bool {
    if status == want {
        return true;
    }
    let mut first = sh.first_error.lock().expect("lock");
    if first.is_none() {
        *first = Some(format!("{what}: {status} {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
    false
}

fn record(samples: &mut [Samples; 3], r: anyhow::Result<(usize, bool)>, took: Duration, sh: &Shared) {
    match r {
        Ok((op, true)) => samples[op].push(took),
        Ok((op, false)) => samples[op].errors += 1,
        Err(e) => {
            samples[ORDER].errors += 1;
            let mut first = sh.first_error.lock().expect("lock");
            first.get_or_insert_with(|| format!("transport: {e}"));
        }
    }
}

async fn closed_loop(sh: Arc<Shared>, concurrency: usize, duration: Duration) -> anyhow::Result<[Samples; 3]> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let sh = sh.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples: [Samples; 3] = Default::default();
            let mut c = connect(sh.addr).await?;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = one(&mut c, &sh).await;
                if r.is_err() {
                    c = connect(sh.addr).await?;
                }
                record(&mut samples, r, t.elapsed(), &sh);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all: [Samples; 3] = Default::default();
    for t in tasks {
        for (a, s) in all.iter_mut().zip(t.await??) {
            a.merge(s);
        }
    }
    Ok(all)
}

async fn open_loop(
    sh: Arc<Shared>,
    rate: f64,
    duration: Duration,
    slow: Option<Duration>,
) -> anyhow::Result<[Samples; 3]> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = (rate * duration.as_secs_f64()) as u64;
    let idle: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let samples: Arc<Mutex<[Samples; 3]>> = Arc::default();
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lag = Duration::ZERO;
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let (sh, idle, samples) = (sh.clone(), idle.clone(), samples.clone());
        // Latency counts from when the request was sent; the dispatcher's own lateness (the
        // timer's millisecond) is reported apart as `dispatch_lag_max_ms`.
        let sent = tokio::time::Instant::now();
        lag = lag.max(sent - due);
        tasks.spawn(async move {
            // The server closes a connection idle past its keep-alive: never reuse one it closed.
            let reuse = {
                let mut idle = idle.lock().expect("lock");
                std::iter::from_fn(|| idle.pop()).find(|c| !c.is_closed())
            };
            let mut c = match reuse {
                Some(c) => c,
                None => connect(sh.addr).await?,
            };
            let r = one(&mut c, &sh).await;
            let took = sent.elapsed();
            if slow.is_some_and(|s| took > s) {
                eprintln!(
                    "slow: sent at {:.3} s, took {:.1} ms",
                    (sent - start).as_secs_f64(),
                    took.as_secs_f64() * 1e3
                );
            }
            let fine = r.is_ok();
            record(&mut samples.lock().expect("lock"), r, took, &sh);
            if fine {
                idle.lock().expect("lock").push(c);
            }
            anyhow::Ok(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let out = std::mem::take(&mut *samples.lock().expect("lock"));
    *sh.dispatch_lag.lock().expect("lock") = Some(lag);
    Ok(out)
}
