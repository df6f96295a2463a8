//! Time-driven transitions (DESIGN.md §4): a release whose `release_at` has passed and a hold
//! whose `expires_at` has passed are booked before any event that touches the same user, and
//! by the background job for everything else. Results never depend on when the job ran.

use super::error::ApiResult;
use crate::domain::engine;
use crate::store::books::DbBooks;
use crate::store::repo::{self, OrderRow, RedemptionRow};
use crate::store::DbConn;

const ALL: i64 = i64::MAX;

pub fn release(conn: &mut DbConn, mut row: OrderRow, now: i64) -> ApiResult<OrderRow> {
    let mut o = row.to_domain();
    engine::release_order(&mut DbBooks { conn, now }, &mut o)?;
    row.absorb(&o);
    repo::save_order_state(conn, &row)?;
    Ok(row)
}

pub fn expire(conn: &mut DbConn, mut row: RedemptionRow, now: i64) -> ApiResult<RedemptionRow> {
    let mut r = row.to_domain();
    engine::void(&mut DbBooks { conn, now }, &mut r, true, now)?;
    row.absorb(&r);
    repo::save_redemption_state(conn, &row)?;
    Ok(row)
}

/// Books what has come due for one user, as buyer or referrer.
pub fn user(conn: &mut DbConn, user_id: &str, now: i64) -> ApiResult<()> {
    for row in repo::due_orders(conn, Some(user_id), now, ALL)? {
        release(conn, row, now)?;
    }
    for row in repo::due_holds(conn, Some(user_id), now, ALL)? {
        expire(conn, row, now)?;
    }
    Ok(())
}

/// The job: up to `limit` of each kind; returns (orders released, holds expired).
pub fn everything(conn: &mut DbConn, now: i64, limit: i64) -> ApiResult<(usize, usize)> {
    let orders = repo::due_orders(conn, None, now, limit)?;
    let holds = repo::due_holds(conn, None, now, limit)?;
    let n = (orders.len(), holds.len());
    for row in orders {
        release(conn, row, now)?;
    }
    for row in holds {
        expire(conn, row, now)?;
    }
    Ok(n)
}
