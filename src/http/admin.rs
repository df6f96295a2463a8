//! Admin endpoints (admin token): merchants, secrets, programs, users, jobs, verify.

use super::auth;
use super::{respond, AppState, HttpResult};
use crate::app::corrections::{self, AdjustmentIn, SettlementIn, WriteOffIn};
use crate::app::merchants::{self, MerchantIn, SecretIn};
use crate::app::programs::{self, ProgramIn};
use crate::app::reserve::{self, DepositIn};
use crate::app::users::{self, UserIn};
use crate::app::withdrawals::{self, PaidIn, RejectIn, SettingsIn};
use crate::app::{catchup, input, verify, Actor};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/merchants/{id}").route(web::put().to(put_merchant)))
        .service(web::resource("/v1/admin/merchants/{id}/secrets").route(web::post().to(add_secret)))
        .service(web::resource("/v1/admin/merchants/{id}/secrets/{secret_id}").route(web::delete().to(delete_secret)))
        .service(
            web::resource("/v1/admin/merchants/{id}/program")
                .route(web::put().to(put_program))
                .route(web::get().to(get_programs)),
        )
        .service(web::resource("/v1/admin/users/{user_id}").route(web::put().to(put_user)))
        .service(web::resource("/v1/admin/jobs/release").route(web::post().to(release)))
        .service(web::resource("/v1/admin/verify").route(web::get().to(verify_all)))
        .service(
            web::resource("/v1/admin/withdrawal-settings/{currency}").route(web::put().to(put_withdrawal_settings)),
        )
        .service(web::resource("/v1/admin/reserve/deposits").route(web::post().to(deposit)))
        .service(web::resource("/v1/admin/withdrawals").route(web::get().to(list_withdrawals)))
        .service(web::resource("/v1/admin/withdrawals/{id}/paid").route(web::post().to(withdrawal_paid)))
        .service(web::resource("/v1/admin/withdrawals/{id}/reject").route(web::post().to(withdrawal_reject)))
        .service(web::resource("/v1/admin/merchants/{id}/settlements").route(web::post().to(settle)))
        .service(web::resource("/v1/admin/clawbacks/{user_id}/write-off").route(web::post().to(write_off)))
        .service(web::resource("/v1/admin/adjustments").route(web::post().to(adjust)))
        .service(web::resource("/v1/admin/audit").route(web::get().to(audit)))
        .service(web::resource("/v1/admin/secrets/rekey").route(web::post().to(rekey)));
}

/// Seals every stored secret again under the first key of CASHBACK_SECRET_KEY (a rotation).
#[utoipa::path(post, path = "/v1/admin/secrets/rekey", tag = "admin",
    responses((status = 200, description = "{\"resealed\": n, \"already_current\": n, \"unreadable\": n}")),
    security(("admin" = [])))]
pub async fn rekey(req: HttpRequest, st: St) -> HttpResult {
    let op = auth::admin(&req, &st)?;
    let svc = st.svc.clone();
    let v = st.write(move |c, now| merchants::rekey(c, &svc, &op, now)).await?;
    // Every cached secret in clear is still right: rekeying changes how they are stored only.
    Ok(HttpResponse::Ok().json(v))
}

/// A merchant settlement: commission received, store credit paid, commission refunded.
#[utoipa::path(post, path = "/v1/admin/merchants/{id}/settlements", tag = "admin", request_body = SettlementIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same request again: its first answer")), security(("admin" = [])))]
pub async fn settle(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: SettlementIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    Ok(respond(st.write(move |c, now| corrections::settle(c, &svc, &op, &id, body, now)).await?))
}

/// Writes off clawback debt (at most the user's debt).
#[utoipa::path(post, path = "/v1/admin/clawbacks/{user_id}/write-off", tag = "admin", request_body = WriteOffIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same request again: its first answer")), security(("admin" = [])))]
pub async fn write_off(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: WriteOffIn = input::json(&body)?;
    let (svc, user) = (st.svc.clone(), path.into_inner());
    Ok(respond(st.write(move |c, now| corrections::write_off(c, &svc, &op, &user, body, now)).await?))
}

