//! Finance exports (admin): the journal and the trial balance, as files.

use super::{auth, AppState, HttpResult};
use crate::app::error::{err, Code};
use crate::app::exports;
use crate::export::{journal, trial};
use actix_web::{web, HttpRequest, HttpResponse};

const CHUNK: usize = 64 * 1024;

/// Sends what is written, in chunks, to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // The client went away: stop writing.
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::other("the client went away"))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/exports/journal").route(web::get().to(journal_export)))
        .service(web::resource("/v1/admin/exports/trial-balance").route(web::get().to(trial_balance)))
        .service(web::resource("/v1/admin/exports/payouts").route(web::get().to(payouts_export)))
        .service(web::resource("/v1/admin/exports/audit").route(web::get().to(audit_export)))
        .service(web::resource("/v1/admin/payout-batches").route(web::post().to(payout_batch)))
        .service(web::resource("/v1/admin/reconcile").route(web::post().to(reconcile)))
        .service(web::resource("/v1/admin/exports/liabilities").route(web::get().to(liabilities)))
        .service(web::resource("/v1/admin/exports/merchant-statements").route(web::get().to(statements)));
}

/// A CSV report over a period, written from the journal.
type Report = fn(&mut crate::store::DbConn, i64, i64, &mut dyn std::io::Write) -> anyhow::Result<()>;

async fn period_report(req: HttpRequest, st: web::Data<AppState>, report: Report) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: PeriodQuery = super::wallet::query(&req)?;
    let (from, to) = period(&q, &st.svc)?;
    let to = if to == i64::MAX { st.clock.now() + 1 } else { to };
    let body = st
        .read(move |c| {
            let mut out = Vec::new();
            report(c, from, to, &mut out).map_err(|e| err(Code::Internal, e.to_string()))?;
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

/// Per merchant and currency: orders, refunds, store credit, settlements, receivable and payable.
#[utoipa::path(get, path = "/v1/admin/exports/merchant-statements", tag = "finance", params(PeriodQuery),
    responses((status = 200, description = "CSV")), security(("admin" = [])))]
pub async fn statements(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    period_report(req, st, crate::export::statements::write).await
}

/// The liability roll-forward and the clawback receivable's, per currency, for [from, to).
#[utoipa::path(get, path = "/v1/admin/exports/liabilities", tag = "finance", params(PeriodQuery),
    responses((status = 200, description = "CSV")), security(("admin" = [])))]
pub async fn liabilities(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    period_report(req, st, crate::export::liabilities::write).await
}

/// Reconcile files may be large: 100 MiB.
pub const RECONCILE_LIMIT: usize = 100 * 1024 * 1024;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    #[param(schema_with = crate::app::schema::merchant_id, required = true)]
    merchant_id: String,
    #[param(schema_with = crate::app::schema::period_bound, required = true)]
    from: String,
    #[param(schema_with = crate::app::schema::period_bound, required = true)]
    to: String,
}

/// The shop's order report (text/csv) against the ledger; one row per difference.
#[utoipa::path(post, path = "/v1/admin/reconcile", tag = "finance", params(ReconcileQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "the differences as CSV; only the header when none")), security(("admin" = [])))]
pub async fn reconcile(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResult {
    auth::admin(&req, &st)?;
    let body = super::body::read(&req, payload, RECONCILE_LIMIT).await?;
    let ct = req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/csv") {
        return Err(err(Code::UnsupportedMediaType, "send the shop's order report as Content-Type: text/csv"));
    }
    let q: ReconcileQuery = super::wallet::query(&req)?;
    crate::app::input::merchant_id("merchant_id", &q.merchant_id)?;
    let from = crate::app::corrections::bound("from", &q.from, &st.svc)?;
    let to = crate::app::corrections::bound("to", &q.to, &st.svc)?;
    let (csv, _) = st.read(move |c| crate::app::reconcile::run(c, &q.merchant_id, from, to, &body)).await?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(csv))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    #[param(schema_with = crate::app::schema::period_bound)]
    from: Option<String>,
    #[param(schema_with = crate::app::schema::period_bound)]
    to: Option<String>,
    #[param(schema_with = crate::app::schema::csv_only)]
    format: Option<String>,
}

/// The payouts export's: a period and a withdrawal status.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PayoutsQuery {
    #[param(schema_with = crate::app::schema::period_bound)]
    from: Option<String>,
    #[param(schema_with = crate::app::schema::period_bound)]
    to: Option<String>,
    #[param(schema_with = crate::app::schema::csv_only)]
    format: Option<String>,
    #[param(schema_with = crate::app::schema::withdrawal_status)]
    status: Option<String>,
}

fn period(q: &PeriodQuery, svc: &crate::app::Services) -> Result<(i64, i64), crate::app::error::ApiError> {
    if q.format.as_deref().unwrap_or("csv") != "csv" {
        return Err(err(Code::InvalidRequest, "this export is csv"));
    }
    let b = |f: &str, v: &Option<String>| v.as_deref().map(|v| crate::app::corrections::bound(f, v, svc)).transpose();
    Ok((b("from", &q.from)?.unwrap_or(i64::MIN), b("to", &q.to)?.unwrap_or(i64::MAX)))
}

