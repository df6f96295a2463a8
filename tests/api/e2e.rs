//! The wallet in real headless Chromium, driven through chromedriver (fantoccini). Runs when
//! CASHBACK_E2E=1 (which .ci/run sets, after installing Debian's chromium and chromium-driver).
//! Saves the screenshot that docs/wallet.md shows.

use crate::helpers::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DAY: i64 = 86_400;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_chromedriver() -> (Driver, u16) {
    let port = free_port();
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let driver = Driver(
        Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)"),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (driver, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// A shop's page on another origin, linking to the wallet.
fn shop_page(link: String) -> String {
    let port = free_port();
    let html = format!(
        "<!doctype html><html><body><h1>Tea shop</h1><a id=\"open-wallet\" href=\"{}\">My cashback</a></body></html>",
        link.replace('&', "&amp;")
    );
    let server = HttpServer::new(move || {
        let html = html.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let html = html.clone();
                async move { HttpResponse::Ok().content_type("text/html").body(html) }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/")
}

#[tokio::test]
async fn the_wallet_in_a_real_browser() {
    if std::env::var("CASHBACK_E2E").ok().as_deref() != Some("1") {
        return skipped("the_wallet_in_a_real_browser needs CASHBACK_E2E=1 and Chromium (skipped)");
    }
    let app = spawn_app().await;
    app.setup().await;
    app.put("/v1/users/u-42", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/withdrawal-settings/CNY",
        Some(&json!({"minimum": "10.00", "fee": "1.00"})),
    )
    .await;
    app.order("T-1001", "u-42", "1000.00", 40 * DAY).await;
    app.order("T-1002", "u-42", "300.00", 12 * DAY).await;
    app.order("T-1003", "u-42", "450.00", DAY).await;
    app.post("/v1/orders/T-1001/refunds", &json!({"refund_id": "R1", "amount": "100.00"})).await;

    let (_driver, port) = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({"goog:chromeOptions": {
        "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=430,1400", "--lang=zh-CN", "--accept-lang=zh-CN,zh", format!("--user-data-dir={}", profile.path().display())]
    }});
    let c = ClientBuilder::native()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");

    // The shop links to the wallet from its own origin; the link logs the user in.
    let shop = shop_page(format!("{}/wallet/login?token={}", app.address, app.login_token("u-42")));
    c.goto(&shop).await.unwrap();
    c.find(Locator::Id("open-wallet")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("[data-testid=available]")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("/wallet"));
    let available = c.find(Locator::Css("[data-testid=available]")).await.unwrap().text().await.unwrap();
    let expected = app.cny("u-42").await["available"].as_str().unwrap().to_string();
    assert_eq!(available, expected);
    assert!(c.source().await.unwrap().contains("我的返现钱包"));

    // Switch to English.
    c.find(Locator::Id("lang-switch")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("html[lang=en]")).await.unwrap();
    assert_eq!(c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(), "My cashback wallet");

    // Withdraw: the review shows the fee and the net, then confirm.
    c.find(Locator::Id("amount-CNY")).await.unwrap().send_keys("20.00").await.unwrap();
    c.find(Locator::Css("#withdraw-CNY button")).await.unwrap().click().await.unwrap();
    let net = c.wait().for_element(Locator::Id("net")).await.unwrap().text().await.unwrap();
    assert_eq!(net, "19.00 CNY");
    c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Id("notice")).await.unwrap();
    let history = c.find(Locator::Id("history")).await.unwrap().text().await.unwrap();
    assert!(history.contains("Withdrawal requested"), "{history}");
    assert_eq!(app.cny("u-42").await["withdrawing"], "19.00");

    let png = c.screenshot().await.unwrap();
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wallet.png"), png).unwrap();
    c.close().await.unwrap();
    app.assert_verified().await;
}
