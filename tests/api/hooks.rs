//! Shop webhooks as the platforms send them: every fixture of ../shared/fixtures (copied into
//! tests/fixtures) books what its mapping says (docs/integrations.md).

use crate::helpers::*;
use cashback::crypto::{base64_hmac, base64_hmac_matches, signature_matches, wp_specialchars_decode};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const SHOPIFY_SECRET: &str = "hush";
const WOO_SECRET: &str = "woo_test_secret";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn vectors() -> Value {
    serde_json::from_slice(&fixture("vectors/signature-vectors.json")).unwrap()
}

/// m1 with a USD program (the fixtures are in USD) and both shops connected.
async fn shop_app() -> TestApp {
    let app = spawn_app().await;
    app.add_merchant(MERCHANT, SECRET).await;
    let usd = json!({"currency": "USD", "commission_rate": "0.10", "cashback_rate": "0.05", "hold_days": 7});
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&usd)).await;
    assert_eq!(r.status(), 200);
    for (platform, secret) in [("shopify", SHOPIFY_SECRET), ("woocommerce", WOO_SECRET)] {
        let path = format!("/v1/admin/merchants/m1/integrations/{platform}");
        let r = app.admin(Method::PUT, &path, Some(&json!({"secret": secret}))).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        assert!(v.get("secret").is_none(), "a secret is never returned");
    }
    app
}

