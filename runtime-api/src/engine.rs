//! The engine, module and instance traits every backend implements.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

use crate::{Config, HostFunctions, InterruptHandle, ValType, Value, WasmError, abi};

/// A wasm engine with its configuration: compiles modules.
///
/// Cheap to clone; clones share compiled code caches where the engine has them.
pub trait Engine: Clone + Send + Sync + 'static {
    /// The compiled module type.
    type Module: Module;

    /// The engine's name as accepted at run time: `"wasmer"`, `"wasmi"`.
    fn name(&self) -> &'static str;

    /// The configuration this engine was built with.
    fn config(&self) -> &Config;

    /// Validates and compiles `wasm` (binary format only).
    ///
    /// # Errors
    /// [`WasmError::Compile`] for bytes that are not a valid module under [`Config`]'s
    /// feature set.
    fn compile(&self, wasm: &[u8]) -> Result<Self::Module, WasmError>;

    /// Everything besides the wasm bytes that decides what [`Engine::compile`] produces:
    /// the engine and its version, its compiler settings, the host processor's features
    /// where the code is native, and the whole [`Config`]. A module cache keys its entries
    /// by this and the bytes, so that two set-ups never share compiled code.
    fn fingerprint(&self) -> String;

    /// Whether the engine interprets wasm rather than compiling it to machine code (`false`,
    /// the default). Reports hold compiled code to near-native speed, and an interpreter
    /// to no such target.
    fn interprets(&self) -> bool {
        false
    }

    /// Whether [`Engine::serialize`] works on this engine: `false` (the default) for
    /// engines with nothing worth storing, such as an interpreter.
    fn can_serialize(&self) -> bool {
        false
    }

    /// The compiled code of `module` as bytes that [`Engine::deserialize`] can load back, or
    /// `None` where the engine cannot serialize ([`Engine::can_serialize`]).
    ///
    /// # Errors
    /// [`WasmError::Engine`] when serialization fails.
    fn serialize(&self, module: &Self::Module) -> Option<Result<Vec<u8>, WasmError>> {
        let _ = module;
        None
    }

    /// Loads a module from the bytes [`Engine::serialize`] produced.
    ///
    /// # Safety
    /// Loading compiled code is memory-unsafe: `bytes` must be exactly what `serialize`
    /// returned on an engine with the same [`Engine::fingerprint`]. A module cache checks a
    /// digest and the fingerprint before it calls this.
    ///
    /// # Errors
    /// [`WasmError::Engine`] when the engine cannot deserialize, or rejects the bytes.
    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<Self::Module, WasmError> {
        let _ = bytes;
        Err(WasmError::Engine(format!(
            "{} cannot load serialized modules",
            self.name()
        )))
    }

    /// [`Engine::deserialize`] of `buffer[start..]`, handing the buffer over: an engine that
    /// keeps the serialized bytes (wasmer keeps its archive) takes them as they are instead
    /// of copying megabytes into fresh pages. By default, `deserialize` of the slice.
    ///
    /// # Safety
    /// As [`Engine::deserialize`], for `buffer[start..]`.
    ///
    /// # Errors
    /// As [`Engine::deserialize`]; [`WasmError::Engine`] when `start` is past the end.
    unsafe fn deserialize_owned(
        &self,
        buffer: Vec<u8>,
        start: usize,
    ) -> Result<Self::Module, WasmError> {
        let bytes = buffer
            .get(start..)
            .ok_or_else(|| WasmError::Engine("a serialized module past its buffer's end".into()))?;
        // SAFETY: the caller's guarantee for `buffer[start..]`.
        unsafe { self.deserialize(bytes) }
    }
}

/// A compiled module: `Send + Sync`, cheap to clone, shared across threads.
pub trait Module: Clone + Send + Sync + 'static {
    /// The instance type, for host state `T`.
    type Instance<T: Send + 'static>: Instance<T>;

    /// The module linked with host functions for state `T`, ready to instantiate.
    type Prelinked<T: Send + 'static>: Prelinked<T, Instance = Self::Instance<T>>;

    /// The module's function exports with their signatures, in export order.
    fn exports(&self) -> Vec<ExportInfo>;

    /// Links the module with `host` once, for many instantiations: the imports are
    /// resolved and checked here, not per instance.
    ///
    /// # Errors
    /// [`WasmError::MissingImport`] for an import `host` does not provide, [`WasmError::Link`]
    /// for one of the wrong type, [`WasmError::MemoryLimit`] or [`WasmError::TableLimit`]
    /// for a memory or table that starts over the [`Config`]'s limit.
    fn prelink<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
    ) -> Result<Self::Prelinked<T>, WasmError>;

    /// Instantiates the module in a fresh store holding `state`, linking `host` as imports,
    /// and runs its start function. To instantiate many times, [`Module::prelink`] once.
    ///
    /// # Errors
    /// As [`Module::prelink`] and [`Prelinked::instantiate`].
    fn instantiate<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
        state: T,
    ) -> Result<Self::Instance<T>, WasmError> {
        self.prelink(host)?.instantiate(state)
    }
}

