use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn signing_secrets_rotate_with_two_valid_at_once() {
    let app = spawn_app().await;
    app.setup().await;
    let r = app.admin(Method::POST, "/v1/admin/merchants/m1/secrets", Some(&json!({}))).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let new_secret = v["secret"].as_str().expect("a generated secret is shown once").to_string();
    let new_id = v["secret_id"].as_str().unwrap().to_string();
    // Both secrets sign now.
    let q = json!({"currency": "CNY", "amount": "10.00"});
    assert_eq!(app.post("/v1/checkout/quote", &q).await.status(), 200);
    assert_eq!(app.signed_as(MERCHANT, &new_secret, Method::POST, "/v1/checkout/quote", Some(&q)).await.status(), 200);
    // A third active secret is refused.
    let r = app.admin(Method::POST, "/v1/admin/merchants/m1/secrets", Some(&json!({"secret": "third"}))).await;
    problem(r, 409, "invalid_state").await;
    // A PUT with a secret replaces every active one.
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m1", Some(&json!({"name": "Tea", "secret": "replaced"}))).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v.get("secret").is_none(), "a secret the client sent is never returned");
    problem(app.post("/v1/checkout/quote", &q).await, 401, "signature_invalid").await;
    problem(
        app.signed_as(MERCHANT, &new_secret, Method::POST, "/v1/checkout/quote", Some(&q)).await,
        401,
        "signature_invalid",
    )
    .await;
    assert_eq!(app.signed_as(MERCHANT, "replaced", Method::POST, "/v1/checkout/quote", Some(&q)).await.status(), 200);
    // Deleting the only active secret would lock the shop out.
    let r = app.admin(Method::POST, "/v1/admin/merchants/m1/secrets", Some(&json!({"secret": "next"}))).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secret"], Value::Null);
    let next_id = v["secret_id"].as_str().unwrap().to_string();
    let r = app.admin(Method::DELETE, &format!("/v1/admin/merchants/m1/secrets/{new_id}"), None).await;
    problem(r, 404, "not_found").await;
    let r = app.admin(Method::DELETE, &format!("/v1/admin/merchants/m1/secrets/{next_id}"), None).await;
    assert_eq!(r.status(), 204);
    let only = app.admin(Method::POST, "/v1/admin/merchants/m1/secrets", Some(&json!({"secret": "n2"}))).await;
    assert_eq!(only.status(), 201);
}

