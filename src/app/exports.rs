//! Parameters of the finance exports (API.md §11): `from` inclusive, `to` exclusive, a date
//! meaning 00:00 of that day in the business time zone, `as_of=D` the end of day D.

use super::error::{err, ApiResult, Code};
use super::Services;
use crate::domain::time::start_of_day;
use crate::export::journal::Format;
use chrono::NaiveDate;

fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
}

/// A period bound; the accounting formats take dates only.
pub fn bound(field: &str, v: Option<&str>, format: Format, svc: &Services) -> ApiResult<Option<i64>> {
    let Some(v) = v else { return Ok(None) };
    if format != Format::Csv && parse_date(v).is_none() {
        return Err(err(
            Code::InvalidRequest,
            format!("{field}: hledger and beancount exports take dates (2026-11-01), not instants"),
        ));
    }
    super::corrections::bound(field, v, svc).map(Some)
}

/// The instant just after day `as_of` (the end of that day); now when absent.
pub fn as_of(v: Option<&str>, svc: &Services, now: i64) -> ApiResult<i64> {
    match v {
        None => Ok(now + 1),
        Some(v) => {
            let d = parse_date(v).ok_or_else(|| err(Code::InvalidRequest, "as_of must be a date (2026-11-30)"))?;
            Ok(start_of_day(d.succ_opt().unwrap_or(d), svc.tz))
        }
    }
}

pub fn format(v: Option<&str>) -> ApiResult<Format> {
    Format::parse(v.unwrap_or("csv"))
        .ok_or_else(|| err(Code::InvalidRequest, "format must be csv, hledger or beancount"))
}
