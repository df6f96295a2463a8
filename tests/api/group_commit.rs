//! Group commit (DESIGN.md §6): requests waiting for the writer are booked in one transaction,
//! each under its own savepoint, so one that is refused changes nothing and fails no other.

use crate::helpers::{order_body, problem, spawn_app};
use cashback::app::error::ApiError;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

type Answer = tokio::sync::oneshot::Receiver<Result<(), cashback::store::WriteError<ApiError>>>;

/// Holds the writer inside a job until `release` is sent, so every request that follows waits
/// in its queue and the next batch takes them all at once. Returns once the job has started.
async fn hold(writer: &cashback::store::Writer) -> (std::sync::mpsc::Sender<()>, Answer) {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let blocker = writer
        .submit(None, move |_c| -> Result<(), ApiError> {
            let _ = held.recv();
            Ok(())
        })
        .expect("queue the blocker");
    while writer.stats().queued.load(Ordering::SeqCst) != 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (release, blocker)
}

#[tokio::test]
async fn a_batch_with_one_refused_order_books_the_others_and_refuses_only_that_one() {
    let app = spawn_app().await;
    app.setup().await;
    let writer = app.state.writer.clone();
    let entries_before = app.entry_count().await;

    let (release, blocker) = hold(&writer).await;

    let now = app.clock.now();
    let mut bodies: Vec<_> = (1..=4).map(|i| order_body(&format!("B{i}"), "u-42", "100.00", now - 60)).collect();
    // Its currency has no program: refused inside the writer, in the same batch.
    let mut usd = order_body("B-USD", "u-42", "100.00", now - 60);
    usd["currency"] = json!("USD");
    bodies.insert(2, usd);

    let stats = writer.stats();
    let waited = async {
        while stats.queued.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seen = (stats.batches.load(Ordering::SeqCst), stats.jobs.load(Ordering::SeqCst));
        release.send(()).expect("release the writer");
        seen
    };
    let (answers, (batches_before, jobs_before)) =
        tokio::join!(futures::future::join_all(bodies.iter().map(|b| app.post("/v1/orders", b))), waited);
    blocker.await.expect("the blocker answered").expect("the blocker committed");

    // The five waiting requests made exactly one batch.
    assert_eq!(stats.batches.load(Ordering::SeqCst) - batches_before, 1);
    assert_eq!(stats.jobs.load(Ordering::SeqCst) - jobs_before, 5);
    let mut answers = answers.into_iter();
    for i in 1..=4 {
        if i == 3 {
            problem(answers.next().unwrap(), 422, "currency_not_supported").await;
        }
        let r = answers.next().unwrap();
        assert_eq!(r.status(), 201, "B{i}");
    }
    for i in 1..=4 {
        assert_eq!(app.get(&format!("/v1/orders/B{i}")).await.status(), 200, "B{i} is booked");
    }
    problem(app.get("/v1/orders/B-USD").await, 404, "not_found").await;
    // One order-paid entry each for the four, none for the refused one.
    assert_eq!(app.entry_count().await - entries_before, 4);
    let w = app.cny("u-42").await;
    assert_eq!(w["pending"], json!("44.80"), "4 × 11.20 of cashback: {w}");
    app.assert_verified().await;
}

