//! Asyncify's state checks (`global.get $state  i32.eqz  if`, TinyGo's and Emscripten's
//! output) are paid with the code around them and pay their arm back when they skip it,
//! unless a branch may lead past them (then they are paid in their arm). On
//! every engine and in both profiles a guest so shaped gives the results and the portable
//! fuel of the same guest with its checks hidden (a `nop` before each `if`, which costs
//! nothing), arms run or skipped; with less fuel it stops no later.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, Value, WasmError};

use crate::common::{compile_wat, with_portable_fuel};

/// `CHECK` stands for each state check's `if`.
const GUEST: &str = r#"(module
  (global $state (mut i32) (i32.const 0))
  (func (export "set_state") (param i32) local.get 0 global.set $state)
  ;; Three checks: the second is passed by the first arm's way out, as asyncify leaves a
  ;; function when it unwinds.
  (func $step (param $x i32) (result i32)
    block $out
      global.get $state i32.eqz CHECK
        local.get $x i32.const 3 i32.mul local.set $x
        local.get $x i32.const 7 i32.and i32.eqz br_if $out
      end
      global.get $state i32.eqz CHECK
        local.get $x i32.const 11 i32.add local.set $x
      end
    end
    global.get $state i32.eqz CHECK
      local.get $x i32.const 1 i32.xor local.set $x
    end
    local.get $x)
  ;; A function whose only charge, its entry, its callers pay, and which holds a check.
  (func $bump (param $x i32) (result i32)
    global.get $state i32.eqz CHECK
      local.get $x i32.const 1 i32.add local.set $x
    end
    local.get $x)
  ;; A check in a loop that calls, and one whose arm calls.
  (func (export "calls") (param $n i32) (param $x i32) (result i32)
    loop $l
      global.get $state i32.eqz CHECK
        local.get $x i32.const 5 i32.add local.set $x
      end
      local.get $x call $step call $bump local.set $x
      global.get $state i32.eqz CHECK
        local.get $x call $step local.set $x
      end
      local.get $n i32.const 1 i32.sub local.tee $n
      br_if $l
    end
    local.get $x)
  ;; Checks passed by a `return`, a `br`, a `br_table` (one target lands before the
  ;; check, one past it) and a `br_if` that carries a value.
  (func (export "passed") (param $n i32) (param $x i32) (result i32)
    global.get $state i32.eqz CHECK
      local.get $x i32.const 5 i32.rem_u i32.eqz if local.get $x return end
    end
    global.get $state i32.eqz CHECK
      local.get $x i32.const 1 i32.add local.set $x
    end
    block $w
      local.get $x i32.const 4 i32.and if br $w end
      global.get $state i32.eqz CHECK
        local.get $x i32.const 3 i32.add local.set $x
      end
    end
    block $t
      block $u
        local.get $x local.get $n i32.add i32.const 1 i32.and br_table $u $t
      end
      global.get $state i32.eqz CHECK
        local.get $x i32.const 2 i32.shl local.set $x
      end
    end
    block $v (result i32)
      local.get $x local.get $x i32.const 3 i32.and br_if $v
      drop
      global.get $state i32.eqz CHECK
        local.get $x i32.const 9 i32.xor local.set $x
      end
      local.get $x
    end)
  ;; A counted loop whose way out passes a check, and one that leaves it early.
  (func (export "leaves") (param $n i32) (param $x i32) (result i32) (local $i i32)
    block $done
      loop $l
        local.get $x local.get $i i32.add local.set $x
        local.get $x i32.const 1000 i32.gt_u br_if $done
        local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $l
      end
      global.get $state i32.eqz CHECK
        local.get $x i32.const 7 i32.mul local.set $x
      end
    end
    local.get $x)
  ;; A check in a counted loop, which is paid for all its iterations at its entry.
  (func (export "counted") (param $n i32) (param $x i32) (result i32) (local $i i32)
    loop $l
      global.get $state i32.eqz CHECK
        local.get $x local.get $i i32.add local.set $x
      end
      local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $l
    end
    local.get $x))"#;

/// One call: its result (or error) and the fuel it consumed.
type Run = (Result<Vec<Value>, WasmError>, u64);

/// Per state, export, arguments and budget, the call ([`Run`]), the checks hidden or not.
fn runs(engine: &AnyEngine, hidden: bool, budgets: &[u64]) -> Vec<Run> {
    let check = if hidden { "nop if" } else { "if" };
    let module = compile_wat(engine, &GUEST.replace("CHECK", check));
    let mut seen = Vec::new();
    for state in [0, 1] {
        for export in ["calls", "counted", "passed", "leaves"] {
            for args in [[1, 0], [1, 7], [5, 2], [40, 9]] {
                for &budget in budgets {
                    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
                    guest.call_raw("set_state", &[Value::I32(state)]).unwrap();
                    guest.set_fuel(budget).unwrap();
                    let result = guest.call_raw(export, &args.map(Value::I32));
                    seen.push((result, guest.fuel_consumed().unwrap()));
                }
            }
        }
    }
    seen
}

fn state_checks_pay_what_hidden_ones_pay_and_stop_no_later(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let engine = with_portable_fuel(engine, deterministic);
        // With fuel to spare, the same results and units, arms run and skipped.
        let (checked, hidden) = (
            runs(&engine, false, &[1 << 20]),
            runs(&engine, true, &[1 << 20]),
        );
        assert_eq!(checked, hidden, "deterministic: {deterministic}");
        assert!(checked.iter().all(|(r, _)| r.is_ok()), "{checked:?}");
        let spent: Vec<u64> = checked.iter().map(|(_, fuel)| *fuel).collect();
        // Skipped arms are paid back: state 1 (the second half) skips every arm.
        let (running, unwinding) = spent.split_at(spent.len() / 2);
        assert!(
            unwinding.iter().zip(running).all(|(u, r)| u < r),
            "{spent:?}"
        );
        // Short of fuel: a run that ends ends as the hidden one does; one that runs out
        // may stop sooner (at the region around an arm it could not pay for with it).
        let budgets: Vec<u64> = (0..400).step_by(7).collect();
        let (checked, hidden) = (
            runs(&engine, false, &budgets),
            runs(&engine, true, &budgets),
        );
        let mut out = 0;
        for (k, (c, h)) in checked.iter().zip(&hidden).enumerate() {
            match &c.0 {
                Ok(_) => assert_eq!(c, h, "call {k}, deterministic: {deterministic}"),
                Err(WasmError::OutOfFuel) => out += 1,
                Err(e) => panic!("call {k}: {e}"),
            }
            if h.0 == Err(WasmError::OutOfFuel) {
                assert_eq!(c.0, Err(WasmError::OutOfFuel), "call {k}");
            }
        }
        assert!(out > 100, "only {out} calls ran out of fuel");
    }
}

wasmhost::on_every_engine!(state_checks_pay_what_hidden_ones_pay_and_stop_no_later);
