//! WASI preview 1 (`wasi_snapshot_preview1`) for wasmhost, written once on the contract's
//! raw host functions, so a program sees the same system on every engine.
//!
//! - Every one of the 46 functions is linked, so any preview 1 module instantiates. What is
//!   not offered answers an errno: sockets and `fd_fdstat_set_rights` [`errno::NOTSUP`],
//!   `proc_raise` [`errno::NOSYS`].
//! - Host directories are reached through cap-std: no guest path leaves its preopen. An
//!   in-memory tree ([`MemoryDir`]) is a preopen whose files live in host memory, within a
//!   capacity.
//! - `proc_exit(n)` ends the call with [`wasmhost_api::WasmError::Exit`] on every engine,
//!   and the instance is spent.
//! - The deterministic mode ([`WasiCtxBuilder::deterministic`]): virtual clocks, seeded
//!   randomness, no host facts; with the deterministic profile, the same program and inputs
//!   give the same output and fuel on every engine and machine.
//! - Reads, writes, listings and random bytes charge fuel at
//!   [`wasmhost_api::CostTable::io_bytes_per_unit`]; one call moves at most
//!   [`MOST_BYTES_PER_CALL`] bytes, so the host never allocates by the guest's word.
//!
//! ```
//! use wasmhost_api::HostFunctions;
//! use wasmhost_wasi::{Captured, WasiCtx};
//!
//! let stdout = Captured::new();
//! let mut host = HostFunctions::<WasiCtx>::new();
//! wasmhost_wasi::link(&mut host);
//! let state = WasiCtx::builder().arg("hello").stdout(stdout.output()).build();
//! // engine.compile(&wasm)?.instantiate(&host, state)?.call_raw("_start", &[]) ...
//! # let _ = state;
//! ```

#![warn(missing_docs)]

mod calls;
mod ctx;
pub mod errno;
mod fd;
mod handle;
mod memfs;
mod memory;

pub use calls::{MODULE, MOST_BYTES_PER_CALL};
pub use ctx::{
    Captured, DirPerms, Input, Output, VIRTUAL_EPOCH_NANOS, VIRTUAL_STEP_NANOS, WasiCtx,
    WasiCtxBuilder,
};
pub use memfs::{DEFAULT_CAPACITY as MEMORY_DIR_CAPACITY, MemoryDir};

use wasmhost_api::HostFunctions;

/// Host state that holds a [`WasiCtx`]: WASI's functions reach it through this, beside the
/// host's own state.
pub trait WasiView: Send + 'static {
    /// The WASI context of this instance.
    fn wasi(&mut self) -> &mut WasiCtx;
}

impl WasiView for WasiCtx {
    fn wasi(&mut self) -> &mut WasiCtx {
        self
    }
}

/// Links every function of `wasi_snapshot_preview1` into `host`, beside the host's own
/// functions; each instance's WASI state is its host state's [`WasiView::wasi`].
pub fn link<T: WasiView>(host: &mut HostFunctions<T>) {
    calls::link(host);
}

/// Whether a module is a WASI command (exports `_start`), a reactor (exports `_initialize`
/// or neither, importing WASI), or neither (imports no WASI function).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Runs once through `_start`.
    Command,
    /// A library: its exports are called, after `_initialize` if it has one.
    Reactor,
    /// Imports nothing of WASI.
    NotWasi,
}

/// The kind of a module, from its imports' modules and its exports' names.
pub fn kind<'a>(
    mut import_modules: impl Iterator<Item = &'a str>,
    mut exports: impl Iterator<Item = &'a str>,
) -> Kind {
    if !import_modules.any(|m| m == MODULE) {
        return Kind::NotWasi;
    }
    match exports.any(|e| e == "_start") {
        true => Kind::Command,
        false => Kind::Reactor,
    }
}

/// Runs a WASI command: `_start` of a fresh instance of `module`, linked with `host` (which
/// must hold WASI, see [`link`]), on host state `state`. Its exit code: 0 when `_start`
/// returns, `n` when it calls `proc_exit(n)`. The instance is handed back beside it (for
/// its fuel, its state's captured output).
///
/// # Errors
/// Instantiation errors, and every other way the call can fail (traps, running out of
/// fuel) as the contract types them.
pub fn run_command<T, M>(
    module: &M,
    host: &HostFunctions<T>,
    state: T,
) -> Result<(i32, M::Instance<T>), wasmhost_api::WasmError>
where
    T: WasiView,
    M: wasmhost_api::Module,
{
    use wasmhost_api::{Guest, WasmError};
    let mut instance = module.instantiate(host, state)?;
    match instance.call_raw("_start", &[]) {
        Ok(_) => Ok((0, instance)),
        Err(WasmError::Exit(code)) => Ok((code, instance)),
        Err(e) => Err(e),
    }
}
