// The same schema on both backends (migrations/sqlite and migrations/postgres).

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    merchants (merchant_id) {
        merchant_id -> Text,
        name -> Text,
        wallet_secret_enc -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    merchant_secrets (secret_id) {
        secret_id -> Text,
        merchant_id -> Text,
        secret_enc -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    programs (merchant_id, currency, version) {
        merchant_id -> Text,
        currency -> Text,
        version -> Integer,
        commission_rate -> Text,
        cashback_rate -> Text,
        referral_rate -> Text,
        hold_days -> Integer,
        per_order_cap_minor -> Nullable<BigInt>,
        monthly_cap_minor -> Nullable<BigInt>,
        categories -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Text,
        referrer_id -> Nullable<Text>,
        payout_destinations -> Text,
        created_by -> Nullable<Text>,
        created_seq -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    orders (merchant_id, order_id) {
        merchant_id -> Text,
        order_id -> Text,
        user_id -> Text,
        referrer_id -> Nullable<Text>,
        currency -> Text,
        amount_minor -> BigInt,
        paid_at -> BigInt,
        release_at -> BigInt,
        released_at -> Nullable<BigInt>,
        status -> Text,
        commission_minor -> BigInt,
        cashback_minor -> BigInt,
        referral_minor -> BigInt,
        platform_minor -> BigInt,
        rev_cashback_minor -> BigInt,
        rev_referral_minor -> BigInt,
        rev_platform_minor -> BigInt,
        refunded_minor -> BigInt,
        capped -> Bool,
        program_version -> Integer,
        lines -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    refunds (merchant_id, order_id, refund_id) {
        merchant_id -> Text,
        order_id -> Text,
        refund_id -> Text,
        amount_minor -> BigInt,
        commission_minor -> BigInt,
        cashback_minor -> BigInt,
        referral_minor -> BigInt,
        platform_minor -> BigInt,
        refunded_at -> BigInt,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    redemptions (merchant_id, redemption_id) {
        merchant_id -> Text,
        redemption_id -> Text,
        user_id -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        captured_minor -> BigInt,
        refunded_minor -> BigInt,
        status -> Text,
        order_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    entries (id) {
        id -> BigInt,
        kind -> Text,
        currency -> Text,
        occurred_at -> BigInt,
        recorded_at -> BigInt,
        merchant_id -> Nullable<Text>,
        order_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        program_version -> Nullable<Integer>,
    }
}

diesel::table! {
    postings (id) {
        id -> BigInt,
        entry_id -> BigInt,
        /// `Account::code`; the `accounts` table names them.
        account_code -> SmallInt,
        owner -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        balance_after_minor -> BigInt,
    }
}

diesel::table! {
    accounts (code) {
        code -> SmallInt,
        name -> Text,
    }
}

diesel::table! {
    balances (currency, account, owner) {
        currency -> Text,
        account -> Text,
        owner -> Text,
        balance_minor -> BigInt,
    }
}

diesel::table! {
    idempotency (scope, key) {
        scope -> Text,
        key -> Text,
        request -> Text,
        response -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit (id) {
        id -> BigInt,
        at -> BigInt,
        operator -> Text,
        action -> Text,
        target -> Text,
        detail -> Text,
    }
}

diesel::joinable!(postings -> entries (entry_id));
diesel::allow_tables_to_appear_in_same_query!(
    meta,
    merchants,
    merchant_secrets,
    programs,
    users,
    orders,
    refunds,
    redemptions,
    entries,
    postings,
    balances,
    idempotency,
    audit,
);

diesel::table! {
    withdrawal_settings (currency) {
        currency -> Text,
        minimum_minor -> BigInt,
        fee_minor -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    withdrawals (withdrawal_id) {
        withdrawal_id -> Text,
        user_id -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        fee_minor -> BigInt,
        destination -> Text,
        status -> Text,
        reference -> Nullable<Text>,
        reason -> Nullable<Text>,
        batch_id -> Nullable<Text>,
        requested_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    deposits (deposit_id) {
        deposit_id -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        reference -> Text,
        operator -> Text,
        recorded_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(withdrawals, users);

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        csrf -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    login_tokens (jti) {
        jti -> Text,
        user_id -> Text,
        used_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    settlements (merchant_id, settlement_id) {
        merchant_id -> Text,
        settlement_id -> Text,
        currency -> Text,
        commission_received_minor -> BigInt,
        credit_paid_minor -> BigInt,
        commission_refunded_minor -> BigInt,
        settled_at -> BigInt,
        reference -> Text,
        operator -> Text,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    writeoffs (writeoff_id) {
        writeoff_id -> Text,
        user_id -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        reason -> Text,
        operator -> Text,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    adjustments (adjustment_id) {
        adjustment_id -> Text,
        currency -> Text,
        corrects_entry_id -> BigInt,
        reason -> Text,
        operator -> Text,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    shop_integrations (merchant_id, platform) {
        merchant_id -> Text,
        platform -> Text,
        secret_enc -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    hook_deliveries (merchant_id, platform, delivery_id, body_sha256) {
        merchant_id -> Text,
        platform -> Text,
        delivery_id -> Text,
        body_sha256 -> Text,
        seq -> BigInt,
        topic -> Text,
        body -> Text,
        received_at -> BigInt,
        status -> Text,
        code -> Nullable<Text>,
        detail -> Text,
        order_ref -> Nullable<Text>,
        attempts -> Integer,
        updated_at -> BigInt,
    }
}
