CREATE TABLE withdrawal_settings (
    currency TEXT PRIMARY KEY NOT NULL,
    minimum_minor BIGINT NOT NULL CHECK (minimum_minor > 0),
    fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0 AND fee_minor < minimum_minor),
    updated_at BIGINT NOT NULL
);

CREATE TABLE withdrawals (
    withdrawal_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    fee_minor BIGINT NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT,
    reason TEXT,
    batch_id TEXT,
    requested_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX withdrawals_by_status ON withdrawals (status, requested_at);
CREATE INDEX withdrawals_by_user ON withdrawals (user_id, requested_at);

CREATE TABLE deposits (
    deposit_id TEXT PRIMARY KEY NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    reference TEXT NOT NULL,
    operator TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
