//! Health, readiness, request ids and the OpenAPI document.

use super::{AppState, HttpResult};
use crate::store::conn::migrations_current;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi)));
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database is reachable, its migrations are current, and the writer books.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn readyz(st: web::Data<AppState>) -> HttpResult {
    let current = st.read(|c| Ok(migrations_current(c))).await;
    let writer = st.write(|c, _| Ok(c.batch_execute("SELECT 1")?)).await;
    Ok(match (current, writer) {
        (Ok(true), Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        (Ok(false), _) => HttpResponse::ServiceUnavailable().json(json!({"status": "migrations pending"})),
        (Err(_), _) => HttpResponse::ServiceUnavailable().json(json!({"status": "database unreachable"})),
        (_, Err(_)) => HttpResponse::ServiceUnavailable().json(json!({"status": "writer unavailable"})),
    })
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

/// Every answer carries `X-Request-Id`: the caller's own when it sent a sane one (at most 64 of
/// `[A-Za-z0-9._-]`), else a new one; the access log prints it, so a shop's support ticket
/// and our logs meet on one line.
pub async fn request_id(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let name = HeaderName::from_static("x-request-id");
    let sane = |v: &str| {
        !v.is_empty()
            && v.len() <= 64
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let id = req
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| crate::crypto::random_id("req"));
    let value = HeaderValue::from_str(&id).expect("a sane id is a header value");
    req.headers_mut().insert(name.clone(), value.clone());
    let mut res = next.call(req).await?;
    res.headers_mut().insert(name, value);
    Ok(res)
}
