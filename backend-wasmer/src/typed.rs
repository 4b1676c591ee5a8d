//! The Rust types wasmer's typed calls take and give, and the spread of a tuple into its
//! per-arity call.

use wasmer::{AsStoreMut, FromToNativeWasmType, RuntimeError, TypedFunction, WasmTypeList};
use wasmhost_api::{WasmType, WasmTypes};

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
    ($($t:ident $v:ident),*) => {
        impl<$($t: WasmType + FromToNativeWasmType),*> WasmerParams for ($($t,)*) {
            fn call_with<R: WasmTypeList>(
                f: &TypedFunction<($($t,)*), R>,
                store: &mut impl AsStoreMut,
                ($($v,)*): ($($t,)*),
            ) -> Result<R, RuntimeError> {
                f.call(store, $($v),*)
            }
        }
    };
}

tuple_params!();
tuple_params!(A a, B b);
tuple_params!(A a, B b, C c);
tuple_params!(A a, B b, C c, D d);
tuple_params!(A a, B b, C c, D d, E e);
tuple_params!(A a, B b, C c, D d, E e, F f);
tuple_params!(A a, B b, C c, D d, E e, F f, G g);
tuple_params!(A a, B b, C c, D d, E e, F f, G g, H h);