/// A balanced correcting entry naming the entry it corrects.
#[utoipa::path(post, path = "/v1/admin/adjustments", tag = "admin", request_body = AdjustmentIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same request again: its first answer")), security(("admin" = [])))]
pub async fn adjust(req: HttpRequest, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: AdjustmentIn = input::json(&body)?;
    let svc = st.svc.clone();
    Ok(respond(st.write(move |c, now| corrections::adjust(c, &svc, &op, body, now)).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(schema_with = crate::app::schema::period_bound)]
    from: Option<String>,
    #[param(schema_with = crate::app::schema::period_bound)]
    to: Option<String>,
    #[param(schema_with = crate::app::schema::cursor)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Every admin action in [from, to), with the operator's name.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "{\"audit\": [...], \"next_cursor\"}")), security(("admin" = [])))]
pub async fn audit(req: HttpRequest, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: AuditQuery = super::wallet::query(&req)?;
    let svc = st.svc.clone();
    let v = st
        .read(move |c| corrections::audit(c, &svc, q.from.as_deref(), q.to.as_deref(), q.cursor.as_deref(), q.limit))
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The minimum and the fee of withdrawals in one currency (the fee below the minimum).
#[utoipa::path(put, path = "/v1/admin/withdrawal-settings/{currency}", tag = "admin", request_body = SettingsIn,
    responses((status = 200, description = "the settings")), security(("admin" = [])))]
pub async fn put_withdrawal_settings(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    st: St,
) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: SettingsIn = input::json(&body)?;
    let code = path.into_inner();
    Ok(HttpResponse::Ok().json(st.write(move |c, now| withdrawals::put_settings(c, &op, &code, body, now)).await?))
}

/// The platform's own cash into the reserve.
#[utoipa::path(post, path = "/v1/admin/reserve/deposits", tag = "admin", request_body = DepositIn,
    responses((status = 201, description = "booked"), (status = 200, description = "the same request again: its first answer")), security(("admin" = [])))]
pub async fn deposit(req: HttpRequest, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: DepositIn = input::json(&body)?;
    let svc = st.svc.clone();
    Ok(respond(st.write(move |c, now| reserve::deposit(c, &svc, &op, body, now)).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WithdrawalsQuery {
    #[param(schema_with = crate::app::schema::withdrawal_status)]
    status: Option<String>,
    #[param(schema_with = crate::app::schema::cursor)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Withdrawals oldest first, by status.
#[utoipa::path(get, path = "/v1/admin/withdrawals", tag = "admin", params(WithdrawalsQuery),
    responses((status = 200, description = "{\"withdrawals\": [...], \"next_cursor\"}")), security(("admin" = [])))]
pub async fn list_withdrawals(req: HttpRequest, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let q: WithdrawalsQuery = super::wallet::query(&req)?;
    let svc = st.svc.clone();
    let v = st.read(move |c| withdrawals::list(c, &svc, q.status.as_deref(), q.cursor.as_deref(), q.limit)).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Marks a withdrawal paid; refused when the reserve cannot pay it.
#[utoipa::path(post, path = "/v1/admin/withdrawals/{id}/paid", tag = "admin", request_body = PaidIn,
    responses((status = 200, description = "the withdrawal")), security(("admin" = [])))]
pub async fn withdrawal_paid(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: PaidIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    Ok(HttpResponse::Ok()
        .json(st.write(move |c, now| withdrawals::finish(c, &svc, &op, &id, true, &body.reference, now)).await?))
}

/// Rejects a withdrawal: the full amount, fee included, returns to available.
#[utoipa::path(post, path = "/v1/admin/withdrawals/{id}/reject", tag = "admin", request_body = RejectIn,
    responses((status = 200, description = "the withdrawal")), security(("admin" = [])))]
pub async fn withdrawal_reject(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: RejectIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    Ok(HttpResponse::Ok()
        .json(st.write(move |c, now| withdrawals::finish(c, &svc, &op, &id, false, &body.reason, now)).await?))
}

type St = web::Data<AppState>;

/// Create (secret required) or update a merchant.
#[utoipa::path(put, path = "/v1/admin/merchants/{id}", tag = "admin", request_body = MerchantIn,
    responses((status = 201, description = "created"), (status = 200, description = "updated")), security(("admin" = [])))]
