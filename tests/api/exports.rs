//! Finance exports. The accounting tools check the files when CASHBACK_ACCOUNTING=1 (which
//! .ci/run sets after installing hledger, ledger and beancount).

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;

const DAY: i64 = 86_400;

/// A scenario that touches every kind of entry.
async fn scenario() -> TestApp {
    scenario_on(spawn_app().await).await
}

async fn scenario_on(app: TestApp) -> TestApp {
    app.setup().await;
    app.put("/v1/users/u-42", &json!({"payout_destinations": ["alipay:u42@example.com"]})).await;
    let d = json!({"deposit_id": "D1", "currency": "CNY", "amount": "500.00", "reference": "bank"});
    app.admin(Method::POST, "/v1/admin/reserve/deposits", Some(&d)).await;
    app.order("E1", "u-42", "1000.00", 9 * DAY).await;
    let mut lines = order_body("E2", "u-42", "100.00", app.clock.now() - 8 * DAY);
    lines["lines"] = json!([{"sku": "tea", "amount": "60.00", "category": "food"}, {"sku": "cup", "amount": "40.00"}]);
    app.post("/v1/orders", &lines).await;
    // Two days later: a period starting today opens with the balances booked so far.
    app.clock.advance(2 * DAY);
    app.order("E3", "u-42", "300.00", 0).await;
    // A day boundary between an order and its refund.
    app.clock.advance(DAY);
    app.post("/v1/orders/E3/refunds", &json!({"refund_id": "R1", "amount": "100.00"})).await;
    app.post("/v1/orders/E3/cancel", &json!({})).await;
    assert_eq!(app.hold("H1", "u-42", "50.00").await.status(), 201);
    app.post("/v1/redemptions/H1/capture", &json!({"amount": "30.00"})).await;
    app.post("/v1/redemptions/H1/refunds", &json!({"refund_id": "CR1", "amount": "10.00"})).await;
    assert_eq!(app.hold("H2", "u-42", "5.00").await.status(), 201);
    app.post("/v1/redemptions/H2/void", &json!({})).await;
    let w = |id: &str, amount: &str| json!({"withdrawal_id": id, "currency": "CNY", "amount": amount, "destination": "alipay:u42@example.com", "expected_fee": "0.00"});
    app.withdraw("u-42", &w("W1", "20.00")).await;
    app.withdraw("u-42", &w("W2", "10.00")).await;
    app.admin(Method::POST, "/v1/admin/withdrawals/W1/paid", Some(&json!({"reference": "TX1"}))).await;
    app.admin(Method::POST, "/v1/admin/withdrawals/W2/reject", Some(&json!({"reason": "closed"}))).await;
    app.post("/v1/orders/E1/refunds", &json!({"refund_id": "R2", "amount": "1000.00"})).await; // clawback
    let wo = json!({"writeoff_id": "WO1", "currency": "CNY", "amount": "1.00", "reason": "small"});
    assert_eq!(app.admin(Method::POST, "/v1/admin/clawbacks/u-42/write-off", Some(&wo)).await.status(), 201);
    let s = json!({"settlement_id": "S1", "currency": "CNY", "commission_received": "10.00", "credit_paid": "20.00",
        "settled_at": rfc3339(app.clock.now()), "reference": "bank"});
    assert_eq!(app.admin(Method::POST, "/v1/admin/merchants/m1/settlements", Some(&s)).await.status(), 201);
    app.assert_verified().await;
    app
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.admin(Method::GET, path, None).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The trial balance as {(account, owner): balance in minor units}.
fn trial(csv: &str) -> BTreeMap<(String, String), i64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[0] != "TOTAL")
        .map(|f| ((f[0].to_string(), f[1].to_string()), f[5].replace('.', "").parse::<i64>().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_trial_balance_sums_to_zero_and_matches_the_ledger() {
    let app = scenario().await;
    let (status, csv) = get(&app, "/v1/admin/exports/trial-balance").await;
    assert_eq!(status, 200);
    assert!(csv.lines().last().unwrap().starts_with("TOTAL,,CNY,"), "{csv}");
    assert!(csv.lines().last().unwrap().ends_with(",0.00"));
    let stored: BTreeMap<(String, String), i64> =
        app.balances().await.into_iter().filter(|(_, v)| *v != 0).map(|((_, a, o), v)| ((a, o), v)).collect();
    let tb: BTreeMap<_, _> = trial(&csv).into_iter().filter(|(_, v)| *v != 0).collect();
    assert_eq!(tb, stored);
    let (_, by_class) = get(&app, "/v1/admin/exports/trial-balance?by=class").await;
    assert!(by_class.lines().any(|l| l.starts_with("liabilities,,CNY,")));
    let (status, _) = get(&app, "/v1/admin/exports/journal?format=hledger&from=2026-11-01T00:00:00Z").await;
    assert_eq!(status, 400, "hledger takes dates only");
    let (status, journal) = get(&app, "/v1/admin/exports/journal?format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(
        journal.lines().count() - 1,
        app.state.read(|c| Ok(cashback::store::repo::snapshot(c)?.postings.len())).await.unwrap()
    );
}

#[tokio::test]
async fn the_accounting_tools_accept_the_journal_and_agree_with_the_trial_balance() {
    if std::env::var("CASHBACK_ACCOUNTING").ok().as_deref() != Some("1") {
        return skipped(
            "the accounting-tool checks need CASHBACK_ACCOUNTING=1 with hledger, ledger and bean-check (skipped)",
        );
    }
    let app = scenario().await;
    let dir = tempfile::tempdir().unwrap();
    let today = cashback::domain::time::format_ts(app.clock.now(), "Asia/Shanghai".parse().unwrap())[..10].to_string();
    for (name, query) in [("all", String::new()), ("period", format!("&from={today}"))] {
        let (_, hl) = get(&app, &format!("/v1/admin/exports/journal?format=hledger{query}")).await;
        let (_, bc) = get(&app, &format!("/v1/admin/exports/journal?format=beancount{query}")).await;
        assert_eq!(name == "period", hl.contains("opening balances"), "{name}");
        let hf = dir.path().join(format!("{name}.journal"));
        let bf = dir.path().join(format!("{name}.beancount"));
        std::fs::write(&hf, &hl).unwrap();
        std::fs::write(&bf, &bc).unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.output().expect("the tool runs");
            assert!(
                out.status.success(),
                "{cmd:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        run(Command::new("hledger").arg("-f").arg(&hf).arg("check"));
        run(Command::new("hledger").arg("-f").arg(&hf).args(["check", "-s"]));
        run(Command::new("ledger").arg("-f").arg(&hf).arg("balance"));
        run(Command::new("bean-check").arg(&bf));
        // hledger's balances equal the trial balance, account by account, in minor units.
        let bal = run(Command::new("hledger").arg("-f").arg(&hf).args(["balance", "--flat", "-N", "-O", "csv"]));
        let mut tools: BTreeMap<String, i64> = BTreeMap::new();
        for l in bal.lines().skip(1) {
            let f: Vec<&str> = l.split(',').map(|x| x.trim_matches('"')).collect();
            let v = f[1].trim_end_matches(" CNY").replace('.', "").parse::<i64>().unwrap();
            if v != 0 {
                tools.insert(f[0].to_string(), v);
            }
        }
        let (_, tb) = get(&app, "/v1/admin/exports/trial-balance").await;
        let ours: BTreeMap<String, i64> = trial(&tb)
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|((a, o), v)| (cashback::export::names::hledger(&a, &o), v))
            .collect();
        assert_eq!(tools, ours, "{name}: hledger and the trial balance disagree");
        // So do ledger-cli's, and beancount's (through bean-query).
        let lb = run(Command::new("ledger").arg("-f").arg(&hf).args([
            "balance",
            "--flat",
            "--no-total",
            "--balance-format",
            "%(account)\t%(scrub(display_total))\n",
        ]));
        let mut from_ledger: BTreeMap<String, i64> = BTreeMap::new();
        for l in lb.lines().filter(|l| !l.trim().is_empty()) {
            let (acct, amount) = l.split_once('\t').unwrap();
            let v = amount.trim().trim_end_matches(" CNY").replace('.', "").parse::<i64>().unwrap();
            if v != 0 {
                from_ledger.insert(acct.trim().to_string(), v);
            }
        }
        assert_eq!(from_ledger, ours, "{name}: ledger and the trial balance disagree");
        let bq = run(Command::new("bean-query")
            .arg(&bf)
            .arg("SELECT account, sum(number) AS n GROUP BY account ORDER BY account")
            .args(["-f", "csv"]));
        let mut from_bean: BTreeMap<String, i64> = BTreeMap::new();
        for l in bq.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let (acct, n) = l.split_once(',').unwrap();
            let v = n.trim().replace('.', "").parse::<i64>().unwrap();
            if v != 0 {
                from_bean.insert(acct.trim().to_string(), v);
            }
        }
        let ours_bean: BTreeMap<String, i64> = trial(&tb)
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|((a, o), v)| (cashback::export::names::beancount(&a, &o), v))
            .collect();
        assert_eq!(from_bean, ours_bean, "{name}: beancount and the trial balance disagree");
    }
}

