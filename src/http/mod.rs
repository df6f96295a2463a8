//! The HTTP layer (actix-web): authentication, body limits, problem+json, and one module
//! per consumer. Handlers parse, authenticate and hand a validated command to `app`.

pub mod admin;
pub mod auth;
pub mod body;
pub mod checkout;
pub mod finance;
pub mod hooks;
pub mod i18n;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod problem;
pub mod wallet;

use crate::app::error::{ApiError, ApiResult};
use crate::app::{Outcome, Services};
use crate::clock::Clock;
use crate::store::prefetch::Hint;
use crate::store::{DbConn, DbPool, Writer};
use actix_web::{web, HttpResponse};

/// Shared by every handler.
pub struct AppState {
    pub writer: Writer,
    pub pool: DbPool,
    pub clock: Clock,
    pub svc: Services,
    /// (operator name, token).
    pub admin_tokens: Vec<(String, String)>,
    /// CASHBACK_WALLET_SECRET: signs platform wallet tokens.
    pub wallet_secret: Option<String>,
    pub rate_limit: limit::RateLimit,
    /// Merchants' signing secrets in clear, for a second at most (see `auth::SecretCache`).
    pub signing_secrets: auth::SecretCache,
    pub metrics: metrics::Metrics,
}

impl AppState {
    /// Runs a read on a pool connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(|e| {
                tracing::error!(error = %e, "no database connection for a read");
                crate::app::error::err(crate::app::error::Code::Unavailable, "the database is not reachable")
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|_| crate::app::error::err(crate::app::error::Code::Internal, "the read was interrupted"))?
    }

    /// Runs a write in the one writer; `f` gets the booking time, read when the job runs.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, i64) -> ApiResult<T> + Send + 'static,
    {
        let clock = self.clock.clone();
        Ok(self.writer.write(move |c: &mut DbConn| f(c, clock.now())).await?)
    }

    /// The same for an order, a refund or a cancel: the batch reads what `hint` names (the
    /// order, its buyer, its idempotency keys) ahead, for all its jobs at once (store::prefetch).
    pub async fn write_order<T, F>(&self, hint: Hint, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, i64) -> ApiResult<T> + Send + 'static,
    {
        let clock = self.clock.clone();
        Ok(self.writer.write_hinted(hint, move |c: &mut DbConn| f(c, clock.now())).await?)
    }
}

pub fn respond(outcome: Outcome) -> HttpResponse {
    match outcome {
        Outcome::Created(v) => HttpResponse::Created().json(v),
        Outcome::Done(v) => HttpResponse::Ok().json(v),
        Outcome::Replayed(body) => HttpResponse::Ok().content_type("application/json").body(body),
    }
}

pub type HttpResult = Result<HttpResponse, ApiError>;

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    ops::routes(cfg);
    cfg.service(web::resource("/metrics").route(web::get().to(metrics::metrics)));
    checkout::routes(cfg);
    admin::routes(cfg);
    wallet::routes(cfg);
    pages::routes(cfg);
    finance::routes(cfg);
    hooks::routes(cfg);
}
