//! Black-box HTTP tests through `spawn_app()`. They run on SQLite; with TEST_DATABASE_URL
//! set (a PostgreSQL role that may CREATE DATABASE), every test runs on PostgreSQL instead.

mod admin;
mod backup;
mod checkout;
mod clawback;
mod corrections;
mod crash;
mod e2e;
mod errors;
mod exports;
mod group_commit;
mod helpers;
mod hooks;
mod idempotency;
mod ops;
mod pages;
mod races;
mod redemptions;
mod schema;
mod simulate;
mod wallet;
