//! Queries of the shop webhooks: integrations (each platform's signing secret, sealed) and
//! deliveries (every correctly signed body, with what became of it).

use super::conn::DbConn;
use super::schema::{hook_deliveries, shop_integrations};
use diesel::prelude::*;

type Q<T> = QueryResult<T>;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = shop_integrations)]
pub struct IntegrationRow {
    pub merchant_id: String,
    pub platform: String,
    pub secret_enc: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn integration(conn: &mut DbConn, merchant: &str, platform: &str) -> Q<Option<IntegrationRow>> {
    shop_integrations::table.find((merchant, platform)).select(IntegrationRow::as_select()).first(conn).optional()
}

/// Creates or replaces the integration; true when it was created.
pub fn put_integration(conn: &mut DbConn, row: &IntegrationRow) -> Q<bool> {
    super::savepoint::before_write(conn)?;
    let updated = diesel::update(shop_integrations::table.find((&row.merchant_id, &row.platform)))
        .set((shop_integrations::secret_enc.eq(&row.secret_enc), shop_integrations::updated_at.eq(row.updated_at)))
        .execute(conn)?;
    if updated > 0 {
        return Ok(false);
    }
    diesel::insert_into(shop_integrations::table)
        .values((
            shop_integrations::merchant_id.eq(&row.merchant_id),
            shop_integrations::platform.eq(&row.platform),
            shop_integrations::secret_enc.eq(&row.secret_enc),
            shop_integrations::created_at.eq(row.created_at),
            shop_integrations::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(true)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hook_deliveries)]
pub struct DeliveryRow {
    pub merchant_id: String,
    pub platform: String,
    pub delivery_id: String,
    pub body_sha256: String,
    pub seq: i64,
    pub topic: String,
    pub body: String,
    pub received_at: i64,
    pub status: String,
    pub code: Option<String>,
    pub detail: String,
    pub order_ref: Option<String>,
    pub attempts: i32,
    pub updated_at: i64,
}

pub fn delivery(conn: &mut DbConn, merchant: &str, platform: &str, id: &str, sha: &str) -> Q<Option<DeliveryRow>> {
    hook_deliveries::table.find((merchant, platform, id, sha)).select(DeliveryRow::as_select()).first(conn).optional()
}

/// Stores a new delivery; its `seq` (the order of receipt) is given here.
pub fn insert_delivery(conn: &mut DbConn, row: &mut DeliveryRow) -> Q<()> {
    super::savepoint::before_write(conn)?;
    let max: Option<i64> = hook_deliveries::table.select(diesel::dsl::max(hook_deliveries::seq)).first(conn)?;
    row.seq = max.unwrap_or(0) + 1;
    diesel::insert_into(hook_deliveries::table).values(&*row).execute(conn).map(drop)
}

/// Records what became of a delivery after an attempt to apply it.
pub fn settle_delivery(conn: &mut DbConn, row: &DeliveryRow) -> Q<()> {
    super::savepoint::before_write(conn)?;
    diesel::update(hook_deliveries::table.find((&row.merchant_id, &row.platform, &row.delivery_id, &row.body_sha256)))
        .set((
            hook_deliveries::status.eq(&row.status),
            hook_deliveries::code.eq(&row.code),
            hook_deliveries::detail.eq(&row.detail),
            hook_deliveries::order_ref.eq(&row.order_ref),
            hook_deliveries::attempts.eq(row.attempts),
            hook_deliveries::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Deliveries of one order that were parked or are waiting for it, in the order they came.
pub fn parked_for_order(conn: &mut DbConn, merchant: &str, platform: &str, order_ref: &str) -> Q<Vec<DeliveryRow>> {
    hook_deliveries::table
        .filter(hook_deliveries::status.eq_any(["exception", "waiting"]))
        .filter(hook_deliveries::merchant_id.eq(merchant))
        .filter(hook_deliveries::platform.eq(platform))
        .filter(hook_deliveries::order_ref.eq(order_ref))
        .order(hook_deliveries::seq)
        .select(DeliveryRow::as_select())
        .load(conn)
}

/// Parked deliveries after `after_seq` (a page), optionally of one merchant.
pub fn exceptions_page(conn: &mut DbConn, merchant: Option<&str>, after_seq: i64, limit: i64) -> Q<Vec<DeliveryRow>> {
    let mut q = hook_deliveries::table
        .filter(hook_deliveries::status.eq("exception"))
        .filter(hook_deliveries::seq.gt(after_seq))
        .into_boxed();
    if let Some(m) = merchant {
        q = q.filter(hook_deliveries::merchant_id.eq(m.to_string()));
    }
    q.order(hook_deliveries::seq).limit(limit).select(DeliveryRow::as_select()).load(conn)
}

/// A merchant's parked deliveries received in [from, to): what reconciliation reports.
pub fn exceptions_between(conn: &mut DbConn, merchant: &str, from: i64, to: i64) -> Q<Vec<DeliveryRow>> {
    hook_deliveries::table
        .filter(hook_deliveries::status.eq("exception"))
        .filter(hook_deliveries::merchant_id.eq(merchant))
        .filter(hook_deliveries::received_at.ge(from))
        .filter(hook_deliveries::received_at.lt(to))
        .order(hook_deliveries::seq)
        .select(DeliveryRow::as_select())
        .load(conn)
}

/// How many deliveries are stored (for tests and operators).
pub fn count(conn: &mut DbConn) -> Q<i64> {
    hook_deliveries::table.count().get_result(conn)
}

/// Parked deliveries (status `exception`) per merchant: for metrics.
pub fn exceptions_by_merchant(conn: &mut DbConn) -> Q<Vec<(String, i64)>> {
    hook_deliveries::table
        .filter(hook_deliveries::status.eq("exception"))
        .group_by(hook_deliveries::merchant_id)
        .select((hook_deliveries::merchant_id, diesel::dsl::count_star()))
        .load(conn)
}
