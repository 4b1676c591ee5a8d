//! Typed handles on wasmer: an export looked up and type-checked once, then called through
//! wasmer's own typed call.

use serde::{Serialize, de::DeserializeOwned};
use wasmer::{AsStoreMut, FromToNativeWasmType, RuntimeError, TypedFunction, WasmTypeList};
use wasmhost_api::typed::{check_owner, typed_sig};
use wasmhost_api::{PackedFunc, SerializedFunc, WasmError, WasmType, WasmTypes};

use crate::WasmerInstance;

/// Parameters a typed handle takes on wasmer: `()`, one of `i32`, `i64`, `f32`, `f64`, or a
/// tuple of two to eight of them (one parameter is the bare type, not a 1-tuple).
pub trait WasmerParams: WasmTypes + WasmTypeList {
    /// Calls `f` with `args` spread into wasmer's per-arity call.
    #[doc(hidden)]
    fn call_with<R: WasmTypeList>(
        f: &TypedFunction<Self, R>,
        store: &mut impl AsStoreMut,
        args: Self,
    ) -> Result<R, RuntimeError>;
}

/// Results a typed handle gives on wasmer: as [`WasmerParams`].
pub trait WasmerResults: WasmTypes + WasmTypeList {}

impl<R: WasmTypes + WasmTypeList> WasmerResults for R {}

impl WasmerParams for () {
    fn call_with<R: WasmTypeList>(
        f: &TypedFunction<(), R>,
        store: &mut impl AsStoreMut,
        (): (),
    ) -> Result<R, RuntimeError> {
        f.call(store)
    }
}

macro_rules! scalar_params {
    ($($t:ty)+) => {$(
        impl WasmerParams for $t {
            fn call_with<R: WasmTypeList>(
                f: &TypedFunction<$t, R>,
                store: &mut impl AsStoreMut,
                arg: $t,
            ) -> Result<R, RuntimeError> {
                f.call(store, arg)
            }
        }
    )+};
}

scalar_params!(i32 i64 f32 f64);

macro_rules! tuple_params {
    ($($t:ident $v:ident),+) => {
        impl<$($t: WasmType + FromToNativeWasmType),+> WasmerParams for ($($t,)+) {
            fn call_with<R: WasmTypeList>(
                f: &TypedFunction<($($t,)+), R>,
                store: &mut impl AsStoreMut,
                ($($v,)+): ($($t,)+),
            ) -> Result<R, RuntimeError> {
                f.call(store, $($v),+)
            }
        }
    };
}

tuple_params!(A a, B b);
tuple_params!(A a, B b, C c);
tuple_params!(A a, B b, C c, D d);
tuple_params!(A a, B b, C c, D d, E e);
tuple_params!(A a, B b, C c, D d, E e, F f);
tuple_params!(A a, B b, C c, D d, E e, F f, G g);
tuple_params!(A a, B b, C c, D d, E e, F f, G g, H h);

/// A serialized export of one [`WasmerInstance`], taking `I` and giving `O`: see
/// [`WasmerInstance::serialized`].
pub type WasmerSerialized<I, O> = SerializedFunc<WasmerTyped<(i32, i32), i64>, I, O>;

/// An export of one [`WasmerInstance`], looked up and type-checked once: see
/// [`WasmerInstance::typed`].
pub struct WasmerTyped<P, R> {
    func: TypedFunction<P, R>,
    owner: u64,
}

impl<P: Clone, R: Clone> Clone for WasmerTyped<P, R> {
    fn clone(&self) -> Self {
        WasmerTyped {
            func: self.func.clone(),
            owner: self.owner,
        }
    }
}

impl<P: WasmerParams, R: WasmerResults> WasmerTyped<P, R> {
    /// Calls the export on `instance`, which must be the one that made the handle.
    ///
    /// # Errors
    /// Whatever the call fails with, as [`wasmhost_api::Guest::call_raw`]; [`WasmError::Engine`] for
    /// another instance.
    pub fn call<T: Send + 'static>(
        &self,
        instance: &mut WasmerInstance<T>,
        args: P,
    ) -> Result<R, WasmError> {
        check_owner(self.owner, instance.id)?;
        if !instance.guarded {
            // Nothing to account for: the engine's typed call, and our error on failure.
            return P::call_with(&self.func, &mut instance.store, args)
                .map_err(|e| instance.access().fail(e));
        }
        instance
            .access()
            .entry(|a| a.call_typed(|store| P::call_with(&self.func, store, args)))
    }
}

impl<T: Send + 'static> WasmerInstance<T> {
    /// A typed handle to export `name`: `instance.typed::<(i32, i32), i64>("f")?`, then
    /// `handle.call(&mut instance, (1, 2))?` with no lookup and no `Vec`.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: WasmerParams, R: WasmerResults>(
        &mut self,
        name: &str,
    ) -> Result<WasmerTyped<P, R>, WasmError> {
        let func = self.access().typed::<P, R>(name, &typed_sig::<P, R>())?;
        Ok(WasmerTyped {
            func,
            owner: self.id,
        })
    }

    /// A typed handle to serialized export `name`, taking `I` and giving `O`.
    ///
    /// # Errors
    /// As [`WasmerInstance::typed`] for the ABI's `(i32, i32) -> i64`.
    pub fn serialized<I: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<WasmerSerialized<I, O>, WasmError> {
        self.typed(name).map(SerializedFunc::new)
    }
}

impl<T: Send + 'static> PackedFunc<WasmerInstance<T>> for WasmerTyped<(i32, i32), i64> {
    fn check_owner(&self, guest: &WasmerInstance<T>) -> Result<(), WasmError> {
        check_owner(self.owner, guest.id)
    }

    fn call_packed(
        &self,
        guest: &mut WasmerInstance<T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }
}
