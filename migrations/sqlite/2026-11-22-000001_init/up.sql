-- Timestamps are unix seconds (BIGINT), money is minor units (BIGINT), rates canonical TEXT.
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);

CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    wallet_secret_enc TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE merchant_secrets (
    secret_id TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    secret_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX merchant_secrets_by_merchant ON merchant_secrets (merchant_id);

CREATE TABLE programs (
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    currency TEXT NOT NULL,
    version INTEGER NOT NULL,
    commission_rate TEXT NOT NULL,
    cashback_rate TEXT NOT NULL,
    referral_rate TEXT NOT NULL,
    hold_days INTEGER NOT NULL,
    per_order_cap_minor BIGINT,
    monthly_cap_minor BIGINT,
    categories TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, currency, version)
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    referrer_id TEXT REFERENCES users (user_id),
    payout_destinations TEXT NOT NULL,
    created_by TEXT,
    created_seq BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE orders (
    merchant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    referrer_id TEXT REFERENCES users (user_id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    paid_at BIGINT NOT NULL,
    release_at BIGINT NOT NULL,
    released_at BIGINT,
    status TEXT NOT NULL,
    commission_minor BIGINT NOT NULL,
    cashback_minor BIGINT NOT NULL,
    referral_minor BIGINT NOT NULL,
    platform_minor BIGINT NOT NULL,
    rev_cashback_minor BIGINT NOT NULL,
    rev_referral_minor BIGINT NOT NULL,
    rev_platform_minor BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    capped BOOLEAN NOT NULL,
    program_version INTEGER NOT NULL,
    lines TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, order_id),
    CHECK (cashback_minor + referral_minor + platform_minor = commission_minor)
);
CREATE INDEX orders_by_user ON orders (user_id, paid_at);
CREATE INDEX orders_by_referrer ON orders (referrer_id);
CREATE INDEX orders_due ON orders (release_at) WHERE released_at IS NULL;

CREATE TABLE refunds (
    merchant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    refund_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    cashback_minor BIGINT NOT NULL,
    referral_minor BIGINT NOT NULL,
    platform_minor BIGINT NOT NULL,
    refunded_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, order_id, refund_id),
    FOREIGN KEY (merchant_id, order_id) REFERENCES orders (merchant_id, order_id)
);

CREATE TABLE redemptions (
    merchant_id TEXT NOT NULL,
    redemption_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    captured_minor BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, redemption_id)
);
CREATE INDEX redemptions_by_user ON redemptions (user_id, status);
CREATE INDEX redemptions_due ON redemptions (expires_at) WHERE status = 'held';

CREATE TABLE entries (
    id BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    merchant_id TEXT,
    order_id TEXT,
    reference TEXT
);
CREATE INDEX entries_by_order ON entries (merchant_id, order_id);
CREATE INDEX entries_by_recorded ON entries (recorded_at, id);

CREATE TABLE postings (
    id BIGINT PRIMARY KEY NOT NULL,
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    account TEXT NOT NULL,
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
    balance_after_minor BIGINT NOT NULL
);
CREATE INDEX postings_by_entry ON postings (entry_id);
CREATE INDEX postings_by_account ON postings (account, owner, currency);
CREATE INDEX postings_by_owner ON postings (owner, currency);

CREATE TABLE balances (
    currency TEXT NOT NULL,
    account TEXT NOT NULL,
    owner TEXT NOT NULL,
    balance_minor BIGINT NOT NULL,
    PRIMARY KEY (currency, account, owner)
);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE audit (
    id BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- The journal is append-only: corrections are new entries, never edits.
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
