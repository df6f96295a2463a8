-- A posting names its account by a small number instead of its name: about 26 bytes less per
-- posting, a hundred per order (four postings), on both backends. No foreign key to `accounts`
-- (a check per posting, a trigger per row on PostgreSQL); a CHECK keeps codes in range.
-- SQLite cannot change a column's type: the table is rebuilt, with foreign keys off meanwhile
-- (outside a transaction) as in 2026-12-01-000002_rowid_journal. Nothing refers to postings.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE postings_new (
    id INTEGER PRIMARY KEY NOT NULL,
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    account_code INTEGER NOT NULL CHECK (account_code BETWEEN 1 AND 12),
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
    balance_after_minor BIGINT NOT NULL
);
INSERT INTO postings_new (id, entry_id, account_code, owner, currency, amount_minor, balance_after_minor)
    SELECT id, entry_id, CASE account
        WHEN 'assets:reserve' THEN 1
        WHEN 'assets:merchant-receivable' THEN 2
        WHEN 'assets:clawback-receivable' THEN 3
        WHEN 'liabilities:cashback:pending' THEN 4
        WHEN 'liabilities:cashback:available' THEN 5
        WHEN 'liabilities:cashback:held' THEN 6
        WHEN 'liabilities:cashback:withdrawing' THEN 7
        WHEN 'liabilities:merchant-payable' THEN 8
        WHEN 'equity:platform-funding' THEN 9
        WHEN 'income:platform-share' THEN 10
        WHEN 'income:withdrawal-fees' THEN 11
        WHEN 'expenses:clawback-losses' THEN 12
    END, owner, currency, amount_minor, balance_after_minor FROM postings;
DROP TABLE postings;
ALTER TABLE postings_new RENAME TO postings;
CREATE INDEX postings_by_entry ON postings (entry_id);
CREATE INDEX postings_by_owner ON postings (owner, currency);
-- The journal is append-only: corrections are new entries, never edits.
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
-- The ledger's accounts by number (src/domain/ledger.rs, `Account::code`). Codes are stable: never
-- reused or renumbered. Postings store the code; this table is for people reading the database.
CREATE TABLE accounts (
    code SMALLINT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO accounts (code, name) VALUES
    (1, 'assets:reserve'),
    (2, 'assets:merchant-receivable'),
    (3, 'assets:clawback-receivable'),
    (4, 'liabilities:cashback:pending'),
    (5, 'liabilities:cashback:available'),
    (6, 'liabilities:cashback:held'),
    (7, 'liabilities:cashback:withdrawing'),
    (8, 'liabilities:merchant-payable'),
    (9, 'equity:platform-funding'),
    (10, 'income:platform-share'),
    (11, 'income:withdrawal-fees'),
    (12, 'expenses:clawback-losses');
COMMIT;
PRAGMA foreign_keys = ON;