#[tokio::test]
async fn a_payout_batch_lists_each_requested_withdrawal_once() {
    let app = scenario().await;
    let w = |id: &str| json!({"withdrawal_id": id, "currency": "CNY", "amount": "10.00", "destination": "alipay:u42@example.com", "expected_fee": "0.00"});
    app.order("B1", "u-42", "1000.00", 9 * DAY).await;
    assert_eq!(app.withdraw("u-42", &w("PB1")).await.status(), 201);
    assert_eq!(app.withdraw("u-42", &w("PB2")).await.status(), 201);
    let b = json!({"batch_id": "BATCH-1", "currency": "CNY"});
    let r = app.admin(Method::POST, "/v1/admin/payout-batches", Some(&b)).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("PB1") && csv.contains("PB2") && csv.contains(",processing,BATCH-1,"));
    let again = app.admin(Method::POST, "/v1/admin/payout-batches", Some(&b)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), csv);
    let next = app
        .admin(Method::POST, "/v1/admin/payout-batches", Some(&json!({"batch_id": "BATCH-2", "currency": "CNY"})))
        .await;
    assert_eq!(next.text().await.unwrap().lines().count(), 1, "nothing is listed twice");
    assert_eq!(
        app.admin(Method::POST, "/v1/admin/withdrawals/PB1/paid", Some(&json!({"reference": "T"}))).await.status(),
        200
    );
    let (_, processing) = get(&app, "/v1/admin/exports/payouts?status=processing").await;
    assert_eq!(processing.lines().count(), 2);
    let (_, audit) = get(&app, "/v1/admin/exports/audit").await;
    assert!(audit.lines().any(|l| l.contains("payout_batch.create") && l.contains("ops-alice")));
    app.assert_verified().await;
}

