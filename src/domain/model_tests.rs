//! Property tests of the ledger rules: any sequence of events keeps every invariant, and a
//! full refund returns every account an order touched to where it was.

use super::engine::*;
use super::invariants::verify;
use super::ledger::Books;
use super::memory::MemoryBooks;
use super::money::Currency;
use super::program::{Line, Program, Rates};
use super::rate::Rate;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn program(c: &str, k: &str, r: &str, cap: Option<i64>) -> Program {
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
enum Op {
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

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, any::<bool>(), 1i64..5_000_000).prop_map(|(user, referred, amount)| Op::Order { user, referred, amount }),
        2 => (0usize..64, 1i64..=1000).prop_map(|(order, permille)| Op::Refund { order, permille }),
        1 => (0usize..64).prop_map(|order| Op::Cancel { order }),
        3 => (0usize..64).prop_map(|order| Op::Release { order }),
        2 => (0u8..4, 1i64..=1000).prop_map(|(user, permille)| Op::Hold { user, permille }),
        2 => (0usize..64, 0i64..=1000).prop_map(|(red, permille)| Op::Capture { red, permille }),
        1 => (0usize..64, any::<bool>()).prop_map(|(red, expired)| Op::Void { red, expired }),
        1 => (0usize..64, 1i64..=1000).prop_map(|(red, permille)| Op::CreditRefund { red, permille }),
        2 => (0u8..4, 1i64..=1000, 0i64..500).prop_map(|(user, permille, fee)| Op::Withdraw { user, permille, fee }),
        1 => (0usize..64).prop_map(|w| Op::Pay { w }),
        1 => (0usize..64).prop_map(|w| Op::Reject { w }),
        1 => (1i64..10_000_000).prop_map(|amount| Op::Deposit { amount }),
    ]
}

struct Model {
    seq: usize,
    withdrawals: Vec<Withdrawal>,
    books: MemoryBooks,
    orders: Vec<Order>,
    reds: Vec<Redemption>,
    program: Program,
}

fn cny() -> Currency {
    Currency::parse("CNY").unwrap()
}

impl Model {
    fn new(program: Program) -> Model {
        Model { seq: 0, withdrawals: vec![], books: MemoryBooks::default(), orders: vec![], reds: vec![], program }
    }

    fn order(&mut self, user: &str, referrer: Option<&str>, amount: i64) -> usize {
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

    fn apply(&mut self, op: &Op) {
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

    fn assert_invariants(&self) {
        for c in verify(&self.books.snapshot(self.orders.clone())) {
            assert!(c.ok, "{}: {}", c.name, c.detail);
        }
    }
}

fn programs() -> impl Strategy<Value = Program> {
    prop_oneof![
        Just(program("0.2", "0.112", "0.01", Some(50_000))),
        Just(program("0.05", "0.049999", "0.000001", None)),
        Just(program("1", "0.5", "0.5", None)),
        Just(program("0.000001", "0", "0", None)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sequence_of_events_keeps_every_invariant(p in programs(), ops in prop::collection::vec(op(), 1..60)) {
        let mut m = Model::new(p);
        for op in &ops {
            m.apply(op);
            m.assert_invariants();
        }
    }

    #[test]
    fn a_full_refund_returns_every_account_to_where_it_was(
        p in programs(),
        history in prop::collection::vec(op(), 0..30),
        amount in 1i64..5_000_000,
        referred in any::<bool>(),
        release in any::<bool>(),
        parts in prop::collection::vec(1i64..=1000, 0..4),
    ) {
        let mut m = Model::new(p);
        for op in &history {
            m.apply(op);
        }
        let before = m.books.balances.clone();
        let n = m.order("u0", referred.then_some("u1"), amount);
        if release {
            release_order(&mut m.books, &mut m.orders[n]).unwrap();
        }
        // Refunds in several parts, then the rest.
        for permille in parts {
            let o = &mut m.orders[n];
            let step = (o.amount - o.refunded) * permille / 1000;
            if step > 0 {
                refund_order(&mut m.books, o, step, 3_000, false, &format!("part{permille}-{}", o.refunded)).unwrap();
            }
        }
        let o = &mut m.orders[n];
        let rest = o.amount - o.refunded;
        if rest > 0 {
            refund_order(&mut m.books, o, rest, 3_000, false, "rest").unwrap();
        }
        prop_assert_eq!(o.status, OrderStatus::Refunded);
        let after: BTreeMap<_, _> = m.books.balances.iter().filter(|(_, v)| **v != 0).map(|(k, v)| (k.clone(), *v)).collect();
        let before: BTreeMap<_, _> = before.into_iter().filter(|(_, v)| *v != 0).collect();
        prop_assert_eq!(after, before);
        m.assert_invariants();
    }
}

#[test]
fn a_clawback_after_release_books_debt_and_the_next_release_repays_it_first() {
    let mut m = Model::new(program("0.2", "0.112", "0.01", None));
    let a = m.order("u0", None, 100_000); // cashback 112.00
    release_order(&mut m.books, &mut m.orders[a]).unwrap();
    // Spend 100.00 of it as store credit, so a full refund cannot take it all back.
    let red = Redemption {
        merchant_id: "m1".into(),
        redemption_id: "h".into(),
        user_id: "u0".into(),
        currency: cny(),
        amount: 10_000,
        captured: 0,
        refunded: 0,
        status: RedemptionStatus::Held,
        created_at: 2_500,
        expires_at: 9_000,
    };
    hold(&mut m.books, &red).unwrap();
    let mut red = red;
    capture(&mut m.books, &mut red, 10_000, 2_600).unwrap();
    refund_order(&mut m.books, &mut m.orders[a], 100_000, 3_000, false, "r").unwrap();
    let cur = cny();
    assert_eq!(available(&mut m.books, cur, "u0").unwrap(), 0);
    assert_eq!(m.books.balance(cur, super::ledger::Account::ClawbackReceivable, "u0").unwrap(), 10_000);
    // The next release repays the debt before anything becomes available.
    let b = m.order("u0", None, 200_000); // cashback 224.00
    release_order(&mut m.books, &mut m.orders[b]).unwrap();
    assert_eq!(m.books.balance(cur, super::ledger::Account::ClawbackReceivable, "u0").unwrap(), 0);
    assert_eq!(available(&mut m.books, cur, "u0").unwrap(), 22_400 - 10_000);
    m.assert_invariants();
}
