//! The ledger core: money, rates, programs, postings, events and invariants. Pure: no actix,
//! no diesel, so it can be tested on its own and reasoned about in one place.

pub mod engine;
pub mod invariants;
pub mod ledger;
pub mod memory;
pub mod model;
pub mod money;
pub mod program;
pub mod rate;
pub mod time;

#[cfg(test)]
mod model_tests;
