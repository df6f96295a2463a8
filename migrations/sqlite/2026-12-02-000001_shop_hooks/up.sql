-- Shop platforms' webhooks (Shopify, WooCommerce): the secret each platform signs with, and
-- every correctly signed delivery, stored before it is applied, with what became of it.
CREATE TABLE shop_integrations (
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    platform TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, platform)
);

-- One row per delivery: the platform's delivery id with the body's SHA-256 (a retry of the
-- same delivery is the same row). status: applied, ignored or exception (parked: a business
-- rule refused it; retried when its order arrives).
CREATE TABLE hook_deliveries (
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    platform TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    seq BIGINT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    code TEXT,
    detail TEXT NOT NULL,
    order_ref TEXT,
    attempts INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, platform, delivery_id, body_sha256)
);
CREATE UNIQUE INDEX hook_deliveries_by_seq ON hook_deliveries (seq);
CREATE INDEX hook_deliveries_parked ON hook_deliveries (status, merchant_id, platform, order_ref);
