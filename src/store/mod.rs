//! The database layer: connections, schema, the one writer, and the queries. Diesel stays
//! in here; the rest of the program sees rows turned into domain types.

mod ahead;
pub mod books;
mod bulk;
pub mod conn;
pub mod hooks;
pub mod journal;
pub mod prefetch;
mod prepared;
pub mod repo;
pub mod savepoint;
pub mod schema;
pub mod writer;

pub use conn::{DbConn, DbPool, DbUrl, StoreError};

/// The writer's two PostgreSQL statements run on every batch (the read-ahead and the batch's
/// write), named, for the schema test that checks how they are planned.
pub const WRITER_STATEMENTS: [(&str, &str); 2] = [("read-ahead", ahead::SQL), ("batch write", bulk::SQL)];
pub use writer::{nested, WriteError, Writer};
