//! The generic half's primitives on wasmer ([`wasmhost_backend::Backend`]), and its typed
//! calls.

use wasmer::{
    Exports, Function, FunctionEnv, FunctionEnvMut, FunctionType, Global, Memory, RuntimeError,
    TypedFunction,
};
use wasmhost_api::{FuncSig, Trap, Value, WasmError};
use wasmhost_backend::{Backend, CallError, StoreData, TypedCall};

use crate::convert::{func_sig, map_runtime_error, params_match, to_value, to_wasmer};
use crate::typed::{WasmerParams, WasmerResults};

/// The globals wasmer's metering middleware exports: the points left, and whether they ran
/// out (the middleware then traps with `unreachable`).
const NATIVE_REMAINING: &str = "wasmer_metering_remaining_points";
const NATIVE_EXHAUSTED: &str = "wasmer_metering_points_exhausted";

/// wasmer, as the generic half of the backend sees it.
pub struct Wasmer;

/// What a wasmer instance owns: the store, and the function environment beside it that
/// holds the [`StoreData`] (a wasmer store holds no data of the host's).
pub struct WasmerStore<T: 'static> {
    pub(crate) store: wasmer::Store,
    pub(crate) env: FunctionEnv<StoreData<Wasmer, T>>,
}

// SAFETY: wasmer 7.x made `Store` `!Send` by dropping `+ Send` from its `on_called`
// handler (wasmerio/wasmer#7001); 6.x stores were `Send`. We never install an `on_called`
// handler, the sys backend's store owns its VM objects exclusively with no thread affinity,
// the host functions we install are `Send + Sync`, and `T: Send`. Moving the instance to
// another thread moves all of it; nothing is shared, so `Sync` is not claimed.
unsafe impl<T: Send> Send for WasmerStore<T> {}

/// The native meter's globals, when the module was compiled with it: points left, and the
/// exhausted flag.
#[derive(Default)]
pub struct NativeMeter(Option<(Global, Global)>);

/// Whether the native meter ran out.
fn native_exhausted<T: Send + 'static>(cx: &mut FunctionEnvMut<'_, StoreData<Wasmer, T>>) -> bool {
    match cx.data().native.0.clone() {
        Some((_, exhausted)) => exhausted.get(cx) == wasmer::Value::I32(1),
        None => false,
    }
}

impl Backend for Wasmer {
    type Exports = Exports;
    type Func = Function;
    type FuncType = FunctionType;
    type Memory = Memory;
    type Global = Global;
    type Typed<P, R> = TypedFunction<P, R>;
    type Error = RuntimeError;
    type Native = NativeMeter;
    type Store<T: Send + 'static> = WasmerStore<T>;
    type Cx<'a, T: 'static> = FunctionEnvMut<'a, StoreData<Wasmer, T>>;

    fn cx<T: Send + 'static>(store: &mut Self::Store<T>) -> Self::Cx<'_, T> {
        store.env.clone().into_mut(&mut store.store)
    }

    fn reborrow<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> Self::Cx<'c, T> {
        cx.as_mut()
    }

    fn store_data<T: Send + 'static>(store: &Self::Store<T>) -> &StoreData<Self, T> {
        store.env.as_ref(&store.store)
    }

    fn store_data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut StoreData<Self, T> {
        store.env.as_mut(&mut store.store)
    }

    fn data<'c, T: Send + 'static>(cx: &'c Self::Cx<'_, T>) -> &'c StoreData<Self, T> {
        cx.data()
    }

    fn data_mut<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> &'c mut StoreData<Self, T> {
        cx.data_mut()
    }

    fn func<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Func> {
        cx.data().exports()?.get_function(name).ok().cloned()
    }

    fn memory<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Memory> {
        cx.data().exports()?.get_memory(name).ok().cloned()
    }

    fn global<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Global> {
        cx.data().exports()?.get_global(name).ok().cloned()
    }

    fn func_type<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, func: &Self::Func) -> Self::FuncType {
        func.ty(&*cx)
    }

    fn params_match(ty: &Self::FuncType, args: &[Value]) -> bool {
        params_match(ty.params(), args)
    }

    fn func_sig(ty: &Self::FuncType) -> Option<FuncSig> {
        func_sig(ty)
    }

    fn call<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
        _: &Self::FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, CallError<Self::Error>> {
        let args = args
            .iter()
            .map(|a| to_wasmer(cx, *a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CallError::Other)?;
        let results = func.call(cx, &args).map_err(CallError::Trap)?;
        results
            .iter()
            .map(|r| to_value(&*cx, r))
            .collect::<Result<_, _>>()
            .map_err(|e| CallError::Other(map_runtime_error(e)))
    }

    fn get_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
    ) -> Result<Value, String> {
        let value = global.get(cx);
        to_value(&*cx, &value).map_err(|_| format!("{:?}", value.ty()))
    }

    fn set_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
        value: Value,
    ) {
        if let Ok(value) = to_wasmer(cx, value) {
            // The passes' globals: mutable and of this type, so this cannot fail.
            let _ = global.set(cx, value);
        }
    }

    fn memory_data<'a, T: Send + 'static>(
        cx: Self::Cx<'a, T>,
        memory: &Self::Memory,
    ) -> &'a mut [u8] {
        let view = memory.view(&cx);
        let len = view.data_size() as usize;
        // SAFETY: the bytes live as long as the store's exclusive borrow `'a`, which `cx`
        // held and which ends with it: no guest code runs and memory cannot grow or move
        // meanwhile, and without the threads proposal nothing else touches it. A plain
        // slice, not `MemoryView::read`/`write`, because their volatile byte loop is 2-3x
        // slower than memcpy.
        unsafe {
            let start = view.data_unchecked_mut().as_mut_ptr();
            std::slice::from_raw_parts_mut(start, len)
        }
    }

    fn native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>) -> i64 {
        match cx.data().native.0.clone() {
            Some(_) if native_exhausted(cx) => -1,
            Some((remaining, _)) => match remaining.get(cx) {
                wasmer::Value::I64(points) => points,
                _ => 0,
            },
            None => 0,
        }
    }

    fn set_native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, fuel: i64) {
        if let Some((remaining, exhausted)) = cx.data().native.0.clone() {
            // The middleware's globals are mutable, of these types.
            let _ = remaining.set(cx, wasmer::Value::I64(fuel.max(0)));
            let _ = exhausted.set(cx, wasmer::Value::I32((fuel < 0) as i32));
        }
    }

    fn attach_native<T: Send + 'static>(cx: &mut Self::Cx<'_, T>) {
        let remaining = Self::global(cx, NATIVE_REMAINING);
        let exhausted = Self::global(cx, NATIVE_EXHAUSTED);
        cx.data_mut().native = NativeMeter(remaining.zip(exhausted));
    }

    fn map_error<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, error: Self::Error) -> WasmError {
        let error = map_runtime_error(error);
        // The native meter traps with `unreachable` when it runs out.
        if error == WasmError::Trap(Trap::Unreachable) && native_exhausted(cx) {
            return WasmError::OutOfFuel;
        }
        error
    }
}

impl<P: WasmerParams, R: WasmerResults> TypedCall<P, R> for Wasmer {
    fn typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
    ) -> Option<TypedFunction<P, R>> {
        func.typed::<P, R>(&*cx).ok()
    }

    fn call_typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &TypedFunction<P, R>,
        args: P,
    ) -> Result<R, RuntimeError> {
        P::call_with(func, cx, args)
    }
}
