//! The wallet page (API.md §9): server-rendered with askama (every value escaped), usable
//! without JavaScript, opened by a single-use login link and kept by a server-side session.

use super::auth::may_open;
use super::i18n::{self, Texts};
use super::{AppState, HttpResult};
use crate::app::error::{err, ApiError, Code};
use crate::app::withdrawals::{self, WithdrawalIn};
use crate::app::{sessions, wallet};
use crate::crypto::{peek_issuer, random_id, verify_wallet_token};
use crate::domain::money::{format_minor, Currency, RawAmount};
use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "cb_session";
pub const LANG_COOKIE: &str = "cb_lang";
const HISTORY_PAGE: i64 = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/wallet/login").route(web::get().to(login)))
        .service(web::resource("/wallet").route(web::get().to(page)))
        .service(web::resource("/wallet/withdrawals").route(web::post().to(withdraw)))
        .service(web::resource("/wallet/logout").route(web::post().to(logout)));
}

pub struct BalanceView {
    pub currency: String,
    pub available: String,
    pub negative: bool,
    pub pending: String,
    pub next_release_at: Option<String>,
    pub held: String,
    pub withdrawing: String,
    pub lifetime: String,
    pub minimum: String,
    pub fee: String,
}

pub struct EntryView {
    pub date: String,
    pub kind: &'static str,
    pub bucket: &'static str,
    pub order: String,
    pub amount: String,
    pub currency: String,
}

pub struct TermView {
    pub merchant_id: String,
    pub cashback_rate: String,
    pub referral_rate: String,
    pub hold_days: String,
    pub per_order_cap: String,
    pub monthly_cap: String,
}

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub h: i64,
    pub label: String,
    pub short: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "wallet.html")]
pub struct WalletPage {
    pub t: &'static Texts,
    pub csrf: String,
    pub user_id: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub balances: Vec<BalanceView>,
    pub chart: Vec<Bar>,
    pub chart_currency: String,
    pub chart_width: i64,
    pub destinations: Vec<String>,
    pub withdrawal_id: String,
    pub entries: Vec<EntryView>,
    pub next_cursor: Option<String>,
    pub paged: bool,
    pub terms: Vec<TermView>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub t: &'static Texts,
    pub csrf: String,
    pub withdrawal_id: String,
    pub currency: String,
    pub amount: String,
    pub fee: String,
    pub net: String,
    pub destination: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub t: &'static Texts,
    pub message: String,
    pub more: Option<String>,
    pub error: bool,
    pub back: bool,
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(body)
}

fn render<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "a wallet template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn message(t: &'static Texts, status: StatusCode, message: &str, more: Option<&str>) -> HttpResponse {
    let page = MessagePage {
        t,
        message: message.to_string(),
        more: more.map(str::to_string),
        error: status.is_client_error() || status.is_server_error(),
        back: false,
    };
    render(status, &page)
}

fn texts(req: &HttpRequest) -> &'static Texts {
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).ok();
    let lang = q.as_ref().and_then(|q| q.get("lang").cloned());
    let cookie = req.cookie(LANG_COOKIE).map(|c| c.value().to_string());
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    i18n::pick(lang.as_deref(), cookie.as_deref(), accept)
}

fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// `GET /wallet/login?token=…`: a single-use link token opens a session; 303 to the page.
pub async fn login(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    let t = texts(&req);
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).ok();
    let Some(token) = q.and_then(|q| q.get("token").cloned()) else {
        return Ok(message(t, StatusCode::UNAUTHORIZED, t.login_again, None));
    };
    let issuer = peek_issuer(&token);
    let secret = match issuer.clone().flatten() {
        None => st.wallet_secret.clone(),
        Some(m) => {
            let svc = st.svc.clone();
            st.read(move |c| crate::app::merchants::wallet_secret(c, &svc, &m)).await?
        }
    };
    let claims = match (issuer, secret) {
        (Some(_), Some(secret)) => verify_wallet_token(&token, &secret, st.clock.now(), sessions::LOGIN_TOKEN_MAX_LIFE),
        _ => None,
    };
    let Some(claims) = claims else {
        return Ok(message(t, StatusCode::UNAUTHORIZED, t.login_again, None));
    };
    if !may_open(&claims, &claims.sub) {
        return Ok(message(t, StatusCode::FORBIDDEN, t.login_again, None));
    }
    let opened = st.write(move |c, now| sessions::login(c, &claims, now)).await;
    let (id, _) = match opened {
        Ok(v) => v,
        Err(e) if e.code == Code::Unauthorized => return Ok(message(t, StatusCode::UNAUTHORIZED, t.login_again, None)),
        Err(e) => return Err(e),
    };
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(&req))
        .max_age(CookieAge::seconds(sessions::MAX_SECONDS))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/wallet"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

