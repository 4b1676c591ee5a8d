//! Nothing a guest does outlives what it was done in (`wasmhost_conformance::hostile::leaks`):
//! 10 000 traps, 10 000 instantiations and 10 000 failed calls on every engine leave resident
//! memory within `LEAK_BOUND` of where it was after the first 100 of each, and a normal call
//! then works. A binary of its own, so that no other test's allocations are counted, and the
//! engines' tests run one at a time.

use std::sync::Mutex;

use wasmhost::AnyEngine;
use wasmhost_conformance::hostile::{self, LEAK_BOUND, WARM_UP};

/// One engine at a time: resident memory is the whole process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ten_thousand_traps_instantiations_and_failed_calls_leave_memory_where_it_was(
    engine: &AnyEngine,
) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runs = hostile::leaks(engine, 10_000);
    assert_eq!(runs.len(), 3);
    for run in runs {
        println!(
            "{}: {} {}: resident {} KiB after {WARM_UP}, {} KiB after, +{} KiB",
            run.engine,
            run.iterations,
            run.what,
            run.resident_after_warm_up >> 10,
            run.resident_after >> 10,
            run.growth() >> 10
        );
        assert!(run.every_iteration_right, "{run:?}");
        assert!(run.resident_after_warm_up > 0, "resident memory is read");
        assert!(run.growth() <= LEAK_BOUND, "{run:?}");
    }
}

wasmhost::on_every_engine!(
    ten_thousand_traps_instantiations_and_failed_calls_leave_memory_where_it_was
);
