//! A module's code does not outlive the module: 2 000 distinct modules compiled and dropped
//! leave memory and the process's mappings where they were. A binary of its own, so that no
//! other test's allocations are counted. (Traps, instantiations and failed calls:
//! `conformance/tests/leaks.rs`.)

use std::sync::Mutex;

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions};

wasmhost::on_every_engine!(modules_compiled_and_dropped_leave_memory_and_mappings_where_they_were);

/// One engine at a time: resident memory and mappings are the whole process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How much resident memory may grow over 1 900 compiled and dropped modules: a leak of
/// 512 bytes per module would not pass.
const COMPILE_BOUND: u64 = 1 << 20;
/// Modules compiled before the level that later ones are measured against.
const WARM_UP: usize = 100;

/// The process's resident memory, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux's /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
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
    // One wasmi engine for all kept about 2 KiB per module here.
    assert!(
        after.0.saturating_sub(before.0) <= COMPILE_BOUND,
        "{}: resident memory grew",
        engine.name()
    );
}
