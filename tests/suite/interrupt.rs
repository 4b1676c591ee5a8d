//! Deadlines and cancellation on every engine: a guest stops with
//! `WasmError::Interrupted` in loops without calls, in recursion without loops and in
//! host-call-heavy code, the instance is spent after, and calls within their deadline keep
//! the instance serving. (How soon a guest stops is measured by the `interrupt_latency`
//! benchmark; the bounds here only catch a guest that was not stopped at all.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, Config, HostFunctions, Interruption, Metering, ValType, Value,
    WasmError,
};

const MODULE: &str = r#"(module
  (import "env" "tick" (func $tick))
  (import "env" "nap" (func $nap (param i64)))
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "ticks") (loop $l (call $tick) (br $l)))
  (func (export "nap") (param i64) (call $nap (local.get 0)))
  ;; A counted inner loop of $0 iterations in an endless outer loop: short counts run in
  ;; the version without checks, long ones in chunks checked between, and so does a count
  ;; that starts on its bound (0: a whole turn, 2^32 iterations). Each iteration is a chain
  ;; of dependent operations, so that 2^32 of them unchecked take longer than
  ;; `STOPPED_WITHIN`.
  (func (export "counted") (param i32) (local i32 i32)
    (loop $outer
      i32.const 0 local.set 1
      (loop $inner
        local.get 2 local.get 1 i32.add i32.const 7 i32.mul i32.const 3 i32.rotl local.set 2
        local.get 1 i32.const 1 i32.add local.tee 1 local.get 0 i32.ne br_if $inner)
      br $outer))
  ;; The same inner loop in a loop of eight rows, which goes without its own check.
  (func (export "rows") (param i32) (local i32 i32 i32)
    (loop $outer
      i32.const 0 local.set 3
      (loop $rows
        i32.const 0 local.set 1
        (loop $inner
          local.get 2 local.get 1 i32.add i32.const 7 i32.mul i32.const 3 i32.rotl local.set 2
          local.get 1 i32.const 1 i32.add local.tee 1 local.get 0 i32.ne br_if $inner)
        local.get 3 i32.const 1 i32.add local.tee 3 i32.const 8 i32.ne br_if $rows)
      br $outer))
  ;; The recursion as compilers emit it: the recursive call inside a loop, whose check
  ;; is the only one on the cycle.
  (func $fib_loop (export "fib_loop") (param i32) (result i32) (local i32)
    (block $done
      (br_if $done (i32.lt_u (local.get 0) (i32.const 2)))
      (loop $l
        (local.set 1 (i32.add (local.get 1)
          (call $fib_loop (i32.sub (local.get 0) (i32.const 1)))))
        (local.tee 0 (i32.sub (local.get 0) (i32.const 2)))
        (br_if $l (i32.gt_u (i32.const 1)))))
    (i32.add (local.get 1) (local.get 0)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  ;; A counted loop of $0 iterations, each three divisions by $1 (slow, and a compiler
  ;; cannot turn them into multiplications): up to 45 000 of them run in the copy without
  ;; checks.
  (func (export "chain") (param i32 i64) (result i64) (local i32 i64)
    (loop $l
      local.get 3 i64.const 6364136223846793005 i64.mul local.get 2 i64.extend_i32_u i64.add
      local.get 1 i64.div_u local.get 1 i64.div_u local.get 1 i64.div_u local.set 3
      local.get 2 i32.const 1 i32.add local.tee 2 local.get 0 i32.ne br_if $l)
    local.get 3)
)"#;

/// A call tree without loops or recursion that still runs for hours: each of 40 functions
/// calls the next twice, 2^40 calls in all.
fn call_tree() -> String {
    let mut wat = String::from("(module (func (export \"tree\") call 1 call 1)");
    for next in 2..=40 {
        wat += &format!(" (func call {next} call {next})");
    }
    wat + " (func))"
}

/// Far past any deadline here: a guest still running then was not stopped.
const STOPPED_WITHIN: Duration = Duration::from_secs(5);

/// The host functions [`MODULE`] imports, and the count of `tick`'s calls.
fn host() -> (HostFunctions<()>, Arc<AtomicU64>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&ticks);
    let mut host = HostFunctions::<()>::new();
    host.raw("env", "tick", &[], &[], move |_, _| {
        counted.fetch_add(1, Ordering::Relaxed);
        Ok(vec![])
    });
    // Sleeps its argument's milliseconds on the guest's behalf, as a WASI sleep does.
    host.raw("env", "nap", &[ValType::I64], &[], |ctx, args| {
        let ms = match args {
            [Value::I64(ms)] => *ms as u64,
            _ => 0,
        };
        ctx.sleep(Duration::from_millis(ms))?;
        Ok(vec![])
    });
    (host, ticks)
}

