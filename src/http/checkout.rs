//! The checkout hook (merchant-signed): users, quotes, orders, refunds, cancels, store credit.

use super::auth::{self, may_open, Consent};
use super::{respond, AppState, HttpResult};
use crate::app::error::{err, Code};
use crate::app::orders::{self, OrderIn, QuoteIn, RefundIn};
use crate::app::redemptions::{self, CaptureIn, CreditRefundIn, HoldIn};
use crate::app::users::{self, UserIn};
use crate::app::{input, Actor};
use actix_web::{web, HttpRequest, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/users/{user_id}").route(web::put().to(put_user)))
        .service(web::resource("/v1/checkout/quote").route(web::post().to(quote)))
        .service(web::resource("/v1/orders").route(web::post().to(place_order)))
        .service(web::resource("/v1/orders/{order_id}").route(web::get().to(get_order)))
        .service(web::resource("/v1/orders/{order_id}/refunds").route(web::post().to(refund)))
        .service(web::resource("/v1/orders/{order_id}/cancel").route(web::post().to(cancel)))
        .service(web::resource("/v1/redemptions").route(web::post().to(hold)))
        .service(web::resource("/v1/redemptions/{id}").route(web::get().to(get_redemption)))
        .service(web::resource("/v1/redemptions/{id}/capture").route(web::post().to(capture)))
        .service(web::resource("/v1/redemptions/{id}/void").route(web::post().to(void)))
        .service(web::resource("/v1/redemptions/{id}/refunds").route(web::post().to(credit_refund)));
}

type St = web::Data<AppState>;

/// Create or update a user: referrer (once) and payout destinations.
#[utoipa::path(put, path = "/v1/users/{user_id}", tag = "checkout", request_body = Option<UserIn>,
    responses((status = 201, description = "created"), (status = 200, description = "updated")))]
pub async fn put_user(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let body: UserIn = input::json(&signed.body)?;
    let (svc, user_id, actor) = (st.svc.clone(), path.into_inner(), Actor::Merchant(signed.merchant_id));
    Ok(respond(st.write(move |c, now| users::put(c, &svc, &actor, &user_id, body, now)).await?))
}

/// What an order would book now; writes nothing.
#[utoipa::path(post, path = "/v1/checkout/quote", tag = "checkout", request_body = QuoteIn,
    responses((status = 200, description = "the fields an order would book now, and the terms")))]
pub async fn quote(req: HttpRequest, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let body: QuoteIn = input::json(&signed.body)?;
    let (svc, clock, m) = (st.svc.clone(), st.clock.clone(), signed.merchant_id);
    let v = st.read(move |c| orders::quote(c, &svc, &m, body, clock.now())).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The order is paid: books the cashback, the referral and the platform share.
#[utoipa::path(post, path = "/v1/orders", tag = "checkout", request_body = OrderIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same order again: the first answer")))]
pub async fn place_order(req: HttpRequest, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let body: OrderIn = input::json(&signed.body)?;
    let cmd = body.validate(&signed.merchant_id, st.clock.now())?;
    let svc = st.svc.clone();
    let hint = orders::place_hint(&cmd, st.clock.now());
    Ok(respond(st.write_order(hint, move |c, now| orders::place(c, &svc, cmd, now)).await?))
}

/// The order's current state, with its refunds.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "checkout",
    responses((status = 200, description = "the order"), (status = 404, description = "unknown or another merchant's")))]
pub async fn get_order(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let (svc, m, id) = (st.svc.clone(), signed.merchant_id, path.into_inner());
    Ok(HttpResponse::Ok().json(st.read(move |c| orders::get(c, &svc, &m, &id)).await?))
}

/// A refund: reverses, pro rata and cumulatively, what the order booked.
#[utoipa::path(post, path = "/v1/orders/{order_id}/refunds", tag = "checkout", request_body = RefundIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same refund again")))]
pub async fn refund(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let cmd = input::json::<RefundIn>(&signed.body)?.validate()?;
    let (m, id) = (signed.merchant_id, path.into_inner());
    let hint = orders::refund_hint(&m, &id, &cmd.refund_id, st.clock.now());
    Ok(respond(st.write_order(hint, move |c, now| orders::refund(c, &m, &id, cmd, now)).await?))
}

