//! Tests of the schema itself, on the backend under test.

use crate::helpers::*;
use cashback::store::conn::{check_timezone, journal_guarded, migrate};
use cashback::store::{DbConn, DbUrl};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use std::process::Command;

#[tokio::test]
async fn the_journal_rejects_update_and_delete() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = url.connect().unwrap();
        assert!(journal_guarded(&mut c).unwrap());
        for sql in [
            "UPDATE postings SET amount_minor = amount_minor + 1",
            "DELETE FROM postings",
            "UPDATE entries SET kind = 'refund'",
            "DELETE FROM entries",
        ] {
            let e = c.batch_execute(sql).expect_err(sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
        if let DbConn::Postgresql(_) = c {
            assert!(c.batch_execute("TRUNCATE postings").is_err());
        }
    })
    .await
    .unwrap();
    app.assert_verified().await;
}

#[tokio::test]
async fn verify_fails_when_the_books_do_not_balance() {
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    let url = app.db_url.clone();
    let arg = match &url {
        DbUrl::Sqlite(p) => format!("sqlite://{p}"),
        DbUrl::Postgres(u) => u.clone(),
    };
    tokio::task::spawn_blocking(move || {
        let mut c = url.connect().unwrap();
        // Inserting is allowed (the journal only grows): a lone posting unbalances its entry.
        c.batch_execute(
            "INSERT INTO postings (id, entry_id, account_code, owner, currency, amount_minor, balance_after_minor) \
             VALUES (999999, 1, 10, '', 'CNY', -1, 0)",
        )
        .unwrap();
    })
    .await
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cashback")).args(["--database-url", &arg, "verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL entries_balance"), "{text}");
    assert!(text.contains("FAIL balances_match_postings"), "{text}");
}

#[tokio::test]
async fn a_later_start_with_another_time_zone_is_refused() {
    let app = spawn_app().await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = url.connect().unwrap();
        assert!(check_timezone(&mut c, "Asia/Shanghai").is_ok());
        let e = check_timezone(&mut c, "Europe/Paris").unwrap_err();
        assert!(e.to_string().contains("Asia/Shanghai"), "{e}");
    })
    .await
    .unwrap();
}

/// Reverts migrations, the latest first, down to and including `version`.
fn revert_through(c: &mut DbConn, version: &str) {
    use cashback::store::conn::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    use diesel_migrations::MigrationHarness;
    loop {
        let last = match c {
            DbConn::Sqlite(s) => s.revert_last_migration(SQLITE_MIGRATIONS),
            DbConn::Postgresql(p) => p.revert_last_migration(POSTGRES_MIGRATIONS),
        };
        if last.unwrap().to_string() == version {
            return;
        }
    }
}

/// The migration that gave entries their order's program version fills it in for the entries
/// booked before it (the one time the journal's guard is lifted), and puts the guard back.
#[tokio::test]
async fn entries_booked_before_the_program_version_migration_get_their_orders_version() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    // Paid long ago: released at once, a second entry of the same order.
    app.order("A2", "u-43", "50.00", 40 * 86_400).await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = url.connect().unwrap();
        // Back to before that migration (and any later one), then forward again.
        revert_through(&mut c, "20261202000002");
        migrate(&mut c).unwrap();
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        // Three entries: A1's sale, A2's sale and its release.
        let n = |c: &mut DbConn, sql: &str| diesel::sql_query(sql).get_result::<N>(c).unwrap().n;
        let joined = "FROM entries e JOIN orders o ON o.merchant_id = e.merchant_id AND o.order_id = e.order_id";
        assert_eq!(n(&mut c, &format!("SELECT COUNT(*) AS n {joined} WHERE e.program_version = o.program_version")), 3);
        assert_eq!(n(&mut c, "SELECT COUNT(*) AS n FROM entries WHERE program_version IS NULL"), 0);
        assert!(journal_guarded(&mut c).unwrap());
        assert!(c.batch_execute("UPDATE entries SET program_version = 7").is_err());
    })
    .await
    .unwrap();
    // verify holds each order's entries to the order's version.
    app.assert_verified().await;
}

