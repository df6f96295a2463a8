//! Opaque paging cursors: the position of the last item shown, as URL-safe base64 of JSON, so
//! a page never shifts when newer items are booked.

use super::error::{err, ApiResult, Code};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{de::DeserializeOwned, Serialize};

pub fn encode<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).expect("cursor serializes"))
}

pub fn decode<T: DeserializeOwned>(cursor: &str) -> ApiResult<T> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| err(Code::InvalidRequest, "cursor is not one this service gave out"))
}

/// `limit`: `default` when absent, 1..=`max` otherwise (400 beyond).
pub fn limit(given: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(err(Code::InvalidRequest, format!("limit must be between 1 and {max}"))),
    }
}
