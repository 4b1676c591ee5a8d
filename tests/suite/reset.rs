//! Instance reset on every engine: after any spread of calls, a reset instance has the
//! memory, globals and fuel of a fresh one and answers the next call as a fresh one does;
//! a spent instance runs again; what cannot be reset is refused with the instance intact.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, AnyModule, Bytes, Config, HostFunctions, Interruption, Metering, Value,
    WasmError,
};
use wasmhost_test_wasms::types::{Nested, Shape};

fn resettable(engine: &AnyEngine, config: Config) -> AnyEngine {
    AnyEngine::from_name(engine.name(), config.resettable(true)).unwrap()
}

fn echo(engine: &AnyEngine) -> AnyModule {
    resettable(engine, Config::default())
        .compile(wasmhost_test_wasms::guest("echo"))
        .unwrap()
}

const MEMORY: u64 = 64 << 16;

fn scribbler(engine: &AnyEngine, config: Config) -> AnyModule {
    resettable(engine, config.metering(Metering::Portable))
        .compile(wasmhost_test_wasms::guest("scribbler"))
        .unwrap()
}

/// Everything a guest could observe of its own state: memory size and bytes, every global
/// the reset writes, and the fuel left.
fn state(guest: &mut AnyInstance<()>) -> (u64, u64, Vec<Value>, Option<u64>) {
    let size = guest.memory_size().unwrap();
    let mut hasher = DefaultHasher::new();
    guest.read(0, size as u32).unwrap().hash(&mut hasher);
    let globals = (0..)
        .map_while(|k| guest.global(&format!("wasmhost_global{k}")).ok())
        .collect();
    (size, hasher.finish(), globals, guest.fuel_remaining())
}

/// A small seeded generator, so a failure names the round that found it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One call chosen by `rng`: a write anywhere, a fill of up to 300 KB, a read, a budget.
fn some_call(guest: &mut AnyInstance<()>, rng: &mut Rng) -> Result<Vec<Value>, WasmError> {
    let at = rng.below(MEMORY - 8) as i32;
    match rng.below(4) {
        0 => guest.call_raw("scribble", &[Value::I32(at), Value::I64(rng.0 as i64)]),
        1 => {
            let len = rng.below(300_000).min(MEMORY - at as u64) as i32;
            let byte = Value::I32(rng.below(256) as i32);
            guest.call_raw("fill", &[Value::I32(at), Value::I32(len), byte])
        }
        2 => guest.call_raw("look", &[Value::I32(at)]),
        _ => guest.set_fuel(1 << 40).map(|()| vec![]),
    }
}

/// Over `rounds` seeded rounds, `call`s on one instance then a reset: its state is a fresh
/// instance's each time, and the next three calls give a fresh instance's answers, state
/// and fuel.
fn resets_like_fresh<R: PartialEq + std::fmt::Debug>(
    module: &AnyModule,
    rounds: u64,
    seed: u64,
    call: fn(&mut AnyInstance<()>, &mut Rng) -> R,
) {
    let mut used = module.instantiate(&HostFunctions::new(), ()).unwrap();
    let pristine = state(&mut module.instantiate(&HostFunctions::new(), ()).unwrap());
    for round in 1..=rounds {
        let mut rng = Rng(seed ^ round);
        for _ in 0..=rng.below(12) {
            call(&mut used, &mut rng);
        }
        used.reset()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut fresh = module.instantiate(&HostFunctions::new(), ()).unwrap();
        assert_eq!(state(&mut used), pristine, "round {round}");
        assert_eq!(state(&mut fresh), pristine, "round {round}");
        // The same next calls give the same answers, fuel and state.
        let (mut a, mut b) = (Rng(round), Rng(round));
        for _ in 0..3 {
            assert_eq!(
                call(&mut used, &mut a),
                call(&mut fresh, &mut b),
                "round {round}"
            );
        }
        assert_eq!(state(&mut used), state(&mut fresh), "round {round}");
        assert_eq!(used.fuel_consumed(), fresh.fuel_consumed(), "round {round}");
    }
}

fn a_reset_instance_is_a_fresh_one(engine: &AnyEngine) {
    let module = scribbler(engine, Config::default());
    resets_like_fresh(&module, 32, 0x9e37_79b9_7f4a_7c15, |guest, rng| {
        some_call(guest, rng).unwrap()
    });
}

