//! Bad input of every kind is a clear, typed error, never a panic, and the host keeps
//! serving: after each failure, a fresh instance (or a fresh compile) works.

use crate::common;

use common::{instance, module};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance, Bytes, Config, HostFunctions, ValType, Value, WasmError};
use wasmhost_test_wasms::types::Nested;

/// A known-good call on a fresh instance of the echo guest.
fn host_keeps_serving(engine: &AnyEngine) {
    let mut fresh = instance(engine, "echo");
    assert_eq!(
        fresh
            .call::<_, String>("echo_string", "still here")
            .unwrap(),
        "still here"
    );
}

fn bytes_that_are_not_wasm_fail_to_compile(engine: &AnyEngine) {
    for bytes in [&b""[..], b"hello, world", b"\0asm\x02\0\0\0"] {
        assert!(
            matches!(engine.compile(bytes), Err(WasmError::Compile(_))),
            "{bytes:?}"
        );
    }
    host_keeps_serving(engine);
}

fn truncated_modules_fail_to_compile(engine: &AnyEngine) {
    let wasm = wasmhost_test_wasms::guest("echo");
    // (8 bytes would be the header alone: a valid empty module.)
    for len in [4, 7, 9, wasm.len() / 2, wasm.len() - 1] {
        assert!(
            matches!(engine.compile(&wasm[..len]), Err(WasmError::Compile(_))),
            "truncated to {len} bytes"
        );
    }
    host_keeps_serving(engine);
}

fn malformed_encodings_fail_to_compile_in_every_profile(engine: &AnyEngine) {
    // A memory's limits as an overlong LEB128 (a u32 in six bytes): malformed, and the
    // rewrites of the deterministic and metered profiles would re-encode it well-formed.
    // (wasmtime 48's own validator accepts it; its compiler does not.)
    let overlong_minimum = b"\0asm\x01\0\0\0\x05\x08\x01\x00\x82\x80\x80\x80\x80\x00";
    let overlong_maximum = b"\0asm\x01\0\0\0\x05\x0a\x01\x01\x82\x00\x82\x80\x80\x80\x80\x00";
    for config in [
        Config::default(),
        Config::default().deterministic(true),
        Config::default().metering(wasmhost::Metering::Portable),
    ] {
        let profiled = AnyEngine::from_name(engine.name(), config.clone()).unwrap();
        for wasm in [&overlong_minimum[..], &overlong_maximum[..]] {
            assert!(
                matches!(profiled.compile(wasm), Err(WasmError::Compile(_))),
                "{config:?}: {wasm:?}"
            );
        }
    }
    host_keeps_serving(engine);
}

fn modules_using_disabled_features_fail_to_compile_alike(engine: &AnyEngine) {
    // Tail calls, multi-memory, memory64, threads, extended constants and exceptions are
    // off on every engine (SIMD is on: tests/suite/simd.rs).
    for wat in [
        "(module (func $f return_call $f))",
        "(module (memory 1) (memory 1))",
        "(module (memory i64 1))",
        "(module (memory 1 1 shared))",
        "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
        "(module (tag))",
    ] {
        let wasm = wasmhost::wat2wasm(wat).unwrap();
        assert!(
            matches!(engine.compile(&wasm), Err(WasmError::Compile(_))),
            "{wat}"
        );
    }
}

fn missing_memory_is_a_missing_export(engine: &AnyEngine) {
    let mut guest = instance(engine, "no_memory");
    assert_eq!(
        guest.call::<_, ()>("call", &()),
        Err(WasmError::MissingExport("memory".into()))
    );
    host_keeps_serving(engine);
}

fn missing_allocator_is_a_missing_export(engine: &AnyEngine) {
    let mut guest = instance(engine, "no_allocator");
    assert_eq!(
        guest.call::<_, ()>("call", &()),
        Err(WasmError::MissingExport("wasmhost_alloc".into()))
    );
    host_keeps_serving(engine);
}

fn missing_export_is_named(engine: &AnyEngine) {
    let mut guest = instance(engine, "echo");
    assert_eq!(
        guest.call::<_, String>("no_such_export", "x"),
        Err(WasmError::MissingExport("no_such_export".into()))
    );
    assert_eq!(
        guest.call_raw("no_such_export", &[]),
        Err(WasmError::MissingExport("no_such_export".into()))
    );
    // The same instance keeps serving, and failed calls leave nothing allocated behind.
    assert_eq!(guest.call::<_, String>("echo_string", "ok").unwrap(), "ok");
    let big = wasmhost::Bytes::from(vec![0u8; 1 << 20]);
    // The first call grows memory once for the allocation; the rest must reuse it.
    assert!(guest.call::<_, ()>("no_such_export", &big).is_err());
    let pages = guest.memory_size().unwrap();
    for _ in 0..200 {
        assert!(guest.call::<_, ()>("no_such_export", &big).is_err());
    }
    assert_eq!(guest.memory_size().unwrap(), pages);
}

