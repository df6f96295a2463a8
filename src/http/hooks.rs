//! The shop platforms' webhooks and their admin side. Checks in the contract's order: the
//! signature header and the merchant's integration (401), size (1 MiB, 413), the HMAC over the
//! raw body (401), the content type (415); then the delivery is stored and applied in the
//! writer and answered 200, whatever the ledger made of it (docs/integrations.md).

use super::{auth, body, respond, AppState, HttpResult};
use crate::app::error::{err, ApiResult, Code};
use crate::app::hooks::{self, Delivery, IntegrationIn, Platform};
use crate::app::input;
use crate::crypto::{base64_hmac_matches, wp_specialchars_decode};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// API.md §1: webhooks may be up to 1 MiB.
pub const HOOK_LIMIT: usize = 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/hooks/shopify/{merchant_id}").route(web::post().to(shopify)))
        .service(web::resource("/v1/hooks/woocommerce/{merchant_id}").route(web::post().to(woocommerce)))
        .service(
            web::resource("/v1/admin/merchants/{id}/integrations/{platform}").route(web::put().to(put_integration)),
        )
        .service(web::resource("/v1/admin/hook-exceptions").route(web::get().to(exceptions)))
        .service(web::resource("/v1/admin/hook-exceptions/retry").route(web::post().to(retry_exceptions)));
}

type St = web::Data<AppState>;

fn header_text<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn bad_signature(detail: &str) -> crate::app::error::ApiError {
    err(Code::SignatureInvalid, detail.to_string())
}

/// The platform's secret for this merchant, or 401 (unknown merchant or not connected).
async fn secret(st: &St, merchant: &str, platform: Platform) -> ApiResult<String> {
    let (svc, m) = (st.svc.clone(), merchant.to_string());
    st.read(move |c| hooks::secret(c, &svc, &m, platform))
        .await?
        .ok_or_else(|| bad_signature(&format!("merchant {merchant:?} has not connected {}", platform.as_str())))
}

/// Size, HMAC, content type, UTF-8; then stored and applied in the writer.
async fn deliver(
    req: &HttpRequest,
    payload: web::Payload,
    st: &St,
    merchant_id: String,
    platform: Platform,
    key: Vec<u8>,
    signature: String,
) -> HttpResult {
    let raw = body::read(req, payload, HOOK_LIMIT).await?;
    if !base64_hmac_matches(&key, &raw, &signature) {
        return Err(bad_signature("the signature does not match the body"));
    }
    body::require_json(req, &raw)?;
    // Signed bytes that are not UTF-8 are still the shop's: kept (invalid sequences replaced)
    // and judged like any other body, never refused with an error WooCommerce would count.
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (id_header, topic_header) = match platform {
        Platform::Shopify => ("X-Shopify-Webhook-Id", "X-Shopify-Topic"),
        Platform::WooCommerce => ("X-WC-Webhook-Delivery-ID", "X-WC-Webhook-Topic"),
    };
    let delivery_id = header_text(req, id_header).map(|s| s.chars().take(255).collect()).unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
    });
    let topic = header_text(req, topic_header).unwrap_or_default().chars().take(100).collect();
    let d = Delivery { merchant_id, platform, delivery_id, topic, body: text };
    let svc = st.svc.clone();
    // Nothing stored, whatever failed: the platform must retry, so it is a 503, never a 500.
    let answer = st.write(move |c, now| hooks::receive(c, &svc, d, now)).await.map_err(|e| {
        if e.code.status() >= 500 {
            tracing::error!(error = %e, "webhook delivery not stored");
            err(Code::Unavailable, "the delivery was not stored; send it again")
        } else {
            e
        }
    })?;
    tracing::info!(platform = platform.as_str(), status = %answer["status"], "webhook delivery");
    Ok(HttpResponse::Ok().json(answer))
}

/// Shopify: `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the raw body.
#[utoipa::path(post, path = "/v1/hooks/shopify/{merchant_id}", tag = "shop webhooks",
    params(("X-Shopify-Hmac-Sha256" = String, Header, description = "base64 HMAC-SHA256 of the raw body"),
           ("X-Shopify-Topic" = String, Header, description = "orders/paid, refunds/create, orders/cancelled; others are ignored")),
    responses((status = 200, description = "stored (and applied, ignored or parked)"), (status = 401, description = "signature missing or wrong"),
              (status = 503, description = "not stored: retry")))]
pub async fn shopify(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let merchant = path.into_inner();
    let sig = header_text(&req, "X-Shopify-Hmac-Sha256")
        .ok_or_else(|| bad_signature("X-Shopify-Hmac-Sha256 is missing"))?
        .to_string();
    let secret = secret(&st, &merchant, Platform::Shopify).await?;
    deliver(&req, payload, &st, merchant, Platform::Shopify, secret.into_bytes(), sig).await
}

