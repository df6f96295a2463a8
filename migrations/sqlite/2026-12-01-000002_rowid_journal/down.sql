-- Back to BIGINT keys (the tables as the first migration made them).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE entries_old (
    id BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    merchant_id TEXT,
    order_id TEXT,
    reference TEXT
);
INSERT INTO entries_old SELECT id, kind, currency, occurred_at, recorded_at, merchant_id, order_id, reference FROM entries;
CREATE TABLE postings_old (
    id BIGINT PRIMARY KEY NOT NULL,
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    account TEXT NOT NULL,
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
    balance_after_minor BIGINT NOT NULL
);
INSERT INTO postings_old SELECT id, entry_id, account, owner, currency, amount_minor, balance_after_minor FROM postings;
DROP TABLE postings;
DROP TABLE entries;
ALTER TABLE entries_old RENAME TO entries;
ALTER TABLE postings_old RENAME TO postings;
CREATE INDEX entries_by_order ON entries (merchant_id, order_id);
CREATE INDEX entries_by_recorded ON entries (recorded_at, id);
CREATE INDEX postings_by_entry ON postings (entry_id);
CREATE INDEX postings_by_owner ON postings (owner, currency);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
COMMIT;
PRAGMA foreign_keys = ON;