/// The session behind the cookie; its idle clock is reset at most once a minute.
pub async fn session(req: &HttpRequest, st: &AppState) -> Result<Option<(String, sessions::Session)>, ApiError> {
    let Some(id) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else { return Ok(None) };
    let (i, clock) = (id.clone(), st.clock.clone());
    let Some(s) = st.read(move |c| sessions::find(c, &i, clock.now())).await? else { return Ok(None) };
    if s.stale {
        let i = id.clone();
        st.write(move |c, now| sessions::touch(c, &i, now)).await?;
    }
    Ok(Some((id, s)))
}

fn s(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

/// Builds the page's data for a user.
async fn wallet_page(
    st: &AppState,
    t: &'static Texts,
    user: String,
    csrf: String,
    cursor: Option<String>,
) -> Result<WalletPage, ApiError> {
    let (svc, clock) = (st.svc.clone(), st.clock.clone());
    let u = user.clone();
    let c2 = cursor.clone();
    let (w, entries, dests, chart) = st
        .read(move |c| {
            let w = wallet::get(c, &svc, &u)?;
            let e = wallet::entries(c, &svc, &u, None, c2.as_deref(), Some(HISTORY_PAGE))?;
            let d = wallet::destinations(c, &u)?;
            let first = w["balances"].get(0).map(|b| s(&b["currency"]));
            let chart = match &first {
                Some(cur) => Some((cur.clone(), wallet::monthly_earnings(c, &svc, &u, cur, clock.now(), 6)?)),
                None => None,
            };
            Ok((w, e, d, chart))
        })
        .await?;
    let balances = w["balances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| BalanceView {
            currency: s(&b["currency"]),
            available: s(&b["available"]),
            negative: s(&b["available"]).starts_with('-'),
            pending: s(&b["pending"]),
            next_release_at: b["next_release_at"].as_str().map(|x| x.replace('T', " ")[..16.min(x.len())].to_string()),
            held: s(&b["held"]),
            withdrawing: s(&b["withdrawing"]),
            lifetime: s(&b["lifetime_earned"]),
            minimum: s(&b["withdrawal"]["minimum"]),
            fee: s(&b["withdrawal"]["fee"]),
        })
        .collect();
    let entries_view = entries["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| EntryView {
            date: s(&e["at"]).chars().take(10).collect(),
            kind: t.kind_name(e["kind"].as_str().unwrap_or("")),
            bucket: t.bucket_name(e["bucket"].as_str().unwrap_or("")),
            order: s(&e["order_id"]),
            amount: s(&e["amount"]),
            currency: s(&e["currency"]),
        })
        .collect();
    let none = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| t.no_cap.to_string());
    let terms = w["terms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| TermView {
            merchant_id: s(&x["merchant_id"]),
            cashback_rate: s(&x["cashback_rate"]),
            referral_rate: s(&x["referral_rate"]),
            hold_days: x["hold_days"].to_string(),
            per_order_cap: none(&x["per_order_cap"]),
            monthly_cap: none(&x["monthly_cap_per_user"]),
        })
        .collect();
    let (chart_currency, bars) = match chart {
        Some((cur, months)) => {
            let c = Currency::parse(&cur);
            let max = months.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
            let bars = months
                .iter()
                .enumerate()
                .map(|(i, (label, v))| {
                    let h = (v.max(&0) * 90 / max).max(if *v > 0 { 1 } else { 0 });
                    Bar {
                        x: 6 + i as i64 * 40,
                        y: 100 - h,
                        h,
                        label: label.clone(),
                        short: label.get(5..).unwrap_or("").to_string(),
                        value: c.map(|c| format_minor(*v, c)).unwrap_or_default(),
                    }
                })
                .collect();
            (cur, bars)
        }
        None => (String::new(), Vec::new()),
    };
    Ok(WalletPage {
        t,
        csrf,
        user_id: user,
        notice: None,
        error: None,
        balances,
        chart_width: 6 + bars.len() as i64 * 40,
        chart: bars,
        chart_currency,
        destinations: dests,
        withdrawal_id: random_id("w"),
        entries: entries_view,
        next_cursor: entries["next_cursor"].as_str().map(str::to_string),
        paged: cursor.is_some(),
        terms,
    })
}

fn with_lang(req: &HttpRequest, t: &'static Texts, mut r: HttpResponse) -> HttpResponse {
    let asked = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("lang").cloned());
    if asked.is_some() {
        let c = Cookie::build(LANG_COOKIE, t.lang)
            .path("/")
            .same_site(SameSite::Lax)
            .max_age(CookieAge::days(365))
            .finish();
        let _ = r.add_cookie(&c);
    }
    r
}