fn instance(engine: &AnyEngine, config: Config) -> (AnyInstance<()>, Arc<AtomicU64>) {
    instance_of(engine, config, MODULE)
}

fn instance_of(engine: &AnyEngine, config: Config, wat: &str) -> (AnyInstance<()>, Arc<AtomicU64>) {
    let (host, ticks) = host();
    let instance = AnyEngine::from_name(engine.name(), config)
        .unwrap()
        .compile(&wasmhost::wat2wasm(wat).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", engine.name()))
        .instantiate(&host, ())
        .unwrap();
    (instance, ticks)
}

fn deadline(ms: u64) -> Config {
    Config::default().call_timeout(Duration::from_millis(ms))
}

/// `call` on `guest` fails with `why`, well before [`STOPPED_WITHIN`].
fn stops(guest: &mut AnyInstance<()>, export: &str, args: &[Value], why: Interruption) {
    let started = Instant::now();
    assert_eq!(
        guest.call_raw(export, args),
        Err(WasmError::Interrupted(why)),
        "{export}"
    );
    assert!(started.elapsed() < STOPPED_WITHIN, "{export}");
}

fn a_deadline_stops_a_loop_without_calls_and_spends_the_instance(engine: &AnyEngine) {
    let (mut guest, _) = instance(engine, deadline(20));
    stops(&mut guest, "spin", &[], Interruption::Deadline);
    let add = guest.call_raw("add", &[Value::I32(1), Value::I32(2)]);
    assert_eq!(add, Err(WasmError::Interrupted(Interruption::Deadline)));
}

fn a_deadline_stops_recursion_without_loops(engine: &AnyEngine) {
    let (mut guest, _) = instance(engine, deadline(20));
    // fib(60) makes about 10^12 calls: hours, unless stopped.
    stops(&mut guest, "fib", &[Value::I32(60)], Interruption::Deadline);
    let (mut guest, _) = instance(engine, deadline(20));
    assert_eq!(
        guest.call_raw("fib_loop", &[Value::I32(20)]),
        Ok(vec![Value::I32(6765)])
    );
    stops(
        &mut guest,
        "fib_loop",
        &[Value::I32(60)],
        Interruption::Deadline,
    );
}

fn a_deadline_stops_a_call_tree_without_loops_or_recursion(engine: &AnyEngine) {
    let (mut guest, _) = instance_of(engine, deadline(20), &call_tree());
    stops(&mut guest, "tree", &[], Interruption::Deadline);
}

fn a_deadline_stops_counted_loops_short_and_long(engine: &AnyEngine) {
    for export in ["counted", "rows"] {
        for n in [10, 0, -1] {
            let (mut guest, _) = instance(engine, deadline(20));
            stops(&mut guest, export, &[Value::I32(n)], Interruption::Deadline);
        }
    }
}

fn a_deadline_stops_host_call_heavy_code(engine: &AnyEngine) {
    let (mut guest, ticks) = instance(engine, deadline(20));
    stops(&mut guest, "ticks", &[], Interruption::Deadline);
    assert!(ticks.load(Ordering::Relaxed) > 0);
}

fn a_cancel_from_another_thread_stops_the_guest(engine: &AnyEngine) {
    let (mut guest, _) = instance(engine, Config::default().interruptible(true));
    let handle = guest.interrupt_handle().expect("interruptible");
    for export in ["spin", "ticks"] {
        let (mut other, _) = instance(engine, Config::default().interruptible(true));
        let handle = other.interrupt_handle().unwrap();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            handle.cancel();
        });
        stops(&mut other, export, &[], Interruption::Cancelled);
        canceller.join().unwrap();
    }
    // An instance on the same engine whose handle was not fired is untouched by the
    // others' cancels.
    assert_eq!(handle.interrupted(), None);
    assert_eq!(
        guest.call_raw("fib", &[Value::I32(20)]),
        Ok(vec![Value::I32(6765)])
    );
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        handle.cancel();
        handle
    });
    stops(
        &mut guest,
        "fib",
        &[Value::I32(60)],
        Interruption::Cancelled,
    );
    let handle = canceller.join().unwrap();
    assert_eq!(handle.interrupted(), Some(Interruption::Cancelled));
}

