//! # wasmhost-wasmtime
//!
//! The [`wasmhost_api`] contract on [wasmtime](https://docs.rs/wasmtime) with the cranelift
//! compiler: slow to compile, fast to run, and the engine most Rust hosts pick.
//!
//! Engine differences stay here: wasmtime's trap codes, its store data, its linker and its
//! feature defaults are mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;
mod module;

pub use backend::{Wasmtime, WasmtimeParams, WasmtimeResults};
pub use module::WasmtimeLinked;

// The public names of the generic types over [`Wasmtime`].
wasmhost_backend::aliases! {
    Wasmtime, "wasmtime", StoreData, WasmtimeEngine, WasmtimeModule, WasmtimePrelinked, WasmtimeInstance, WasmtimeTyped, WasmtimeSerialized
}
