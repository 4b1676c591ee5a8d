//! The README's host: a guest that greets, a host function it calls, the host state that
//! function keeps. `cargo run --example greeter` (ENGINE=wasmer or wasmi picks the engine).

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, WasmError};

fn main() -> Result<(), WasmError> {
    let name = std::env::var("ENGINE").unwrap_or_else(|_| wasmhost::ENGINES[0].into());
    let engine = AnyEngine::from_name(&name, Config::default())?;
    let module = engine.compile(wasmhost_test_wasms::guest("greeter"))?;

    let mut host = HostFunctions::<Vec<String>>::new();
    host.func(
        "lookup_age",
        |ctx, name: String| -> Result<u32, WasmError> {
            ctx.state_mut().push(name.clone());
            Ok(if name == "ada" { 36 } else { 0 })
        },
    );
    let mut guest = module.instantiate(&host, Vec::new())?;
    for who in ["ada", "grace"] {
        let greeting: String = guest.call("greet", who)?;
        println!("{}: {greeting}", engine.name());
    }
    println!("looked up: {:?}", guest.state());
    Ok(())
}
