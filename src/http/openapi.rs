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
        admin::withdrawal_reject, admin::settle, admin::write_off, admin::adjust, admin::audit, admin::rekey,
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
    modifiers(&Security, &Problems, &PathParams),
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

/// Every operation may refuse with an RFC 9457 problem (API.md §3): the statuses are written
/// into each operation that does not document them itself, with the `Problem` schema, so a
/// client generator or a schema checker knows every answer it can get.
struct Problems;

const PROBLEM_STATUSES: [(&str, &str); 11] = [
    ("400", "invalid_request or invalid_amount"),
    ("401", "unauthorized or signature_invalid"),
    ("403", "forbidden"),
    ("404", "not_found"),
    ("405", "method_not_allowed"),
    ("409", "a conflict: idempotency_conflict, invalid_state, …"),
    ("413", "payload_too_large"),
    ("415", "unsupported_media_type"),
    ("422", "a business rule refused it"),
    ("429", "rate_limited, with Retry-After"),
    ("503", "unavailable, with Retry-After: nothing was done"),
];

impl Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let problem = ObjectBuilder::new()
            .description(Some("RFC 9457 problem details; `code` is stable (API.md §3)"))
            .property("type", text())
            .property("title", text())
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .property("detail", text())
            .property("code", text())
            .required("code")
            .required("status");
        doc.components.get_or_insert_with(Default::default).schemas.insert("Problem".into(), problem.build().into());
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                for (status, what) in PROBLEM_STATUSES {
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(what)
                            .content(
                                "application/problem+json",
                                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                            )
                            .build()
                            .into()
                    });
                }
            }
        }
    }
}

/// Path parameters carry the grammar of their ids (`app::schema`), by name: every route names
/// its parameters after what they hold. And the reconcile call's query parameters are required:
/// utoipa drops `required` from a parameter whose schema is `schema_with`.
struct PathParams;

impl Modify for PathParams {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use crate::app::schema;
        use utoipa::openapi::path::ParameterIn;
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                for p in op.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Query) {
                    if op.operation_id.as_deref() == Some("reconcile") {
                        p.required = utoipa::openapi::Required::True;
                    }
                }
                for p in op.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Path) {
                    let merchant = path.starts_with("/v1/admin/merchants/{id}");
                    let grammar = match p.name.as_str() {
                        "id" if merchant => schema::merchant_id(),
                        "merchant_id" => schema::merchant_id(),
                        "order_id" => schema::long_id(),
                        "currency" => schema::currency(),
                        "platform" => schema::one_of(&["shopify", "woocommerce"]),
                        "id" | "user_id" | "secret_id" => schema::client_id(),
                        other => panic!("path parameter {other} has no grammar in http::openapi::PathParams"),
                    };
                    p.schema = Some(grammar.into());
                }
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
