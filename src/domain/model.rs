//! A reference model of the ledger core for property tests and fuzzing: any sequence of
//! events, applied to in-memory books, must keep every invariant of DESIGN.md §5. Each
//! refusal is checked to be one the rules allow and to change nothing.

use super::engine::*;
use super::invariants::verify;
use super::memory::MemoryBooks;
use super::money::Currency;
use super::program::{Line, Program, Rates};
use super::rate::Rate;
use std::collections::BTreeMap;

pub fn program(c: &str, k: &str, r: &str, cap: Option<i64>) -> Program {
    Program {
        currency: Currency::parse("CNY").unwrap(),
        rates: Rates {
            commission: Rate::parse(c).unwrap(),
            cashback: Rate::parse(k).unwrap(),
            referral: Rate::parse(r).unwrap(),
        },
        hold_days: 7,
        per_order_cap: cap,
        monthly_cap_per_user: None,
        categories: BTreeMap::new(),
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    Order { user: u8, referred: bool, amount: i64 },
    Refund { order: usize, permille: i64 },
    Cancel { order: usize },
    Release { order: usize },
    Hold { user: u8, permille: i64 },
    Capture { red: usize, permille: i64 },
    Void { red: usize, expired: bool },
    CreditRefund { red: usize, permille: i64 },
    Withdraw { user: u8, permille: i64, fee: i64 },
    Pay { w: usize },
    Reject { w: usize },
    Deposit { amount: i64 },
}

impl Op {
    /// Events from raw bytes (the fuzzer's input): 10 bytes an event.
    pub fn decode(data: &[u8]) -> Vec<Op> {
        data.chunks_exact(10)
            .map(|b| {
                let n = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as i64;
                let (x, y) = (n(2), n(6));
                let permille = 1 + x % 1000;
                match b[0] % 12 {
                    0 => Op::Order { user: b[1] % 4, referred: b[1] & 0x80 != 0, amount: 1 + x % 5_000_000 },
                    1 => Op::Refund { order: (y % 64) as usize, permille },
                    2 => Op::Cancel { order: (y % 64) as usize },
                    3 => Op::Release { order: (y % 64) as usize },
                    4 => Op::Hold { user: b[1] % 4, permille },
                    5 => Op::Capture { red: (y % 64) as usize, permille: x % 1001 },
                    6 => Op::Void { red: (y % 64) as usize, expired: b[1] & 1 == 1 },
                    7 => Op::CreditRefund { red: (y % 64) as usize, permille },
                    8 => Op::Withdraw { user: b[1] % 4, permille, fee: y % 500 },
                    9 => Op::Pay { w: (y % 64) as usize },
                    10 => Op::Reject { w: (y % 64) as usize },
                    _ => Op::Deposit { amount: 1 + x % 10_000_000 },
                }
            })
            .collect()
    }
}

pub struct Model {
    pub seq: usize,
    pub withdrawals: Vec<Withdrawal>,
    pub books: MemoryBooks,
    pub orders: Vec<Order>,
    pub reds: Vec<Redemption>,
    pub program: Program,
}

pub fn cny() -> Currency {
    Currency::parse("CNY").unwrap()
}

impl Model {
    pub fn new(program: Program) -> Model {
        Model { seq: 0, withdrawals: vec![], books: MemoryBooks::default(), orders: vec![], reds: vec![], program }
    }

    pub fn order(&mut self, user: &str, referrer: Option<&str>, amount: i64) -> usize {
        let split = self.program.split(&[Line { category: None, amount_minor: amount }], referrer.is_some(), 0);
        let n = self.orders.len();
        let o = Order {
            merchant_id: "m1".into(),
            order_id: format!("o{n}"),
            user_id: user.into(),
            referrer_id: referrer.map(str::to_string),
            currency: cny(),
            amount,
            paid_at: 1_000,
            release_at: 2_000,
            booked: split.parts,
            reversed: Default::default(),
            refunded: 0,
            status: OrderStatus::Pending,
            released_at: None,
            program_version: 1,
        };
        book_order(&mut self.books, &o).unwrap();
        self.orders.push(o);
        n
    }

    /// A fresh refund id: each refund is its own event.
    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("r{}", self.seq)
    }

    pub fn apply(&mut self, op: &Op) {
        let users = ["u0", "u1", "u2", "u3"];
        let id = self.next_id();
        match *op {
            Op::Order { user, referred, amount } => {
                let u = users[user as usize];
                let r = users[(user as usize + 1) % 4];
                self.order(u, referred.then_some(r), amount);
            }
            Op::Refund { order, permille } => {
                if let Some(o) = self.orders.get_mut(order % 64) {
                    let amount = (o.amount * permille / 1000).max(1);
                    let before = o.clone();
                    if let Err(e) = refund_order(&mut self.books, o, amount, 3_000, false, &id) {
                        assert!(matches!(e, LedgerError::RefundExceedsOrder { .. } | LedgerError::OrderCancelled));
                        assert_eq!(*o, before, "a refused refund changed the order");
                    }
                }
            }
            Op::Cancel { order } => {
                if let Some(o) = self.orders.get_mut(order % 64) {
                    if o.status != OrderStatus::Cancelled {
                        let rest = o.amount - o.refunded;
                        refund_order(&mut self.books, o, rest, 3_000, true, "cancel").unwrap();
                        assert_eq!(o.reversed, o.booked);
                    }
                }
            }
            Op::Release { order } => {
                if let Some(o) = self.orders.get_mut(order % 64) {
                    if o.is_due(2_000) {
                        release_order(&mut self.books, o).unwrap();
                    }
                }
            }
            Op::Hold { user, permille } => {
                let u = users[user as usize];
                let avail = available(&mut self.books, cny(), u).unwrap();
                let amount = (avail * permille / 1000).max(1);
                let red = Redemption {
                    merchant_id: "m1".into(),
                    redemption_id: format!("h{}", self.reds.len()),
                    user_id: u.into(),
                    currency: cny(),
                    amount,
                    captured: 0,
                    refunded: 0,
                    status: RedemptionStatus::Held,
                    created_at: 2_500,
                    expires_at: 3_400,
                };
                match hold(&mut self.books, &red) {
                    Ok(_) => self.reds.push(red),
                    Err(e) => {
                        assert!(matches!(e, LedgerError::InsufficientBalance { .. }) && (avail <= 0 || amount > avail))
                    }
                }
            }
            Op::Capture { red, permille } => {
                if let Some(r) = self.reds.get_mut(red % 64) {
                    let amount = r.amount * permille / 1000;
                    let _ = capture(&mut self.books, r, amount, 3_000);
                }
            }
            Op::Void { red, expired } => {
                if let Some(r) = self.reds.get_mut(red % 64) {
                    let _ = void(&mut self.books, r, expired, 3_000);
                }
            }
            Op::Withdraw { user, permille, fee } => {
                let u = users[user as usize];
                let avail = available(&mut self.books, cny(), u).unwrap();
                let w = Withdrawal {
                    withdrawal_id: id.clone(),
                    user_id: u.into(),
                    currency: cny(),
                    amount: (avail * permille / 1000).max(1),
                    fee,
                    status: WithdrawalStatus::Requested,
                    requested_at: 2_600,
                };
                match request_withdrawal(&mut self.books, &w, 100) {
                    Ok(_) => self.withdrawals.push(w),
                    Err(e) => {
                        assert!(matches!(e, LedgerError::InsufficientBalance { .. } | LedgerError::BelowMinimum { .. }))
                    }
                }
            }
            Op::Pay { w } => {
                if let Some(w) = self.withdrawals.get_mut(w % 64) {
                    let _ = pay_withdrawal(&mut self.books, w, 3_000);
                }
            }
            Op::Reject { w } => {
                if let Some(w) = self.withdrawals.get_mut(w % 64) {
                    let _ = reject_withdrawal(&mut self.books, w, 3_000);
                }
            }
            Op::Deposit { amount } => {
                deposit(&mut self.books, cny(), amount, &id, 2_000).unwrap();
            }
            Op::CreditRefund { red, permille } => {
                if let Some(r) = self.reds.get_mut(red % 64) {
                    let amount = (r.captured * permille / 1000).max(1);
                    let _ = credit_refund(&mut self.books, r, amount, 3_100, &id);
                }
            }
        }
    }

    pub fn assert_invariants(&self) {
        for c in verify(&self.books.snapshot(self.orders.clone())) {
            assert!(c.ok, "{}: {}", c.name, c.detail);
        }
    }
}