/// A job that booked and then failed leaves nothing behind, not even in the writer's cache of
/// balances and ids: the next job in the same batch sees the balance as if it never ran.
#[tokio::test]
async fn a_job_that_fails_after_booking_leaves_no_trace_in_its_batch() {
    use cashback::domain::engine::deposit;
    use cashback::domain::money::Currency;
    use cashback::store::books::DbBooks;
    let app = spawn_app().await;
    let writer = app.state.writer.clone();
    let cny = Currency::parse("CNY").unwrap();
    wait_for_startup_jobs(&writer).await;
    let (release, blocker) = hold(&writer).await;
    let failing = writer
        .submit(None, move |c| -> Result<(), ApiError> {
            deposit(&mut DbBooks { conn: c, now: 1 }, cny, 70_000, "D-fails", 1)?;
            Err(cashback::app::error::err(cashback::app::error::Code::InvalidRequest, "refused after booking"))
        })
        .unwrap();
    let kept = writer
        .submit(None, move |c| -> Result<Option<i64>, ApiError> {
            Ok(deposit(&mut DbBooks { conn: c, now: 1 }, cny, 5_000, "D-kept", 1)?)
        })
        .unwrap();
    let batches = writer.stats().batches.load(Ordering::SeqCst);
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    assert!(matches!(failing.await.unwrap(), Err(cashback::store::WriteError::Job(_))));
    let entry = kept.await.unwrap().unwrap().expect("an entry");
    assert_eq!(writer.stats().batches.load(Ordering::SeqCst) - batches, 1, "both in one batch");
    let b = app.balances().await;
    assert_eq!(b[&("CNY".to_string(), "assets:reserve".to_string(), String::new())], 5_000);
    assert_eq!(b[&("CNY".to_string(), "equity:platform-funding".to_string(), String::new())], -5_000);
    let snap = app.state.read(|c| Ok(cashback::store::repo::snapshot(c)?)).await.unwrap();
    assert_eq!(snap.entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![entry], "the failed job's id is reused");
    assert_eq!(snap.postings.iter().map(|p| p.balance_after.abs()).collect::<Vec<_>>(), vec![5_000, 5_000]);
    app.assert_verified().await;
}

