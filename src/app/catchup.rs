//! Time-driven transitions (DESIGN.md §4): a release whose `release_at` has passed and a hold
//! whose `expires_at` has passed are booked before any event that touches the same user, and
//! by the background job for everything else. Results never depend on when the job ran.

use super::error::ApiResult;
use crate::domain::engine;
use crate::store::books::DbBooks;
use crate::store::repo::{self, OrderRow, RedemptionRow};
use crate::store::DbConn;

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
    users(conn, user_id, None, now)
}

/// The same for a buyer and, if there is one, a referrer: one query when nothing is due (it
/// runs before every order and refund), rather than four.
pub fn users(conn: &mut DbConn, a: &str, b: Option<&str>, now: i64) -> ApiResult<()> {
    let b = b.unwrap_or(a);
    let (orders, holds) = repo::anything_due_of(conn, a, b, now)?;
    if orders {
        for row in repo::due_orders_of(conn, a, b, now)? {
            release(conn, row, now)?;
        }
    }
    if holds {
        for row in repo::due_holds_of(conn, a, b, now)? {
            expire(conn, row, now)?;
        }
    }
    Ok(())
}

/// The job: up to `limit` of each kind; returns (orders released, holds expired).
pub fn everything(conn: &mut DbConn, now: i64, limit: i64) -> ApiResult<(usize, usize)> {
    let orders = repo::due_orders(conn, now, limit)?;
    let holds = repo::due_holds(conn, now, limit)?;
    let n = (orders.len(), holds.len());
    for row in orders {
        release(conn, row, now)?;
    }
    for row in holds {
        expire(conn, row, now)?;
    }
    Ok(n)
}
