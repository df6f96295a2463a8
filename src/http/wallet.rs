//! The wallet API (a user's bearer wallet token). The page and withdrawals build on it.

use super::{auth, AppState, HttpResult};
use crate::app::wallet;
use actix_web::{web, HttpRequest, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/wallet").route(web::get().to(get_wallet)));
}

/// Balances per currency (available is net of clawback debt and may be negative) and terms.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallet",
    responses((status = 200, description = "the user's balances and terms"), (status = 401, description = "no valid wallet token")),
    security(("wallet" = [])))]
pub async fn get_wallet(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    let claims = auth::wallet_bearer(&req, &st).await?;
    let svc = st.svc.clone();
    Ok(HttpResponse::Ok().json(st.read(move |c| wallet::get(c, &svc, &claims.sub)).await?))
}
