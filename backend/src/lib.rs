//! # wasmhost-backend
//!
//! The half of every wasmhost backend that does not depend on the engine, written once:
//! the engine and its modules ([`Engine`], [`Module`], [`Prelinked`]: compiling through the
//! instrumentation, exports, pre-linking, instantiating, the serialized module's header),
//! what an instance keeps in its store ([`StoreData`]), the export and memory lookups and
//! their caches, the instrumentation passes' globals, trap classification, fuel and the
//! spent state, the ABI's calls (`call_packed`, `alloc`, `dealloc`), the [`Guest`] and
//! [`Caller`] a host function sees ([`Access`]), the instance ([`Instance`]) and its typed
//! and serialized handles ([`Typed`]), and the import plan; and, as macros, the primitives
//! of engines whose embedding API follows wasmtime's (`shaped`).
//!
//! A backend implements [`Backend`]: the engine's handle types, and a dozen primitives
//! (look a function up, call it, read a memory's bytes, read and write a global, native
//! fuel, map an engine error), plus [`TypedCall`] for the engine's typed calls; and
//! [`Compiler`]: configuration and features, validation and compilation, imports and
//! exports, linking and host-provided externs, making a store, the artifact's bytes.
//! Value conversion is the only other thing a backend crate holds.
//!
//! Generic code here is monomorphized per engine: a call through it is the engine's call,
//! with no `dyn`, box or allocation added.
//!
//! [`Guest`]: wasmhost_api::Guest
//! [`Caller`]: wasmhost_api::Caller

#![warn(missing_docs)]

mod access;
mod imports;
mod instance;
mod module;
mod reset;
mod shaped;
mod store;
mod typed;

pub use access::Access;
pub use imports::{first_of_each, provided_externs};
pub use instance::Instance;
pub use module::{Compiler, Engine, Import, Module, Prelinked};
pub use store::StoreData;
pub use typed::{Serialized, Typed};

use wasmhost_api::{FuncSig, Value, WasmError};

/// One engine, as the generic half sees it: its handle types and its primitives.
///
/// `Cx<'a, T>` is a store in use, the one a call runs on: an instance's own store, or the
/// store a host function is called with. Every primitive takes one.
pub trait Backend: Sized + 'static {
    /// What exports are looked up in (an engine instance, or wasmer's `Exports`).
    type Exports;
    /// A function.
    type Func: Send;
    /// A function's type, as a raw call checks its arguments against it.
    type FuncType: Send;
    /// A linear memory.
    type Memory: Clone + Send;
    /// A global.
    type Global: Clone;
    /// A function checked against Rust types once, for the engine's typed call.
    type Typed<P, R>: Send;
    /// A failed call into the guest, before it is classified.
    type Error;
    /// Whatever else the engine needs in every store (wasmer: its native meter's globals).
    type Native: Default;
    /// What an instance owns: the engine's store, holding a [`StoreData`].
    type Store<T: Send + 'static>: Send;
    /// A store in use, borrowed for `'a`.
    type Cx<'a, T: 'static>;

    /// The store `store` in use.
    fn cx<T: Send + 'static>(store: &mut Self::Store<T>) -> Self::Cx<'_, T>;
    /// `cx` borrowed again, for a shorter time.
    fn reborrow<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> Self::Cx<'c, T>;
    /// What `store` holds.
    fn store_data<T: Send + 'static>(store: &Self::Store<T>) -> &StoreData<Self, T>;
    /// What `store` holds, mutably.
    fn store_data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut StoreData<Self, T>;
    /// What the store in use holds.
    fn data<'c, T: Send + 'static>(cx: &'c Self::Cx<'_, T>) -> &'c StoreData<Self, T>;
    /// What the store in use holds, mutably.
    fn data_mut<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> &'c mut StoreData<Self, T>;

    /// The exported function `name`, if there is one.
    fn func<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Func>;
    /// The exported memory `name`, if there is one.
    fn memory<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Memory>;
    /// The exported global `name`, if there is one.
    fn global<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Global>;

    /// The type of `func`.
    fn func_type<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, func: &Self::Func) -> Self::FuncType;
    /// Whether `args` are of the parameter types of `ty`: checked on every raw call.
    fn params_match(ty: &Self::FuncType, args: &[Value]) -> bool;
    /// `ty` in the contract's terms; `None` for a type it cannot express.
    fn func_sig(ty: &Self::FuncType) -> Option<FuncSig>;
    /// Calls `func`, of type `ty`, with `args`, which match its parameters.
    ///
    /// # Errors
    /// [`CallError::Trap`] for a failed call, [`CallError::Other`] for a value that does
    /// not convert.
    fn call<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
        ty: &Self::FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, CallError<Self::Error>>;

    /// The value of `global`, or a description of its type when the contract has no value
    /// of that type.
    ///
    /// # Errors
    /// The global's type, for the message.
    fn get_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
    ) -> Result<Value, String>;
    /// Sets `global`, a mutable global of `value`'s type (the passes' own; cannot fail).
    fn set_global<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, global: &Self::Global, value: Value);

    /// The bytes of `memory`, for as long as the store is borrowed.
    fn memory_data<'a, T: Send + 'static>(
        cx: Self::Cx<'a, T>,
        memory: &Self::Memory,
    ) -> &'a mut [u8];

    /// The fuel the engine's own meter holds; negative once the guest ran out.
    fn native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>) -> i64;
    /// Stores the fuel left in the engine's own meter; negative marks it run out.
    fn set_native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, fuel: i64);

    /// Finds what the engine keeps in [`Backend::Native`] among a new instance's exports.
    fn attach_native<T: Send + 'static>(cx: &mut Self::Cx<'_, T>) {
        let _ = cx;
    }

    /// The contract's error for a failed call, before the passes' traps are told apart.
    fn map_error<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, error: Self::Error) -> WasmError;
}

