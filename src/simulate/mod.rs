//! `cashback simulate`: the points-pool ("consumption appreciation") model next to the fixed
//! cashback of this ledger, on the same orders. An analysis tool: it books nothing.
//! See docs/why-fixed-cashback.md.

mod chart;
pub mod pool;
pub mod report;
pub mod run;
pub mod scenario;

pub use scenario::SimulateArgs;

pub fn main(args: SimulateArgs) -> anyhow::Result<i32> {
    let table = match args.table.as_str() {
        t @ ("orders" | "users" | "cohorts") => t,
        other => anyhow::bail!("table {other:?}: orders, users or cohorts"),
    };
    if args.table != "orders" && args.format != "csv" {
        anyhow::bail!("--table is for --format csv (json has every table, text the summary)");
    }
    let scenario = args.resolve()?;
    let outcome = run::run(&scenario)?;
    let text = match args.format.as_str() {
        "text" => report::text(&outcome),
        "json" => serde_json::to_string_pretty(&report::json(&outcome))? + "\n",
        "csv" => report::csv(&match table {
            "users" => report::users(&outcome),
            "cohorts" => report::cohorts(&outcome),
            _ => report::orders(&outcome),
        })?,
        other => anyhow::bail!("format {other:?}: text, csv or json"),
    };
    match &args.output {
        Some(p) => std::fs::write(p, text)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    if let Some(dir) = &args.charts {
        for p in chart::write(&outcome, dir)? {
            eprintln!("chart: {}", p.display());
        }
    }
    Ok(0)
}
