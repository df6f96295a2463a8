//! Race tests (issue 6): many requests on one wallet or one order at once. Nothing is
//! overdrawn, over-refunded or released twice, whatever order the writer takes them in.

use crate::helpers::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

/// One request of a race, answering what it was and its status.
type Answer<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = (&'static str, u16)> + 'a>>;

fn minor(v: &Value) -> i64 {
    let (i, f) = v.as_str().unwrap().split_once('.').unwrap();
    i.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
}

#[tokio::test]
async fn concurrent_refunds_adding_up_to_more_than_the_order_stop_at_the_order() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("R", "u-42", "100.00", 0).await;
    let answers = join_all((0..10).map(|i| {
        let app = &app;
        async move {
            let body = json!({"refund_id": format!("r{i}"), "amount": "15.00"});
            let r = app.post("/v1/orders/R/refunds", &body).await;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["code"].as_str().map(str::to_string))
        }
    }))
    .await;
    let booked = answers.iter().filter(|a| a.0 == 201).count();
    assert_eq!(booked, 6, "six of 15.00 fit in 100.00: {answers:?}");
    assert!(answers.iter().filter(|a| a.0 != 201).all(|a| a == &(422, Some("refund_exceeds_order".into()))));
    let o: Value = app.get("/v1/orders/R").await.json().await.unwrap();
    assert_eq!((o["refunded"].as_str(), o["refunds"].as_array().unwrap().len()), (Some("90.00"), 6));
    app.assert_verified().await;
}

#[tokio::test]
async fn holds_captures_voids_and_withdrawals_at_once_never_overdraw_the_wallet() {
    let app = spawn_app().await;
    app.setup().await;
    app.put("/v1/users/u-42", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    app.order("F1", "u-42", "1000.00", 8 * DAY).await; // 112.00 available
    for i in 0..10 {
        assert_eq!(app.hold(&format!("H{i}"), "u-42", "5.00").await.status(), 201);
    }
    // At once: capture five holds, void five, 30 new holds of 3.00, 15 withdrawals of 5.00.
    let mut work: Vec<Answer<'_>> = Vec::new();
    for i in 0..5 {
        let app = &app;
        work.push(Box::pin(async move {
            let r = app.post(&format!("/v1/redemptions/H{i}/capture"), &json!({})).await;
            ("capture", r.status().as_u16())
        }));
        work.push(Box::pin(async move {
            let r = app.post(&format!("/v1/redemptions/H{}/void", i + 5), &json!({})).await;
            ("void", r.status().as_u16())
        }));
    }
    for i in 0..30 {
        let app = &app;
        work.push(Box::pin(
            async move { ("hold", app.hold(&format!("N{i}"), "u-42", "3.00").await.status().as_u16()) },
        ));
    }
    for i in 0..15 {
        let app = &app;
        work.push(Box::pin(async move {
            let body = json!({"withdrawal_id": format!("W{i}"), "currency": "CNY", "amount": "5.00",
                "destination": "alipay:u42@example.com", "expected_fee": "0.00"});
            ("withdraw", app.withdraw("u-42", &body).await.status().as_u16())
        }));
    }
    let answers = join_all(work).await;
    let ok = |kind: &str| answers.iter().filter(|a| a.0 == kind && (a.1 == 200 || a.1 == 201)).count() as i64;
    let refused = answers.iter().filter(|a| a.1 != 200 && a.1 != 201).collect::<Vec<_>>();
    assert!(refused.iter().all(|a| a.1 == 422), "only insufficient balance may refuse: {refused:?}");
    assert_eq!((ok("capture"), ok("void")), (5, 5));
    let (holds, withdrawals) = (ok("hold"), ok("withdraw"));
    let w = app.cny("u-42").await;
    let (available, held, withdrawing) = (minor(&w["available"]), minor(&w["held"]), minor(&w["withdrawing"]));
    assert_eq!(held, 300 * holds, "{w}");
    assert_eq!(withdrawing, 500 * withdrawals, "{w}");
    // 112.00 earned = 25.00 spent at the shop + what is held + withdrawing + available.
    assert_eq!(available, 11_200 - 2_500 - held - withdrawing, "{w}");
    assert!(available >= 0, "{w}");
    assert!(holds * 300 + withdrawals * 500 <= 6_200 + 2_500, "never more than there was: {w}");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_release_that_comes_due_while_a_refund_arrives_is_booked_once() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("D", "u-42", "100.00", 0).await; // released in 7 days
    app.clock.advance(7 * DAY + 1);
    let release = async {
        let r = app.admin(Method::POST, "/v1/admin/jobs/release", None).await;
        assert_eq!(r.status(), 200);
    };
    let refund = async {
        let r = app.post("/v1/orders/D/refunds", &json!({"refund_id": "late", "amount": "30.00"})).await;
        assert_eq!(r.status(), 201);
    };
    tokio::join!(release, refund);
    let w = app.cny("u-42").await;
    // 11.20 released once; 30% of it reversed out of available: 11.20 − 3.36.
    assert_eq!((w["pending"].as_str(), w["available"].as_str()), (Some("0.00"), Some("7.84")), "{w}");
    assert_eq!(app.cny("u-7").await["available"], "0.70");
    let again: Value = app.admin(Method::POST, "/v1/admin/jobs/release", None).await.json().await.unwrap();
    assert_eq!(again["released"], 0);
    let o: Value = app.get("/v1/orders/D").await.json().await.unwrap();
    assert_eq!(o["status"], "released");
    app.assert_verified().await;
}
