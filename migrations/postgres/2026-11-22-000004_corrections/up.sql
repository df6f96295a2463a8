-- Merchant settlements, clawback write-offs and adjustments: each books one journal entry
-- (entries.reference = its id); these rows keep who did it and why.
CREATE TABLE settlements (
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    settlement_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    commission_received_minor BIGINT NOT NULL,
    credit_paid_minor BIGINT NOT NULL,
    commission_refunded_minor BIGINT NOT NULL,
    settled_at BIGINT NOT NULL,
    reference TEXT NOT NULL,
    operator TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, settlement_id)
);

CREATE TABLE writeoffs (
    writeoff_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    operator TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);

CREATE TABLE adjustments (
    adjustment_id TEXT PRIMARY KEY NOT NULL,
    currency TEXT NOT NULL,
    corrects_entry_id BIGINT NOT NULL REFERENCES entries (id),
    reason TEXT NOT NULL,
    operator TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX adjustments_by_entry ON adjustments (corrects_entry_id);
