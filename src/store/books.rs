//! The ledger's books in the database: the engine's [`Books`] over a write connection.

use super::conn::DbConn;
use super::schema::{balances, entries, postings};
use crate::domain::engine::LedgerError;
use crate::domain::ledger::{Account, Books, NewEntry};
use crate::domain::money::Currency;
use diesel::prelude::*;

/// Books inside the writer's transaction; `now` is the booking time (`recorded_at`).
pub struct DbBooks<'a> {
    pub conn: &'a mut DbConn,
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

pub fn balance_of(conn: &mut DbConn, currency: Currency, account: Account, owner: &str) -> QueryResult<i64> {
    balances::table
        .find((currency.code(), account.name(), owner))
        .select(balances::balance_minor)
        .first(conn)
        .optional()
        .map(|b| b.unwrap_or(0))
}

/// Ids are allocated by the one writer, under its transaction, so they never collide; a
/// rolled-back savepoint leaves no gap because the next id is read again.
fn next_id<T>(conn: &mut DbConn, max: T) -> QueryResult<i64>
where
    T: diesel::query_dsl::LoadQuery<'static, DbConn, Option<i64>>,
{
    Ok(max.get_result::<Option<i64>>(conn)?.unwrap_or(0) + 1)
}

impl Books for DbBooks<'_> {
    type Error = BooksError;

    fn balance(&mut self, currency: Currency, account: Account, owner: &str) -> Result<i64, BooksError> {
        Ok(balance_of(self.conn, currency, account, owner)?)
    }

    fn append(&mut self, e: &NewEntry) -> Result<i64, BooksError> {
        let id = next_id(self.conn, entries::table.select(diesel::dsl::max(entries::id)))?;
        diesel::insert_into(entries::table)
            .values((
                entries::id.eq(id),
                entries::kind.eq(e.kind.as_str()),
                entries::currency.eq(e.currency.code()),
                entries::occurred_at.eq(e.occurred_at),
                entries::recorded_at.eq(self.now),
                entries::merchant_id.eq(&e.merchant_id),
                entries::order_id.eq(&e.order_id),
                entries::reference.eq(&e.reference),
            ))
            .execute(self.conn)?;
        let first_posting = next_id(self.conn, postings::table.select(diesel::dsl::max(postings::id)))?;
        for (pid, p) in (first_posting..).zip(&e.postings) {
            let key = (e.currency.code(), p.account.name(), p.owner.as_str());
            let old: Option<i64> =
                balances::table.find(key).select(balances::balance_minor).first(self.conn).optional()?;
            let new = old.unwrap_or(0) + p.amount;
            match old {
                Some(_) => {
                    diesel::update(balances::table.find(key)).set(balances::balance_minor.eq(new)).execute(self.conn)?
                }
                None => diesel::insert_into(balances::table)
                    .values((
                        balances::currency.eq(key.0),
                        balances::account.eq(key.1),
                        balances::owner.eq(key.2),
                        balances::balance_minor.eq(new),
                    ))
                    .execute(self.conn)?,
            };
            diesel::insert_into(postings::table)
                .values((
                    postings::id.eq(pid),
                    postings::entry_id.eq(id),
                    postings::account.eq(p.account.name()),
                    postings::owner.eq(&p.owner),
                    postings::currency.eq(e.currency.code()),
                    postings::amount_minor.eq(p.amount),
                    postings::balance_after_minor.eq(new),
                ))
                .execute(self.conn)?;
        }
        Ok(id)
    }
}
