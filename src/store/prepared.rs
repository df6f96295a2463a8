//! PostgreSQL: a fixed SQL text with bound values that the connection keeps prepared.
//!
//! Diesel's `sql_query` is never cached: its text could be built at run time, so every call
//! sends Parse, and PostgreSQL plans it again at Bind. For the batch's read-ahead and its
//! one-statement write, both long CTE texts, that was 0.5 to 1 ms a batch, as much as running
//! them (`log_min_duration_statement = 0`, 2026-12-04). A [`Fixed`] query is the same text every
//! time, so diesel's statement cache keeps it prepared under its text: Parse is sent once, and
//! the writer's connection plans it once too (`conn::WRITER_PG_SETTINGS`: generic plans, which
//! only index lookups may win).
//!
//! Guarantees:
//! - The text is a `&'static str`: nothing built at run time reaches the prepared statement.
//! - `$N` in the text is the N-th bound value, and may appear more than once; [`Fixed::bind`]
//!   must be called once per N, in order (checked when the query is built into SQL).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

pub struct Fixed<'f> {
    sql: &'static str,
    binds: Vec<Box<dyn QueryFragment<Pg> + Send + 'f>>,
}

struct Bind<ST, U> {
    value: U,
    st: PhantomData<ST>,
}

impl<ST, U: ToSql<ST, Pg>> QueryFragment<Pg> for Bind<ST, U>
where
    Pg: HasSqlType<ST>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, U>(&self.value)
    }
}

impl<'f> Fixed<'f> {
    pub fn new(sql: &'static str) -> Fixed<'f> {
        Fixed { sql, binds: Vec::new() }
    }

    /// Binds the next `$N`.
    pub fn bind<ST: Send + 'f, U: ToSql<ST, Pg> + Send + 'f>(mut self, value: U) -> Self
    where
        Pg: HasSqlType<ST>,
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

impl QueryFragment<Pg> for Fixed<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
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

impl QueryId for Fixed<'_> {
    type QueryId = ();
    // Cached by its text (diesel's `StatementCacheKey::Sql`), not by a type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Fixed<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Fixed<'_> {}

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
