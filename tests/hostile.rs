//! Hostile guests through the serialized ABI: allocators that lie, trap or grow without end,
//! panic messages that point nowhere or never come, a guest and host calling each other
//! without end, memory under another name. Each ends in a typed error, the host thread goes
//! on, and a fresh instance of the same module works.

mod common;

use common::module;
use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, AnyModule, Bytes, Config, DEFAULT_MAX_HOST_NESTING, HostFunctions,
    Metering, Trap, Value, WasmError,
};

wasmhost::on_every_engine!(
    a_lying_or_trapping_allocator_is_a_typed_error_for_inputs,
    a_lying_or_trapping_allocator_is_a_typed_error_for_host_answers,
    an_answer_allocated_over_its_own_input_arrives_intact,
    an_allocator_growing_memory_by_gigabytes_meets_the_memory_limit,
    a_panic_message_outside_memory_leaves_the_trap,
    a_panic_message_that_never_returns_is_bounded_by_fuel,
    a_guest_and_host_calling_each_other_without_end_stop_at_the_nesting_limit,
    a_memory_under_another_name_is_a_missing_export,
);

/// The allocator's hostile modes (see `test-wasms/wat/hostile.wat`).
const OUT_OF_BOUNDS: i32 = 1;
const NULL: i32 = 2;
const SAME_REGION: i32 = 3;
const TRAPS: i32 = 4;
const GROWS_GIGABYTES: i32 = 5;
/// The panic-message export's hostile modes.
const MESSAGE_OUT_OF_BOUNDS: i32 = 6;
const MESSAGE_NEVER_RETURNS: i32 = 7;

/// The hostile guest's host: `host_echo` answers with its input; `reenter` calls the guest's
/// `reenter` export again, counting the levels in the host state.
fn host() -> HostFunctions<u32> {
    let mut host = HostFunctions::new();
    host.func("host_echo", |_, bytes: Bytes| Ok(bytes));
    host.func("reenter", |ctx, bytes: Bytes| {
        *ctx.state_mut() += 1;
        ctx.call::<_, Bytes>("reenter", &bytes)
    });
    host
}

fn hostile(engine: &AnyEngine, config: Config) -> AnyModule {
    AnyEngine::from_name(engine.name(), config)
        .unwrap()
        .compile(wasmhost_test_wasms::guest("hostile"))
        .unwrap()
}

/// A fresh instance of `module`, in `mode` now and `armed` once it runs `via_host`.
fn instance(module: &AnyModule, mode: i32, armed: i32) -> AnyInstance<u32> {
    let mut guest = module.instantiate(&host(), 0).unwrap();
    guest.call_raw("arm", &[Value::I32(armed)]).unwrap();
    guest.call_raw("set_mode", &[Value::I32(mode)]).unwrap();
    guest
}

/// The same module, on a fresh instance, answers as a well-behaved guest: nothing the hostile
/// call did outlived its instance, and this thread goes on serving.
fn fresh_instance_works(module: &AnyModule) {
    let mut guest = instance(module, 0, 0);
    assert_eq!(guest.call::<_, ()>("ok", "input"), Ok(()));
    let back: Bytes = guest.call("via_host", &Bytes::from(vec![1, 2, 3])).unwrap();
    assert_eq!(back.as_slice(), [1, 2, 3]);
}

/// What each lying or trapping allocator must come to, on every engine.
fn expected(mode: i32) -> fn(&WasmError) -> bool {
    match mode {
        OUT_OF_BOUNDS => |e| {
            matches!(
                e,
                WasmError::BadGuestPointer {
                    ptr: 0xffff_0000,
                    memory_size: 65536,
                    ..
                }
            )
        },
        NULL => |e| matches!(e, WasmError::BadGuestPointer { ptr: 0, .. }),
        TRAPS => |e| *e == WasmError::Trap(Trap::Unreachable),
        _ => unreachable!("not a lying or trapping mode"),
    }
}

fn a_lying_or_trapping_allocator_is_a_typed_error_for_inputs(engine: &AnyEngine) {
    let module = hostile(engine, Config::default());
    for mode in [OUT_OF_BOUNDS, NULL, TRAPS] {
        let result = instance(&module, mode, 0).call::<_, ()>("ok", "input");
        assert!(
            result.as_ref().is_err_and(expected(mode)),
            "mode {mode}: {result:?}"
        );
        fresh_instance_works(&module);
    }
}

