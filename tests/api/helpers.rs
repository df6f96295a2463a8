use cashback::clock::Clock;
use cashback::config::Settings;
use cashback::crypto::{mint_wallet_token, random_id, random_key_base64, random_token, sign, SecretBox, WalletClaims};
use cashback::http::AppState;
use cashback::startup::{open_writer, Application, Parts};
use cashback::store::{repo, DbUrl};
use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Once;

pub const MERCHANT: &str = "m1";
pub const SECRET: &str = "m1-signing-secret";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub admin_token: String,
    pub wallet_secret: String,
    pub db_url: DbUrl,
    pub state: actix_web::web::Data<AppState>,
    _dir: Option<tempfile::TempDir>,
}

static NOTE: Once = Once::new();

/// A fresh database: a temporary SQLite file, or a new PostgreSQL database when
/// TEST_DATABASE_URL is set.
pub fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(base) => {
            let name = format!("cashback_{}", random_id("test"));
            let mut c = diesel::PgConnection::establish(&base).expect("connect to TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c).expect("create a test database");
            let (prefix, _) = base.rsplit_once('/').expect("a database URL with a path");
            (format!("{prefix}/{name}"), None)
        }
        None => {
            NOTE.call_once(|| {
                skipped("TEST_DATABASE_URL is not set: the API tests run on SQLite only, PostgreSQL skipped")
            });
            let dir = tempfile::tempdir().expect("temp dir");
            (format!("sqlite://{}", dir.path().join("test.db").display()), Some(dir))
        }
    }
}

/// Says so on the terminal even though the test harness captures test output.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {why}");
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app whose clock stands still at `at` (moved only by `advance`), for byte-stable output.
pub async fn spawn_app_frozen(at: i64) -> TestApp {
    spawn_app_inner(|_| {}, Clock::frozen(at)).await
}

/// An app whose settings `adjust` may change first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_inner(adjust, Clock::default()).await
}

async fn spawn_app_inner(adjust: impl FnOnce(&mut Settings), clock: Clock) -> TestApp {
    let (url, dir) = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let admin_token = random_token();
    let wallet_secret = random_token();
    let mut settings = Settings {
        database_url: url,
        bind: "127.0.0.1:0".into(),
        admin_tokens: Some(format!("ops-alice:{admin_token}")),
        admin_token: None,
        wallet_secret: Some(wallet_secret.clone()),
        secret_key: Some(random_key_base64()),
        timezone: "Asia/Shanghai".into(),
        rate_limit: 0,
        rate_burst: 0,
    };
    adjust(&mut settings);
    let s = settings.clone();
    let (db_url, writer) =
        tokio::task::spawn_blocking(move || open_writer(&s)).await.unwrap().expect("open the database");
    let parts = Parts {
        clock: clock.clone(),
        secrets: SecretBox::from_base64(settings.secret_key.as_deref().unwrap()).unwrap(),
        admin_tokens: settings.admin_token_list().unwrap(),
        wallet_secret: Some(wallet_secret.clone()),
    };
    let app = Application::build(&settings, writer, &db_url, parts).expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, client: reqwest::Client::new(), clock, admin_token, wallet_secret, db_url, state, _dir: dir }
}

/// The program of API.md §6.
pub fn example_program() -> Value {
    json!({"currency": "CNY", "commission_rate": "0.20", "cashback_rate": "0.112",
        "referral_rate": "0.01", "hold_days": 7,
        "per_order_cap": "500.00", "monthly_cap_per_user": "2000.00",
        "categories": {"food": {"commission_rate": "0.10", "cashback_rate": "0.05"}}})
}

