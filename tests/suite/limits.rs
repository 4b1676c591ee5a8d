//! Resource control on every engine: fuel in both metering modes, host charges, payload
//! costs, memory and table limits, and the call-depth limit. Each exhaustion is one typed
//! error, and the host keeps serving.

use crate::common;

use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, Bytes, Config, HostFunctions, Metering, Trap, ValType, Value, WasmError,
};

const MODES: [Metering; 2] = [Metering::Native, Metering::Portable];

/// `engine`'s kind, set up with `config`.
fn with(engine: &AnyEngine, config: Config) -> AnyEngine {
    AnyEngine::from_name(engine.name(), config).expect("engine is compiled in")
}

/// The `limits` guest, its `tick(i)` import recording each `i` it sees and charging
/// `charge_per_tick` fuel for it.
fn limits_guest(engine: &AnyEngine, charge_per_tick: u64) -> AnyInstance<Vec<i32>> {
    let mut host = HostFunctions::<Vec<i32>>::new();
    host.raw("env", "tick", &[ValType::I32], &[], move |ctx, args| {
        ctx.charge(charge_per_tick)?;
        if let [Value::I32(i)] = args {
            ctx.state_mut().push(*i);
        }
        Ok(vec![])
    });
    engine
        .compile(wasmhost_test_wasms::guest("limits"))
        .and_then(|m| m.instantiate(&host, Vec::new()))
        .unwrap_or_else(|e| panic!("limits guest on {}: {e}", engine.name()))
}

fn metered(engine: &AnyEngine, mode: Metering) -> AnyEngine {
    with(engine, Config::default().metering(mode))
}

fn an_endless_loop_runs_out_of_fuel(engine: &AnyEngine) {
    for mode in MODES {
        let engine = metered(engine, mode);
        let mut guest = limits_guest(&engine, 0);
        guest.set_fuel(100_000).unwrap();
        assert_eq!(
            guest.call_raw("spin", &[]),
            Err(WasmError::OutOfFuel),
            "{mode:?}"
        );
        assert_eq!(guest.fuel_remaining(), Some(0), "{mode:?}");
        assert_eq!(guest.fuel_consumed(), Some(100_000), "{mode:?}");
        // The instance is spent: it is not run again, even with new fuel.
        assert_eq!(
            guest.set_fuel(1 << 40),
            Err(WasmError::OutOfFuel),
            "{mode:?}"
        );
        assert_eq!(
            guest.call_raw("sum", &[Value::I32(3)]),
            Err(WasmError::OutOfFuel),
            "{mode:?}"
        );
        // A fresh instance: too small a budget stops it, a larger one completes.
        let mut fresh = limits_guest(&engine, 0);
        fresh.set_fuel(100).unwrap();
        let args = [Value::I32(10_000)];
        assert_eq!(
            fresh.call_raw("sum", &args),
            Err(WasmError::OutOfFuel),
            "{mode:?}"
        );
        let mut fresh = limits_guest(&engine, 0);
        fresh.set_fuel(10_000_000).unwrap();
        assert_eq!(
            fresh.call_raw("sum", &args),
            Ok(vec![Value::I64(50_005_000)])
        );
        let used = fresh.fuel_consumed().unwrap();
        assert!(used > 10_000 && used < 10_000_000, "{mode:?}: {used}");
        assert_eq!(fresh.fuel_remaining(), Some(10_000_000 - used), "{mode:?}");
    }
}

fn running_out_of_fuel_is_not_a_guest_unreachable(engine: &AnyEngine) {
    for mode in MODES {
        let mut guest = limits_guest(&metered(engine, mode), 0);
        assert_eq!(
            guest.call_raw("trap", &[]),
            Err(WasmError::Trap(Trap::Unreachable)),
            "{mode:?}"
        );
        // The guest's own trap does not spend the instance.
        assert_eq!(
            guest.call_raw("sum", &[Value::I32(2)]),
            Ok(vec![Value::I64(3)])
        );
    }
}

