//! Operator bookings: settlements, clawback write-offs, adjustments, and the audit trail.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

fn key(account: &str, owner: &str) -> (String, String, String) {
    ("CNY".into(), account.into(), owner.into())
}

async fn settle(app: &TestApp, id: &str, received: &str, paid: &str, refunded: &str) -> reqwest::Response {
    settle_at(app, id, received, paid, refunded, app.clock.now()).await
}

/// The same, settled at `at`: a replay must send the same instant (the clock moves on).
async fn settle_at(app: &TestApp, id: &str, received: &str, paid: &str, refunded: &str, at: i64) -> reqwest::Response {
    let body = json!({"settlement_id": id, "currency": "CNY", "commission_received": received, "credit_paid": paid,
        "commission_refunded": refunded, "settled_at": rfc3339(at), "reference": "bank statement"});
    app.admin(Method::POST, "/v1/admin/merchants/m1/settlements", Some(&body)).await
}

#[tokio::test]
async fn settlements_move_commission_and_credit_through_the_reserve() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("S1", "u-42", "1000.00", 8 * DAY).await; // commission 200.00 owed by m1
    assert_eq!(settle(&app, "ST1", "200.00", "0.00", "0.00").await.status(), 201);
    let b = app.balances().await;
    assert_eq!((b[&key("assets:reserve", "")], b[&key("assets:merchant-receivable", "m1")]), (20_000, 0));
    problem(settle(&app, "ST2", "0.01", "0.00", "0.00").await, 422, "settlement_exceeds_balance").await;
    // The order is refunded after m1 paid its commission: the platform owes it back.
    app.post("/v1/orders/S1/refunds", &json!({"refund_id": "R1", "amount": "1000.00"})).await;
    problem(settle(&app, "ST2", "0.00", "0.00", "200.01").await, 422, "settlement_exceeds_balance").await;
    assert_eq!(settle(&app, "ST2", "0.00", "0.00", "200.00").await.status(), 201);
    // Store credit spent at m1 is paid to it from the reserve, never below zero.
    app.order("S2", "u-42", "100.00", 8 * DAY).await;
    assert_eq!(app.hold("H1", "u-42", "5.00").await.status(), 201);
    app.post("/v1/redemptions/H1/capture", &json!({})).await;
    problem(settle(&app, "ST3", "0.00", "5.00", "0.00").await, 409, "reserve_insufficient").await;
    let at = app.clock.now();
    assert_eq!(settle_at(&app, "ST3", "20.00", "5.00", "0.00", at).await.status(), 201);
    let again = settle_at(&app, "ST3", "20.00", "5.00", "0.00", at).await;
    assert_eq!(again.status(), 200, "the same settlement again");
    let b = app.balances().await;
    assert_eq!(b[&key("assets:reserve", "")], 1_500);
    assert_eq!(b.get(&key("liabilities:merchant-payable", "m1")).copied().unwrap_or(0), 0);
    app.assert_verified().await;
}