/// WooCommerce: `X-WC-Webhook-Signature`, the base64 HMAC-SHA256 of the raw body under the
/// secret as WordPress decodes it. The unsigned creation ping (`webhook_id=N`) answers 200.
#[utoipa::path(post, path = "/v1/hooks/woocommerce/{merchant_id}", tag = "shop webhooks",
    params(("X-WC-Webhook-Signature" = String, Header, description = "base64 HMAC-SHA256 of the raw body"),
           ("X-WC-Webhook-Topic" = String, Header, description = "order.created, order.updated; others are ignored")),
    responses((status = 200, description = "stored (and applied, ignored or parked), or the creation ping"),
              (status = 401, description = "signature missing or wrong"), (status = 503, description = "not stored: retry")))]
pub async fn woocommerce(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let merchant = path.into_inner();
    let Some(sig) = header_text(&req, "X-WC-Webhook-Signature").map(str::to_string) else {
        return ping(&req, payload).await;
    };
    let secret = secret(&st, &merchant, Platform::WooCommerce).await?;
    let key = wp_specialchars_decode(&secret).into_bytes();
    deliver(&req, payload, &st, merchant, Platform::WooCommerce, key, sig).await
}

/// WooCommerce checks a new webhook's URL with an unsigned form post `webhook_id=N`; it must
/// get a 200, and it books and stores nothing. Anything else unsigned is 401.
async fn ping(req: &HttpRequest, payload: web::Payload) -> HttpResult {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let raw = body::read(req, payload, 1024).await.map_err(|_| bad_signature("X-WC-Webhook-Signature is missing"))?;
    let text = std::str::from_utf8(&raw).unwrap_or_default().trim();
    let id = text.strip_prefix("webhook_id=").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    match id {
        Some(id) if form => Ok(HttpResponse::Ok().json(json!({"ping": true, "webhook_id": id}))),
        _ => Err(bad_signature("X-WC-Webhook-Signature is missing")),
    }
}

/// Connects a shop: the secret the platform signs its webhooks with (never returned).
#[utoipa::path(put, path = "/v1/admin/merchants/{id}/integrations/{platform}", tag = "admin",
    request_body = IntegrationIn, params(("platform" = String, Path, description = "shopify or woocommerce")),
    responses((status = 201, description = "connected"), (status = 200, description = "secret replaced")),
    security(("admin" = [])))]
pub async fn put_integration(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    st: St,
) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let input: IntegrationIn = input::json(&body)?;
    let (merchant, platform) = path.into_inner();
    let svc = st.svc.clone();
    Ok(respond(st.write(move |c, now| hooks::put_integration(c, &svc, &op, &merchant, &platform, input, now)).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExceptionsQuery {
    #[param(schema_with = crate::app::schema::merchant_id)]
    merchant_id: Option<String>,
    #[param(schema_with = crate::app::schema::cursor)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Deliveries parked because a business rule refused them, oldest first.
#[utoipa::path(get, path = "/v1/admin/hook-exceptions", tag = "admin", params(ExceptionsQuery),
    responses((status = 200, description = "{\"exceptions\": [...], \"next_cursor\"}")), security(("admin" = [])))]
pub async fn exceptions(req: HttpRequest, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: ExceptionsQuery = super::wallet::query(&req)?;
    q.merchant_id.as_deref().map(|m| crate::app::input::merchant_id("merchant_id", m)).transpose()?;
    let svc = st.svc.clone();
    let v =
        st.read(move |c| hooks::exceptions(c, &svc, q.merchant_id.as_deref(), q.cursor.as_deref(), q.limit)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RetryQuery {
    #[param(schema_with = crate::app::schema::merchant_id)]
    merchant_id: Option<String>,
}

/// Applies every parked delivery again (of one merchant, or all), oldest first.
#[utoipa::path(post, path = "/v1/admin/hook-exceptions/retry", tag = "admin", params(RetryQuery),
    responses((status = 200, description = "{\"applied\": n, \"still_parked\": n}")), security(("admin" = [])))]
pub async fn retry_exceptions(req: HttpRequest, st: St) -> HttpResult {
    let op = auth::admin(&req, &st)?;
    let q: RetryQuery = super::wallet::query(&req)?;
    q.merchant_id.as_deref().map(|m| crate::app::input::merchant_id("merchant_id", m)).transpose()?;
    let svc = st.svc.clone();
    let v = st.write(move |c, now| hooks::retry_exceptions(c, &svc, &op, q.merchant_id.as_deref(), now)).await?;
    Ok(HttpResponse::Ok().json(v))
}
