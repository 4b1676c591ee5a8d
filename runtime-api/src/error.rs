//! Every failure as data: one enum, one variant per kind, the same variant on every engine.

use serde::{Deserialize, Serialize};

/// What went wrong, on the host or in the guest.
///
/// It is serializable because it crosses the boundary: a guest export returns
/// `Result<Out, WasmError>` and a host function's error reaches the guest the same way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WasmError {
    /// The bytes are not a valid module: not wasm at all, truncated, malformed, or failing
    /// validation (including use of a wasm feature that is turned off).
    #[error("invalid module: {0}")]
    Compile(String),
    /// The module imports something the host does not provide.
    #[error("missing import `{module}.{name}`")]
    MissingImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// An import exists but does not fit (wrong type or signature), or linking failed otherwise.
    #[error("link error: {0}")]
    Link(String),
    /// The instance has no export by this name (or it is not a function / memory as needed).
    #[error("missing export `{0}`")]
    MissingExport(String),
    /// The export exists but its signature is not the one the call needs.
    #[error("export `{name}` has signature {found}, the call needs {expected}")]
    ExportSignature {
        /// Export name.
        name: String,
        /// The signature the call needs, e.g. `(i32, i32) -> i64`.
        expected: String,
        /// The signature the export has.
        found: String,
    },
    /// The guest trapped.
    #[error("guest trapped: {0}")]
    Trap(Trap),
    /// The call ran out of fuel: the guest's work, or a host function's charge, did not fit
    /// in the instance's budget. The instance is spent: later calls on it fail the same way.
    #[error("out of fuel")]
    OutOfFuel,
    /// The call was stopped from outside the guest: an [`crate::InterruptHandle`] was
    /// fired, or the call ran past its deadline ([`crate::Config::call_timeout`]). Like
    /// running out of fuel, it can stop the guest anywhere, so the instance is spent: later
    /// calls on it fail the same way.
    #[error("guest interrupted: {0}")]
    Interrupted(crate::Interruption),
    /// The guest ended itself with an exit code (WASI's `proc_exit`): a command's normal
    /// end, a success when the code is 0. Like running out of fuel, it can stop the guest
    /// anywhere, so the instance is spent: later calls on it fail the same way.
    #[error("guest exited with code {0}")]
    Exit(i32),
    /// The guest's memory hit the configured limit: a module's memory starts larger than it,
    /// or the call trapped after `memory.grow` was refused by it.
    #[error("memory limit reached")]
    MemoryLimit,
    /// The guest tried to grow a table beyond the configured limit, or a module's table
    /// starts larger than it.
    #[error("table limit reached")]
    TableLimit,
    /// A payload (call input or output) is larger than the configured limit.
    #[error("payload of {len} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Size of the payload.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A module is larger than [`crate::Config::max_module_bytes`]: refused before any
    /// parsing.
    #[error("module of {len} bytes exceeds the limit of {limit} bytes")]
    ModuleTooLarge {
        /// Size of the module.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The guest returned an error of its own.
    #[error("guest error: {0}")]
    Guest(String),
    /// The guest panicked; the message is the panic's.
    #[error("guest panicked: {0}")]
    GuestPanic(String),
    /// A host function failed.
    #[error("host function error: {0}")]
    Host(String),
    /// A value could not be serialized to MessagePack.
    #[error("serialization failed: {0}")]
    Serialize(String),
    /// Bytes could not be deserialized into the expected type.
    #[error("deserialization failed: {0}")]
    Deserialize(String),
    /// The guest handed over a pointer/length pair outside its memory (from an export's
    /// result, its allocator, or a host import's arguments).
    #[error("guest pointer {ptr:#x}+{len} is outside its memory of {memory_size} bytes")]
    BadGuestPointer {
        /// The pointer.
        ptr: u64,
        /// The length.
        len: u64,
        /// The size of guest memory at the time.
        memory_size: u64,
    },
    /// No backend of this name is compiled in.
    #[error("unknown engine `{0}` (compiled in: {1})")]
    UnknownEngine(String, String),
    /// An engine failure that fits no other variant; the text is the engine's.
    #[error("engine error: {0}")]
    Engine(String),
}

/// A wasm trap, by kind. Each engine's trap codes map onto these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Trap {
    /// `unreachable` was executed.
    #[error("unreachable executed")]
    Unreachable,
    /// A load or store outside linear memory.
    #[error("out-of-bounds memory access")]
    MemoryOutOfBounds,
    /// A table access outside the table.
    #[error("out-of-bounds table access")]
    TableOutOfBounds,
    /// `call_indirect` reached a null table entry.
    #[error("indirect call to null")]
    IndirectCallToNull,
    /// `call_indirect` reached a function of another signature.
    #[error("indirect call signature mismatch")]
    IndirectCallSignature,
    /// Integer division or remainder by zero.
    #[error("integer divide by zero")]
    IntegerDivideByZero,
    /// Signed integer overflow in division (`MIN / -1`).
    #[error("integer overflow")]
    IntegerOverflow,
    /// A float-to-int conversion of NaN or of a value out of range.
    #[error("invalid conversion to integer")]
    InvalidConversion,
    /// The call stack was exhausted.
    #[error("call stack exhausted")]
    StackOverflow,
    /// A trap code this version does not know; the text is the engine's.
    #[error("{0}")]
    Other(String),
}

impl WasmError {
    /// A host-function error with this message.
    pub fn host(message: impl std::fmt::Display) -> Self {
        WasmError::Host(message.to_string())
    }

    /// A guest error with this message.
    pub fn guest(message: impl std::fmt::Display) -> Self {
        WasmError::Guest(message.to_string())
    }
}

impl From<Trap> for WasmError {
    fn from(trap: Trap) -> Self {
        WasmError::Trap(trap)
    }
}
