//! Accounts, postings and entries (DESIGN.md §4). A posting is positive for a debit and
//! negative for a credit; a stored balance is the sum of its account's postings, so user
//! balances are stored negative and shown positive.

use super::money::Currency;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    Reserve,
    MerchantReceivable,
    ClawbackReceivable,
    Pending,
    Available,
    Held,
    Withdrawing,
    MerchantPayable,
    PlatformFunding,
    PlatformShare,
    WithdrawalFees,
    ClawbackLosses,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Platform,
    Merchant,
    User,
}

impl Account {
    pub const ALL: [Account; 12] = [
        Account::Reserve,
        Account::MerchantReceivable,
        Account::ClawbackReceivable,
        Account::Pending,
        Account::Available,
        Account::Held,
        Account::Withdrawing,
        Account::MerchantPayable,
        Account::PlatformFunding,
        Account::PlatformShare,
        Account::WithdrawalFees,
        Account::ClawbackLosses,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Account::Reserve => "assets:reserve",
            Account::MerchantReceivable => "assets:merchant-receivable",
            Account::ClawbackReceivable => "assets:clawback-receivable",
            Account::Pending => "liabilities:cashback:pending",
            Account::Available => "liabilities:cashback:available",
            Account::Held => "liabilities:cashback:held",
            Account::Withdrawing => "liabilities:cashback:withdrawing",
            Account::MerchantPayable => "liabilities:merchant-payable",
            Account::PlatformFunding => "equity:platform-funding",
            Account::PlatformShare => "income:platform-share",
            Account::WithdrawalFees => "income:withdrawal-fees",
            Account::ClawbackLosses => "expenses:clawback-losses",
        }
    }

    /// The account's number in storage (`postings.account_code`, the `accounts` table). Stable:
    /// a code is never reused or renumbered, a new account takes the next one.
    pub const fn code(self) -> i16 {
        match self {
            Account::Reserve => 1,
            Account::MerchantReceivable => 2,
            Account::ClawbackReceivable => 3,
            Account::Pending => 4,
            Account::Available => 5,
            Account::Held => 6,
            Account::Withdrawing => 7,
            Account::MerchantPayable => 8,
            Account::PlatformFunding => 9,
            Account::PlatformShare => 10,
            Account::WithdrawalFees => 11,
            Account::ClawbackLosses => 12,
        }
    }

    pub fn from_code(code: i16) -> Option<Account> {
        Account::ALL.into_iter().find(|a| a.code() == code)
    }

    pub fn parse(name: &str) -> Option<Account> {
        Account::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn owner(self) -> Owner {
        match self {
            Account::MerchantReceivable | Account::MerchantPayable => Owner::Merchant,
            Account::ClawbackReceivable
            | Account::Pending
            | Account::Available
            | Account::Held
            | Account::Withdrawing => Owner::User,
            _ => Owner::Platform,
        }
    }

    /// Accounts whose normal balance is a credit (liabilities, equity, income).
    pub fn credit_normal(self) -> bool {
        !matches!(
            self,
            Account::Reserve | Account::MerchantReceivable | Account::ClawbackReceivable | Account::ClawbackLosses
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    /// The user or merchant id; empty for platform accounts.
    pub owner: String,
    pub amount: i64,
}

impl Posting {
    pub fn new(account: Account, owner: &str, amount: i64) -> Posting {
        let owner = if account.owner() == Owner::Platform { String::new() } else { owner.to_string() };
        Posting { account, owner, amount }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    OrderPaid,
    Refund,
    Release,
    Hold,
    Capture,
    Void,
    HoldExpired,
    CreditRefund,
    WithdrawalRequested,
    WithdrawalPaid,
    WithdrawalRejected,
    ReserveDeposit,
    Settlement,
    ClawbackWriteOff,
    Adjustment,
}

impl EntryKind {
    pub const ALL: [EntryKind; 15] = [
        EntryKind::OrderPaid,
        EntryKind::Refund,
        EntryKind::Release,
        EntryKind::Hold,
        EntryKind::Capture,
        EntryKind::Void,
        EntryKind::HoldExpired,
        EntryKind::CreditRefund,
        EntryKind::WithdrawalRequested,
        EntryKind::WithdrawalPaid,
        EntryKind::WithdrawalRejected,
        EntryKind::ReserveDeposit,
        EntryKind::Settlement,
        EntryKind::ClawbackWriteOff,
        EntryKind::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::OrderPaid => "order_paid",
            EntryKind::Refund => "refund",
            EntryKind::Release => "release",
            EntryKind::Hold => "hold",
            EntryKind::Capture => "capture",
            EntryKind::Void => "void",
            EntryKind::HoldExpired => "hold_expired",
            EntryKind::CreditRefund => "credit_refund",
            EntryKind::WithdrawalRequested => "withdrawal_requested",
            EntryKind::WithdrawalPaid => "withdrawal_paid",
            EntryKind::WithdrawalRejected => "withdrawal_rejected",
            EntryKind::ReserveDeposit => "reserve_deposit",
            EntryKind::Settlement => "settlement",
            EntryKind::ClawbackWriteOff => "clawback_write_off",
            EntryKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An entry about to be booked. Zero postings are dropped; an entry left with none is not
/// booked at all (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub currency: Currency,
    /// When the business event happened (unix seconds); `recorded_at` is the booking time.
    pub occurred_at: i64,
    pub merchant_id: Option<String>,
    pub order_id: Option<String>,
    /// The refund id or redemption id the entry books, if any.
    pub reference: Option<String>,
    /// The program version of the order the entry books (an order's entries only): the
    /// journal then reads it with the entry, not by looking the order up.
    pub program_version: Option<i32>,
    pub postings: Vec<Posting>,
}

impl NewEntry {
    pub fn new(kind: EntryKind, currency: Currency, occurred_at: i64) -> NewEntry {
        NewEntry {
            kind,
            currency,
            occurred_at,
            merchant_id: None,
            order_id: None,
            reference: None,
            program_version: None,
            postings: Vec::new(),
        }
    }

    pub fn post(&mut self, account: Account, owner: &str, amount: i64) {
        if amount != 0 {
            self.postings.push(Posting::new(account, owner, amount));
        }
    }

    pub fn is_balanced(&self) -> bool {
        self.postings.iter().map(|p| p.amount as i128).sum::<i128>() == 0
    }
}

/// Where the engine reads balances and books entries: the database in production, memory in
/// tests. `append` must apply every posting to the stored balances.
pub trait Books {
    type Error: From<super::engine::LedgerError>;

    /// The stored balance of an account, in ledger sign.
    fn balance(&mut self, currency: Currency, account: Account, owner: &str) -> Result<i64, Self::Error>;

    /// Books a balanced entry with at least one posting; returns its id.
    fn append(&mut self, entry: &NewEntry) -> Result<i64, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::Account;

    #[test]
    fn every_account_has_its_own_code_and_name() {
        for a in Account::ALL {
            assert_eq!(Account::from_code(a.code()), Some(a));
            assert_eq!(Account::parse(a.name()), Some(a));
        }
        let mut codes: Vec<i16> = Account::ALL.iter().map(|a| a.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Account::ALL.len());
        assert_eq!(Account::from_code(0), None);
        assert_eq!(Account::from_code(13), None);
    }
}
