//! Each bad input of API.md §3 that this service can produce answers its code, and the ledger
//! is unchanged: same balances, same entries, verify passes.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

struct Ledger {
    balances: Balances,
    entries: usize,
}

async fn ledger(app: &TestApp) -> Ledger {
    Ledger { balances: app.balances().await, entries: app.entry_count().await }
}

async fn unchanged(app: &TestApp, before: &Ledger, case: &str) {
    let now = ledger(app).await;
    assert_eq!(now.balances, before.balances, "{case} changed balances");
    assert_eq!(now.entries, before.entries, "{case} booked an entry");
}

/// A funded ledger: u-42 has 112.00 available and an order A1 of 1000.00 pending; hold H1.
async fn funded() -> TestApp {
    let app = spawn_app().await;
    app.setup().await;
    app.order("OLD", "u-42", "1000.00", 8 * DAY).await;
    app.order("A1", "u-42", "1000.00", 60).await;
    assert_eq!(app.hold("H1", "u-42", "10.00").await.status(), 201);
    app
}

#[tokio::test]
async fn bad_bodies_are_400_and_change_nothing() {
    let app = funded().await;
    let before = ledger(&app).await;
    let now = app.clock.now();
    let ok = order_body("N1", "u-42", "100.00", now);
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown field", with("coupon", json!("X")), "invalid_request"),
        ("wrong type", with("user_id", json!(42)), "invalid_request"),
        ("bad id", with("user_id", json!("u 42")), "invalid_request"),
        ("paid_at ahead", with("paid_at", json!(rfc3339(now + 400))), "invalid_request"),
        ("paid_at no offset", with("paid_at", json!("2026-11-21T10:00:00")), "invalid_request"),
        ("lines do not sum", with("lines", json!([{"sku": "a", "amount": "99.99"}])), "invalid_request"),
        ("line without sku", with("lines", json!([{"amount": "100.00"}])), "invalid_request"),
        ("number amount", with("amount", json!(100)), "invalid_amount"),
        ("null amount", with("amount", Value::Null), "invalid_amount"),
        ("negative", with("amount", json!("-1.00")), "invalid_amount"),
        ("exponent", with("amount", json!("1e3")), "invalid_amount"),
        ("space", with("amount", json!(" 100.00")), "invalid_amount"),
        ("too many decimals", with("amount", json!("100.001")), "invalid_amount"),
        ("zero", with("amount", json!("0.00")), "invalid_amount"),
        ("too large", with("amount", json!("10000000000000.00")), "invalid_amount"),
        (
            "zero line",
            with("lines", json!([{"sku": "a", "amount": "0"}, {"sku": "b", "amount": "100.00"}])),
            "invalid_amount",
        ),
    ];
    for (case, body, code) in cases {
        problem(app.post("/v1/orders", &body).await, 400, code).await;
        unchanged(&app, &before, case).await;
    }
    let missing = json!({"order_id": "N1", "currency": "CNY", "amount": "1.00", "paid_at": rfc3339(now)});
    problem(app.post("/v1/orders", &missing).await, 400, "invalid_request").await;
    let r = app.signed_raw(MERCHANT, SECRET, Method::POST, "/v1/orders", "{not json".into(), now).await;
    problem(r, 400, "invalid_request").await;
    // serde reads a struct from an array too; the API takes objects only.
    let array = json!(["N1", "u-42", "CNY", "100.00", rfc3339(now)]).to_string();
    let r = app.signed_raw(MERCHANT, SECRET, Method::POST, "/v1/orders", array, now).await;
    problem(r, 400, "invalid_request").await;
    problem(app.put("/v1/users/u-42", &json!([null, null])).await, 400, "invalid_request").await;
    for (case, body) in [
        ("reserved id", json!({"refund_id": "cancel", "amount": "1.00"})),
        ("before paid_at", json!({"refund_id": "R", "amount": "1.00", "refunded_at": rfc3339(now - 3600)})),
    ] {
        problem(app.post("/v1/orders/A1/refunds", &body).await, 400, "invalid_request").await;
        unchanged(&app, &before, case).await;
    }
    problem(app.post("/v1/checkout/quote", &json!({"currency": "CNY", "amount": 5})).await, 400, "invalid_amount")
        .await;
    problem(app.put("/v1/users/u-42", &json!({"payout_destinations": ["nowhere"]})).await, 400, "invalid_request")
        .await;
    unchanged(&app, &before, "quote and user").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn an_unknown_currency_is_reported_before_the_decimals() {
    let app = funded().await;
    let mut b = order_body("N1", "u-42", "1.001", app.clock.now());
    b["currency"] = json!("XYZ");
    problem(app.post("/v1/orders", &b).await, 422, "currency_not_supported").await;
    b["currency"] = json!("JPY");
    b["amount"] = json!("100");
    problem(app.post("/v1/orders", &b).await, 422, "currency_not_supported").await;
    b["currency"] = json!("CNY");
    b["amount"] = json!("1.001");
    problem(app.post("/v1/orders", &b).await, 400, "invalid_amount").await;
    // Lines that do not sum are a 400 of the body itself, before any currency is judged.
    b["currency"] = json!("XYZ");
    b["amount"] = json!("1.00");
    b["lines"] = json!([{"sku": "a", "amount": "0.5"}]);
    problem(app.post("/v1/orders", &b).await, 400, "invalid_request").await;
}