fn a_start_function_that_never_returns_runs_out_of_fuel(engine: &AnyEngine) {
    for mode in MODES {
        let engine = with(
            engine,
            Config::default().metering(mode).initial_fuel(50_000),
        );
        let module = engine
            .compile(wasmhost_test_wasms::guest("start_spin"))
            .unwrap();
        assert_eq!(
            module.instantiate(&HostFunctions::new(), ()).err(),
            Some(WasmError::OutOfFuel),
            "{mode:?}"
        );
    }
}

fn metering_off_has_no_fuel(engine: &AnyEngine) {
    let mut guest = limits_guest(engine, 0);
    assert_eq!(guest.fuel_remaining(), None);
    assert!(matches!(guest.set_fuel(10), Err(WasmError::Engine(_))));
    assert_eq!(
        guest.call_raw("sum", &[Value::I32(4)]),
        Ok(vec![Value::I64(10)])
    );
}

fn host_charges_count_and_can_exhaust_the_budget(engine: &AnyEngine) {
    for mode in MODES {
        let engine = metered(engine, mode);
        const CHARGE: u64 = 1_000_000;
        let consumed = |charge: u64| {
            let mut guest = limits_guest(&engine, charge);
            guest.set_fuel(1 << 40).unwrap();
            guest.call_raw("ticks", &[Value::I32(10)]).unwrap();
            guest.fuel_consumed().unwrap()
        };
        let guest_work = consumed(0);
        assert!(guest_work < CHARGE / 2, "{mode:?}: {guest_work}");
        assert_eq!(consumed(CHARGE) - guest_work, 10 * CHARGE, "{mode:?}");
        // The guest's own work always fits; the fourth charge does not: the guest stops
        // inside that host call, before the host function records it.
        let mut guest = limits_guest(&engine, CHARGE);
        guest
            .set_fuel(guest_work + 3 * CHARGE + CHARGE / 2)
            .unwrap();
        assert_eq!(
            guest.call_raw("ticks", &[Value::I32(10)]),
            Err(WasmError::OutOfFuel),
            "{mode:?}"
        );
        assert_eq!(guest.state(), &[0, 1, 2], "{mode:?}: ticks seen");
        assert_eq!(guest.fuel_remaining(), Some(0));
    }
}

fn serialized_host_functions_stop_the_guest_when_their_charge_does_not_fit(engine: &AnyEngine) {
    for mode in MODES {
        let engine = metered(engine, mode);
        let mut host = wasmhost_test_wasms::host::host_functions();
        host.func("host_count", |ctx, (): ()| -> Result<u64, WasmError> {
            ctx.charge(1 << 40)?;
            Ok(0)
        });
        let module = engine
            .compile(wasmhost_test_wasms::guest("host-calls"))
            .unwrap();
        let mut guest = module.instantiate(&host, 0).unwrap();
        // Not the guest's `Err` to handle: the call stops with the typed error.
        let result: Result<u64, _> = guest.call("count", &2u32);
        assert_eq!(result, Err(WasmError::OutOfFuel), "{mode:?}");
    }
}

fn payload_bytes_can_carry_a_cost(engine: &AnyEngine) {
    for mode in MODES {
        let costs = wasmhost::CostTable::default().payload_bytes_per_unit(1);
        let engine = with(engine, Config::default().metering(mode).costs(costs));
        let consumed = |len: usize| {
            let mut guest = common::module(&engine, "echo")
                .instantiate(&HostFunctions::new(), ())
                .unwrap();
            guest.set_fuel(1 << 40).unwrap();
            let out: Bytes = guest
                .call("echo_bytes", &Bytes::from(vec![7u8; len]))
                .unwrap();
            assert_eq!(out.len(), len);
            guest.fuel_consumed().unwrap()
        };
        let (small, large) = (consumed(0), consumed(100_000));
        // In and out: at least 200 000 bytes' worth more, plus the guest's copying.
        assert!(large - small >= 200_000, "{mode:?}: {small} → {large}");
    }
}

