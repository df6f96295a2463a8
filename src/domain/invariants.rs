//! A check of each invariant of DESIGN.md §5 over a snapshot of the ledger. The store loads
//! the snapshot; `verify` and the property tests both judge it here.

use super::engine::Order;
use super::ledger::{Account, EntryKind};
use super::money::{format_minor, Currency};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct EntryRow {
    pub id: i64,
    pub kind: EntryKind,
    pub currency: Currency,
    pub merchant_id: Option<String>,
    pub order_id: Option<String>,
    /// The refund id or redemption id the entry books.
    pub reference: Option<String>,
    /// The program version of the entry's order, which an order's entries carry.
    pub program_version: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct PostingRow {
    pub id: i64,
    pub entry_id: i64,
    pub account: Account,
    pub owner: String,
    pub currency: Currency,
    pub amount: i64,
    /// The account's balance after this posting, as recorded when it was booked.
    pub balance_after: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub entries: Vec<EntryRow>,
    pub postings: Vec<PostingRow>,
    /// Stored balances: (currency, account, owner) → balance.
    pub balances: BTreeMap<(Currency, Account, String), i64>,
    pub orders: Vec<Order>,
    /// Whether the store rejects UPDATE and DELETE on the journal (its triggers are in place).
    pub journal_guarded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &'static str, problems: Vec<String>, fine: String) -> Check {
    let ok = problems.is_empty();
    let detail = if ok {
        fine
    } else {
        let n = problems.len();
        let mut shown: Vec<String> = problems.into_iter().take(5).collect();
        if n > 5 {
            shown.push(format!("and {} more", n - 5));
        }
        shown.join("; ")
    };
    Check { name, ok, detail }
}

pub fn verify(s: &Snapshot) -> Vec<Check> {
    let mut sums: BTreeMap<(Currency, Account, String), i64> = BTreeMap::new();
    for p in &s.postings {
        *sums.entry((p.currency, p.account, p.owner.clone())).or_default() += p.amount;
    }
    vec![
        entries_balance(s),
        check(
            "journal_append_only",
            if s.journal_guarded { vec![] } else { vec!["journal triggers are missing".into()] },
            "UPDATE and DELETE on entries and postings are rejected by triggers".into(),
        ),
        balances_match(s, &sums),
        funded_at_sale(s),
        coverage(&sums),
        no_overdraft(&sums),
        exactly_once(s),
        orders_match_ledger(s),
    ]
}

fn entries_balance(s: &Snapshot) -> Check {
    let mut per_entry: HashMap<i64, (i128, usize)> = HashMap::new();
    let currency: HashMap<i64, Currency> = s.entries.iter().map(|e| (e.id, e.currency)).collect();
    let mut problems = vec![];
    for p in &s.postings {
        let x = per_entry.entry(p.entry_id).or_default();
        x.0 += p.amount as i128;
        x.1 += 1;
        if currency.get(&p.entry_id) != Some(&p.currency) {
            problems.push(format!("posting of entry {} is not in its entry's currency", p.entry_id));
        }
        if p.amount == 0 {
            problems.push(format!("entry {} has a zero posting", p.entry_id));
        }
    }
    for e in &s.entries {
        match per_entry.get(&e.id) {
            None => problems.push(format!("entry {} has no postings", e.id)),
            Some((sum, _)) if *sum != 0 => problems.push(format!("entry {} sums to {sum}", e.id)),
            _ => {}
        }
    }
    check(
        "entries_balance",
        problems,
        format!("{} entries, {} postings, each entry sums to zero", s.entries.len(), s.postings.len()),
    )
}

fn balances_match(s: &Snapshot, sums: &BTreeMap<(Currency, Account, String), i64>) -> Check {
    let mut problems = vec![];
    for (k, v) in &s.balances {
        if sums.get(k).copied().unwrap_or(0) != *v {
            problems.push(format!(
                "{} {} {}: stored {v}, postings {}",
                k.0,
                k.1.name(),
                k.2,
                sums.get(k).copied().unwrap_or(0)
            ));
        }
    }
    for (k, v) in sums {
        if *v != 0 && !s.balances.contains_key(k) {
            problems.push(format!("{} {} {}: postings {v}, no stored balance", k.0, k.1.name(), k.2));
        }
    }
    // Each posting's recorded balance-after is the running sum of its account, in booking order.
    let mut ordered: Vec<&PostingRow> = s.postings.iter().collect();
    ordered.sort_by_key(|p| p.id);
    let mut running: HashMap<(Currency, Account, &str), i64> = HashMap::new();
    for p in ordered {
        let r = running.entry((p.currency, p.account, p.owner.as_str())).or_default();
        *r += p.amount;
        if *r != p.balance_after {
            problems.push(format!("posting {}: balance after is {}, the running sum {r}", p.id, p.balance_after));
        }
    }
    check("balances_match_postings", problems, format!("{} stored balances equal their postings", s.balances.len()))
}

fn funded_at_sale(s: &Snapshot) -> Check {
    let mut problems = vec![];
    for o in &s.orders {
        let (b, r) = (o.booked, o.reversed);
        let net = b.minus(&r);
        if b.cashback + b.referral > b.commission || net.cashback + net.referral > net.commission {
            problems.push(format!("order {}/{}: credits above commission", o.merchant_id, o.order_id));
        }
        if b.cashback + b.referral + b.platform != b.commission
            || [net.cashback, net.referral, net.platform].iter().any(|x| *x < 0)
        {
            problems.push(format!("order {}/{}: parts do not add up", o.merchant_id, o.order_id));
        }
        if o.referrer_id.as_deref() == Some(o.user_id.as_str()) || (o.referrer_id.is_none() && b.referral != 0) {
            problems.push(format!("order {}/{}: referral not to one other user", o.merchant_id, o.order_id));
        }
    }
    check(
        "funded_at_sale",
        problems,
        format!("{} orders: cashback + referral within commission, one referral level", s.orders.len()),
    )
}

fn coverage(sums: &BTreeMap<(Currency, Account, String), i64>) -> Check {
    let mut problems = vec![];
    let mut uncovered: BTreeMap<Currency, i64> = BTreeMap::new();
    for ((cur, acct, owner), v) in sums {
        match acct {
            Account::PlatformShare | Account::WithdrawalFees if *v > 0 => {
                problems.push(format!("{cur} {} is negative", acct.name()))
            }
            Account::Reserve if *v < 0 => problems.push(format!("{cur} assets:reserve is below zero")),
            _ => {}
        }
        let claim = match acct {
            // Each user's available on its own: one user's debt never nets another's claim.
            Account::Available => (-v).max(0),
            Account::Held | Account::Withdrawing | Account::MerchantPayable => -v,
            Account::Reserve => -v,
            _ => continue,
        };
        let _ = owner;
        *uncovered.entry(*cur).or_default() += claim;
    }
    let fine = if uncovered.is_empty() {
        "nothing owed".to_string()
    } else {
        let parts: Vec<String> =
            uncovered.iter().map(|(c, v)| format!("{c} {}", format_minor((*v).max(0), *c))).collect();
        format!("income and reserve not negative; uncovered: {}", parts.join(", "))
    };
    check("coverage", problems, fine)
}

fn no_overdraft(sums: &BTreeMap<(Currency, Account, String), i64>) -> Check {
    let mut problems = vec![];
    for ((cur, acct, owner), v) in sums {
        let user_sees_negative =
            matches!(acct, Account::Pending | Account::Available | Account::Held | Account::Withdrawing) && *v > 0;
        if user_sees_negative || (*acct == Account::ClawbackReceivable && *v < 0) {
            problems.push(format!("{cur} {} of {owner} is {v}", acct.name()));
        }
        if *acct == Account::ClawbackReceivable && *v > 0 {
            let avail = sums.get(&(*cur, Account::Available, owner.clone())).copied().unwrap_or(0);
            if avail < 0 {
                problems.push(format!("{cur} user {owner} has both clawback debt and available money"));
            }
        }
    }
    check("no_overdraft", problems, "no user bucket below zero; no user with both debt and available".into())
}

fn exactly_once(s: &Snapshot) -> Check {
    // Each business event books at most one entry: an order is paid and released once, each
    // refund id once per order, and each redemption is held, captured, voided or expired once
    // and refunded once per credit refund id.
    let mut seen: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
    let mut problems = vec![];
    for e in &s.entries {
        let m = e.merchant_id.as_deref().unwrap_or("");
        let reference = e.reference.as_deref().unwrap_or("");
        let key = match e.kind {
            EntryKind::OrderPaid | EntryKind::Release | EntryKind::Refund => {
                (m, e.order_id.as_deref().unwrap_or(""), reference)
            }
            _ => (m, "", reference),
        };
        let kind = match e.kind {
            // A hold ends once, whichever way; so does a withdrawal.
            EntryKind::Capture | EntryKind::Void | EntryKind::HoldExpired => "hold_end",
            EntryKind::WithdrawalPaid | EntryKind::WithdrawalRejected => "withdrawal_end",
            k => k.as_str(),
        };
        let n = seen.entry((key.0, key.1, key.2, kind)).or_default();
        *n += 1;
        if *n == 2 {
            problems.push(format!("{kind} of {}/{}{} booked more than once", key.0, key.1, key.2));
        }
    }
    check("exactly_once", problems, format!("{} entries, each event booked at most once", s.entries.len()))
}

fn orders_match_ledger(s: &Snapshot) -> Check {
    // Per order: what its entries left on each party equals what the order says it booked,
    // and each of its entries carries the order's program version (the journal prints it).
    let mut by_order: HashMap<(&str, &str), Vec<&EntryRow>> = HashMap::new();
    for e in &s.entries {
        if let (Some(m), Some(o)) = (&e.merchant_id, &e.order_id) {
            by_order.entry((m.as_str(), o.as_str())).or_default().push(e);
        }
    }
    let mut per_entry: HashMap<i64, Vec<&PostingRow>> = HashMap::new();
    for p in &s.postings {
        per_entry.entry(p.entry_id).or_default().push(p);
    }
    let mut problems = vec![];
    for o in &s.orders {
        let net = o.booked.minus(&o.reversed);
        let (mut mr, mut ps, mut buyer, mut referrer) = (0i64, 0i64, 0i64, 0i64);
        for e in by_order.get(&(o.merchant_id.as_str(), o.order_id.as_str())).into_iter().flatten() {
            if e.program_version != Some(o.program_version) {
                problems.push(format!(
                    "order {}/{}: entry {} says program version {:?}, the order {}",
                    o.merchant_id, o.order_id, e.id, e.program_version, o.program_version
                ));
            }
            for p in per_entry.get(&e.id).into_iter().flatten() {
                match p.account {
                    Account::MerchantReceivable => mr += p.amount,
                    Account::PlatformShare => ps += p.amount,
                    a if a.owner() == super::ledger::Owner::User && p.owner == o.user_id => buyer += p.amount,
                    a if a.owner() == super::ledger::Owner::User && Some(&p.owner) == o.referrer_id.as_ref() => {
                        referrer += p.amount
                    }
                    a if a.owner() == super::ledger::Owner::User => problems.push(format!(
                        "order {}/{}: a posting to {}, who is neither buyer nor referrer",
                        o.merchant_id, o.order_id, p.owner
                    )),
                    _ => {}
                }
            }
        }
        if (mr, -ps, -buyer, -referrer) != (net.commission, net.platform, net.cashback, net.referral) {
            problems.push(format!(
                "order {}/{}: ledger has commission {mr}, platform {}, cashback {}, referral {}; order says {:?}",
                o.merchant_id, o.order_id, -ps, -buyer, -referrer, net
            ));
        }
    }
    check("orders_match_ledger", problems, format!("{} orders equal what the ledger booked for them", s.orders.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::engine::{book_order, refund_order, Order, OrderStatus};
    use crate::domain::ledger::Books;
    use crate::domain::memory::MemoryBooks;
    use crate::domain::program::Components;

    fn order() -> Order {
        Order {
            merchant_id: "m".into(),
            order_id: "o".into(),
            user_id: "u".into(),
            referrer_id: Some("r".into()),
            currency: Currency::parse("CNY").unwrap(),
            amount: 1000,
            paid_at: 0,
            release_at: 10,
            booked: Components { commission: 200, cashback: 100, referral: 10, platform: 90 },
            reversed: Components::default(),
            refunded: 0,
            status: OrderStatus::Pending,
            released_at: None,
            program_version: 1,
        }
    }

    fn failing(s: &Snapshot) -> Vec<&'static str> {
        verify(s).into_iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    #[test]
    fn a_sound_ledger_passes_and_each_kind_of_damage_is_caught() {
        let mut b = MemoryBooks::default();
        let mut o = order();
        book_order(&mut b, &o).unwrap();
        refund_order(&mut b, &mut o, 100, 5, false, "R1").unwrap();
        let good = b.snapshot(vec![o.clone()]);
        assert!(failing(&good).is_empty(), "{:?}", verify(&good));

        // The same refund booked twice.
        let mut twice = b.clone();
        let dup = twice.entries.last().unwrap().1.clone();
        twice.append(&dup).unwrap();
        assert!(failing(&twice.snapshot(vec![o.clone()])).contains(&"exactly_once"));

        // A referral credited to someone else than the referrer.
        let mut wrong = good.clone();
        for p in wrong.postings.iter_mut().filter(|p| p.owner == "r") {
            p.owner = "x".into();
        }
        assert!(failing(&wrong).contains(&"orders_match_ledger"));

        // An entry of the order that does not carry the order's program version.
        let mut version = good.clone();
        version.entries[1].program_version = Some(2);
        assert_eq!(failing(&version), ["orders_match_ledger"]);

        // A stored balance or a balance-after that disagrees with the postings.
        let mut bal = good.clone();
        *bal.balances.values_mut().next().unwrap() += 1;
        assert_eq!(failing(&bal), ["balances_match_postings"]);
        let mut after = good.clone();
        after.postings[0].balance_after += 1;
        assert_eq!(failing(&after), ["balances_match_postings"]);

        // An unbalanced entry, unguarded journal, an unfunded order.
        let mut unbalanced = good.clone();
        unbalanced.postings[0].amount += 1;
        assert!(failing(&unbalanced).contains(&"entries_balance"));
        let mut unguarded = good.clone();
        unguarded.journal_guarded = false;
        assert_eq!(failing(&unguarded), ["journal_append_only"]);
        let mut unfunded = good.clone();
        unfunded.orders[0].booked.cashback = 195;
        assert!(failing(&unfunded).contains(&"funded_at_sale"));
    }
}
