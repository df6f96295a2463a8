//! Shop platforms' webhooks (Shopify, WooCommerce): a correctly signed delivery is stored,
//! then applied, in the same writer job, so it is durable before it is answered. A business
//! rejection never becomes an error answer: the delivery is parked as an exception (listed by
//! `GET /v1/admin/hook-exceptions`, shown by reconciliation) and applied again when its order
//! arrives. Only a transient failure (the database, the writer) answers 503, with nothing stored.

pub mod map;
pub mod shopify;
pub mod woocommerce;

use super::error::{err, ApiError, ApiResult, Code};
use super::orders::{self, RefundCmd};
use super::{cursor, idem, Outcome, Services};
use crate::domain::money::{format_minor, RawAmount};
use crate::domain::time::format_ts;
use crate::store::hooks::{self as store, DeliveryRow, IntegrationRow};
use crate::store::{nested, repo, DbConn};
use map::{Mapped, Step};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Shopify,
    WooCommerce,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "shopify" => Some(Platform::Shopify),
            "woocommerce" => Some(Platform::WooCommerce),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::WooCommerce => "woocommerce",
        }
    }
}

/// A delivery whose signature was checked.
pub struct Delivery {
    pub merchant_id: String,
    pub platform: Platform,
    /// `X-Shopify-Webhook-Id` / `X-WC-Webhook-Delivery-ID` (the body's SHA-256 when absent).
    pub delivery_id: String,
    pub topic: String,
    pub body: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationIn {
    #[schema(schema_with = crate::app::schema::secret)]
    pub secret: String,
}

/// `PUT /v1/admin/merchants/{id}/integrations/{platform}`: the secret the platform signs with,
/// sealed like the merchant's own and never returned.
pub fn put_integration(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    merchant: &str,
    platform: &str,
    input: IntegrationIn,
    now: i64,
) -> ApiResult<Outcome> {
    let platform =
        Platform::parse(platform).ok_or_else(|| err(Code::NotFound, format!("no integration {platform:?}")))?;
    crate::app::input::secret("secret", &input.secret)?;
    repo::merchant(conn, merchant)?.ok_or_else(|| err(Code::NotFound, format!("no merchant {merchant:?}")))?;
    let row = IntegrationRow {
        merchant_id: merchant.to_string(),
        platform: platform.as_str().to_string(),
        secret_enc: svc.secrets.seal(&input.secret),
        created_at: now,
        updated_at: now,
    };
    let created = store::put_integration(conn, &row)?;
    let stored = store::integration(conn, merchant, platform.as_str())?.unwrap_or(row);
    repo::audit(
        conn,
        now,
        operator,
        "merchant.integration.put",
        merchant,
        &json!({"platform": platform.as_str()}).to_string(),
    )?;
    let body = json!({
        "merchant_id": merchant,
        "platform": platform.as_str(),
        "url": format!("/v1/hooks/{}/{merchant}", platform.as_str()),
        "created_at": format_ts(stored.created_at, svc.tz),
        "updated_at": format_ts(stored.updated_at, svc.tz),
    });
    Ok(if created { Outcome::Created(body) } else { Outcome::Done(body) })
}

/// The platform's secret in clear, or `None` when the merchant has not connected it.
pub fn secret(conn: &mut DbConn, svc: &Services, merchant: &str, platform: Platform) -> ApiResult<Option<String>> {
    Ok(store::integration(conn, merchant, platform.as_str())?.and_then(|r| svc.secrets.open(&r.secret_enc)))
}

/// Stores a delivery (once: the same id with the same body again changes nothing) and
/// applies it. Runs in the writer.
pub fn receive(conn: &mut DbConn, svc: &Services, d: Delivery, now: i64) -> ApiResult<Value> {
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(d.body.as_bytes()));
    let platform = d.platform.as_str();
    if let Some(seen) = store::delivery(conn, &d.merchant_id, platform, &d.delivery_id, &sha)? {
        return Ok(json!({"received": true, "duplicate": true, "status": seen.status}));
    }
    let mut row = DeliveryRow {
        merchant_id: d.merchant_id,
        platform: platform.to_string(),
        delivery_id: d.delivery_id,
        body_sha256: sha,
        seq: 0,
        topic: d.topic,
        body: d.body,
        received_at: now,
        status: "pending".into(),
        code: None,
        detail: String::new(),
        order_ref: None,
        attempts: 0,
        updated_at: now,
    };
    store::insert_delivery(conn, &mut row)?;
    apply_and_settle(conn, svc, &mut row, now)?;
    Ok(json!({"received": true, "duplicate": false, "status": row.status}))
}

/// Applies a stored delivery and records what became of it; when it booked an order, the
/// deliveries that were waiting for that order are applied too.
fn apply_and_settle(conn: &mut DbConn, svc: &Services, row: &mut DeliveryRow, now: i64) -> ApiResult<()> {
    let booked_order = apply(conn, svc, row, now)?;
    store::settle_delivery(conn, row)?;
    if let (true, Some(order_ref), Some(p)) = (booked_order, row.order_ref.clone(), Platform::parse(&row.platform)) {
        retry_parked(conn, svc, &row.merchant_id, p, &order_ref, now)?;
    }
    Ok(())
}