/// The migration that numbered the accounts turns every posting's account name into its code
/// (the `accounts` table is `Account::code` and `name`), and leaves the journal guarded.
#[tokio::test]
async fn postings_booked_before_the_account_code_migration_keep_their_accounts() {
    use cashback::domain::ledger::Account;
    use diesel::prelude::*;
    let app = spawn_app().await;
    app.setup().await;
    app.order("A1", "u-42", "100.00", 0).await;
    // Paid long ago: released at once, postings on the available accounts too.
    app.order("A2", "u-42", "50.00", 40 * 86_400).await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = url.connect().unwrap();
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Named {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        revert_through(&mut c, "20261204000001");
        let before: Vec<Named> =
            diesel::sql_query("SELECT id, account AS name FROM postings ORDER BY id").load(&mut c).unwrap();
        // A sale with a referrer (four postings) and a released one (four more, and its release).
        assert!(before.len() >= 8, "{before:?}");
        assert!(before.iter().any(|p| p.name == "liabilities:cashback:available"), "{before:?}");
        migrate(&mut c).unwrap();
        let after: Vec<Named> = diesel::sql_query(
            "SELECT p.id, a.name FROM postings p JOIN accounts a ON a.code = p.account_code ORDER BY p.id",
        )
        .load(&mut c)
        .unwrap();
        assert_eq!(after, before);
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Code {
            #[diesel(sql_type = diesel::sql_types::SmallInt)]
            code: i16,
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let table: Vec<Code> = diesel::sql_query("SELECT code, name FROM accounts ORDER BY code").load(&mut c).unwrap();
        let mut ours: Vec<Code> = Account::ALL.iter().map(|a| Code { code: a.code(), name: a.name().into() }).collect();
        ours.sort_by_key(|a| a.code);
        assert_eq!(table, ours);
        assert!(journal_guarded(&mut c).unwrap());
        assert!(c.batch_execute("UPDATE postings SET account_code = 1").is_err());
        // A code no account has is refused.
        let e = c
            .batch_execute(
                "INSERT INTO postings (id, entry_id, account_code, owner, currency, amount_minor, \
                 balance_after_minor) VALUES (999999, 1, 13, '', 'CNY', -1, 0)",
            )
            .unwrap_err();
        assert!(e.to_string().contains("account_code") || e.to_string().contains("CHECK"), "{e}");
    })
    .await
    .unwrap();
    app.assert_verified().await;
}

#[test]
fn database_urls_pick_the_backend() {
    assert_eq!(DbUrl::parse("sqlite://cashback.db").unwrap(), DbUrl::Sqlite("cashback.db".into()));
    assert_eq!(DbUrl::parse("sqlite:///var/lib/c.db").unwrap(), DbUrl::Sqlite("/var/lib/c.db".into()));
    assert!(matches!(DbUrl::parse("postgres://u@h/db").unwrap(), DbUrl::Postgres(_)));
    assert!(DbUrl::parse("mysql://u@h/db").is_err());
    assert!(DbUrl::parse("cashback.db").is_err());
}

#[tokio::test]
async fn a_second_writer_on_the_same_postgresql_database_is_refused() {
    let app = spawn_app().await;
    let DbUrl::Postgres(url) = app.db_url.clone() else {
        return skipped(
            "a_second_writer_on_the_same_postgresql_database_is_refused needs TEST_DATABASE_URL (PostgreSQL)",
        );
    };
    tokio::task::spawn_blocking(move || {
        let settings = cashback::config::Settings {
            database_url: url,
            bind: "127.0.0.1:0".into(),
            admin_tokens: None,
            admin_token: None,
            wallet_secret: None,
            secret_key: None,
            timezone: "Asia/Shanghai".into(),
            rate_limit: 0,
            rate_burst: 0,
        };
        let e = cashback::startup::open_writer(&settings).err().expect("a second writer is refused");
        assert!(e.to_string().contains("writer lock"), "{e}");
    })
    .await
    .unwrap();
}

/// The plan PostgreSQL runs for `sql` on this connection: prepared as `name` and executed with
/// NULL for every parameter, so under `force_generic_plan` it is the plan every batch runs.
fn pg_plan(pg: &mut diesel::PgConnection, name: &str, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let placeholder = regex::Regex::new(r"\$(\d+)").unwrap();
    let params = placeholder
        .captures_iter(sql)
        .map(|m| m[1].parse::<usize>().unwrap())
        .max()
        .expect("a statement with parameters");
    pg.batch_execute(&format!("PREPARE {name} AS {sql}")).unwrap();
    let nulls = vec!["NULL"; params].join(", ");
    let plan: Vec<Line> = diesel::sql_query(format!("EXPLAIN EXECUTE {name}({nulls})")).load(pg).unwrap();
    plan.into_iter().map(|l| l.line).collect()
}

/// The writer plans its batch statements once (generic plans). On a fresh database such a plan
/// sees empty tables; without sequential scans priced out it would scan whole tables for every
/// batch until the next ANALYZE (`store::conn::WRITER_PG_SETTINGS`).
#[tokio::test]
async fn the_writers_statements_plan_index_lookups_on_an_empty_database() {
    let (url, _dir) = fresh_database();
    let url = DbUrl::parse(&url).unwrap();
    if url.is_sqlite() {
        return skipped("the_writers_statements_plan_index_lookups_on_an_empty_database needs TEST_DATABASE_URL");
    }
    tokio::task::spawn_blocking(move || {
        #[derive(diesel::QueryableByName)]
        struct Settings {
            #[diesel(sql_type = diesel::sql_types::Text)]
            settings: String,
        }
        let mut c = url.connect().unwrap();
        migrate(&mut c).unwrap();
        cashback::store::conn::setup_writer(&mut c).unwrap();
        let DbConn::Postgresql(pg) = &mut c else { unreachable!() };
        let s: Settings = diesel::sql_query(
            "SELECT current_setting('plan_cache_mode') || ' ' || current_setting('enable_seqscan') || ' ' \
             || current_setting('jit') AS settings",
        )
        .get_result(pg)
        .unwrap();
        assert_eq!(s.settings, "force_generic_plan off off");
        for (i, (name, sql)) in cashback::store::WRITER_STATEMENTS.iter().enumerate() {
            let plan = pg_plan(pg, &format!("writer_{i}"), sql);
            let text = plan.join("\n");
            // Under force_generic_plan (asserted above) this is the plan every batch runs.
            for table in ["orders", "users", "balances", "idempotency"] {
                let scanned = plan.iter().any(|l| l.contains(&format!("Seq Scan on {table} ")));
                assert!(!scanned, "{name} scans {table} whole:\n{text}");
            }
            assert!(!text.contains("Hash Join"), "{name} joins by hashing a whole table:\n{text}");
        }
    })
    .await
    .unwrap();
}