/// A bulk operation pays one unit per [`wasmhost::CostTable::bulk_bytes_per_unit`] bytes of
/// its length, rounded down: a rate that is a power of two (a shift) or not (a division).
fn bulk_operations_pay_their_length(engine: &AnyEngine) {
    let wat = r#"(module (memory 2)
      (func (export "fill") (param $len i32)
        (memory.fill (i32.const 0) (i32.const 7) (local.get $len))))"#;
    for per in [16, 10, 3] {
        let costs = wasmhost::CostTable::default().bulk_bytes_per_unit(per);
        let engine = with(
            engine,
            Config::default().metering(Metering::Portable).costs(costs),
        );
        let consumed = |len: u32| {
            let mut guest = wat_guest(&engine, wat);
            guest.set_fuel(1 << 40).unwrap();
            guest.call_raw("fill", &[Value::I32(len as i32)]).unwrap();
            guest.fuel_consumed().unwrap()
        };
        let none = consumed(0);
        for len in [1, 9, 10, 11, 100_000, 131_072] {
            let paid = consumed(len) - none;
            assert_eq!(paid, u64::from(len / per), "{len} bytes at {per}");
        }
    }
}

fn memory_grows_up_to_the_limit_then_fails(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_memory_bytes(4 * 65_536));
    let mut guest = limits_guest(&engine, 0);
    assert_eq!(
        guest.call_raw("grow", &[Value::I32(2)]),
        Ok(vec![Value::I32(1)])
    );
    // Past the limit memory.grow fails the way the spec allows: -1, and the guest goes on.
    assert_eq!(
        guest.call_raw("grow", &[Value::I32(2)]),
        Ok(vec![Value::I32(-1)])
    );
    assert_eq!(guest.memory_size(), Ok(3 * 65_536));
    // A guest that traps because it got no memory: the error says why.
    assert_eq!(
        guest.call_raw("grow_or_trap", &[Value::I32(2)]),
        Err(WasmError::MemoryLimit)
    );
    // The flag does not outlive the call: a later genuine trap is reported as itself.
    assert_eq!(
        guest.call_raw("trap", &[]),
        Err(WasmError::Trap(Trap::Unreachable))
    );
    assert_eq!(
        guest.call_raw("grow", &[Value::I32(1)]),
        Ok(vec![Value::I32(3)])
    );
}

fn a_rust_guest_that_wants_more_memory_than_the_limit_gets_memory_limit(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_memory_bytes(2 << 20));
    let mut guest = common::module(&engine, "payload")
        .instantiate(&HostFunctions::new(), ())
        .unwrap();
    let small: Result<Bytes, _> = guest.call("make", &(1024u64, 1u64));
    assert_eq!(small.map(|b| b.len()), Ok(1024));
    let big: Result<Bytes, _> = guest.call("make", &(16u64 << 20, 1u64));
    assert_eq!(big, Err(WasmError::MemoryLimit));
    // A fresh instance serves.
    let mut fresh = common::module(&engine, "payload")
        .instantiate(&HostFunctions::new(), ())
        .unwrap();
    let small: Result<Bytes, _> = fresh.call("make", &(1024u64, 1u64));
    assert_eq!(small.map(|b| b.len()), Ok(1024));
}

fn tables_grow_up_to_the_limit_then_trap(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_table_elements(3));
    let mut guest = limits_guest(&engine, 0);
    assert_eq!(
        guest.call_raw("table_grow", &[Value::I32(2)]),
        Ok(vec![Value::I32(1)])
    );
    assert_eq!(
        guest.call_raw("table_grow", &[Value::I32(1)]),
        Err(WasmError::TableLimit)
    );
    assert_eq!(
        guest.call_raw("sum", &[Value::I32(2)]),
        Ok(vec![Value::I64(3)])
    );
}

fn instances_that_start_over_the_limits_are_refused(engine: &AnyEngine) {
    let instantiate = |config: Config| {
        with(engine, config)
            .compile(wasmhost_test_wasms::guest("big_memory"))
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .err()
    };
    assert_eq!(
        instantiate(Config::default().max_memory_bytes(1 << 20)),
        Some(WasmError::MemoryLimit)
    );
    assert_eq!(
        instantiate(Config::default().max_table_elements(10)),
        Some(WasmError::TableLimit)
    );
    assert_eq!(
        instantiate(
            Config::default()
                .max_memory_bytes(4 << 20)
                .max_table_elements(100)
        ),
        None
    );
}