/// One serialized call chosen by `rng`, of up to 1 MiB: its answer, as bytes.
fn some_echo(guest: &mut AnyInstance<()>, rng: &mut Rng) -> Result<Vec<u8>, WasmError> {
    // Sizes spread over every power of two up to 1 MiB.
    let scale = rng.below(21);
    let len = rng.below(1 << scale) as usize;
    let byte = rng.below(256) as u8;
    match rng.below(3) {
        0 => guest
            .call::<_, Bytes>("echo_bytes", &Bytes::from(vec![byte; len]))
            .map(|b| b.to_vec()),
        1 => guest
            .call::<_, String>("echo_string", &"é".repeat(len / 2))
            .map(String::into_bytes),
        _ => {
            let nested = Nested {
                name: "n".repeat(len % 100),
                values: (0..len as i64 / 64).collect(),
                ratio: len as f64 / 3.0,
                child: None,
                tags: (0..len % 50).map(|k| (k.to_string(), k as u32)).collect(),
                shape: Shape::Circle(byte as f32),
                blob: vec![byte; len / 8],
            };
            let answer = guest.call::<_, Nested>("echo_nested", &nested)?;
            assert_eq!(answer, nested);
            Ok(answer.blob)
        }
    }
}

/// The echo guest, built with the SDK's allocator and 4 MiB of initial memory, serves
/// serialized calls without growing its memory, so a host can reset it between callers.
fn a_rust_guest_resets_between_serialized_calls(engine: &AnyEngine) {
    let module = resettable(engine, Config::default().metering(Metering::Portable))
        .compile(wasmhost_test_wasms::guest("echo"))
        .unwrap();
    resets_like_fresh(&module, 16, 0x2545_f491_4f6c_dd1d, |guest, rng| {
        some_echo(guest, rng).unwrap()
    });
}

fn a_reset_brings_a_spent_instance_back(engine: &AnyEngine) {
    let look = |guest: &mut AnyInstance<()>| guest.call_raw("look", &[Value::I32(1000)]);
    let module = scribbler(engine, Config::default());
    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
    let answer = look(&mut guest);
    guest.set_fuel(1).unwrap();
    assert_eq!(look(&mut guest), Err(WasmError::OutOfFuel));
    guest.reset().unwrap();
    assert_eq!(look(&mut guest), answer);
    // Interrupted, then reset: it runs again.
    let module = scribbler(engine, Config::default().interruptible(true));
    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
    guest.interrupt_handle().unwrap().cancel();
    assert!(matches!(look(&mut guest), Err(WasmError::Interrupted(_))));
    guest.reset().unwrap();
    assert_eq!(look(&mut guest), answer);
}

