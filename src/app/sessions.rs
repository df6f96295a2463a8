//! Wallet page sessions (API.md §9): a login link's token, used once, opens a server-side
//! session held by an HttpOnly cookie; every form carries the session's CSRF token.

use super::error::{err, ApiResult, Code};
use crate::crypto::{random_token, WalletClaims};
use crate::store::{repo, DbConn};
use sha2::{Digest, Sha256};

/// A session ends after 30 minutes without a request, and 12 hours after login in any case.
pub const IDLE_SECONDS: i64 = 30 * 60;
pub const MAX_SECONDS: i64 = 12 * 3600;
/// A login link's token lives at most this long (`exp − iat`).
pub const LOGIN_TOKEN_MAX_LIFE: i64 = 300;

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub csrf: String,
    /// Whether `last_seen_at` is old enough to be worth a write.
    pub stale: bool,
}

/// The stored form of a session id: a leaked table opens no wallet.
pub fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Uses a login token once and opens a session; returns (session id, CSRF token).
pub fn login(conn: &mut DbConn, claims: &WalletClaims, now: i64) -> ApiResult<(String, String)> {
    let jti = claims.jti.as_deref().filter(|j| !j.is_empty() && j.len() <= 128);
    let jti = jti.ok_or_else(|| err(Code::Unauthorized, "a login token needs a jti"))?;
    // Scoped by issuer: one shop's token ids cannot use up another issuer's links.
    let key = format!("{}\u{1f}{jti}", claims.iss.as_deref().unwrap_or(""));
    if !repo::use_login_token(conn, &key, &claims.sub, now, claims.exp)? {
        return Err(err(Code::Unauthorized, "this login link was already used"));
    }
    let (id, csrf) = (random_token(), random_token());
    repo::insert_session(conn, &hash(&id), &claims.sub, &csrf, now)?;
    Ok((id, csrf))
}

/// The live session behind a cookie, if any.
pub fn find(conn: &mut DbConn, id: &str, now: i64) -> ApiResult<Option<Session>> {
    Ok(repo::session(conn, &hash(id))?.and_then(|(user_id, csrf, created, seen)| {
        let live = now - seen <= IDLE_SECONDS && now - created <= MAX_SECONDS;
        live.then_some(Session { user_id, csrf, stale: now - seen > 60 })
    }))
}

pub fn touch(conn: &mut DbConn, id: &str, now: i64) -> ApiResult<()> {
    Ok(repo::touch_session(conn, &hash(id), now)?)
}

pub fn logout(conn: &mut DbConn, id: &str) -> ApiResult<()> {
    Ok(repo::delete_session(conn, &hash(id))?)
}

/// Forgets ended sessions and long-expired login tokens (run by the background job).
pub fn purge(conn: &mut DbConn, now: i64) -> ApiResult<usize> {
    Ok(repo::purge_sessions(conn, now - IDLE_SECONDS, now - MAX_SECONDS, now - 86_400)?)
}
