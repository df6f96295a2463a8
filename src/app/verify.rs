//! `verify`: every invariant of DESIGN.md §5 over the whole ledger.

use super::error::ApiResult;
use crate::domain::invariants::{self, Check};
use crate::store::{repo, DbConn};
use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Loads one consistent snapshot (a read transaction; REPEATABLE READ on PostgreSQL) and
/// judges it. Returns whether every check passed, and each check.
pub fn run(conn: &mut DbConn) -> ApiResult<(bool, Vec<Check>)> {
    let snap = conn.transaction::<_, diesel::result::Error, _>(|c| {
        if let DbConn::Postgresql(_) = c {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        }
        repo::snapshot(c)
    })?;
    let checks = invariants::verify(&snap);
    Ok((checks.iter().all(|c| c.ok), checks))
}
