//! # wasmhost
//!
//! Run WebAssembly guests through one API on several engines: wasmer (compiled, cargo
//! feature `wasmer`) and wasmi (interpreted, cargo feature `wasmi`), both on by default.
//!
//! - Static dispatch: write generic code over [`Engine`], [`Module`] and [`Instance`], and
//!   pick [`WasmerEngine`] or [`WasmiEngine`].
//! - Run-time choice: [`AnyEngine::from_name`] takes `"wasmer"` or `"wasmi"` (from a CLI
//!   flag, a config file, an environment variable) and implements the same traits.
//!
//! Calls cross the boundary as MessagePack ([`abi`]) with typed results; host functions are
//! plain closures ([`HostFunctions`]); failures are [`WasmError`]s, the same on every engine.
//!
//! ```
//! use wasmhost::prelude::*;
//! use wasmhost::{AnyEngine, Config, HostFunctions, Value};
//!
//! // A raw export: (i32, i32) -> i32.
//! let wasm = wasmhost::wat2wasm(r#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#)?;
//! for name in wasmhost::ENGINES {
//!     let engine = AnyEngine::from_name(name, Config::default())?;
//!     let module = engine.compile(&wasm)?;
//!     let mut instance = module.instantiate(&HostFunctions::new(), ())?;
//!     let sum = instance.call_raw("add", &[Value::I32(2), Value::I32(40)])?;
//!     assert_eq!(sum, [Value::I32(42)]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

#[cfg(not(any(feature = "wasmer", feature = "wasmi", feature = "wasmtime")))]
compile_error!(
    "wasmhost needs at least one engine: enable the cargo feature `wasmer`, `wasmi` or `wasmtime`"
);

#[macro_use]
mod engines;
mod any;
pub mod cache;
#[cfg(feature = "tokio")]
pub mod pool;
pub mod typed;
/// WASI preview 1, written once for every engine: link it into a [`HostFunctions`] with
/// [`wasi::link`] and keep a [`wasi::WasiCtx`] in the host state.
#[cfg(feature = "wasi")]
pub use wasmhost_wasi as wasi;

/// The traits, so that their methods are in scope: `use wasmhost::prelude::*;`.
pub mod prelude {
    pub use wasmhost_api::{Engine, Guest, Instance, Module, Prelinked};
}

pub use any::{AnyEngine, AnyInstance, AnyModule, AnyPrelinked};
pub use typed::{AnySerialized, AnyTyped};
pub use wasmhost_api::*;
#[cfg(feature = "wasmer")]
pub use wasmhost_wasmer::{
    WasmerEngine, WasmerInstance, WasmerModule, WasmerPrelinked, WasmerTyped,
};
#[cfg(feature = "wasmi")]
pub use wasmhost_wasmi::{
    WasmiEngine, WasmiInstance, WasmiModule, WasmiPrelinked, WasmiSerialized, WasmiTyped,
};
#[cfg(feature = "wasmtime")]
pub use wasmhost_wasmtime::{
    WasmtimeEngine, WasmtimeInstance, WasmtimeModule, WasmtimePrelinked, WasmtimeSerialized,
    WasmtimeTyped,
};

with_engines!(define_on_every_engine! { $ });

// The README's host example runs as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

with_engines!(engine_names! {});

/// Translates the WebAssembly text format to the binary format; binary input passes through.
///
/// # Errors
/// [`WasmError::Compile`] with the parser's message for text that does not parse.
pub fn wat2wasm(text_or_binary: impl AsRef<[u8]>) -> Result<Vec<u8>, WasmError> {
    wat::parse_bytes(text_or_binary.as_ref())
        .map(|b| b.into_owned())
        .map_err(|e| WasmError::Compile(e.to_string()))
}
