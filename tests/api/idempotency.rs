use crate::helpers::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_same_order_fired_20_times_at_once_books_once() {
    let app = spawn_app().await;
    app.setup().await;
    let body = order_body("A1001", "u-42", "1000.00", app.clock.now() - 60);
    let entries = app.entry_count().await;
    let answers = join_all((0..20).map(|_| async {
        let r = app.post("/v1/orders", &body).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }))
    .await;
    let created: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    let replayed: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!((created.len(), replayed.len()), (1, 19), "{answers:?}");
    let first: Value = serde_json::from_str(&created[0].1).unwrap();
    for (_, b) in &replayed {
        assert_eq!(serde_json::from_str::<Value>(b).unwrap(), first);
    }
    assert_eq!(app.entry_count().await, entries + 1);
    app.assert_verified().await;
}

#[tokio::test]
async fn concurrent_identical_refunds_book_once() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "1000.00", 60).await;
    let answers = join_all((0..20).map(|_| async {
        app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "300.00"})).await.status().as_u16()
    }))
    .await;
    assert_eq!(answers.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(answers.iter().filter(|s| **s == 200).count(), 19);
    let o: Value = app.get("/v1/orders/A1").await.json().await.unwrap();
    assert_eq!(o["refunded"], "300.00");
}

#[tokio::test]
async fn a_replay_answers_the_first_body_and_a_changed_body_conflicts() {
    let app = spawn_app().await;
    app.setup().await;
    let paid_at = app.clock.now() - 60;
    let body = order_body("A1", "u-42", "1000.00", paid_at);
    let first: Value = app.post("/v1/orders", &body).await.json().await.unwrap();
    app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "1000.00"})).await;
    // Same canonical body: "1000.0" is the same money, the instant in another offset the same time.
    let mut same = body.clone();
    same["amount"] = json!("1000.0");
    same["paid_at"] = json!(cashback::domain::time::format_ts(paid_at, chrono_tz::UTC));
    same["lines"] = json!(null);
    let r = app.post("/v1/orders", &same).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), first, "a snapshot of the first success");
    let mut other = body.clone();
    other["amount"] = json!("999.00");
    problem(app.post("/v1/orders", &other).await, 409, "idempotency_conflict").await;
    problem(
        app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "1.00"})).await,
        409,
        "idempotency_conflict",
    )
    .await;
    let again = app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "1000.00"})).await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn only_successes_are_remembered() {
    let app = spawn_app().await;
    app.setup().await;
    let mut body = order_body("A1", "u-42", "100.00", app.clock.now());
    body["currency"] = json!("USD");
    problem(app.post("/v1/orders", &body).await, 422, "currency_not_supported").await;
    let mut p = example_program();
    p["currency"] = json!("USD");
    p["categories"] = json!(null);
    app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&p)).await;
    let r = app.post("/v1/orders", &body).await;
    assert_eq!(r.status(), 201, "a retry is judged afresh");
}
