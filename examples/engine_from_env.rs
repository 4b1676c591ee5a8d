//! One host, the engine chosen at run time: `WASMHOST_ENGINE=wasmi cargo run --example
//! engine_from_env` (default: every compiled-in engine, one after the other).

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, Value, WasmError};

fn main() -> Result<(), WasmError> {
    let names: Vec<String> = match std::env::var("WASMHOST_ENGINE") {
        Ok(name) => vec![name],
        Err(_) => wasmhost::ENGINES.iter().map(|n| n.to_string()).collect(),
    };
    let wasm = wasmhost::wat2wasm(
        r#"(module (func (export "fib") (param i64) (result i64) (local i64 i64)
             i64.const 1 local.set 2
             block loop local.get 0 i64.eqz br_if 1
               local.get 1 local.get 2 i64.add local.get 2 local.set 1 local.set 2
               local.get 0 i64.const 1 i64.sub local.set 0 br 0 end end
             local.get 1))"#,
    )?;
    for name in names {
        // An unknown name is a typed error that lists the engines compiled in.
        let engine = AnyEngine::from_name(&name, Config::default())?;
        let mut guest = engine
            .compile(&wasm)?
            .instantiate(&HostFunctions::new(), ())?;
        let fib = guest.call_raw("fib", &[Value::I64(90)])?;
        println!("{name}: fib(90) = {}", fib[0]);
    }
    Ok(())
}