/// A module linked with its host functions ([`Module::prelink`]): each instantiation only
/// makes a store and runs the start function. `Send + Sync`, cheap to clone.
pub trait Prelinked<T: Send + 'static>: Clone + Send + Sync + 'static {
    /// The instance type.
    type Instance: Instance<T>;

    /// A fresh instance holding `state`, its start function run.
    ///
    /// # Errors
    /// [`WasmError::Trap`] (or [`WasmError::OutOfFuel`], …) when the start function fails.
    fn instantiate(&self, state: T) -> Result<Self::Instance, WasmError>;
}

/// What the calling convention needs from a live guest: implemented by instances, and by the
/// context a host function gets while the guest is calling it.
///
/// Methods take exact guest addresses; each one checks bounds and fails with a typed
/// error, never a panic.
pub trait Guest {
    /// Calls export `name` with raw values.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], [`WasmError::ExportSignature`] when `args` do not match
    /// its parameters, or whatever the call itself fails with.
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError>;

    /// Calls an export of the ABI's shape `(i32 ptr, i32 len) -> i64 packed`.
    ///
    /// # Errors
    /// As [`Guest::call_raw`].
    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError>;

    /// Asks the guest's allocator for `len` bytes. The pointer is not checked here.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`] when the guest exports no allocator.
    fn alloc(&mut self, len: u32) -> Result<u32, WasmError>;

    /// Hands `ptr..ptr+len` back to the guest's deallocator.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`] when the guest exports no deallocator.
    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError>;

    /// Lends `ptr..ptr+len` of guest memory, without copying, for as long as the guest is
    /// borrowed (no guest code can run, and so memory cannot grow, meanwhile).
    ///
    /// # Errors
    /// [`WasmError::BadGuestPointer`] when the range is outside memory,
    /// [`WasmError::MissingExport`] when there is no exported memory.
    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError>;

    /// Lends `ptr..ptr+len` of guest memory to write in place, as [`Guest::memory_slice`].
    ///
    /// # Errors
    /// As [`Guest::memory_slice`].
    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError>;

    /// Copies `ptr..ptr+len` out of guest memory.
    ///
    /// # Errors
    /// As [`Guest::memory_slice`].
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, WasmError> {
        self.memory_slice(ptr, len).map(<[u8]>::to_vec)
    }

    /// Copies `bytes` into guest memory at `ptr`.
    ///
    /// # Errors
    /// As [`Guest::memory_slice`]; a `bytes` longer than `u32::MAX` is never inside memory.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), WasmError> {
        let Ok(len) = u32::try_from(bytes.len()) else {
            return Err(WasmError::BadGuestPointer {
                ptr: ptr as u64,
                len: bytes.len() as u64,
                memory_size: self.memory_size()?,
            });
        };
        self.memory_slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// The size of the exported memory, in bytes.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`] when there is no exported memory.
    fn memory_size(&mut self) -> Result<u64, WasmError>;

    /// The value of the exported global `name`, floats as exact bits.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`] when there is no global export of that name;
    /// [`WasmError::ExportSignature`] when the global holds a reference [`Value`] does not
    /// carry.
    fn global(&mut self, name: &str) -> Result<Value, WasmError>;

    /// The configuration of the engine this guest runs on.
    fn config(&self) -> &Config;

    /// The fuel left, or `None` when metering is off ([`crate::Metering::Off`]). It reads 0
    /// once the guest ran out.
    fn fuel_remaining(&mut self) -> Option<u64>;

    /// The fuel used since the budget was last set (at instantiation, from
    /// [`Config::initial_fuel`], or by [`Guest::set_fuel`]), host charges included; `None`
    /// when metering is off.
    fn fuel_consumed(&mut self) -> Option<u64>;