fn wrong_signatures_are_typed_errors(engine: &AnyEngine) {
    let mut guest = abi_misbehaving(engine);
    match guest.call::<_, ()>("wrong_signature", &()) {
        Err(WasmError::ExportSignature {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "wrong_signature");
            assert_eq!(expected, "(i32, i32) -> (i64)");
            assert_eq!(found, "(i32) -> (i32)");
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
    // Raw calls check argument types and count too.
    let mut numeric = instance(engine, "numeric");
    for args in [&[Value::I32(1)][..], &[Value::I64(1), Value::I32(2)], &[]] {
        assert!(
            matches!(
                numeric.call_raw("add", args),
                Err(WasmError::ExportSignature { .. })
            ),
            "{args:?}"
        );
    }
    assert_eq!(
        numeric.call_raw("add", &[Value::I32(1), Value::I32(2)]),
        Ok(vec![Value::I32(3)])
    );
}

fn missing_host_import_is_named(engine: &AnyEngine) {
    let module = module(engine, "missing_import");
    assert_eq!(
        module.instantiate(&HostFunctions::new(), ()).err(),
        Some(WasmError::MissingImport {
            module: "wasmhost".into(),
            name: "not_provided".into()
        })
    );
    // Provided with the wrong signature, it is a link error.
    let mut host = HostFunctions::<()>::new();
    host.raw("wasmhost", "not_provided", &[ValType::I32], &[], |_, _| {
        Ok(vec![])
    });
    assert!(matches!(
        module.instantiate(&host, ()).err(),
        Some(WasmError::Link(_))
    ));
    host_keeps_serving(engine);
}

/// The ABI-breaking guest, linked with a `host_echo` that uses the ABI properly.
fn abi_misbehaving(engine: &AnyEngine) -> AnyInstance<()> {
    let mut host = HostFunctions::new();
    host.func("host_echo", |_, bytes: Bytes| Ok(bytes));
    module(engine, "abi_misbehaving")
        .instantiate(&host, ())
        .unwrap()
}

fn guest_pointers_outside_memory_are_rejected(engine: &AnyEngine) {
    for export in [
        "output_out_of_bounds",
        "output_straddles_end",
        "host_import_out_of_bounds",
    ] {
        let mut guest = abi_misbehaving(engine);
        match guest.call::<_, ()>(export, &()) {
            Err(WasmError::BadGuestPointer { memory_size, .. }) => {
                assert_eq!(memory_size, 65536, "{export}")
            }
            other => panic!("{export}: expected a bad pointer, got {other:?}"),
        }
    }
    host_keeps_serving(engine);
}

fn allocator_returning_out_of_bounds_pointer_is_rejected(engine: &AnyEngine) {
    let mut guest = instance(engine, "bad_allocator");
    assert!(matches!(
        guest.call::<_, ()>("call", &"some input"),
        Err(WasmError::BadGuestPointer {
            ptr: 0xffff_fff0,
            ..
        })
    ));
    host_keeps_serving(engine);
}

fn input_that_does_not_deserialize_is_a_typed_error(engine: &AnyEngine) {
    let mut guest = instance(engine, "echo");
    // The guest cannot read a string as a `Nested`: it says so, as data.
    assert!(matches!(
        guest.call::<_, Nested>("echo_nested", "not a struct"),
        Err(WasmError::Deserialize(_))
    ));
    // The host cannot read the guest's string as a number.
    assert!(matches!(
        guest.call::<_, u64>("echo_string", "forty-two"),
        Err(WasmError::Deserialize(_))
    ));
    // Raw bytes that are not MessagePack at all.
    let out = guest.call_bytes("echo_nested", &[0xc1, 0xff]).unwrap();
    let decoded: Result<Nested, WasmError> = wasmhost::abi::decode(&out).unwrap();
    assert!(matches!(decoded, Err(WasmError::Deserialize(_))));
    assert_eq!(guest.call::<_, String>("echo_string", "ok").unwrap(), "ok");
}

fn payloads_over_the_limit_are_rejected_both_ways(engine: &AnyEngine) {
    let small =
        AnyEngine::from_name(engine.name(), Config::default().max_payload_bytes(1024)).unwrap();
    let mut guest = small
        .compile(wasmhost_test_wasms::guest("payload"))
        .unwrap()
        .instantiate(&HostFunctions::new(), ())
        .unwrap();
    // Host to guest.
    assert!(matches!(
        guest.call::<_, (u64, u64)>("digest", &Bytes::from(vec![0u8; 2048])),
        Err(WasmError::PayloadTooLarge { limit: 1024, .. })
    ));
    // Guest to host; the refused output is freed, not leaked (the first call may grow
    // memory once, the next thousand must reuse it).
    let make_too_much = |guest: &mut AnyInstance<()>| {
        assert!(matches!(
            guest.call::<_, Bytes>("make", &(64u64 << 10, 1u64)),
            Err(WasmError::PayloadTooLarge { limit: 1024, .. })
        ));
    };
    make_too_much(&mut guest);
    let pages = guest.memory_size().unwrap();
    for _ in 0..1000 {
        make_too_much(&mut guest);
    }
    assert_eq!(guest.memory_size().unwrap(), pages);
    assert_eq!(
        guest
            .call::<_, Bytes>("make", &(16u64, 1u64))
            .unwrap()
            .len(),
        16
    );
    // A guest claiming 2 GiB of output is stopped before any read.
    assert!(matches!(
        abi_misbehaving(engine).call::<_, ()>("output_too_large", &()),
        Err(WasmError::PayloadTooLarge {
            len: 0x8000_0000,
            ..
        })
    ));
}

fn modules_over_the_size_limit_are_refused_before_parsing(engine: &AnyEngine) {
    let limited =
        AnyEngine::from_name(engine.name(), Config::default().max_module_bytes(64)).unwrap();
    // Not wasm at all: refused for its size, so nothing parsed it.
    assert_eq!(
        limited.compile(&[0xff; 65]).err(),
        Some(WasmError::ModuleTooLarge { len: 65, limit: 64 })
    );
    let small = wasmhost::wat2wasm("(module (func (export \"f\")))").unwrap();
    assert!(small.len() <= 64);
    assert!(limited.compile(&small).is_ok());
    host_keeps_serving(engine);
}

/// A host function called from the guest's start function, which the engine runs before it
/// records the exports, gets the same typed error on every engine for the guest's memory, a
/// global and an export; the instantiation fails with it, and the host keeps serving.
fn host_functions_in_the_start_function_see_no_exports_yet(engine: &AnyEngine) {
    let wasm = wasmhost::wat2wasm(
        r#"(module
            (import "env" "peek" (func $peek))
            (memory (export "memory") 1)
            (global (export "g") i32 (i32.const 7))
            (func (export "f"))
            (func $start call $peek)
            (start $start))"#,
    )
    .unwrap();
    let module = engine.compile(&wasm).unwrap();
    for reach in ["memory", "global", "export"] {
        let mut host = HostFunctions::<()>::new();
        host.raw("env", "peek", &[], &[], move |ctx, _| {
            let guest = ctx.guest();
            match reach {
                "memory" => guest.memory_slice(0, 1).map(drop),
                "global" => guest.global("g").map(drop),
                _ => guest.call_raw("f", &[]).map(drop),
            }?;
            Ok(vec![])
        });
        let error = module.instantiate(&host, ()).err();
        assert!(
            matches!(&error, Some(WasmError::Host(m)) if m.contains("still starting")),
            "{reach} on {}: {error:?}",
            engine.name()
        );
    }
    host_keeps_serving(engine);
}

wasmhost::on_every_engine!(
    host_functions_in_the_start_function_see_no_exports_yet,
    modules_over_the_size_limit_are_refused_before_parsing,
    bytes_that_are_not_wasm_fail_to_compile,
    truncated_modules_fail_to_compile,
    malformed_encodings_fail_to_compile_in_every_profile,
    modules_using_disabled_features_fail_to_compile_alike,
    missing_memory_is_a_missing_export,
    missing_allocator_is_a_missing_export,
    missing_export_is_named,
    wrong_signatures_are_typed_errors,
    missing_host_import_is_named,
    guest_pointers_outside_memory_are_rejected,
    allocator_returning_out_of_bounds_pointer_is_rejected,
    input_that_does_not_deserialize_is_a_typed_error,
    payloads_over_the_limit_are_rejected_both_ways,
);

#[test]
fn unknown_engine_names_are_a_typed_error() {
    assert!(matches!(
        AnyEngine::from_name("v8", Config::default()),
        Err(WasmError::UnknownEngine(name, _)) if name == "v8"
    ));
}