#[tokio::test]
async fn merchants_are_created_once_and_updated_after() {
    let app = spawn_app().await;
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m9", Some(&json!({"name": "Nine"}))).await;
    problem(r, 400, "invalid_request").await;
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m9", Some(&json!({"name": "Nine", "secret": "s9"}))).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["merchant_id"], "m9");
    let r = app.admin(Method::PUT, "/v1/admin/merchants/m9", Some(&json!({"name": "Nine Renamed"}))).await;
    assert_eq!(r.status(), 200);
    let r = app.admin(Method::PUT, "/v1/admin/merchants/zz/program", Some(&example_program())).await;
    problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn verify_reports_every_check() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    let v: Value = app.admin(Method::GET, "/v1/admin/verify", None).await.json().await.unwrap();
    let names: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "entries_balance",
            "journal_append_only",
            "balances_match_postings",
            "funded_at_sale",
            "coverage",
            "no_overdraft",
            "exactly_once",
            "orders_match_ledger"
        ]
    );
    assert_eq!(v["ok"], true);
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/users/{user_id}", "put"),
        ("/v1/checkout/quote", "post"),
        ("/v1/orders", "post"),
        ("/v1/orders/{order_id}", "get"),
        ("/v1/orders/{order_id}/refunds", "post"),
        ("/v1/orders/{order_id}/cancel", "post"),
        ("/v1/redemptions", "post"),
        ("/v1/redemptions/{id}", "get"),
        ("/v1/redemptions/{id}/capture", "post"),
        ("/v1/redemptions/{id}/void", "post"),
        ("/v1/redemptions/{id}/refunds", "post"),
        ("/v1/admin/merchants/{id}", "put"),
        ("/v1/admin/merchants/{id}/secrets", "post"),
        ("/v1/admin/merchants/{id}/secrets/{secret_id}", "delete"),
        ("/v1/admin/merchants/{id}/program", "put"),
        ("/v1/admin/merchants/{id}/program", "get"),
        ("/v1/admin/users/{user_id}", "put"),
        ("/v1/admin/jobs/release", "post"),
        ("/v1/admin/verify", "get"),
        ("/v1/wallet", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from /openapi.json");
    }
    assert!(doc["components"]["schemas"]["OrderIn"].is_object());
    // Every parameter is where the route reads it, with its grammar (.ci/schemathesis/run holds
    // the service to the document).
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let place = p["in"].as_str().unwrap();
                let braces = format!("{{{name}}}");
                assert_eq!(place == "path", path.contains(&braces), "{method} {path}: {name} is in {place}");
                if place == "path" {
                    let s = &p["schema"];
                    assert!(s["pattern"].is_string() || s["enum"].is_array(), "{method} {path}: {name} has no grammar");
                }
            }
        }
    }
    let amount = &doc["components"]["schemas"]["OrderIn"]["properties"]["amount"];
    assert_eq!(amount["pattern"], cashback::app::schema::POSITIVE_MONEY);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_verify_command_exits_0_on_a_sound_ledger() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    let url = match &app.db_url {
        cashback::store::DbUrl::Sqlite(p) => format!("sqlite://{p}"),
        cashback::store::DbUrl::Postgres(u) => u.clone(),
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cashback"))
        .args(["--database-url", &url, "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.lines().count(), 8);
    assert!(text.lines().all(|l| l.starts_with("ok")), "{text}");
}

/// CASHBACK_SECRET_KEY rotation with two keys valid at once: `new,old` opens what the old key
/// sealed, and the rekey endpoint seals it all again under the new key.
#[tokio::test]
async fn the_secret_key_rotates_with_two_keys_valid_at_once() {
    use cashback::crypto::{random_key_base64, SecretBox};
    use cashback::store::repo;
    let (old, new) = (random_key_base64(), random_key_base64());
    let both = format!("{new},{old}");
    let app = spawn_app_with(|s| s.secret_key = Some(both.clone())).await;
    app.add_merchant(MERCHANT, SECRET).await;
    // A secret sealed under the old key, as an earlier deployment stored it.
    let legacy = SecretBox::from_base64(&old).unwrap().seal("legacy-secret");
    app.state
        .write(move |c, now| {
            Ok(repo::insert_secret(
                c,
                &repo::SecretRow {
                    secret_id: "sec_legacy".into(),
                    merchant_id: MERCHANT.into(),
                    secret_enc: legacy,
                    created_at: now,
                    revoked_at: None,
                },
            )?)
        })
        .await
        .unwrap();
    let r = app.signed_as(MERCHANT, "legacy-secret", Method::PUT, "/v1/users/u-9", Some(&serde_json::json!({}))).await;
    assert_eq!(r.status(), 201, "the old key still opens it");
    let r = app.admin(Method::POST, "/v1/admin/secrets/rekey", None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["resealed"].as_i64(), v["already_current"].as_i64(), v["unreadable"].as_i64()),
        (Some(1), Some(1), Some(0))
    );
    let stored = app.state.read(|c| Ok(repo::active_secrets(c, MERCHANT)?)).await.unwrap();
    let only_new = SecretBox::from_base64(&new).unwrap();
    let mut opened: Vec<String> = stored.iter().filter_map(|s| only_new.open(&s.secret_enc)).collect();
    opened.sort();
    assert_eq!(opened, vec!["legacy-secret".to_string(), SECRET.to_string()], "all under the new key now");
    let again: Value = app.admin(Method::POST, "/v1/admin/secrets/rekey", None).await.json().await.unwrap();
    assert_eq!(again["resealed"], 0);
}
