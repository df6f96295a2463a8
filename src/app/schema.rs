//! The grammar of `input` (API.md §1) as OpenAPI schemas, so that `/openapi.json` says what the
//! service accepts: a request the document allows is judged on its merits (2xx, 404, 409, 422),
//! never refused for its shape. schemathesis checks both directions in CI (`.ci/schemathesis`).
//!
//! JSON Schema regexes: no lookahead, `\uXXXX` for code points, so that Python (schemathesis) and
//! ECMA engines read them alike. Control characters are `char::is_control`: U+0000–U+001F and
//! U+007F–U+009F.

use crate::domain::ledger::Account;
use utoipa::openapi::schema::{
    AnyOfBuilder, Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};

/// Money, zero allowed: digits without a leading zero (at most 15), an optional fraction.
/// Decimals beyond the currency's are refused once the currency is known (`invalid_amount`).
pub const MONEY: &str = r"^(0|[1-9][0-9]{0,14})(\.[0-9]+)?$";
/// Money above zero.
pub const POSITIVE_MONEY: &str = r"^([1-9][0-9]{0,14}(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$";
/// A signed amount (adjustment postings): an optional '-', then money above zero.
pub const SIGNED_MONEY: &str = r"^-?([1-9][0-9]{0,14}(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$";
/// Client-chosen ids.
pub const CLIENT_ID: &str = r"^[A-Za-z0-9._:-]{1,64}$";
/// `order_id` and `refund_id`: printable characters (the length is `maxLength`).
pub const LONG_ID: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";
/// ISO 4217 shape; a code the service does not know is `currency_not_supported` (422).
pub const CURRENCY: &str = r"^[A-Z]{3}$";
/// A rate: 0 to 1, at most 6 decimals.
pub const RATE: &str = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$";
/// A reason on the ledger: printable, not only white space (`char::is_whitespace`, spelled out:
/// engines disagree on `\s`); the length is `maxLength`.
pub const TEXT: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$";
/// An operator's note: any characters, line breaks included, not only white space.
pub const NOTE: &str = r"^[\s\S]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]*$";
/// A merchant id: a client id without ':' (`<merchant>:<customer>` names a shop's customers).
pub const MERCHANT_ID: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// A signing secret: 1–512 printable characters.
pub const SECRET: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";
/// An entry id as the exports show it, as a string (a JSON integer is accepted too).
pub const ENTRY_ID: &str = r"^[1-9][0-9]{0,17}$";
const MAX_ENTRY_ID: i64 = 999_999_999_999_999_999;
/// A payout destination, `<scheme>:<account>`.
pub const DESTINATION: &str = r"^[a-z0-9-]+:[^\u0000-\u001f\u007f-\u009f]+$";

fn string(pattern: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).examples([example])
}

/// The same string, or `null` (an optional field).
fn nullable(mut o: Object) -> Object {
    o.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    o
}

pub fn money() -> Object {
    string(MONEY, "0.00").build()
}
pub fn opt_money() -> Object {
    nullable(money())
}
pub fn positive_money() -> Object {
    string(POSITIVE_MONEY, "100.00").build()
}
pub fn opt_positive_money() -> Object {
    nullable(positive_money())
}
pub fn signed_money() -> Object {
    string(SIGNED_MONEY, "-10.00").build()
}
pub fn client_id() -> Object {
    string(CLIENT_ID, "A1001").build()
}
pub fn opt_client_id() -> Object {
    nullable(client_id())
}
pub fn long_id() -> Object {
    string(LONG_ID, "A1001").max_length(Some(255)).build()
}
pub fn opt_long_id() -> Object {
    nullable(long_id())
}
pub fn currency() -> Object {
    string(CURRENCY, "CNY").build()
}
pub fn rate() -> Object {
    string(RATE, "0.2").build()
}
pub fn opt_rate() -> Object {
    nullable(rate())
}
pub fn text() -> Object {
    string(TEXT, "goodwill").max_length(Some(500)).build()
}
pub fn note() -> Object {
    string(NOTE, "bank transfer 2026-11-30").max_length(Some(500)).build()
}
pub fn note_200() -> Object {
    string(NOTE, "Demo Tea Shop").max_length(Some(200)).build()
}
pub fn merchant_id() -> Object {
    string(MERCHANT_ID, "shop-1").build()
}
pub fn secret() -> Object {
    string(SECRET, "whsec_…").max_length(Some(512)).build()
}
pub fn opt_secret() -> Object {
    nullable(secret())
}
pub fn destination() -> Object {
    string(DESTINATION, "alipay:13800000000").max_length(Some(200)).build()
}
/// A user's payout destinations: at most 10, each once.
pub fn opt_destinations() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(destination())
        .max_items(Some(crate::app::users::MAX_DESTINATIONS))
        .unique_items(true)
        .build()
}
/// The ledger's account names (API.md §6).
pub fn account() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(Account::ALL.map(Account::name)))
        .build()
}
pub fn entry_id() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Integer]))
        .pattern(Some(ENTRY_ID))
        .minimum(Some(1))
        .maximum(Some(MAX_ENTRY_ID))
        .examples(["42"])
        .build()
}
/// RFC 3339 with an offset.
pub fn timestamp() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .examples(["2026-11-21T10:00:00+08:00"])
        .build()
}
pub fn opt_timestamp() -> Object {
    nullable(timestamp())
}

