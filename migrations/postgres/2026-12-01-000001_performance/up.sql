-- Performance (issue 5). A wallet's balances are looked up by owner: without this index every
-- wallet read scanned the whole balances table.
CREATE INDEX balances_by_owner ON balances (owner);
-- No query looks postings up by account first (a user's history goes by owner, the journal by
-- entry); the index cost about 200 bytes and four index writes per order.
DROP INDEX postings_by_account;
