//! Rates: exact decimals in [0, 1] with at most 6 decimals (API.md §1).

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Rate(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate {0:?} is not a decimal between 0 and 1 with at most 6 decimals, like \"0.112\"")]
pub struct RateError(pub String);

impl Rate {
    pub const ZERO: Rate = Rate(Decimal::ZERO);

    /// Grammar `^(0|1|0\.[0-9]{1,6}|1\.0{1,6})$`.
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let err = || RateError(text.to_string());
        let ok = match text.split_once('.') {
            None => text == "0" || text == "1",
            Some(("0", f)) => (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()),
            Some(("1", f)) => (1..=6).contains(&f.len()) && f.bytes().all(|b| b == b'0'),
            _ => false,
        };
        if !ok {
            return Err(err());
        }
        Decimal::from_str(text).map(|d| Rate(d.normalize())).map_err(|_| err())
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    /// The exact product with an amount of minor units (not rounded).
    pub fn times(&self, minor: i64) -> Decimal {
        self.0 * Decimal::from(minor)
    }
}

impl std::ops::Add for Rate {
    type Output = Decimal;
    fn add(self, rhs: Rate) -> Decimal {
        self.0 + rhs.0
    }
}

/// Canonical form: no trailing zeros ("0.2", "0.112", "1", "0").
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_drops_trailing_zeros() {
        assert_eq!(Rate::parse("0.20").unwrap().to_string(), "0.2");
        assert_eq!(Rate::parse("0.112").unwrap().to_string(), "0.112");
        assert_eq!(Rate::parse("1.000").unwrap().to_string(), "1");
        assert_eq!(Rate::parse("0.000000").unwrap().to_string(), "0");
        assert_eq!(Rate::parse("0").unwrap(), Rate::ZERO);
    }

    #[test]
    fn rejects_outside_the_grammar() {
        for bad in ["", "1.1", "0.1234567", "-0.1", ".5", "0.", "2", "01", "0.1e1", " 0.1", "1.5"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
