//! Typed handles on wasmi: an export looked up and type-checked once, then called through
//! wasmi's own typed call.

use serde::{Serialize, de::DeserializeOwned};
use wasmhost_api::typed::{check_owner, typed_sig};
use wasmhost_api::{PackedFunc, SerializedFunc, WasmError, WasmTypes};
use wasmi::TypedFunc;

use crate::WasmiInstance;

/// Parameters a typed handle takes on wasmi: `()`, one of `i32`, `i64`, `f32`, `f64`, or a
/// tuple of them.
pub trait WasmiParams: WasmTypes + wasmi::WasmParams {}

impl<P: WasmTypes + wasmi::WasmParams> WasmiParams for P {}

/// Results a typed handle gives on wasmi: as [`WasmiParams`].
pub trait WasmiResults: WasmTypes + wasmi::WasmResults {}

impl<R: WasmTypes + wasmi::WasmResults> WasmiResults for R {}

/// A serialized export of one [`WasmiInstance`], taking `I` and giving `O`: see
/// [`WasmiInstance::serialized`].
pub type WasmiSerialized<I, O> = SerializedFunc<WasmiTyped<(i32, i32), i64>, I, O>;

/// An export of one [`WasmiInstance`], looked up and type-checked once: see
/// [`WasmiInstance::typed`].
pub struct WasmiTyped<P, R> {
    func: TypedFunc<P, R>,
    owner: u64,
}

impl<P, R> Clone for WasmiTyped<P, R> {
    fn clone(&self) -> Self {
        WasmiTyped {
            func: self.func,
            owner: self.owner,
        }
    }
}

impl<P: WasmiParams, R: WasmiResults> WasmiTyped<P, R> {
    /// Calls the export on `instance`, which must be the one that made the handle.
    ///
    /// # Errors
    /// Whatever the call fails with, as [`wasmhost_api::Guest::call_raw`];
    /// [`WasmError::Engine`] for another instance.
    pub fn call<T: Send + 'static>(
        &self,
        instance: &mut WasmiInstance<T>,
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

impl<T: Send + 'static> WasmiInstance<T> {
    /// A typed handle to export `name`: `instance.typed::<(i32, i32), i64>("f")?`, then
    /// `handle.call(&mut instance, (1, 2))?` with no lookup and no `Vec`.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: WasmiParams, R: WasmiResults>(
        &mut self,
        name: &str,
    ) -> Result<WasmiTyped<P, R>, WasmError> {
        let func = self.access().typed::<P, R>(name, &typed_sig::<P, R>())?;
        Ok(WasmiTyped {
            func,
            owner: self.id,
        })
    }

    /// A typed handle to serialized export `name`, taking `I` and giving `O`.
    ///
    /// # Errors
    /// As [`WasmiInstance::typed`] for the ABI's `(i32, i32) -> i64`.
    pub fn serialized<I: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<WasmiSerialized<I, O>, WasmError> {
        self.typed(name).map(SerializedFunc::new)
    }
}

impl<T: Send + 'static> PackedFunc<WasmiInstance<T>> for WasmiTyped<(i32, i32), i64> {
    fn check_owner(&self, guest: &WasmiInstance<T>) -> Result<(), WasmError> {
        check_owner(self.owner, guest.id)
    }

    fn call_packed(
        &self,
        guest: &mut WasmiInstance<T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }
}
