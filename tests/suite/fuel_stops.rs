//! Where portable fuel is tested (cost rules 10): only the charges of loop iterations and
//! of code that calls a function that may recurse or run long test the fuel, and a call to
//! the host tests it first; an `if` arm only subtracts. A guest that runs out in such an
//! arm still never gets more than its budget: on every engine and in both profiles, with
//! every budget around its cost, a call succeeds exactly when the budget pays for all of
//! it; otherwise it ends out of fuel with nothing left, whether it then returns, calls the
//! host (which never runs) or traps, and the instance is spent. Nor does it recurse any
//! further than its budget paid for. A function the host may call tests the fuel on its way
//! out, so a host function's own call back into the guest runs out as exactly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, Value, WasmError};

use crate::common::{compile_wat, with_portable_fuel};

/// Each export runs an `if` arm without calls (a charge that does not test the fuel), then
/// returns (at its end, by a branch to its body, by `return` in a loop), calls the host, or
/// traps (a load out of bounds).
const GUEST: &str = r#"(module
  (import "env" "note" (func $note))
  (memory 1)
  (func $arm (param $x i32) (result i32)
    local.get $x if
      local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
      local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
    end
    local.get $x i32.const 1 i32.add)
  (func (export "returns") (param $x i32) (result i32)
    local.get $x if
      local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
      local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
    end
    local.get $x)
  (func (export "branches_out") (param $x i32) (result i32)
    local.get $x if
      local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
      local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
    end
    local.get $x local.get $x br_if 0
    drop i32.const 0)
  (func (export "returns_from_a_loop") (param $x i32) (result i32) (local $i i32)
    loop $again
      local.get $i i32.const 1 i32.add local.set $i
      local.get $i i32.const 3 i32.eq if
        local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
        local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
        local.get $x return
      end
      br $again
    end
    unreachable)
  (func (export "calls_the_host") (param $x i32) (result i32)
    local.get $x if
      local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
      local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
    end
    call $note
    local.get $x)
  (func (export "calls_then_traps") (param $x i32) (result i32)
    local.get $x call $arm drop
    local.get $x if
      local.get $x i32.const 3 i32.mul i32.const 5 i32.add local.set $x
      local.get $x i32.const 7 i32.xor i32.const 1 i32.shl local.set $x
    end
    i32.const 65536 i32.load))"#;

fn runs_out_of_fuel_only_when_the_budget_cannot_pay_and_then_nothing_else_runs(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let engine = with_portable_fuel(engine, deterministic);
        let module = compile_wat(&engine, GUEST);
        let notes = Arc::new(AtomicU32::new(0));
        let mut host = HostFunctions::new();
        let seen = Arc::clone(&notes);
        host.raw("env", "note", &[], &[], move |_, _| {
            seen.fetch_add(1, Ordering::Relaxed);
            Ok(vec![])
        });
        let context = |export: &str| format!("{export}, deterministic: {deterministic}");
        for (export, ends) in [
            ("returns", Ok(vec![Value::I32(24)])),
            ("branches_out", Ok(vec![Value::I32(24)])),
            ("returns_from_a_loop", Ok(vec![Value::I32(24)])),
            ("calls_the_host", Ok(vec![Value::I32(24)])),
            (
                "calls_then_traps",
                Err(WasmError::Trap(wasmhost::Trap::MemoryOutOfBounds)),
            ),
        ] {
            // What the whole call costs, paid in full.
            let mut guest = module.instantiate(&host, ()).unwrap();
            guest.set_fuel(1 << 20).unwrap();
            let result = guest.call_raw(export, &[Value::I32(2)]);
            assert_eq!(result, ends, "{}", context(export));
            let cost = guest.fuel_consumed().unwrap();
            assert!(cost > 10, "{}: {cost}", context(export));
            for budget in 0..cost + 3 {
                notes.store(0, Ordering::Relaxed);
                let mut guest = module.instantiate(&host, ()).unwrap();
                guest.set_fuel(budget).unwrap();
                let result = guest.call_raw(export, &[Value::I32(2)]);
                let at = format!("{} with {budget} of {cost}", context(export));
                if budget >= cost {
                    assert_eq!(result, ends, "{at}");
                    assert_eq!(guest.fuel_consumed(), Some(cost), "{at}");
                } else {
                    assert_eq!(result, Err(WasmError::OutOfFuel), "{at}");
                    assert_eq!(guest.fuel_remaining(), Some(0), "{at}");
                    // Spent: the next call is refused.
                    let again = guest.call_raw("returns", &[Value::I32(0)]);
                    assert_eq!(again, Err(WasmError::OutOfFuel), "{at}");
                }
                // The host runs only once everything before it is paid for: here, the
                // whole call.
                let noted = notes.load(Ordering::Relaxed);
                let expected = u32::from(export == "calls_the_host" && budget >= cost);
                assert_eq!(noted, expected, "{at}");
            }
        }
    }
}

