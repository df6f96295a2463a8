-- Back to account names.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE postings_new (
    id INTEGER PRIMARY KEY NOT NULL,
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    account TEXT NOT NULL,
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
    balance_after_minor BIGINT NOT NULL
);
INSERT INTO postings_new (id, entry_id, account, owner, currency, amount_minor, balance_after_minor)
    SELECT id, entry_id, CASE account_code
        WHEN 1 THEN 'assets:reserve'
        WHEN 2 THEN 'assets:merchant-receivable'
        WHEN 3 THEN 'assets:clawback-receivable'
        WHEN 4 THEN 'liabilities:cashback:pending'
        WHEN 5 THEN 'liabilities:cashback:available'
        WHEN 6 THEN 'liabilities:cashback:held'
        WHEN 7 THEN 'liabilities:cashback:withdrawing'
        WHEN 8 THEN 'liabilities:merchant-payable'
        WHEN 9 THEN 'equity:platform-funding'
        WHEN 10 THEN 'income:platform-share'
        WHEN 11 THEN 'income:withdrawal-fees'
        WHEN 12 THEN 'expenses:clawback-losses'
    END, owner, currency, amount_minor, balance_after_minor FROM postings;
DROP TABLE postings;
ALTER TABLE postings_new RENAME TO postings;
CREATE INDEX postings_by_entry ON postings (entry_id);
CREATE INDEX postings_by_owner ON postings (owner, currency);
-- The journal is append-only: corrections are new entries, never edits.
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
DROP TABLE accounts;
COMMIT;
PRAGMA foreign_keys = ON;
