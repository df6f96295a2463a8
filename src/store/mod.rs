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
pub use writer::{nested, WriteError, Writer};