/// A host function's wait on the guest's behalf (`HostContext::sleep`, which the WASI sleep
/// uses) ends at the call's deadline or at a cancel, not when its time is up.
fn a_deadline_or_a_cancel_ends_a_host_functions_sleep(engine: &AnyEngine) {
    let an_hour = [Value::I64(3_600_000)];
    let (mut guest, _) = instance(engine, deadline(20));
    stops(&mut guest, "nap", &an_hour, Interruption::Deadline);
    let (mut guest, _) = instance(engine, Config::default().interruptible(true));
    // With nothing fired, a nap sleeps its time and returns.
    let began = Instant::now();
    assert_eq!(guest.call_raw("nap", &[Value::I64(10)]), Ok(vec![]));
    assert!(began.elapsed() >= Duration::from_millis(10));
    let handle = guest.interrupt_handle().unwrap();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        handle.cancel();
    });
    stops(&mut guest, "nap", &an_hour, Interruption::Cancelled);
    canceller.join().unwrap();
}

fn a_cancel_before_a_call_stops_it_and_a_handle_outliving_its_instance_does_nothing(
    engine: &AnyEngine,
) {
    let (mut guest, _) = instance(engine, Config::default().interruptible(true));
    let handle = guest.interrupt_handle().unwrap();
    handle.cancel();
    let add = guest.call_raw("add", &[Value::I32(1), Value::I32(2)]);
    assert_eq!(add, Err(WasmError::Interrupted(Interruption::Cancelled)));
    let (guest, _) = instance(engine, Config::default().interruptible(true));
    let handle = guest.interrupt_handle().unwrap();
    drop(guest);
    handle.cancel();
    assert_eq!(handle.interrupted(), Some(Interruption::Cancelled));
}

fn calls_within_their_deadline_keep_the_instance_serving(engine: &AnyEngine) {
    let (mut guest, _) = instance(engine, deadline(10_000));
    for i in 0..2_000 {
        let sum = guest.call_raw("add", &[Value::I32(i), Value::I32(1)]);
        assert_eq!(sum, Ok(vec![Value::I32(i + 1)]));
    }
    assert_eq!(
        guest.call_raw("fib", &[Value::I32(20)]),
        Ok(vec![Value::I32(6765)])
    );
    // A shorter deadline for this instance's next calls.
    guest
        .set_call_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    stops(&mut guest, "spin", &[], Interruption::Deadline);
}

/// A deadline that passes while the guest runs code without checks (a counted loop's copy,
/// short enough to stay within the latency promised) lets that call finish and succeed; the
/// deadline was that call's alone, so the instance keeps serving.
fn a_deadline_passing_after_the_last_check_spares_the_instance(engine: &AnyEngine) {
    const TIMEOUT: Duration = Duration::from_micros(100);
    let args = [Value::I32(40_000), Value::I64(3)];
    let fresh = || {
        let (mut guest, _) = instance(engine, Config::default().interruptible(true));
        // Once without a deadline: wasmi translates a function at its first call.
        let finished = guest.call_raw("chain", &args);
        guest.set_call_timeout(Some(TIMEOUT)).unwrap();
        (guest, finished)
    };
    let (mut guest, finished) = fresh();
    assert!(finished.is_ok());
    let mut past = 0;
    for round in 0..10 {
        let began = Instant::now();
        match guest.call_raw("chain", &args) {
            // Stopped at the loop's entry, before its copy without checks: the thread was
            // descheduled past the deadline. The instance is spent.
            Err(WasmError::Interrupted(Interruption::Deadline)) => {
                guest = fresh().0;
                continue;
            }
            result => assert_eq!(result, finished, "round {round}"),
        }
        past += usize::from(began.elapsed() > 2 * TIMEOUT);
        let began = Instant::now();
        match guest.call_raw("add", &[Value::I32(round), Value::I32(1)]) {
            // Its own deadline passed: the thread was descheduled before the guest ran.
            Err(WasmError::Interrupted(_)) if began.elapsed() >= TIMEOUT => guest = fresh().0,
            sum => assert_eq!(sum, Ok(vec![Value::I32(round + 1)]), "round {round}"),
        }
    }
    // Calls ran well past their deadline, so the timer fired inside them.
    assert!(past > 0, "no call outlasted its deadline");
}