impl TestApp {
    async fn shopify_signed(&self, topic: &str, body: &[u8], signature: &str, delivery: &str) -> Response {
        self.client
            .post(self.url("/v1/hooks/shopify/m1"))
            .header("Content-Type", "application/json")
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Hmac-Sha256", signature)
            .header("X-Shopify-Webhook-Id", delivery)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    async fn shopify(&self, topic: &str, body: &[u8], delivery: &str) -> Value {
        let sig = base64_hmac(SHOPIFY_SECRET.as_bytes(), body);
        let r = self.shopify_signed(topic, body, &sig, delivery).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn woo(&self, topic: &str, body: &[u8], delivery: &str) -> Value {
        let sig = base64_hmac(wp_specialchars_decode(WOO_SECRET).as_bytes(), body);
        let r = self
            .client
            .post(self.url("/v1/hooks/woocommerce/m1"))
            .header("Content-Type", "application/json")
            .header("X-WC-Webhook-Topic", topic)
            .header("X-WC-Webhook-Signature", sig)
            .header("X-WC-Webhook-Delivery-ID", delivery)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn shop_order(&self, id: &str) -> Option<Value> {
        let r = self.get(&format!("/v1/orders/{id}")).await;
        if r.status() != 200 {
            return None;
        }
        Some(r.json().await.unwrap())
    }

    async fn exceptions(&self) -> Vec<Value> {
        let r = self.admin(Method::GET, "/v1/admin/hook-exceptions", None).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["exceptions"].as_array().unwrap().clone()
    }

    async fn deliveries(&self) -> i64 {
        self.state.read(|c| Ok(cashback::store::hooks::count(c)?)).await.unwrap()
    }
}

#[test]
fn the_signature_vectors_verify_with_our_code() {
    let v = vectors();
    let mut checked = 0;
    for (name, vec) in v.as_object().unwrap().iter().filter(|(k, _)| !k.starts_with('_')) {
        let secret = vec["secret"].as_str().unwrap();
        // The body: its file, the vector's own text, or (Stripe's) the file the vector is named after.
        let body = match (vec["body_file"].as_str(), vec["body"].as_str()) {
            (Some(f), _) => fixture(f),
            (None, Some(b)) => b.as_bytes().to_vec(),
            (None, None) => fixture(name),
        };
        let ok = match vec["scheme"].as_str().unwrap() {
            "shopify" => base64_hmac_matches(secret.as_bytes(), &body, vec["X-Shopify-Hmac-Sha256"].as_str().unwrap()),
            "woocommerce" => base64_hmac_matches(
                wp_specialchars_decode(secret).as_bytes(),
                &body,
                vec["X-WC-Webhook-Signature"].as_str().unwrap(),
            ),
            // Our own checkout signature is Stripe's scheme: t=<unix>,v1=<hex over "t.body">.
            "stripe" => {
                let (t, sigs) =
                    cashback::crypto::parse_signature_header(vec["Stripe-Signature"].as_str().unwrap()).unwrap();
                let multi =
                    cashback::crypto::parse_signature_header(vec["Stripe-Signature(multi, one bad)"].as_str().unwrap())
                        .unwrap();
                signature_matches(secret, t, &body, &sigs) && signature_matches(secret, multi.0, &body, &multi.1)
            }
            "standard-webhooks" => {
                use base64::Engine;
                let key =
                    base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
                let msg = format!("{}.{}.", vec["webhook-id"].as_str().unwrap(), vec["webhook-timestamp"]);
                let signed = [msg.as_bytes(), &body].concat();
                let header = vec["webhook-signature"].as_str().unwrap();
                header
                    .split(' ')
                    .any(|s| s.strip_prefix("v1,").is_some_and(|sig| base64_hmac_matches(&key, &signed, sig)))
            }
            other => panic!("unknown scheme {other}"),
        };
        assert!(ok, "vector {name} does not verify");
        // And one changed byte does not.
        let mut tampered = body.clone();
        tampered[0] ^= 1;
        if let Some(h) = vec["X-Shopify-Hmac-Sha256"].as_str().or(vec["X-WC-Webhook-Signature"].as_str()) {
            let key = if vec["scheme"] == "woocommerce" { wp_specialchars_decode(secret) } else { secret.to_string() };
            assert!(!base64_hmac_matches(key.as_bytes(), &tampered, h), "{name} tampered still verifies");
        }
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[tokio::test]
async fn shopify_fixtures_book_what_their_mapping_says() {
    let app = shop_app().await;
    let v = vectors();
    // The platform's own bytes and header: orders/paid, then refunds/create, then orders/cancelled.
    let paid = fixture("shopify-orders-paid.json");
    let sig = v["shopify-orders-paid.json"]["X-Shopify-Hmac-Sha256"].as_str().unwrap();
    let r = app.shopify_signed("orders/paid", &paid, sig, "d-paid").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "applied");
    let o = app.shop_order("820982911946154508").await.expect("booked");
    assert_eq!(o["user_id"], "m1:115310627314723954");
    assert_eq!((o["currency"].as_str(), o["amount"].as_str()), (Some("USD"), Some("414.95")));
    // 5% of 414.95, rounded down; paid in 2021, so already released.
    assert_eq!((o["cashback"].as_str(), o["status"].as_str()), (Some("20.74"), Some("released")));
    assert_eq!(o["lines"].as_array().unwrap().len(), 5);

    let refund = fixture("shopify-refunds-create.json");
    let sig = v["shopify-refunds-create.json"]["X-Shopify-Hmac-Sha256"].as_str().unwrap();
    let r = app.shopify_signed("refunds/create", &refund, sig, "d-refund").await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "applied");
    let o = app.shop_order("820982911946154508").await.unwrap();
    assert_eq!(o["refunded"], "404.95", "line subtotals net of the 10.00 allocated discount");

    let cancelled = app.shopify("orders/cancelled", &fixture("shopify-orders-cancelled.json"), "d-cancel").await;
    assert_eq!(cancelled["status"], "applied");
    let o = app.shop_order("820982911946154508").await.unwrap();
    assert_eq!(o["status"], "cancelled");
    assert_eq!(o["reversed"]["cashback"], "20.74", "everything reversed");
    // Other topics are acknowledged and book nothing.
    assert_eq!(app.shopify("products/create", b"{}", "d-product").await["status"], "ignored");
    assert!(app.exceptions().await.is_empty());
    app.assert_verified().await;
}

#[tokio::test]
async fn a_tampered_body_a_wrong_secret_or_a_missing_header_is_401_and_stores_nothing() {
    let app = shop_app().await;
    let paid = fixture("shopify-orders-paid.json");
    let good = base64_hmac(SHOPIFY_SECRET.as_bytes(), &paid);
    let mut tampered = paid.clone();
    *tampered.iter_mut().rev().find(|b| b.is_ascii_digit()).unwrap() ^= 1;
    let wrong = base64_hmac(b"not-the-secret", &paid);
    let send = |path: &'static str, body: Vec<u8>, sig: Option<String>| {
        let mut r = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .header("X-Shopify-Topic", "orders/paid")
            .header("X-WC-Webhook-Topic", "order.updated");
        if let Some(s) = sig {
            r = r.header("X-Shopify-Hmac-Sha256", s.clone()).header("X-WC-Webhook-Signature", s);
        }
        r.body(body).send()
    };
    for (path, body, sig) in [
        ("/v1/hooks/shopify/m1", tampered.clone(), Some(good.clone())),
        ("/v1/hooks/shopify/m1", paid.clone(), Some(wrong.clone())),
        ("/v1/hooks/shopify/m1", paid.clone(), None),
        ("/v1/hooks/shopify/nobody", paid.clone(), Some(good.clone())),
        ("/v1/hooks/woocommerce/m1", paid.clone(), Some(good.clone())),
        ("/v1/hooks/woocommerce/m1", paid.clone(), None),
    ] {
        let r = send(path, body, sig).await.unwrap();
        problem(r, 401, "signature_invalid").await;
    }
    assert_eq!(app.deliveries().await, 0);
    assert!(app.shop_order("820982911946154508").await.is_none());
    assert_eq!(app.entry_count().await, 0);
}

#[tokio::test]
async fn the_same_delivery_twice_books_once() {
    let app = shop_app().await;
    let paid = fixture("shopify-orders-paid.json");
    assert_eq!(app.shopify("orders/paid", &paid, "d-1").await["duplicate"], false);
    let entries = app.entry_count().await;
    let again = app.shopify("orders/paid", &paid, "d-1").await;
    assert_eq!((again["duplicate"].as_bool(), again["status"].as_str()), (Some(true), Some("applied")));
    // The same order under another delivery id: stored, and nothing booked twice.
    let other = app.shopify("orders/paid", &paid, "d-2").await;
    assert_eq!(other["status"], "applied");
    assert_eq!(app.entry_count().await, entries);
    assert_eq!(app.deliveries().await, 2);
    app.assert_verified().await;
}

#[tokio::test]
async fn a_refund_delivered_before_its_order_is_booked_once_the_order_arrives() {
    let app = shop_app().await;
    let refund = fixture("shopify-refunds-create.json");
    let early = app.shopify("refunds/create", &refund, "d-refund").await;
    assert_eq!(early["status"], "exception", "parked, and still a 200");
    let parked = app.exceptions().await;
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0]["code"].as_str(), parked[0]["order_ref"].as_str()),
        (Some("not_found"), Some("820982911946154508"))
    );
    // Reconciliation shows it.
    let r = app
        .client
        .post(app.url("/v1/admin/reconcile?merchant_id=m1&from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "text/csv")
        .body("order_id,currency,amount,refunded,status\n")
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("hook_exception,820982911946154508"), "{text}");

    assert_eq!(app.shopify("orders/paid", &fixture("shopify-orders-paid.json"), "d-paid").await["status"], "applied");
    let o = app.shop_order("820982911946154508").await.unwrap();
    assert_eq!(o["refunded"], "404.95");
    assert_eq!(o["refunds"].as_array().unwrap().len(), 1);
    assert!(app.exceptions().await.is_empty(), "applied once its order came");
    // Shopify's retry of the refund (same delivery) and a resend (new id) book nothing more.
    let entries = app.entry_count().await;
    assert_eq!(app.shopify("refunds/create", &refund, "d-refund").await["duplicate"], true);
    assert_eq!(app.shopify("refunds/create", &refund, "d-refund-2").await["status"], "applied");
    assert_eq!(app.entry_count().await, entries);
    assert_eq!(app.shop_order("820982911946154508").await.unwrap()["refunded"], "404.95");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_business_rejection_is_parked_not_answered_with_an_error() {
    let app = shop_app().await;
    let mut paid: Value = serde_json::from_slice(&fixture("shopify-orders-paid.json")).unwrap();
    paid["current_subtotal_price_set"]["shop_money"]["currency_code"] = "EUR".into();
    let body = serde_json::to_vec(&paid).unwrap();
    assert_eq!(app.shopify("orders/paid", &body, "d-eur").await["status"], "exception");
    let parked = app.exceptions().await;
    assert_eq!(parked[0]["code"], "currency_not_supported");
    assert_eq!(app.entry_count().await, 0);
    // Money with a non-zero digit beyond the minor unit is refused the same way.
    paid["current_subtotal_price_set"]["shop_money"] = json!({"amount": "414.955", "currency_code": "USD"});
    let body = serde_json::to_vec(&paid).unwrap();
    assert_eq!(app.shopify("orders/paid", &body, "d-digits").await["status"], "exception");
    assert_eq!(app.exceptions().await[1]["code"], "invalid_amount");
    // And operators can alert on them.
    let metrics =
        app.client.get(app.url("/metrics")).bearer_auth(&app.admin_token).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("cashback_hook_exceptions{merchant_id=\"m1\"} 2"), "{metrics}");
}

