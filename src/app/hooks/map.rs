//! What a platform's delivery asks of the ledger, as steps in this service's own terms. Pure:
//! the same body always maps to the same steps; what is already booked is judged when they run.

use crate::app::error::Code;
use crate::app::orders::{LineIn, OrderIn};
use crate::domain::money::{format_minor, Currency, RawAmount};
use serde_json::Value;

/// One thing to book.
#[derive(Debug, Clone)]
pub enum Step {
    /// Book the order (skipped when it is booked already).
    Order(OrderIn),
    /// A refund of `amount_minor`, capped when it runs at what is left of the order.
    Refund { order_id: String, refund_id: String, currency: Currency, amount_minor: i64, refunded_at: Option<String> },
    /// Reverse what is left. `wait_if_unknown`: an order never booked here is normal (unpaid,
    /// or its payment still to come): the delivery waits for it instead of raising an exception.
    Cancel { order_id: String, wait_if_unknown: bool },
}

#[derive(Debug, Clone)]
pub enum Mapped {
    /// Acknowledged, nothing to book (another topic, a guest, shipping-only refunds).
    Ignore(String),
    Steps {
        order_ref: String,
        steps: Vec<Step>,
    },
    /// Signed, but not something this service can read: parked as an exception.
    Invalid {
        order_ref: Option<String>,
        code: Code,
        detail: String,
    },
}

pub fn invalid(order_ref: Option<&str>, code: Code, detail: impl Into<String>) -> Mapped {
    Mapped::Invalid { order_ref: order_ref.map(str::to_string), code, detail: detail.into() }
}

/// An id as the platform sends it: a JSON integer (exact, also above 2^53) or a string.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Money in a hook: a string (or a number) in the currency, where trailing zeros beyond the
/// minor unit are accepted ("2000.0" JPY) and a non-zero digit there is refused. In minor units;
/// a sign is refused (see `magnitude` for WooCommerce's negative refund totals).
pub fn money(field: &str, v: &Value, cur: Currency) -> Result<i64, (Code, String)> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err((Code::InvalidAmount, format!("{field} is not an amount"))),
    };
    let bad = || (Code::InvalidAmount, format!("{field} {text:?} is not an amount in {cur}"));
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let m = cur.minor_units() as usize;
    let trimmed = match text.split_once('.') {
        Some((int, frac)) if frac.len() > m => {
            if frac[m..].bytes().any(|b| b != b'0') {
                return Err((Code::InvalidAmount, format!("{field} {text:?} has more decimals than {cur} has")));
            }
            if m == 0 {
                int.to_string()
            } else {
                format!("{int}.{}", &frac[..m])
            }
        }
        _ => text.clone(),
    };
    RawAmount::parse(&trimmed).and_then(|r| r.to_minor(cur)).map_err(|_| bad())
}

/// The size of a signed amount ("-10.00" is 10.00): WooCommerce writes refund totals negative.
pub fn magnitude(field: &str, v: &Value, cur: Currency) -> Result<i64, (Code, String)> {
    match v.as_str().map(str::trim) {
        Some(s) if s.starts_with('-') => money(field, &Value::String(s[1..].to_string()), cur),
        _ => money(field, v, cur),
    }
}

pub fn currency(field: &str, v: &Value) -> Result<Currency, (Code, String)> {
    let code = v.as_str().unwrap_or_default();
    Currency::parse(code)
        .ok_or_else(|| (Code::CurrencyNotSupported, format!("{field} {code:?} is not an ISO 4217 code")))
}

/// A product type or category as a program category: lower case, runs of anything outside
/// the id grammar turned into one '-', at most 64 characters; none when nothing is left.
pub fn category(v: &Value) -> Option<String> {
    let raw = v.as_str()?.trim().to_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(64).collect();
    (!out.is_empty()).then_some(out)
}

/// An order in the checkout hook's own shape, so it is validated exactly like `POST /v1/orders`.
pub fn order_in(
    order_id: String,
    user_id: String,
    cur: Currency,
    amount: i64,
    paid_at: String,
    lines: Option<Vec<(String, i64, Option<String>)>>,
) -> OrderIn {
    let text = |minor: i64| Value::String(format_minor(minor, cur));
    OrderIn {
        order_id,
        user_id,
        currency: cur.code().to_string(),
        amount: text(amount),
        paid_at,
        lines: lines
            .map(|ls| ls.into_iter().map(|(sku, a, category)| LineIn { sku, amount: text(a), category }).collect()),
    }
}

/// value × part ÷ whole, rounded half-even to a minor unit (`value` when `whole` is 0). In
/// i128: amounts are below 10^15 minor units, so the product cannot overflow.
pub fn prorate(value: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return value;
    }
    let (n, d) = (value as i128 * part as i128, whole as i128);
    let (q, r) = (n / d, n % d);
    let up = 2 * r > d || (2 * r == d && q % 2 != 0);
    i64::try_from(q + i128::from(up)).unwrap_or(value)
}

/// A body of tests/fixtures (copied from ../shared/fixtures), parsed.
#[cfg(test)]
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proration_rounds_half_even() {
        assert_eq!(prorate(1000, 2900, 3900), 744);
        assert_eq!(prorate(900, 2900, 3900), 669);
        assert_eq!(prorate(5, 1, 2), 2);
        assert_eq!(prorate(15, 1, 2), 8);
        assert_eq!(prorate(7, 3, 0), 7);
    }

    #[test]
    fn hook_money_takes_zeros_beyond_the_minor_unit_only() {
        let jpy = Currency::parse("JPY").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(money("a", &json!("2000.0"), jpy), Ok(2000));
        assert_eq!(money("a", &json!("2000.00"), jpy), Ok(2000));
        assert!(money("a", &json!("2000.5"), jpy).is_err());
        assert_eq!(money("a", &json!("20.0"), usd), Ok(2000));
        assert_eq!(money("a", &json!("20"), usd), Ok(2000));
        assert_eq!(money("a", &json!("20.100"), usd), Ok(2010));
        assert!(money("a", &json!("20.101"), usd).is_err());
        assert!(money("a", &json!("-10.00"), usd).is_err(), "no sign outside refund totals");
        assert_eq!(magnitude("a", &json!("-10.00"), usd), Ok(1000));
        assert!(money("a", &json!("1.1€"), usd).is_err(), "no panic on a multi-byte character");
        assert!(money("a", &json!("1.€00"), jpy).is_err());
        assert_eq!(money("a", &json!(89.99), usd), Ok(8999));
        assert!(money("a", &json!(null), usd).is_err());
    }

    #[test]
    fn ids_stay_exact_above_two_to_the_fifty_third() {
        let v: Value = serde_json::from_str(r#"{"id": 820982911946154508}"#).unwrap();
        assert_eq!(id_text(&v["id"]).unwrap(), "820982911946154508");
        assert_eq!(id_text(&json!("abc")).unwrap(), "abc");
        assert_eq!(id_text(&json!(null)), None);
    }

    #[test]
    fn product_types_become_categories() {
        assert_eq!(category(&json!("Gift Card")).as_deref(), Some("gift-card"));
        assert_eq!(category(&json!("  Food & Drink ")).as_deref(), Some("food-drink"));
        assert_eq!(category(&json!("")), None);
        assert_eq!(category(&json!(null)), None);
    }
}
