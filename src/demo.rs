//! `serve --demo`: generates what is missing, seeds a demo shop on first start, and prints
//! what a newcomer can do next. Demo secrets are kept in the database so a restart keeps
//! working; that is fine for a demo and wrong for production, which sets its own.

use crate::app::error::ApiError;
use crate::app::merchants::{self, MerchantIn};
use crate::app::orders::{self, LineCmd, PlaceOrder, RefundCmd};
use crate::app::programs::{self, ProgramIn};
use crate::app::users::{self, UserIn};
use crate::app::Actor;
use crate::crypto::{mint_wallet_token, WalletClaims};
use crate::domain::money::{Currency, RawAmount};
use crate::http::AppState;
use crate::store::{repo, Writer};

pub const MERCHANT: &str = "demo-shop";

/// A value generated once and kept in the database's settings.
pub fn remembered_value(writer: &Writer, key: &str, make: fn() -> String) -> anyhow::Result<String> {
    let key = key.to_string();
    let v = writer.write_blocking(move |c| -> Result<String, ApiError> {
        if let Some(v) = repo::meta_value(c, &key)? {
            return Ok(v);
        }
        let v = make();
        repo::set_meta_value(c, &key, &v)?;
        Ok(v)
    });
    v.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn remembered(st: &AppState, key: &'static str, make: fn() -> String) -> anyhow::Result<String> {
    st.write(move |c, _| {
        if let Some(v) = repo::meta_value(c, key)? {
            return Ok(v);
        }
        let v = make();
        repo::set_meta_value(c, key, &v)?;
        Ok(v)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn program() -> ProgramIn {
    serde_json::from_value(serde_json::json!({
        "currency": "CNY", "commission_rate": "0.20", "cashback_rate": "0.112", "referral_rate": "0.01",
        "hold_days": 7, "per_order_cap": "500.00", "monthly_cap_per_user": "2000.00",
        "categories": {"food": {"commission_rate": "0.10", "cashback_rate": "0.05"}}
    }))
    .expect("the demo program parses")
}

/// Seeds the demo shop on first start; returns the guide to print.
pub async fn seed(st: &AppState, base_url: &str) -> anyhow::Result<String> {
    let secret = remembered(st, "demo.merchant_secret", crate::crypto::random_token).await?;
    let svc = st.svc.clone();
    let s = secret.clone();
    st.write(move |c, now| {
        if repo::merchant(c, MERCHANT)?.is_some() {
            return Ok(());
        }
        let op = "demo";
        let m = MerchantIn { name: "Demo Tea Shop".into(), secret: Some(s), wallet_secret: None };
        merchants::put(c, &svc, op, MERCHANT, m, now)?;
        programs::put(c, &svc, op, MERCHANT, program(), now)?;
        let shop = Actor::Merchant(MERCHANT.into());
        let dests = |d: &str| Some(vec![d.to_string()]);
        users::put(
            c,
            &svc,
            &shop,
            "alice",
            UserIn { referrer_id: None, payout_destinations: dests("alipay:alice@example.com") },
            now - 30 * 86_400,
        )?;
        users::put(
            c,
            &svc,
            &shop,
            "bob",
            UserIn { referrer_id: Some("alice".into()), payout_destinations: dests("alipay:bob@example.com") },
            now - 20 * 86_400,
        )?;
        let cny = Currency::parse("CNY").expect("CNY");
        let order = |id: &str, user: &str, amount: i64, ago_days: i64, lines: Option<Vec<LineCmd>>| PlaceOrder {
            merchant_id: MERCHANT.into(),
            order_id: id.into(),
            user_id: user.into(),
            currency: cny,
            currency_code: "CNY",
            amount,
            paid_at: now - ago_days * 86_400 - 3_600,
            lines,
        };
        orders::place(c, &svc, order("D1001", "bob", 100_000, 10, None).into(), now)?;
        orders::place(c, &svc, order("D1002", "alice", 25_000, 9, None).into(), now)?;
        let lines = vec![
            LineCmd { sku: "tea-1".into(), amount: 60_000, category: Some("food".into()) },
            LineCmd { sku: "cup-2".into(), amount: 40_000, category: None },
        ];
        orders::place(c, &svc, order("D1003", "bob", 100_000, 1, Some(lines)).into(), now)?;
        let refund = RefundCmd {
            refund_id: "R1".into(),
            amount: RawAmount::parse("300.00").expect("amount"),
            refunded_at: None,
        };
        orders::refund(c, MERCHANT, "D1003", refund, now)?;
        Ok(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("seeding the demo failed: {e}"))?;
    let admin = st.admin_tokens.first().map(|(_, t)| t.clone()).unwrap_or_default();
    // A wallet token and a login link for bob, as a shop would mint them.
    let now = st.clock.now();
    let key = st.wallet_secret.as_deref().unwrap_or_default();
    let claims = WalletClaims { sub: "bob".into(), iat: now, exp: now + 900, iss: None, jti: None };
    let wallet = mint_wallet_token(key, &claims);
    let link = login_link(base_url, key, "bob", now);
    Ok(guide(base_url, &secret, &admin, &wallet, &link))
}

/// A single-use wallet login link for `user`, valid five minutes.
pub fn login_link(base: &str, wallet_secret: &str, user: &str, now: i64) -> String {
    let claims = WalletClaims {
        sub: user.into(),
        iat: now,
        exp: now + 300,
        iss: None,
        jti: Some(crate::crypto::random_id("login")),
    };
    format!("{base}/wallet/login?token={}", mint_wallet_token(wallet_secret, &claims))
}

fn guide(base: &str, secret: &str, admin: &str, wallet: &str, link: &str) -> String {
    format!(
        r#"
Cashback ledger demo on {base}
  merchant: {MERCHANT} (program CNY: commission 20%, cashback 11.2%, referral 1%, hold 7 days)
  users: alice; bob (referred by alice); orders D1001 (released), D1002 (released), D1003 (pending, 300.00 refunded)
  admin token: {admin}

Try it (a signed quote, then an order; the signature is HMAC-SHA256 over "<t>.<body>"):

  SECRET='{secret}'
  sign() {{ T=$(date +%s); SIG=$(printf '%s.%s' "$T" "$1" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.*= //'); echo "t=$T,v1=$SIG"; }}
  BODY='{{"user_id":"bob","currency":"CNY","amount":"100.00"}}'
  curl -s {base}/v1/checkout/quote -H 'X-Cashback-Merchant: {MERCHANT}' -H "X-Cashback-Signature: $(sign "$BODY")" -H 'Content-Type: application/json' -d "$BODY"

  BODY='{{"order_id":"A1001","user_id":"bob","currency":"CNY","amount":"1000.00","paid_at":"'$(date -Iseconds)'"}}'
  curl -s {base}/v1/orders -H 'X-Cashback-Merchant: {MERCHANT}' -H "X-Cashback-Signature: $(sign "$BODY")" -H 'Content-Type: application/json' -d "$BODY"

  curl -s {base}/v1/admin/verify -H 'Authorization: Bearer {admin}'
  curl -s {base}/openapi.json | head -c 300

Bob's wallet page: open this link in a browser within 5 minutes (it works once; for a new one,
run `cargo run -- login-link --user bob`):

  {link}

Bob's wallet as JSON (this token is valid for 15 minutes):

  curl -s {base}/v1/wallet -H 'Authorization: Bearer {wallet}'

(`cashback sign --secret "$SECRET" --body "$BODY"` prints the same header value.)
"#
    )
}
