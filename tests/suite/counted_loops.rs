//! Counted loops (an inner loop whose trip count is known at its entry) run in a version
//! without per-iteration charges or interruption checks when the instrumentation can prove
//! the count. On every engine and in both profiles they give the results, the portable fuel
//! and the out-of-fuel points of the same loops written so that no count can be proved.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, Value, WasmError};

/// Loops in each shape compiled code ends them with, `BACK` standing for their back edge
/// and `OUT` for the branch out of the last one.
/// Each takes a start `$a`, a bound `$b` and a step `$s`, and returns a digest of the
/// iterations it ran.
const LOOPS: &str = r#"(module
  (memory 1)
  ;; i += 4 while i != b, a load and a store in the body
  (func (export "up_ne") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $i i32.const 1020 i32.and
      local.get $sum local.get $i i32.add i32.store
      local.get $sum i32.const 31 i32.mul local.get $i i32.add local.set $sum
      local.get $i i32.const 4 i32.add local.tee $i local.get $b i32.ne BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s while i < b (unsigned): a sieve's inner loop, with a branch inside a block
  (func (export "up_lt_u") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      block $skip
        local.get $i i32.const 3 i32.and br_if $skip
        local.get $sum i32.const 7 i32.add local.set $sum
      end
      local.get $sum local.get $i i32.xor local.set $sum
      local.get $i local.get $s i32.add local.tee $i local.get $b i32.lt_u BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; b > (i += 3), signed, with an if/else inside
  (func (export "up_gt_s_swapped") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $i i32.const 1 i32.and
      if
        local.get $sum i32.const 3 i32.add local.set $sum
      else
        local.get $sum i32.const 5 i32.mul local.set $sum
      end
      local.get $b
      i32.const 3 local.get $i i32.add local.tee $i
      i32.gt_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += 1 while i <= b (unsigned)
  (func (export "up_le_u") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum local.get $i i32.add local.set $sum
      local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.le_u BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += 4096 while i != b: from b itself, a whole turn of the counter, 2^32 / 4096
  ;; iterations
  (func (export "up_ne_by_4096") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.add local.set $sum
      local.get $i i32.const 4096 i32.add local.tee $i local.get $b i32.ne BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += 3 while i != b: a step the count divides by, and a whole turn it does not divide
  (func (export "up_ne_by_3") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.xor local.set $sum
      local.get $i i32.const 3 i32.add local.tee $i local.get $b i32.ne BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s while i <= 1000, signed: a constant bound
  (func (export "up_le_s_const") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.add local.set $sum
      local.get $i local.get $s i32.add local.tee $i i32.const 1000 i32.le_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s while i < 0xffff_fffe, unsigned: a constant bound a step can wrap past
  (func (export "up_lt_u_near_max") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 5 i32.mul local.get $i i32.xor local.set $sum
      local.get $i local.get $s i32.add local.tee $i i32.const -2 i32.lt_u BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s (negative) while i > b, unsigned
  (func (export "down_gt_u") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.xor local.set $sum
      local.get $i local.get $s i32.add local.tee $i local.get $b i32.gt_u BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i -= 3 while i >= -1000, signed: a constant bound
  (func (export "down_ge_s_const") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 7 i32.mul local.get $i i32.add local.set $sum
      local.get $i i32.const -3 i32.add local.tee $i i32.const -1000 i32.ge_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s (negative) while i >= b, signed
  (func (export "down_ge_s") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.add local.set $sum
      local.get $i local.get $s i32.add local.tee $i local.get $b i32.ge_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; a count down to 0
  (func (export "down_to_zero") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 3 i32.mul local.get $i i32.add local.set $sum
      local.get $i i32.const -1 i32.add local.tee $i BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s (negative) while i > b, signed
  (func (export "down_gt_s") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum local.get $i i32.add local.set $sum
      local.get $i local.get $s i32.add local.tee $i local.get $b i32.gt_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i -= 2 while i >= b, unsigned
  (func (export "down_ge_u") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum i32.const 5 i32.xor local.get $i i32.add local.set $sum
      local.get $i i32.const 2 i32.sub local.tee $i local.get $b i32.ge_u BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; a count down by 2 that leaves by a branch right after its back edge, as LLVM's
  ;; vectorized loops do; an odd start never meets 0 and runs out of fuel
  (func (export "down_by_two_then_out") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    block $out
      loop $l
        local.get $sum i32.const 7 i32.mul local.get $i i32.add local.set $sum
        local.get $i i32.const -2 i32.add local.tee $i BACK
        br $out
      end
    end
    local.get $sum local.get $i i32.xor)
  ;; Rust's shape: a bounds check's branch to a trap, out when i == b, back otherwise
  (func (export "out_when_done") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    block $done
      block $panic
        loop $l
          local.get $i i32.const 3000 i32.ge_u br_if $panic
          ;; a second check whose branch falls out of the loop's end, onto a trap
          block $check
            local.get $i i32.const 2000 i32.ge_u br_if $check
            local.get $sum local.get $i i32.add local.set $sum
            local.get $b local.get $i i32.const 1 i32.add local.tee $i i32.eq OUT
            br $l
          end
        end
        unreachable
      end
      unreachable
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s while i < b (signed), leaving early as a search does: by a branch that writes
  ;; the counter on its way out, and by a return
  (func (export "search") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    block $found
      loop $l
        local.get $sum i32.const 3 i32.mul local.get $i i32.add local.set $sum
        block $go
          local.get $i i32.const 63 i32.and i32.const 42 i32.ne br_if $go
          local.get $sum i32.const 1 i32.add local.set $i
          br $found
        end
        local.get $i i32.const 1000 i32.eq
        if local.get $sum return end
        local.get $i local.get $s i32.add local.tee $i local.get $b i32.lt_s BACK
      end
    end
    local.get $sum local.get $i i32.xor)
  ;; a panic handler that runs a while before its `unreachable`
  (func $burn (local $k i32)
    loop $l local.get $k i32.const 1 i32.add local.tee $k i32.const 200 i32.ne br_if $l end)
  ;; i += s while i < b (unsigned), leaving early by a `br_if` straight from the loop, with
  ;; an `if` arm inside and a panic past 5000 (a handler that burns fuel, then traps): paid
  ;; in advance, each way out pays back the iterations it leaves unrun
  (func (export "search_br_if") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    block $found
      loop $l
        local.get $i i32.const 5000 i32.gt_u
        if call $burn unreachable end
        local.get $sum i32.const 5 i32.mul local.get $i i32.xor local.set $sum
        local.get $sum i32.const 255 i32.and i32.const 7 i32.eq br_if $found
        local.get $i i32.const 3 i32.and
        if local.get $sum i32.const 1 i32.add local.set $sum end
        local.get $i local.get $s i32.add local.tee $i local.get $b i32.lt_u BACK
      end
    end
    local.get $sum local.get $i i32.xor)
  ;; the same search, its way out carrying a value: no refund fits, paid per iteration
  (func (export "search_with_value") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    block $found (result i32)
      loop $l
        local.get $sum i32.const 5 i32.mul local.get $i i32.xor local.set $sum
        local.get $sum local.get $sum i32.const 255 i32.and i32.const 7 i32.eq br_if $found
        drop
        local.get $i local.get $s i32.add local.tee $i local.get $b i32.lt_u BACK
      end
      local.get $sum
    end
    local.get $i i32.xor)
  ;; i += 1 first, the body reading the stepped counter, then b != i: LLVM's shape when
  ;; the body uses i + 1 (spectral norm's inner loop)
  (func (export "stepped_first_ne") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $sum i32.const 3 i32.mul i32.add local.set $sum
      local.get $b local.get $i i32.ne BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; i += s stepped mid-body by a `local.set`, a branch in a block after it, i < b signed
  (func (export "stepped_first_lt_s") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $sum local.get $i i32.xor local.set $sum
      local.get $i local.get $s i32.add local.set $i
      block $skip
        local.get $i i32.const 1 i32.and br_if $skip
        local.get $sum i32.const 9 i32.add local.set $sum
      end
      local.get $i local.get $b i32.lt_s BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; a count down to 0 stepped first, the counter itself tested
  (func (export "stepped_first_down") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32)
    local.get $a local.set $i
    loop $l
      local.get $i i32.const -1 i32.add local.set $i
      local.get $sum i32.const 5 i32.mul local.get $i i32.add local.set $sum
      local.get $i BACK
    end
    local.get $sum local.get $i i32.xor)
  ;; five rows, each i += s while i < b (signed) from a: a loop of a constant count around
  ;; counted loops goes without its interruption check, their chunks a fifth as long
  (func (export "rows") (param $a i32) (param $b i32) (param $s i32) (result i32)
    (local $i i32) (local $sum i32) (local $row i32)
    i32.const 0 local.set $row
    loop $rows
      local.get $a local.set $i
      loop $l
        local.get $sum i32.const 7 i32.mul local.get $i i32.add local.set $sum
        local.get $i local.get $s i32.add local.tee $i local.get $b i32.lt_s BACK
      end
      local.get $sum local.get $row i32.add local.set $sum
      local.get $row i32.const 1 i32.add local.tee $row i32.const 5 i32.ne br_if $rows
    end
    local.get $sum local.get $i i32.xor)
)"#;

const EXPORTS: [&str; 23] = [
    "up_ne",
    "up_ne_by_4096",
    "up_ne_by_3",
    "up_le_s_const",
    "up_lt_u_near_max",
    "down_gt_u",
    "down_ge_s_const",
    "down_ge_s",
    "up_lt_u",
    "up_gt_s_swapped",
    "up_le_u",
    "down_to_zero",
    "down_gt_s",
    "down_ge_u",
    "down_by_two_then_out",
    "out_when_done",
    "search",
    "search_br_if",
    "search_with_value",
    "stepped_first_ne",
    "stepped_first_lt_s",
    "stepped_first_down",
    "rows",
];

/// Enough for loops of a few thousand iterations: longer ones run out of fuel.
const BUDGET: u64 = 40_000;

/// The loops whose only trap is a panic handler's, which a loop that may leave early pays
/// back before, as it does before every way out: their traps leave nothing unrun paid.
const EXACT_ON_TRAPS: [&str; 1] = ["search_br_if"];

/// One call: the export, its result (or error) and the fuel it consumed.
type Run = (&'static str, Result<Vec<Value>, WasmError>, u64);

/// Per export and arguments, the call ([`Run`]).
fn runs(engine: &AnyEngine, hidden: bool) -> Vec<Run> {
    // An empty block before the branch costs nothing and hides the loop's shape.
    let hide = if hidden { "block end" } else { "" };
    let wat = LOOPS
        .replace("BACK", &format!("{hide} br_if $l"))
        .replace("OUT", &format!("{hide} br_if $done"));
    let wasm = wasmhost::wat2wasm(wat).unwrap();
    let module = engine
        .compile(&wasm)
        .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
    let edges = [0, 1, 3, 8, 1000, -1, -8, i32::MIN, i32::MAX, i32::MAX - 2];
    let steps = [1, 2, 5, -1, -3, 0];
    let mut seen = Vec::new();
    for export in EXPORTS {
        for a in edges {
            for b in edges {
                for s in steps {
                    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
                    guest.set_fuel(BUDGET).unwrap();
                    let args = [Value::I32(a), Value::I32(b), Value::I32(s)];
                    let result = guest.call_raw(export, &args);
                    seen.push((export, result, guest.fuel_consumed().unwrap()));
                }
            }
        }
    }
    seen
}

fn counted_loops_pay_per_iteration_what_uncounted_ones_pay(engine: &AnyEngine) {
    // Interruptible, a loop that may leave early (`search`) runs in a copy without its
    // check too, and still pays per iteration.
    for (deterministic, interruptible) in [(false, false), (true, false), (false, true)] {
        let config = Config::default()
            .metering(Metering::Portable)
            .deterministic(deterministic)
            .interruptible(interruptible);
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        let counted = runs(&engine, false);
        let uncounted = runs(&engine, true);
        assert_eq!(counted.len(), uncounted.len());
        let mut trapped = 0;
        for (k, (c, u)) in counted.iter().zip(&uncounted).enumerate() {
            let call = format!(
                "call {k} (deterministic: {deterministic}, interruptible: {interruptible})"
            );
            let call = format!("{call}, {}", c.0);
            if let (Err(WasmError::Trap(_)), false) = (&u.1, EXACT_ON_TRAPS.contains(&u.0)) {
                // A trap part-way leaves the counted loop's remaining iterations paid.
                assert_eq!(c.1, u.1, "{call}");
                assert!(c.2 >= u.2, "{call}: {} < {}", c.2, u.2);
                trapped += 1;
            } else {
                trapped += usize::from(matches!(u.1, Err(WasmError::Trap(_))));
                assert_eq!(c, u, "{call}");
            }
        }
        assert!(trapped > 0, "the bounds check never trapped");
        // Both ways out are exercised: loops that end, and loops that run out.
        let ended = counted.iter().filter(|(_, r, _)| r.is_ok()).count();
        let out = counted
            .iter()
            .filter(|(_, r, _)| r == &Err(WasmError::OutOfFuel));
        assert!(ended > 1000 && out.count() > 1000, "{ended} ended");
    }
}

/// Per export, arguments that run it long: more iterations than run between two
/// interruption checks, so that with interruption checks on it runs in chunks.
const LONG: [(&str, [i32; 3]); 24] = [
    ("up_ne", [0, 1_200_000, 0]),
    ("up_ne", [4, 1_200_004, 0]),
    ("up_ne_by_4096", [5, 5, 0]),
    ("up_ne_by_4096", [-4096, 1 << 30, 0]),
    ("up_ne_by_3", [1, 3_600_001, 0]),
    ("up_lt_u", [0, 600_000, 1]),
    ("up_lt_u", [3, 900_000, 3]),
    ("up_gt_s_swapped", [0, 900_000, 0]),
    ("up_gt_s_swapped", [-600_000, 300_001, 0]),
    ("up_le_u", [0, 400_000, 0]),
    ("up_le_u", [7, 399_999, 0]),
    ("down_to_zero", [300_000, 0, 0]),
    ("down_to_zero", [123_457, 0, 0]),
    ("down_gt_s", [300_000, -5, -1]),
    ("down_gt_s", [0, -900_000, -3]),
    ("down_ge_u", [600_000, 3, 0]),
    ("down_ge_u", [600_001, 2, 0]),
    ("down_by_two_then_out", [600_000, 0, 0]),
    ("down_by_two_then_out", [300_002, 0, 0]),
    ("search", [43, 20_000_000, 64]),
    ("stepped_first_ne", [0, 1_000_000, 0]),
    ("stepped_first_lt_s", [-500_000, 700_000, 1]),
    ("stepped_first_down", [400_000, 0, 0]),
    ("rows", [-300_000, 300_000, 1]),
];

fn long_counted_loops_run_in_chunks_to_the_results_and_fuel_of_uncounted_ones(engine: &AnyEngine) {
    for metering in [Metering::Off, Metering::Portable] {
        let config = Config::default().metering(metering).interruptible(true);
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        let run = |hidden: bool| {
            let hide = if hidden { "block end" } else { "" };
            let wat = LOOPS
                .replace("BACK", &format!("{hide} br_if $l"))
                .replace("OUT", &format!("{hide} br_if $done"));
            let module = engine.compile(&wasmhost::wat2wasm(wat).unwrap()).unwrap();
            LONG.map(|(export, args)| {
                let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
                if metering == Metering::Portable {
                    guest.set_fuel(1 << 40).unwrap();
                }
                let result = guest.call_raw(export, &args.map(Value::I32));
                (export, args, result, guest.fuel_consumed())
            })
        };
        let (counted, uncounted) = (run(false), run(true));
        for (c, u) in counted.iter().zip(&uncounted) {
            assert!(c.2.is_ok(), "{c:?}");
            assert_eq!(c, u, "{metering:?}");
        }
    }
}

wasmhost::on_every_engine!(
    counted_loops_pay_per_iteration_what_uncounted_ones_pay,
    long_counted_loops_run_in_chunks_to_the_results_and_fuel_of_uncounted_ones,
);
