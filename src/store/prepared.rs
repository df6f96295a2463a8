//! A fixed SQL text with bound values that the connection keeps prepared.
//!
//! Diesel's `sql_query` is never cached: its text could be built at run time, so every call
//! sends Parse, and PostgreSQL plans it again at Bind. For the batch's read-ahead and its
//! one-statement write, both long CTE texts, that was 0.5 to 1 ms a batch, as much as running
//! them (`log_min_duration_statement = 0`, 2026-12-04). A [`Fixed`] query is the same text every
//! time, so diesel's statement cache keeps it prepared under its text: Parse is sent once, and
//! the writer's connection plans it once too (`conn::WRITER_PG_SETTINGS`: generic plans, which
//! only index lookups may win).
//!
//! SQLite: diesel never caches an `UPDATE` either (a changeset may skip its `None` fields, so
//! its text could change), so each was parsed and planned again: the writer's balance and order
//! updates were about 4% of its time over HTTP (perf, 2026-12-07). Written as [`Fixed`], each is
//! prepared once per connection.
//!
//! Guarantees:
//! - The text is a `&'static str`: nothing built at run time reaches the prepared statement.
//! - `$N` in the text is the N-th bound value, and may appear more than once; [`Fixed::bind`]
//!   must be called once per N, in order (checked when the query is built into SQL). Each
//!   backend writes its own placeholder there (`$N` on PostgreSQL, `?` on SQLite, the value
//!   bound again where `$N` repeats).

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

pub struct Fixed<'f, DB: Backend> {
    sql: &'static str,
    binds: Vec<Box<dyn QueryFragment<DB> + Send + 'f>>,
}

struct Bind<ST, U> {
    value: U,
    st: PhantomData<ST>,
}

impl<DB: Backend, ST, U: ToSql<ST, DB>> QueryFragment<DB> for Bind<ST, U>
where
    DB: HasSqlType<ST>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_bind_param::<ST, U>(&self.value)
    }
}

impl<'f, DB: Backend> Fixed<'f, DB> {
    pub fn new(sql: &'static str) -> Fixed<'f, DB> {
        Fixed { sql, binds: Vec::new() }
    }

    /// Binds the next `$N`.
    pub fn bind<ST: Send + 'f, U: ToSql<ST, DB> + Send + 'f>(mut self, value: U) -> Self
    where
        DB: HasSqlType<ST>,
    {
        self.binds.push(Box::new(Bind { value, st: PhantomData::<ST> }));
        self
    }
}

/// The text split at its placeholders: (text before, N) pairs, then the text after the last.
fn pieces(sql: &str) -> (Vec<(&str, usize)>, &str) {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            // Not a placeholder (no such text in the statements here, but keep it literal).
            let (before, after) = rest.split_at(at + 1);
            out.push((before, 0));
            rest = after;
            continue;
        }
        let n: usize = rest[at + 1..at + 1 + digits].parse().expect("digits");
        out.push((&rest[..at], n));
        rest = &rest[at + 1 + digits..];
    }
    (out, rest)
}

impl<DB: Backend> QueryFragment<DB> for Fixed<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let (parts, tail) = pieces(self.sql);
        for (text, n) in parts {
            out.push_sql(text);
            if n == 0 {
                continue;
            }
            let bind = self
                .binds
                .get(n - 1)
                .ok_or_else(|| diesel::result::Error::QueryBuilderError(format!("${n} has no bound value").into()))?;
            bind.walk_ast(out.reborrow())?;
        }
        out.push_sql(tail);
        Ok(())
    }
}

impl<DB: Backend> QueryId for Fixed<'_, DB> {
    type QueryId = ();
    // Cached by its text (diesel's `StatementCacheKey::Sql`), not by a type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> Query for Fixed<'_, DB> {
    type SqlType = Untyped;
}

impl<Conn, DB: Backend> RunQueryDsl<Conn> for Fixed<'_, DB> {}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn placeholders_split_the_text_and_may_repeat() {
        let (parts, tail) = pieces("SELECT $1::int + $2, $1 WHERE x = '$'");
        let got: Vec<(&str, usize)> = parts;
        assert_eq!(got, vec![("SELECT ", 1), ("::int + ", 2), (", ", 1), (" WHERE x = '$", 0)]);
        assert_eq!(tail, "'");
    }
}
