//! `cashback simulate` as a user runs it: the issue's own command, the tables, the charts, and
//! that it books nothing.

use std::process::Command;

fn simulate(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    // A database URL in a folder of its own: the simulation must not create or touch it.
    let url = format!("sqlite://{}", dir.join("never.db").display());
    Command::new(env!("CARGO_BIN_EXE_cashback"))
        .current_dir(dir)
        .args(["--database-url", &url, "simulate"])
        .args(args)
        .output()
        .expect("run cashback simulate")
}

#[test]
fn the_simple_case_prints_one_csv_row_per_order_and_books_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(
        &["--orders", "100", "--amount", "100", "--pool-share", "0.30", "--gift-ratio", "0.70", "--format", "csv"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_string).collect();
    for col in ["order", "amount", "points_issued", "pool", "points_outstanding", "price"] {
        assert!(header.iter().any(|h| h == col), "missing column {col}: {header:?}");
    }
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 100);
    let col = |r: &csv::StringRecord, name: &str| r[header.iter().position(|h| h == name).unwrap()].to_string();
    // Hand-computed (src/simulate/pool.rs): 21 points, then 14.7 at 30/21, then 12.495.
    assert_eq!(col(&records[0], "points_issued"), "21");
    assert_eq!(col(&records[1], "points_issued"), "14.7");
    assert_eq!(col(&records[2], "points_outstanding"), "48.195");
    assert_eq!(col(&records[2], "price"), "1.867414");
    assert_eq!(col(&records[99], "pool"), "3000");
    // Nothing was created: no database file, no journal.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "simulate wrote {left:?}");
}

#[test]
fn summary_tables_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    let out = simulate(
        &["--orders", "40", "--exit-multiple", "2", "--cohort-size", "10", "--charts", charts.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("simulate_text_40_orders", text);
    for name in ["price.svg", "cohorts.svg"] {
        let svg = std::fs::read_to_string(charts.join(name)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{name} is not a chart");
    }
    let cohorts = simulate(&["--orders", "40", "--format", "csv", "--table", "cohorts"], dir.path());
    insta::assert_snapshot!("simulate_cohorts_csv_40_orders", String::from_utf8(cohorts.stdout).unwrap());
    let users = simulate(&["--orders", "3", "--format", "csv", "--table", "users"], dir.path());
    insta::assert_snapshot!("simulate_users_csv_3_orders", String::from_utf8(users.stdout).unwrap());
    let json = simulate(&["--orders", "3", "--format", "json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["orders"].as_array().unwrap().len(), 3);
    assert_eq!(v["summary"]["fixed.cashback"], "63.00");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["--pool-share", "1.5"], "between 0 and 1"),
        (vec!["--policy", "moon"], "hold, breakeven or multiple:K"),
        (vec!["--format", "xml"], "text, csv or json"),
        (vec!["--orders", "200", "--exit-multiple", "0.35"], "grows geometrically"),
    ] {
        let out = simulate(&args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// docs/why-fixed-cashback.md quotes these outputs: they must still be what the tool prints.
#[test]
fn the_worked_examples_in_the_docs_are_what_the_tool_prints() {
    let dir = tempfile::tempdir().unwrap();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/simulate");
    let boom = docs.join("boom.toml");
    for (args, file) in [
        (vec!["--scenario", boom.to_str().unwrap()], "boom.txt"),
        (vec!["--orders", "100", "--amount", "100", "--pool-share", "0.30", "--gift-ratio", "0.70"], "simple.txt"),
    ] {
        let out = simulate(&args, dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want = std::fs::read_to_string(docs.join(file)).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "docs/simulate/{file} is stale: regenerate it");
    }
}
