//! Exported globals read through the contract: exact values (a NaN's bits too) as the
//! guest left them, and typed errors for a name that is not a global or a global of a type
//! the contract does not carry.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, Value, WasmError};

const MODULE: &str = r#"(module
  (global (export "count") (mut i32) (i32.const 0))
  (global (export "big") i64 (i64.const -9007199254740993))
  (global (export "nan") f32 (f32.const -nan:0x123)) ;; signalling: the quiet bit is clear
  (global (export "half") (mut f64) (f64.const 0.5))
  (global (export "table_ref") funcref (ref.null func))
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
    assert!(
        matches!(instance.global("table_ref"), Err(WasmError::ExportSignature { ref name, .. }) if name == "table_ref"),
        "{:?}",
        instance.global("table_ref")
    );
}

wasmhost::on_every_engine!(exported_globals_read_exactly_and_fail_typed);