/// A period bound (`from`, `to`): a date (00:00 of it in the business time zone) or an RFC 3339
/// instant.
pub fn period_bound() -> Schema {
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .examples(["2026-11-01"])
            .build(),
    )
}
/// A date (`as_of`, and the accounting formats' bounds).
pub fn date() -> Object {
    ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))).build()
}
/// An opaque paging cursor, as a previous page gave it out.
pub fn cursor() -> Object {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[A-Za-z0-9_-]+$")).build()
}
/// One of fixed words.
pub fn one_of(words: &[&str]) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(words.iter().copied())).build()
}
pub fn withdrawal_status() -> Object {
    one_of(&["requested", "processing", "paid", "rejected"])
}
pub fn csv_only() -> Object {
    one_of(&["csv"])
}
pub fn journal_format() -> Object {
    one_of(&["csv", "hledger", "beancount"])
}
pub fn class_only() -> Object {
    one_of(&["class"])
}

#[cfg(test)]
mod tests {
    //! The patterns must say exactly what the parsers accept: a looser pattern lets clients send
    //! what is refused, a stricter one hides what is accepted. Checked on strings drawn both
    //! from each pattern and from an alphabet of near misses.
    use super::*;
    use crate::app::input;
    use crate::domain::money::RawAmount;
    use crate::domain::rate::Rate;
    use proptest::prelude::*;

    fn matches(pattern: &str, max_chars: Option<usize>, s: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s) && max_chars.is_none_or(|m| s.chars().count() <= m)
    }

    /// Strings near the grammars: digits, signs, dots, id characters, spaces, controls, non-ASCII.
    fn near(pattern: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![
            "[-0-9.]{0,20}",
            "[-0-9a-zA-Z._: \\t\n\u{0}\u{1f}\u{7f}\u{85}\u{a0}\u{2000}\u{3000}\u{feff}é中]{0,70}",
            pattern.trim_start_matches('^').trim_end_matches('$'),
        ]
    }

    proptest! {
        #[test]
        fn money(s in near(MONEY)) {
            prop_assert_eq!(matches(MONEY, None, &s), RawAmount::parse(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn positive_money(s in near(POSITIVE_MONEY)) {
            let ok = RawAmount::parse(&s).ok().and_then(|a| a.value()).is_some_and(|v| v > rust_decimal::Decimal::ZERO);
            prop_assert_eq!(matches(POSITIVE_MONEY, None, &s), ok, "{:?}", s);
        }

        #[test]
        fn signed_money(s in near(SIGNED_MONEY)) {
            let rest = s.strip_prefix('-').unwrap_or(&s);
            let ok = RawAmount::parse(rest).ok().and_then(|a| a.value()).is_some_and(|v| v > rust_decimal::Decimal::ZERO);
            prop_assert_eq!(matches(SIGNED_MONEY, None, &s), ok, "{:?}", s);
        }

        #[test]
        fn ids(s in near(CLIENT_ID)) {
            prop_assert_eq!(matches(CLIENT_ID, None, &s), input::client_id("f", &s).is_ok(), "{:?}", s);
            prop_assert_eq!(matches(LONG_ID, Some(255), &s), input::long_id("f", &s).is_ok(), "{:?}", s);
            prop_assert_eq!(matches(MERCHANT_ID, None, &s), input::merchant_id("f", &s).is_ok(), "{:?}", s);
        }

        #[test]
        fn text(s in near(TEXT)) {
            prop_assert_eq!(matches(TEXT, Some(500), &s), input::text("f", &s, 500).is_ok(), "{:?}", s);
            prop_assert_eq!(matches(NOTE, Some(500), &s), input::note("f", &s, 500).is_ok(), "{:?}", s);
        }

        #[test]
        fn rates(s in near(RATE)) {
            prop_assert_eq!(matches(RATE, None, &s), Rate::parse(&s).is_ok(), "{:?}", s);
        }
    }

    #[test]
    fn edge_cases() {
        for (pattern, yes, no) in [
            (
                MONEY,
                &["0", "0.00", "10.5", "999999999999999.99"][..],
                &["", "00", "01", ".5", "5.", "-1", "1e3", " 1"][..],
            ),
            (POSITIVE_MONEY, &["0.01", "1", "0.0001"], &["0", "0.00", "00.1"]),
            (TEXT, &["a", " a ", "goodwill", "\u{feff}"], &["", "   ", "a\nb", "\u{85}", "\u{3000}"]),
            (NOTE, &["a", "line 1\nline 2", "\u{feff}"], &["", " \n\t", "\u{2028}"]),
            (MERCHANT_ID, &["demo-shop", "a.b_c"], &["a:b", ""]),
            (RATE, &["0", "1", "0.112", "1.000000"], &["1.1", "0.1234567", ".5", "2"]),
        ] {
            for s in yes {
                assert!(matches(pattern, None, s), "{pattern} refuses {s:?}");
            }
            for s in no {
                assert!(!matches(pattern, None, s), "{pattern} accepts {s:?}");
            }
        }
    }
}
