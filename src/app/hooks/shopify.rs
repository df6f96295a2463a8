//! Shopify's webhooks (docs/integrations.md has the mapping table):
//! `orders/paid` → an order, `refunds/create` → a refund, `orders/cancelled` → a cancel.

use super::map::{self, category, currency, id_text, invalid, money, Mapped, Step};
use crate::app::error::Code;
use crate::domain::money::Currency;
use serde_json::Value;

pub fn map(topic: &str, body: &Value, merchant: &str) -> Mapped {
    match topic {
        "orders/paid" => paid(body, merchant),
        "refunds/create" => refund(body),
        "orders/cancelled" => match id_text(&body["id"]) {
            Some(id) => Mapped::Steps {
                order_ref: id.clone(),
                steps: vec![Step::Cancel { order_id: id, wait_if_unknown: true }],
            },
            None => invalid(None, Code::InvalidRequest, "orders/cancelled without an order id"),
        },
        other => Mapped::Ignore(format!("topic {other:?} books nothing")),
    }
}

fn shop_money(set: &Value) -> (&Value, &Value) {
    let m = &set["shop_money"];
    (&m["amount"], &m["currency_code"])
}

fn paid(body: &Value, merchant: &str) -> Mapped {
    let Some(order_id) = id_text(&body["id"]) else {
        return invalid(None, Code::InvalidRequest, "orders/paid without an order id");
    };
    let r = Some(order_id.as_str());
    let Some(customer) = id_text(&body["customer"]["id"]) else {
        return Mapped::Ignore(format!("order {order_id} has no customer: nobody to credit"));
    };
    let (amount, code) = shop_money(&body["current_subtotal_price_set"]);
    let cur = match currency("current_subtotal_price_set currency", code) {
        Ok(c) => c,
        Err((c, d)) => return invalid(r, c, d),
    };
    let amount = match money("current_subtotal_price_set", amount, cur) {
        Ok(a) => a,
        Err((c, d)) => return invalid(r, c, d),
    };
    if amount == 0 {
        return Mapped::Ignore(format!("order {order_id} has a subtotal of 0: nothing to book"));
    }
    let Some(paid_at) = body["processed_at"].as_str() else {
        return invalid(r, Code::InvalidRequest, "orders/paid without processed_at");
    };
    let lines = lines(body, cur).filter(|ls| ls.iter().map(|l| l.1).sum::<i64>() == amount);
    let order =
        map::order_in(order_id.clone(), format!("{merchant}:{customer}"), cur, amount, paid_at.to_string(), lines);
    Mapped::Steps { order_ref: order_id, steps: vec![Step::Order(order)] }
}

/// Line items net of their discount allocations; none when any cannot be read (the order is
/// then booked as one line of its amount, as it is when the lines do not sum to it).
fn lines(body: &Value, cur: Currency) -> Option<Vec<(String, i64, Option<String>)>> {
    let items = body["line_items"].as_array()?;
    let mut out = Vec::with_capacity(items.len());
    for li in items {
        let price = money("price", shop_money(&li["price_set"]).0, cur).ok()?;
        let quantity = li["quantity"].as_i64().filter(|q| *q > 0)?;
        let discounts = allocations(li, cur)?;
        let net = price.checked_mul(quantity)?.checked_sub(discounts)?;
        if net <= 0 {
            continue;
        }
        let sku = li["sku"].as_str().filter(|s| !s.is_empty()).map(str::to_string).or_else(|| id_text(&li["id"]))?;
        out.push((sku, net, category(&li["product_type"])));
    }
    (!out.is_empty()).then_some(out)
}

/// The discounts allocated to a line item, in minor units.
fn allocations(li: &Value, cur: Currency) -> Option<i64> {
    let mut total = 0i64;
    for a in li["discount_allocations"].as_array().map(Vec::as_slice).unwrap_or_default() {
        total += money("discount", shop_money(&a["amount_set"]).0, cur).ok()?;
    }
    Some(total)
}