fn interruption_composes_with_the_hosted_profile(engine: &AnyEngine) {
    let hosted = Config::default()
        .deterministic(true)
        .metering(Metering::Portable)
        .call_timeout(Duration::from_millis(20));
    let (mut guest, _) = instance(engine, hosted.clone());
    assert_eq!(
        guest.call_raw("fib", &[Value::I32(20)]),
        Ok(vec![Value::I32(6765)])
    );
    // The checks are not charged: the same fuel as without them.
    let (mut plain, _) = instance(engine, hosted.clone().interruptible(false));
    plain.call_raw("fib", &[Value::I32(20)]).unwrap();
    assert_eq!(guest.fuel_consumed(), plain.fuel_consumed());
    stops(&mut guest, "spin", &[], Interruption::Deadline);
    let (mut guest, _) = instance(engine, hosted);
    stops(&mut guest, "ticks", &[], Interruption::Deadline);
}

fn a_module_loaded_from_its_serialized_form_still_stops(engine: &AnyEngine) {
    let engine = AnyEngine::from_name(engine.name(), deadline(20)).unwrap();
    let module = engine
        .compile(&wasmhost::wat2wasm(MODULE).unwrap())
        .unwrap();
    let Some(bytes) = engine.serialize(&module) else {
        assert!(!engine.can_serialize());
        return; // reason: wasmi keeps no compiled form to load (modules cache in memory only)
    };
    // SAFETY: bytes this engine serialized just now.
    let loaded = unsafe { engine.deserialize(&bytes.unwrap()) }.unwrap();
    let mut guest = loaded.instantiate(&host().0, ()).unwrap();
    stops(&mut guest, "spin", &[], Interruption::Deadline);
}

fn without_interruptible_there_is_no_handle_and_no_timeout(engine: &AnyEngine) {
    let (mut guest, _) = instance(engine, Config::default());
    assert!(guest.interrupt_handle().is_none());
    assert!(matches!(
        guest.set_call_timeout(Some(Duration::from_millis(1))),
        Err(WasmError::Engine(_))
    ));
}

fn a_timeout_set_in_its_field_turns_interruption_on(engine: &AnyEngine) {
    let mut config = Config::default();
    config.call_timeout = Some(Duration::from_millis(20));
    let (mut guest, _) = instance(engine, config);
    stops(&mut guest, "spin", &[], Interruption::Deadline);
}

fn an_interruptible_engine_still_refuses_several_memories(engine: &AnyEngine) {
    let two = wasmhost::wat2wasm("(module (memory 1) (memory 1))").unwrap();
    let engine = AnyEngine::from_name(engine.name(), deadline(10)).unwrap();
    assert!(matches!(engine.compile(&two), Err(WasmError::Compile(_))));
}

wasmhost::on_every_engine!(
    a_deadline_stops_a_loop_without_calls_and_spends_the_instance,
    a_deadline_stops_recursion_without_loops,
    a_deadline_stops_a_call_tree_without_loops_or_recursion,
    a_deadline_stops_counted_loops_short_and_long,
    a_deadline_stops_host_call_heavy_code,
    a_cancel_from_another_thread_stops_the_guest,
    a_deadline_or_a_cancel_ends_a_host_functions_sleep,
    a_cancel_before_a_call_stops_it_and_a_handle_outliving_its_instance_does_nothing,
    calls_within_their_deadline_keep_the_instance_serving,
    a_deadline_passing_after_the_last_check_spares_the_instance,
    interruption_composes_with_the_hosted_profile,
    a_module_loaded_from_its_serialized_form_still_stops,
    without_interruptible_there_is_no_handle_and_no_timeout,
    a_timeout_set_in_its_field_turns_interruption_on,
    an_interruptible_engine_still_refuses_several_memories,
);
