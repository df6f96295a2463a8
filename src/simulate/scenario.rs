//! A simulation's inputs: flags, a TOML scenario file, or both (flags win), resolved into a
//! [`Scenario`] that can only be had by parsing.

use crate::domain::money::{parse_positive, Currency};
use clap::Args;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::path::PathBuf;

/// Orders in one run at most: the cohort accounting is O(orders × cohorts).
pub const MAX_ORDERS: u64 = 1_000_000;
/// Periods at most, so a pattern that books nothing cannot loop for ever.
pub const MAX_PERIODS: u64 = 100_000;

#[derive(Args, Debug, Clone, Default)]
pub struct SimulateArgs {
    /// A scenario file (TOML, the flags' names with underscores); flags given too win.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Orders in all (default 100 when --periods is not given either).
    #[arg(long)]
    pub orders: Option<u64>,
    /// Amount of every order, in the currency (default 100).
    #[arg(long)]
    pub amount: Option<String>,
    /// The currency of the fixed-cashback side (default CNY): its minor unit is what it rounds to.
    #[arg(long)]
    pub currency: Option<String>,
    /// classic (pool_share 0.30) or local-life (a 20% merchant share: 2% platform, 2% referral, 16% pool).
    #[arg(long)]
    pub variant: Option<String>,
    /// The share of each order put into the pool.
    #[arg(long)]
    pub pool_share: Option<String>,
    /// The share of the pool contribution given to the buyer as points (default 0.70).
    #[arg(long)]
    pub gift_ratio: Option<String>,
    /// What selling points pays, as a share of their value (default 0.80; the rest stays in the pool).
    #[arg(long)]
    pub payout_ratio: Option<String>,
    /// Forced exit: a holder is sold out once points × price ≥ this × what they spent.
    #[arg(long)]
    pub exit_multiple: Option<String>,
    /// What holders do: hold, breakeven (sell once a sale pays back what they spent) or
    /// multiple:K (sell once a sale pays K times it).
    #[arg(long)]
    pub policy: Option<String>,
    /// flat, grow (by --growth a period) or stop (after --stop-after periods).
    #[arg(long)]
    pub arrivals: Option<String>,
    /// Periods to run (default: until --orders are placed).
    #[arg(long)]
    pub periods: Option<u64>,
    /// Orders in the first period (default 1).
    #[arg(long)]
    pub per_period: Option<u64>,
    /// Growth of arrivals per period: for --arrivals grow (default 0.10), and for stop (default 0:
    /// flat until they stop).
    #[arg(long)]
    pub growth: Option<String>,
    /// The last period with arrivals, for --arrivals stop.
    #[arg(long)]
    pub stop_after: Option<u64>,
    /// Buyers per cohort (the buyers of each block of this many orders; default 10).
    #[arg(long)]
    pub cohort_size: Option<u64>,
    /// text (the summary), csv or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// The table --format csv prints: orders, users or cohorts.
    #[arg(long, default_value = "orders")]
    pub table: String,
    /// Write the charts (price.svg, cohorts.svg) into this folder.
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// A decimal in a scenario file: a string ("0.30") or an integer, never a float, which would
/// not be exact.
#[derive(Debug, Clone)]
struct Exact(String);

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Exact, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Exact;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a decimal as a string, like \"0.30\", or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Exact, E> {
                Ok(Exact(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Exact, E> {
                Ok(Exact(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Exact, E> {
                Ok(Exact(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Exact, E> {
                Err(E::custom(format!("write {v} as a string (\"{v}\"), so it stays exact")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    orders: Option<u64>,
    amount: Option<Exact>,
    currency: Option<String>,
    variant: Option<String>,
    pool_share: Option<Exact>,
    gift_ratio: Option<Exact>,
    payout_ratio: Option<Exact>,
    exit_multiple: Option<Exact>,
    policy: Option<String>,
    arrivals: Option<String>,
    periods: Option<u64>,
    per_period: Option<u64>,
    growth: Option<Exact>,
    stop_after: Option<u64>,
    cohort_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Classic,
    LocalLife,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Hold,
    /// Sell everything once a sale would pay back what was spent.
    Breakeven,
    /// Sell everything once a sale would pay K times what was spent.
    Multiple(Decimal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Flat,
    Grow,
    Stop,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub variant: Variant,
    pub currency: Currency,
    /// Every order's amount, in minor units (the fixed side) and as a decimal (the pool side).
    pub amount_minor: i64,
    pub amount: Decimal,
    pub pool_share: Decimal,
    pub gift_ratio: Decimal,
    pub payout_ratio: Decimal,
    /// local-life only: the merchant share's parts outside the pool.
    pub platform_share: Decimal,
    pub referral_share: Decimal,
    pub exit_multiple: Option<Decimal>,
    pub policy: Policy,
    pub pattern: Pattern,
    pub growth: Decimal,
    pub stop_after: Option<u64>,
    pub cohort_size: u64,
    /// Orders per period, from the first period on.
    pub schedule: Vec<u64>,
}

impl Scenario {
    pub fn orders(&self) -> u64 {
        self.schedule.iter().sum()
    }

    /// The merchant's share of each order: what funds everything on both sides.
    pub fn merchant_share(&self) -> Decimal {
        self.pool_share + self.platform_share + self.referral_share
    }

    /// One line that says what was run.
    pub fn describe(&self) -> String {
        let variant = match self.variant {
            Variant::Classic => "classic".to_string(),
            Variant::LocalLife => format!(
                "local-life: merchant share {} = platform {} + referral {} + pool {}",
                self.merchant_share(),
                self.platform_share,
                self.referral_share,
                self.pool_share
            ),
        };
        let policy = match self.policy {
            Policy::Hold => "hold".to_string(),
            Policy::Breakeven => "sell at breakeven".to_string(),
            Policy::Multiple(k) => format!("sell at {k}x"),
        };
        let arrivals = match self.pattern {
            Pattern::Flat => "flat".to_string(),
            Pattern::Grow => format!("growing {} a period", self.growth),
            Pattern::Stop if self.growth.is_zero() => format!("stopping after period {}", self.stop_after.unwrap_or(0)),
            Pattern::Stop => {
                format!("growing {} a period, then stopping after period {}", self.growth, self.stop_after.unwrap_or(0))
            }
        };
        format!(
            "{} orders of {} {} over {} periods ({variant}; pool_share {}, gift_ratio {}, payout_ratio {}; \
             exit at {}; holders {policy}; arrivals {arrivals}; cohorts of {})",
            self.orders(),
            self.amount,
            self.currency.code(),
            self.schedule.len(),
            self.pool_share,
            self.gift_ratio,
            self.payout_ratio,
            self.exit_multiple.map(|m| format!("{m}x spend")).unwrap_or_else(|| "no multiple".into()),
            self.cohort_size
        )
    }
}

fn decimal(name: &str, text: &str) -> anyhow::Result<Decimal> {
    let v: Decimal = text.trim().parse().map_err(|_| anyhow::anyhow!("{name} {text:?} is not a decimal"))?;
    Ok(v.normalize())
}

fn share(name: &str, text: &str) -> anyhow::Result<Decimal> {
    let v = decimal(name, text)?;
    if v < Decimal::ZERO || v > Decimal::ONE {
        anyhow::bail!("{name} must be between 0 and 1, not {v}");
    }
    Ok(v)
}

impl SimulateArgs {
    /// The flags over the scenario file over the defaults.
    pub fn resolve(&self) -> anyhow::Result<Scenario> {
        let file: FileScenario = match &self.scenario {
            None => FileScenario::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            }
        };
        let text = |flag: &Option<String>, f: Option<Exact>| flag.clone().or(f.map(|e| e.0));
        let variant = match self.variant.clone().or(file.variant).as_deref() {
            None | Some("classic") => Variant::Classic,
            Some("local-life") => Variant::LocalLife,
            Some(other) => anyhow::bail!("variant {other:?}: classic or local-life"),
        };
        let (default_pool, side) = match variant {
            Variant::Classic => ("0.30", Decimal::ZERO),
            Variant::LocalLife => ("0.16", Decimal::new(2, 2)),
        };
        let code = self.currency.clone().or(file.currency).unwrap_or_else(|| "CNY".into());
        let currency = Currency::parse(&code).ok_or_else(|| anyhow::anyhow!("currency {code:?} is not ISO 4217"))?;
        let amount_text = text(&self.amount, file.amount).unwrap_or_else(|| "100".into());
        let amount_minor =
            parse_positive(&amount_text, currency).map_err(|e| anyhow::anyhow!("amount {amount_text:?}: {e}"))?;
        let amount = Decimal::new(amount_minor, currency.minor_units());
        let pool_share = share("pool_share", &text(&self.pool_share, file.pool_share).unwrap_or(default_pool.into()))?;
        if pool_share.is_zero() {
            anyhow::bail!("pool_share must be above 0");
        }
        let gift_ratio = share("gift_ratio", &text(&self.gift_ratio, file.gift_ratio).unwrap_or("0.70".into()))?;
        let payout_ratio =
            share("payout_ratio", &text(&self.payout_ratio, file.payout_ratio).unwrap_or("0.80".into()))?;
        let exit_multiple = text(&self.exit_multiple, file.exit_multiple)
            .map(|t| {
                let m = decimal("exit_multiple", &t)?;
                if m <= Decimal::ZERO {
                    anyhow::bail!("exit_multiple must be above 0");
                }
                Ok(m)
            })
            .transpose()?;
        let policy = match self.policy.clone().or(file.policy).as_deref() {
            None | Some("hold") => Policy::Hold,
            Some("breakeven") => Policy::Breakeven,
            Some(p) if p.starts_with("multiple:") => {
                let k = decimal("policy multiple", &p["multiple:".len()..])?;
                if k <= Decimal::ZERO {
                    anyhow::bail!("policy multiple:K needs K above 0");
                }
                Policy::Multiple(k)
            }
            Some(other) => anyhow::bail!("policy {other:?}: hold, breakeven or multiple:K"),
        };
        let pattern = match self.arrivals.clone().or(file.arrivals).as_deref() {
            None | Some("flat") => Pattern::Flat,
            Some("grow") => Pattern::Grow,
            Some("stop") => Pattern::Stop,
            Some(other) => anyhow::bail!("arrivals {other:?}: flat, grow or stop"),
        };
        // Stopping arrivals may grow before they stop (a boom and its end); flat until told.
        let default_growth = if pattern == Pattern::Grow { "0.10" } else { "0" };
        let growth = decimal("growth", &text(&self.growth, file.growth).unwrap_or(default_growth.into()))?;
        if growth != Decimal::ZERO && pattern == Pattern::Flat {
            anyhow::bail!("growth is for arrivals grow or stop");
        }
        if growth <= -Decimal::ONE {
            anyhow::bail!("growth must be above -1");
        }
        let stop_after = self.stop_after.or(file.stop_after);
        if pattern == Pattern::Stop && stop_after.is_none() {
            anyhow::bail!("arrivals stop needs stop_after (the last period with orders)");
        }
        let cohort_size = self.cohort_size.or(file.cohort_size).unwrap_or(10);
        if cohort_size == 0 {
            anyhow::bail!("cohort_size must be at least 1");
        }
        let per_period = self.per_period.or(file.per_period).unwrap_or(1);
        if per_period == 0 {
            anyhow::bail!("per_period must be at least 1");
        }
        let periods = self.periods.or(file.periods);
        let mut orders = self.orders.or(file.orders);
        if periods.is_none() && orders.is_none() {
            orders = Some(100);
        }
        if orders.is_some_and(|n| n == 0 || n > MAX_ORDERS) {
            anyhow::bail!("orders must be between 1 and {MAX_ORDERS}");
        }
        if periods.is_some_and(|p| p == 0 || p > MAX_PERIODS) {
            anyhow::bail!("periods must be between 1 and {MAX_PERIODS}");
        }
        let schedule = schedule(pattern, per_period, growth, stop_after, periods, orders)?;
        if schedule.iter().sum::<u64>() == 0 {
            anyhow::bail!("the arrivals place no order");
        }
        let platform_share = side;
        let referral_share = side;
        if pool_share + platform_share + referral_share > Decimal::ONE {
            anyhow::bail!("the merchant share (pool + platform + referral) is above 1");
        }
        Ok(Scenario {
            variant,
            currency,
            amount_minor,
            amount,
            pool_share,
            gift_ratio,
            payout_ratio,
            platform_share,
            referral_share,
            exit_multiple,
            policy,
            pattern,
            growth,
            stop_after,
            cohort_size,
            schedule,
        })
    }
}

/// Orders per period. Growing arrivals are per_period × (1 + growth)^t, rounded half-even to
/// whole orders; `orders`, when given, ends the run once that many are placed.
fn schedule(
    pattern: Pattern,
    per_period: u64,
    growth: Decimal,
    stop_after: Option<u64>,
    periods: Option<u64>,
    orders: Option<u64>,
) -> anyhow::Result<Vec<u64>> {
    let limit = periods.unwrap_or(MAX_PERIODS);
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut level = Decimal::from(per_period);
    for t in 0..limit {
        let mut n = match pattern {
            Pattern::Flat => per_period,
            Pattern::Stop if t + 1 > stop_after.unwrap_or(0) => 0,
            Pattern::Grow | Pattern::Stop => {
                let n = level.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointNearestEven);
                level = level.checked_mul(Decimal::ONE + growth).unwrap_or(Decimal::MAX);
                rust_decimal::prelude::ToPrimitive::to_u64(&n).unwrap_or(u64::MAX)
            }
        };
        if let Some(cap) = orders {
            n = n.min(cap - total);
        }
        total += n;
        if total > MAX_ORDERS {
            anyhow::bail!("the arrivals place more than {MAX_ORDERS} orders; give --orders or fewer --periods");
        }
        out.push(n);
        let done_orders = orders.is_some_and(|cap| total >= cap);
        // Without a period count, arrivals that have stopped end the run.
        let stopped = periods.is_none() && pattern == Pattern::Stop && t + 1 >= stop_after.unwrap_or(0);
        if done_orders || stopped {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simple_case_is_one_order_a_period() {
        let s = SimulateArgs { orders: Some(5), ..Default::default() }.resolve().unwrap();
        assert_eq!(s.schedule, vec![1, 1, 1, 1, 1]);
        assert_eq!(s.pool_share, "0.3".parse::<Decimal>().unwrap());
        assert_eq!(s.amount_minor, 10_000);
    }

    #[test]
    fn growing_and_stopping_arrivals() {
        let g = SimulateArgs {
            arrivals: Some("grow".into()),
            per_period: Some(10),
            growth: Some("0.5".into()),
            periods: Some(4),
            ..Default::default()
        };
        // 10, 15, 22.5 -> 22 (half-even), 33.75 -> 34.
        assert_eq!(g.resolve().unwrap().schedule, vec![10, 15, 22, 34]);
        let s = SimulateArgs {
            arrivals: Some("stop".into()),
            per_period: Some(3),
            stop_after: Some(2),
            periods: Some(4),
            ..Default::default()
        };
        assert_eq!(s.resolve().unwrap().schedule, vec![3, 3, 0, 0]);
        let boom = SimulateArgs {
            arrivals: Some("stop".into()),
            per_period: Some(10),
            growth: Some("0.5".into()),
            stop_after: Some(3),
            periods: Some(5),
            ..Default::default()
        };
        assert_eq!(boom.resolve().unwrap().schedule, vec![10, 15, 22, 0, 0]);
        let capped = SimulateArgs { orders: Some(7), per_period: Some(3), ..Default::default() };
        assert_eq!(capped.resolve().unwrap().schedule, vec![3, 3, 1]);
    }

    #[test]
    fn scenario_files_take_exact_decimals_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "orders = 3\npool_share = \"0.25\"\nvariant = \"local-life\"\n").unwrap();
        let s = SimulateArgs { scenario: Some(p.clone()), orders: Some(4), ..Default::default() }.resolve().unwrap();
        assert_eq!(s.orders(), 4);
        assert_eq!(s.pool_share, "0.25".parse::<Decimal>().unwrap());
        assert_eq!(s.merchant_share(), "0.29".parse::<Decimal>().unwrap());
        std::fs::write(&p, "pool_share = 0.25\n").unwrap();
        let e = SimulateArgs { scenario: Some(p.clone()), ..Default::default() }.resolve().unwrap_err();
        assert!(e.to_string().contains("as a string"), "{e}");
        std::fs::write(&p, "pool_sharee = \"0.25\"\n").unwrap();
        assert!(SimulateArgs { scenario: Some(p), ..Default::default() }.resolve().is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        let bad = [
            SimulateArgs { pool_share: Some("1.5".into()), ..Default::default() },
            SimulateArgs { pool_share: Some("0".into()), ..Default::default() },
            SimulateArgs { amount: Some("1.005".into()), ..Default::default() },
            SimulateArgs { policy: Some("multiple:0".into()), ..Default::default() },
            SimulateArgs { arrivals: Some("stop".into()), ..Default::default() },
            SimulateArgs { orders: Some(0), ..Default::default() },
            SimulateArgs { exit_multiple: Some("-1".into()), ..Default::default() },
        ];
        for a in bad {
            assert!(a.resolve().is_err(), "{a:?} should be refused");
        }
    }
}
