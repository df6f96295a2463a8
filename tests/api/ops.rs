//! Operations: Prometheus metrics, request ids.

use crate::helpers::*;
use reqwest::Method;

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_what_the_reserve_does_not_cover() {
    let app = spawn_app().await;
    app.setup().await;
    // Paid eight days ago: released at once. 11.20 cashback for u-42 and 1.00 referral for u-7
    // are claims the reserve (empty) does not cover: 12.20.
    app.order("M1", "u-42", "100.00", 8 * 86_400).await;
    app.order("M2", "u-42", "50.00", 0).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401, "metrics name merchants: an admin token reads them");
    // An invented method is counted as OTHER, not as a label of its own.
    let odd = reqwest::Method::from_bytes(b"FOO1").unwrap();
    app.client.request(odd, app.url("/v1/orders")).send().await.unwrap();
    let r = app.client.get(app.url("/metrics")).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_string);
    assert_eq!(
        line("cashback_http_requests_total{method=\"POST\",route=\"/v1/orders\",status=\"201\"}").as_deref(),
        Some("cashback_http_requests_total{method=\"POST\",route=\"/v1/orders\",status=\"201\"} 2"),
        "{text}"
    );
    assert!(line("cashback_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/orders\"}").is_some());
    let batches = line("cashback_writer_batch_size_count").unwrap();
    assert!(batches.split(' ').nth(1).unwrap().parse::<u64>().unwrap() >= 2, "{batches}");
    assert!(line("cashback_writer_queue_depth 0").is_some(), "{text}");
    assert!(text.contains("method=\"OTHER\"") && !text.contains("FOO1"), "{text}");
    assert_eq!(
        line("cashback_uncovered_minor{currency=\"CNY\"}").as_deref(),
        Some("cashback_uncovered_minor{currency=\"CNY\"} 1220")
    );
    // Ids never become labels: the route is its pattern.
    app.get("/v1/orders/M1").await;
    let text =
        app.client.get(app.url("/metrics")).bearer_auth(&app.admin_token).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("route=\"/v1/orders/{order_id}\""), "{text}");
    assert!(!text.contains("/v1/orders/M1"));
    // A deposit covers it.
    let dep = serde_json::json!({"deposit_id": "d1", "currency": "CNY", "amount": "20.00", "reference": "bank"});
    assert_eq!(app.admin(Method::POST, "/v1/admin/reserve/deposits", Some(&dep)).await.status(), 201);
    let text =
        app.client.get(app.url("/metrics")).bearer_auth(&app.admin_token).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("cashback_uncovered_minor{currency=\"CNY\"} -780"), "{text}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_echoes_a_sane_one() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert!(id.starts_with("req_") && id.len() > 8);
    let r = app.client.get(app.url("/healthz")).header("X-Request-Id", "shop-4711.a_b").send().await.unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap(), "shop-4711.a_b");
    // Not echoed when it is not sane; errors carry one too.
    let r = app.client.get(app.url("/nowhere")).header("X-Request-Id", "a b<script>").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-request-id").unwrap().to_str().unwrap().starts_with("req_"));
}

#[tokio::test]
async fn a_405_lists_the_allowed_methods_and_the_document_lists_every_problem() {
    let app = spawn_app().await;
    let r = app.client.delete(app.url("/v1/orders")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "POST");
    let r = app.client.post(app.url("/v1/admin/merchants/x/program")).send().await.unwrap();
    assert_eq!(r.headers().get("allow").unwrap(), "GET, PUT");
    let doc: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let responses = &doc["paths"]["/v1/orders"]["post"]["responses"];
    for status in ["201", "400", "401", "409", "413", "415", "422", "429", "503"] {
        assert!(responses.get(status).is_some(), "{status} undocumented: {responses}");
    }
    assert_eq!(
        responses["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}
