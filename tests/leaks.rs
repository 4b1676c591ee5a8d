//! Nothing a guest does outlives what it was done in: 10 000 traps, 10 000 instantiations and
//! 10 000 failed calls on every engine leave resident memory within [`BOUND`] of where it was
//! after the first 100 of each, and a normal call then works; 2 000 distinct modules compiled
//! and dropped leave memory and the process's mappings where they were. A binary of its own,
//! so that no other test's allocations are counted, and the engines' tests run one at a time.

mod common;

use std::sync::Mutex;

use common::{instance, module};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, Trap, WasmError};

wasmhost::on_every_engine!(
    ten_thousand_traps_instantiations_and_failed_calls_leave_memory_where_it_was,
    modules_compiled_and_dropped_leave_memory_and_mappings_where_they_were,
);

/// One engine at a time: resident memory and mappings are the whole process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How much resident memory may grow between the 100th and the 10 000th of each: room for
/// allocator and engine caches settling, far below what a leak of even 1 KiB per
/// iteration (10 MiB) would add.
const BOUND: u64 = 8 << 20;
/// How much resident memory may grow over 1 900 compiled and dropped modules: a leak of
/// 512 bytes per module would pass [`BOUND`] but not this.
const COMPILE_BOUND: u64 = 1 << 20;
const WARM_UP: usize = 100;
const ITERATIONS: usize = 10_000;

/// The process's resident memory, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux's /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Runs `step` [`ITERATIONS`] times and checks resident memory against the level after the
/// first [`WARM_UP`].
fn stays_bounded(engine: &AnyEngine, what: &str, mut step: impl FnMut(usize)) {
    let mut after_warm_up = 0;
    for i in 0..ITERATIONS {
        if i == WARM_UP {
            after_warm_up = resident();
        }
        step(i);
    }
    let after = resident();
    let growth = after.saturating_sub(after_warm_up);
    println!(
        "{}: {ITERATIONS} {what}: resident {} KiB after {WARM_UP}, {} KiB after, +{} KiB",
        engine.name(),
        after_warm_up >> 10,
        after >> 10,
        growth >> 10
    );
    assert!(
        growth <= BOUND,
        "{}: {what} grew resident memory by {growth} bytes",
        engine.name()
    );
}

fn ten_thousand_traps_instantiations_and_failed_calls_leave_memory_where_it_was(
    engine: &AnyEngine,
) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());

    let mut traps = instance(engine, "traps");
    stays_bounded(engine, "traps", |_| {
        let result = traps.call_raw("unreachable", &[]);
        assert_eq!(result, Err(WasmError::Trap(Trap::Unreachable)));
    });

    let echo = module(engine, "echo");
    let prelinked = echo.prelink(&HostFunctions::new()).unwrap();
    stays_bounded(engine, "instantiations", |i| {
        let mut guest = prelinked.instantiate(()).unwrap();
        if i % 100 == 0 {
            assert_eq!(guest.call::<_, String>("echo_string", "x").unwrap(), "x");
        }
    });

    let mut guest = instance(engine, "echo");
    stays_bounded(engine, "failed calls", |i| {
        // In turn: a missing export, input the guest cannot decode, output we cannot decode.
        let failed = match i % 3 {
            0 => guest.call::<_, String>("no_such_export", "x").err(),
            1 => guest.call::<_, String>("echo_string", &42u64).err(),
            _ => guest.call::<_, u64>("echo_string", "forty-two").err(),
        };
        assert!(failed.is_some(), "call {i} failed");
    });

    // And then a normal call.
    assert_eq!(
        guest.call::<_, String>("echo_string", "after").unwrap(),
        "after"
    );
}

/// The process's memory mappings.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("Linux's /proc")
        .lines()
        .count()
}

fn modules_compiled_and_dropped_leave_memory_and_mappings_where_they_were(engine: &AnyEngine) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Each module distinct, so that nothing is shared between them, with a few dozen
    // functions, as engines keep code per function.
    let module = |i: usize| {
        let wasm = wasmhost::wat2wasm(format!(
            "(module (func (export \"f\") (result i32) i32.const {i}) {})",
            "(func (param i32) (result i32) local.get 0 i32.const 1 i32.add drop i32.const 0)"
                .repeat(31)
        ))
        .unwrap();
        engine.compile(&wasm).unwrap()
    };
    const MODULES: usize = 2_000;
    let mut before = (0, 0);
    for i in 0..MODULES {
        if i == WARM_UP {
            before = (resident(), mappings());
        }
        let compiled = module(i);
        if i % 100 == 0 {
            let mut guest = compiled.instantiate(&HostFunctions::new(), ()).unwrap();
            assert_eq!(
                guest.call_raw("f", &[]),
                Ok(vec![wasmhost::Value::I32(i as i32)])
            );
        }
    }
    let after = (resident(), mappings());
    println!(
        "{}: {MODULES} modules compiled and dropped: resident {} -> {} KiB, mappings {} -> {}",
        engine.name(),
        before.0 >> 10,
        after.0 >> 10,
        before.1,
        after.1
    );
    // wasmer keeps a module's code as long as the engine that compiled it: one engine for
    // all would hold every module ever compiled (a mapping or more each).
    assert!(after.1 <= before.1 + 64, "{}: mappings grew", engine.name());
    // Tighter than [`BOUND`]: one wasmi engine for all kept about 2 KiB per module here.
    assert!(
        after.0.saturating_sub(before.0) <= COMPILE_BOUND,
        "{}: resident memory grew",
        engine.name()
    );
}
