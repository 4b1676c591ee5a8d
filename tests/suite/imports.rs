//! What a host provides besides functions: globals, memories and tables, each instance with
//! its own; and reference values crossing the boundary both ways.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, FuncRef, HostFunctions, Limits, ValType, Value, WasmError};

const IMPORTER: &str = r#"(module
  (import "env" "base" (global $base i64))
  (import "env" "counter" (global $counter (mut i32)))
  (import "env" "memory" (memory 1 3))
  (import "env" "table" (table 2 funcref))
  (export "memory" (memory 0))
  (type $answer (func (result i32)))
  (func $seven (result i32) (i32.const 7))
  (elem (i32.const 1) $seven)
  (func (export "base") (result i64) (global.get $base))
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect (type $answer) (local.get 0)))
  (func (export "table_size") (result i32) (table.size 0))
)"#;

fn host() -> HostFunctions<()> {
    let mut host = HostFunctions::new();
    host.global("env", "base", Value::I64(-5), false)
        .global("env", "counter", Value::I32(10), true)
        .memory("env", "memory", Limits::new(1, Some(2)))
        .table("env", "table", ValType::FuncRef, Limits::new(4, None));
    host
}

fn provided_globals_memories_and_tables_are_each_instances_own(engine: &AnyEngine) {
    let module = engine
        .compile(&wasmhost::wat2wasm(IMPORTER).unwrap())
        .unwrap();
    let prelinked = module.prelink(&host()).unwrap();
    let mut first = prelinked.instantiate(()).unwrap();
    assert_eq!(first.call_raw("base", &[]), Ok(vec![Value::I64(-5)]));
    assert_eq!(first.call_raw("bump", &[]), Ok(vec![Value::I32(11)]));
    assert_eq!(first.call_raw("bump", &[]), Ok(vec![Value::I32(12)]));
    first
        .call_raw("store", &[Value::I32(8), Value::I32(99)])
        .unwrap();
    assert_eq!(
        first.call_raw("load", &[Value::I32(8)]),
        Ok(vec![Value::I32(99)])
    );
    // The provided memory's maximum (2 pages) holds, not the module's (3).
    assert_eq!(
        first.call_raw("grow", &[Value::I32(1)]),
        Ok(vec![Value::I32(1)])
    );
    assert_eq!(
        first.call_raw("grow", &[Value::I32(1)]),
        Ok(vec![Value::I32(-1)])
    );
    // The provided table has the provided size; the module's element segment filled slot 1.
    assert_eq!(first.call_raw("table_size", &[]), Ok(vec![Value::I32(4)]));
    assert_eq!(
        first.call_raw("call", &[Value::I32(1)]),
        Ok(vec![Value::I32(7)])
    );
    assert!(matches!(
        first.call_raw("call", &[Value::I32(0)]),
        Err(WasmError::Trap(wasmhost::Trap::IndirectCallToNull))
    ));

    // A second instance starts from the host's values, not the first instance's.
    let mut second = prelinked.instantiate(()).unwrap();
    assert_eq!(second.call_raw("bump", &[]), Ok(vec![Value::I32(11)]));
    assert_eq!(
        second.call_raw("load", &[Value::I32(8)]),
        Ok(vec![Value::I32(0)])
    );
    assert_eq!(second.memory_size(), Ok(65_536));
}

fn provided_imports_that_do_not_fit_are_typed_errors(engine: &AnyEngine) {
    let module = engine
        .compile(&wasmhost::wat2wasm(IMPORTER).unwrap())
        .unwrap();
    let link = |host: &HostFunctions<()>| module.prelink(host).map(drop);
    let mut wrong_type = host();
    wrong_type.global("env", "base", Value::I32(-5), false);
    assert!(matches!(link(&wrong_type), Err(WasmError::Link(m)) if m.contains("env.base")));
    let mut immutable = host();
    immutable.global("env", "counter", Value::I32(0), false);
    assert!(matches!(link(&immutable), Err(WasmError::Link(_))));
    let mut unbounded = host();
    // The module declares a maximum of 3 pages: an unbounded memory does not match.
    unbounded.memory("env", "memory", Limits::new(1, None));
    assert!(matches!(link(&unbounded), Err(WasmError::Link(_))));
    let mut small_table = host();
    small_table.table("env", "table", ValType::FuncRef, Limits::new(1, None));
    assert!(matches!(link(&small_table), Err(WasmError::Link(_))));
    let mut externref_table = host();
    externref_table.table("env", "table", ValType::ExternRef, Limits::new(4, None));
    assert!(matches!(link(&externref_table), Err(WasmError::Link(_))));
    let mut function = host();
    function.raw("env", "memory", &[], &[], |_, _| Ok(vec![]));
    assert!(matches!(link(&function), Err(WasmError::Link(_))));
    let mut missing = HostFunctions::<()>::new();
    missing.global("env", "base", Value::I64(0), false);
    assert_eq!(
        link(&missing),
        Err(WasmError::MissingImport {
            module: "env".into(),
            name: "counter".into()
        })
    );

    // A provided memory or table over the configured limits is refused before it is made.
    let limited = |config: Config| {
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        let module = engine
            .compile(&wasmhost::wat2wasm(IMPORTER).unwrap())
            .unwrap();
        module.prelink(&host()).map(drop)
    };
    let mut big_memory = host();
    big_memory.memory("env", "memory", Limits::new(3, Some(3)));
    let engine_limited = AnyEngine::from_name(
        engine.name(),
        Config::default().max_memory_bytes(2 * 65_536),
    )
    .unwrap();
    let module_limited = engine_limited
        .compile(&wasmhost::wat2wasm(IMPORTER).unwrap())
        .unwrap();
    assert_eq!(
        module_limited.prelink(&big_memory).map(drop),
        Err(WasmError::MemoryLimit)
    );
    assert_eq!(
        limited(Config::default().max_table_elements(3)),
        Err(WasmError::TableLimit)
    );
}