/// Cancels the order: reverses whatever is left.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "checkout",
    responses((status = 200, description = "cancelled (the refund shape, refund_id \"cancel\")")))]
pub async fn cancel(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    empty(&signed.body)?;
    let (m, id) = (signed.merchant_id, path.into_inner());
    let hint = orders::cancel_hint(&m, &id, st.clock.now());
    Ok(respond(st.write_order(hint, move |c, now| orders::cancel(c, &m, &id, now)).await?))
}

/// Endpoints without a body accept an empty one or `{}`.
fn empty(body: &[u8]) -> Result<(), crate::app::error::ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    input::json::<Nothing>(body).map(drop)
}

/// Holds store credit for a checkout, with the user's consent (a wallet token).
#[utoipa::path(post, path = "/v1/redemptions", tag = "store credit", request_body = HoldIn,
    params(("X-Cashback-User-Token" = String, Header, description = "a wallet token of the user")),
    responses((status = 201, description = "held"), (status = 200, description = "the same request again: its first answer")))]
pub async fn hold(req: HttpRequest, payload: web::Payload, st: St) -> HttpResult {
    // Both credentials first (401), then the body (413, 401, 415, 400), then consent (403).
    let creds = auth::merchant_credentials(&req, &st).await?;
    let token = req.headers().get("X-Cashback-User-Token").and_then(|v| v.to_str().ok());
    let consent = auth::user_token(token, creds.merchant_id(), &st).await?;
    let signed = auth::merchant_body(&req, payload, &st, creds).await?;
    let cmd = input::json::<HoldIn>(&signed.body)?.validate()?;
    match consent {
        Consent::ForeignIssuer => return Err(err(Code::Forbidden, "the user token was issued by another merchant")),
        Consent::Valid(claims) if !may_open(&claims, &cmd.user_id) => {
            return Err(err(Code::Forbidden, "the user token is not for this user"))
        }
        Consent::Valid(_) => {}
    }
    let (svc, m) = (st.svc.clone(), signed.merchant_id);
    Ok(respond(st.write(move |c, now| redemptions::hold(c, &svc, &m, cmd, now)).await?))
}

#[utoipa::path(get, path = "/v1/redemptions/{id}", tag = "store credit", responses((status = 200, description = "the redemption")))]
pub async fn get_redemption(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let (svc, m, id, clock) = (st.svc.clone(), signed.merchant_id, path.into_inner(), st.clock.clone());
    Ok(HttpResponse::Ok().json(st.read(move |c| redemptions::get(c, &svc, &m, &id, clock.now())).await?))
}

/// Captures up to the held amount; the rest returns to available in the same entry.
#[utoipa::path(post, path = "/v1/redemptions/{id}/capture", tag = "store credit", request_body = Option<CaptureIn>,
    responses((status = 200, description = "captured")))]
pub async fn capture(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let body: CaptureIn = input::json(&signed.body)?;
    let (m, id) = (signed.merchant_id, path.into_inner());
    Ok(respond(st.write(move |c, now| redemptions::capture(c, &m, &id, body, now)).await?))
}

#[utoipa::path(post, path = "/v1/redemptions/{id}/void", tag = "store credit", responses((status = 200, description = "voided")))]
pub async fn void(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    empty(&signed.body)?;
    let (m, id) = (signed.merchant_id, path.into_inner());
    Ok(respond(st.write(move |c, now| redemptions::void(c, &m, &id, now)).await?))
}

/// Credit spent on an order that was refunded goes back to available.
#[utoipa::path(post, path = "/v1/redemptions/{id}/refunds", tag = "store credit", request_body = CreditRefundIn,
    responses((status = 201, description = "credited back"), (status = 200, description = "the same request again: its first answer")))]
pub async fn credit_refund(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let signed = auth::merchant(&req, payload, &st).await?;
    let body: CreditRefundIn = input::json(&signed.body)?;
    let (m, id) = (signed.merchant_id, path.into_inner());
    Ok(respond(st.write(move |c, now| redemptions::credit_refund(c, &m, &id, body, now)).await?))
}
