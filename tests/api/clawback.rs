use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

/// Spends `amount` of the user's available cashback as store credit at m1.
async fn spend(app: &TestApp, id: &str, user: &str, amount: &str) {
    let r = app.hold(id, user, amount).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app.post(&format!("/v1/redemptions/{id}/capture"), &json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_refund_after_release_books_clawback_debt_that_the_next_release_repays_first() {
    let app = spawn_app().await;
    app.setup().await;
    let v = app.order("C1", "u-42", "1000.00", 8 * DAY).await;
    assert_eq!(v["status"], "released");
    spend(&app, "H1", "u-42", "100.00").await;
    assert_eq!(app.cny("u-42").await["available"], "12.00");

    app.post("/v1/orders/C1/refunds", &json!({"refund_id": "R1", "amount": "1000.00"})).await;
    // Available went to zero; the other 100.00 is a receivable from the user.
    let b = app.balances().await;
    let key = |a: &str| ("CNY".to_string(), a.to_string(), "u-42".to_string());
    assert_eq!(b.get(&key("liabilities:cashback:available")).copied().unwrap_or(0), 0);
    assert_eq!(b[&key("assets:clawback-receivable")], 10_000);
    let w = app.cny("u-42").await;
    assert_eq!((w["available"].as_str(), w["lifetime_earned"].as_str()), (Some("-100.00"), Some("0.00")));
    // The referrer had its reward available: it is taken back in full, without debt.
    assert_eq!(app.cny("u-7").await["available"], "0.00");
    app.assert_verified().await;

    // A new order released later repays the debt before anything becomes available.
    app.order("C2", "u-42", "1000.00", 0).await;
    app.clock.advance(7 * DAY + 1);
    let r: Value = app.admin(Method::POST, "/v1/admin/jobs/release", None).await.json().await.unwrap();
    assert_eq!(r["released"], 1);
    let b = app.balances().await;
    assert_eq!(b.get(&key("assets:clawback-receivable")).copied().unwrap_or(0), 0);
    assert_eq!(app.cny("u-42").await["available"], "12.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_clawback_larger_than_the_next_release_keeps_the_rest_as_debt() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("C1", "u-42", "1000.00", 8 * DAY).await;
    spend(&app, "H1", "u-42", "112.00").await;
    app.post("/v1/orders/C1/cancel", &json!({})).await;
    assert_eq!(app.cny("u-42").await["available"], "-112.00");
    app.order("C2", "u-42", "100.00", 8 * DAY).await; // releases 11.20 at once
    assert_eq!(app.cny("u-42").await["available"], "-100.80");
    // A hold needs a positive available balance.
    let r = app.hold("H2", "u-42", "1.00").await;
    problem(r, 422, "insufficient_balance").await;
    app.assert_verified().await;
}
