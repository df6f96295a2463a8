//! Books kept in memory: the reference model for property tests and the quote path.

use super::engine::LedgerError;
use super::invariants::{EntryRow, PostingRow, Snapshot};
use super::ledger::{Account, Books, NewEntry};
use super::money::Currency;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct MemoryBooks {
    pub entries: Vec<(i64, NewEntry)>,
    pub balances: BTreeMap<(Currency, Account, String), i64>,
}

impl Books for MemoryBooks {
    type Error = LedgerError;

    fn balance(&mut self, currency: Currency, account: Account, owner: &str) -> Result<i64, LedgerError> {
        Ok(self.balances.get(&(currency, account, owner.to_string())).copied().unwrap_or(0))
    }

    fn append(&mut self, entry: &NewEntry) -> Result<i64, LedgerError> {
        let id = self.entries.len() as i64 + 1;
        for p in &entry.postings {
            *self.balances.entry((entry.currency, p.account, p.owner.clone())).or_default() += p.amount;
        }
        self.entries.push((id, entry.clone()));
        Ok(id)
    }
}

impl MemoryBooks {
    pub fn snapshot(&self, orders: Vec<super::engine::Order>) -> Snapshot {
        let mut s = Snapshot { balances: self.balances.clone(), orders, journal_guarded: true, ..Default::default() };
        let mut running: BTreeMap<(Currency, Account, String), i64> = BTreeMap::new();
        for (id, e) in &self.entries {
            s.entries.push(EntryRow {
                id: *id,
                kind: e.kind,
                currency: e.currency,
                merchant_id: e.merchant_id.clone(),
                order_id: e.order_id.clone(),
                reference: e.reference.clone(),
                program_version: e.program_version,
            });
            for p in &e.postings {
                let r = running.entry((e.currency, p.account, p.owner.clone())).or_default();
                *r += p.amount;
                s.postings.push(PostingRow {
                    id: s.postings.len() as i64 + 1,
                    balance_after: *r,
                    entry_id: *id,
                    account: p.account,
                    owner: p.owner.clone(),
                    currency: e.currency,
                    amount: p.amount,
                });
            }
        }
        s
    }
}
