//! A per-merchant request rate limit (429 `rate_limited` with `Retry-After`): a token bucket
//! per merchant, refilled continuously, so one shop's burst cannot starve the others.

use crate::app::error::{err, ApiError, Code};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, f64)>>,
}

impl RateLimit {
    /// `per_second` requests on average, up to `burst` at once; 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        RateLimit { per_second: per_second as f64, burst: burst.max(1) as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `merchant` at `now` (seconds, fractional).
    pub fn check(&self, merchant: &str, now: f64) -> Result<(), ApiError> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut b = self.buckets.lock().expect("rate limit lock");
        let (tokens, at) = b.entry(merchant.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + (now - *at).max(0.0) * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *tokens) / self.per_second).ceil().max(1.0);
        Err(err(
            Code::RateLimited,
            format!("over {} requests per second for this merchant; retry in {wait} s", self.per_second),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate() {
        let l = RateLimit::new(2, 3);
        for _ in 0..3 {
            assert!(l.check("m1", 100.0).is_ok());
        }
        assert_eq!(l.check("m1", 100.0).unwrap_err().code, Code::RateLimited);
        assert!(l.check("m2", 100.0).is_ok(), "buckets are per merchant");
        assert!(l.check("m1", 100.5).is_ok());
        assert!(l.check("m1", 100.5).is_err());
        assert!(RateLimit::new(0, 0).check("m1", 0.0).is_ok());
    }
}