/// `GET /wallet`: the page, or 401 with "open it from your shop" without a session.
pub async fn page(req: HttpRequest, st: web::Data<AppState>) -> HttpResult {
    let t = texts(&req);
    let Some((_, s)) = session(&req, &st).await? else {
        return Ok(with_lang(&req, t, message(t, StatusCode::UNAUTHORIZED, t.login_again, None)));
    };
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).ok();
    let cursor = q.as_ref().and_then(|q| q.get("cursor").cloned());
    let mut p = match wallet_page(&st, t, s.user_id, s.csrf, cursor).await {
        Ok(p) => p,
        Err(e) if e.code == Code::InvalidRequest => return Ok(message(t, StatusCode::BAD_REQUEST, &e.detail, None)),
        Err(e) => return Err(e),
    };
    if q.as_ref().and_then(|q| q.get("notice")).is_some_and(|n| n == "requested") {
        p.notice = Some(t.requested.to_string());
    }
    Ok(with_lang(&req, t, render(StatusCode::OK, &p)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawForm {
    #[allow(dead_code)] // judged before the form's shape
    csrf_token: String,
    withdrawal_id: String,
    currency: String,
    amount: String,
    destination: String,
    expected_fee: String,
    #[serde(default)]
    step: Option<String>,
}

fn csrf_ok(expected: &str, given: &str) -> bool {
    !given.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// `POST /wallet/withdrawals`: review (fee and net) then confirm; the form sends
/// `withdrawal_id`, `currency`, `amount`, `destination`, `expected_fee` and `csrf_token`.
pub async fn withdraw(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResult {
    let t = texts(&req);
    let Some((_, s)) = session(&req, &st).await? else {
        return Ok(message(t, StatusCode::UNAUTHORIZED, t.login_again, None));
    };
    let body = super::body::read(&req, payload, super::body::JSON_LIMIT).await?;
    // The CSRF token is judged first, from whatever fields came; then the form's shape.
    let fields: std::collections::HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !csrf_ok(&s.csrf, fields.get("csrf_token").map(String::as_str).unwrap_or("")) {
        return Ok(message(t, StatusCode::FORBIDDEN, "CSRF", Some(t.login_again)));
    }
    let f: WithdrawForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return Ok(message(t, StatusCode::BAD_REQUEST, &format!("the form is incomplete: {e}"), None)),
    };
    let user = s.user_id.clone();
    let fail = |st: &web::Data<AppState>, e: ApiError| {
        let (st, user, csrf) = (st.clone(), user.clone(), s.csrf.clone());
        async move {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut p = wallet_page(&st, t, user, csrf, None).await?;
            p.error = Some(e.detail.clone());
            Ok::<_, ApiError>(render(status, &p))
        }
    };
    if f.step.as_deref() == Some("review") {
        // Review: show the fee and what arrives, before anything is requested.
        let Some(cur) = Currency::parse(&f.currency) else {
            return fail(&st, err(Code::CurrencyNotSupported, "unknown currency")).await;
        };
        let amount = match RawAmount::parse(f.amount.trim()).and_then(|a| a.positive(cur)) {
            Ok(a) => a,
            Err(e) => return fail(&st, err(Code::InvalidAmount, e.to_string())).await,
        };
        let (_, fee) = st.read(move |c| withdrawals::settings(c, cur)).await?;
        let page = ConfirmPage {
            t,
            csrf: s.csrf.clone(),
            withdrawal_id: f.withdrawal_id,
            currency: cur.code().to_string(),
            amount: format_minor(amount, cur),
            fee: format_minor(fee, cur),
            net: format_minor(amount - fee, cur),
            destination: f.destination,
        };
        return Ok(render(StatusCode::OK, &page));
    }
    let input = WithdrawalIn {
        withdrawal_id: f.withdrawal_id,
        currency: f.currency,
        amount: Value::String(f.amount.trim().to_string()),
        destination: f.destination,
        expected_fee: Value::String(f.expected_fee),
    };
    let cmd = match input.validate() {
        Ok(c) => c,
        Err(e) => return fail(&st, e).await,
    };
    let (svc, who) = (st.svc.clone(), user.clone());
    match st.write(move |c, now| withdrawals::request(c, &svc, &who, cmd, now)).await {
        Ok(_) => Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, "/wallet?notice=requested")).finish()),
        Err(e) => fail(&st, e).await,
    }
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /wallet/logout`: ends the session.
pub async fn logout(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResult {
    let t = texts(&req);
    let Some((id, s)) = session(&req, &st).await? else {
        return Ok(message(t, StatusCode::OK, t.logged_out, Some(t.login_again)));
    };
    let body = super::body::read(&req, payload, super::body::JSON_LIMIT).await?;
    let f: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or(LogoutForm { csrf_token: String::new() });
    if !csrf_ok(&s.csrf, &f.csrf_token) {
        return Ok(message(t, StatusCode::FORBIDDEN, "CSRF", None));
    }
    st.write(move |c, _| sessions::logout(c, &id)).await?;
    let mut r = message(t, StatusCode::OK, t.logged_out, Some(t.login_again));
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).same_site(SameSite::Lax).finish();
    gone.make_removal();
    let _ = r.add_cookie(&gone);
    Ok(r)
}