/// Applies the deliveries of an order that were waiting for it, in the order they came.
fn retry_parked(
    conn: &mut DbConn,
    svc: &Services,
    merchant: &str,
    platform: Platform,
    order_ref: &str,
    now: i64,
) -> ApiResult<()> {
    for mut row in store::parked_for_order(conn, merchant, platform.as_str(), order_ref)? {
        apply(conn, svc, &mut row, now)?;
        store::settle_delivery(conn, &row)?;
    }
    Ok(())
}

/// Why a step did not book.
enum Stop {
    /// A business rule refused it: the delivery is parked as an exception.
    Park(ApiError),
    /// Its order is not here yet, which is routine (a cancel of an unpaid order): it waits.
    Wait(String),
}

/// Maps the delivery and runs its steps, each under a savepoint of its own; sets the row's
/// status and detail. Returns whether it booked an order. A transient failure is an `Err`
/// (the whole job then rolls back and the platform retries).
fn apply(conn: &mut DbConn, svc: &Services, row: &mut DeliveryRow, now: i64) -> ApiResult<bool> {
    let body: Value = match serde_json::from_str(&row.body) {
        Ok(v) => v,
        Err(e) => {
            park(row, None, Code::InvalidRequest, format!("the body is not JSON: {e}"), now);
            return Ok(false);
        }
    };
    let mapped = match Platform::parse(&row.platform) {
        Some(Platform::Shopify) => shopify::map(&row.topic, &body, &row.merchant_id),
        // "The time received" is the first delivery's, also when it is applied again later.
        Some(Platform::WooCommerce) => woocommerce::map(&row.topic, &body, &row.merchant_id, row.received_at),
        None => Mapped::Ignore(format!("unknown platform {:?}", row.platform)),
    };
    row.attempts += 1;
    row.updated_at = now;
    let (order_ref, steps) = match mapped {
        Mapped::Ignore(why) => {
            (row.status, row.code, row.detail) = ("ignored".into(), None, why);
            return Ok(false);
        }
        Mapped::Invalid { order_ref, code, detail } => {
            park(row, order_ref, code, detail, now);
            return Ok(false);
        }
        Mapped::Steps { order_ref, steps } => (order_ref, steps),
    };
    row.order_ref = Some(order_ref);
    let (mut log, mut booked_order, mut stop) = (Vec::new(), false, None);
    for step in steps {
        let merchant = row.merchant_id.clone();
        match nested(conn, |c| run(c, svc, &merchant, &step, now))? {
            Ok((line, order)) => {
                booked_order |= order;
                log.push(line);
            }
            // A failure of the database is no business rule: the job fails, nothing is stored,
            // and the platform retries.
            Err(Stop::Park(e)) if e.code.status() >= 500 => return Err(e),
            Err(s) => {
                stop = Some(s);
                break;
            }
        }
    }
    match stop {
        None => (row.status, row.code) = ("applied".into(), None),
        Some(Stop::Wait(why)) => {
            log.push(why);
            (row.status, row.code) = ("waiting".into(), None);
        }
        Some(Stop::Park(e)) => {
            log.push(format!("refused: {e}"));
            (row.status, row.code) = ("exception".into(), Some(e.code.as_str().to_string()));
        }
    }
    row.detail = log.join("; ");
    Ok(booked_order)
}

fn park(row: &mut DeliveryRow, order_ref: Option<String>, code: Code, detail: String, now: i64) {
    row.attempts += 1;
    row.updated_at = now;
    row.order_ref = order_ref;
    (row.status, row.code, row.detail) = ("exception".into(), Some(code.as_str().to_string()), detail);
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Stop {
        Stop::Park(e)
    }
}

