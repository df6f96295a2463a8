//! PostgreSQL: everything a batch holds, written in one statement before its commit.
//!
//! A batch ends with new orders, order states, refunds, idempotency records, entries, postings
//! and moved balances to write. As one INSERT or UPDATE each, that was eight round trips, about
//! half of a small batch's statements: at an offered 1,000 orders/s a batch holds a handful of
//! jobs, and its time, which every answer waits for, was mostly round trips. Here each table's
//! rows are bound as one array per column and unnested by a data-modifying CTE, so the batch
//! pays one round trip (and one parse) for all of them.
//!
//! Guarantees:
//! - The statement is one SQL text whatever the batch holds (empty arrays write nothing), and
//!   it runs inside the batch's transaction: all of it commits or none.
//! - The CTEs of one statement do not see each other's rows, so a state saved for an order
//!   the same flush inserts is written as part of that insert ([`fold_states`]); the UPDATE
//!   only touches orders already stored. Foreign keys are checked at the end of the statement,
//!   when every row of it is there.

use super::books::{EntryRow, IdemRow, OrderState, PostingRow};
use super::repo::{OrderRow, RefundRow};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, SmallInt, Text};
use std::collections::{HashMap, HashSet};

/// What a PostgreSQL batch writes at its end; balances as (currency, account, owner, balance).
#[derive(Default)]
pub(super) struct Rows {
    pub orders: Vec<OrderRow>,
    pub states: Vec<OrderState>,
    pub refunds: Vec<RefundRow>,
    pub remembered: Vec<IdemRow>,
    pub entries: Vec<EntryRow>,
    pub postings: Vec<PostingRow>,
    pub balance_updates: Vec<(&'static str, &'static str, String, i64)>,
    pub balance_inserts: Vec<(&'static str, &'static str, String, i64)>,
}

pub(super) const SQL: &str = "WITH \
  o AS (INSERT INTO orders (merchant_id, order_id, user_id, referrer_id, currency, amount_minor, paid_at, \
        release_at, released_at, status, commission_minor, cashback_minor, referral_minor, platform_minor, \
        rev_cashback_minor, rev_referral_minor, rev_platform_minor, refunded_minor, capped, program_version, \
        lines, created_at) \
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
        $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], \
        $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bool[], $20::int[], \
        $21::text[], $22::bigint[])), \
  s AS (UPDATE orders AS t SET rev_cashback_minor = v.rc, rev_referral_minor = v.rr, \
        rev_platform_minor = v.rp, refunded_minor = v.rf, status = v.st, released_at = v.ra \
        FROM unnest($23::text[], $24::text[], $25::bigint[], $26::bigint[], $27::bigint[], $28::bigint[], \
        $29::text[], $30::bigint[]) AS v(m, id, rc, rr, rp, rf, st, ra) \
        WHERE t.merchant_id = v.m AND t.order_id = v.id), \
  r AS (INSERT INTO refunds (merchant_id, order_id, refund_id, amount_minor, commission_minor, cashback_minor, \
        referral_minor, platform_minor, refunded_at, recorded_at) \
        SELECT * FROM unnest($31::text[], $32::text[], $33::text[], $34::bigint[], $35::bigint[], \
        $36::bigint[], $37::bigint[], $38::bigint[], $39::bigint[], $40::bigint[])), \
  i AS (INSERT INTO idempotency (scope, key, request, response, created_at) \
        SELECT * FROM unnest($41::text[], $42::text[], $43::text[], $44::text[], $45::bigint[])), \
  e AS (INSERT INTO entries (id, kind, currency, occurred_at, recorded_at, merchant_id, order_id, reference, \
        program_version) \
        SELECT * FROM unnest($46::bigint[], $47::text[], $48::text[], $49::bigint[], $50::bigint[], \
        $51::text[], $52::text[], $53::text[], $54::int[])), \
  p AS (INSERT INTO postings (id, entry_id, account_code, owner, currency, amount_minor, balance_after_minor) \
        SELECT * FROM unnest($55::bigint[], $56::bigint[], $57::smallint[], $58::text[], $59::text[], \
        $60::bigint[], $61::bigint[])), \
  bu AS (UPDATE balances AS b SET balance_minor = v.balance_minor \
        FROM unnest($62::text[], $63::text[], $64::text[], $65::bigint[]) AS v(currency, account, owner, balance_minor) \
        WHERE b.currency = v.currency AND b.account = v.account AND b.owner = v.owner), \
  bi AS (INSERT INTO balances (currency, account, owner, balance_minor) \
        SELECT * FROM unnest($66::text[], $67::text[], $68::text[], $69::bigint[])) \