fn recursion_stops_at_the_configured_depth(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_call_depth(500));
    let mut guest = limits_guest(&engine, 0);
    assert_eq!(
        guest.call_raw("recurse", &[]),
        Err(WasmError::Trap(Trap::StackOverflow))
    );
    // The entry frame and 500 nested calls ran; the 501st call was refused.
    assert_eq!(
        guest.call_raw("depth_reached", &[]),
        Ok(vec![Value::I32(501)])
    );
    // The same instance goes on, with its depth back at 0.
    assert_eq!(
        guest.call_raw("nest", &[Value::I32(500)]),
        Ok(vec![Value::I32(500)])
    );
    assert_eq!(
        guest.call_raw("nest", &[Value::I32(501)]),
        Err(WasmError::Trap(Trap::StackOverflow))
    );
}

/// Recursion with frames of known sizes under a byte limit. `nest`: 1 parameter and at most
/// 2 values on its operand stack: 32 + 8 + 16 = 56 bytes. `wide`: 1 parameter, 20 `i64`
/// locals, 2 values: 32 + 168 + 16 = 216 bytes. `via_table` calls `nest` through the table,
/// which costs the largest frame of that signature (216). `inside` runs `$inside`, which
/// only the module's direct calls reach, so it takes its depth as a parameter: 1 parameter,
/// 1 local, 2 values: 32 + 16 + 16 = 64 bytes, `inside(n)` nesting `n + 1` of them.
const FRAMES: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $nest)
  (func $nest (export "nest") (type $t)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $nest (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func $wide (export "wide") (type $t)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $wide (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func (export "via_table") (type $t)
    (call_indirect (type $t) (local.get 0) (i32.const 0)))
  (func $inside (type $t) (local i32)
    (local.set 1 (i32.sub (local.get 0) (i32.const 1)))
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $inside (local.get 1)) (i32.const 1)))))
  (func (export "inside") (type $t) (call $inside (local.get 0)))
  (func $down (export "down") (call $down)))"#;

/// An instance of the text module `wat`, without imports, on `engine`.
fn wat_guest(engine: &AnyEngine, wat: &str) -> AnyInstance<()> {
    engine
        .compile(&wasmhost::wat2wasm(wat).unwrap())
        .and_then(|m| m.instantiate(&HostFunctions::new(), ()))
        .unwrap_or_else(|e| panic!("on {}: {e}", engine.name()))
}

fn frames_guest(engine: &AnyEngine, config: Config) -> AnyInstance<()> {
    wat_guest(&with(engine, config), FRAMES)
}

/// The deepest `export(n)` that runs, and that `n + 1` stops with a stack overflow.
fn assert_deepest(guest: &mut AnyInstance<()>, export: &str, deepest: i32) {
    assert_eq!(
        guest.call_raw(export, &[Value::I32(deepest)]),
        Ok(vec![Value::I32(deepest)]),
        "{export}({deepest})"
    );
    assert_eq!(
        guest.call_raw(export, &[Value::I32(deepest + 1)]),
        Err(WasmError::Trap(Trap::StackOverflow)),
        "{export}({})",
        deepest + 1
    );
}

fn the_stack_limit_counts_each_frame_s_bytes(engine: &AnyEngine) {
    let mut guest = frames_guest(engine, Config::default().max_stack_bytes(56 * 100));
    assert_deepest(&mut guest, "nest", 100);
    // 5 600 / 216: a frame holding more counts for more.
    assert_deepest(&mut guest, "wide", 25);
    // The indirect call counts the largest frame of its signature, then 56 a level.
    assert_deepest(&mut guest, "via_table", (5_600 - 216) / 56);
    // A depth passed as a parameter counts the same: 87 frames of 64 bytes.
    assert_deepest(&mut guest, "inside", 5_600 / 64 - 1);
    // A limit smaller than one frame: no call of that frame fits at all.
    let mut guest = frames_guest(engine, Config::default().max_stack_bytes(100));
    assert_deepest(&mut guest, "wide", 0);
    assert_deepest(&mut guest, "nest", 1);
}

