//! Shared by the integration tests: guests by name.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance, AnyModule, HostFunctions};

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