#[tokio::test]
async fn credentials_are_checked_first() {
    let app = funded().await;
    let before = ledger(&app).await;
    let body = order_body("N1", "u-42", "100.00", app.clock.now());
    let raw = body.to_string();
    let now = app.clock.now();
    // Missing headers.
    let r = app
        .client
        .post(app.url("/v1/orders"))
        .header("Content-Type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    problem(r, 401, "signature_invalid").await;
    // Wrong secret, stale or future timestamp, unknown merchant, a signature of another body.
    problem(
        app.signed_raw(MERCHANT, "wrong", Method::POST, "/v1/orders", raw.clone(), now).await,
        401,
        "signature_invalid",
    )
    .await;
    problem(
        app.signed_raw(MERCHANT, SECRET, Method::POST, "/v1/orders", raw.clone(), now - 301).await,
        401,
        "signature_invalid",
    )
    .await;
    problem(
        app.signed_raw(MERCHANT, SECRET, Method::POST, "/v1/orders", raw.clone(), now + 400).await,
        401,
        "signature_invalid",
    )
    .await;
    problem(
        app.signed_raw("nobody", SECRET, Method::POST, "/v1/orders", raw.clone(), now).await,
        401,
        "signature_invalid",
    )
    .await;
    let r = app.post_signed_over("/v1/orders", b"{}", raw.clone(), "application/json").await;
    problem(r, 401, "signature_invalid").await;
    // Size before the HMAC, content type after it.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    problem(app.signed_raw(MERCHANT, "wrong", Method::POST, "/v1/orders", big, now).await, 413, "payload_too_large")
        .await;
    let r = app.post_signed_over("/v1/orders", raw.as_bytes(), raw.clone(), "text/plain").await;
    problem(r, 415, "unsupported_media_type").await;
    // Admin routes need a known admin token.
    let r = app
        .client
        .put(app.url("/v1/admin/merchants/m9"))
        .json(&json!({"name": "x", "secret": "s"}))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    let r = app.client.get(app.url("/v1/admin/verify")).bearer_auth("nope").send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    let r = app.client.get(app.url("/v1/wallet")).send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    unchanged(&app, &before, "credentials").await;
}

#[tokio::test]
async fn business_rules_refuse_and_change_nothing() {
    let app = funded().await;
    let before = ledger(&app).await;
    problem(app.get("/v1/orders/NOPE").await, 404, "not_found").await;
    problem(app.post("/v1/orders/NOPE/refunds", &json!({"refund_id": "R", "amount": "1.00"})).await, 404, "not_found")
        .await;
    problem(
        app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R", "amount": "1000.01"})).await,
        422,
        "refund_exceeds_order",
    )
    .await;
    problem(app.post("/v1/redemptions/NOPE/capture", &json!({})).await, 404, "not_found").await;
    problem(app.post("/v1/redemptions/H1/capture", &json!({"amount": "10.01"})).await, 422, "amount_too_large").await;
    problem(
        app.post("/v1/redemptions/H1/refunds", &json!({"refund_id": "C", "amount": "1.00"})).await,
        409,
        "invalid_state",
    )
    .await;
    problem(app.hold("H2", "u-42", "102.01").await, 422, "insufficient_balance").await;
    let mut unfunded = example_program();
    unfunded["categories"]["food"]["cashback_rate"] = json!("0.095");
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&unfunded)).await;
    problem(r, 422, "program_unfunded").await;
    let r = app.client.delete(app.url("/v1/orders/A1")).send().await.unwrap();
    problem(r, 405, "method_not_allowed").await;
    let mut b = order_body("OLD", "u-42", "1.00", app.clock.now());
    b["user_id"] = json!("u-7");
    problem(app.post("/v1/orders", &b).await, 409, "idempotency_conflict").await;
    unchanged(&app, &before, "business rules").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn a_merchant_over_its_rate_is_told_when_to_retry() {
    let app = spawn_app_with(|s| {
        s.rate_limit = 1;
        s.rate_burst = 3;
    })
    .await;
    app.add_merchant(MERCHANT, SECRET).await;
    let q = json!({"currency": "CNY", "amount": "10.00"});
    for _ in 0..3 {
        assert_eq!(app.post("/v1/checkout/quote", &q).await.status(), 200);
    }
    let r = app.post("/v1/checkout/quote", &q).await;
    assert!(r.headers().get("retry-after").is_some());
    problem(r, 429, "rate_limited").await;
    // A bad signature spends nothing of the merchant's budget and is still a 401.
    let r = app.signed_as(MERCHANT, "wrong", Method::POST, "/v1/checkout/quote", Some(&q)).await;
    problem(r, 401, "signature_invalid").await;
}