/// `leafy(n)` nests `n` calls of itself (56 bytes each, as `nest`), and the deepest calls
/// `$leaf`, which calls nothing: 1 parameter, 5 `i64` locals, 2 values, 32 + 48 + 16 = 96
/// bytes. Such a call raises the depth only on its way to the trap.
const LEAF_AT_THE_BOTTOM: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (func $leaf (type $t) (local i64 i64 i64 i64 i64)
    (i32.add (local.get 0) (i32.const 1)))
  (func $leafy (export "leafy") (type $t)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $leaf (i32.const -1)))
      (else (i32.add (call $leafy (i32.sub (local.get 0) (i32.const 1))) (i32.const 1))))))"#;

fn a_call_to_a_function_that_calls_nothing_overflows_as_any_other(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_stack_bytes(56 * 100));
    let mut guest = wat_guest(&engine, LEAF_AT_THE_BOTTOM);
    // 98 nested calls and the leaf: 98 * 56 + 96 = 5 584 of 5 600 bytes. With 99, the leaf's
    // call is the one refused (99 * 56 alone fits), with the stack overflow's error.
    assert_deepest(&mut guest, "leafy", 98);
}

/// The deterministic profile's default: 256 KiB counted, the same call on every engine.
fn the_deterministic_profile_limits_the_stack(engine: &AnyEngine) {
    let mut guest = frames_guest(engine, Config::default().deterministic(true));
    let bytes = wasmhost::DEFAULT_MAX_STACK_BYTES as i32;
    assert_deepest(&mut guest, "nest", bytes / 56);
    assert_deepest(&mut guest, "wide", bytes / 216);
    assert_deepest(&mut guest, "inside", bytes / 64 - 1);
}

/// Calls among the module's own functions leave the depth raised (nothing reads it before
/// the next call sets it); a call from the host, the start function's included, returns
/// through a function that puts it back. So no call from the host, however many came
/// before, nests less deep.
const INTERNAL_CALLS: &str = r#"(module
  (func $leaf (result i32) (i32.const 1))
  (func $inner (result i32) (i32.add (call $leaf) (call $leaf)))
  (func $start (drop (call $inner)))
  (start $start)
  (func (export "outer") (result i32) (call $inner))
  (func $nest (export "nest") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $nest (i32.sub (local.get 0) (i32.const 1))) (i32.const 1))))))"#;

fn the_host_s_calls_leave_the_depth_where_they_found_it(engine: &AnyEngine) {
    let engine = with(engine, Config::default().max_stack_bytes(56 * 100));
    let mut guest = wat_guest(&engine, INTERNAL_CALLS);
    assert_deepest(&mut guest, "nest", 100);
    for _ in 0..1_000 {
        assert_eq!(guest.call_raw("outer", &[]), Ok(vec![Value::I32(2)]));
    }
    assert_deepest(&mut guest, "nest", 100);
}

/// The smallest frames (32 bytes counted) are where an engine's own stack holds the fewest
/// counted bytes: still, on a thread of 1 MiB, the deterministic profile's limit stops
/// unbounded recursion first, with the typed error, on every engine.
fn the_default_stack_limit_fits_a_thread_of_one_mib(engine: &AnyEngine) {
    let name = engine.name();
    let result = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let engine = AnyEngine::from_name(name, Config::default()).unwrap();
            let mut guest = frames_guest(&engine, Config::default().deterministic(true));
            guest.call_raw("down", &[])
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(result, Err(WasmError::Trap(Trap::StackOverflow)));
}

/// Without a depth limit each engine's own stack stops unbounded recursion, at depths that
/// differ; none may stop real programs early. wasmi's defaults (1 000 frames) did, where
/// the compiled engines reach tens of thousands of small frames.
fn without_a_depth_limit_recursion_goes_deep_on_every_engine(engine: &AnyEngine) {
    let wat = r#"(module
      (global (export "depth") (mut i32) (i32.const 0))
      (func $down (export "down")
        (global.set 0 (i32.add (global.get 0) (i32.const 1)))
        (call $down)))"#;
    let mut guest = wat_guest(engine, wat);
    assert_eq!(
        guest.call_raw("down", &[]),
        Err(WasmError::Trap(Trap::StackOverflow))
    );
    let Ok(Value::I32(depth)) = guest.global("depth") else {
        panic!("no depth");
    };
    assert!(
        depth >= 10_000,
        "{}: stopped at {depth} frames",
        engine.name()
    );
    // The host keeps serving: the instance runs again.
    assert_eq!(
        guest.call_raw("down", &[]),
        Err(WasmError::Trap(Trap::StackOverflow))
    );
}

