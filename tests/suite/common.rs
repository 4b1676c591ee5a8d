//! Shared by the integration tests: guests by name, engines metered with portable fuel.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance, AnyModule, Config, HostFunctions, Metering};

/// Compiles test guest `guest` on `engine`.
pub fn module(engine: &AnyEngine, guest: &str) -> AnyModule {
    engine
        .compile(wasmhost_test_wasms::guest(guest))
        .unwrap_or_else(|e| panic!("{guest} compiles on {}: {e}", engine.name()))
}

/// A fresh instance of `guest` without host functions.
pub fn instance(engine: &AnyEngine, guest: &str) -> AnyInstance<()> {
    module(engine, guest)
        .instantiate(&HostFunctions::new(), ())
        .unwrap_or_else(|e| panic!("{guest} instantiates on {}: {e}", engine.name()))
}

/// An engine of `engine`'s kind with portable fuel, in the deterministic profile or the
/// default one.
pub fn with_portable_fuel(engine: &AnyEngine, deterministic: bool) -> AnyEngine {
    let config = Config::default()
        .metering(Metering::Portable)
        .deterministic(deterministic);
    AnyEngine::from_name(engine.name(), config).unwrap()
}

/// Compiles the module `wat` (text) on `engine`.
pub fn compile_wat(engine: &AnyEngine, wat: &str) -> AnyModule {
    let wasm = wasmhost::wat2wasm(wat).unwrap();
    engine
        .compile(&wasm)
        .unwrap_or_else(|e| panic!("compiles on {}: {e}", engine.name()))
}