/// The writer reads a merchant's program once a batch; a new version booked in the same batch
/// applies to the orders after it, and a version whose job failed never applies.
#[tokio::test]
async fn a_program_changed_inside_a_batch_applies_to_the_orders_after_it() {
    use reqwest::Method;
    let app = spawn_app().await;
    app.setup().await;
    let writer = app.state.writer.clone();
    let (release, blocker) = hold(&writer).await;
    let now = app.clock.now();
    let mut richer = crate::helpers::example_program();
    richer["cashback_rate"] = json!("0.15");
    let stats = writer.stats();
    let first = order_body("P1", "u-42", "100.00", now - 60);
    let a = app.post("/v1/orders", &first);
    let put = async {
        while stats.queued.load(Ordering::SeqCst) < 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        app.admin(Method::PUT, "/v1/admin/merchants/m1/program", Some(&richer)).await
    };
    let b = async {
        while stats.queued.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        app.post("/v1/orders", &order_body("P2", "u-42", "100.00", now - 60)).await
    };
    let go = async {
        while stats.queued.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let n = stats.batches.load(Ordering::SeqCst);
        release.send(()).unwrap();
        n
    };
    let (a, put, b, batches) = tokio::join!(a, put, b, go);
    blocker.await.unwrap().unwrap();
    assert_eq!(stats.batches.load(Ordering::SeqCst) - batches, 1, "the three in one batch");
    assert_eq!(put.status(), 200);
    let (a, b): (serde_json::Value, serde_json::Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!((a["cashback"].as_str(), a["program_version"].as_i64()), (Some("11.20"), Some(1)));
    assert_eq!((b["cashback"].as_str(), b["program_version"].as_i64()), (Some("15.00"), Some(2)));
    app.assert_verified().await;
}

/// The batch reads its orders, buyers, due items and balances ahead (store::prefetch); what
/// its own jobs write must be what the later jobs of the same batch read: a replay of an order
/// booked a job earlier, a second order of a user created a job earlier, a refund of an order
/// booked in the batch, a second refund that would exceed what the first left, a refund's
/// replay and its key reused (its idempotency record is held by the batch until it commits),
/// and a refund after a cancel of the same batch.
#[tokio::test]
async fn a_batch_reads_what_its_earlier_jobs_wrote() {
    let app = spawn_app().await;
    app.setup().await;
    let now = app.clock.now();
    let before = order_body("E1", "u-42", "100.00", now - 60);
    assert_eq!(app.post("/v1/orders", &before).await.status(), 201);
    let writer = app.state.writer.clone();
    let stats = writer.stats();
    let (release, blocker) = hold(&writer).await;

    let n1 = order_body("N1", "u-new", "100.00", now - 60);
    let refund = |id: &str, amount: &str| json!({"refund_id": id, "amount": amount});
    let steps: Vec<(&str, serde_json::Value)> = vec![
        ("/v1/orders", n1.clone()),
        ("/v1/orders", n1.clone()),
        ("/v1/orders", order_body("N2", "u-new", "50.00", now - 60)),
        ("/v1/orders/N1/refunds", refund("R1", "10.00")),
        ("/v1/orders/E1/refunds", refund("R2", "60.00")),
        ("/v1/orders/E1/refunds", refund("R3", "60.00")),
        ("/v1/orders", order_body("E1", "u-42", "99.00", now - 60)),
        ("/v1/orders/E1/refunds", refund("R2", "60.00")),
        ("/v1/orders/E1/refunds", refund("R2", "5.00")),
        ("/v1/orders/N2/cancel", json!({})),
        ("/v1/orders/N2/refunds", refund("R4", "1.00")),
        ("/v1/orders/N2/cancel", json!({})),
    ];
    let n = steps.len();
    // Each request is sent once the one before it is queued, so the batch runs them in order.
    let app = &app;
    let sends = steps.iter().enumerate().map(|(i, (path, body))| async move {
        while stats.queued.load(Ordering::SeqCst) < i as i64 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        app.post(path, body).await
    });
    let go = async {
        while stats.queued.load(Ordering::SeqCst) < n as i64 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let b = stats.batches.load(Ordering::SeqCst);
        release.send(()).unwrap();
        b
    };
    let (answers, batches) = tokio::join!(futures::future::join_all(sends), go);
    blocker.await.unwrap().unwrap();
    assert_eq!(stats.batches.load(Ordering::SeqCst) - batches, 1, "all in one batch");
    let mut answers = answers.into_iter();
    let mut next = || answers.next().unwrap();
    let first = next();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let replay = next();
    assert_eq!(replay.status(), 200, "the same order again is a replay");
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(next().status(), 201, "a second order of the user created a job earlier");
    assert_eq!(next().status(), 201, "a refund of the order booked in the batch");
    let r2 = next();
    assert_eq!(r2.status(), 201, "a refund of an order booked before");
    let r2: serde_json::Value = r2.json().await.unwrap();
    problem(next(), 422, "refund_exceeds_order").await;
    problem(next(), 409, "idempotency_conflict").await;
    let replay = next();
    assert_eq!(replay.status(), 200, "a refund again is a replay");
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap(), r2);
    problem(next(), 409, "idempotency_conflict").await;
    let cancel = next();
    assert_eq!(cancel.status(), 200);
    let cancel: serde_json::Value = cancel.json().await.unwrap();
    assert_eq!(cancel["order"]["status"], json!("cancelled"));
    problem(next(), 409, "order_cancelled").await;
    let again = next();
    assert_eq!(again.status(), 200, "the cancel again is a replay");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), cancel);
    let n1 = app.get("/v1/orders/N1").await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(n1["refunded"], json!("10.00"));
    let e1 = app.get("/v1/orders/E1").await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(e1["refunded"], json!("60.00"));
    assert_eq!(e1["refunds"].as_array().map(Vec::len), Some(1));
    let n2 = app.get("/v1/orders/N2").await.json::<serde_json::Value>().await.unwrap();
    assert_eq!((&n2["status"], &n2["refunded"]), (&json!("cancelled"), &json!("50.00")));
    app.assert_verified().await;
}

