//! WooCommerce's order webhooks (docs/integrations.md has the mapping table). Every delivery
//! carries the whole order, so each one is read as the order's state: paid once it is
//! `processing` or `completed`, each refund in `refunds[]` by its id, and what is left cancelled
//! once it is `refunded` or `cancelled`. What is booked already is skipped when the steps run,
//! so repeated `order.updated` deliveries book each change once.

use super::map::{self, currency, id_text, invalid, money, Mapped, Step};
use crate::app::error::Code;
use crate::domain::time::format_ts;
use serde_json::Value;

const PAID: [&str; 2] = ["processing", "completed"];
const ENDED: [&str; 2] = ["refunded", "cancelled"];

pub fn map(topic: &str, body: &Value, merchant: &str, now: i64) -> Mapped {
    if !matches!(topic, "order.created" | "order.updated") {
        return Mapped::Ignore(format!("topic {topic:?} books nothing"));
    }
    if body.get("line_items").is_none() && body.get("amount").is_some() {
        // An order-refund object: its refund is booked from the order's own refunds[].
        return Mapped::Ignore("a refund object alone: refunds are booked from the order's refunds[]".into());
    }
    let Some(order_id) = id_text(&body["id"]) else {
        return invalid(None, Code::InvalidRequest, "an order without an id");
    };
    let r = Some(order_id.as_str());
    let status = body["status"].as_str().unwrap_or_default();
    let customer = id_text(&body["customer_id"]).unwrap_or_else(|| "0".into());
    if customer == "0" {
        return Mapped::Ignore(format!("order {order_id} is a guest's: nobody to credit"));
    }
    let cur = match currency("currency", &body["currency"]) {
        Ok(c) => c,
        Err((c, d)) => return invalid(r, c, d),
    };
    let mut lines = Vec::new();
    for (i, li) in body["line_items"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let total = match money(&format!("line_items[{i}].total"), &li["total"], cur) {
            Ok(v) => v,
            Err((c, d)) => return invalid(r, c, d),
        };
        if total > 0 {
            let sku = li["sku"].as_str().filter(|s| !s.is_empty()).map(str::to_string).or_else(|| id_text(&li["id"]));
            lines.push((sku.unwrap_or_else(|| format!("line-{i}")), total, None));
        }
    }
    let amount: i64 = lines.iter().map(|l| l.1).sum();
    let order_total = match money("total", &body["total"], cur) {
        Ok(v) => v,
        Err((c, d)) => return invalid(r, c, d),
    };
    let paid_at = ["date_paid_gmt", "date_completed_gmt"]
        .iter()
        .find_map(|f| body[*f].as_str().filter(|s| !s.is_empty()))
        .map(|t| format!("{t}Z"));
    let mut steps = Vec::new();
    if PAID.contains(&status) && amount > 0 {
        let at = paid_at.clone().unwrap_or_else(|| format_ts(now, chrono_tz::UTC));
        let order = map::order_in(order_id.clone(), format!("{merchant}:{customer}"), cur, amount, at, Some(lines));
        steps.push(Step::Order(order));
    }
    let mut refunds: Vec<&Value> = body["refunds"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    refunds.sort_by_key(|r| r["id"].as_i64().unwrap_or(i64::MAX));
    for refund in refunds {
        let Some(refund_id) = id_text(&refund["id"]) else {
            return invalid(r, Code::InvalidRequest, "a refund without an id");
        };
        let total = match map::magnitude("refunds[].total", &refund["total"], cur) {
            Ok(v) => v,
            Err((c, d)) => return invalid(r, c, d),
        };
        // The refund's share of the lines: |total| × lines total ÷ order total, half-even.
        let prorated = map::prorate(total, amount, order_total);
        if prorated > 0 {
            steps.push(Step::Refund {
                order_id: order_id.clone(),
                refund_id,
                currency: cur,
                amount_minor: prorated,
                refunded_at: None,
            });
        }
    }
    if ENDED.contains(&status) {
        if paid_at.is_none() && steps.is_empty() {
            // Cancelled before it was ever paid: routine. Every delivery carries the whole
            // order, so a later payment arrives with its own state; nothing waits for it.
            return Mapped::Ignore(format!("order {order_id} was {status} before it was paid"));
        }
        steps.push(Step::Cancel { order_id: order_id.clone(), wait_if_unknown: false });
    }
    if steps.is_empty() {
        return Mapped::Ignore(format!("order {order_id} is {status:?}: nothing to book"));
    }
    Mapped::Steps { order_ref: order_id, steps }
}

#[cfg(test)]
mod tests {
    use super::super::map::fixture;
    use super::*;

    #[test]
    fn a_completed_order_with_refunds() {
        let Mapped::Steps { order_ref, steps } =
            map("order.updated", &fixture("woocommerce-order.updated.json"), "m1", 0)
        else {
            panic!("steps")
        };
        assert_eq!(order_ref, "723");
        let Step::Order(o) = &steps[0] else { panic!("an order") };
        assert_eq!((o.user_id.as_str(), o.amount.as_str()), ("m1:26", Some("29.00")));
        assert_eq!(o.paid_at, "2017-03-21T19:54:51Z", "date_completed_gmt, as UTC");
        let refunds: Vec<(String, i64)> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Refund { refund_id, amount_minor, .. } => Some((refund_id.clone(), *amount_minor)),
                _ => None,
            })
            .collect();
        // 9.00 × 29/39 = 6.69 and 10.00 × 29/39 = 7.44, by refund id.
        assert_eq!(refunds, vec![("724".to_string(), 669), ("726".to_string(), 744)]);
        assert_eq!(steps.len(), 3, "completed: no cancel");
    }

    #[test]
    fn guests_refund_objects_and_other_topics_book_nothing() {
        assert!(matches!(map("order.created", &fixture("woocommerce-order.created.json"), "m1", 0), Mapped::Ignore(_)));
        assert!(matches!(map("order.updated", &fixture("woocommerce-order-refund.json"), "m1", 0), Mapped::Ignore(_)));
        assert!(matches!(
            map("product.updated", &fixture("woocommerce-order.updated.json"), "m1", 0),
            Mapped::Ignore(_)
        ));
    }

    #[test]
    fn refunded_cancels_what_is_left_and_unpaid_cancels_book_nothing() {
        let mut o = fixture("woocommerce-order.updated.json");
        o["status"] = "refunded".into();
        let Mapped::Steps { steps, .. } = map("order.updated", &o, "m1", 0) else { panic!("steps") };
        assert!(matches!(steps.last(), Some(Step::Cancel { wait_if_unknown: false, .. })));
        o["status"] = "cancelled".into();
        o["date_completed_gmt"] = Value::Null;
        o["refunds"] = serde_json::json!([]);
        assert!(matches!(map("order.updated", &o, "m1", 0), Mapped::Ignore(_)), "unpaid and cancelled: nothing");
    }
}
