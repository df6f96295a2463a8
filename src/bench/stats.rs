//! Latency samples and the report: a table for people, JSON for tools and the docs.

use serde::Serialize;
use std::time::Duration;

/// One kind of operation's figures over a run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub count: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latencies of one kind of operation, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub micros: Vec<u32>,
    pub errors: u64,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }

    /// Nearest-rank percentiles over the samples, and the rate over `elapsed`.
    pub fn row(mut self, op: &str, elapsed: Duration) -> Row {
        self.micros.sort_unstable();
        let n = self.micros.len();
        let pct = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            self.micros[rank - 1] as f64 / 1000.0
        };
        Row {
            op: op.to_string(),
            count: n as u64,
            errors: self.errors,
            per_second: n as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        }
    }
}

/// Everything a run measured, as printed and as saved with `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub backend: String,
    pub date: String,
    pub settings: serde_json::Value,
    pub elapsed_s: f64,
    pub rows: Vec<Row>,
    /// Figures beside the latencies: disk per order, the server's peak memory, verify.
    pub facts: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    pub fn new(mode: &str, backend: &str, settings: serde_json::Value) -> Report {
        Report {
            mode: mode.to_string(),
            backend: backend.to_string(),
            date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            settings,
            elapsed_s: 0.0,
            rows: Vec::new(),
            facts: serde_json::Map::new(),
        }
    }

    pub fn fact(&mut self, k: &str, v: impl Into<serde_json::Value>) {
        self.facts.insert(k.to_string(), v.into());
    }

    pub fn print(&self) {
        println!("mode {} on {}, {} ({:.1} s)", self.mode, self.backend, self.date, self.elapsed_s);
        println!("settings {}", self.settings);
        println!(
            "{:<10} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "op", "count", "errors", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for r in &self.rows {
            println!(
                "{:<10} {:>9} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                r.op, r.count, r.errors, r.per_second, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
            );
        }
        for (k, v) in &self.facts {
            println!("{k}: {v}");
        }
    }

    /// Prints the table and, with a path, writes the JSON there ("-": standard output).
    pub fn finish(&self, json: Option<&std::path::Path>) -> anyhow::Result<()> {
        self.print();
        let text = serde_json::to_string_pretty(self)?;
        match json {
            Some(p) if p.as_os_str() == "-" => println!("{text}"),
            Some(p) => std::fs::write(p, text + "\n")?,
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::default();
        for us in 1..=100u64 {
            s.push(Duration::from_micros(us * 1000));
        }
        s.errors = 2;
        let r = s.row("order", Duration::from_secs(2));
        assert_eq!((r.count, r.errors), (100, 2));
        assert_eq!((r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(r.per_second, 50.0);
        assert_eq!(Samples::default().row("none", Duration::from_secs(1)).p99_ms, 0.0);
    }
}