const REFERENCES: &str = r#"(module
  (import "env" "wrap" (func $wrap (param i32) (result externref)))
  (import "env" "unwrap" (func $unwrap (param externref) (result i32)))
  (func $f)
  (elem declare func $f)
  (func (export "same") (param externref) (result externref) (local.get 0))
  (func (export "is_null") (param funcref) (result i32) (ref.is_null (local.get 0)))
  (func (export "some_func") (result funcref) (ref.func $f))
  (func (export "null_func") (result funcref) (ref.null func))
  (func (export "round_trip") (param i32) (result i32) (call $unwrap (call $wrap (local.get 0))))
)"#;

fn reference_values_cross_both_ways(engine: &AnyEngine) {
    let mut host = HostFunctions::<()>::new();
    host.raw(
        "env",
        "wrap",
        &[ValType::I32],
        &[ValType::ExternRef],
        |_, args| {
            let [Value::I32(n)] = args else {
                return Err(WasmError::host("wrap takes an i32"));
            };
            Ok(vec![Value::ExternRef(Some(*n as u32 * 2))])
        },
    )
    .raw(
        "env",
        "unwrap",
        &[ValType::ExternRef],
        &[ValType::I32],
        |_, args| match args {
            [Value::ExternRef(Some(n))] => Ok(vec![Value::I32(*n as i32 + 1)]),
            other => Err(WasmError::host(format!("unwrap got {other:?}"))),
        },
    );
    let module = engine
        .compile(&wasmhost::wat2wasm(REFERENCES).unwrap())
        .unwrap();
    let mut instance = module.instantiate(&host, ()).unwrap();
    for value in [
        Value::ExternRef(Some(7)),
        Value::ExternRef(None),
        Value::ExternRef(Some(u32::MAX)),
    ] {
        assert_eq!(instance.call_raw("same", &[value]), Ok(vec![value]));
    }
    assert_eq!(
        instance.call_raw("is_null", &[Value::FuncRef(None)]),
        Ok(vec![Value::I32(1)])
    );
    assert_eq!(
        instance.call_raw("some_func", &[]),
        Ok(vec![Value::FuncRef(Some(FuncRef::opaque()))])
    );
    assert_eq!(
        instance.call_raw("null_func", &[]),
        Ok(vec![Value::FuncRef(None)])
    );
    // The host's reference goes into the guest and back out to the host.
    assert_eq!(
        instance.call_raw("round_trip", &[Value::I32(20)]),
        Ok(vec![Value::I32(41)])
    );
    // A non-null function reference cannot go in: which function it is stays behind.
    assert!(matches!(
        instance.call_raw("is_null", &[Value::FuncRef(Some(FuncRef::opaque()))]),
        Err(WasmError::ExportSignature { .. })
    ));
    assert_eq!(
        instance.call_raw("is_null", &[Value::FuncRef(None)]),
        Ok(vec![Value::I32(1)])
    );
    // A reference where a number is expected is a signature error, as any wrong type is.
    assert!(matches!(
        instance.call_raw("same", &[Value::I32(1)]),
        Err(WasmError::ExportSignature { .. })
    ));
}

wasmhost::on_every_engine!(
    provided_globals_memories_and_tables_are_each_instances_own,
    provided_imports_that_do_not_fit_are_typed_errors,
    reference_values_cross_both_ways,
);
