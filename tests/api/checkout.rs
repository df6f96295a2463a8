use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

#[tokio::test]
async fn the_worked_example_books_exactly_its_figures() {
    let app = spawn_app().await;
    app.setup().await;
    let paid_at = app.clock.now() - 3_600;
    let body = json!({"order_id": "A1001", "user_id": "u-42", "currency": "CNY", "amount": "1000.00",
        "paid_at": rfc3339(paid_at),
        "lines": [{"sku": "tea-1", "amount": "600.00"}, {"sku": "cup-2", "amount": "400.00"}]});
    let r = app.post("/v1/orders", &body).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"order_id": "A1001", "user_id": "u-42", "currency": "CNY", "amount": "1000.00",
            "status": "pending", "commission": "200.00", "cashback": "112.00",
            "referral": {"user_id": "u-7", "amount": "10.00"}, "platform": "78.00", "capped": false,
            "paid_at": rfc3339(paid_at), "release_at": rfc3339(paid_at + 7 * DAY), "program_version": 1})
    );
    let w = app.cny("u-42").await;
    assert_eq!((w["pending"].as_str(), w["available"].as_str()), (Some("112.00"), Some("0.00")));
    assert_eq!(app.cny("u-7").await["pending"], "10.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_food_line_uses_its_category_rates() {
    let app = spawn_app().await;
    app.setup().await;
    let mut body = order_body("A1002", "u-42", "1000.00", app.clock.now());
    body["lines"] =
        json!([{"sku": "tea-1", "amount": "600.00", "category": "food"}, {"sku": "cup-2", "amount": "400.00"}]);
    let v: Value = app.post("/v1/orders", &body).await.json().await.unwrap();
    assert_eq!(
        (&v["commission"], &v["cashback"], &v["platform"]),
        (&json!("140.00"), &json!("74.80"), &json!("55.20"))
    );
    assert_eq!(v["referral"], json!({"user_id": "u-7", "amount": "10.00"}));
}

#[tokio::test]
async fn refunds_of_300_then_700_reverse_the_contract_figures() {
    let app = spawn_app().await;
    app.setup().await;
    let before = app.balances().await;
    app.order("A1001", "u-42", "1000.00", 60).await;
    let r = app.post("/v1/orders/A1001/refunds", &json!({"refund_id": "R1", "amount": "300.00"})).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"refund_id": "R1", "order_id": "A1001", "amount": "300.00",
            "reversed": {"commission": "60.00", "cashback": "33.60", "referral": "3.00", "platform": "23.40"},
            "order": {"refunded": "300.00", "status": "pending"}})
    );
    let v: Value = app
        .post("/v1/orders/A1001/refunds", &json!({"refund_id": "R2", "amount": "700.00"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["reversed"],
        json!({"commission": "140.00", "cashback": "78.40", "referral": "7.00", "platform": "54.60"})
    );
    assert_eq!(v["order"], json!({"refunded": "1000.00", "status": "refunded"}));
    // A full refund returns every account the order touched to where it was.
    let after: Balances = app.balances().await.into_iter().filter(|(_, v)| *v != 0).collect();
    let before: Balances = before.into_iter().filter(|(_, v)| *v != 0).collect();
    assert_eq!(after, before);
    let order: Value = app.get("/v1/orders/A1001").await.json().await.unwrap();
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(order["reversed"]["cashback"], "112.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn cancel_reverses_what_is_left_and_blocks_later_refunds() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "1000.00", 60).await;
    app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "300.00"})).await;
    let r = app.post("/v1/orders/A1/cancel", &json!({})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["refund_id"], "cancel");
    assert_eq!(v["amount"], "700.00");
    assert_eq!(v["reversed"]["cashback"], "78.40");
    assert_eq!(v["order"], json!({"refunded": "1000.00", "status": "cancelled"}));
    // Repeating the cancel answers the same body.
    let again: Value =
        app.signed_as(MERCHANT, SECRET, Method::POST, "/v1/orders/A1/cancel", None).await.json().await.unwrap();
    assert_eq!(again, v);
    problem(
        app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R9", "amount": "1.00"})).await,
        409,
        "order_cancelled",
    )
    .await;
    assert_eq!(app.cny("u-42").await["pending"], "0.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn cancelling_a_fully_refunded_order_reverses_nothing_and_keeps_refunded() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "10.00", 60).await;
    app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R1", "amount": "10.00"})).await;
    let entries = app.entry_count().await;
    let v: Value = app.post("/v1/orders/A1/cancel", &json!({})).await.json().await.unwrap();
    assert_eq!(v["amount"], "0.00");
    assert_eq!(v["reversed"]["commission"], "0.00");
    assert_eq!(v["order"]["status"], "refunded");
    assert_eq!(app.entry_count().await, entries);
    problem(
        app.post("/v1/orders/A1/refunds", &json!({"refund_id": "R2", "amount": "1.00"})).await,
        409,
        "order_cancelled",
    )
    .await;
}

