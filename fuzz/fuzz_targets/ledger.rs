//! Stateful: random sequences of events (orders, refunds, cancels, releases, holds, captures,
//! voids, credit refunds, withdrawals paid or rejected, deposits) applied to the ledger core;
//! every invariant of DESIGN.md §5 is checked after each event.
#![no_main]
use cashback::domain::model::{program, Model, Op};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, events)) = data.split_first() else { return };
    let p = match which % 4 {
        0 => program("0.2", "0.112", "0.01", Some(50_000)),
        1 => program("0.05", "0.049999", "0.000001", None),
        2 => program("1", "0.5", "0.5", None),
        _ => program("0.000001", "0", "0", None),
    };
    let mut m = Model::new(p);
    for op in Op::decode(events).iter().take(200) {
        m.apply(op);
        m.assert_invariants();
    }
});
