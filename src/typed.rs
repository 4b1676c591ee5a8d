//! Typed handles through [`AnyInstance`]: the engines' own typed calls, behind one type.

use crate::{AnyInstance, PackedFunc, SerializedFunc, WasmError, WasmTypes};
use wasmhost_api::typed::foreign_handle;
#[cfg(feature = "wasmer")]
use wasmhost_wasmer::WasmerTyped;
#[cfg(feature = "wasmi")]
use wasmhost_wasmi::WasmiTyped;
#[cfg(feature = "wasmtime")]
use wasmhost_wasmtime::WasmtimeTyped;

/// Parameters a typed handle takes on every compiled-in engine: `()`, one of `i32`, `i64`,
/// `f32`, `f64`, or a tuple of two to eight of them.
pub trait Params:
    WasmTypes + engines::WasmerParams + engines::WasmiParams + engines::WasmtimeParams + Clone
{
}

impl<P: WasmTypes + engines::WasmerParams + engines::WasmiParams + engines::WasmtimeParams + Clone>
    Params for P
{
}

/// Results a typed handle gives on every compiled-in engine: as [`Params`].
pub trait Results:
    WasmTypes + engines::WasmerResults + engines::WasmiResults + engines::WasmtimeResults + Clone
{
}

impl<
    R: WasmTypes + engines::WasmerResults + engines::WasmiResults + engines::WasmtimeResults + Clone,
> Results for R
{
}

/// Each engine's bounds on typed calls, or none when the engine is not compiled in.
#[doc(hidden)]
pub mod engines {
    #[cfg(feature = "wasmer")]
    pub use wasmhost_wasmer::{WasmerParams, WasmerResults};
    #[cfg(feature = "wasmi")]
    pub use wasmhost_wasmi::{WasmiParams, WasmiResults};

    #[cfg(not(feature = "wasmer"))]
    mod none {
        pub trait WasmerParams {}
        impl<T> WasmerParams for T {}
        pub trait WasmerResults {}
        impl<T> WasmerResults for T {}
    }
    #[cfg(not(feature = "wasmer"))]
    pub use none::{WasmerParams, WasmerResults};

    #[cfg(not(feature = "wasmi"))]
    mod none_wasmi {
        pub trait WasmiParams {}
        impl<T> WasmiParams for T {}
        pub trait WasmiResults {}
        impl<T> WasmiResults for T {}
    }
    #[cfg(not(feature = "wasmi"))]
    pub use none_wasmi::{WasmiParams, WasmiResults};

    #[cfg(feature = "wasmtime")]
    pub use wasmhost_wasmtime::{WasmtimeParams, WasmtimeResults};
    #[cfg(not(feature = "wasmtime"))]
    mod none_wasmtime {
        pub trait WasmtimeParams {}
        impl<T> WasmtimeParams for T {}
        pub trait WasmtimeResults {}
        impl<T> WasmtimeResults for T {}
    }
    #[cfg(not(feature = "wasmtime"))]
    pub use none_wasmtime::{WasmtimeParams, WasmtimeResults};
}

/// A serialized export of one [`AnyInstance`], taking `I` and giving `O`: see
/// [`AnyInstance::serialized`].
pub type AnySerialized<I, O> = SerializedFunc<AnyTyped<(i32, i32), i64>, I, O>;

/// An export of one [`AnyInstance`], looked up and type-checked once: see
/// [`AnyInstance::typed`].
pub enum AnyTyped<P, R> {
    /// On wasmer.
    #[cfg(feature = "wasmer")]
    Wasmer(WasmerTyped<P, R>),
    /// On wasmi.
    #[cfg(feature = "wasmi")]
    Wasmi(WasmiTyped<P, R>),
    /// On wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(WasmtimeTyped<P, R>),
}

impl<P: Clone, R: Clone> Clone for AnyTyped<P, R> {
    fn clone(&self) -> Self {
        match self {
            #[cfg(feature = "wasmer")]
            AnyTyped::Wasmer(f) => AnyTyped::Wasmer(f.clone()),
            #[cfg(feature = "wasmi")]
            AnyTyped::Wasmi(f) => AnyTyped::Wasmi(f.clone()),
            #[cfg(feature = "wasmtime")]
            AnyTyped::Wasmtime(f) => AnyTyped::Wasmtime(f.clone()),
        }
    }
}

impl<P: Params, R: Results> AnyTyped<P, R> {
    /// Calls the export on `instance`, which must be the one that made the handle.
    ///
    /// # Errors
    /// Whatever the call fails with, as [`crate::Guest::call_raw`]; [`WasmError::Engine`]
    /// for another instance.
    #[inline]
    pub fn call<T: Send + 'static>(
        &self,
        instance: &mut AnyInstance<T>,
        args: P,
    ) -> Result<R, WasmError> {
        match (self, instance) {
            #[cfg(feature = "wasmer")]
            (AnyTyped::Wasmer(f), AnyInstance::Wasmer(i)) => f.call(i, args),
            #[cfg(feature = "wasmi")]
            (AnyTyped::Wasmi(f), AnyInstance::Wasmi(i)) => f.call(i, args),
            #[cfg(feature = "wasmtime")]
            (AnyTyped::Wasmtime(f), AnyInstance::Wasmtime(i)) => f.call(i, args),
            #[allow(unreachable_patterns)]
            _ => Err(foreign_handle()),
        }
    }
}

impl<T: Send + 'static> PackedFunc<AnyInstance<T>> for AnyTyped<(i32, i32), i64> {
    fn check_owner(&self, guest: &AnyInstance<T>) -> Result<(), WasmError> {
        match (self, guest) {
            #[cfg(feature = "wasmer")]
            (AnyTyped::Wasmer(f), AnyInstance::Wasmer(i)) => f.check_owner(i),
            #[cfg(feature = "wasmi")]
            (AnyTyped::Wasmi(f), AnyInstance::Wasmi(i)) => f.check_owner(i),
            #[cfg(feature = "wasmtime")]
            (AnyTyped::Wasmtime(f), AnyInstance::Wasmtime(i)) => f.check_owner(i),
            #[allow(unreachable_patterns)]
            _ => Err(foreign_handle()),
        }
    }

    fn call_packed(
        &self,
        guest: &mut AnyInstance<T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }
}
