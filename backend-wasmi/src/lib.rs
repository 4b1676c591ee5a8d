//! # wasmhost-wasmi
//!
//! The [`wasmhost_api`] contract on [wasmi](https://docs.rs/wasmi), an interpreter:
//! portable, quick to compile, and deterministic in everything but NaN bits.
//!
//! Engine differences stay here: wasmi's trap codes, its store data and its linker are
//! mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;
mod module;

pub use backend::{Wasmi, WasmiParams, WasmiResults};
pub use module::{WasmiLinked, WasmiSetup};

// The public names of the generic types over [`Wasmi`].
wasmhost_backend::aliases! {
    Wasmi, "wasmi", StoreData, WasmiEngine, WasmiModule, WasmiPrelinked, WasmiInstance, WasmiTyped, WasmiSerialized
}
