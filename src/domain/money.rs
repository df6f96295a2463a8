//! Currencies and the money grammar of API.md §1. Amounts are carried as i64 minor units.

use std::fmt;

/// An ISO 4217 currency with its minor unit. Only obtainable by parsing a known code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

/// Active ISO 4217 codes with their minor units (funds, metals and testing codes left out:
/// they are not currencies a shop charges in).
#[rustfmt::skip]
const ISO_4217: &[(&str, u32)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3),
    ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2),
    ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHF", 2), ("CLP", 0),
    ("CNY", 2), ("COP", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2),
    ("FJD", 2), ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2),
    ("GNF", 0), ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2),
    ("IDR", 2), ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2),
    ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2),
    ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2),
    ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2),
    ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("UYU", 2), ("UZS", 2), ("VED", 2), ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2),
    ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0), ("YER", 2), ("ZAR", 2),
    ("ZMW", 2), ("ZWG", 2),
];

impl Currency {
    pub fn parse(code: &str) -> Option<Currency> {
        ISO_4217.iter().find(|(c, _)| *c == code).map(|&(code, minor_units)| Currency { code, minor_units })
    }
    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
    /// The smallest amount above zero, as text (`0.01` for CNY), for tolerances in exports.
    pub fn scale(&self) -> i64 {
        10_i64.pow(self.minor_units)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// The largest amount the grammar allows, in minor units.
pub const MAX_MINOR: i64 = 999_999_999_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a decimal string like \"12.50\"")]
    NotAString,
    #[error("amount {0:?} is not a decimal amount (digits, an optional '.', no sign, exponent or space)")]
    Grammar(String),
    #[error("amount {amount:?} has more than {minor_units} decimals for {currency}")]
    TooManyDecimals { amount: String, currency: &'static str, minor_units: u32 },
    #[error("amount {0:?} exceeds the largest amount (10^15 - 1 minor units)")]
    TooLarge(String),
    #[error("amount must be greater than zero")]
    Zero,
}

/// An amount that passed the currency-independent grammar; its decimals are judged once the
/// currency is known (API.md §1: an unknown currency is reported before the decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAmount {
    text: String,
    int_part: u64,
    frac: String,
}

impl RawAmount {
    pub fn parse(text: &str) -> Result<RawAmount, AmountError> {
        let bad = || AmountError::Grammar(text.to_string());
        let (int_s, frac_s) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        if int_s.is_empty()
            || int_s.len() > 15
            || !int_s.bytes().all(|b| b.is_ascii_digit())
            || (int_s.len() > 1 && int_s.starts_with('0'))
        {
            return Err(bad());
        }
        let frac = match frac_s {
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return Err(bad()),
            Some(f) => f.to_string(),
            None => String::new(),
        };
        Ok(RawAmount { text: text.to_string(), int_part: int_s.parse().map_err(|_| bad())?, frac })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The exact value, whatever the currency: lets sums be judged before the currency is.
    pub fn value(&self) -> Option<rust_decimal::Decimal> {
        self.text.parse().ok()
    }

    /// Minor units in `currency`; zero is allowed here, callers that need a positive amount use
    /// [`RawAmount::positive`].
    pub fn to_minor(&self, currency: Currency) -> Result<i64, AmountError> {
        let m = currency.minor_units() as usize;
        if self.frac.len() > m {
            return Err(AmountError::TooManyDecimals {
                amount: self.text.clone(),
                currency: currency.code(),
                minor_units: currency.minor_units(),
            });
        }
        let mut frac = self.frac.clone();
        while frac.len() < m {
            frac.push('0');
        }
        let frac_v: i128 = if frac.is_empty() { 0 } else { frac.parse().unwrap_or(0) };
        let v = self.int_part as i128 * 10_i128.pow(m as u32) + frac_v;
        if v > MAX_MINOR as i128 {
            return Err(AmountError::TooLarge(self.text.clone()));
        }
        Ok(v as i64)
    }

    pub fn positive(&self, currency: Currency) -> Result<i64, AmountError> {
        match self.to_minor(currency)? {
            0 => Err(AmountError::Zero),
            v => Ok(v),
        }
    }
}

/// Parses a positive amount in one step (for callers that already know the currency).
pub fn parse_positive(text: &str, currency: Currency) -> Result<i64, AmountError> {
    RawAmount::parse(text)?.positive(currency)
}

/// Prints minor units with exactly the currency's number of decimals.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    let mut s = String::with_capacity(24);
    write_minor(&mut s, minor, currency);
    s
}

/// [`format_minor`] into a buffer the caller reuses (the exports write millions; `itoa`
/// writes the digits without the formatting machinery, a twentieth of an export's time).
pub fn write_minor(out: &mut String, minor: i64, currency: Currency) {
    let m = currency.minor_units();
    if minor < 0 {
        out.push('-');
    }
    let abs = minor.unsigned_abs();
    let mut digits = itoa::Buffer::new();
    if m == 0 {
        out.push_str(digits.format(abs));
        return;
    }
    let scale = 10_u64.pow(m);
    out.push_str(digits.format(abs / scale));
    out.push('.');
    let frac = digits.format(abs % scale);
    for _ in frac.len()..m as usize {
        out.push('0');
    }
    out.push_str(frac);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap()
    }

    #[test]
    fn grammar_accepts_the_examples_of_the_contract() {
        assert_eq!(parse_positive("1000.00", cny()), Ok(100_000));
        assert_eq!(parse_positive("12.5", cny()), Ok(1250));
        assert_eq!(parse_positive("300", cny()), Ok(30_000));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(parse_positive("300", jpy), Ok(300));
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(parse_positive("1.234", kwd), Ok(1234));
    }

    #[test]
    fn grammar_rejects_what_the_contract_rejects() {
        for bad in ["", "-1", "+1", "1e3", " 1", "1 ", "01", "1.", ".5", "1,00", "0x10", "1.2.3"] {
            assert!(RawAmount::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(parse_positive("1.234", cny()), Err(AmountError::TooManyDecimals { .. })));
        assert!(parse_positive("1.0", Currency::parse("JPY").unwrap()).is_err());
        assert_eq!(parse_positive("0", cny()), Err(AmountError::Zero));
        assert_eq!(parse_positive("0.00", cny()), Err(AmountError::Zero));
        assert!(matches!(parse_positive("9999999999999.99", cny()), Ok(MAX_MINOR)));
        assert!(matches!(parse_positive("10000000000000.00", cny()), Err(AmountError::TooLarge(_))));
        assert!(RawAmount::parse("1000000000000000").is_err());
    }

    #[test]
    fn formats_exactly_the_minor_unit() {
        assert_eq!(format_minor(11_200, cny()), "112.00");
        assert_eq!(format_minor(-5, cny()), "-0.05");
        assert_eq!(format_minor(300, Currency::parse("JPY").unwrap()), "300");
        assert_eq!(format_minor(1, Currency::parse("KWD").unwrap()), "0.001");
    }

    #[test]
    fn unknown_codes_are_not_currencies() {
        assert!(Currency::parse("XXX").is_none());
        assert!(Currency::parse("cny").is_none());
    }
}