/// Helpers only `run` calls, or (`exported`) helpers the host may call too, which then
/// charge their own entries. `$leaf` charges nothing once its callers pay its entry, so
/// they keep their copy of the fuel across the call; `$looper` charges each iteration and
/// `$grower` the pages it asks for, so their callers read the fuel again after them.
fn helpers(exported: bool) -> String {
    let export = |name: &str| match exported {
        true => format!("(export \"{name}\")"),
        false => String::new(),
    };
    format!(
        r#"(module
  (memory 1 100)
  (func $leaf {} (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $looper {} (param i32) (result i32)
    (loop $l
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get 0) (i32.const 0))))
    (local.get 0))
  (func $grower {} (result i32) (memory.grow (i32.const 1)))
  (func (export "run") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (call $leaf (local.get $acc)))
      (local.set $acc (i32.add (local.get $acc) (call $looper (local.get $n))))
      (local.set $acc (call $leaf (local.get $acc)))
      (local.set $acc (i32.add (local.get $acc) (call $grower)))
      (local.set $acc (call $leaf (local.get $acc)))
      (br_if $l (i32.gt_s (local.tee $n (i32.sub (local.get $n) (i32.const 1))) (i32.const 0))))
    (local.get $acc)))"#,
        export("leaf"),
        export("looper"),
        export("grower")
    )
}

fn helpers_that_charge_nothing_leave_their_callers_fuel_right(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let engine = with(
            engine,
            Config::default()
                .metering(Metering::Portable)
                .deterministic(deterministic),
        );
        let run = |exported: bool, n: i32, budget: u64| {
            let mut guest = wat_guest(&engine, &helpers(exported));
            guest.set_fuel(budget).unwrap();
            let result = guest.call_raw("run", &[Value::I32(n)]);
            (result, guest.fuel_consumed().unwrap())
        };
        for n in [1, 2, 7, 30] {
            let (result, used) = run(true, n, 1 << 40);
            assert!(result.is_ok(), "{result:?}");
            // The same units as when every helper charges its own entry...
            assert_eq!(
                run(false, n, 1 << 40),
                (result, used),
                "run({n}), deterministic: {deterministic}"
            );
            // ...and a budget one short stops it.
            assert_eq!(run(false, n, used - 1).0, Err(WasmError::OutOfFuel));
        }
    }
}

/// A loop of `n` rounds, each through two `if`s: the first's arms cost 4 and 6 units, the
/// second's `then` arm 2 and runs only when the first took its `else`.
const BRANCHY: &str = r#"(module
  (func (export "run") (param $n i32) (param $take i32) (result i32) (local $acc i32)
    (loop $l
      (if (local.get $take)
        (then (local.set $acc (i32.add (local.get $acc) (i32.const 3))))
        (else (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 5)) (i32.const 1)))))
      (if (i32.eqz (local.get $take)) (then (local.set $acc (i32.const 7))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc)))"#;

