//! The generic half's primitives on wasmtime ([`wasmhost_backend::Backend`]), and its typed
//! calls.

use wasmhost_api::{FuncSig, Value, WasmError, WasmTypes};
use wasmhost_backend::{Backend, CallError, StoreData, TypedCall};
use wasmtime::{AsContext, AsContextMut, RootScope, StoreContextMut, TypedFunc, Val};

use crate::convert::{func_sig, map_error, params_match, to_val, to_value};

/// wasmtime, as the generic half of the backend sees it.
pub struct Wasmtime;

impl Backend for Wasmtime {
    type Exports = wasmtime::Instance;
    type Func = wasmtime::Func;
    type FuncType = wasmtime::FuncType;
    type Memory = wasmtime::Memory;
    type Global = wasmtime::Global;
    type Typed<P, R> = TypedFunc<P, R>;
    type Error = wasmtime::Error;
    type Native = ();
    type Store<T: Send + 'static> = wasmtime::Store<StoreData<Wasmtime, T>>;
    type Cx<'a, T: 'static> = StoreContextMut<'a, StoreData<Wasmtime, T>>;

    fn cx<T: Send + 'static>(store: &mut Self::Store<T>) -> Self::Cx<'_, T> {
        store.as_context_mut()
    }

    fn reborrow<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> Self::Cx<'c, T> {
        cx.as_context_mut()
    }

    fn store_data<T: Send + 'static>(store: &Self::Store<T>) -> &StoreData<Self, T> {
        store.data()
    }

    fn store_data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut StoreData<Self, T> {
        store.data_mut()
    }

    fn data<'c, T: Send + 'static>(cx: &'c Self::Cx<'_, T>) -> &'c StoreData<Self, T> {
        cx.data()
    }

    fn data_mut<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> &'c mut StoreData<Self, T> {
        cx.data_mut()
    }

    fn func<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Func> {
        let instance = *cx.data().exports()?;
        instance.get_func(&mut *cx, name)
    }

    fn memory<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Memory> {
        let instance = *cx.data().exports()?;
        instance.get_memory(&mut *cx, name)
    }

    fn global<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Global> {
        let instance = *cx.data().exports()?;
        instance.get_global(&mut *cx, name)
    }

    fn func_type<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, func: &Self::Func) -> Self::FuncType {
        func.ty(&*cx)
    }

    fn params_match(ty: &Self::FuncType, args: &[Value]) -> bool {
        params_match(ty, args)
    }

    fn func_sig(ty: &Self::FuncType) -> Option<FuncSig> {
        func_sig(ty)
    }

    fn call<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
        ty: &Self::FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, CallError<Self::Error>> {
        // Host references made for this call are rooted in a scope of its own, and released
        // when it ends: without it they would live as long as the store.
        let mut scope = RootScope::new(&mut *cx);
        let args = args
            .iter()
            .map(|a| to_val(&mut scope, *a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CallError::Other)?;
        let mut results = vec![Val::I32(0); ty.results().len()];
        func.call(&mut scope, &args, &mut results)
            .map_err(CallError::Trap)?;
        results
            .iter()
            .map(|r| to_value(&scope, r))
            .collect::<Result<_, _>>()
            .map_err(|e| CallError::Other(map_error(e)))
    }

    fn get_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
    ) -> Result<Value, String> {
        // A reference read here is rooted only while it converts.
        let mut scope = RootScope::new(&mut *cx);
        let value = global.get(&mut scope);
        to_value(&scope, &value).map_err(|_| format!("{:?}", value.ty(&scope)))
    }

    fn set_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
        value: Value,
    ) {
        if let Ok(value) = to_val(&mut *cx, value) {
            // The passes' globals: mutable and of this type, so this cannot fail.
            let _ = global.set(&mut *cx, value);
        }
    }

    fn memory_data<'a, T: Send + 'static>(
        cx: Self::Cx<'a, T>,
        memory: &Self::Memory,
    ) -> &'a mut [u8] {
        memory.data_mut(cx)
    }

    fn native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>) -> i64 {
        cx.as_context()
            .get_fuel()
            .map_or(0, |f| f.min(i64::MAX as u64) as i64)
    }

    fn set_native_fuel<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, fuel: i64) {
        // wasmtime's fuel cannot go negative: exhaustion is recorded in the ledger.
        let _ = cx.set_fuel(fuel.max(0) as u64);
    }

    fn map_error<T: Send + 'static>(_: &mut Self::Cx<'_, T>, error: Self::Error) -> WasmError {
        map_error(error)
    }
}

/// Parameters a typed handle takes on wasmtime: `()`, one of `i32`, `i64`, `f32`, `f64`, or a
/// tuple of them.
pub trait WasmtimeParams: WasmTypes + wasmtime::WasmParams {}

impl<P: WasmTypes + wasmtime::WasmParams> WasmtimeParams for P {}

/// Results a typed handle gives on wasmtime: as [`WasmtimeParams`].
pub trait WasmtimeResults: WasmTypes + wasmtime::WasmResults {}

impl<R: WasmTypes + wasmtime::WasmResults> WasmtimeResults for R {}

impl<P: WasmtimeParams, R: WasmtimeResults> TypedCall<P, R> for Wasmtime {
    fn typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &Self::Func,
    ) -> Option<TypedFunc<P, R>> {
        func.typed::<P, R>(&*cx).ok()
    }

    fn call_typed<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        func: &TypedFunc<P, R>,
        args: P,
    ) -> Result<R, wasmtime::Error> {
        func.call(&mut *cx, args)
    }
}
