ALTER TABLE postings DROP CONSTRAINT postings_account_code;
ALTER TABLE postings RENAME COLUMN account_code TO account;
ALTER TABLE postings ALTER COLUMN account TYPE TEXT USING (CASE account
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
    END);
DROP TABLE accounts;