/// Withdrawals requested in [from, to), by status; read only.
#[utoipa::path(get, path = "/v1/admin/exports/payouts", tag = "finance", params(PayoutsQuery),
    responses((status = 200, description = "CSV")), security(("admin" = [])))]
pub async fn payouts_export(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: PayoutsQuery = super::wallet::query(&req)?;
    let period_q = PeriodQuery { from: q.from, to: q.to, format: q.format };
    let (from, to) = period(&period_q, &st.svc)?;
    let svc = st.svc.clone();
    let body = st.read(move |c| crate::app::payouts::export(c, &svc, from, to, q.status.as_deref())).await?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

/// The audit trail in [from, to) as CSV.
#[utoipa::path(get, path = "/v1/admin/exports/audit", tag = "finance", params(PeriodQuery),
    responses((status = 200, description = "CSV")), security(("admin" = [])))]
pub async fn audit_export(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: PeriodQuery = super::wallet::query(&req)?;
    let (from, to) = period(&q, &st.svc)?;
    let svc = st.svc.clone();
    let body = st.read(move |c| crate::app::payouts::audit_csv(c, &svc, from, to)).await?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

/// Moves every requested withdrawal of a currency to `processing`; answers the batch as CSV.
#[utoipa::path(post, path = "/v1/admin/payout-batches", tag = "finance", request_body = crate::app::payouts::BatchIn,
    responses((status = 201, description = "the batch as CSV"), (status = 200, description = "the same batch again")),
    security(("admin" = [])))]
pub async fn payout_batch(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: crate::app::payouts::BatchIn = crate::app::input::json(&body)?;
    let svc = st.svc.clone();
    let outcome = st.write(move |c, now| crate::app::payouts::batch(c, &svc, &op, body, now)).await?;
    let (status, csv) = match outcome {
        crate::app::Outcome::Created(serde_json::Value::String(s)) => (actix_web::http::StatusCode::CREATED, s),
        crate::app::Outcome::Replayed(s) => (actix_web::http::StatusCode::OK, s),
        _ => return Err(err(Code::Internal, "a batch answers CSV")),
    };
    Ok(HttpResponse::build(status).content_type("text/csv; charset=utf-8").body(csv))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    #[param(schema_with = crate::app::schema::period_bound)]
    from: Option<String>,
    #[param(schema_with = crate::app::schema::period_bound)]
    to: Option<String>,
    #[param(schema_with = crate::app::schema::journal_format)]
    format: Option<String>,
}

fn content_type(f: journal::Format) -> &'static str {
    match f {
        journal::Format::Csv => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// The journal of entries recorded in [from, to): csv, hledger or beancount.
#[utoipa::path(get, path = "/v1/admin/exports/journal", tag = "finance", params(JournalQuery),
    responses((status = 200, description = "the journal file")), security(("admin" = [])))]
pub async fn journal_export(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: JournalQuery = super::wallet::query(&req)?;
    let f = exports::format(q.format.as_deref())?;
    let svc = st.svc.clone();
    let from = exports::bound("from", q.from.as_deref(), f, &svc)?;
    let to = exports::bound("to", q.to.as_deref(), f, &svc)?;
    // Streamed: a blocking task writes the journal page by page into a bounded channel, so the
    // server's memory stays flat whatever the period's size.
    let mut conn = st.pool.get().map_err(|_| err(Code::Unavailable, "the database is not reachable"))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let result =
            journal::write(&mut conn, svc.tz, from, to, f, &mut w).and_then(|_| Ok(std::io::Write::flush(&mut w)?));
        if let Err(e) = result {
            tracing::error!(error = %e, "the journal export stopped part way");
            let _ = tx.blocking_send(Err(std::io::Error::other("the export failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(HttpResponse::Ok().content_type(content_type(f)).streaming(body))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrialQuery {
    #[param(schema_with = crate::app::schema::date)]
    as_of: Option<String>,
    #[param(schema_with = crate::app::schema::csv_only)]
    format: Option<String>,
    #[param(schema_with = crate::app::schema::class_only)]
    by: Option<String>,
}

/// The trial balance at the end of day `as_of` (now when absent), per account or `by=class`.
#[utoipa::path(get, path = "/v1/admin/exports/trial-balance", tag = "finance", params(TrialQuery),
    responses((status = 200, description = "CSV")), security(("admin" = [])))]
pub async fn trial_balance(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: TrialQuery = super::wallet::query(&req)?;
    if q.format.as_deref().unwrap_or("csv") != "csv" {
        return Err(err(Code::InvalidRequest, "the trial balance is csv"));
    }
    let by_class = match q.by.as_deref() {
        None => false,
        Some("class") => true,
        Some(_) => return Err(err(Code::InvalidRequest, "by must be class")),
    };
    let at = exports::as_of(q.as_of.as_deref(), &st.svc, st.clock.now())?;
    let body = st
        .read(move |c| {
            let mut out = Vec::new();
            trial::write(c, at, by_class, &mut out).map_err(|e| err(Code::Internal, e.to_string()))?;
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}
