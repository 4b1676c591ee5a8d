//! The generic half's primitives on wasmi ([`wasmhost_backend::Backend`]), and its typed
//! calls.

use wasmhost_api::{FuncSig, Value};
use wasmhost_backend::{Backend, CallError};
use wasmi::{AsContext, AsContextMut, Val};

use crate::convert::{func_sig, map_error, params_match, to_val, to_value};

/// wasmi, as the generic half of the backend sees it.
pub struct Wasmi;

impl Backend for Wasmi {
    wasmhost_backend::wasmtime_shaped_primitives!(Wasmi, wasmi);

    fn func<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Func> {
        let instance = *cx.data().exports()?;
        instance.get_func(&*cx, name)
    }

    fn memory<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Memory> {
        let instance = *cx.data().exports()?;
        instance.get_memory(&*cx, name)
    }

    fn global<T: Send + 'static>(cx: &mut Self::Cx<'_, T>, name: &str) -> Option<Self::Global> {
        let instance = *cx.data().exports()?;
        instance.get_global(&*cx, name)
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
        ty: &Self::FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, CallError<Self::Error>> {
        let args = args
            .iter()
            .map(|a| to_val(&mut *cx, *a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CallError::Other)?;
        let mut results: Vec<_> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        func.call(&mut *cx, &args, &mut results)
            .map_err(CallError::Trap)?;
        results
            .iter()
            .map(|r| to_value(&*cx, r))
            .collect::<Result<_, _>>()
            .map_err(|e| CallError::Other(map_error(e)))
    }

    fn get_global<T: Send + 'static>(
        cx: &mut Self::Cx<'_, T>,
        global: &Self::Global,
    ) -> Result<Value, String> {
        let value = global.get(&*cx);
        to_value(&*cx, &value).map_err(|_| format!("{:?}", value.ty()))
    }
}

wasmhost_backend::wasmtime_shaped_typed_calls!(Wasmi, wasmi, WasmiParams, WasmiResults);
