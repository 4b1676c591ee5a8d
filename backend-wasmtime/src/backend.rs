//! The generic half's primitives on wasmtime ([`wasmhost_backend::Backend`]), and its typed
//! calls.

use wasmhost_api::{FuncSig, Value};
use wasmhost_backend::{Backend, CallError};
use wasmtime::{AsContext, AsContextMut, RootScope, Val};

use crate::convert::{func_sig, map_error, params_match, to_val, to_value};

/// wasmtime, as the generic half of the backend sees it.
pub struct Wasmtime;

impl Backend for Wasmtime {
    wasmhost_backend::wasmtime_shaped_primitives!(Wasmtime, wasmtime);

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
}

wasmhost_backend::wasmtime_shaped_typed_calls!(Wasmtime, wasmtime, WasmtimeParams, WasmtimeResults);
