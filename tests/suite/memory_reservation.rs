//! Both memory reservations on every engine: a compact memory (explicit bounds checks, no
//! guard region) behaves exactly as a guarded one, and reserves only what it uses.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, MemoryReservation, Trap, Value, WasmError};

const MODULE: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "load_far") (param i32) (result i32) (i32.load offset=65536 (local.get 0)))
)"#;

const RESERVATIONS: [MemoryReservation; 2] =
    [MemoryReservation::Guarded, MemoryReservation::Compact];

fn module(engine: &AnyEngine, reservation: MemoryReservation) -> wasmhost::AnyModule {
    AnyEngine::from_name(
        engine.name(),
        Config::default().memory_reservation(reservation),
    )
    .unwrap()
    .compile(&wasmhost::wat2wasm(MODULE).unwrap())
    .unwrap_or_else(|e| panic!("{} {reservation:?}: {e}", engine.name()))
}

fn instance(engine: &AnyEngine, reservation: MemoryReservation) -> wasmhost::AnyInstance<()> {
    module(engine, reservation)
        .instantiate(&HostFunctions::new(), ())
        .unwrap_or_else(|e| panic!("{} {reservation:?}: {e}", engine.name()))
}

fn a_memory_that_grows_keeps_its_contents_and_its_bounds(engine: &AnyEngine) {
    for reservation in RESERVATIONS {
        let mut guest = instance(engine, reservation);
        let oob = Err(WasmError::Trap(Trap::MemoryOutOfBounds));
        // A page at a time, a mark on each: a compact memory moves as it grows.
        for page in 1..48_i32 {
            let mark = Value::I64(i64::from(page) * 0x0101_0101);
            let last = page * 65_536 - 8;
            assert_eq!(
                guest.call_raw("store", &[Value::I32(last), mark]),
                Ok(vec![])
            );
            // One byte past the end, and the constant offset that reaches past it.
            assert_eq!(guest.call_raw("load", &[Value::I32(last + 1)]), oob);
            assert_eq!(guest.call_raw("load_far", &[Value::I32(last)]), oob);
            assert_eq!(
                guest.call_raw("grow", &[Value::I32(1)]),
                Ok(vec![Value::I32(page)])
            );
        }
        for page in 1..48_i32 {
            let mark = Value::I64(i64::from(page) * 0x0101_0101);
            let got = guest.call_raw("load", &[Value::I32(page * 65_536 - 8)]);
            assert_eq!(got, Ok(vec![mark]), "{reservation:?}, page {page}");
        }
        assert_eq!(guest.memory_size(), Ok(48 * 65_536));
        let bytes = guest.read(47 * 65_536 - 8, 8).unwrap();
        assert_eq!(bytes, (47_i64 * 0x0101_0101).to_le_bytes());
        // Past wasm32's 4 GiB is refused, not a crash.
        assert_eq!(
            guest.call_raw("grow", &[Value::I32(65_536)]),
            Ok(vec![Value::I32(-1)])
        );
        assert_eq!(guest.call_raw("load", &[Value::I32(-8)]), oob);
    }
}

/// The process's virtual size, from the kernel.
fn virtual_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// What a compact memory is for: many live instances without gigabytes of address space
/// each (a guarded one reserves at least 4 GiB on the compiling engines, so these would take
/// a TiB). Other tests run beside this one, so the bound leaves room for a few of theirs.
fn compact_memories_reserve_little_address_space(engine: &AnyEngine) {
    if !cfg!(target_os = "linux") {
        return; // reason: reads /proc
    }
    const LIVE: u64 = 256;
    let module = module(engine, MemoryReservation::Compact);
    let before = virtual_bytes();
    let live: Vec<_> = (0..LIVE)
        .map(|_| module.instantiate(&HostFunctions::new(), ()).unwrap())
        .collect();
    let grown = virtual_bytes().saturating_sub(before);
    drop(live);
    assert!(
        grown < LIVE * (256 << 20),
        "{LIVE} compact instances added {} MiB of address space",
        grown >> 20
    );
}

wasmhost::on_every_engine!(
    a_memory_that_grows_keeps_its_contents_and_its_bounds,
    compact_memories_reserve_little_address_space,
);
