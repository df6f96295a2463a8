//! The service's clock. Tests move it forward to reach release dates and expiries, or freeze
//! it for byte-stable exports; the signature window and every time-driven transition read the
//! same clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
    /// When set (non-zero), time stands still at this instant (plus any advance).
    frozen_at: Arc<AtomicI64>,
}

impl Clock {
    /// A clock that stands still at `at` until advanced.
    pub fn frozen(at: i64) -> Clock {
        let c = Clock::default();
        c.frozen_at.store(at, Ordering::SeqCst);
        c
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        let base = match self.frozen_at.load(Ordering::SeqCst) {
            0 => chrono::Utc::now().timestamp(),
            t => t,
        };
        base + self.offset_seconds.load(Ordering::SeqCst)
    }

    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}