#[tokio::test]
async fn clawback_debt_is_written_off_by_an_operator_up_to_the_debt() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("C1", "u-42", "1000.00", 8 * DAY).await;
    assert_eq!(app.hold("H1", "u-42", "100.00").await.status(), 201);
    app.post("/v1/redemptions/H1/capture", &json!({})).await;
    app.post("/v1/orders/C1/cancel", &json!({})).await;
    assert_eq!(app.cny("u-42").await["available"], "-100.00");
    let w = |id: &str, amount: &str| json!({"writeoff_id": id, "currency": "CNY", "amount": amount, "reason": "customer unreachable"});
    let r = app.admin(Method::POST, "/v1/admin/clawbacks/u-42/write-off", Some(&w("WO1", "100.01"))).await;
    problem(r, 422, "amount_too_large").await;
    let r = app.admin(Method::POST, "/v1/admin/clawbacks/u-42/write-off", Some(&w("WO1", "40.00"))).await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "-60.00");
    let entries: Value = app.entries("u-42", "").await.json().await.unwrap();
    assert!(entries["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "clawback_written_off"));
    let b = app.balances().await;
    assert_eq!(b[&key("expenses:clawback-losses", "")], 4_000);
    app.assert_verified().await;
}

#[tokio::test]
async fn adjustments_correct_a_named_entry_and_never_create_money() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "1000.00", 8 * DAY).await;
    let entries: Value = app.entries("u-42", "").await.json().await.unwrap();
    let paid = entries["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "order_paid").unwrap();
    let entry_id = paid["entry_id"].as_str().unwrap().to_string();
    let adj = |id: &str, amount: &str, corrects: &str| {
        let neg = format!("-{amount}");
        json!({"adjustment_id": id, "currency": "CNY", "reason": "goodwill for a late delivery", "corrects_entry_id": corrects,
            "postings": [{"account": "income:platform-share", "amount": amount},
                         {"account": "liabilities:cashback:available", "owner": "u-42", "amount": neg}]})
    };
    let r = app.admin(Method::POST, "/v1/admin/adjustments", Some(&adj("ADJ1", "5.00", &entry_id))).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(app.cny("u-42").await["available"], "117.00");
    // The order's entry moved 200.00: all adjustments of it together credit at most that.
    let r = app.admin(Method::POST, "/v1/admin/adjustments", Some(&adj("ADJ2", "195.01", &entry_id))).await;
    problem(r, 422, "adjustment_invalid").await;
    problem(
        app.admin(Method::POST, "/v1/admin/adjustments", Some(&adj("ADJ2", "1.00", "999999"))).await,
        422,
        "adjustment_invalid",
    )
    .await;
    let mut unbalanced = adj("ADJ2", "1.00", &entry_id);
    unbalanced["postings"][1]["amount"] = json!("-2.00");
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&unbalanced)).await, 422, "adjustment_invalid").await;
    let mut bad = adj("ADJ2", "1.00", &entry_id);
    bad["postings"][0]["owner"] = json!("u-42");
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&bad)).await, 400, "invalid_request").await;
    bad["postings"][0] = json!({"account": "assets:nowhere", "amount": "1.00"});
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&bad)).await, 400, "invalid_request").await;
    let w: Value = app.entries("u-42", "").await.json().await.unwrap();
    assert!(w["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "adjustment"));
    // Only users the corrected entry moved may be credited, and an adjustment corrects a
    // business entry, never another adjustment (so caps cannot be chained).
    let mut stranger = adj("ADJ3", "1.00", &entry_id);
    stranger["postings"][1]["owner"] = json!("u-99");
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&stranger)).await, 422, "adjustment_invalid").await;
    let adj1 = w["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "adjustment").unwrap()["entry_id"].clone();
    let chained = adj("ADJ3", "1.00", adj1.as_str().unwrap());
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&chained)).await, 422, "adjustment_invalid").await;
    // The ledger's rules hold: no adjustment takes the reserve below zero.
    let reserve = json!({"adjustment_id": "ADJ4", "currency": "CNY", "reason": "typo", "corrects_entry_id": &entry_id,
        "postings": [{"account": "assets:reserve", "amount": "-1.00"}, {"account": "equity:platform-funding", "amount": "1.00"}]});
    problem(app.admin(Method::POST, "/v1/admin/adjustments", Some(&reserve)).await, 422, "adjustment_invalid").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn every_operator_action_is_in_the_audit_trail_with_its_operator() {
    let app = spawn_app().await;
    app.setup().await;
    let d = json!({"deposit_id": "D1", "currency": "CNY", "amount": "10.00", "reference": "bank"});
    app.admin(Method::POST, "/v1/admin/reserve/deposits", Some(&d)).await;
    let v: Value = app.admin(Method::GET, "/v1/admin/audit?limit=2", None).await.json().await.unwrap();
    assert_eq!(v["audit"].as_array().unwrap().len(), 2);
    let next = v["next_cursor"].as_str().unwrap();
    let rest: Value =
        app.admin(Method::GET, &format!("/v1/admin/audit?cursor={next}"), None).await.json().await.unwrap();
    let all: Vec<Value> =
        v["audit"].as_array().unwrap().iter().chain(rest["audit"].as_array().unwrap()).cloned().collect();
    let actions: Vec<&str> = all.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["merchant.create", "program.put", "reserve.deposit"]);
    assert!(all.iter().all(|a| a["operator"] == "ops-alice"));
    let none: Value =
        app.admin(Method::GET, "/v1/admin/audit?from=2000-01-01&to=2000-01-02", None).await.json().await.unwrap();
    assert_eq!(none["audit"].as_array().unwrap().len(), 0);
    problem(app.admin(Method::GET, "/v1/admin/audit?from=yesterday", None).await, 400, "invalid_request").await;
}