    /// Sets the fuel budget for what runs next. Set it before each call to bound that call;
    /// fuel consumed counts from here.
    ///
    /// # Errors
    /// [`WasmError::Engine`] when metering is off; [`WasmError::OutOfFuel`] when the
    /// instance is spent (a call on it ran out of fuel, which can stop the guest anywhere,
    /// even inside its allocator, so it is not run again: instantiate a fresh one).
    fn set_fuel(&mut self, budget: u64) -> Result<(), WasmError>;

    /// Takes `units` from the fuel left, for work done on the guest's behalf (a host
    /// function charging for its own work, payload bytes crossing the boundary). Free when
    /// metering is off.
    ///
    /// # Errors
    /// [`WasmError::OutOfFuel`] when the units do not fit: the fuel left drops to 0 and the
    /// instance is spent.
    fn charge(&mut self, units: u64) -> Result<(), WasmError>;
}

/// A live instance in its own store, holding host state `T`. `Send`: it can move to a
/// worker thread; it is not shared.
///
/// Calls here look the export up by name. For calls made many times, every backend's
/// instance (and `wasmhost::AnyInstance`) also has `typed::<P, R>(name)` and
/// `serialized::<I, O>(name)`: handles looked up and type-checked once, then called
/// through the engine's own typed call. They are inherent methods, not trait methods,
/// because each engine bounds its typed calls by traits of its own.
pub trait Instance<T>: Guest + Send {
    /// The host state.
    fn state(&self) -> &T;

    /// The host state, mutably.
    fn state_mut(&mut self) -> &mut T;

    /// A handle that stops this instance's guest from any thread
    /// ([`InterruptHandle::cancel`]); `None` unless the engine's
    /// [`crate::Config::interruptible`] is on.
    fn interrupt_handle(&self) -> Option<InterruptHandle>;

    /// Gives every later call on this instance its own deadline, `timeout` after the call
    /// starts, in place of [`crate::Config::call_timeout`]; `None` for none.
    ///
    /// # Errors
    /// [`WasmError::Engine`] unless the engine's [`crate::Config::interruptible`] is on.
    fn set_call_timeout(&mut self, timeout: Option<Duration>) -> Result<(), WasmError>;

    /// Returns the instance to its state right after instantiation: memory contents and
    /// size, globals, fuel (the configured initial fuel) and the limits' and interruption's
    /// state; a spent instance (out of fuel, exited, interrupted) runs again. The host state
    /// `T` is the host's to reset. Much cheaper than a new instance: memory pages go back
    /// to the kernel (zero on next touch) but for those a pristine instance had written.
    ///
    /// # Errors
    /// [`WasmError::Engine`], the instance unchanged, unless the engine's
    /// [`crate::Config::resettable`] is on and the module qualifies, or when the memory
    /// grew (wasm memory cannot shrink): instantiate anew then.
    fn reset(&mut self) -> Result<(), WasmError>;

    /// Calls a serialized export: `input` goes in as MessagePack, the guest's
    /// `Result<O, WasmError>` comes back. See [`abi`] for the convention.
    ///
    /// # Errors
    /// The guest's own error, or any failure of the call (trap, bad pointer, payload too
    /// large, output that does not deserialize into `O`, …).
    fn call<I, O>(&mut self, export: &str, input: &I) -> Result<O, WasmError>
    where
        Self: Sized,
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        abi::call(self, export, input)
    }

    /// Calls a serialized export with bytes already encoded; returns the encoded
    /// `Result` the guest wrote, without decoding it.
    ///
    /// # Errors
    /// As [`Instance::call`], less decoding.
    fn call_bytes(&mut self, export: &str, input: &[u8]) -> Result<Vec<u8>, WasmError>
    where
        Self: Sized,
    {
        abi::call_bytes(self, export, input)
    }
}

/// A function signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FuncSig {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncSig {
    /// A signature from parameter and result types.
    pub fn new(params: &[ValType], results: &[ValType]) -> Self {
        FuncSig {
            params: params.to_vec(),
            results: results.to_vec(),
        }
    }

    /// The signature of a serialized export or host import: `(i32, i32) -> i64`.
    pub fn packed() -> Self {
        FuncSig::new(&[ValType::I32, ValType::I32], &[ValType::I64])
    }
}

impl fmt::Display for FuncSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

/// A function export of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportInfo {
    /// Export name.
    pub name: String,
    /// Its signature; `None` when it uses types outside [`ValType`] (vectors).
    pub sig: Option<FuncSig>,
}
