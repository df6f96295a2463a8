//! Property tests of the ledger rules: any sequence of events keeps every invariant, and a
//! full refund returns every account an order touched to where it was.

use super::engine::*;
use super::ledger::Books;
use super::model::{cny, program, Model, Op};
use super::program::Program;
use proptest::prelude::*;
use std::collections::BTreeMap;

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
