DROP TABLE audit; DROP TABLE idempotency; DROP TABLE balances; DROP TABLE postings; DROP TABLE entries;
DROP TABLE redemptions; DROP TABLE refunds; DROP TABLE orders; DROP TABLE users; DROP TABLE programs;
DROP TABLE merchant_secrets; DROP TABLE merchants; DROP TABLE meta;