async fn reconcile(app: &TestApp, file: &str) -> (u16, String) {
    let r = app
        .client
        .post(app.url("/v1/admin/reconcile?merchant_id=m1&from=2000-01-01&to=2100-01-01"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "text/csv")
        .body(file.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn reconciliation_finds_each_kind_of_difference_and_none_in_a_clean_file() {
    let app = scenario().await;
    app.order("E4", "u-7", "50.00", 0).await;
    // Columns in any order; other columns ignored.
    let clean = "note,status,order_id,amount,currency,refunded\n\
                 x,refunded,E1,1000.00,CNY,1000.00\nx,paid,E2,100.00,CNY,0\nx,cancelled,E3,300.00,CNY,300.00\nx,paid,E4,50,CNY,0.00\n";
    let (status, csv) = reconcile(&app, clean).await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 1, "{csv}");
    assert!(csv.starts_with("kind,order_id,currency,shop_amount,ledger_amount,shop_refunded,ledger_refunded,shop_status,ledger_status,detail"));
    let dirty = "order_id,currency,amount,refunded,status\n\
                 E1,CNY,999.00,1000.00,refunded\nE3,CNY,300.00,100.00,cancelled\nE3,CNY,300.00,300.00,cancelled\n\
                 ZZZ,CNY,1.00,0,paid\nE4,CNY,50.00,0.00,refunded\n";
    let (_, csv) = reconcile(&app, dirty).await;
    let kinds: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "amount_mismatch",
            "duplicate_in_file",
            "missing_in_ledger",
            "missing_in_shop",
            "refund_mismatch",
            "status_mismatch"
        ],
        "{csv}"
    );
    // The command gives the same answer and exits 1 with differences, 0 without.
    let url = match &app.db_url {
        cashback::store::DbUrl::Sqlite(p) => format!("sqlite://{p}"),
        cashback::store::DbUrl::Postgres(u) => u.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    for (file, code) in [(clean, 0), (dirty, 1)] {
        let path = dir.path().join("orders.csv");
        std::fs::write(&path, file).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cashback"))
            .args([
                "--database-url",
                &url,
                "reconcile",
                "--merchant-id",
                "m1",
                "--from",
                "2000-01-01",
                "--to",
                "2100-01-01",
                "--orders",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let r = app
        .client
        .post(app.url("/v1/admin/reconcile?merchant_id=m1&from=2000-01-01&to=2100-01-01"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported_media_type").await;
    let (status, _) = reconcile(&app, "order_id,amount\nE1,1\n").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_liability_roll_forward_ties_to_the_trial_balance_at_every_boundary() {
    let app = scenario().await;
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let day = |offset: i64| cashback::domain::time::format_ts(app.clock.now() + offset * DAY, tz)[..10].to_string();
    // Day boundaries around the scenario: before it, between the order E3 and its refund, after.
    let bounds = [day(-5), day(-1), day(0), day(1)];
    let mut previous_closing: Option<Vec<String>> = None;
    for pair in bounds.windows(2) {
        let (_, csv) = get(&app, &format!("/v1/admin/exports/liabilities?from={}&to={}", pair[0], pair[1])).await;
        assert!(!csv.contains(",no"), "{csv}");
        assert_eq!(csv.lines().filter(|l| l.ends_with(",yes")).count(), 2, "{csv}");
        let field =
            |line: &str| csv.lines().find(|l| l.contains(line)).map(|l| l.rsplit(',').next().unwrap().to_string());
        let opening = vec![field("liabilities,opening").unwrap(), field("clawback_receivable,opening").unwrap()];
        if let Some(prev) = &previous_closing {
            assert_eq!(&opening, prev, "a period opens where the one before closed");
        }
        previous_closing =
            Some(vec![field("liabilities,closing").unwrap(), field("clawback_receivable,closing").unwrap()]);
    }
    let (_, all) = get(&app, "/v1/admin/exports/liabilities").await;
    let earned = all.lines().find(|l| l.contains("liabilities,earned")).unwrap();
    assert!(!earned.ends_with(",0.00"), "{all}");
    let clawed = all.lines().find(|l| l.contains("clawback_receivable,clawed_back")).unwrap();
    assert!(!clawed.ends_with(",0.00"), "{all}");
}

#[tokio::test]
async fn merchant_statements_tie_receivable_and_payable() {
    let app = scenario().await;
    let (status, csv) = get(&app, "/v1/admin/exports/merchant-statements").await;
    assert_eq!(status, 200);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().find(|l| l.starts_with("m1,CNY,")).expect("a row for m1").split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("orders"), "3");
    assert_eq!(col("gross"), "1400.00");
    assert_eq!(col("commission"), "274.00"); // 200.00 + 14.00 (food 6.00, other 8.00) + 60.00
    assert_eq!(col("credit_spent"), "30.00");
    assert_eq!(col("credit_refunded"), "10.00");
    assert_eq!((col("commission_received"), col("credit_paid")), ("10.00", "20.00"));
    assert_eq!(col("closing_payable"), "0.00");
    assert_eq!(col("ties"), "yes");
    let stored = app.balances().await;
    let mr = stored[&("CNY".to_string(), "assets:merchant-receivable".to_string(), "m1".to_string())];
    assert_eq!(col("closing_receivable").replace('.', "").parse::<i64>().unwrap(), mr);
}

/// Every export format, byte for byte, on a fixed scenario at a fixed time (the same snapshots
/// on SQLite and PostgreSQL).
#[tokio::test]
async fn snapshots_of_every_format() {
    // 2026-11-01T10:00:00+08:00
    let app = scenario_on(spawn_app_frozen(1_793_498_400).await).await;
    let adj = serde_json::json!({"adjustment_id": "ADJ1", "currency": "CNY", "reason": "goodwill", "corrects_entry_id": "2",
        "postings": [{"account": "income:platform-share", "amount": "1.00"},
                     {"account": "liabilities:cashback:available", "owner": "u-7", "amount": "-1.00"}]});
    assert_eq!(app.admin(Method::POST, "/v1/admin/adjustments", Some(&adj)).await.status(), 201);
    let b = json!({"batch_id": "BATCH-1", "currency": "CNY"});
    let w = json!({"withdrawal_id": "W3", "currency": "CNY", "amount": "5.00", "destination": "alipay:u7@example.com", "expected_fee": "0.00"});
    app.put("/v1/users/u-7", &json!({"payout_destinations": ["alipay:u7@example.com"]})).await;
    app.order("E5", "u-7", "100.00", 9 * DAY).await;
    assert_eq!(app.withdraw("u-7", &w).await.status(), 201);
    // A release that repays part of u-42's clawback debt.
    app.order("E6", "u-42", "100.00", 9 * DAY).await;
    let batch = app.admin(Method::POST, "/v1/admin/payout-batches", Some(&b)).await.text().await.unwrap();
    insta::assert_snapshot!("payout_batch", batch);
    for (name, path) in [
        ("journal_csv", "/v1/admin/exports/journal?format=csv"),
        ("journal_hledger", "/v1/admin/exports/journal?format=hledger"),
        ("journal_beancount", "/v1/admin/exports/journal?format=beancount"),
        ("journal_period_hledger", "/v1/admin/exports/journal?format=hledger&from=2026-11-03"),
        ("trial_balance", "/v1/admin/exports/trial-balance?as_of=2026-11-04"),
        ("trial_balance_by_class", "/v1/admin/exports/trial-balance?as_of=2026-11-04&by=class"),
        ("merchant_statements", "/v1/admin/exports/merchant-statements?from=2026-11-01&to=2026-11-05"),
        ("liabilities", "/v1/admin/exports/liabilities?from=2026-11-03&to=2026-11-05"),
        ("payouts", "/v1/admin/exports/payouts?from=2026-11-01&to=2026-11-05"),
        ("audit", "/v1/admin/exports/audit?from=2026-11-01&to=2026-11-05"),
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, 200, "{name}: {body}");
        insta::assert_snapshot!(name, body);
    }
}

#[tokio::test]
async fn the_export_command_gives_the_same_files_as_http() {
    let app = scenario().await;
    let url = match &app.db_url {
        cashback::store::DbUrl::Sqlite(p) => format!("sqlite://{p}"),
        cashback::store::DbUrl::Postgres(u) => u.clone(),
    };
    let run = |args: &[&str], tz: &str| {
        Command::new(env!("CARGO_BIN_EXE_cashback"))
            .env("CASHBACK_TIMEZONE", tz)
            .args(["--database-url", &url, "export"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, path) in [
        (vec!["journal", "--format", "hledger"], "/v1/admin/exports/journal?format=hledger"),
        (
            vec!["merchant-statements", "--from", "2000-01-01", "--to", "2100-01-01"],
            "/v1/admin/exports/merchant-statements?from=2000-01-01&to=2100-01-01",
        ),
        (vec!["payouts"], "/v1/admin/exports/payouts"),
        (vec!["audit"], "/v1/admin/exports/audit"),
    ] {
        let out = run(&args, "Asia/Shanghai");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let (_, http) = get(&app, path).await;
        assert_eq!(String::from_utf8(out.stdout).unwrap(), http, "{args:?}");
    }
    let wrong_zone = run(&["journal"], "Europe/Paris");
    assert_eq!(wrong_zone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong_zone.stderr).contains("Asia/Shanghai"));
    assert_eq!(run(&["trial-balance", "--from", "2026-01-01"], "Asia/Shanghai").status.code(), Some(2));
}
