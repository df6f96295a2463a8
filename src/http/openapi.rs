//! The OpenAPI document served at `GET /openapi.json`, built from the handlers' annotations.

use super::{admin, checkout, finance, hooks, metrics, ops, wallet};
use crate::app::{
    corrections, hooks as shop_hooks, merchants, orders, payouts, programs, redemptions, reserve, users, withdrawals,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Cashback ledger", description = "Fixed-percentage cashback, funded by the merchant's commission on the same order. \
        Merchant calls are signed: X-Cashback-Merchant and X-Cashback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>. \
        Errors are application/problem+json with a stable `code`."),
    paths(
        checkout::put_user, checkout::quote, checkout::place_order, checkout::get_order, checkout::refund,
        checkout::cancel, checkout::hold, checkout::get_redemption, checkout::capture, checkout::void,
        checkout::credit_refund,
        admin::put_merchant, admin::add_secret, admin::delete_secret, admin::put_program, admin::get_programs,
        admin::put_user, admin::release, admin::verify_all,
        admin::put_withdrawal_settings, admin::deposit, admin::list_withdrawals, admin::withdrawal_paid,
        admin::withdrawal_reject, admin::settle, admin::write_off, admin::adjust, admin::audit,
        finance::journal_export, finance::trial_balance, finance::payouts_export, finance::audit_export,
        finance::payout_batch, finance::reconcile, finance::liabilities, finance::statements,
        ops::healthz, ops::readyz, ops::openapi, wallet::get_wallet, wallet::entries, wallet::withdraw,
        hooks::shopify, hooks::woocommerce, hooks::put_integration, hooks::exceptions,
        hooks::retry_exceptions, metrics::metrics,
    ),
    components(schemas(
        users::UserIn, orders::QuoteIn, orders::OrderIn, orders::LineIn, orders::RefundIn,
        redemptions::HoldIn, redemptions::CaptureIn, redemptions::CreditRefundIn,
        merchants::MerchantIn, merchants::SecretIn, programs::ProgramIn, programs::CategoryIn,
        withdrawals::SettingsIn, withdrawals::WithdrawalIn, withdrawals::PaidIn, withdrawals::RejectIn,
        reserve::DepositIn, corrections::SettlementIn, corrections::WriteOffIn, corrections::AdjustmentIn,
        corrections::AdjustmentPostingIn, payouts::BatchIn, shop_hooks::IntegrationIn,
    )),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme("admin", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        let jwt = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        c.add_security_scheme("wallet", SecurityScheme::Http(jwt));
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
