//! The wallet API (a user's bearer wallet token). The page and withdrawals build on it.

use super::{auth, respond, AppState, HttpResult};
use crate::app::withdrawals::{self, WithdrawalIn};
use crate::app::{input, wallet};
use actix_web::{web, HttpRequest, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/wallet").route(web::get().to(get_wallet)))
        .service(web::resource("/v1/wallet/entries").route(web::get().to(entries)))
        .service(web::resource("/v1/wallet/withdrawals").route(web::post().to(withdraw)));
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    #[param(schema_with = crate::app::schema::currency)]
    currency: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    #[param(schema_with = crate::app::schema::cursor)]
    cursor: Option<String>,
}

/// Parses a query string strictly: an unknown or malformed parameter is 400.
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, crate::app::error::ApiError> {
    web::Query::<T>::from_query(req.query_string()).map(web::Query::into_inner).map_err(|e| {
        crate::app::error::err(crate::app::error::Code::InvalidRequest, format!("bad query parameter: {e}"))
    })
}

/// The user's postings, newest first, `limit` 50 by default and 200 at most.
#[utoipa::path(get, path = "/v1/wallet/entries", tag = "wallet", params(EntriesQuery),
    responses((status = 200, description = "{\"entries\": [...], \"next_cursor\"}")), security(("wallet" = [])))]
pub async fn entries(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    let claims = auth::wallet_bearer(&req, &st).await?;
    let q: EntriesQuery = query(&req)?;
    let svc = st.svc.clone();
    let v = st
        .read(move |c| wallet::entries(c, &svc, &claims.sub, q.currency.as_deref(), q.cursor.as_deref(), q.limit))
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Withdraw to one of the payout destinations the shop registered, at the fee shown before.
#[utoipa::path(post, path = "/v1/wallet/withdrawals", tag = "wallet", request_body = WithdrawalIn,
    responses((status = 201, description = "requested"), (status = 200, description = "the same request again: its first answer")), security(("wallet" = [])))]
pub async fn withdraw(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResult {
    let who = auth::wallet_user(&req, &st).await?;
    who.check_csrf(&req)?;
    let body = super::body::read(&req, payload, super::body::JSON_LIMIT).await?;
    super::body::require_json(&req, &body)?;
    let cmd = input::json::<WithdrawalIn>(&body)?.validate()?;
    let svc = st.svc.clone();
    Ok(respond(st.write(move |c, now| withdrawals::request(c, &svc, &who.user_id, cmd, now)).await?))
}

/// Balances per currency (available is net of clawback debt and may be negative) and terms.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallet",
    responses((status = 200, description = "the user's balances and terms"), (status = 401, description = "no valid wallet token")),
    security(("wallet" = [])))]
pub async fn get_wallet(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    let who = auth::wallet_user(&req, &st).await?;
    let svc = st.svc.clone();
    Ok(HttpResponse::Ok().json(st.read(move |c| wallet::get(c, &svc, &who.user_id)).await?))
}
