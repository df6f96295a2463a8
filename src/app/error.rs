//! The error policy: every refusal is an [`ApiError`] with a stable code (API.md §3) and a
//! detail for humans. Domain errors map here in one place; the HTTP layer renders them as
//! problem+json. Database failures are `internal` and never show their text to the caller.

use crate::domain::engine::LedgerError;
use crate::domain::money::AmountError;
use crate::domain::program::ProgramError;
use crate::store::books::BooksError;
use crate::store::WriteError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidRequest,
    InvalidAmount,
    Unauthorized,
    SignatureInvalid,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidState,
    IdempotencyConflict,
    ReferrerAlreadySet,
    ReferrerInvalid,
    OrderCancelled,
    PayloadTooLarge,
    UnsupportedMediaType,
    ProgramUnfunded,
    CurrencyNotSupported,
    RefundExceedsOrder,
    AmountTooLarge,
    InsufficientBalance,
    FeeChanged,
    SettlementExceedsBalance,
    AdjustmentInvalid,
    ReserveInsufficient,
    BelowMinimum,
    RateLimited,
    Unavailable,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidRequest => "invalid_request",
            Code::InvalidAmount => "invalid_amount",
            Code::Unauthorized => "unauthorized",
            Code::SignatureInvalid => "signature_invalid",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::InvalidState => "invalid_state",
            Code::IdempotencyConflict => "idempotency_conflict",
            Code::ReferrerAlreadySet => "referrer_already_set",
            Code::ReferrerInvalid => "referrer_invalid",
            Code::OrderCancelled => "order_cancelled",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::ProgramUnfunded => "program_unfunded",
            Code::CurrencyNotSupported => "currency_not_supported",
            Code::RefundExceedsOrder => "refund_exceeds_order",
            Code::AmountTooLarge => "amount_too_large",
            Code::InsufficientBalance => "insufficient_balance",
            Code::FeeChanged => "fee_changed",
            Code::ReserveInsufficient => "reserve_insufficient",
            Code::BelowMinimum => "below_minimum",
            Code::SettlementExceedsBalance => "settlement_exceeds_balance",
            Code::AdjustmentInvalid => "adjustment_invalid",
            Code::RateLimited => "rate_limited",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Code::InvalidRequest | Code::InvalidAmount => 400,
            Code::Unauthorized | Code::SignatureInvalid => 401,
            Code::Forbidden => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::InvalidState | Code::IdempotencyConflict | Code::ReferrerAlreadySet | Code::OrderCancelled => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::ReferrerInvalid
            | Code::ProgramUnfunded
            | Code::CurrencyNotSupported
            | Code::RefundExceedsOrder
            | Code::AmountTooLarge
            | Code::InsufficientBalance => 422,
            Code::FeeChanged => 409,
            Code::ReserveInsufficient => 409,
            Code::BelowMinimum => 422,
            Code::SettlementExceedsBalance | Code::AdjustmentInvalid => 422,
            Code::RateLimited => 429,
            Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Code::InvalidRequest => "Invalid request",
            Code::InvalidAmount => "Invalid amount",
            Code::Unauthorized => "Unauthorized",
            Code::SignatureInvalid => "Signature invalid",
            Code::Forbidden => "Forbidden",
            Code::NotFound => "Not found",
            Code::MethodNotAllowed => "Method not allowed",
            Code::InvalidState => "Invalid state",
            Code::IdempotencyConflict => "Idempotency conflict",
            Code::ReferrerAlreadySet => "Referrer already set",
            Code::ReferrerInvalid => "Referrer invalid",
            Code::OrderCancelled => "Order cancelled",
            Code::PayloadTooLarge => "Payload too large",
            Code::UnsupportedMediaType => "Unsupported media type",
            Code::ProgramUnfunded => "Program unfunded",
            Code::CurrencyNotSupported => "Currency not supported",
            Code::RefundExceedsOrder => "Refund exceeds order",
            Code::AmountTooLarge => "Amount too large",
            Code::InsufficientBalance => "Insufficient balance",
            Code::FeeChanged => "Fee changed",
            Code::ReserveInsufficient => "Reserve insufficient",
            Code::BelowMinimum => "Below minimum",
            Code::SettlementExceedsBalance => "Settlement exceeds balance",
            Code::AdjustmentInvalid => "Adjustment invalid",
            Code::RateLimited => "Too many requests",
            Code::Unavailable => "Service unavailable",
            Code::Internal => "Internal error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl std::error::Error for ApiError {}

pub fn err(code: Code, detail: impl Into<String>) -> ApiError {
    ApiError { code, detail: detail.into() }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        tracing::error!(error = %e, "database error");
        err(Code::Internal, "the database failed; nothing was booked")
    }
}

impl From<AmountError> for ApiError {
    fn from(e: AmountError) -> Self {
        err(Code::InvalidAmount, e.to_string())
    }
}

impl From<ProgramError> for ApiError {
    fn from(e: ProgramError) -> Self {
        err(Code::ProgramUnfunded, e.to_string())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let code = match e {
            LedgerError::RefundExceedsOrder { .. } => Code::RefundExceedsOrder,
            LedgerError::OrderCancelled => Code::OrderCancelled,
            LedgerError::InsufficientBalance { .. } => Code::InsufficientBalance,
            LedgerError::AmountTooLarge { .. } => Code::AmountTooLarge,
            LedgerError::InvalidState(_) => Code::InvalidState,
            LedgerError::BelowMinimum { .. } => Code::BelowMinimum,
            LedgerError::ReserveInsufficient { .. } => Code::ReserveInsufficient,
            LedgerError::SettlementExceedsBalance(_) => Code::SettlementExceedsBalance,
            LedgerError::AdjustmentInvalid(_) => Code::AdjustmentInvalid,
            LedgerError::Unbalanced => Code::Internal,
        };
        err(code, e.to_string())
    }
}

impl From<BooksError> for ApiError {
    fn from(e: BooksError) -> Self {
        match e {
            BooksError::Ledger(l) => l.into(),
            BooksError::Db(d) => d.into(),
        }
    }
}

impl From<WriteError<ApiError>> for ApiError {
    fn from(e: WriteError<ApiError>) -> Self {
        match e {
            WriteError::Job(e) => e,
            WriteError::Unavailable(why) => err(Code::Unavailable, why),
        }
    }
}