fn woo_order(status: &str, refunds: Value) -> Vec<u8> {
    let mut o: Value = serde_json::from_slice(&fixture("woocommerce-order.created.json")).unwrap();
    o["customer_id"] = 26.into();
    o["status"] = status.into();
    o["refunds"] = refunds;
    serde_json::to_vec(&o).unwrap()
}

#[tokio::test]
async fn woocommerce_processing_completed_refunded_books_paid_once_and_the_reversal_once() {
    let app = shop_app().await;
    assert_eq!(app.woo("order.created", &woo_order("processing", json!([])), "w1").await["status"], "applied");
    let o = app.shop_order("727").await.expect("booked when processing");
    assert_eq!((o["amount"].as_str(), o["user_id"].as_str()), (Some("18.00"), Some("m1:26")), "Σ line totals");
    let after_paid = app.entry_count().await;
    assert_eq!(app.woo("order.updated", &woo_order("completed", json!([])), "w2").await["status"], "applied");
    assert_eq!(app.entry_count().await, after_paid, "completed books nothing more");
    // Refunded in full: 29.35 of 29.35, i.e. all 18.00 of the lines; then nothing is left to cancel.
    let refunded = woo_order("refunded", json!([{"id": 730, "refund": "", "total": "-29.35"}]));
    assert_eq!(app.woo("order.updated", &refunded, "w3").await["status"], "applied");
    let o = app.shop_order("727").await.unwrap();
    assert_eq!((o["refunded"].as_str(), o["status"].as_str()), (Some("18.00"), Some("refunded")));
    let after_refund = app.entry_count().await;
    assert!(after_refund > after_paid);
    assert_eq!(app.woo("order.updated", &refunded, "w4").await["status"], "applied");
    assert_eq!(app.entry_count().await, after_refund, "the reversal is booked once");
    assert_eq!(app.shop_order("727").await.unwrap()["refunds"].as_array().unwrap().len(), 1);
    app.assert_verified().await;
}

