//! Exported globals read through the contract: exact values (a NaN's bits too, references as
//! null or not) as the guest left them, and a typed error for a name that is not a global.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, FuncRef, HostFunctions, Value, WasmError};

const MODULE: &str = r#"(module
  (global (export "count") (mut i32) (i32.const 0))
  (global (export "big") i64 (i64.const -9007199254740993))
  (global (export "nan") f32 (f32.const -nan:0x123)) ;; signalling: the quiet bit is clear
  (global (export "half") (mut f64) (f64.const 0.5))
  (global (export "null_func") funcref (ref.null func))
  (global (export "a_func") funcref (ref.func 0))
  (global (export "null_extern") externref (ref.null extern))
  (func (export "bump") (global.set 0 (i32.add (global.get 0) (i32.const 1))))
)"#;

fn exported_globals_read_exactly_and_fail_typed(engine: &AnyEngine) {
    let module = engine
        .compile(&wasmhost::wat2wasm(MODULE).unwrap())
        .unwrap();
    let mut instance = module.instantiate(&HostFunctions::<()>::new(), ()).unwrap();
    assert_eq!(instance.global("count"), Ok(Value::I32(0)));
    instance.call_raw("bump", &[]).unwrap();
    instance.call_raw("bump", &[]).unwrap();
    assert_eq!(instance.global("count"), Ok(Value::I32(2)));
    assert_eq!(
        instance.global("big"),
        Ok(Value::I64(-9_007_199_254_740_993))
    );
    assert_eq!(instance.global("nan"), Ok(Value::F32(0xff80_0123)));
    assert_eq!(instance.global("half"), Ok(Value::F64(0.5f64.to_bits())));
    assert_eq!(
        instance.global("bump"),
        Err(WasmError::MissingExport("bump".into()))
    );
    assert_eq!(
        instance.global("nowhere"),
        Err(WasmError::MissingExport("nowhere".into()))
    );
    assert_eq!(instance.global("null_func"), Ok(Value::FuncRef(None)));
    assert_eq!(
        instance.global("a_func"),
        Ok(Value::FuncRef(Some(FuncRef::opaque())))
    );
    assert_eq!(instance.global("null_extern"), Ok(Value::ExternRef(None)));
}

wasmhost::on_every_engine!(exported_globals_read_exactly_and_fail_typed);
