//! Many threads on one compiled module (`wasmhost_conformance::hostile::threads`): every
//! call's result comes back right and exactly once, and no thread waits on another. (The
//! report and the benchmarks' `threads` group give calls per second.)

use wasmhost::AnyEngine;
use wasmhost_conformance::hostile;

fn threads_sharing_a_module_get_every_result_exactly_once(engine: &AnyEngine) {
    let run = hostile::threads(engine, 4, 1_000);
    assert_eq!(run.calls, 1_000);
    assert!(run.every_result_once, "{run:?}");
}

wasmhost::on_every_engine!(threads_sharing_a_module_get_every_result_exactly_once);
