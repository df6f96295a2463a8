//! Builds the application: the database (migrations, time zone, writer lock), the one writer,
//! the read pool, the background job and the HTTP server. Binds port 0 in tests.

use crate::app::{catchup, Services};
use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::http::{self, AppState};
use crate::store::conn::{check_timezone, migrate, read_pool, setup_writer, spawn_checkpointer};
use crate::store::{DbUrl, Writer};
use actix_web::{dev::Server, web, App, HttpServer};
use std::net::TcpListener;
use std::time::Duration;

/// How often the background job books due releases and expiries (at least once a minute).
pub const JOB_INTERVAL: Duration = Duration::from_secs(20);
/// Jobs waiting for the writer; past this, writes answer 503 `unavailable`.
pub const WRITE_QUEUE: usize = 10_000;

pub struct Application {
    port: u16,
    server: Server,
    pub state: web::Data<AppState>,
}

/// What `build` needs besides the settings: the clock (tests move it) and the secret key
/// (already generated under `--demo`).
pub struct Parts {
    pub clock: Clock,
    pub secrets: SecretBox,
    pub admin_tokens: Vec<(String, String)>,
    pub wallet_secret: Option<String>,
}

/// Opens the database for writing: connects, migrates, checks the time zone, takes the
/// writer lock, and starts the one writer.
pub fn open_writer(settings: &Settings) -> anyhow::Result<(DbUrl, Writer)> {
    let url = DbUrl::parse(&settings.database_url)?;
    let mut conn = url.connect()?;
    migrate(&mut conn)?;
    check_timezone(&mut conn, &settings.timezone)?;
    setup_writer(&mut conn)?;
    let again = url.clone();
    let reopen = Box::new(move || {
        let mut c = again.connect().ok()?;
        setup_writer(&mut c).ok()?;
        Some(c)
    });
    let writer = Writer::start(conn, WRITE_QUEUE, reopen);
    spawn_checkpointer(&url, writer.watch());
    Ok((url, writer))
}

impl Application {
    pub fn build(settings: &Settings, writer: Writer, url: &DbUrl, parts: Parts) -> anyhow::Result<Application> {
        let tz = settings.tz().map_err(anyhow::Error::msg)?;
        let pool = read_pool(url, if url.is_sqlite() { 8 } else { 6 })?;
        let metrics = http::metrics::Metrics::new(&writer);
        let state = web::Data::new(AppState {
            metrics,
            writer,
            pool,
            clock: parts.clock,
            svc: Services { tz, secrets: parts.secrets },
            admin_tokens: parts.admin_tokens,
            wallet_secret: parts.wallet_secret,
            rate_limit: http::limit::RateLimit::new(settings.rate_limit, settings.rate_burst),
            signing_secrets: http::auth::SecretCache::default(),
        });
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(http::problem::handlers())
                .wrap(actix_web::middleware::from_fn(http::metrics::record))
                .wrap(tracing_actix())
                .wrap(actix_web::middleware::from_fn(http::ops::request_id))
                .app_data(data.clone())
                .configure(http::routes)
        })
        .workers(2)
        .listen(listener)?
        .run();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped, running the release job alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(JOB_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = state.write(crate::app::sessions::purge).await {
                    tracing::warn!(error = %e, "purging ended sessions failed");
                }
                match state.write(|c, now| catchup::everything(c, now, 1_000)).await {
                    Ok((0, 0)) => {}
                    Ok((released, expired)) => tracing::info!(released, expired, "release job"),
                    Err(e) => tracing::warn!(error = %e, "release job failed; it runs again shortly"),
                }
            }
        });
        self.server.await
    }
}

/// Request logging without query strings (a login link's token must never reach the logs).
fn tracing_actix() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new("%{METHOD}xi %U %s %Dms request_id=%{x-request-id}i")
        .custom_request_replace("METHOD", |r| r.method().to_string())
}