SELECT 1";

/// Writes `rows` in one statement (see the module's guarantees).
pub(super) fn write(pg: &mut diesel::PgConnection, mut rows: Rows) -> QueryResult<()> {
    let states = fold_states(&mut rows.orders, std::mem::take(&mut rows.states));
    let q = super::prepared::Fixed::new(SQL);
    let o = &rows.orders;
    let q = q
        .bind::<Array<Text>, _>(col(o, |r| r.merchant_id.clone()))
        .bind::<Array<Text>, _>(col(o, |r| r.order_id.clone()))
        .bind::<Array<Text>, _>(col(o, |r| r.user_id.clone()))
        .bind::<Array<Nullable<Text>>, _>(col(o, |r| r.referrer_id.clone()))
        .bind::<Array<Text>, _>(col(o, |r| r.currency.clone()))
        .bind::<Array<BigInt>, _>(col(o, |r| r.amount_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.paid_at))
        .bind::<Array<BigInt>, _>(col(o, |r| r.release_at))
        .bind::<Array<Nullable<BigInt>>, _>(col(o, |r| r.released_at))
        .bind::<Array<Text>, _>(col(o, |r| r.status.clone()))
        .bind::<Array<BigInt>, _>(col(o, |r| r.commission_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.cashback_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.referral_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.platform_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.rev_cashback_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.rev_referral_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.rev_platform_minor))
        .bind::<Array<BigInt>, _>(col(o, |r| r.refunded_minor))
        .bind::<Array<Bool>, _>(col(o, |r| r.capped))
        .bind::<Array<Integer>, _>(col(o, |r| r.program_version))
        .bind::<Array<Text>, _>(col(o, |r| r.lines.clone()))
        .bind::<Array<BigInt>, _>(col(o, |r| r.created_at));
    let s = &states;
    let q = q
        .bind::<Array<Text>, _>(col(s, |r| r.merchant_id.clone()))
        .bind::<Array<Text>, _>(col(s, |r| r.order_id.clone()))
        .bind::<Array<BigInt>, _>(col(s, |r| r.rev_cashback_minor))
        .bind::<Array<BigInt>, _>(col(s, |r| r.rev_referral_minor))
        .bind::<Array<BigInt>, _>(col(s, |r| r.rev_platform_minor))
        .bind::<Array<BigInt>, _>(col(s, |r| r.refunded_minor))
        .bind::<Array<Text>, _>(col(s, |r| r.status.clone()))
        .bind::<Array<Nullable<BigInt>>, _>(col(s, |r| r.released_at));
    let r = &rows.refunds;
    let q = q
        .bind::<Array<Text>, _>(col(r, |r| r.merchant_id.clone()))
        .bind::<Array<Text>, _>(col(r, |r| r.order_id.clone()))
        .bind::<Array<Text>, _>(col(r, |r| r.refund_id.clone()))
        .bind::<Array<BigInt>, _>(col(r, |r| r.amount_minor))
        .bind::<Array<BigInt>, _>(col(r, |r| r.commission_minor))
        .bind::<Array<BigInt>, _>(col(r, |r| r.cashback_minor))
        .bind::<Array<BigInt>, _>(col(r, |r| r.referral_minor))
        .bind::<Array<BigInt>, _>(col(r, |r| r.platform_minor))
        .bind::<Array<BigInt>, _>(col(r, |r| r.refunded_at))
        .bind::<Array<BigInt>, _>(col(r, |r| r.recorded_at));
    let i = &rows.remembered;
    let q = q
        .bind::<Array<Text>, _>(col(i, |r| r.scope.clone()))
        .bind::<Array<Text>, _>(col(i, |r| r.key.clone()))
        .bind::<Array<Text>, _>(col(i, |r| r.request.clone()))
        .bind::<Array<Text>, _>(col(i, |r| r.response.clone()))
        .bind::<Array<BigInt>, _>(col(i, |r| r.created_at));
    let e = &rows.entries;
    let q = q
        .bind::<Array<BigInt>, _>(col(e, |r| r.id))
        .bind::<Array<Text>, _>(col(e, |r| r.kind))
        .bind::<Array<Text>, _>(col(e, |r| r.currency))
        .bind::<Array<BigInt>, _>(col(e, |r| r.occurred_at))
        .bind::<Array<BigInt>, _>(col(e, |r| r.recorded_at))
        .bind::<Array<Nullable<Text>>, _>(col(e, |r| r.merchant_id.clone()))
        .bind::<Array<Nullable<Text>>, _>(col(e, |r| r.order_id.clone()))
        .bind::<Array<Nullable<Text>>, _>(col(e, |r| r.reference.clone()))
        .bind::<Array<Nullable<Integer>>, _>(col(e, |r| r.program_version));
    let p = &rows.postings;
    let q = q
        .bind::<Array<BigInt>, _>(col(p, |r| r.id))
        .bind::<Array<BigInt>, _>(col(p, |r| r.entry_id))
        .bind::<Array<SmallInt>, _>(col(p, |r| r.account_code))
        .bind::<Array<Text>, _>(col(p, |r| r.owner.clone()))
        .bind::<Array<Text>, _>(col(p, |r| r.currency))
        .bind::<Array<BigInt>, _>(col(p, |r| r.amount_minor))
        .bind::<Array<BigInt>, _>(col(p, |r| r.balance_after_minor));
    let (bu, bi) = (&rows.balance_updates, &rows.balance_inserts);
    let q = q
        .bind::<Array<Text>, _>(col(bu, |b| b.0))
        .bind::<Array<Text>, _>(col(bu, |b| b.1))
        .bind::<Array<Text>, _>(col(bu, |b| b.2.clone()))
        .bind::<Array<BigInt>, _>(col(bu, |b| b.3))
        .bind::<Array<Text>, _>(col(bi, |b| b.0))
        .bind::<Array<Text>, _>(col(bi, |b| b.1))
        .bind::<Array<Text>, _>(col(bi, |b| b.2.clone()))
        .bind::<Array<BigInt>, _>(col(bi, |b| b.3));
    q.execute(pg).map(drop)
}

fn col<R, T>(rows: &[R], f: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Applies to `orders` (rows not stored yet) the states saved for them, and returns the other
/// states, each order's last one only, for the UPDATE.
pub(super) fn fold_states(orders: &mut [OrderRow], states: Vec<OrderState>) -> Vec<OrderState> {
    let index: HashMap<(String, String), usize> =
        orders.iter().enumerate().map(|(i, o)| ((o.merchant_id.clone(), o.order_id.clone()), i)).collect();
    let mut seen = HashSet::new();
    let mut rest = Vec::new();
    // Newest first: each order's last state wins, and the ones before it are dropped.
    for s in states.into_iter().rev() {
        let key = (s.merchant_id.clone(), s.order_id.clone());
        if !seen.insert(key.clone()) {
            continue;
        }
        match index.get(&key) {
            Some(&i) => orders[i] = s.applied_to(&orders[i]),
            None => rest.push(s),
        }
    }
    rest.reverse();
    rest
}
