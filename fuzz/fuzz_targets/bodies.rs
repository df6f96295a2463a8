//! Order and refund bodies of the checkout hook, and the shops' webhook bodies: parsing,
//! validation and mapping never panic, whatever the bytes.
#![no_main]
use cashback::app::hooks::{shopify, woocommerce};
use cashback::app::input;
use cashback::app::orders::{OrderIn, RefundIn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = input::json::<OrderIn>(data) {
        let _ = o.validate("m1", 1_700_000_000);
    }
    if let Ok(r) = input::json::<RefundIn>(data) {
        let _ = r.validate();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        for topic in ["orders/paid", "refunds/create", "orders/cancelled"] {
            let _ = shopify::map(topic, &v, "m1");
        }
        for topic in ["order.created", "order.updated"] {
            let _ = woocommerce::map(topic, &v, "m1", 1_700_000_000);
        }
    }
});