fn a_lying_or_trapping_allocator_is_a_typed_error_for_host_answers(engine: &AnyEngine) {
    let module = hostile(engine, Config::default());
    for mode in [OUT_OF_BOUNDS, NULL, TRAPS] {
        // The host function's error reaches the caller through the guest that called it.
        let result = instance(&module, 0, mode).call::<_, Bytes>("via_host", &Bytes::from(vec![9]));
        assert!(
            result.as_ref().is_err_and(expected(mode)),
            "mode {mode}: {result:?}"
        );
        fresh_instance_works(&module);
    }
}

fn an_answer_allocated_over_its_own_input_arrives_intact(engine: &AnyEngine) {
    // The host decodes an import's input before it allocates the answer, so an allocator
    // that hands out the input's own region cannot change what the host read.
    let module = hostile(engine, Config::default());
    let input = Bytes::from((0..=255).collect::<Vec<u8>>());
    let back: Bytes = instance(&module, 0, SAME_REGION)
        .call("via_host", &input)
        .unwrap();
    assert_eq!(back, input);
    fresh_instance_works(&module);
}

fn an_allocator_growing_memory_by_gigabytes_meets_the_memory_limit(engine: &AnyEngine) {
    let module = hostile(engine, Config::default().max_memory_bytes(16 << 20));
    let for_input = instance(&module, GROWS_GIGABYTES, 0).call::<_, ()>("ok", "input");
    assert_eq!(for_input, Err(WasmError::MemoryLimit));
    let for_answer =
        instance(&module, 0, GROWS_GIGABYTES).call::<_, Bytes>("via_host", &Bytes::from(vec![1]));
    assert_eq!(for_answer, Err(WasmError::MemoryLimit));
    fresh_instance_works(&module);
}

fn a_panic_message_outside_memory_leaves_the_trap(engine: &AnyEngine) {
    let module = hostile(engine, Config::default());
    let result = instance(&module, MESSAGE_OUT_OF_BOUNDS, 0).call::<_, ()>("trap", "input");
    assert_eq!(result, Err(WasmError::Trap(Trap::Unreachable)));
    fresh_instance_works(&module);
}

fn a_panic_message_that_never_returns_is_bounded_by_fuel(engine: &AnyEngine) {
    // Without metering a guest can loop anywhere, its panic-message export included: a host
    // that runs guests it does not trust gives them a budget.
    let module = hostile(engine, Config::default().metering(Metering::Portable));
    let mut guest = instance(&module, MESSAGE_NEVER_RETURNS, 0);
    guest.set_fuel(1_000_000).unwrap();
    // The call reports what the guest did (it trapped); looking for its message spent the
    // rest of the budget, so the instance is spent.
    assert_eq!(
        guest.call::<_, ()>("trap", "input"),
        Err(WasmError::Trap(Trap::Unreachable))
    );
    assert_eq!(guest.fuel_remaining(), Some(0));
    assert_eq!(
        guest.call::<_, ()>("ok", "input"),
        Err(WasmError::OutOfFuel)
    );
    fresh_instance_works(&module);
}

fn a_guest_and_host_calling_each_other_without_end_stop_at_the_nesting_limit(engine: &AnyEngine) {
    for (config, limit) in [
        (Config::default(), DEFAULT_MAX_HOST_NESTING),
        (Config::default().max_host_nesting(5), 5),
    ] {
        let module = hostile(engine, config);
        for _ in 0..2 {
            // Twice: a failed descent gives every level back.
            let mut guest = instance(&module, 0, 0);
            let result = guest.call::<_, Bytes>("reenter", &Bytes::from(vec![7; 100]));
            assert_eq!(result, Err(WasmError::Trap(Trap::StackOverflow)));
            assert_eq!(*guest.state(), limit, "host levels entered");
        }
        fresh_instance_works(&module);
    }
}

fn a_memory_under_another_name_is_a_missing_export(engine: &AnyEngine) {
    let wasm = wasmhost::wat2wasm(
        r#"(module
            (memory (export "mem") 1)
            (func (export "wasmhost_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "wasmhost_dealloc") (param i32 i32))
            (func (export "ok") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let mut guest = engine
        .compile(&wasm)
        .unwrap()
        .instantiate(&HostFunctions::new(), ())
        .unwrap();
    assert_eq!(
        guest.call::<_, ()>("ok", "input"),
        Err(WasmError::MissingExport("memory".into()))
    );
    fresh_instance_works(&module(engine, "hostile"));
}