#[tokio::test]
async fn woocommerce_fixtures_as_signed_on_the_wire() {
    let app = shop_app().await;
    let v = vectors();
    for (file, topic, want) in [
        ("vectors/woocommerce-order.created.wire.json", "order.created", "ignored"),
        ("vectors/woocommerce-order.updated.wire.json", "order.updated", "applied"),
    ] {
        let body = fixture(file);
        let sig = v[file]["X-WC-Webhook-Signature"].as_str().unwrap();
        let r = app
            .client
            .post(app.url("/v1/hooks/woocommerce/m1"))
            .header("Content-Type", "application/json")
            .header("X-WC-Webhook-Topic", topic)
            .header("X-WC-Webhook-Signature", sig)
            .header("X-WC-Webhook-Delivery-ID", file)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], want, "{file}");
    }
    assert!(app.shop_order("727").await.is_none(), "a guest's order is not booked");
    let o = app.shop_order("723").await.unwrap();
    // Lines 9.00 + 20.00; refunds 9.00 and 10.00 of a 39.00 total: 6.69 + 7.44 of the lines.
    assert_eq!((o["amount"].as_str(), o["refunded"].as_str()), (Some("29.00"), Some("14.13")));
    assert_eq!(o["paid_at"], "2017-03-22T03:54:51+08:00", "date_completed_gmt read as UTC");
    // The refund object alone books nothing (its refund came with the order's refunds[]).
    let refund_object = app.woo("order.updated", &fixture("woocommerce-order-refund.json"), "w-refund").await;
    assert_eq!(refund_object["status"], "ignored");
    assert_eq!(app.shop_order("723").await.unwrap()["refunded"], "14.13");
    app.assert_verified().await;
}

