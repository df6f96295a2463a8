//! Who is calling: merchants by HMAC signature, operators by admin token, users by wallet
//! token (API.md §5). Secrets and full signatures are never logged.

use super::body;
use super::AppState;
use crate::app::error::{err, ApiResult, Code};
use crate::app::merchants;
use crate::crypto::{parse_signature_header, peek_issuer, signature_matches, verify_wallet_token, WalletClaims};
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use subtle::ConstantTimeEq;

/// A signature's timestamp must be within this many seconds of the server clock.
pub const SIGNATURE_WINDOW: i64 = 300;
/// Bearer wallet tokens live at most this long (`exp − iat`).
pub const WALLET_TOKEN_MAX_LIFE: i64 = 900;

pub struct Signed {
    pub merchant_id: String,
    pub body: web::Bytes,
}

fn bad_signature(detail: &str) -> crate::app::error::ApiError {
    err(Code::SignatureInvalid, detail)
}

/// A merchant's credentials, checked before the body is read.
pub struct Credentials {
    merchant_id: String,
    t: i64,
    sigs: Vec<Vec<u8>>,
    secrets: Vec<String>,
}

/// Checks a merchant-signed request in the contract's order: headers and freshness (401),
/// size (413), the HMAC (401), the content type (415).
pub async fn merchant(req: &HttpRequest, payload: web::Payload, st: &AppState) -> ApiResult<Signed> {
    let c = merchant_credentials(req, st).await?;
    merchant_body(req, payload, st, c).await
}

/// The signature headers: present, fresh, of a known merchant (401 `signature_invalid`).
pub async fn merchant_credentials(req: &HttpRequest, st: &AppState) -> ApiResult<Credentials> {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let merchant_id = h("X-Cashback-Merchant").ok_or_else(|| bad_signature("X-Cashback-Merchant is missing"))?;
    let sig = h("X-Cashback-Signature").ok_or_else(|| bad_signature("X-Cashback-Signature is missing"))?;
    let (t, sigs) = parse_signature_header(&sig)
        .ok_or_else(|| bad_signature("X-Cashback-Signature must look like t=<unix seconds>,v1=<hex>"))?;
    if sigs.is_empty() {
        return Err(bad_signature("X-Cashback-Signature has no v1 signature"));
    }
    if st.clock.now().saturating_sub(t).unsigned_abs() > SIGNATURE_WINDOW as u64 {
        return Err(bad_signature("the signature's timestamp is more than 300 s from the server clock"));
    }
    let secrets = match st.signing_secrets.get(&merchant_id) {
        Some(known) => known,
        None => {
            let svc = st.svc.clone();
            let m = merchant_id.clone();
            let found = st.read(move |c| merchants::signing_secrets(c, &svc, &m)).await?;
            st.signing_secrets.put(&merchant_id, found.clone());
            found
        }
    }
    .ok_or_else(|| bad_signature("unknown merchant"))?;
    Ok(Credentials { merchant_id, t, sigs, secrets })
}

/// How long a merchant's signing secrets are used from memory before they are read again.
pub const SECRET_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Merchants' active signing secrets (or that the merchant is unknown), kept for
/// [`SECRET_CACHE_TTL`], so a signed request does not cost a database read and a decryption.
/// Changes made through this server (a merchant's PUT, a new or deleted secret) clear the entry
/// at once; a change made by another process is seen within the TTL.
#[derive(Default)]
pub struct SecretCache {
    entries: std::sync::RwLock<std::collections::HashMap<String, Fetched>>,
}

/// When a merchant's secrets were read, and what they were (`None`: no such merchant).
type Fetched = (std::time::Instant, Option<Vec<String>>);

impl SecretCache {
    fn get(&self, merchant: &str) -> Option<Option<Vec<String>>> {
        let map = self.entries.read().ok()?;
        let (at, v) = map.get(merchant)?;
        (at.elapsed() < SECRET_CACHE_TTL).then(|| v.clone())
    }

    fn put(&self, merchant: &str, v: Option<Vec<String>>) {
        if let Ok(mut map) = self.entries.write() {
            // Unknown merchant ids come from anyone: keep the map from growing without bound.
            if map.len() > 10_000 {
                map.retain(|_, (at, _)| at.elapsed() < SECRET_CACHE_TTL);
            }
            map.insert(merchant.to_string(), (std::time::Instant::now(), v));
        }
    }

    /// Forgets a merchant's secrets (they just changed).
    pub fn forget(&self, merchant: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(merchant);
        }
    }
}

/// The body: its size (413), its HMAC (401), then its content type (415).
pub async fn merchant_body(
    req: &HttpRequest,
    payload: web::Payload,
    st: &AppState,
    c: Credentials,
) -> ApiResult<Signed> {
    let body = body::read(req, payload, body::JSON_LIMIT).await?;
    if !c.secrets.iter().any(|s| signature_matches(s, c.t, &body, &c.sigs)) {
        tracing::info!(merchant_id = %c.merchant_id, "signature mismatch");
        return Err(bad_signature("the signature does not match the body"));
    }
    // Counted only once the merchant is proven, so nobody can spend another shop's budget.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    st.rate_limit.check(&c.merchant_id, now)?;
    body::require_json(req, &body)?;
    Ok(Signed { merchant_id: c.merchant_id, body })
}

