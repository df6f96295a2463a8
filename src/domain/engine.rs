//! The events of the ledger and the postings each books (DESIGN.md §4). Pure: it reads and
//! books through [`Books`], so the same code runs on the database and in memory.

use super::ledger::{Account, Books, EntryKind, NewEntry};
use super::money::{format_minor, Currency};
use super::program::{reversed_after, Components};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("refunds would total {} {currency}, above the order amount {}", format_minor(*.requested, *.currency), format_minor(*.amount, *.currency))]
    RefundExceedsOrder { currency: Currency, requested: i64, amount: i64 },
    #[error("the order is cancelled")]
    OrderCancelled,
    #[error("{} {currency} requested, {} available", format_minor(*.requested, *.currency), format_minor(*.available, *.currency))]
    InsufficientBalance { currency: Currency, available: i64, requested: i64 },
    #[error("{} {currency} is above the {} that may be used", format_minor(*.requested, *.currency), format_minor(*.limit, *.currency))]
    AmountTooLarge { currency: Currency, requested: i64, limit: i64 },
    #[error("it is {0}")]
    InvalidState(&'static str),
    #[error("the amount is below the minimum withdrawal of {} {currency}, or nothing is left after the fee", format_minor(*.minimum, *.currency))]
    BelowMinimum { currency: Currency, minimum: i64 },
    #[error("the reserve holds {} {currency}, {} is needed", format_minor(*.reserve, *.currency), format_minor(*.needed, *.currency))]
    ReserveInsufficient { currency: Currency, reserve: i64, needed: i64 },
    #[error("{0}")]
    SettlementExceedsBalance(String),
    #[error("{0}")]
    AdjustmentInvalid(String),
    #[error("internal error: entry does not balance")]
    Unbalanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Released,
    Refunded,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Released => "released",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<OrderStatus> {
        [OrderStatus::Pending, OrderStatus::Released, OrderStatus::Refunded, OrderStatus::Cancelled]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// An order as booked: the parts are fixed at booking and only reversed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub merchant_id: String,
    pub order_id: String,
    pub user_id: String,
    pub referrer_id: Option<String>,
    pub currency: Currency,
    pub amount: i64,
    pub paid_at: i64,
    pub release_at: i64,
    pub booked: Components,
    pub reversed: Components,
    pub refunded: i64,
    pub status: OrderStatus,
    pub released_at: Option<i64>,
    /// The merchant's program version the order was booked under.
    pub program_version: i32,
}

impl Order {
    fn entry(&self, kind: EntryKind, occurred_at: i64) -> NewEntry {
        let mut e = NewEntry::new(kind, self.currency, occurred_at);
        e.merchant_id = Some(self.merchant_id.clone());
        e.order_id = Some(self.order_id.clone());
        e.program_version = Some(self.program_version);
        e
    }

    /// What each user still has pending or released from this order: (user, amount).
    fn user_shares(&self, parts: &Components) -> Vec<(&str, i64)> {
        let mut v = vec![(self.user_id.as_str(), parts.cashback)];
        if let Some(r) = &self.referrer_id {
            v.push((r.as_str(), parts.referral));
        }
        v
    }

    pub fn is_due(&self, now: i64) -> bool {
        self.released_at.is_none() && self.release_at <= now
    }
}

fn book<B: Books>(b: &mut B, e: &NewEntry) -> Result<Option<i64>, B::Error> {
    if !e.is_balanced() {
        return Err(LedgerError::Unbalanced.into());
    }
    if e.postings.is_empty() {
        return Ok(None);
    }
    b.append(e).map(Some)
}

/// Money the user can use now, from their point of view (never negative).
pub fn available<B: Books>(b: &mut B, cur: Currency, user: &str) -> Result<i64, B::Error> {
    Ok(-b.balance(cur, Account::Available, user)?)
}

/// Credits `amount` to a user's available balance, repaying clawback debt first, so a user
/// never has both debt and a positive available balance.
fn credit_available<B: Books>(b: &mut B, e: &mut NewEntry, user: &str, amount: i64) -> Result<(), B::Error> {
    let debt = b.balance(e.currency, Account::ClawbackReceivable, user)?.max(0);
    let repay = amount.min(debt);
    e.post(Account::ClawbackReceivable, user, -repay);
    e.post(Account::Available, user, -(amount - repay));
    Ok(())
}

/// Order paid: Dr merchant-receivable C; Cr pending(buyer) K; Cr pending(referrer) R;
/// Cr platform-share C−K−R.
pub fn book_order<B: Books>(b: &mut B, order: &Order) -> Result<Option<i64>, B::Error> {
    let p = order.booked;
    let mut e = order.entry(EntryKind::OrderPaid, order.paid_at);
    e.post(Account::MerchantReceivable, &order.merchant_id, p.commission);
    for (user, x) in order.user_shares(&p) {
        e.post(Account::Pending, user, -x);
    }
    e.post(Account::PlatformShare, "", -p.platform);
    book(b, &e)
}

/// Release: per user, Dr pending X; Cr clawback-receivable min(X, debt); Cr available the rest.
/// The entry is dated at `release_at`, when the event happened, whenever it is booked.
pub fn release_order<B: Books>(b: &mut B, order: &mut Order) -> Result<Option<i64>, B::Error> {
    let left = order.booked.minus(&order.reversed);
    let mut e = order.entry(EntryKind::Release, order.release_at);
    for (user, x) in order.user_shares(&left) {
        e.post(Account::Pending, user, x);
        credit_available(b, &mut e, user, x)?;
    }
    let id = book(b, &e)?;
    order.released_at = Some(order.release_at);
    if order.status == OrderStatus::Pending {
        order.status = OrderStatus::Released;
    }
    Ok(id)
}

/// A refund (or, with `cancel`, the rest of the order): reverses cumulatively what was booked.
/// Returns what this event reversed.
pub fn refund_order<B: Books>(
    b: &mut B,
    order: &mut Order,
    amount: i64,
    occurred_at: i64,
    cancel: bool,
    reference: &str,
) -> Result<Components, B::Error> {
    if order.status == OrderStatus::Cancelled {
        return Err(LedgerError::OrderCancelled.into());
    }
    let refunded = order.refunded + amount;
    if refunded > order.amount {
        return Err(LedgerError::RefundExceedsOrder {
            currency: order.currency,
            requested: refunded,
            amount: order.amount,
        }
        .into());
    }
    let total = reversed_after(&order.booked, refunded, order.amount);
    let now = total.minus(&order.reversed);
    let mut e = order.entry(EntryKind::Refund, occurred_at);
    e.reference = Some(reference.to_string());
    e.post(Account::MerchantReceivable, &order.merchant_id, -now.commission);
    for (user, x) in order.user_shares(&now) {
        if order.released_at.is_none() {
            e.post(Account::Pending, user, x);
        } else {
            // Out of available up to its balance; the rest becomes clawback debt.
            let from_available = x.min(available(b, order.currency, user)?.max(0));
            e.post(Account::Available, user, from_available);
            e.post(Account::ClawbackReceivable, user, x - from_available);
        }
    }
    e.post(Account::PlatformShare, "", now.platform);
    book(b, &e)?;
    order.reversed = total;
    order.refunded = refunded;
    if cancel {
        order.status = OrderStatus::Cancelled;
    } else if refunded == order.amount {
        order.status = OrderStatus::Refunded;
    }
    Ok(now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedemptionStatus {
    Held,
    Captured,
    Voided,
    Expired,
}

impl RedemptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Held => "held",
            RedemptionStatus::Captured => "captured",
            RedemptionStatus::Voided => "voided",
            RedemptionStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<RedemptionStatus> {
        [RedemptionStatus::Held, RedemptionStatus::Captured, RedemptionStatus::Voided, RedemptionStatus::Expired]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Store credit held for a checkout at one merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub merchant_id: String,
    pub redemption_id: String,
    pub user_id: String,
    pub currency: Currency,
    pub amount: i64,
    pub captured: i64,
    pub refunded: i64,
    pub status: RedemptionStatus,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Redemption {
    fn entry(&self, kind: EntryKind, occurred_at: i64) -> NewEntry {
        let mut e = NewEntry::new(kind, self.currency, occurred_at);
        e.merchant_id = Some(self.merchant_id.clone());
        e.reference = Some(self.redemption_id.clone());
        e
    }

    pub fn is_due(&self, now: i64) -> bool {
        self.status == RedemptionStatus::Held && self.expires_at <= now
    }

    fn require(&self, status: RedemptionStatus) -> Result<(), LedgerError> {
        if self.status != status {
            return Err(LedgerError::InvalidState(self.status.as_str()));
        }
        Ok(())
    }
}

/// Hold: Dr available, Cr held. Never takes available below zero.
pub fn hold<B: Books>(b: &mut B, red: &Redemption) -> Result<Option<i64>, B::Error> {
    let avail = available(b, red.currency, &red.user_id)?;
    if avail <= 0 || red.amount > avail {
        return Err(LedgerError::InsufficientBalance {
            currency: red.currency,
            available: avail,
            requested: red.amount,
        }
        .into());
    }
    let mut e = red.entry(EntryKind::Hold, red.created_at);
    e.post(Account::Available, &red.user_id, red.amount);
    e.post(Account::Held, &red.user_id, -red.amount);
    book(b, &e)
}

/// Capture: Dr held H; Cr merchant-payable C; the rest back to available in the same entry.
pub fn capture<B: Books>(b: &mut B, red: &mut Redemption, amount: i64, now: i64) -> Result<Option<i64>, B::Error> {
    red.require(RedemptionStatus::Held)?;
    if amount > red.amount {
        return Err(LedgerError::AmountTooLarge { currency: red.currency, requested: amount, limit: red.amount }.into());
    }
    let mut e = red.entry(EntryKind::Capture, now);
    e.post(Account::Held, &red.user_id, red.amount);
    e.post(Account::MerchantPayable, &red.merchant_id, -amount);
    credit_available(b, &mut e, &red.user_id.clone(), red.amount - amount)?;
    let id = book(b, &e)?;
    red.captured = amount;
    red.status = RedemptionStatus::Captured;
    Ok(id)
}

/// Void, or expiry when `expired`: Dr held, Cr available (debt first).
pub fn void<B: Books>(b: &mut B, red: &mut Redemption, expired: bool, now: i64) -> Result<Option<i64>, B::Error> {
    red.require(RedemptionStatus::Held)?;
    let (kind, at, status) = if expired {
        (EntryKind::HoldExpired, red.expires_at, RedemptionStatus::Expired)
    } else {
        (EntryKind::Void, now, RedemptionStatus::Voided)
    };
    let mut e = red.entry(kind, at);
    e.post(Account::Held, &red.user_id, red.amount);
    credit_available(b, &mut e, &red.user_id.clone(), red.amount)?;
    let id = book(b, &e)?;
    red.status = status;
    Ok(id)
}

/// Credit refund: Dr merchant-payable, Cr available (debt first), at most what was captured
/// and not yet refunded.
pub fn credit_refund<B: Books>(
    b: &mut B,
    red: &mut Redemption,
    amount: i64,
    now: i64,
    refund_id: &str,
) -> Result<Option<i64>, B::Error> {
    red.require(RedemptionStatus::Captured)?;
    let limit = red.captured - red.refunded;
    if amount > limit {
        return Err(LedgerError::AmountTooLarge { currency: red.currency, requested: amount, limit }.into());
    }
    let mut e = red.entry(EntryKind::CreditRefund, now);
    e.reference = Some(format!("{}/{}", red.redemption_id, refund_id));
    e.post(Account::MerchantPayable, &red.merchant_id, amount);
    credit_available(b, &mut e, &red.user_id.clone(), amount)?;
    let id = book(b, &e)?;
    red.refunded += amount;
    Ok(id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalStatus {
    Requested,
    Processing,
    Paid,
    Rejected,
}

impl WithdrawalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalStatus::Requested => "requested",
            WithdrawalStatus::Processing => "processing",
            WithdrawalStatus::Paid => "paid",
            WithdrawalStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<WithdrawalStatus> {
        [WithdrawalStatus::Requested, WithdrawalStatus::Processing, WithdrawalStatus::Paid, WithdrawalStatus::Rejected]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A withdrawal: the full amount leaves available; the user is paid the amount less the fee
/// disclosed before the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub withdrawal_id: String,
    pub user_id: String,
    pub currency: Currency,
    pub amount: i64,
    pub fee: i64,
    pub status: WithdrawalStatus,
    pub requested_at: i64,
}

impl Withdrawal {
    fn entry(&self, kind: EntryKind, occurred_at: i64) -> NewEntry {
        let mut e = NewEntry::new(kind, self.currency, occurred_at);
        e.reference = Some(self.withdrawal_id.clone());
        e
    }

    fn open(&self) -> Result<(), LedgerError> {
        match self.status {
            WithdrawalStatus::Requested | WithdrawalStatus::Processing => Ok(()),
            s => Err(LedgerError::InvalidState(s.as_str())),
        }
    }
}

/// Requested: Dr available W; Cr withdrawing W−f; Cr withdrawal-fees f. Never takes
/// available below zero; the net must be positive and W at least the minimum.
pub fn request_withdrawal<B: Books>(b: &mut B, w: &Withdrawal, minimum: i64) -> Result<Option<i64>, B::Error> {
    if w.amount < minimum || w.amount - w.fee <= 0 {
        return Err(LedgerError::BelowMinimum { currency: w.currency, minimum }.into());
    }
    let avail = available(b, w.currency, &w.user_id)?;
    if avail <= 0 || w.amount > avail {
        return Err(
            LedgerError::InsufficientBalance { currency: w.currency, available: avail, requested: w.amount }.into()
        );
    }
    let mut e = w.entry(EntryKind::WithdrawalRequested, w.requested_at);
    e.post(Account::Available, &w.user_id, w.amount);
    e.post(Account::Withdrawing, &w.user_id, -(w.amount - w.fee));
    e.post(Account::WithdrawalFees, "", -w.fee);
    book(b, &e)
}

/// Paid: Dr withdrawing, Cr reserve, refused when the reserve would go below zero.
pub fn pay_withdrawal<B: Books>(b: &mut B, w: &mut Withdrawal, now: i64) -> Result<Option<i64>, B::Error> {
    w.open()?;
    let net = w.amount - w.fee;
    let reserve = b.balance(w.currency, Account::Reserve, "")?;
    if reserve < net {
        return Err(LedgerError::ReserveInsufficient { currency: w.currency, reserve, needed: net }.into());
    }
    let mut e = w.entry(EntryKind::WithdrawalPaid, now);
    e.post(Account::Withdrawing, &w.user_id, net);
    e.post(Account::Reserve, "", -net);
    let id = book(b, &e)?;
    w.status = WithdrawalStatus::Paid;
    Ok(id)
}

/// Rejected: the exact reversal of the request; the full amount, fee included, goes back to
/// available (clawback debt first).
pub fn reject_withdrawal<B: Books>(b: &mut B, w: &mut Withdrawal, now: i64) -> Result<Option<i64>, B::Error> {
    w.open()?;
    let mut e = w.entry(EntryKind::WithdrawalRejected, now);
    e.post(Account::Withdrawing, &w.user_id, w.amount - w.fee);
    e.post(Account::WithdrawalFees, "", w.fee);
    credit_available(b, &mut e, &w.user_id.clone(), w.amount)?;
    let id = book(b, &e)?;
    w.status = WithdrawalStatus::Rejected;
    Ok(id)
}

/// The platform puts its own cash into the reserve: Dr reserve, Cr platform-funding.
pub fn deposit<B: Books>(
    b: &mut B,
    currency: Currency,
    amount: i64,
    deposit_id: &str,
    now: i64,
) -> Result<Option<i64>, B::Error> {
    let mut e = NewEntry::new(EntryKind::ReserveDeposit, currency, now);
    e.reference = Some(deposit_id.to_string());
    e.post(Account::Reserve, "", amount);
    e.post(Account::PlatformFunding, "", -amount);
    book(b, &e)
}

/// Amounts of a merchant settlement, in minor units (each may be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub commission_received: i64,
    pub credit_paid: i64,
    pub commission_refunded: i64,
}

/// A merchant settlement: commission received (Dr reserve, Cr merchant-receivable), store
/// credit paid (Dr merchant-payable, Cr reserve), commission refunded after the merchant paid it
/// (Dr merchant-receivable, Cr reserve). Never more than the balance each settles, never the
/// reserve below zero.
pub fn settle<B: Books>(
    b: &mut B,
    merchant: &str,
    currency: Currency,
    s: Settlement,
    settlement_id: &str,
    at: i64,
) -> Result<Option<i64>, B::Error> {
    let m = |v| format_minor(v, currency);
    let receivable = b.balance(currency, Account::MerchantReceivable, merchant)?;
    let payable = -b.balance(currency, Account::MerchantPayable, merchant)?;
    let exceeds = |what: &str, v: i64, limit: i64| {
        LedgerError::SettlementExceedsBalance(format!(
            "{what} {} {currency} is above the {} it settles",
            m(v),
            m(limit.max(0))
        ))
    };
    if s.commission_received > receivable.max(0) {
        return Err(exceeds("commission_received", s.commission_received, receivable).into());
    }
    if s.credit_paid > payable.max(0) {
        return Err(exceeds("credit_paid", s.credit_paid, payable).into());
    }
    // What the platform owes back once this settlement's commission is received.
    let owed_back = -(receivable - s.commission_received);
    if s.commission_refunded > owed_back.max(0) {
        return Err(exceeds("commission_refunded", s.commission_refunded, owed_back).into());
    }
    let reserve = b.balance(currency, Account::Reserve, "")?;
    let after = reserve + s.commission_received - s.credit_paid - s.commission_refunded;
    if after < 0 {
        return Err(LedgerError::ReserveInsufficient { currency, reserve, needed: reserve - after }.into());
    }
    let mut e = NewEntry::new(EntryKind::Settlement, currency, at);
    e.merchant_id = Some(merchant.to_string());
    e.reference = Some(settlement_id.to_string());
    e.post(Account::Reserve, "", s.commission_received - s.credit_paid - s.commission_refunded);
    e.post(Account::MerchantReceivable, merchant, s.commission_refunded - s.commission_received);
    e.post(Account::MerchantPayable, merchant, s.credit_paid);
    book(b, &e)
}

/// Writes off clawback debt the user will not repay: Dr clawback-losses, Cr clawback-receivable.
pub fn write_off<B: Books>(
    b: &mut B,
    user: &str,
    currency: Currency,
    amount: i64,
    writeoff_id: &str,
    at: i64,
) -> Result<Option<i64>, B::Error> {
    let debt = b.balance(currency, Account::ClawbackReceivable, user)?.max(0);
    if amount > debt {
        return Err(LedgerError::AmountTooLarge { currency, requested: amount, limit: debt }.into());
    }
    let mut e = NewEntry::new(EntryKind::ClawbackWriteOff, currency, at);
    e.reference = Some(writeoff_id.to_string());
    e.post(Account::ClawbackLosses, "", amount);
    e.post(Account::ClawbackReceivable, user, -amount);
    book(b, &e)
}

/// A balanced correcting entry. Whether it may credit users is judged by the caller, which
/// knows the entry it corrects.
pub fn adjust<B: Books>(
    b: &mut B,
    currency: Currency,
    postings: &[super::ledger::Posting],
    adjustment_id: &str,
    at: i64,
) -> Result<Option<i64>, B::Error> {
    let mut e = NewEntry::new(EntryKind::Adjustment, currency, at);
    e.reference = Some(adjustment_id.to_string());
    for p in postings {
        e.post(p.account, &p.owner, p.amount);
    }
    if !e.is_balanced() || e.postings.is_empty() {
        return Err(LedgerError::AdjustmentInvalid("the postings must sum to zero".into()).into());
    }
    // The ledger's rules hold after an adjustment too: the reserve and income never negative,
    // no user bucket below zero, and no user with both clawback debt and money available.
    let mut after: std::collections::BTreeMap<(Account, String), i64> = std::collections::BTreeMap::new();
    for p in &e.postings {
        let k = (p.account, p.owner.clone());
        if !after.contains_key(&k) {
            let v = b.balance(currency, p.account, &p.owner)?;
            after.insert(k.clone(), v);
        }
        *after.get_mut(&k).expect("inserted above") += p.amount;
    }
    for ((a, owner), v) in &after {
        let broken = match a {
            Account::Reserve | Account::ClawbackReceivable => *v < 0,
            Account::PlatformShare | Account::WithdrawalFees => *v > 0,
            Account::Pending | Account::Available | Account::Held | Account::Withdrawing => *v > 0,
            _ => false,
        };
        if broken {
            return Err(LedgerError::AdjustmentInvalid(format!("it would take {} {owner} below zero", a.name())).into());
        }
        if *a == Account::Available && *v < 0 {
            let debt = match after.get(&(Account::ClawbackReceivable, owner.clone())) {
                Some(d) => *d,
                None => b.balance(currency, Account::ClawbackReceivable, owner)?,
            };
            if debt > 0 {
                let why = format!("{owner} owes clawback debt: credit assets:clawback-receivable first");
                return Err(LedgerError::AdjustmentInvalid(why).into());
            }
        }
    }
    book(b, &e)
}
