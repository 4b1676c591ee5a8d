//! Shared by the integration tests: engines by name, guests by name.



use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance, AnyModule, Config, HostFunctions};

/// The engine called `name`, with the default configuration.
pub fn engine(name: &str) -> AnyEngine {
    AnyEngine::from_name(name, Config::default()).expect("engine is compiled in")
}

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
