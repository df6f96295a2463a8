//! The points-pool ("consumption appreciation") model as its sellers describe it, as pure
//! functions over [`Pool`]. Every figure is a rust_decimal at full precision: sums and products
//! are exact while they fit 28 significant digits; a quotient (points issued, the price) is
//! rounded by rust_decimal to the digits it can hold, which moves a figure by less than 10^-20
//! of itself. Nothing here rounds to a currency: the model has no minor unit.

use rust_decimal::Decimal;

/// The pool and the points against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Money in the pool.
    pub pool: Decimal,
    /// Points held by buyers.
    pub points_outstanding: Decimal,
}

/// What one order did to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// The price the points were issued at (1.00 while no points are outstanding).
    pub price_before: Decimal,
    pub points_issued: Decimal,
    /// Money the order put into the pool (pool_share × amount).
    pub paid_in: Decimal,
    /// The price after the order.
    pub price_after: Decimal,
}

/// What one sale did to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sale {
    /// points × price before the sale.
    pub value: Decimal,
    /// payout_ratio × value, paid out of the pool to the seller.
    pub cash: Decimal,
    /// value − cash: left in the pool, for the holders who stay.
    pub retained: Decimal,
    pub price_before: Decimal,
    pub price_after: Decimal,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool { pool: Decimal::ZERO, points_outstanding: Decimal::ZERO }
    }
}

impl Pool {
    /// pool ÷ points outstanding, or 1.00 while no points are outstanding (the sellers' rule).
    pub fn price(&self) -> Decimal {
        if self.points_outstanding.is_zero() {
            Decimal::ONE
        } else {
            self.pool / self.points_outstanding
        }
    }

    /// An order of `amount`: points = gift_ratio × pool_share × amount ÷ price before the
    /// order; then pool += pool_share × amount; the price follows.
    pub fn issue(&mut self, amount: Decimal, pool_share: Decimal, gift_ratio: Decimal) -> Issue {
        let price_before = self.price();
        let paid_in = pool_share * amount;
        let points_issued = gift_ratio * paid_in / price_before;
        self.points_outstanding += points_issued;
        self.pool += paid_in;
        Issue { price_before, points_issued, paid_in, price_after: self.price() }
    }

    /// Sells `points` (at most what is outstanding): the seller gets payout_ratio × their value
    /// out of the pool; the rest stays in it, which raises the price for everyone else.
    pub fn sell(&mut self, points: Decimal, payout_ratio: Decimal) -> Sale {
        let points = points.min(self.points_outstanding);
        let price_before = self.price();
        let value = points * price_before;
        let cash = payout_ratio * value;
        // Sums of rounded quotients can leave dust when the last points are sold; dust as a
        // divisor would make the price explode, so it is swept to zero (never below it).
        // (A real holder has far more than 10^-18 of the points: that takes 10^18 orders.)
        // A decimal has 28 places at most, so dust is also up to a few 10^-28 whatever the
        // points were: when exits have lifted the price to 10^12, points are near 10^-9 and
        // such dust is above 10^-18 of them (a case proptest found).
        self.pool = (self.pool - cash).max(Decimal::ZERO);
        let before = self.points_outstanding;
        self.points_outstanding -= points;
        if self.points_outstanding <= (before * Decimal::new(1, 18)).max(Decimal::new(1, 26)) {
            self.points_outstanding = Decimal::ZERO;
        }
        Sale { value, cash, retained: value - cash, price_before, price_after: self.price() }
    }

    /// What `points` are worth at the current price.
    pub fn value(&self, points: Decimal) -> Decimal {
        points * self.price()
    }
}

/// The sellers' forced exit: a holder is sold out once their points are worth `multiple`
/// times what they spent.
pub fn exit_due(points: Decimal, price: Decimal, spent: Decimal, multiple: Decimal) -> bool {
    points * price >= multiple * spent
}

