//! Shared by the integration tests: engines by name, guests by name, and the macro that
//! runs one test body on every enabled engine.

#![allow(dead_code)]

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

/// Generates, for every enabled engine, a module named after it with one `#[test]` per
/// listed body: `wasmer::echo_round_trips`, `wasmi::echo_round_trips`, … Each body is a
/// function `fn(&AnyEngine)` written once in the test file.
#[macro_export]
macro_rules! on_every_engine {
    ($($(#[$meta:meta])* $body:ident),* $(,)?) => {
        #[cfg(feature = "wasmer")]
        mod wasmer {
            $( $(#[$meta])* #[test] fn $body() { super::$body(&$crate::common::engine("wasmer")) } )*
        }
        #[cfg(feature = "wasmi")]
        mod wasmi {
            $( $(#[$meta])* #[test] fn $body() { super::$body(&$crate::common::engine("wasmi")) } )*
        }
    };
}
