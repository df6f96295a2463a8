-- A posting names its account by a small number instead of its name: about 26 bytes less per
-- posting, a hundred per order (four postings), on both backends. No foreign key to `accounts`
-- (a check per posting, a trigger per row on PostgreSQL); a CHECK keeps codes in range.
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
-- Rewriting the table's rows is not an UPDATE: the append-only triggers do not fire.
ALTER TABLE postings ALTER COLUMN account TYPE SMALLINT USING (CASE account
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
    END);
ALTER TABLE postings RENAME COLUMN account TO account_code;
ALTER TABLE postings ADD CONSTRAINT postings_account_code CHECK (account_code BETWEEN 1 AND 12);
