CREATE INDEX postings_by_account ON postings (account, owner, currency);
DROP INDEX balances_by_owner;
