//! The wallet page over HTTP: login links, the session cookie, CSRF, escaping, language.

use crate::helpers::*;
use cashback::crypto::{mint_wallet_token, random_id, WalletClaims};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

const DAY: i64 = 86_400;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestApp {
    pub fn login_token(&self, user: &str) -> String {
        let now = self.clock.now();
        let c = WalletClaims { sub: user.into(), iat: now, exp: now + 300, iss: None, jti: Some(random_id("jti")) };
        mint_wallet_token(&self.wallet_secret, &c)
    }

    /// Follows a login link; returns the session cookie ("cb_session=…").
    pub async fn log_in(&self, token: &str) -> reqwest::Response {
        no_redirects().get(self.url(&format!("/wallet/login?token={token}"))).send().await.unwrap()
    }

    pub async fn session(&self, user: &str) -> String {
        let r = self.log_in(&self.login_token(user)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()[LOCATION], "/wallet");
        let c = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"), "{c}");
        c.split(';').next().unwrap().to_string()
    }

    pub async fn page(&self, cookie: &str, query: &str) -> (u16, String) {
        let r = no_redirects().get(self.url(&format!("/wallet{query}"))).header(COOKIE, cookie).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn form(&self, cookie: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        no_redirects().post(self.url(path)).header(COOKIE, cookie).form(fields).send().await.unwrap()
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf_token\" value=\"").expect("a CSRF field") + 25;
    page[at..].split('"').next().unwrap().to_string()
}

async fn funded() -> TestApp {
    let app = spawn_app().await;
    app.setup().await;
    app.put("/v1/users/u-42", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    app.order("F1", "u-42", "1000.00", 8 * DAY).await;
    app
}

#[tokio::test]
async fn a_login_link_opens_the_wallet_once() {
    let app = funded().await;
    let token = app.login_token("u-42");
    let r = app.log_in(&token).await;
    assert_eq!(r.status(), 303);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let (status, html) = app.page(&cookie, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("112.00") && html.contains("u-42"), "{html}");
    assert!(html.contains("lang=\"zh-CN\""), "Chinese by default");
    // Used once: the same link again is refused.
    assert_eq!(app.log_in(&token).await.status(), 401);
    // Without a session: 401 and how to get back in.
    let (status, _) = app.page("cb_session=nope", "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_login_tokens_are_refused() {
    let app = funded().await;
    let now = app.clock.now();
    let mint = |secret: &str, c: WalletClaims| mint_wallet_token(secret, &c);
    let claims = |iat: i64, exp: i64, jti: Option<&str>| WalletClaims {
        sub: "u-42".into(),
        iat,
        exp,
        iss: None,
        jti: jti.map(str::to_string),
    };
    let unsigned =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1LTQyIiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTksImp0aSI6IngifQ.";
    for (case, token) in [
        ("expired", mint(&app.wallet_secret, claims(now - 400, now - 100, Some("a")))),
        ("too long", mint(&app.wallet_secret, claims(now, now + 900, Some("b")))),
        ("no jti", mint(&app.wallet_secret, claims(now, now + 300, None))),
        ("wrong key", mint("not-the-secret", claims(now, now + 300, Some("c")))),
        ("alg none", unsigned.to_string()),
        ("garbage", "abc".to_string()),
    ] {
        let r = app.log_in(&token).await;
        assert_eq!(r.status(), 401, "{case}");
        assert!(r.headers().get(SET_COOKIE).is_none(), "{case} set a cookie");
    }
}

#[tokio::test]
async fn withdrawing_from_the_page_shows_the_fee_first_and_needs_the_csrf_token() {
    let app = funded().await;
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/withdrawal-settings/CNY",
        Some(&json!({"minimum": "10.00", "fee": "1.50"})),
    )
    .await;
    let cookie = app.session("u-42").await;
    let (_, html) = app.page(&cookie, "").await;
    let csrf = csrf_of(&html);
    let before = app.balances().await;
    let fields = |csrf: &'static str| {
        vec![
            ("csrf_token", csrf),
            ("withdrawal_id", "PW1"),
            ("currency", "CNY"),
            ("amount", "20"),
            ("destination", "alipay:u42@example.com"),
            ("expected_fee", "1.50"),
            ("step", "confirm"),
        ]
    };
    // Without or with a wrong CSRF token: 403, nothing changes.
    let r = app.form(&cookie, "/wallet/withdrawals", &fields("")[1..]).await;
    assert_eq!(r.status(), 403);
    let r = app.form(&cookie, "/wallet/withdrawals", &fields("wrong")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.balances().await, before);
    // Review shows the fee and the net before anything is requested.
    let csrf: &'static str = Box::leak(csrf.into_boxed_str());
    let mut review = fields(csrf);
    review[6] = ("step", "review");
    let r = app.form(&cookie, "/wallet/withdrawals", &review).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("1.50 CNY") && html.contains("18.50 CNY"), "{html}");
    assert_eq!(app.balances().await, before);
    let r = app.form(&cookie, "/wallet/withdrawals", &fields(csrf)).await;
    assert_eq!(r.status(), 303);
    let (_, html) = app.page(&cookie, "?notice=requested").await;
    assert!(html.contains("id=\"notice\""));
    assert_eq!(app.cny("u-42").await["withdrawing"], "18.50");
    // A refused withdrawal shows why, on the page.
    let mut big = fields(csrf);
    big[1] = ("withdrawal_id", "PW2");
    big[3] = ("amount", "1000");
    let r = app.form(&cookie, "/wallet/withdrawals", &big).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"error\""));
    // Logging out needs the token too, and ends the session.
    assert_eq!(app.form(&cookie, "/wallet/logout", &[("csrf_token", "wrong")]).await.status(), 403);
    assert_eq!(app.form(&cookie, "/wallet/logout", &[("csrf_token", csrf)]).await.status(), 200);
    assert_eq!(app.page(&cookie, "").await.0, 401);
    app.assert_verified().await;
}