#[tokio::test]
async fn a_used_key_conflicts_before_its_currency_is_judged() {
    let app = funded().await;
    let mut b = order_body("A1", "u-42", "1000.00", app.clock.now());
    b["currency"] = json!("XXX");
    problem(app.post("/v1/orders", &b).await, 409, "idempotency_conflict").await;
    let body = json!({"redemption_id": "H1", "user_id": "u-42", "currency": "XXX", "amount": "10.00"});
    problem(app.hold_with(&body, Some(&app.wallet_token("u-42"))).await, 409, "idempotency_conflict").await;
    // Consent (403) comes before the currency (422).
    let body = json!({"redemption_id": "H9", "user_id": "u-42", "currency": "XXX", "amount": "10.00"});
    problem(app.hold_with(&body, Some(&app.wallet_token("u-7"))).await, 403, "forbidden").await;
    problem(app.hold_with(&body, Some(&app.wallet_token("u-42"))).await, 422, "currency_not_supported").await;
    // Store credit is spent in a currency of the merchant's programs.
    let body = json!({"redemption_id": "H9", "user_id": "u-42", "currency": "USD", "amount": "1.00"});
    problem(app.hold_with(&body, Some(&app.wallet_token("u-42"))).await, 422, "currency_not_supported").await;
}

#[tokio::test]
async fn another_shops_user_token_is_checked_then_refused() {
    let app = funded().await;
    app.add_merchant("m2", "m2-secret").await;
    app.admin(Method::PUT, "/v1/admin/merchants/m2", Some(&json!({"name": "m2", "wallet_secret": "m2-wallet"}))).await;
    let now = app.clock.now();
    let tok = |exp: i64| {
        cashback::crypto::mint_wallet_token(
            "m2-wallet",
            &cashback::crypto::WalletClaims {
                sub: "m2:c1".into(),
                iat: now - 10,
                exp,
                iss: Some("m2".into()),
                jti: None,
            },
        )
    };
    let body = json!({"redemption_id": "H9", "user_id": "m2:c1", "currency": "CNY", "amount": "1.00"});
    problem(app.hold_with(&body, Some(&tok(now - 1))).await, 401, "unauthorized").await;
    problem(app.hold_with(&body, Some(&tok(now + 300))).await, 403, "forbidden").await;
}
