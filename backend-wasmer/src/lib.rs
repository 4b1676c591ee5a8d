//! # wasmhost-wasmer
//!
//! The [`wasmhost_api`] contract on [wasmer](https://docs.rs/wasmer) with the cranelift
//! compiler: slow to compile, fast to run.
//!
//! Engine differences stay here: wasmer's runtime errors, its function environments and
//! its feature defaults are mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;
mod module;
mod typed;

pub use backend::{Wasmer, WasmerStore};
pub use module::{WasmerCompiled, WasmerLinked};
pub use typed::{WasmerParams, WasmerResults};

// The public names of the generic types over [`Wasmer`].
wasmhost_backend::aliases! {
    Wasmer, "wasmer", Env, WasmerEngine, WasmerModule, WasmerPrelinked, WasmerInstance, WasmerTyped, WasmerSerialized
}
