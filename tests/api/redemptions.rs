use crate::helpers::*;
use cashback::crypto::{mint_wallet_token, WalletClaims};
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

/// u-42 with 112.00 available.
async fn funded() -> TestApp {
    let app = spawn_app().await;
    app.setup().await;
    app.order("F1", "u-42", "1000.00", 8 * DAY).await;
    app
}

#[tokio::test]
async fn hold_then_partial_capture_returns_the_rest_to_available() {
    let app = funded().await;
    let r = app.hold("H1", "u-42", "50.00").await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!((&v["status"], &v["amount"]), (&json!("held"), &json!("50.00")));
    let w = app.cny("u-42").await;
    assert_eq!((w["available"].as_str(), w["held"].as_str()), (Some("62.00"), Some("50.00")));
    let r = app.post("/v1/redemptions/H1/capture", &json!({"amount": "30.00"})).await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c, json!({"redemption_id": "H1", "status": "captured", "captured": "30.00", "released": "20.00"}));
    let w = app.cny("u-42").await;
    assert_eq!((w["available"].as_str(), w["held"].as_str()), (Some("82.00"), Some("0.00")));
    let b = app.balances().await;
    assert_eq!(b[&("CNY".into(), "liabilities:merchant-payable".into(), "m1".into())], -3_000);
    // The same capture again answers the same body; another amount is a conflict.
    let again: Value = app.post("/v1/redemptions/H1/capture", &json!({"amount": "30.00"})).await.json().await.unwrap();
    assert_eq!(again, c);
    problem(app.post("/v1/redemptions/H1/capture", &json!({"amount": "10.00"})).await, 409, "idempotency_conflict")
        .await;
    problem(app.post("/v1/redemptions/H1/void", &json!({})).await, 409, "invalid_state").await;
    // Captured credit refunded with the order goes back to available, at most what was captured.
    let r = app.post("/v1/redemptions/H1/refunds", &json!({"refund_id": "CR1", "amount": "10.00"})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "92.00");
    problem(
        app.post("/v1/redemptions/H1/refunds", &json!({"refund_id": "CR2", "amount": "20.01"})).await,
        422,
        "amount_too_large",
    )
    .await;
    let g: Value = app.get("/v1/redemptions/H1").await.json().await.unwrap();
    assert_eq!((&g["status"], &g["captured"], &g["refunded"]), (&json!("captured"), &json!("30.00"), &json!("10.00")));
    app.assert_verified().await;
}

