//! Application services: one module per use case. Each write runs inside the one writer's
//! transaction; reads run on a pool connection. Data flows HTTP → here → domain → store.

pub mod catchup;
pub mod corrections;
pub mod cursor;
pub mod error;
pub mod exports;
pub mod hooks;
pub mod idem;
pub mod input;
pub mod merchants;
pub mod orders;
pub mod payouts;
pub mod programs;
pub mod reconcile;
pub mod redemptions;
pub mod reserve;
pub mod schema;
pub mod sessions;
pub mod users;
pub mod verify;
pub mod wallet;
pub mod withdrawals;

use crate::crypto::SecretBox;
use chrono_tz::Tz;

/// What every service needs besides a connection and the time.
#[derive(Clone, Debug)]
pub struct Services {
    pub tz: Tz,
    pub secrets: SecretBox,
}

/// Who asks for a change: a merchant (signed request) or an operator (admin token, named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Merchant(String),
    Operator(String),
}

/// A write's answer: created (201) or the remembered body of the first success (200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created(serde_json::Value),
    Done(serde_json::Value),
    Replayed(String),
}