#[tokio::test]
async fn the_woocommerce_creation_ping_answers_200_unsigned() {
    let app = shop_app().await;
    let r = app
        .client
        .post(app.url("/v1/hooks/woocommerce/m1"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("webhook_id=15")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.deliveries().await, 0);
    let r = app.client.post(app.url("/v1/hooks/woocommerce/m1")).body("{}").send().await.unwrap();
    problem(r, 401, "signature_invalid").await;
}

#[tokio::test]
async fn a_cancel_delivered_before_its_order_waits_for_it_without_an_exception() {
    let app = shop_app().await;
    let early = app.shopify("orders/cancelled", &fixture("shopify-orders-cancelled.json"), "d-cancel").await;
    assert_eq!(early["status"], "waiting");
    assert!(app.exceptions().await.is_empty(), "an unpaid order's cancel is routine, not an exception");
    app.shopify("orders/paid", &fixture("shopify-orders-paid.json"), "d-paid").await;
    let o = app.shop_order("820982911946154508").await.unwrap();
    assert_eq!((o["status"].as_str(), o["reversed"]["cashback"].as_str()), (Some("cancelled"), Some("20.74")));
    app.assert_verified().await;
}

#[tokio::test]
async fn a_webhook_above_one_mebibyte_is_413() {
    let app = shop_app().await;
    let body = vec![b' '; 1024 * 1024 + 1];
    let sig = base64_hmac(SHOPIFY_SECRET.as_bytes(), &body);
    let r = app.shopify_signed("orders/paid", &body, &sig, "d-big").await;
    problem(r, 413, "payload_too_large").await;
    assert_eq!(app.deliveries().await, 0);
}

#[tokio::test]
async fn parked_deliveries_are_applied_again_on_request_once_the_cause_is_fixed() {
    let app = shop_app().await;
    let mut paid: Value = serde_json::from_slice(&fixture("shopify-orders-paid.json")).unwrap();
    paid["current_subtotal_price_set"]["shop_money"]["currency_code"] = "EUR".into();
    assert_eq!(app.shopify("orders/paid", &serde_json::to_vec(&paid).unwrap(), "d-eur").await["status"], "exception");
    let eur = json!({"currency": "EUR", "commission_rate": "0.10", "cashback_rate": "0.05", "hold_days": 7});
    assert_eq!(app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&eur)).await.status(), 200);
    let r = app.admin(Method::POST, "/v1/admin/hook-exceptions/retry?merchant_id=m1", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"applied": 1, "still_parked": 0}));
    assert_eq!(app.shop_order("820982911946154508").await.unwrap()["currency"], "EUR");
    assert!(app.exceptions().await.is_empty());
}

#[tokio::test]
async fn an_order_id_taken_by_another_order_is_a_conflict_not_a_match() {
    let app = shop_app().await;
    // The checkout hook booked an order under the same id for another buyer.
    let body = json!({"order_id": "820982911946154508", "user_id": "someone-else", "currency": "USD",
        "amount": "414.95", "paid_at": rfc3339(app.clock.now() - 60)});
    assert_eq!(app.post("/v1/orders", &body).await.status(), 201);
    assert_eq!(app.shopify("orders/paid", &fixture("shopify-orders-paid.json"), "d-paid").await["status"], "exception");
    assert_eq!(app.exceptions().await[0]["code"], "idempotency_conflict");
    // And a refund for "that" order is never booked against the other buyer's order.
    assert_eq!(
        app.shopify("refunds/create", &fixture("shopify-refunds-create.json"), "d-refund").await["status"],
        "exception"
    );
    assert_eq!(
        app.shopify("orders/cancelled", &fixture("shopify-orders-cancelled.json"), "d-cancel").await["status"],
        "exception"
    );
    let o = app.shop_order("820982911946154508").await.unwrap();
    assert_eq!((o["refunded"].as_str(), o["status"].as_str()), (Some("0.00"), Some("pending")));
    assert_eq!(app.exceptions().await.len(), 3);
}

#[tokio::test]
async fn a_woocommerce_order_cancelled_unpaid_then_paid_is_booked_and_stays_booked() {
    let app = shop_app().await;
    let mut o: Value = serde_json::from_slice(&woo_order("cancelled", json!([]))).unwrap();
    o["date_paid_gmt"] = Value::Null;
    assert_eq!(app.woo("order.updated", &serde_json::to_vec(&o).unwrap(), "w1").await["status"], "ignored");
    assert_eq!(app.woo("order.updated", &woo_order("processing", json!([])), "w2").await["status"], "applied");
    let booked = app.shop_order("727").await.unwrap();
    assert_eq!((booked["status"].as_str(), booked["refunded"].as_str()), (Some("released"), Some("0.00")));
    assert!(app.exceptions().await.is_empty());
}
