//! Money parsing (API.md §1): never panics; whatever it accepts prints back to the same amount.
#![no_main]
use cashback::domain::money::{format_minor, Currency, RawAmount};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(raw) = RawAmount::parse(text) else { return };
    for code in ["CNY", "JPY", "KWD", "USD"] {
        let cur = Currency::parse(code).unwrap();
        if let Ok(minor) = raw.to_minor(cur) {
            assert!(minor >= 0 && minor < 1_000_000_000_000_000, "{text} in {code}: {minor}");
            let printed = format_minor(minor, cur);
            let again = RawAmount::parse(&printed).unwrap().to_minor(cur).unwrap();
            assert_eq!(again, minor, "{text} in {code} printed as {printed}");
        }
    }
});