#[tokio::test]
async fn void_and_expiry_return_the_hold() {
    let app = funded().await;
    app.hold("H1", "u-42", "12.00").await;
    let r = app.post("/v1/redemptions/H1/void", &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"redemption_id": "H1", "status": "voided"}));
    assert_eq!(app.cny("u-42").await["available"], "112.00");
    problem(app.post("/v1/redemptions/H1/capture", &json!({})).await, 409, "invalid_state").await;

    let body =
        json!({"redemption_id": "H2", "user_id": "u-42", "currency": "CNY", "amount": "100.00", "hold_seconds": 60});
    assert_eq!(app.hold_with(&body, Some(&app.wallet_token("u-42"))).await.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "12.00");
    app.clock.advance(61);
    // Expired by time, whether or not a job has run.
    let g: Value = app.get("/v1/redemptions/H2").await.json().await.unwrap();
    assert_eq!(g["status"], "expired");
    problem(app.post("/v1/redemptions/H2/capture", &json!({})).await, 409, "invalid_state").await;
    // The next write that touches the user books the expiry.
    assert_eq!(app.hold("H3", "u-42", "1.00").await.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "111.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_hold_needs_the_users_consent_and_enough_available() {
    let app = funded().await;
    let body = json!({"redemption_id": "H1", "user_id": "u-42", "currency": "CNY", "amount": "1.00"});
    problem(app.hold_with(&body, None).await, 401, "unauthorized").await;
    problem(app.hold_with(&body, Some("not-a-token")).await, 401, "unauthorized").await;
    problem(app.hold_with(&body, Some(&app.wallet_token("u-7"))).await, 403, "forbidden").await;
    let now = app.clock.now();
    let expired = mint_wallet_token(
        &app.wallet_secret,
        &WalletClaims { sub: "u-42".into(), iat: now - 1000, exp: now - 100, iss: None, jti: None },
    );
    problem(app.hold_with(&body, Some(&expired)).await, 401, "unauthorized").await;
    let too_long = mint_wallet_token(
        &app.wallet_secret,
        &WalletClaims { sub: "u-42".into(), iat: now, exp: now + 3600, iss: None, jti: None },
    );
    problem(app.hold_with(&body, Some(&too_long)).await, 401, "unauthorized").await;
    problem(app.hold("H1", "u-42", "112.01").await, 422, "insufficient_balance").await;
    app.put("/v1/users/u-50", &json!({})).await;
    problem(app.hold("H1", "u-50", "1.00").await, 422, "insufficient_balance").await;
    problem(app.hold("H1", "ghost", "1.00").await, 422, "insufficient_balance").await;
    assert_eq!(app.hold("H1", "u-42", "112.00").await.status(), 201);
    problem(app.post("/v1/redemptions/H1/capture", &json!({"amount": "112.01"})).await, 422, "amount_too_large").await;
    // No amount captures the whole hold; naming that amount on a retry is the same request.
    let whole: Value = app.post("/v1/redemptions/H1/capture", &json!({})).await.json().await.unwrap();
    assert_eq!(whole["captured"], "112.00");
    let r = app.post("/v1/redemptions/H1/capture", &json!({"amount": "112.00"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), whole);
    // Another merchant cannot see or move this hold.
    app.add_merchant("m2", "m2-secret").await;
    let r = app.signed_as("m2", "m2-secret", Method::POST, "/v1/redemptions/H1/void", None).await;
    problem(r, 404, "not_found").await;
    let r = app.signed_as("m2", "m2-secret", Method::GET, "/v1/redemptions/H1", None).await;
    problem(r, 404, "not_found").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn a_merchant_wallet_secret_signs_tokens_for_its_own_customers_only() {
    let app = funded().await;
    let r = app
        .admin(Method::PUT, "/v1/admin/merchants/m1", Some(&json!({"name": "m1", "wallet_secret": "m1-wallet"})))
        .await;
    assert_eq!(r.status(), 200);
    let now = app.clock.now();
    let tok = |sub: &str| {
        mint_wallet_token(
            "m1-wallet",
            &WalletClaims { sub: sub.into(), iat: now, exp: now + 600, iss: Some("m1".into()), jti: None },
        )
    };
    let body = json!({"redemption_id": "H1", "user_id": "u-42", "currency": "CNY", "amount": "1.00"});
    problem(app.hold_with(&body, Some(&tok("u-42"))).await, 403, "forbidden").await;
    app.order("F2", "m1:c-9", "100.00", 8 * DAY).await;
    let body = json!({"redemption_id": "H2", "user_id": "m1:c-9", "currency": "CNY", "amount": "1.00"});
    assert_eq!(app.hold_with(&body, Some(&tok("m1:c-9"))).await.status(), 201);
}

#[tokio::test]
async fn simultaneous_holds_never_take_available_below_zero() {
    let app = funded().await; // 112.00 available
    let answers = futures::future::join_all((0..150).map(|i| {
        let app = &app;
        async move { app.hold(&format!("C{i}"), "u-42", "1.00").await.status().as_u16() }
    }))
    .await;
    assert_eq!(answers.iter().filter(|s| **s == 201).count(), 112, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 422).count(), 38);
    let w = app.cny("u-42").await;
    assert_eq!((w["available"].as_str(), w["held"].as_str()), (Some("0.00"), Some("112.00")));
    app.assert_verified().await;
}