/// How a raw call failed.
pub enum CallError<E> {
    /// The guest's call failed: classified as every failed call is.
    Trap(E),
    /// A value did not convert: reported as it is.
    Other(WasmError),
}

/// The engine's typed call for parameters `P` and results `R`.
pub trait TypedCall<P, R>: Backend {
    /// `func` checked against `P -> R`; `None` when its type differs.
    fn typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
    ) -> Option<Self::Typed<P, R>>;
    /// Calls `func` with `args`.
    ///
    /// # Errors
    /// The engine's error for a failed call.
    fn call_typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Typed<P, R>,
        args: P,
    ) -> Result<R, Self::Error>;
}

/// A backend with the typed calls the ABI makes: `alloc`, `dealloc` and a serialized
/// export.
pub trait AbiCalls:
    TypedCall<i32, i32> + TypedCall<(i32, i32), ()> + TypedCall<(i32, i32), i64>
{
}

impl<B: TypedCall<i32, i32> + TypedCall<(i32, i32), ()> + TypedCall<(i32, i32), i64>> AbiCalls
    for B
{
}

/// A new instance's identity, which its typed handles carry.
pub(crate) fn next_instance_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The public names of one backend's types: `aliases!(Wasmer, "wasmer", Env, WasmerEngine,
/// WasmerModule, WasmerPrelinked, WasmerInstance, WasmerTyped, WasmerSerialized)` names
/// the generic types over `Wasmer` as a backend crate exports them.
#[macro_export]
macro_rules! aliases {
    ($B:ident, $name:literal, $Data:ident, $Engine:ident, $Module:ident, $Prelinked:ident,
     $Instance:ident, $Typed:ident, $Serialized:ident) => {
        #[doc = concat!("What a wasmhost instance keeps in its ", $name, " store.")]
        pub type $Data<T> = $crate::StoreData<$B, T>;
        #[doc = concat!("The ", $name, " engine with a wasmhost `Config`.")]
        pub type $Engine = $crate::Engine<$B>;
        #[doc = concat!("A module compiled by [`", stringify!($Engine), "`].")]
        pub type $Module = $crate::Module<$B>;
        #[doc = concat!("A [`", stringify!($Module), "`] linked with its host functions.")]
        pub type $Prelinked<T> = $crate::Prelinked<$B, T>;
        #[doc = concat!("A live ", $name, " instance in its own store.")]
        pub type $Instance<T> = $crate::Instance<$B, T>;
        #[doc = concat!("An export of one [`", stringify!($Instance), "`], looked up and ")]
        #[doc = "type-checked once: see [`wasmhost_backend::Instance::typed`]."]
        pub type $Typed<P, R> = $crate::Typed<$B, P, R>;
        #[doc = concat!("A serialized export of one [`", stringify!($Instance), "`], taking ")]
        #[doc = "`I` and giving `O`: see [`wasmhost_backend::Instance::serialized`]."]
        pub type $Serialized<I, O> = $crate::Serialized<$B, I, O>;
    };
}
