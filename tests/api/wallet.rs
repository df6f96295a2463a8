use crate::helpers::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const DAY: i64 = 86_400;

impl TestApp {
    pub async fn withdraw(&self, user: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/wallet/withdrawals"))
            .bearer_auth(self.wallet_token(user))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn entries(&self, user: &str, query: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/wallet/entries{query}")))
            .bearer_auth(self.wallet_token(user))
            .send()
            .await
            .unwrap()
    }
}

fn w(id: &str, amount: &str, fee: &str) -> Value {
    json!({"withdrawal_id": id, "currency": "CNY", "amount": amount, "destination": "alipay:u42@example.com", "expected_fee": fee})
}

/// u-42 with 112.00 available and a registered destination.
async fn funded() -> TestApp {
    let app = spawn_app().await;
    app.setup().await;
    app.put("/v1/users/u-42", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    app.order("F1", "u-42", "1000.00", 8 * DAY).await;
    app
}

#[tokio::test]
async fn history_pages_return_every_entry_exactly_once_with_its_kind() {
    let app = funded().await;
    app.order("P1", "u-42", "100.00", 0).await;
    app.post("/v1/orders/P1/refunds", &json!({"refund_id": "R1", "amount": "50.00"})).await;
    assert_eq!(app.hold("H1", "u-42", "112.00").await.status(), 201);
    app.post("/v1/redemptions/H1/capture", &json!({})).await;
    app.post("/v1/orders/F1/cancel", &json!({})).await; // clawback: nothing left available
    app.order("F2", "u-42", "100.00", 8 * DAY).await; // released at once: repays debt first
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_string(),
        };
        let v: Value = app.entries("u-42", &q).await.json().await.unwrap();
        let page = v["entries"].as_array().unwrap().clone();
        assert!(page.len() <= 3);
        seen.extend(page);
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: BTreeSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "an entry listed twice");
    let all: Value = app.entries("u-42", "?limit=200").await.json().await.unwrap();
    assert_eq!(all["entries"].as_array().unwrap().len(), seen.len());
    let kinds: BTreeSet<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["order_paid", "release", "refund", "hold", "capture", "clawback", "clawback_repaid"] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
    // The user's view of every posting sums to the wallet's balances.
    let sum: i64 = seen
        .iter()
        .map(|e| {
            let s = e["amount"].as_str().unwrap().replace('.', "");
            s.parse::<i64>().unwrap()
        })
        .sum();
    let b = app.cny("u-42").await;
    let cents = |k: &str| b[k].as_str().unwrap().replace('.', "").parse::<i64>().unwrap();
    assert_eq!(sum, cents("available") + cents("pending") + cents("held") + cents("withdrawing"));
    // The referrer sees its reward as a referral.
    let r: Value = app.entries("u-7", "").await.json().await.unwrap();
    assert!(r["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "referral"));
    problem(app.entries("u-42", "?limit=201").await, 400, "invalid_request").await;
    problem(app.entries("u-42", "?cursor=nonsense").await, 400, "invalid_request").await;
    problem(app.entries("u-42", "?colour=red").await, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_withdrawal_is_requested_then_paid_from_the_reserve() {
    let app = funded().await;
    let s = json!({"minimum": "10.00", "fee": "1.00"});
    assert_eq!(app.admin(Method::PUT, "/v1/admin/withdrawal-settings/CNY", Some(&s)).await.status(), 200);
    assert_eq!(app.cny("u-42").await["withdrawal"], json!({"minimum": "10.00", "fee": "1.00"}));
    let r = app.withdraw("u-42", &w("W1", "50.00", "1.00")).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (&v["status"], &v["amount"], &v["fee"], &v["net"]),
        (&json!("requested"), &json!("50.00"), &json!("1.00"), &json!("49.00"))
    );
    let b = app.cny("u-42").await;
    assert_eq!((b["available"].as_str(), b["withdrawing"].as_str()), (Some("62.00"), Some("49.00")));
    // The reserve cannot pay it yet.
    let r = app.admin(Method::POST, "/v1/admin/withdrawals/W1/paid", Some(&json!({"reference": "TX1"}))).await;
    problem(r, 409, "reserve_insufficient").await;
    let d = json!({"deposit_id": "D1", "currency": "CNY", "amount": "1000.00", "reference": "bank 2026-11"});
    assert_eq!(app.admin(Method::POST, "/v1/admin/reserve/deposits", Some(&d)).await.status(), 201);
    let list: Value =
        app.admin(Method::GET, "/v1/admin/withdrawals?status=requested", None).await.json().await.unwrap();
    assert_eq!(list["withdrawals"].as_array().unwrap().len(), 1);
    let r = app.admin(Method::POST, "/v1/admin/withdrawals/W1/paid", Some(&json!({"reference": "TX1"}))).await;
    assert_eq!(r.status(), 200);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    let again: Value = app
        .admin(Method::POST, "/v1/admin/withdrawals/W1/paid", Some(&json!({"reference": "TX1"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, paid);
    let r = app.admin(Method::POST, "/v1/admin/withdrawals/W1/reject", Some(&json!({"reason": "late"}))).await;
    problem(r, 409, "invalid_state").await;
    assert_eq!(app.cny("u-42").await["withdrawing"], "0.00");
    let b = app.balances().await;
    assert_eq!(b[&("CNY".into(), "assets:reserve".into(), "".into())], 100_000 - 4_900);
    assert_eq!(b[&("CNY".into(), "income:withdrawal-fees".into(), "".into())], -100);
    app.assert_verified().await;
}

#[tokio::test]
async fn a_rejected_withdrawal_returns_the_full_amount_fee_included() {
    let app = funded().await;
    app.admin(Method::PUT, "/v1/admin/withdrawal-settings/CNY", Some(&json!({"minimum": "10.00", "fee": "2.00"})))
        .await;
    assert_eq!(app.withdraw("u-42", &w("W1", "112.00", "2.00")).await.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "0.00");
    let r =
        app.admin(Method::POST, "/v1/admin/withdrawals/W1/reject", Some(&json!({"reason": "account closed"}))).await;
    assert_eq!(r.status(), 200);
    let b = app.cny("u-42").await;
    assert_eq!((b["available"].as_str(), b["withdrawing"].as_str()), (Some("112.00"), Some("0.00")));
    app.assert_verified().await;
}

#[tokio::test]
async fn bad_withdrawals_are_refused_with_their_codes_and_change_nothing() {
    let app = funded().await;
    app.admin(Method::PUT, "/v1/admin/withdrawal-settings/CNY", Some(&json!({"minimum": "10.00", "fee": "1.00"})))
        .await;
    let r = app
        .admin(Method::PUT, "/v1/admin/withdrawal-settings/CNY", Some(&json!({"minimum": "1.00", "fee": "1.00"})))
        .await;
    problem(r, 400, "invalid_request").await;
    let before = app.balances().await;
    problem(app.withdraw("u-42", &w("W1", "9.99", "1.00")).await, 422, "below_minimum").await;
    problem(app.withdraw("u-42", &w("W1", "112.01", "1.00")).await, 422, "insufficient_balance").await;
    problem(app.withdraw("u-42", &w("W1", "50.00", "0.00")).await, 409, "fee_changed").await;
    let mut other = w("W1", "50.00", "1.00");
    other["destination"] = json!("bank:someone-else");
    problem(app.withdraw("u-42", &other).await, 400, "invalid_request").await;
    let mut usd = w("W1", "50.00", "0.00");
    usd["currency"] = json!("USD");
    problem(app.withdraw("u-42", &usd).await, 422, "insufficient_balance").await;
    problem(app.withdraw("u-42", &w("W9", "50.001", "1.00")).await, 400, "invalid_amount").await;
    let r = app.client.post(app.url("/v1/wallet/withdrawals")).json(&w("W1", "50.00", "1.00")).send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    assert_eq!(app.balances().await, before);
    // The same id from another user is a conflict.
    assert_eq!(app.withdraw("u-42", &w("W1", "50.00", "1.00")).await.status(), 201);
    app.put("/v1/users/u-7", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    problem(app.withdraw("u-7", &w("W1", "50.00", "1.00")).await, 409, "idempotency_conflict").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn two_hundred_simultaneous_withdrawals_never_overdraw() {
    let app = funded().await;
    assert_eq!(app.withdraw("u-42", &w("W0", "62.00", "0.00")).await.status(), 201);
    assert_eq!(app.cny("u-42").await["available"], "50.00");
    let answers = join_all((0..200).map(|i| {
        let app = &app;
        async move { app.withdraw("u-42", &w(&format!("W{}", i + 1), "1.00", "0.00")).await.status().as_u16() }
    }))
    .await;
    assert_eq!(answers.iter().filter(|s| **s == 201).count(), 50, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 422).count(), 150);
    assert_eq!(app.cny("u-42").await["available"], "0.00");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_token_opens_only_its_own_wallet() {
    let app = funded().await;
    let mine: Value = app.entries("u-7", "?limit=200").await.json().await.unwrap();
    assert!(mine["entries"].as_array().unwrap().iter().all(|e| e["kind"] == "referral" || e["kind"] == "release"));
    // A merchant's wallet secret opens only that shop's customers.
    app.admin(Method::PUT, "/v1/admin/merchants/m1", Some(&json!({"name": "m1", "wallet_secret": "m1-wallet"}))).await;
    let now = app.clock.now();
    let tok = cashback::crypto::mint_wallet_token(
        "m1-wallet",
        &cashback::crypto::WalletClaims {
            sub: "u-42".into(),
            iat: now,
            exp: now + 600,
            iss: Some("m1".into()),
            jti: None,
        },
    );
    let r = app.client.get(app.url("/v1/wallet")).bearer_auth(tok).send().await.unwrap();
    problem(r, 403, "forbidden").await;
}

/// 2026-06-15 12:00 in Asia/Shanghai (UTC+8).
const JUNE_15: i64 = 1_781_496_000;

/// lifetime_earned and next_release_at are summed in the database over the orders a user
/// bought and the ones they referred; checked against the user's own balances (no withdrawal
/// or hold here, so what was earned is what is available or pending) and the orders' answers.
#[tokio::test]
async fn lifetime_and_next_release_cover_bought_and_referred_orders() {
    let app = spawn_app_frozen(JUNE_15).await; // mid-month: every order below is in one month
    app.setup().await; // u-42 is referred by u-7
    let mut big = Value::Null;
    for i in 1..=4 {
        big = app.order(&format!("BIG{i}"), "u-42", "10000.00", DAY).await; // 500.00 each: the monthly cap
    }
    app.post("/v1/orders/BIG1/refunds", &json!({"refund_id": "R1", "amount": "5000.00"})).await;
    // Paid before the others, still pending, but u-42's cashback on it is capped to nothing;
    // u-7's referral reward on it is not.
    let zero = app.order("ZERO", "u-42", "100.00", 3 * DAY).await;
    assert_eq!((&zero["cashback"], &zero["status"]), (&json!("0.00"), &json!("pending")));
    app.order("FULL", "u-42", "300.00", 5 * DAY).await;
    assert_eq!(
        app.post("/v1/orders/FULL/refunds", &json!({"refund_id": "R5", "amount": "300.00"})).await.status(),
        201
    );
    app.order("OLD", "u-7", "100.00", 9 * DAY).await; // released at once
    app.order("S1", "u-7", "100.00", 2 * DAY).await;

    for user in ["u-42", "u-7"] {
        let b = app.cny(user).await;
        assert!(minor(&b["lifetime_earned"]) > 0, "{user}: {b}");
        assert_eq!(minor(&b["lifetime_earned"]), minor(&b["available"]) + minor(&b["pending"]), "{user}: {b}");
    }
    assert_eq!(app.cny("u-42").await["next_release_at"], big["release_at"]);
    assert_eq!(app.cny("u-7").await["next_release_at"], zero["release_at"]);
    // Terms of the merchants each one bought from, once each.
    for user in ["u-42", "u-7"] {
        let terms = app.wallet(user).await["terms"].as_array().unwrap().clone();
        assert_eq!(terms.len(), 1, "{user}: {terms:?}");
        assert_eq!(terms[0]["merchant_id"], MERCHANT);
    }
    app.assert_verified().await;
}

/// The wallet page's chart: each month of the business time zone gets what was earned on the
/// orders paid in it, the first shown month from its first second and nothing from before.
#[tokio::test]
async fn monthly_earnings_count_the_months_shown_and_nothing_before() {
    use cashback::app::{wallet::monthly_earnings, Services};
    use cashback::crypto::{random_key_base64, SecretBox};
    // 2026-01-01 00:00 in Asia/Shanghai (UTC+8) is 2025-12-31T16:00Z.
    let now = JUNE_15;
    let jan_first = 1_767_196_800;
    let app = spawn_app_frozen(now).await;
    app.setup().await;
    let at = |id: &str, user: &str, paid_at: i64| {
        let body = order_body(id, user, "100.00", paid_at);
        let app = &app;
        async move {
            let r = app.post("/v1/orders", &body).await;
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            r.json::<Value>().await.unwrap()
        }
    };
    let first = at("J1", "u-42", jan_first).await; // the first second of January
    at("D1", "u-42", jan_first - 1).await; // the last of December: not shown
    let june = at("N1", "u-42", now - 3600).await;
    let june2 = at("N2", "u-42", now - 7200).await;
    let svc = || Services {
        tz: "Asia/Shanghai".parse().unwrap(),
        secrets: SecretBox::from_base64(&random_key_base64()).unwrap(),
    };
    let (s1, s2) = (svc(), svc());
    let months = app.state.read(move |c| monthly_earnings(c, &s1, "u-42", "CNY", now, 6)).await.unwrap();
    let labels: Vec<&str> = months.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]);
    assert_eq!(months[0].1, minor(&first["cashback"]));
    assert_eq!(months[5].1, minor(&june["cashback"]) + minor(&june2["cashback"]));
    assert!(months[1..5].iter().all(|(_, v)| *v == 0), "{months:?}");
    // u-7 earns the referral rewards of the same orders, in the same months.
    let months = app.state.read(move |c| monthly_earnings(c, &s2, "u-7", "CNY", now, 6)).await.unwrap();
    assert_eq!(months[0].1, minor(&first["referral"]["amount"]));
    assert_eq!(months[5].1, minor(&june["referral"]["amount"]) + minor(&june2["referral"]["amount"]));
}
