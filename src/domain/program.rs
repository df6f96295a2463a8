//! Programs (a merchant's terms in one currency) and the split of an order (DESIGN.md §3).

use super::money::Currency;
use super::rate::Rate;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    pub commission: Rate,
    pub cashback: Rate,
    pub referral: Rate,
}

/// A category's own rates; each one left out is inherited from the program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CategoryRates {
    pub commission: Option<Rate>,
    pub cashback: Option<Rate>,
    pub referral: Option<Rate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub currency: Currency,
    pub rates: Rates,
    pub hold_days: u32,
    pub per_order_cap: Option<i64>,
    pub monthly_cap_per_user: Option<i64>,
    pub categories: BTreeMap<String, CategoryRates>,
}

/// The longest return window a program may set (ten years), so `release_at` never overflows.
pub const MAX_HOLD_DAYS: u32 = 3650;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("cashback plus referral rate ({total}) is above the commission rate ({commission}){}", .category.as_ref().map(|c| format!(" in category {c:?}")).unwrap_or_default())]
    Unfunded { category: Option<String>, total: Decimal, commission: Rate },
}

impl Program {
    /// Hard rule: every credit is funded by the order's commission, in total and per category.
    pub fn check_funded(&self) -> Result<(), ProgramError> {
        let check = |r: &Rates, category: Option<&String>| {
            let total = r.cashback + r.referral;
            if total > r.commission.decimal() {
                return Err(ProgramError::Unfunded { category: category.cloned(), total, commission: r.commission });
            }
            Ok(())
        };
        check(&self.rates, None)?;
        for name in self.categories.keys() {
            check(&self.rates_for(Some(name)), Some(name))?;
        }
        Ok(())
    }

    /// A line's rates: its category's when the program defines it, otherwise the program's.
    pub fn rates_for(&self, category: Option<&str>) -> Rates {
        match category.and_then(|c| self.categories.get(c)) {
            None => self.rates.clone(),
            Some(c) => Rates {
                commission: c.commission.unwrap_or(self.rates.commission),
                cashback: c.cashback.unwrap_or(self.rates.cashback),
                referral: c.referral.unwrap_or(self.rates.referral),
            },
        }
    }

    /// Splits an order. `monthly_used` is the buyer's gross cashback already booked this month
    /// at this merchant in this currency; `has_referrer` decides whether a referral is earned.
    pub fn split(&self, lines: &[Line], has_referrer: bool, monthly_used: i64) -> Split {
        let (mut c, mut k, mut r) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for line in lines {
            let rates = self.rates_for(line.category.as_deref());
            c += rates.commission.times(line.amount_minor);
            k += rates.cashback.times(line.amount_minor);
            r += rates.referral.times(line.amount_minor);
        }
        let commission = to_i64(c.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven));
        let uncapped = to_i64(k.floor());
        let referral = if has_referrer { to_i64(r.floor()) } else { 0 };
        let mut cashback = uncapped;
        if let Some(cap) = self.per_order_cap {
            cashback = cashback.min(cap);
        }
        if let Some(cap) = self.monthly_cap_per_user {
            cashback = cashback.min((cap - monthly_used).max(0));
        }
        let parts = Components { commission, cashback, referral, platform: commission - cashback - referral };
        Split { parts, capped: cashback < uncapped }
    }

    /// What the buyer may still earn this month before the monthly cap, if there is one.
    pub fn monthly_cap_remaining(&self, monthly_used: i64) -> Option<i64> {
        self.monthly_cap_per_user.map(|cap| (cap - monthly_used).max(0))
    }
}

fn to_i64(d: Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    // Amounts are below 10^15 minor units and rates at most 1, so every product fits.
    d.trunc().to_i64().expect("amount fits in i64")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub category: Option<String>,
    pub amount_minor: i64,
}

/// The four parts of an order's commission, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Components {
    pub commission: i64,
    pub cashback: i64,
    pub referral: i64,
    pub platform: i64,
}