/// Forced exits as the sellers describe them, over holdings (points, spent) in order of
/// arrival: sell out the first holder due, then look again from the first, until none is due
/// (each sale leaves money behind and lifts the price). Returns who was sold out, in order.
/// The simulation runs the same rule through an index of exit prices; this is its reference.
pub fn run_exits(
    pool: &mut Pool,
    holdings: &mut [(Decimal, Decimal)],
    multiple: Decimal,
    payout: Decimal,
) -> Vec<(usize, Sale)> {
    let mut out = Vec::new();
    while let Some(i) = holdings
        .iter()
        .position(|(points, spent)| !points.is_zero() && exit_due(*points, pool.price(), *spent, multiple))
    {
        let sale = pool.sell(holdings[i].0, payout);
        holdings[i].0 = Decimal::ZERO;
        out.push((i, sale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: three orders of 100 at pool_share 0.30, gift_ratio 0.70.
    /// 1: 21 points at 1.00; pool 30; price 30/21.
    /// 2: 21 ÷ (30/21) = 14.7 points; pool 60; outstanding 35.7; price 60/35.7.
    /// 3: 21 ÷ (60/35.7) = 12.495 points; pool 90; outstanding 48.195; price 90/48.195.
    #[test]
    fn three_orders() {
        let mut p = Pool::default();
        let (a, s, g) = (d("100"), d("0.30"), d("0.70"));
        let i1 = p.issue(a, s, g);
        assert_eq!(i1.price_before, d("1"));
        assert_eq!(i1.points_issued, d("21"));
        assert_eq!(p.pool, d("30"));
        assert_eq!(round6(p.price()), d("1.428571"));
        let i2 = p.issue(a, s, g);
        assert_eq!(round6(i2.points_issued), d("14.7"));
        assert_eq!(round6(p.points_outstanding), d("35.7"));
        assert_eq!(p.pool, d("60"));
        assert_eq!(round6(p.price()), d("1.680672"));
        let i3 = p.issue(a, s, g);
        assert_eq!(round6(i3.points_issued), d("12.495"));
        assert_eq!(round6(p.points_outstanding), d("48.195"));
        assert_eq!(p.pool, d("90"));
        assert_eq!(round6(p.price()), d("1.867414"));
        // The value outstanding is the pool: price × points = pool, always.
        assert_eq!(round6(p.value(p.points_outstanding)), d("90"));
    }

    /// Hand-computed: after one order (pool 30, 21 points), selling half (10.5 points) at
    /// 30/21 is worth 15; 80% of it, 12, is paid; 3 stays; price 18/10.5 = 1.714286.
    #[test]
    fn a_sale_keeps_twenty_percent_in_the_pool() {
        let mut p = Pool::default();
        p.issue(d("100"), d("0.30"), d("0.70"));
        let s = p.sell(d("10.5"), d("0.80"));
        assert_eq!(round6(s.value), d("15"));
        assert_eq!(round6(s.cash), d("12"));
        assert_eq!(round6(s.retained), d("3"));
        assert_eq!(round6(p.pool), d("18"));
        assert_eq!(p.points_outstanding, d("10.5"));
        assert_eq!(round6(p.price()), d("1.714286"));
        assert!(s.price_after > s.price_before, "what a seller leaves behind raises the price");
    }

    #[test]
    fn selling_everything_leaves_the_retained_money_and_a_price_of_one() {
        let mut p = Pool::default();
        p.issue(d("100"), d("0.30"), d("0.70"));
        let s = p.sell(d("21"), d("0.80"));
        assert_eq!(round6(s.cash), d("24"));
        assert_eq!(round6(p.pool), d("6"));
        assert_eq!(p.points_outstanding, Decimal::ZERO);
        assert_eq!(p.price(), Decimal::ONE);
        // The next buyer's points are issued at 1.00, and the leftover 6 lifts them at once.
        let i = p.issue(d("100"), d("0.30"), d("0.70"));
        assert_eq!(i.points_issued, d("21"));
        assert_eq!(round6(i.price_after), round6(d("36") / d("21")));
    }

    /// Hand-computed: exit at 0.35 × spend of 100. After two orders (pool 60 over 35.7 points)
    /// the first buyer's 21 points are worth 600/17 = 35.29 ≥ 35: sold out for 480/17 = 28.24;
    /// the pool keeps 540/17 = 31.76 for the second buyer's 14.7 points, worth 31.76 < 35.
    #[test]
    fn a_forced_exit() {
        let mut p = Pool::default();
        p.issue(d("100"), d("0.30"), d("0.70"));
        p.issue(d("100"), d("0.30"), d("0.70"));
        let mut holdings = [(d("21"), d("100")), (d("14.7"), d("100"))];
        let sold = run_exits(&mut p, &mut holdings, d("0.35"), d("0.80"));
        assert_eq!(sold.len(), 1);
        assert_eq!(sold[0].0, 0);
        assert_eq!(round6(sold[0].1.value), d("35.294118"));
        assert_eq!(round6(sold[0].1.cash), d("28.235294"));
        assert_eq!(round6(p.pool), d("31.764706"));
        assert_eq!(holdings[1].0, d("14.7"), "the second buyer stays");
        assert!(!exit_due(holdings[1].0, p.price(), d("100"), d("0.35")));
    }

    /// Hand-computed cascade, exit at 1x, payout 0.5: pool 25 over 25 points (price 1);
    /// holders (10 points, spent 11), (10, spent 12), (5, spent 1). Only the third is due
    /// (worth 5 ≥ 1): it gets 2.5 and leaves 2.5, price 22.5/20 = 1.125. Now the first is due
    /// (11.25 ≥ 11): it gets 5.625, price 16.875/10 = 1.6875; then the second (16.875 ≥ 12).
    #[test]
    fn exits_repeat_until_none_is_due() {
        let mut p = Pool { pool: d("25"), points_outstanding: d("25") };
        let mut holdings = [(d("10"), d("11")), (d("10"), d("12")), (d("5"), d("1"))];
        let sold = run_exits(&mut p, &mut holdings, d("1"), d("0.5"));
        let order: Vec<usize> = sold.iter().map(|s| s.0).collect();
        assert_eq!(order, vec![2, 0, 1]);
        assert_eq!(round6(sold[1].1.cash), d("5.625"));
        assert_eq!(round6(sold[2].1.value), d("16.875"));
    }

    fn round6(v: Decimal) -> Decimal {
        v.round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointNearestEven).normalize()
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }
}
