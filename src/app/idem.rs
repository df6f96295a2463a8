//! Idempotency (API.md §4): keys are kept forever and checked before any business rule.
//! Only successes are remembered, in the same transaction as what they booked.

use super::error::{err, ApiResult, Code};
use crate::store::repo;
use crate::store::DbConn;

/// A key's scope, joined by a separator no id may contain.
pub fn scope(parts: &[&str]) -> String {
    parts.join("\u{1f}")
}

/// `Some(body)` when the same request already succeeded; `idempotency_conflict` when the key
/// was used with another body.
pub fn check(conn: &mut DbConn, scope: &str, key: &str, canonical: &str) -> ApiResult<Option<String>> {
    match repo::remembered(conn, scope, key)? {
        None => Ok(None),
        Some((req, resp)) if req == canonical => Ok(Some(resp)),
        Some(_) => Err(err(Code::IdempotencyConflict, format!("{key:?} was already used with a different request"))),
    }
}

pub fn remember(
    conn: &mut DbConn,
    scope: &str,
    key: &str,
    canonical: &str,
    body: &serde_json::Value,
    now: i64,
) -> ApiResult<()> {
    Ok(repo::remember(conn, scope, key, canonical, &body.to_string(), now)?)
}

/// A request whose currency could not be judged yet (its checks come after the key's): an
/// existing key is a conflict, since its first body had a currency that was fine.
pub fn deferred<T>(conn: &mut DbConn, scope: &str, key: &str, resolved: ApiResult<T>) -> ApiResult<T> {
    match resolved {
        Ok(v) => Ok(v),
        Err(e) => match repo::remembered(conn, scope, key)? {
            Some(_) => {
                Err(err(Code::IdempotencyConflict, format!("{key:?} was already used with a different request")))
            }
            None => Err(e),
        },
    }
}