/// The app's job writes twice as it starts (ended sessions, due releases): a test that holds
/// the writer lets it finish first, or it would wait in the queue behind the held job.
async fn wait_for_startup_jobs(writer: &cashback::store::Writer) {
    while writer.stats().jobs.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn new_user(id: &str) -> cashback::store::repo::UserRow {
    cashback::store::repo::UserRow {
        user_id: id.into(),
        referrer_id: None,
        payout_destinations: "[]".into(),
        created_by: None,
        created_seq: 0,
        created_at: 1,
        updated_at: 1,
    }
}

async fn user_exists(app: &crate::helpers::TestApp, id: &'static str) -> bool {
    app.state.read(move |c| Ok(cashback::store::repo::user(c, id)?.is_some())).await.unwrap()
}

/// A job that tells what it reads (an order, a refund) takes its savepoint at its first write
/// (store::savepoint): one that fails after writing is rolled back alone, one that fails
/// before writing needs no rollback, and the jobs around them are booked.
#[tokio::test]
async fn a_hinted_job_that_fails_is_rolled_back_from_its_first_write() {
    use cashback::store::prefetch::Hint;
    use cashback::store::repo;
    let app = spawn_app().await;
    let writer = app.state.writer.clone();
    let hint = |o: &str| Some(Hint::new("m1", o, Some("u-x"), 0));
    let refused = || cashback::app::error::err(cashback::app::error::Code::InvalidRequest, "refused");
    wait_for_startup_jobs(&writer).await;
    let (release, blocker) = hold(&writer).await;
    let wrote_then_failed = writer
        .submit(hint("a"), move |c| -> Result<(), ApiError> {
            repo::insert_user(c, &mut new_user("u-a"))?;
            Err(refused())
        })
        .unwrap();
    let kept = writer
        .submit(hint("b"), move |c| -> Result<(), ApiError> { Ok(repo::insert_user(c, &mut new_user("u-b"))?) })
        .unwrap();
    let failed_early = writer.submit(hint("c"), move |_c| -> Result<(), ApiError> { Err(refused()) }).unwrap();
    let kept_too = writer
        .submit(hint("d"), move |c| -> Result<(), ApiError> { Ok(repo::insert_user(c, &mut new_user("u-d"))?) })
        .unwrap();
    let batches = writer.stats().batches.load(Ordering::SeqCst);
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    assert!(matches!(wrote_then_failed.await.unwrap(), Err(cashback::store::WriteError::Job(_))));
    assert!(kept.await.unwrap().is_ok());
    assert!(matches!(failed_early.await.unwrap(), Err(cashback::store::WriteError::Job(_))));
    assert!(kept_too.await.unwrap().is_ok());
    assert_eq!(writer.stats().batches.load(Ordering::SeqCst) - batches, 1, "all in one batch");
    assert!(!user_exists(&app, "u-a").await, "rolled back to the savepoint its write took");
    assert!(user_exists(&app, "u-b").await);
    assert!(user_exists(&app, "u-d").await);
}

/// A write that bypasses `savepoint::before_write` in a hinted job is a bug; if that job then
/// fails, nothing could undo its write alone, so the whole batch is refused and nothing of it is
/// booked (a debug build panics in the writer, a release build rolls the batch back).
#[tokio::test]
async fn a_hinted_job_that_wrote_outside_its_savepoint_and_failed_books_nothing_of_its_batch() {
    use cashback::store::prefetch::Hint;
    use cashback::store::repo;
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let writer = app.state.writer.clone();
    let hint = |o: &str| Some(Hint::new("m1", o, Some("u-x"), 0));
    wait_for_startup_jobs(&writer).await;
    let (release, blocker) = hold(&writer).await;
    let kept = writer
        .submit(hint("e"), move |c| -> Result<(), ApiError> { Ok(repo::insert_user(c, &mut new_user("u-e"))?) })
        .unwrap();
    let unguarded = writer
        .submit(hint("f"), move |c| -> Result<(), ApiError> {
            let q = diesel::sql_query("INSERT INTO meta (key, value) VALUES ('probe', 'x')");
            cashback::on_backend!(c, |c| q.execute(c))?;
            Err(cashback::app::error::err(cashback::app::error::Code::InvalidRequest, "refused"))
        })
        .unwrap();
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    assert!(matches!(kept.await.unwrap(), Err(cashback::store::WriteError::Unavailable(_))));
    assert!(matches!(unguarded.await.unwrap(), Err(cashback::store::WriteError::Unavailable(_))));
    assert!(!user_exists(&app, "u-e").await);
    let probe = app.state.read(|c| Ok(repo::meta_value(c, "probe")?)).await.unwrap();
    assert_eq!(probe, None);
    // The writer goes on.
    let after = writer.write(|c| -> Result<(), ApiError> { Ok(repo::insert_user(c, &mut new_user("u-g"))?) });
    after.await.unwrap();
    assert!(user_exists(&app, "u-g").await);
}