#[tokio::test]
async fn a_past_order_whose_window_has_ended_is_released_at_once() {
    let app = spawn_app().await;
    app.setup().await;
    let v = app.order("OLD", "u-42", "100.00", 8 * DAY).await;
    assert_eq!(v["status"], "released");
    let w = app.cny("u-42").await;
    assert_eq!((w["available"].as_str(), w["pending"].as_str()), (Some("11.20"), Some("0.00")));
    assert_eq!(app.cny("u-7").await["available"], "1.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn release_is_decided_by_time_not_by_when_the_job_runs() {
    let app = spawn_app().await;
    app.setup().await;
    app.put("/v1/users/u-60", &json!({})).await;
    let a1 = app.order("A1", "u-42", "100.00", 0).await;
    app.order("A2", "u-60", "100.00", 0).await;
    assert_eq!(app.cny("u-42").await["next_release_at"], a1["release_at"]);
    app.clock.advance(7 * DAY + 1);
    // Any event that touches the user books what came due first: here the buyer's next order.
    app.order("A3", "u-42", "100.00", 0).await;
    assert_eq!(app.cny("u-42").await["available"], "11.20");
    assert_eq!(app.cny("u-7").await["available"], "1.00");
    assert_eq!(app.cny("u-60").await["available"], "0.00", "nothing touched u-60 yet");
    // The job books the rest; the release is dated when it came due.
    let r: Value = app.admin(Method::POST, "/v1/admin/jobs/release", None).await.json().await.unwrap();
    assert_eq!(r["released"], 1);
    assert_eq!(app.cny("u-60").await["available"], "11.20");
    let o: Value = app.get("/v1/orders/A2").await.json().await.unwrap();
    assert_eq!(o["status"], "released");
    assert_eq!(o["released_at"], o["release_at"]);
    let r: Value = app.admin(Method::POST, "/v1/admin/jobs/release", None).await.json().await.unwrap();
    assert_eq!(r["released"], 0);
    app.assert_verified().await;
}

#[tokio::test]
async fn caps_cut_the_cashback_and_leave_it_in_the_platform_share() {
    let app = spawn_app().await;
    app.setup().await;
    let v = app.order("BIG", "u-42", "10000.00", 0).await;
    assert_eq!((&v["cashback"], &v["capped"], &v["platform"]), (&json!("500.00"), &json!(true), &json!("1400.00")));
    assert_eq!(v["referral"]["amount"], "100.00", "referral rewards are not capped");
    for i in 0..3 {
        app.order(&format!("B{i}"), "u-42", "10000.00", 0).await;
    }
    // 2000.00 a month: the fifth big order earns nothing more; the quote says so first.
    let q: Value = app
        .post("/v1/checkout/quote", &json!({"user_id": "u-42", "currency": "CNY", "amount": "100.00"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&q["cashback"], &q["capped"], &q["terms"]["monthly_cap_remaining"]),
        (&json!("0.00"), &json!(true), &json!("0.00"))
    );
    let v = app.order("B9", "u-42", "100.00", 0).await;
    assert_eq!((&v["cashback"], &v["capped"]), (&json!("0.00"), &json!(true)));
    app.assert_verified().await;
}

#[tokio::test]
async fn a_quote_equals_what_the_same_order_books_and_writes_nothing() {
    let app = spawn_app().await;
    app.setup().await;
    let entries = app.entry_count().await;
    let lines = json!([{"sku": "a", "amount": "33.33", "category": "food"}, {"sku": "b", "amount": "66.67"}]);
    let q: Value = app
        .post("/v1/checkout/quote", &json!({"user_id": "u-42", "currency": "CNY", "amount": "100.00", "lines": lines}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.entry_count().await, entries);
    let mut body = order_body("Q1", "u-42", "100.00", app.clock.now());
    body["lines"] = lines;
    let o = app.order_with(body).await;
    for f in ["commission", "cashback", "referral", "platform", "capped", "program_version"] {
        assert_eq!(q[f], o[f], "{f}");
    }
    assert_eq!(q["terms"]["cashback_rate"], "0.112");
    assert_eq!(q["terms"]["monthly_cap_remaining"], "2000.00");
    let anon: Value =
        app.post("/v1/checkout/quote", &json!({"currency": "CNY", "amount": "100.00"})).await.json().await.unwrap();
    assert_eq!(anon["referral"], Value::Null);
}

impl TestApp {
    pub async fn order_with(&self, body: Value) -> Value {
        let r = self.post("/v1/orders", &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }
}

#[tokio::test]
async fn an_unknown_buyer_is_created_without_a_referrer() {
    let app = spawn_app().await;
    app.setup().await;
    let v = app.order("N1", "newcomer", "100.00", 0).await;
    assert_eq!(v["referral"], Value::Null);
    assert_eq!(v["platform"], "8.80");
    // The shop created that user, so the shop may still set its destinations, but not a
    // referrer after its first order.
    let r = app.put("/v1/users/newcomer", &json!({"payout_destinations": ["alipay:new@example.com"]})).await;
    assert_eq!(r.status(), 200);
    problem(app.put("/v1/users/newcomer", &json!({"referrer_id": "u-7"})).await, 422, "referrer_invalid").await;
}

#[tokio::test]
async fn referrer_rules() {
    let app = spawn_app().await;
    app.setup().await;
    let same = app.put("/v1/users/u-42", &json!({"referrer_id": "u-7"})).await;
    assert_eq!(same.status(), 200);
    let v: Value = same.json().await.unwrap();
    assert_eq!(v["referrer_id"], "u-7");
    problem(app.put("/v1/users/u-42", &json!({"referrer_id": "u-1"})).await, 409, "referrer_already_set").await;
    app.put("/v1/users/u-50", &json!({})).await;
    problem(app.put("/v1/users/u-50", &json!({"referrer_id": "u-50"})).await, 422, "referrer_invalid").await;
    problem(app.put("/v1/users/u-50", &json!({"referrer_id": "ghost"})).await, 422, "referrer_invalid").await;
    app.put("/v1/users/u-51", &json!({})).await;
    // Created after u-50: no cycle can ever form.
    problem(app.put("/v1/users/u-50", &json!({"referrer_id": "u-51"})).await, 422, "referrer_invalid").await;
    assert_eq!(app.put("/v1/users/u-51", &json!({"referrer_id": "u-50"})).await.status(), 200);
    // Another merchant may not change users it did not create; an operator may.
    app.add_merchant("m2", "m2-secret").await;
    let r = app
        .signed_as("m2", "m2-secret", Method::PUT, "/v1/users/u-50", Some(&json!({"payout_destinations": ["bank:1"]})))
        .await;
    problem(r, 403, "forbidden").await;
    let r = app.admin(Method::PUT, "/v1/admin/users/u-50", Some(&json!({"payout_destinations": ["bank:1"]}))).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_merchant_sees_only_its_own_orders() {
    let app = spawn_app().await;
    app.setup().await;
    app.add_merchant("m2", "m2-secret").await;
    app.order("A1", "u-42", "100.00", 0).await;
    let r = app.signed_as("m2", "m2-secret", Method::GET, "/v1/orders/A1", None).await;
    problem(r, 404, "not_found").await;
    let r = app
        .signed_as(
            "m2",
            "m2-secret",
            Method::POST,
            "/v1/orders/A1/refunds",
            Some(&json!({"refund_id": "R", "amount": "1.00"})),
        )
        .await;
    problem(r, 404, "not_found").await;
    // The same order id at another merchant is another order.
    let r = app
        .signed_as(
            "m2",
            "m2-secret",
            Method::POST,
            "/v1/orders",
            Some(&order_body("A1", "u-42", "100.00", app.clock.now())),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn program_changes_are_new_versions_and_orders_keep_theirs() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("V1", "u-42", "100.00", 0).await;
    let mut p = example_program();
    p["cashback_rate"] = json!("0.15");
    let v: Value = app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&p)).await.json().await.unwrap();
    assert_eq!((&v["version"], &v["cashback_rate"], &v["commission_rate"]), (&json!(2), &json!("0.15"), &json!("0.2")));
    let again: Value = app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&p)).await.json().await.unwrap();
    assert_eq!(again["version"], 2, "an identical PUT makes no new version");
    let o = app.order("V2", "u-42", "100.00", 0).await;
    assert_eq!((&o["program_version"], &o["cashback"]), (&json!(2), &json!("15.00")));
    // Refunds reverse what was booked, never the current program.
    let r: Value =
        app.post("/v1/orders/V1/refunds", &json!({"refund_id": "R", "amount": "100.00"})).await.json().await.unwrap();
    assert_eq!(r["reversed"]["cashback"], "11.20");
    let all: Value = app.admin(Method::GET, "/v1/admin/merchants/m1/program", None).await.json().await.unwrap();
    assert_eq!(all["programs"].as_array().unwrap().len(), 1);
    assert_eq!(all["programs"][0]["version"], 2);
    assert_eq!(all["programs"][0]["categories"]["food"]["cashback_rate"], "0.05");
}

#[tokio::test]
async fn a_shops_customers_belong_to_that_shop_whoever_names_them_first() {
    let app = spawn_app().await;
    app.setup().await;
    app.add_merchant("m2", "m2-secret").await;
    // m1 books an order for m2's customer: the user is created, but in m2's namespace.
    app.order("X1", "m2:alice", "100.00", 0).await;
    let body = json!({"payout_destinations": ["alipay:alice@example.com"]});
    problem(app.put("/v1/users/m2:alice", &body).await, 403, "forbidden").await;
    let r = app.signed_as("m2", "m2-secret", Method::PUT, "/v1/users/m2:alice", Some(&body)).await;
    assert_eq!(r.status(), 200);
    // Another merchant cannot even read a user it did not create (the answer shows payout
    // destinations), nor create one in another shop's namespace.
    problem(app.put("/v1/users/m2:alice", &json!({})).await, 403, "forbidden").await;
    problem(app.put("/v1/users/m2:bob", &json!({})).await, 403, "forbidden").await;
    let r = app.signed_as("m2", "m2-secret", Method::PUT, "/v1/users/u-42", Some(&json!({}))).await;
    problem(r, 403, "forbidden").await;
    // Merchant ids cannot contain ':', so a namespace is never ambiguous.
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m2:eu", Some(&json!({"name": "x", "secret": "s"}))).await;
    problem(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_refund_right_after_an_order_paid_slightly_ahead_of_our_clock_is_booked() {
    let app = spawn_app().await;
    app.setup().await;
    let body = order_body("F1", "u-42", "100.00", app.clock.now() + 60);
    assert_eq!(app.post("/v1/orders", &body).await.status(), 201);
    let r = app.post("/v1/orders/F1/refunds", &json!({"refund_id": "R1", "amount": "10.00"})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}