pub type Balances = BTreeMap<(String, String, String), i64>;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A merchant-signed request, signed now by the app's clock.
    pub async fn signed_as(
        &self,
        merchant: &str,
        secret: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        self.signed_raw(merchant, secret, method, path, raw, self.clock.now()).await
    }

    pub async fn signed_raw(
        &self,
        merchant: &str,
        secret: &str,
        method: Method,
        path: &str,
        raw: String,
        t: i64,
    ) -> Response {
        let sig = sign(secret, t, raw.as_bytes());
        let mut r = self
            .client
            .request(method, self.url(path))
            .header("X-Cashback-Merchant", merchant)
            .header("X-Cashback-Signature", format!("t={t},v1={sig}"));
        if !raw.is_empty() {
            r = r.header("Content-Type", "application/json").body(raw);
        }
        r.send().await.expect("request")
    }

    /// POST `sent` to `path` with a signature over `signed` (which may differ, to test that).
    pub async fn post_signed_over(&self, path: &str, signed: &[u8], sent: String, content_type: &str) -> Response {
        let t = self.clock.now();
        self.client
            .post(self.url(path))
            .header("X-Cashback-Merchant", MERCHANT)
            .header("X-Cashback-Signature", format!("t={t},v1={}", sign(SECRET, t, signed)))
            .header("Content-Type", content_type)
            .body(sent)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.signed_as(MERCHANT, SECRET, Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.signed_as(MERCHANT, SECRET, Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.signed_as(MERCHANT, SECRET, Method::PUT, path, Some(body)).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut r = self.client.request(method, self.url(path)).bearer_auth(&self.admin_token);
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().await.expect("request")
    }

    /// Merchant m1 with the example program, and users u-7 and u-42 (referred by u-7).
    pub async fn setup(&self) {
        self.add_merchant(MERCHANT, SECRET).await;
        assert_eq!(self.put("/v1/users/u-7", &json!({})).await.status(), 201);
        assert_eq!(self.put("/v1/users/u-42", &json!({"referrer_id": "u-7"})).await.status(), 201);
    }

    pub async fn add_merchant(&self, id: &str, secret: &str) {
        let r = self
            .admin(Method::PUT, &format!("/v1/admin/merchants/{id}"), Some(&json!({"name": id, "secret": secret})))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = self.admin(Method::PUT, &format!("/v1/admin/merchants/{id}/program"), Some(&example_program())).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub fn wallet_token(&self, user: &str) -> String {
        let now = self.clock.now();
        mint_wallet_token(
            &self.wallet_secret,
            &WalletClaims { sub: user.into(), iat: now, exp: now + 900, iss: None, jti: None },
        )
    }

    pub async fn wallet(&self, user: &str) -> Value {
        let r = self.client.get(self.url("/v1/wallet")).bearer_auth(self.wallet_token(user)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The wallet's balance line for CNY.
    pub async fn cny(&self, user: &str) -> Value {
        let w = self.wallet(user).await;
        w["balances"].as_array().unwrap().iter().find(|b| b["currency"] == "CNY").cloned().unwrap_or(Value::Null)
    }

    /// Every stored balance, read straight from the database.
    pub async fn balances(&self) -> Balances {
        self.state
            .read(|c| {
                let s = repo::snapshot(c)?;
                Ok(s.balances
                    .into_iter()
                    .map(|((cur, a, o), v)| ((cur.code().to_string(), a.name().to_string(), o), v))
                    .collect())
            })
            .await
            .unwrap()
    }

    pub async fn entry_count(&self) -> usize {
        self.state.read(|c| Ok(repo::snapshot(c)?.entries.len())).await.unwrap()
    }

    pub async fn assert_verified(&self) {
        let r = self.admin(Method::GET, "/v1/admin/verify", None).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["ok"], true, "verify failed: {v:#}");
        assert_eq!(v["checks"].as_array().unwrap().len(), 8);
    }

    /// An order of `amount` for `user`, paid `ago` seconds before the app's clock.
    pub async fn order(&self, id: &str, user: &str, amount: &str, ago: i64) -> Value {
        let r = self.post("/v1/orders", &order_body(id, user, amount, self.clock.now() - ago)).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }
}

pub fn rfc3339(t: i64) -> String {
    cashback::domain::time::format_ts(t, "Asia/Shanghai".parse().unwrap())
}

pub fn order_body(id: &str, user: &str, amount: &str, paid_at: i64) -> Value {
    json!({"order_id": id, "user_id": user, "currency": "CNY", "amount": amount, "paid_at": rfc3339(paid_at)})
}

pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "expected {status} {code}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status);
    assert!(v["title"].is_string() && v["detail"].is_string() && v["type"].is_string());
    v
}

impl TestApp {
    /// POST /v1/redemptions signed by m1, with `token` as the user's consent.
    pub async fn hold_with(&self, body: &Value, token: Option<&str>) -> Response {
        let raw = body.to_string();
        let t = self.clock.now();
        let mut r = self
            .client
            .post(self.url("/v1/redemptions"))
            .header("X-Cashback-Merchant", MERCHANT)
            .header("X-Cashback-Signature", format!("t={t},v1={}", sign(SECRET, t, raw.as_bytes())))
            .header("Content-Type", "application/json")
            .body(raw);
        if let Some(tok) = token {
            r = r.header("X-Cashback-User-Token", tok);
        }
        r.send().await.expect("request")
    }

    pub async fn hold(&self, id: &str, user: &str, amount: &str) -> Response {
        let body = json!({"redemption_id": id, "user_id": user, "currency": "CNY", "amount": amount});
        self.hold_with(&body, Some(&self.wallet_token(user))).await
    }
}

/// A two-decimal amount on the wire ("-12.30") in minor units.
pub fn minor(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("money expected, got {v}"));
    s.replace('.', "").parse().unwrap_or_else(|_| panic!("money expected, got {v}"))
}
