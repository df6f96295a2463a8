//! `cashback backup` (SQLite): an online copy taken while orders are being booked, then
//! restored end to end: the copy passes `verify` and holds the live journal as it stood at one
//! moment.

use crate::helpers::*;
use cashback::store::{repo, DbUrl};
use std::process::Command;

fn cashback(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cashback")).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_traffic_restores_to_a_verified_ledger() {
    let app = spawn_app().await;
    let path = match app.db_url.clone() {
        DbUrl::Sqlite(p) => p,
        DbUrl::Postgres(u) => {
            let out = cashback(&["--database-url", &u, "backup", "--output", "/tmp/never.db"]);
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
            return;
        }
    };
    app.setup().await;
    for i in 0..20 {
        app.order(&format!("B{i}"), "u-42", "100.00", 0).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let live = format!("sqlite://{path}");
    // Orders keep coming while the copy is taken.
    let traffic = {
        let (client, base, now) = (app.client.clone(), app.address.clone(), app.clock.now());
        tokio::spawn(async move {
            for i in 20..60 {
                let body = order_body(&format!("B{i}"), "u-42", "10.00", now).to_string();
                let sig = cashback::crypto::sign(SECRET, now, body.as_bytes());
                let r = client
                    .post(format!("{base}/v1/orders"))
                    .header("X-Cashback-Merchant", MERCHANT)
                    .header("X-Cashback-Signature", format!("t={now},v1={sig}"))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    // The copy is taken once the traffic has booked some orders, while it goes on.
    while app.get("/v1/orders/B25").await.status() != 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let out = tokio::task::spawn_blocking({
        let (live, copy) = (live.clone(), copy.clone());
        move || cashback(&["--database-url", &live, "backup", "--output", copy.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    traffic.await.unwrap();
    // A backup never overwrites.
    let again = cashback(&["--database-url", &live, "backup", "--output", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));

    let restored = format!("sqlite://{}", copy.display());
    let verify = cashback(&["--database-url", &restored, "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let (copied, now) = tokio::task::spawn_blocking(move || {
        let snap = |url: &str| repo::snapshot(&mut DbUrl::parse(url).unwrap().connect().unwrap()).unwrap();
        (snap(&restored), snap(&live))
    })
    .await
    .unwrap();
    // The copy is the live journal as it stood at one moment: a prefix of it.
    let ids = |s: &cashback::domain::invariants::Snapshot| s.postings.iter().map(|p| p.id).collect::<Vec<_>>();
    assert!(copied.orders.len() >= 26, "taken after the traffic began: {}", copied.orders.len());
    assert!(copied.entries.len() <= now.entries.len());
    assert_eq!(ids(&copied)[..], ids(&now)[..copied.postings.len()]);
    assert_eq!(now.orders.len(), 60);
}
