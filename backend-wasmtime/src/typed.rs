//! Typed handles on wasmtime: an export looked up and type-checked once, then called through
//! wasmtime's own typed call.

use serde::{Serialize, de::DeserializeOwned};
use wasmhost_api::typed::{check_owner, typed_sig};
use wasmhost_api::{PackedFunc, SerializedFunc, WasmError, WasmTypes};
use wasmtime::TypedFunc;

use crate::WasmtimeInstance;

/// Parameters a typed handle takes on wasmtime: `()`, one of `i32`, `i64`, `f32`, `f64`, or a
/// tuple of them.
pub trait WasmtimeParams: WasmTypes + wasmtime::WasmParams {}

impl<P: WasmTypes + wasmtime::WasmParams> WasmtimeParams for P {}

/// Results a typed handle gives on wasmtime: as [`WasmtimeParams`].
pub trait WasmtimeResults: WasmTypes + wasmtime::WasmResults {}

impl<R: WasmTypes + wasmtime::WasmResults> WasmtimeResults for R {}

/// A serialized export of one [`WasmtimeInstance`], taking `I` and giving `O`: see
/// [`WasmtimeInstance::serialized`].
pub type WasmtimeSerialized<I, O> = SerializedFunc<WasmtimeTyped<(i32, i32), i64>, I, O>;

/// An export of one [`WasmtimeInstance`], looked up and type-checked once: see
/// [`WasmtimeInstance::typed`].
pub struct WasmtimeTyped<P, R> {
    func: TypedFunc<P, R>,
    owner: u64,
}

impl<P, R> Clone for WasmtimeTyped<P, R> {
    fn clone(&self) -> Self {
        WasmtimeTyped {
            func: self.func.clone(),
            owner: self.owner,
        }
    }
}

impl<P: WasmtimeParams, R: WasmtimeResults> WasmtimeTyped<P, R> {
    /// Calls the export on `instance`, which must be the one that made the handle.
    ///
    /// # Errors
    /// Whatever the call fails with, as [`wasmhost_api::Guest::call_raw`];
    /// [`WasmError::Engine`] for another instance.
    pub fn call<T: Send + 'static>(
        &self,
        instance: &mut WasmtimeInstance<T>,
        args: P,
    ) -> Result<R, WasmError> {
        check_owner(self.owner, instance.id)?;
        if !instance.guarded {
            // Nothing to account for: the engine's typed call, and our error on failure.
            return self
                .func
                .call(&mut instance.store, args)
                .map_err(|e| instance.access().fail(e));
        }
        instance.access().entry(|a| a.call_typed(&self.func, args))
    }
}

impl<T: Send + 'static> WasmtimeInstance<T> {
    /// A typed handle to export `name`: `instance.typed::<(i32, i32), i64>("f")?`, then
    /// `handle.call(&mut instance, (1, 2))?` with no lookup and no `Vec`.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: WasmtimeParams, R: WasmtimeResults>(
        &mut self,
        name: &str,
    ) -> Result<WasmtimeTyped<P, R>, WasmError> {
        let func = self.access().typed::<P, R>(name, &typed_sig::<P, R>())?;
        Ok(WasmtimeTyped {
            func,
            owner: self.id,
        })
    }

    /// A typed handle to serialized export `name`, taking `I` and giving `O`.
    ///
    /// # Errors
    /// As [`WasmtimeInstance::typed`] for the ABI's `(i32, i32) -> i64`.
    pub fn serialized<I: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<WasmtimeSerialized<I, O>, WasmError> {
        self.typed(name).map(SerializedFunc::new)
    }
}

impl<T: Send + 'static> PackedFunc<WasmtimeInstance<T>> for WasmtimeTyped<(i32, i32), i64> {
    fn check_owner(&self, guest: &WasmtimeInstance<T>) -> Result<(), WasmError> {
        check_owner(self.owner, guest.id)
    }

    fn call_packed(
        &self,
        guest: &mut WasmtimeInstance<T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }
}