/// A recursion that counts its levels in memory, entered after an arm that does not test the
/// fuel: a call to a function that may recurse tests the fuel first, so a run that ran out
/// in the arm stops within a level.
const RECURSION: &str = r#"(module
  (memory (export "memory") 1)
  (func $rec (param $n i32)
    i32.const 0 i32.const 0 i32.load i32.const 1 i32.add i32.store
    local.get $n if
      local.get $n i32.const 1 i32.sub call $rec
    end)
  (func (export "recurse") (param $n i32) (local $m i32)
    local.get $n i32.const 1 i32.and if
      local.get $n i32.const 3 i32.mul i32.const 5 i32.add local.set $m
      local.get $m i32.const 7 i32.xor i32.const 1 i32.shr_u local.set $m
    end
    local.get $n call $rec))"#;

fn a_run_that_runs_out_recurses_no_further(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let engine = with_portable_fuel(engine, deterministic);
        let module = compile_wat(&engine, RECURSION);
        // What a level of the recursion costs: `n` = 9 against `n` = 1 (both odd, so the
        // arm runs in both).
        let cost = |n: i32| {
            let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
            guest.set_fuel(1 << 20).unwrap();
            guest.call_raw("recurse", &[Value::I32(n)]).unwrap();
            guest.fuel_consumed().unwrap()
        };
        let per_level = (cost(9) - cost(1)) / 8;
        assert!(per_level > 5, "{per_level}");
        for budget in 0..200 {
            let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
            guest.set_fuel(budget).unwrap();
            // Far deeper than the budget pays for, and than a native stack holds.
            let result = guest.call_raw("recurse", &[Value::I32(1_000_001)]);
            let at = format!("budget {budget}, deterministic: {deterministic}");
            assert_eq!(result, Err(WasmError::OutOfFuel), "{at}");
            let bytes = guest.memory_slice(0, 4).unwrap();
            let levels = u32::from_le_bytes(bytes.try_into().unwrap());
            assert!(
                u64::from(levels) <= budget / per_level + 1,
                "{at}: {levels} levels at {per_level} units each"
            );
        }
    }
}

/// `calls_the_host` of [`GUEST`], whose host function calls back into `returns`: both run an
/// arm that does not test the fuel, and the call back then returns.
fn a_call_back_from_the_host_succeeds_only_when_the_budget_pays_for_it(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let engine = with_portable_fuel(engine, deterministic);
        let module = compile_wat(&engine, GUEST);
        // What the host function's call back returned, when it ran.
        let nested = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&nested);
        let mut host = HostFunctions::new();
        host.raw("env", "note", &[], &[], move |ctx, _| {
            let result = ctx.guest().call_raw("returns", &[Value::I32(2)]);
            *seen.lock().unwrap() = Some(result);
            Ok(vec![])
        });
        let mut guest = module.instantiate(&host, ()).unwrap();
        guest.set_fuel(1 << 20).unwrap();
        let call = |guest: &mut wasmhost::AnyInstance<()>| {
            guest.call_raw("calls_the_host", &[Value::I32(2)])
        };
        assert_eq!(call(&mut guest), Ok(vec![Value::I32(24)]));
        let cost = guest.fuel_consumed().unwrap();
        for budget in 0..cost + 3 {
            *nested.lock().unwrap() = None;
            let mut guest = module.instantiate(&host, ()).unwrap();
            guest.set_fuel(budget).unwrap();
            let result = call(&mut guest);
            let at = format!("budget {budget} of {cost}, deterministic: {deterministic}");
            let nested = nested.lock().unwrap().take();
            if budget >= cost {
                assert_eq!(result, Ok(vec![Value::I32(24)]), "{at}");
                assert_eq!(nested, Some(Ok(vec![Value::I32(24)])), "{at}");
            } else {
                assert_eq!(result, Err(WasmError::OutOfFuel), "{at}");
                // Either the host never ran, or its call back ran out, however little of
                // the call back's arm was left unpaid.
                assert!(
                    matches!(nested, None | Some(Err(WasmError::OutOfFuel))),
                    "{at}: {nested:?}"
                );
            }
        }
    }
}

wasmhost::on_every_engine!(
    runs_out_of_fuel_only_when_the_budget_cannot_pay_and_then_nothing_else_runs,
    a_run_that_runs_out_recurses_no_further,
    a_call_back_from_the_host_succeeds_only_when_the_budget_pays_for_it,
);
