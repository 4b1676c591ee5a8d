//! Typed handles: an export looked up and type-checked once, then called through the
//! engine's own typed call.

use serde::{Serialize, de::DeserializeOwned};
use wasmhost_api::typed::check_owner;
use wasmhost_api::{PackedFunc, SerializedFunc, WasmError, WasmTypes};

use crate::{AbiCalls, Backend, Instance, TypedCall};

/// A serialized export of one [`Instance`], taking `I` and giving `O`: see
/// [`Instance::serialized`].
pub type Serialized<B, I, O> = SerializedFunc<Typed<B, (i32, i32), i64>, I, O>;

/// An export of one [`Instance`], looked up and type-checked once: see [`Instance::typed`].
pub struct Typed<B: Backend, P, R> {
    func: B::Typed<P, R>,
    owner: u64,
}

impl<B: Backend, P, R> Clone for Typed<B, P, R>
where
    B::Typed<P, R>: Clone,
{
    fn clone(&self) -> Self {
        Typed {
            func: self.func.clone(),
            owner: self.owner,
        }
    }
}

impl<B: AbiCalls + TypedCall<P, R>, P, R> Typed<B, P, R> {
    /// Calls the export on `instance`, which must be the one that made the handle.
    ///
    /// # Errors
    /// Whatever the call fails with, as [`wasmhost_api::Guest::call_raw`];
    /// [`WasmError::Engine`] for another instance.
    #[inline]
    pub fn call<T: Send + 'static>(
        &self,
        instance: &mut Instance<B, T>,
        args: P,
    ) -> Result<R, WasmError> {
        check_owner(self.owner, instance.id)?;
        if !instance.guarded {
            let result = Instance::<B, T>::direct(&mut instance.store, &self.func, args);
            return instance.settle(result);
        }
        instance.access().entry(|a| a.call_typed(&self.func, args))
    }
}

impl<B: AbiCalls, T: Send + 'static> Instance<B, T> {
    /// A typed handle to export `name`: `instance.typed::<(i32, i32), i64>("f")?`, then
    /// `handle.call(&mut instance, (1, 2))?` with no lookup and no `Vec`.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: WasmTypes, R: WasmTypes>(
        &mut self,
        name: &str,
    ) -> Result<Typed<B, P, R>, WasmError>
    where
        B: TypedCall<P, R>,
    {
        let func = self.access().typed::<P, R>(name)?;
        Ok(Typed {
            func,
            owner: self.id,
        })
    }

    /// A typed handle to serialized export `name`, taking `I` and giving `O`.
    ///
    /// # Errors
    /// As [`Instance::typed`] for the ABI's `(i32, i32) -> i64`.
    pub fn serialized<I: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Serialized<B, I, O>, WasmError> {
        self.typed(name).map(SerializedFunc::new)
    }
}

impl<B: AbiCalls, T: Send + 'static> PackedFunc<Instance<B, T>> for Typed<B, (i32, i32), i64> {
    fn check_owner(&self, guest: &Instance<B, T>) -> Result<(), WasmError> {
        check_owner(self.owner, guest.id)
    }

    fn call_packed(
        &self,
        guest: &mut Instance<B, T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }
}
