//! # wasmhost-api
//!
//! The contract every wasmhost backend implements, and the wire format shared with guests.
//! This crate names no engine: it builds for the host and for `wasm32` guests alike.
//!
//! - [`Engine`], [`Module`] and [`Instance`]: compile, instantiate, call.
//! - [`Value`] and [`ValType`]: raw wasm values, floats carried as exact bit patterns.
//! - [`WasmError`] and [`Trap`]: every failure as data, the same variant on every engine.
//! - [`abi`]: the one calling convention between host and guest (MessagePack payloads
//!   behind `(ptr, len)` pairs, results packed into one `i64`).
//! - [`HostFunctions`] and [`HostContext`]: host functions as plain Rust closures; globals,
//!   memories and tables a host provides ([`ExternKind`]).
//! - [`typed`]: call handles that skip the lookup: raw ([`WasmTypes`]) and serialized
//!   ([`SerializedFunc`]).
//! - [`InterruptHandle`]: stopping a running guest from another thread; deadlines.
//! - [`Config`]: the one place for knobs.

#![warn(missing_docs)]

pub mod abi;
mod config;
mod engine;
mod error;
mod externs;
mod host;
mod interrupt;
pub mod typed;
mod value;

pub use abi::Borrowable;
pub use config::{
    COST_RULES_VERSION, Config, CostTable, DEFAULT_MAX_CALL_DEPTH, DEFAULT_MAX_HOST_NESTING,
    DEFAULT_MAX_STACK_BYTES, FRAME_OVERHEAD_BYTES, MemoryReservation, Metering, StackLimit,
};
pub use engine::{Engine, ExportInfo, FuncSig, Guest, Instance, Module, Prelinked};
pub use error::{Trap, WasmError};
pub use externs::{ExternKind, HostExtern, ImportType, Limits};
pub use host::{Caller, HostContext, HostFn, HostFunc, HostFunctions, HostImport};
pub use interrupt::{Fired, Interrupt, InterruptHandle, Interruption, Signal};
pub use typed::{PackedFunc, SerializedFunc, WasmType, WasmTypes};
pub use value::{FuncRef, ValType, Value};

/// Owned bytes that serialize as one MessagePack `bin` (not an array of integers).
///
/// Use it for payloads: `Vec<u8>` would cost one to two bytes of encoding per byte.
pub use serde_bytes::ByteBuf as Bytes;

/// Borrowed bytes that serialize as one MessagePack `bin`: the slice form of [`Bytes`].
///
/// A guest export taking `&ByteSlice` reads its input where the host wrote it, with no copy
/// (see `wasmhost_guest::export!`).
pub use serde_bytes::Bytes as ByteSlice;
