//! Parsing what clients send into domain values: ids, money fields, currencies, timestamps.
//! Shape and grammar errors are 400; an unknown currency is 422 and is judged before any
//! amount's decimals (API.md §1).

use super::error::{err, ApiResult, Code};
use crate::domain::money::{Currency, RawAmount};
use crate::domain::time::parse_ts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Parses a JSON body into `T` (whose serde attributes reject unknown fields). An empty body
/// or `null` is `{}`: for the calls whose every field is optional it means "nothing to set".
pub fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let blank = body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null";
    let body = if blank { b"{}".as_slice() } else { body };
    // serde would also read a struct from a JSON array; the API takes objects only.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(err(Code::InvalidRequest, "the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| err(Code::InvalidRequest, format!("invalid JSON body: {e}")))
}

/// A JSON integer, also written with a zero fraction (`7.0`): JSON Schema counts both as
/// integers, and so does the document.
pub fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    let v = n
        .as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number")))?;
    T::try_from(v).map_err(|_| D::Error::custom(format!("{n} is out of range")))
}

/// The same for an optional field.
pub fn opt_whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(serde::Deserialize)]
    struct W<T: TryFrom<i64>>(#[serde(deserialize_with = "whole_number")] T);
    Option::<W<T>>::deserialize(d).map(|o| o.map(|w| w.0))
}

/// A client-chosen id: 1–64 characters of `[A-Za-z0-9._:-]`.
pub fn client_id(field: &str, v: &str) -> ApiResult<String> {
    let ok = (1..=64).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !ok {
        return Err(err(Code::InvalidRequest, format!("{field} must be 1-64 characters of A-Z a-z 0-9 . _ : -")));
    }
    Ok(v.to_string())
}

/// A merchant id: a client id without ':' (`<merchant_id>:<customer id>` names a shop's own
/// customers; a ':' would make that ambiguous).
pub fn merchant_id(field: &str, v: &str) -> ApiResult<String> {
    let id = client_id(field, v)?;
    if id.contains(':') {
        return Err(err(Code::InvalidRequest, format!("{field} may not contain ':'")));
    }
    Ok(id)
}

/// `order_id` and `refund_id`: 1–255 printable characters.
pub fn long_id(field: &str, v: &str) -> ApiResult<String> {
    let n = v.chars().count();
    if !(1..=255).contains(&n) || v.chars().any(|c| c.is_control()) {
        return Err(err(Code::InvalidRequest, format!("{field} must be 1-255 printable characters")));
    }
    Ok(v.to_string())
}

/// A required money field's grammar, before its currency is known. `null` or a JSON number
/// is `invalid_amount`.
pub fn money(field: &str, v: &Value) -> ApiResult<RawAmount> {
    match v {
        Value::String(s) => RawAmount::parse(s).map_err(|e| err(Code::InvalidAmount, format!("{field}: {e}"))),
        Value::Null => Err(err(Code::InvalidAmount, format!("{field} is required"))),
        _ => Err(err(
            Code::InvalidAmount,
            format!("{field} must be a decimal string like \"12.50\", not a JSON {}", kind(v)),
        )),
    }
}

/// An optional money field: absent or `null` takes its default.
pub fn opt_money(field: &str, v: &Option<Value>) -> ApiResult<Option<RawAmount>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => money(field, v).map(Some),
    }
}

/// A positive amount in a known currency.
pub fn positive(field: &str, raw: &RawAmount, cur: Currency) -> ApiResult<i64> {
    raw.positive(cur).map_err(|e| err(Code::InvalidAmount, format!("{field}: {e}")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "value",
    }
}

/// A reason on the ledger (adjustments, write-offs, settlements): 1 to `max` printable
/// characters, not only spaces.
pub fn text(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(err(Code::InvalidRequest, format!("{field} must be 1-{max} printable characters")));
    }
    Ok(())
}

/// An operator's note (deposit references, a withdrawal's payment reference or rejection
/// reason, a merchant's name): 1 to `max` characters, line breaks allowed, not only spaces.
pub fn note(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.trim().is_empty() || v.chars().count() > max {
        return Err(err(Code::InvalidRequest, format!("{field} must be 1-{max} characters, not only spaces")));
    }
    Ok(())
}

/// A signing secret: 1–512 printable characters.
pub fn secret(field: &str, s: &str) -> ApiResult<()> {
    if s.is_empty() || s.chars().count() > 512 || s.chars().any(char::is_control) {
        return Err(err(Code::InvalidRequest, format!("{field} must be 1-512 printable characters")));
    }
    Ok(())
}

pub fn currency(code: &str) -> ApiResult<Currency> {
    Currency::parse(code)
        .ok_or_else(|| err(Code::CurrencyNotSupported, format!("{code:?} is not an ISO 4217 currency code")))
}

pub fn timestamp(field: &str, v: &str) -> ApiResult<i64> {
    parse_ts(v).ok_or_else(|| {
        err(
            Code::InvalidRequest,
            format!("{field} must be an RFC 3339 timestamp with an offset, like 2026-11-21T10:00:00+08:00"),
        )
    })
}
