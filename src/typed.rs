//! Typed handles through [`AnyInstance`]: the engines' own typed calls, behind one type.

use crate::{AnyInstance, PackedFunc, SerializedFunc, WasmError, WasmTypes};
use serde::{Serialize, de::DeserializeOwned};
use wasmhost_api::abi::Borrowable;
use wasmhost_api::typed::foreign_handle;

with_engines!(typed_enum! {});

/// A serialized export of one [`AnyInstance`], taking `I` and giving `O`: see
/// [`AnyInstance::serialized`].
pub type AnySerialized<I, O> = SerializedFunc<AnyTyped<(i32, i32), i64>, I, O>;

impl<P: Clone, R: Clone> Clone for AnyTyped<P, R> {
    fn clone(&self) -> Self {
        dispatch!(AnyTyped, self, f => f.clone().into())
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
        dispatch_pair!(AnyTyped(self), AnyInstance(instance), |f, i| f.call(i, args), _ => {
            Err(foreign_handle())
        })
    }
}

impl<T: Send + 'static> PackedFunc<AnyInstance<T>> for AnyTyped<(i32, i32), i64> {
    fn check_owner(&self, guest: &AnyInstance<T>) -> Result<(), WasmError> {
        dispatch_pair!(AnyTyped(self), AnyInstance(guest), |f, i| f.check_owner(i), _ => {
            Err(foreign_handle())
        })
    }

    fn call_packed(
        &self,
        guest: &mut AnyInstance<T>,
        ptr: u32,
        len: u32,
    ) -> Result<u64, WasmError> {
        self.call(guest, (ptr as i32, len as i32)).map(|p| p as u64)
    }

    #[inline]
    fn call_serialized<I, O>(&self, guest: &mut AnyInstance<T>, input: &I) -> Result<O, WasmError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        dispatch_pair!(AnyTyped(self), AnyInstance(guest), |f, i| f.call_serialized(i, input), _ => {
            Err(foreign_handle())
        })
    }

    #[inline]
    fn call_serialized_borrowed<I, O, R>(
        &self,
        guest: &mut AnyInstance<T>,
        input: &I,
        read: impl for<'a> FnOnce(O::Borrowed<'a>) -> R,
    ) -> Result<R, WasmError>
    where
        I: Serialize + ?Sized,
        O: Borrowable,
    {
        dispatch_pair!(AnyTyped(self), AnyInstance(guest), |f, i| {
            f.call_serialized_borrowed::<I, O, R>(i, input, read)
        }, _ => Err(foreign_handle()))
    }
}