/// A guest whose call reads 3 001 of the interruption checks' flag bytes (each check reads
/// its own): 3 000 loops that run once, then one that doubles its way to the argument.
fn checks_many_flags() -> String {
    let once: String = (0..3000)
        .map(|k| format!("(loop $l{k} (br_if $l{k} (local.get 1)))"))
        .collect();
    format!(
        r#"(module (memory (export "memory") 1)
          (func (export "doubling") (param i32) (result i32) (local i32)
            {once}
            (loop $l
              (local.set 1 (i32.add (i32.shl (local.get 1) (i32.const 1)) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
            (local.get 1)))"#
    )
}

/// A cancel that races a reset is forgotten by it (it came first) or stops the next call
/// (it came after), and nothing else: it never leaves flag bytes up with no reason
/// recorded, which the next call would take for a trap of its own.
fn a_cancel_racing_resets_stops_the_next_call_or_nothing(engine: &AnyEngine) {
    let module = resettable(engine, Config::default().interruptible(true))
        .compile(&wasmhost::wat2wasm(checks_many_flags()).unwrap())
        .unwrap();
    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
    let doubling = |guest: &mut AnyInstance<()>| guest.call_raw("doubling", &[Value::I32(1000)]);
    let handle = guest.interrupt_handle().unwrap();
    let (started, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (start, stop) = (Arc::clone(&started), Arc::clone(&done));
    // Fires at uneven times, so that fires land in calls, in resets and between.
    let canceller = std::thread::spawn(move || {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        while !stop.load(Ordering::Relaxed) {
            handle.cancel();
            start.store(true, Ordering::Relaxed);
            for _ in 0..rng.below(4_000) {
                std::hint::spin_loop();
            }
        }
    });
    while !started.load(Ordering::Relaxed) {
        std::thread::yield_now();
    }
    let began = Instant::now();
    let (mut interrupted, mut ran) = (0, 0);
    for round in 0.. {
        guest.reset().unwrap();
        match doubling(&mut guest) {
            Err(WasmError::Interrupted(Interruption::Cancelled)) => interrupted += 1,
            result => {
                assert_eq!(result, Ok(vec![Value::I32(1023)]), "round {round}");
                ran += 1;
            }
        }
        let long_enough = round >= 3_000 && began.elapsed() > Duration::from_millis(300);
        if (long_enough && interrupted > 0 && ran > 0) || began.elapsed() > Duration::from_secs(20)
        {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    canceller.join().unwrap();
    // Both outcomes happened, so the fires did land around the calls and resets.
    assert!(
        interrupted > 0 && ran > 0,
        "{interrupted} interrupted, {ran} ran"
    );
}

fn a_grown_memory_is_not_reset_and_the_instance_keeps_serving(engine: &AnyEngine) {
    let mut guest = echo(engine).instantiate(&HostFunctions::new(), ()).unwrap();
    // More than the 4 MiB the guest is linked with: its allocator grows the memory.
    let large = Bytes::from(vec![7u8; 6 << 20]);
    assert_eq!(guest.call::<_, Bytes>("echo_bytes", &large), Ok(large));
    let before = state(&mut guest);
    assert!(matches!(guest.reset(), Err(WasmError::Engine(m)) if m.contains("grew")));
    assert_eq!(state(&mut guest), before);
    assert_eq!(
        guest.call::<_, String>("echo_string", "still here"),
        Ok("still here".to_string())
    );
}

const COUNTER: &str = r#"(module
  (global $count (mut i32) (i32.const 7))
  (memory 1)
  (func (export "bump") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 40000) (i32.add (i32.load (i32.const 40000)) (i32.const 1)))
    (i32.add (i32.mul (global.get $count) (i32.const 1000)) (i32.load (i32.const 40000)))))"#;

fn globals_and_memory_the_module_does_not_export_are_reset(engine: &AnyEngine) {
    let module = resettable(engine, Config::default())
        .compile(&wasmhost::wat2wasm(COUNTER).unwrap())
        .unwrap();
    let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
    for expected in [8001, 9002, 10003] {
        assert_eq!(guest.call_raw("bump", &[]), Ok(vec![Value::I32(expected)]));
    }
    guest.reset().unwrap();
    assert_eq!(guest.call_raw("bump", &[]), Ok(vec![Value::I32(8001)]));
}

fn what_cannot_be_reset_is_refused(engine: &AnyEngine) {
    let refused = |config: Config, wat: &str| {
        let module = AnyEngine::from_name(engine.name(), config)
            .unwrap()
            .compile(&wasmhost::wat2wasm(wat).unwrap())
            .unwrap();
        let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
        assert!(matches!(guest.reset(), Err(WasmError::Engine(_))), "{wat}");
    };
    let on = Config::default().resettable(true);
    // Not asked for.
    refused(Config::default(), COUNTER);
    // A start function, whose effects a snapshot cannot tell from the instantiation's.
    refused(on.clone(), "(module (memory 1) (func $s) (start $s))");
    // A table the guest writes, which the reset cannot reach.
    let table = r#"(module (table 1 funcref) (func $f)
      (func (export "set") (table.set (i32.const 0) (ref.func $f))) (elem declare func $f))"#;
    refused(on, table);
}

wasmhost::on_every_engine!(
    a_reset_instance_is_a_fresh_one,
    a_reset_brings_a_spent_instance_back,
    a_cancel_racing_resets_stops_the_next_call_or_nothing,
    a_grown_memory_is_not_reset_and_the_instance_keeps_serving,
    globals_and_memory_the_module_does_not_export_are_reset,
    what_cannot_be_reset_is_refused,
    a_rust_guest_resets_between_serialized_calls,
);