/// "Has anything come due for these people?" is asked for every buyer and referrer of every
/// batch. Through `orders_by_user` or `orders_by_referrer` it reads every order the person ever
/// had (`bench seed` at 1,500 orders a user: 416 orders/s instead of 7,267); through the partial
/// indexes of pending orders it reads only their unreleased ones.
#[tokio::test]
async fn the_due_questions_read_only_pending_orders() {
    let (url, _dir) = fresh_database();
    let url = DbUrl::parse(&url).unwrap();
    tokio::task::spawn_blocking(move || {
        #[derive(diesel::QueryableByName)]
        struct Detail {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut c = url.connect().unwrap();
        migrate(&mut c).unwrap();
        cashback::store::conn::setup_writer(&mut c).unwrap();
        let mut questions = cashback::store::repo::due_questions(&c);
        if let DbConn::Postgresql(pg) = &mut c {
            let (name, sql) = cashback::store::WRITER_STATEMENTS[0];
            assert_eq!(name, "read-ahead");
            questions.push((name, sql.to_string()));
            // On an empty or small table PostgreSQL rightly finds walking everyone's due orders
            // (`orders_due`) cheapest. The plan that matters is the one made for a real table
            // after autovacuum's ANALYZE, which replaces the writer's cached plans: 60,000 orders
            // of 6,000 buyers and 600 referrers, a sixth of them released (most orders wait out
            // their return window). A generic plan takes `release_at <= $n` for a third of the
            // pending orders, so a growing backlog of due orders makes it prefer the person's.
            pg.batch_execute(
                "INSERT INTO merchants (merchant_id, name, created_at, updated_at) VALUES ('m', 'm', 0, 0); \
                 INSERT INTO users (user_id, payout_destinations, created_seq, created_at, updated_at) \
                 SELECT p || g, '[]', row_number() OVER (), 0, 0 FROM generate_series(0, 5999) g, (VALUES ('u'), ('r')) v(p); \
                 INSERT INTO orders (merchant_id, order_id, user_id, referrer_id, currency, amount_minor, paid_at, \
                 release_at, released_at, status, commission_minor, cashback_minor, referral_minor, platform_minor, \
                 rev_cashback_minor, rev_referral_minor, rev_platform_minor, refunded_minor, capped, program_version, \
                 lines, created_at) \
                 SELECT 'm', 'o' || g, 'u' || g % 6000, 'r' || g % 600, 'CNY', 10000, g, g + 100, \
                 CASE WHEN g % 6 = 0 THEN g + 100 END, CASE WHEN g % 6 = 0 THEN 'released' ELSE 'pending' END, \
                 1000, 500, 100, 400, 0, 0, 0, 0, false, 1, '[]', g FROM generate_series(1, 60000) g; \
                 ANALYZE orders",
            )
            .unwrap();
        }
        let mut wrong = Vec::new();
        for (i, (name, sql)) in questions.iter().enumerate() {
            let plan: Vec<String> = match &mut c {
                // Unbound parameters are NULL; SQLite plans without looking at them.
                DbConn::Sqlite(s) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                    .load::<Detail>(s)
                    .unwrap()
                    .into_iter()
                    .map(|d| d.detail)
                    .collect(),
                // The writer's generic plan, as in the test above.
                DbConn::Postgresql(pg) => pg_plan(pg, &format!("due_{i}"), sql),
            };
            let text = plan.join("\n");
            // The buyer's pending orders have their own index; the referrer's are the range
            // `released_at IS NULL, release_at <= ?` of `orders_by_referrer`.
            for index in ["orders_pending_by_user", "orders_by_referrer"] {
                if !text.contains(index) {
                    wrong.push(format!("{name} does not read {index}:\n{text}"));
                }
            }
            let referrer_lookups = plan.iter().filter(|l| {
                l.contains("orders_by_referrer (") || (l.contains("Index Cond") && l.contains("referrer_id"))
            });
            for l in referrer_lookups {
                if !l.contains("released_at=? AND release_at<?") && !l.contains("(released_at IS NULL) AND (release_at <=") {
                    wrong.push(format!("{name} reads every order of a referrer ({}):\n{text}", l.trim()));
                }
            }
            // orders_by_user: every order the buyer had; orders_due: everyone's due orders.
            for walk in ["orders_by_user", "orders_due ", "SCAN orders", "Seq Scan on orders"] {
                if text.contains(walk) {
                    wrong.push(format!("{name} walks {walk}:\n{text}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    })
    .await
    .unwrap();
}
