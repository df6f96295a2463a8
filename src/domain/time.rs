//! Timestamps: unix seconds inside, RFC 3339 in the business time zone's offset outside.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Parses RFC 3339 with an offset, truncated to whole seconds.
pub fn parse_ts(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp())
}

pub fn format_ts(ts: i64, tz: Tz) -> String {
    tz.timestamp_opt(ts, 0).single().map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)).unwrap_or_default()
}

/// The calendar month of the business time zone holding `ts`: [start, end) in unix seconds.
pub fn month_bounds(ts: i64, tz: Tz) -> (i64, i64) {
    let local = tz.timestamp_opt(ts, 0).single().expect("valid timestamp").date_naive();
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("valid date");
    let next = if local.month() == 12 {
        NaiveDate::from_ymd_opt(local.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(local.year(), local.month() + 1, 1)
    }
    .expect("valid date");
    (start_of_day(first, tz), start_of_day(next, tz))
}

/// 00:00 of a date in the business time zone (the first instant of the day when a
/// daylight-saving change skips midnight).
pub fn start_of_day(d: NaiveDate, tz: Tz) -> i64 {
    let midnight = d.and_hms_opt(0, 0, 0).expect("midnight");
    // Where a daylight-saving change skips midnight, the day starts when the gap ends.
    (0..=4 * 60)
        .step_by(15)
        .find_map(|m| tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m))).earliest())
        .map(|x| x.timestamp())
        .unwrap_or_else(|| tz.from_utc_datetime(&midnight).timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_the_business_zone_and_truncates_input() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let t = parse_ts("2026-11-21T02:00:00.9Z").unwrap();
        assert_eq!(format_ts(t, tz), "2026-11-21T10:00:00+08:00");
        assert!(parse_ts("2026-11-21T10:00:00").is_none());
    }

    #[test]
    fn months_follow_the_business_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-11-30T17:00Z is already December in Shanghai.
        let t = parse_ts("2026-11-30T17:00:00Z").unwrap();
        let (a, b) = month_bounds(t, tz);
        assert_eq!(format_ts(a, tz), "2026-12-01T00:00:00+08:00");
        assert_eq!(format_ts(b, tz), "2027-01-01T00:00:00+08:00");
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_gap_ends() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2024-09-08.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2024, 9, 8).unwrap();
        assert_eq!(format_ts(start_of_day(d, tz), tz), "2024-09-08T01:00:00-03:00");
    }
}
