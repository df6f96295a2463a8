//! Health, readiness and the OpenAPI document.

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