fn prepaid_if_arms_are_paid_whether_they_run_or_not(engine: &AnyEngine) {
    for deterministic in [false, true] {
        let run = |prepaid: u32, n: i32, take: i32, budget: u64| {
            let config = Config::default()
                .metering(Metering::Portable)
                .deterministic(deterministic)
                .costs(wasmhost::CostTable::default().prepaid_if_arm(prepaid));
            let mut guest = wat_guest(&with(engine, config), BRANCHY);
            guest.set_fuel(budget).unwrap();
            let result = guest.call_raw("run", &[Value::I32(n), Value::I32(take)]);
            (result, guest.fuel_consumed().unwrap())
        };
        let n = 25;
        let exact = [1, 0].map(|take| run(0, n, take, 1 << 40));
        assert!(exact[0].1 < exact[1].1, "{exact:?}");
        // Both `if`s prepaid: every round pays the dearer arms (6 + 2), taken or not, and
        // the guest computes what it did.
        for take in [1, 0] {
            let prepaid = run(6, n, take, 1 << 40);
            assert_eq!(prepaid.0, exact[1 - take as usize].0, "take {take}");
            assert_eq!(
                prepaid.1, exact[1].1,
                "take {take}, deterministic {deterministic}"
            );
            let short = run(6, n, take, prepaid.1 - 1);
            assert_eq!(short.0, Err(WasmError::OutOfFuel));
        }
        // Only the second `if` prepaid: a round that skips its arm pays its 2 units.
        assert_eq!(run(5, n, 1, 1 << 40).1, exact[0].1 + 2 * n as u64);
        assert_eq!(run(5, n, 0, 1 << 40), exact[1]);
    }
}

wasmhost::on_every_engine!(
    prepaid_if_arms_are_paid_whether_they_run_or_not,
    helpers_that_charge_nothing_leave_their_callers_fuel_right,
    a_call_to_a_function_that_calls_nothing_overflows_as_any_other,
    an_endless_loop_runs_out_of_fuel,
    the_host_s_calls_leave_the_depth_where_they_found_it,
    without_a_depth_limit_recursion_goes_deep_on_every_engine,
    running_out_of_fuel_is_not_a_guest_unreachable,
    a_start_function_that_never_returns_runs_out_of_fuel,
    metering_off_has_no_fuel,
    host_charges_count_and_can_exhaust_the_budget,
    serialized_host_functions_stop_the_guest_when_their_charge_does_not_fit,
    payload_bytes_can_carry_a_cost,
    bulk_operations_pay_their_length,
    memory_grows_up_to_the_limit_then_fails,
    a_rust_guest_that_wants_more_memory_than_the_limit_gets_memory_limit,
    tables_grow_up_to_the_limit_then_trap,
    instances_that_start_over_the_limits_are_refused,
    recursion_stops_at_the_configured_depth,
    the_stack_limit_counts_each_frame_s_bytes,
    the_deterministic_profile_limits_the_stack,
    the_default_stack_limit_fits_a_thread_of_one_mib,
);

/// Portable metering: what each engine reports for the same calls, in both profiles.
fn portable_runs(run: impl Fn(&AnyEngine) -> Vec<u64>) -> Vec<(String, Vec<u64>)> {
    let mut runs = Vec::new();
    for deterministic in [false, true] {
        let config = Config::default()
            .metering(Metering::Portable)
            .deterministic(deterministic);
        for engine in AnyEngine::all(&config) {
            runs.push((
                format!("{} det={deterministic}", engine.name()),
                run(&engine),
            ));
        }
    }
    runs
}

fn assert_all_equal(runs: &[(String, Vec<u64>)]) {
    let (first_name, first) = &runs[0];
    for (name, run) in runs {
        assert_eq!(run, first, "{name} against {first_name}");
    }
}

#[test]
fn portable_fuel_is_the_same_on_every_engine_for_raw_guests() {
    let runs = portable_runs(|engine| {
        let mut used = Vec::new();
        for n in [0, 1, 2, 7, 100, 1_000] {
            let mut guest = limits_guest(engine, 0);
            guest.set_fuel(1 << 40).unwrap();
            guest.call_raw("sum", &[Value::I32(n)]).unwrap();
            used.push(guest.fuel_consumed().unwrap());
        }
        used
    });
    assert_all_equal(&runs);
    // Each loop iteration costs the same: the meter counts work, not time.
    let used = &runs[0].1;
    assert_eq!(used[2] - used[1], used[1] - used[0]);
    assert_eq!(used[5] - used[4], 900 * (used[2] - used[1]));
}