/// Runs one step; returns a line for the delivery's detail and whether it booked an order.
fn run(conn: &mut DbConn, svc: &Services, merchant: &str, step: &Step, now: i64) -> Result<(String, bool), Stop> {
    match step {
        Step::Order(o) => {
            if let Some(row) = repo::order(conn, merchant, &o.order_id).map_err(ApiError::from)? {
                // The same order again is nothing new; another order under its id (the checkout
                // hook's, the other platform's, or an edited amount) is a conflict to look at.
                let cur = crate::domain::money::Currency::parse(&row.currency).expect("stored currency");
                let same = row.user_id == o.user_id
                    && row.currency == o.currency
                    && o.amount.as_str() == Some(format_minor(row.amount_minor, cur).as_str());
                if !same {
                    return Err(Stop::Park(err(
                        Code::IdempotencyConflict,
                        format!("order {} is booked already with another buyer, currency or amount", o.order_id),
                    )));
                }
                return Ok((format!("order {} already booked", o.order_id), false));
            }
            let cmd = o.clone().validate(merchant, now)?;
            orders::place(conn, svc, cmd, now)?;
            Ok((format!("order {} booked", o.order_id), true))
        }
        Step::Refund { order_id, refund_id, currency, amount_minor, refunded_at } => {
            let Some(row) = repo::order(conn, merchant, order_id).map_err(ApiError::from)? else {
                return Err(Stop::Park(err(Code::NotFound, format!("no order {order_id:?} yet"))));
            };
            shop_order(&row, merchant)?;
            if row.currency != currency.code() {
                return Err(Stop::Park(err(
                    Code::InvalidRequest,
                    format!("refund {refund_id} is in {currency}, order {order_id} in {}", row.currency),
                )));
            }
            let scope = idem::scope(&["refund", merchant, order_id]);
            if repo::remembered(conn, &scope, refund_id).map_err(ApiError::from)?.is_some() {
                return Ok((format!("refund {refund_id} already booked"), false));
            }
            if row.status == "cancelled" {
                return Ok((format!("refund {refund_id}: order {order_id} is cancelled, nothing is left"), false));
            }
            let amount = (*amount_minor).min(row.amount_minor - row.refunded_minor);
            if amount <= 0 {
                return Ok((format!("refund {refund_id}: nothing is left of order {order_id}"), false));
            }
            let text = format_minor(amount, *currency);
            let cmd = RefundCmd {
                refund_id: refund_id.clone(),
                amount: RawAmount::parse(&text).map_err(ApiError::from)?,
                refunded_at: refunded_at.as_deref().map(|t| super::input::timestamp("refunded_at", t)).transpose()?,
            };
            orders::refund(conn, merchant, order_id, cmd, now)?;
            Ok((format!("refund {refund_id} of {text} booked"), false))
        }
        Step::Cancel { order_id, wait_if_unknown } => {
            let r = match repo::order(conn, merchant, order_id).map_err(ApiError::from)? {
                None if *wait_if_unknown => return Err(Stop::Wait(format!("order {order_id} is not booked here"))),
                None => return Err(Stop::Park(err(Code::NotFound, format!("no order {order_id:?} yet")))),
                Some(r) => r,
            };
            shop_order(&r, merchant)?;
            if r.status == "cancelled" {
                return Ok((format!("order {order_id} already cancelled"), false));
            }
            if r.refunded_minor >= r.amount_minor {
                return Ok((format!("order {order_id} is refunded in full: nothing left to cancel"), false));
            }
            orders::cancel(conn, merchant, order_id, now)?;
            Ok((format!("order {order_id} cancelled"), false))
        }
    }
}

/// `POST /v1/admin/hook-exceptions/retry`: applies every parked delivery again, oldest first
/// (after a program in a missing currency was added, say); what still fails stays parked.
pub fn retry_exceptions(
    conn: &mut DbConn,
    svc: &Services,
    operator: &str,
    merchant: Option<&str>,
    now: i64,
) -> ApiResult<Value> {
    let (mut applied, mut parked, mut after) = (0, 0, 0);
    loop {
        let rows = store::exceptions_page(conn, merchant, after, 500)?;
        let Some(last) = rows.last().map(|r| r.seq) else { break };
        for mut row in rows {
            apply_and_settle(conn, svc, &mut row, now)?;
            if row.status == "exception" {
                parked += 1;
            } else {
                applied += 1;
            }
        }
        after = last;
    }
    let detail = json!({"merchant_id": merchant, "applied": applied, "still_parked": parked});
    repo::audit(conn, now, operator, "hook_exceptions.retry", merchant.unwrap_or("*"), &detail.to_string())?;
    Ok(json!({"applied": applied, "still_parked": parked}))
}

/// A shop's webhook may reverse only an order of one of the shop's own customers
/// (`<merchant_id>:<customer id>`): never one the checkout hook booked for someone else.
fn shop_order(row: &repo::OrderRow, merchant: &str) -> Result<(), Stop> {
    if row.user_id.starts_with(&format!("{merchant}:")) {
        return Ok(());
    }
    Err(Stop::Park(err(
        Code::IdempotencyConflict,
        format!("order {} was not booked from this shop's webhooks", row.order_id),
    )))
}

fn view(r: &DeliveryRow, svc: &Services) -> Value {
    json!({
        "merchant_id": r.merchant_id,
        "platform": r.platform,
        "delivery_id": r.delivery_id,
        "topic": r.topic,
        "order_ref": r.order_ref,
        "code": r.code,
        "detail": r.detail,
        "attempts": r.attempts,
        "received_at": format_ts(r.received_at, svc.tz),
        "last_attempt_at": format_ts(r.updated_at, svc.tz),
    })
}

/// `GET /v1/admin/hook-exceptions`: parked deliveries, oldest first.
pub fn exceptions(
    conn: &mut DbConn,
    svc: &Services,
    merchant: Option<&str>,
    cursor_text: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<Value> {
    let limit = cursor::limit(limit, 50, 500)?;
    let after: i64 = cursor_text.map(cursor::decode).transpose()?.unwrap_or(0);
    let rows = store::exceptions_page(conn, merchant, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let next = if more { page.last().map(|r| cursor::encode(&r.seq)) } else { None };
    Ok(json!({"exceptions": page.iter().map(|r| view(r, svc)).collect::<Vec<_>>(), "next_cursor": next}))
}