impl Credentials {
    pub fn merchant_id(&self) -> &str {
        &self.merchant_id
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The operator's name for a valid admin token.
pub fn admin(req: &HttpRequest, st: &AppState) -> ApiResult<String> {
    let unauthorized = || err(Code::Unauthorized, "an admin token is required: Authorization: Bearer <token>");
    let token = bearer(req).ok_or_else(unauthorized)?;
    let mut found = None;
    for (name, t) in &st.admin_tokens {
        if bool::from(t.as_bytes().ct_eq(token.as_bytes())) {
            found = Some(name.clone());
        }
    }
    found.ok_or_else(unauthorized)
}

/// An admin request with a JSON body: token (401), size (413), content type (415).
pub async fn admin_body(req: &HttpRequest, payload: web::Payload, st: &AppState) -> ApiResult<(String, web::Bytes)> {
    let operator = admin(req, st)?;
    let body = body::read(req, payload, body::JSON_LIMIT).await?;
    body::require_json(req, &body)?;
    Ok((operator, body))
}

/// A user's consent to a hold: a valid token, or one issued by another merchant, which is
/// refused (403) once the body has been judged.
pub enum Consent {
    Valid(WalletClaims),
    ForeignIssuer,
}

/// A wallet token of a user, as a checkout carries it for a hold. Checked with the platform's
/// secret, or with the signing merchant's wallet secret when `iss` names it.
pub async fn user_token(token: Option<&str>, signing_merchant: &str, st: &AppState) -> ApiResult<Consent> {
    let unauthorized = |d: &str| err(Code::Unauthorized, d.to_string());
    let token = token.ok_or_else(|| unauthorized("X-Cashback-User-Token is missing"))?.to_string();
    let issuer = peek_issuer(&token).ok_or_else(|| unauthorized("the user token is not a JWT"))?;
    let secret = match &issuer {
        None => st.wallet_secret.clone(),
        Some(iss) => {
            let (svc, m) = (st.svc.clone(), iss.clone());
            st.read(move |c| merchants::wallet_secret(c, &svc, &m)).await?
        }
    };
    let secret = secret.ok_or_else(|| unauthorized("no wallet secret is configured for this token's issuer"))?;
    let claims = verify_wallet_token(&token, &secret, st.clock.now(), WALLET_TOKEN_MAX_LIFE)
        .ok_or_else(|| unauthorized("the user token is invalid or expired"))?;
    // A valid token of another shop's customer is refused once the body has been judged.
    Ok(match issuer {
        Some(iss) if iss != signing_merchant => Consent::ForeignIssuer,
        _ => Consent::Valid(claims),
    })
}

/// Whether a token's issuer may open `user_id`: the platform any user, a merchant only
/// `<merchant_id>:*`.
pub fn may_open(claims: &WalletClaims, user_id: &str) -> bool {
    claims.sub == user_id
        && match &claims.iss {
            None => true,
            Some(m) => user_id.strip_prefix(m.as_str()).is_some_and(|rest| rest.starts_with(':')),
        }
}

/// Who calls the JSON wallet API: a bearer wallet token, or the wallet page's session cookie
/// (whose writes must then carry the session's CSRF token in `X-CSRF-Token`).
pub struct WalletUser {
    pub user_id: String,
    /// The session's CSRF token when the caller came with the cookie.
    pub csrf: Option<String>,
}

impl WalletUser {
    /// A write by cookie needs the session's CSRF token (403 otherwise).
    pub fn check_csrf(&self, req: &HttpRequest) -> ApiResult<()> {
        let Some(expected) = &self.csrf else { return Ok(()) };
        let given = req.headers().get("X-CSRF-Token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if given.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(err(Code::Forbidden, "a write with the session cookie needs its CSRF token in X-CSRF-Token"));
        }
        Ok(())
    }
}

pub async fn wallet_user(req: &HttpRequest, st: &AppState) -> ApiResult<WalletUser> {
    if bearer(req).is_none() {
        if let Some((_, s)) = super::pages::session(req, st).await? {
            return Ok(WalletUser { user_id: s.user_id, csrf: Some(s.csrf) });
        }
    }
    let claims = wallet_bearer(req, st).await?;
    Ok(WalletUser { user_id: claims.sub, csrf: None })
}

/// A user on the JSON wallet API: `Authorization: Bearer <wallet token>`, from the platform
/// or from a merchant for its own webhook customers. Not single-use.
pub async fn wallet_bearer(req: &HttpRequest, st: &AppState) -> ApiResult<WalletClaims> {
    let token = bearer(req)
        .ok_or_else(|| err(Code::Unauthorized, "a wallet token is required: Authorization: Bearer <token>"))?;
    let issuer = peek_issuer(token).ok_or_else(|| err(Code::Unauthorized, "the wallet token is not a JWT"))?;
    let secret = match issuer {
        None => st.wallet_secret.clone(),
        Some(m) => {
            let svc = st.svc.clone();
            st.read(move |c| merchants::wallet_secret(c, &svc, &m)).await?
        }
    };
    let secret =
        secret.ok_or_else(|| err(Code::Unauthorized, "no wallet secret is configured for this token's issuer"))?;
    let claims = verify_wallet_token(token, &secret, st.clock.now(), WALLET_TOKEN_MAX_LIFE)
        .ok_or_else(|| err(Code::Unauthorized, "the wallet token is invalid or expired"))?;
    if !may_open(&claims, &claims.sub) {
        return Err(err(Code::Forbidden, "this issuer may not open that user's wallet"));
    }
    Ok(claims)
}