#[tokio::test]
async fn the_page_escapes_what_shops_send_and_shows_only_its_users_money() {
    let app = funded().await;
    app.order("<script>alert(1)</script>", "u-42", "10.00", 0).await;
    app.order("B-ONLY-ORDER", "u-7", "10.00", 0).await;
    let cookie = app.session("u-42").await;
    let (_, html) = app.page(&cookie, "").await;
    assert!(!html.contains("<script>alert(1)</script>"), "unescaped shop string");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "the order id is shown, escaped");
    assert!(!html.contains("B-ONLY-ORDER"));
}

#[tokio::test]
async fn the_language_follows_the_browser_and_the_switch() {
    let app = funded().await;
    let cookie = app.session("u-42").await;
    let r = no_redirects()
        .get(app.url("/wallet"))
        .header(COOKIE, &cookie)
        .header("Accept-Language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("My cashback wallet"));
    let r = no_redirects().get(app.url("/wallet?lang=en")).header(COOKIE, &cookie).send().await.unwrap();
    let lang = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(lang.starts_with("cb_lang=en"));
    assert!(r.text().await.unwrap().contains("lang=\"en\""));
    let both = format!("{cookie}; {}", lang.split(';').next().unwrap());
    let (_, html) = app.page(&both, "").await;
    assert!(html.contains("My cashback wallet"), "the choice sticks");
    let (_, html) = app.page(&both, "?lang=zh-CN").await;
    assert!(html.contains("我的返现钱包"));
}

#[tokio::test]
async fn the_session_cookie_also_opens_the_json_api_and_its_writes_need_the_csrf_token() {
    let app = funded().await;
    let cookie = app.session("u-42").await;
    let r = no_redirects().get(app.url("/v1/wallet")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let w = json!({"withdrawal_id": "CW1", "currency": "CNY", "amount": "10.00",
        "destination": "alipay:u42@example.com", "expected_fee": "0.00"});
    let r =
        no_redirects().post(app.url("/v1/wallet/withdrawals")).header(COOKIE, &cookie).json(&w).send().await.unwrap();
    problem(r, 403, "forbidden").await;
    let (_, html) = app.page(&cookie, "").await;
    let r = no_redirects()
        .post(app.url("/v1/wallet/withdrawals"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", csrf_of(&html))
        .json(&w)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn the_contracts_form_fields_alone_book_a_withdrawal() {
    let app = funded().await;
    let cookie = app.session("u-42").await;
    let (_, html) = app.page(&cookie, "").await;
    let csrf = csrf_of(&html);
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("withdrawal_id", "FW1"),
        ("currency", "CNY"),
        ("amount", "10.00"),
        ("destination", "alipay:u42@example.com"),
        ("expected_fee", "0.00"),
    ];
    assert_eq!(app.form(&cookie, "/wallet/withdrawals", &fields).await.status(), 303);
    assert_eq!(app.cny("u-42").await["withdrawing"], "10.00");
    // A form missing a field, with the right CSRF token, is a 400 that books nothing.
    let r = app.form(&cookie, "/wallet/withdrawals", &fields[..4]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.cny("u-42").await["withdrawing"], "10.00");
}

/// Session fixation: a session id planted in the browser before the login is never adopted;
/// the login always sets a fresh one, and the planted one opens nothing.
#[tokio::test]
async fn a_planted_session_cookie_is_never_adopted_at_login() {
    let app = funded().await;
    let planted = "cb_session=attacker-chosen-session-id";
    let r = no_redirects()
        .get(app.url(&format!("/wallet/login?token={}", app.login_token("u-42"))))
        .header(COOKIE, planted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(set.starts_with("cb_session=") && set != planted, "{set}");
    assert_ne!(app.page(planted, "").await.0, 200, "the planted id opens nothing");
    assert_eq!(app.page(&set, "").await.0, 200);
    // A second login gives yet another session: ids are never reused.
    assert_ne!(app.session("u-42").await, set);
}

/// A cross-site form post carries the victim's cookie but not the page's CSRF token: refused,
/// and nothing is booked.
#[tokio::test]
async fn a_cross_site_withdrawal_post_is_refused() {
    let app = funded().await;
    let cookie = app.session("u-42").await;
    let before = app.cny("u-42").await;
    let fields = [
        ("withdrawal_id", "evil"),
        ("currency", "CNY"),
        ("amount", "100.00"),
        ("destination", "alipay:u42@example.com"),
        ("expected_fee", "0.00"),
    ];
    let r = app.form(&cookie, "/wallet/withdrawals", &fields).await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.cny("u-42").await, before);
}