pub async fn put_merchant(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: MerchantIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    let m = id.clone();
    let out = st.write(move |c, now| merchants::put(c, &svc, &op, &id, body, now)).await;
    st.signing_secrets.forget(&m);
    Ok(respond(out?))
}

/// Adds a signing secret (at most two active); a generated one is shown once.
#[utoipa::path(post, path = "/v1/admin/merchants/{id}/secrets", tag = "admin", request_body = Option<SecretIn>,
    responses((status = 201, description = "added")), security(("admin" = [])))]
pub async fn add_secret(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: SecretIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    let m = id.clone();
    let out = st.write(move |c, now| merchants::add_secret(c, &svc, &op, &id, body, now)).await;
    st.signing_secrets.forget(&m);
    Ok(respond(out?))
}

#[utoipa::path(delete, path = "/v1/admin/merchants/{id}/secrets/{secret_id}", tag = "admin",
    responses((status = 204, description = "revoked")), security(("admin" = [])))]
pub async fn delete_secret(req: HttpRequest, path: web::Path<(String, String)>, st: St) -> HttpResult {
    let op = auth::admin(&req, &st)?;
    let (id, secret_id) = path.into_inner();
    let m = id.clone();
    let out = st.write(move |c, now| merchants::delete_secret(c, &op, &id, &secret_id, now)).await;
    st.signing_secrets.forget(&m);
    out?;
    Ok(HttpResponse::NoContent().finish())
}

/// Creates or replaces the merchant's program in the body's currency (a new version).
#[utoipa::path(put, path = "/v1/admin/merchants/{id}/program", tag = "admin", request_body = ProgramIn,
    responses((status = 200, description = "the stored program and its version")), security(("admin" = [])))]
pub async fn put_program(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: ProgramIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    Ok(HttpResponse::Ok().json(st.write(move |c, now| programs::put(c, &svc, &op, &id, body, now)).await?))
}

#[utoipa::path(get, path = "/v1/admin/merchants/{id}/program", tag = "admin",
    responses((status = 200, description = "the current version in each currency")), security(("admin" = [])))]
pub async fn get_programs(req: HttpRequest, path: web::Path<String>, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    Ok(HttpResponse::Ok().json(st.read(move |c| programs::get(c, &svc, &id)).await?))
}

/// A user set up by an operator: only operators change its referrer and destinations.
#[utoipa::path(put, path = "/v1/admin/users/{user_id}", tag = "admin", request_body = Option<UserIn>,
    responses((status = 201, description = "created"), (status = 200, description = "updated")), security(("admin" = [])))]
pub async fn put_user(req: HttpRequest, path: web::Path<String>, payload: web::Payload, st: St) -> HttpResult {
    let (op, body) = auth::admin_body(&req, payload, &st).await?;
    let body: UserIn = input::json(&body)?;
    let (svc, id) = (st.svc.clone(), path.into_inner());
    let actor = Actor::Operator(op);
    Ok(respond(st.write(move |c, now| users::put(c, &svc, &actor, &id, body, now)).await?))
}

/// Releases every order whose return window has ended and expires every lapsed hold.
#[utoipa::path(post, path = "/v1/admin/jobs/release", tag = "operations",
    responses((status = 200, description = "{\"released\": n}")), security(("admin" = [])))]
pub async fn release(req: HttpRequest, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let (released, expired) = st.write(|c, now| catchup::everything(c, now, i64::MAX)).await?;
    Ok(HttpResponse::Ok().json(json!({"released": released, "expired": expired})))
}

/// Every invariant over the whole ledger, a line per check.
#[utoipa::path(get, path = "/v1/admin/verify", tag = "operations",
    responses((status = 200, description = "{\"ok\", \"checks\": [{\"name\", \"ok\", \"detail\"}]}")), security(("admin" = [])))]
pub async fn verify_all(req: HttpRequest, st: St) -> HttpResult {
    auth::admin(&req, &st)?;
    let (ok, checks) = st.read(verify::run).await?;
    let checks: Vec<_> = checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect();
    Ok(HttpResponse::Ok().json(json!({"ok": ok, "checks": checks})))
}
