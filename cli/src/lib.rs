//! # wasmhost-cli
//!
//! The `wasmhost` command line (`src/main.rs`; `wasmhost --help` documents it). The library
//! part holds what its tests check beside the binary: how `run` calls an export and compares
//! the engines, and what `inspect` reads from a module.

#![warn(missing_docs)]

pub mod command;
pub mod inspect;
pub mod run;