impl Components {
    pub fn minus(&self, o: &Components) -> Components {
        Components {
            commission: self.commission - o.commission,
            cashback: self.cashback - o.cashback,
            referral: self.referral - o.referral,
            platform: self.platform - o.platform,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub parts: Components,
    pub capped: bool,
}

/// round_half_even(x × f / a): what has been reversed of a component `x` once refunds total
/// `f` of an order of `a`. Exactly `x` when `f == a`, and monotone in `f`.
pub fn cumulative_reversal(x: i64, f: i64, a: i64) -> i64 {
    assert!(a > 0 && (0..=a).contains(&f) && x >= 0, "reversal outside the order");
    let num = x as i128 * f as i128;
    let (q, r) = (num / a as i128, num % a as i128);
    let up = match (2 * r).cmp(&(a as i128)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => q % 2 == 1,
        std::cmp::Ordering::Less => false,
    };
    (q + up as i128) as i64
}

/// Cumulative reversal of every component after refunds totalling `refunded` of `amount`;
/// the commission reversed is the sum of the other three, so every reversal balances.
pub fn reversed_after(booked: &Components, refunded: i64, amount: i64) -> Components {
    let cashback = cumulative_reversal(booked.cashback, refunded, amount);
    let referral = cumulative_reversal(booked.referral, refunded, amount);
    let platform = cumulative_reversal(booked.platform, refunded, amount);
    Components { commission: cashback + referral + platform, cashback, referral, platform }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn example_program() -> Program {
        let r = |s| Rate::parse(s).unwrap();
        let mut categories = BTreeMap::new();
        categories.insert(
            "food".to_string(),
            CategoryRates { commission: Some(r("0.10")), cashback: Some(r("0.05")), referral: None },
        );
        Program {
            currency: Currency::parse("CNY").unwrap(),
            rates: Rates { commission: r("0.20"), cashback: r("0.112"), referral: r("0.01") },
            hold_days: 7,
            per_order_cap: Some(50_000),
            monthly_cap_per_user: Some(200_000),
            categories,
        }
    }

    fn line(cat: Option<&str>, minor: i64) -> Line {
        Line { category: cat.map(str::to_string), amount_minor: minor }
    }

    #[test]
    fn worked_example_without_categories() {
        let s = example_program().split(&[line(None, 100_000)], true, 0);
        assert_eq!(s.parts, Components { commission: 20_000, cashback: 11_200, referral: 1_000, platform: 7_800 });
        assert!(!s.capped);
    }

    #[test]
    fn worked_example_with_a_food_line() {
        let s = example_program().split(&[line(Some("food"), 60_000), line(None, 40_000)], true, 0);
        assert_eq!(s.parts, Components { commission: 14_000, cashback: 7_480, referral: 1_000, platform: 5_520 });
    }

    #[test]
    fn refunds_of_300_then_700_reverse_the_contract_figures() {
        let booked = Components { commission: 20_000, cashback: 11_200, referral: 1_000, platform: 7_800 };
        let first = reversed_after(&booked, 30_000, 100_000);
        assert_eq!(first, Components { commission: 6_000, cashback: 3_360, referral: 300, platform: 2_340 });
        let second = reversed_after(&booked, 100_000, 100_000).minus(&first);
        assert_eq!(second, Components { commission: 14_000, cashback: 7_840, referral: 700, platform: 5_460 });
    }

    #[test]
    fn caps_cut_the_cashback_into_the_platform_share() {
        let p = example_program();
        let s = p.split(&[line(None, 1_000_000)], false, 0); // 10000.00: cashback 1120.00 > 500.00
        assert_eq!(s.parts.cashback, 50_000);
        assert_eq!(s.parts.platform, 200_000 - 50_000);
        assert!(s.capped);
        let s = p.split(&[line(None, 100_000)], false, 195_000); // 50.00 left this month
        assert_eq!(s.parts.cashback, 5_000);
        assert!(s.capped);
        let s = p.split(&[line(None, 100_000)], false, 250_000);
        assert_eq!(s.parts.cashback, 0);
        assert_eq!(p.monthly_cap_remaining(250_000), Some(0));
    }

    #[test]
    fn unfunded_programs_are_refused_in_total_and_per_category() {
        let mut p = example_program();
        assert!(p.check_funded().is_ok());
        p.categories.get_mut("food").unwrap().cashback = Some(Rate::parse("0.095").unwrap());
        assert!(matches!(p.check_funded(), Err(ProgramError::Unfunded { category: Some(_), .. })));
        let mut p = example_program();
        p.rates.referral = Rate::parse("0.1").unwrap();
        assert!(matches!(p.check_funded(), Err(ProgramError::Unfunded { category: None, .. })));
    }

    #[test]
    fn half_even_rounding_of_reversals() {
        assert_eq!(cumulative_reversal(1, 1, 2), 0); // 0.5 -> 0
        assert_eq!(cumulative_reversal(3, 1, 2), 2); // 1.5 -> 2
        assert_eq!(cumulative_reversal(5, 1, 2), 2); // 2.5 -> 2
        assert_eq!(cumulative_reversal(7, 7, 7), 7);
    }

    proptest! {
        #[test]
        fn split_parts_sum_to_the_commission_and_are_never_negative(
            amounts in prop::collection::vec(1i64..10_000_000, 1..5),
            food in prop::collection::vec(any::<bool>(), 5),
            has_ref in any::<bool>(),
            used in 0i64..300_000,
        ) {
            let lines: Vec<Line> = amounts.iter().zip(&food)
                .map(|(a, f)| line(f.then_some("food"), *a)).collect();
            let s = example_program().split(&lines, has_ref, used);
            let p = s.parts;
            prop_assert!(p.cashback >= 0 && p.referral >= 0 && p.platform >= 0);
            prop_assert_eq!(p.cashback + p.referral + p.platform, p.commission);
        }

        #[test]
        fn reversals_are_monotone_never_exceed_and_end_exactly(
            x in 0i64..1_000_000_000, a in 1i64..1_000_000_000, f1 in 0u32..=1000, f2 in 0u32..=1000,
        ) {
            let (lo, hi) = (f1.min(f2) as i64 * a / 1000, f1.max(f2) as i64 * a / 1000);
            let (r_lo, r_hi) = (cumulative_reversal(x, lo, a), cumulative_reversal(x, hi, a));
            prop_assert!(0 <= r_lo && r_lo <= r_hi && r_hi <= x);
            prop_assert_eq!(cumulative_reversal(x, a, a), x);
        }
    }
}