#[test]
fn portable_fuel_stops_every_engine_at_the_same_instruction() {
    let runs = portable_runs(|engine| {
        let mut seen = Vec::new();
        for budget in [1, 30, 99, 250, 1_001, 4_321] {
            let mut guest = limits_guest(engine, 3);
            guest.set_fuel(budget).unwrap();
            let result = guest.call_raw("ticks", &[Value::I32(1_000)]);
            assert_eq!(result, Err(WasmError::OutOfFuel), "{budget}");
            seen.push(guest.state().len() as u64);
            seen.push(guest.fuel_consumed().unwrap());
        }
        seen
    });
    assert_all_equal(&runs);
    let ticks: Vec<_> = runs[0].1.iter().step_by(2).collect();
    assert!(
        ticks.windows(2).all(|w| w[0] <= w[1]) && *ticks[5] > 0,
        "{ticks:?}"
    );
}

/// A small deterministic generator: the inputs spread over sizes and contents without a
/// property-testing dependency, and a failure names its seed.
fn spread(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Some(x)
    })
}

#[test]
fn portable_fuel_is_the_same_on_every_engine_for_rust_guests() {
    use wasmhost_test_wasms::types::{Entry, Nested, Shape, Validation};
    for seed in 1..=8u64 {
        let runs = portable_runs(|engine| {
            let mut numbers = spread(seed);
            let mut next = |m: u64| numbers.next().unwrap() % m;
            let mut used = Vec::new();
            let mut measure = |guest: &str, call: &dyn Fn(&mut AnyInstance<u64>)| {
                let module = common::module(engine, guest);
                let mut instance = module
                    .instantiate(&wasmhost_test_wasms::host::host_functions(), 0)
                    .unwrap();
                instance.set_fuel(1 << 50).unwrap();
                call(&mut instance);
                used.push(instance.fuel_consumed().unwrap());
            };
            let text: String = (0..next(300))
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let len = next(200_000);
            let seed = next(256);
            let (a, b, c) = (
                next(1 << 40) as i64,
                next(1 << 40) as i64,
                next(1 << 40) as i64,
            );
            let nested = Nested {
                name: text.clone(),
                values: (0..next(50)).map(|v| v as i64 * a).collect(),
                ratio: f64::from_bits(next(u64::MAX)),
                child: None,
                tags: (0..next(20)).map(|k| (format!("k{k}"), k as u32)).collect(),
                shape: Shape::Circle(f32::from_bits(next(u32::MAX as u64) as u32)),
                blob: vec![seed as u8; next(5_000) as usize],
            };
            measure("echo", &|g| {
                let _: String = g.call("echo_string", &text).unwrap();
            });
            measure("echo", &|g| {
                let _: Nested = g.call("echo_nested", &nested).unwrap();
            });
            measure("payload", &|g| {
                let _: Bytes = g.call("make", &(len, seed)).unwrap();
                let _: (u64, u64) = g
                    .call("digest", &Bytes::from(vec![seed as u8; len as usize]))
                    .unwrap();
            });
            measure("host-calls", &|g| {
                let _: i64 = g.call("sum3", &(a, b, c)).unwrap();
                let _: u64 = g.call("count", &(len % 7)).unwrap();
                let _: String = g.call("shout", &text).unwrap();
            });
            measure("alloc-churn", &|g| {
                let _: u64 = g.call("churn", &((len % 500) as u32)).unwrap();
            });
            measure("greeter", &|g| {
                let _: String = g.call("greet", &text).unwrap();
            });
            let entry = Entry {
                author: text.clone(),
                content: "x".repeat(next(1_100) as usize),
                timestamp: next(3),
            };
            measure("validate", &|g| {
                let _: Validation = g.call("validate", &entry).unwrap();
            });
            measure("panics", &|g| {
                let result: Result<u8, _> = g.call("index_out_of_range", &(len as u32 % 6));
                assert!(result.is_ok() || matches!(result, Err(WasmError::GuestPanic(_))));
            });
            used
        });
        for (name, run) in &runs {
            assert!(run.iter().all(|&u| u > 0), "seed {seed}, {name}: {run:?}");
        }
        if runs.len() > 1 {
            let (first_name, first) = &runs[0];
            for (name, run) in &runs {
                assert_eq!(run, first, "seed {seed}: {name} against {first_name}");
            }
        }
    }
}