/// The refunded line items' subtotals net of the discounts allocated to the quantity
/// refunded; shipping, tax and duty refunds reverse nothing.
fn refund(body: &Value) -> Mapped {
    let Some(order_id) = id_text(&body["order_id"]) else {
        return invalid(None, Code::InvalidRequest, "refunds/create without an order_id");
    };
    let r = Some(order_id.as_str());
    let Some(refund_id) = id_text(&body["id"]) else {
        return invalid(r, Code::InvalidRequest, "refunds/create without a refund id");
    };
    let items = body["refund_line_items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return Mapped::Ignore(format!("refund {refund_id} refunds no line item (shipping, tax or duties only)"));
    }
    let mut cur = None;
    let mut amount = 0i64;
    for item in items {
        let (subtotal, code) = shop_money(&item["subtotal_set"]);
        let c = match currency("subtotal_set currency", code) {
            Ok(c) => *cur.get_or_insert(c),
            Err((c, d)) => return invalid(r, c, d),
        };
        let subtotal = match money("refund_line_items subtotal_set", subtotal, c) {
            Ok(v) => v,
            Err((code, d)) => return invalid(r, code, d),
        };
        let li = &item["line_item"];
        let Some(discounts) = allocations(li, c) else {
            return invalid(r, Code::InvalidAmount, "a discount allocation is not an amount");
        };
        let (refunded, bought) = (item["quantity"].as_i64().unwrap_or(0), li["quantity"].as_i64().unwrap_or(0));
        let share = if bought > 0 && refunded < bought { map::prorate(discounts, refunded, bought) } else { discounts };
        amount += (subtotal - share).max(0);
    }
    let Some(cur) = cur else { return invalid(r, Code::InvalidRequest, "no currency") };
    if amount == 0 {
        return Mapped::Ignore(format!("refund {refund_id} reverses nothing"));
    }
    let refunded_at = body["processed_at"].as_str().or(body["created_at"].as_str()).map(str::to_string);
    Mapped::Steps {
        order_ref: order_id.clone(),
        steps: vec![Step::Refund { order_id, refund_id, currency: cur, amount_minor: amount, refunded_at }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::map::fixture;
    use super::*;

    #[test]
    fn orders_paid_books_the_subtotal_with_its_lines() {
        let Mapped::Steps { order_ref, steps } = map("orders/paid", &fixture("shopify-orders-paid.json"), "m1") else {
            panic!("steps")
        };
        assert_eq!(order_ref, "820982911946154508");
        let Step::Order(o) = &steps[0] else { panic!("an order") };
        assert_eq!(o.user_id, "m1:115310627314723954");
        assert_eq!((o.currency.as_str(), o.amount.as_str()), ("USD", Some("414.95")));
        assert_eq!(o.paid_at, "2021-12-31T19:00:00-05:00");
        let lines = o.lines.as_ref().unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!((lines[0].sku.as_str(), lines[0].amount.as_str()), ("SKU2006-001", Some("89.99")));
    }

    #[test]
    fn refunds_create_nets_the_allocated_discounts() {
        let Mapped::Steps { steps, .. } = map("refunds/create", &fixture("shopify-refunds-create.json"), "m1") else {
            panic!("steps")
        };
        let Step::Refund { refund_id, amount_minor, .. } = &steps[0] else { panic!("a refund") };
        assert_eq!(refund_id, "890088186047892319");
        // 89.99 + 19.99 + 24.99 + (159.99 − 10.00) + 119.99
        assert_eq!(*amount_minor, 40495);
    }

    #[test]
    fn other_topics_and_guests_book_nothing() {
        assert!(matches!(map("products/create", &Value::Null, "m1"), Mapped::Ignore(_)));
        let mut guest = fixture("shopify-orders-paid.json");
        guest["customer"] = Value::Null;
        assert!(matches!(map("orders/paid", &guest, "m1"), Mapped::Ignore(_)));
    }
}
