//! What a backend writes for an engine whose embedding API follows wasmtime's: stores used
//! through `as_context_mut`, `data`/`data_mut`, `Global::set`, `Memory::data_mut`,
//! `get_fuel`/`set_fuel`, `Func::ty`, `TypedFunc::call` and `Linker::func_new`. wasmi's API
//! copies wasmtime's, so the two backends expand these macros rather than write the same
//! lines twice. An engine whose API drifts from that shape writes its own (as wasmer does).
//!
//! The expansions name the backend crate's own conversions, which must be in scope where
//! they are used: `to_val(cx, value)`, `to_value(cx, val)`, `map_error(error)` and, for
//! [`link_host_functions!`](crate::link_host_functions), `host_failure(error)`.

/// The associated types and the store primitives of [`Backend`](crate::Backend) for
/// `$backend` on engine crate `$engine`: inside `impl Backend for $backend`. The engine's
/// `AsContext` and `AsContextMut` must be in scope.
#[macro_export]
macro_rules! wasmtime_shaped_primitives {
    ($backend:ident, $engine:ident) => {
        type Exports = $engine::Instance;
        type Func = $engine::Func;
        type FuncType = $engine::FuncType;
        type Memory = $engine::Memory;
        type Global = $engine::Global;
        type Typed<P, R> = $engine::TypedFunc<P, R>;
        type Error = $engine::Error;
        type Native = ();
        type Store<T: Send + 'static> = $engine::Store<$crate::StoreData<$backend, T>>;
        type Cx<'a, T: 'static> = $engine::StoreContextMut<'a, $crate::StoreData<$backend, T>>;

        fn cx<T: Send + 'static>(store: &mut Self::Store<T>) -> Self::Cx<'_, T> {
            store.as_context_mut()
        }

        fn reborrow<'c, T: Send + 'static>(cx: &'c mut Self::Cx<'_, T>) -> Self::Cx<'c, T> {
            cx.as_context_mut()
        }

        fn store_data<T: Send + 'static>(store: &Self::Store<T>) -> &$crate::StoreData<Self, T> {
            store.data()
        }

        fn store_data_mut<T: Send + 'static>(
            store: &mut Self::Store<T>,
        ) -> &mut $crate::StoreData<Self, T> {
            store.data_mut()
        }

        fn data<'c, T: Send + 'static>(cx: &'c Self::Cx<'_, T>) -> &'c $crate::StoreData<Self, T> {
            cx.data()
        }

        fn data_mut<'c, T: Send + 'static>(
            cx: &'c mut Self::Cx<'_, T>,
        ) -> &'c mut $crate::StoreData<Self, T> {
            cx.data_mut()
        }

        fn func_type<T: Send + 'static>(
            cx: &mut Self::Cx<'_, T>,
            func: &Self::Func,
        ) -> Self::FuncType {
            func.ty(&*cx)
        }

        fn set_global<T: Send + 'static>(
            cx: &mut Self::Cx<'_, T>,
            global: &Self::Global,
            value: wasmhost_api::Value,
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
            // The engine's fuel cannot go negative: exhaustion is recorded in the ledger.
            let _ = cx.set_fuel(fuel.max(0) as u64);
        }

        fn map_error<T: Send + 'static>(
            _: &mut Self::Cx<'_, T>,
            error: Self::Error,
        ) -> wasmhost_api::WasmError {
            map_error(error)
        }
    };
}

/// The traits bounding typed handles' parameters (`$params`) and results (`$results`) on
/// engine crate `$engine`, and [`TypedCall`](crate::TypedCall) for `$backend` through the
/// engine's `TypedFunc`.
#[macro_export]
macro_rules! wasmtime_shaped_typed_calls {
    ($backend:ident, $engine:ident, $params:ident, $results:ident) => {
        /// Parameters a typed handle takes: `()`, one of `i32`, `i64`, `f32`, `f64`, or a
        /// tuple of them (what the engine's `WasmParams` covers).
        pub trait $params: wasmhost_api::WasmTypes + $engine::WasmParams {}

        impl<P: wasmhost_api::WasmTypes + $engine::WasmParams> $params for P {}

        /// Results a typed handle gives: as its parameters (the engine's `WasmResults`).
        pub trait $results: wasmhost_api::WasmTypes + $engine::WasmResults {}

        impl<R: wasmhost_api::WasmTypes + $engine::WasmResults> $results for R {}

        impl<P: $params, R: $results> $crate::TypedCall<P, R> for $backend {
            fn typed<T: Send + 'static>(
                cx: &mut Self::Cx<'_, T>,
                func: &Self::Func,
            ) -> Option<$engine::TypedFunc<P, R>> {
                func.typed::<P, R>(&*cx).ok()
            }

            fn call_typed<T: Send + 'static>(
                cx: &mut Self::Cx<'_, T>,
                func: &$engine::TypedFunc<P, R>,
                args: P,
            ) -> Result<R, $engine::Error> {
                func.call(&mut *cx, args)
            }
        }
    };
}

/// Defines every function of `$host` (a [`HostFunctions`](wasmhost_api::HostFunctions)) in
/// `$linker` (the engine's `Linker`, with `func_new`) for `$backend`, each function's type
/// made by `$func_type` from its signature: its body converts values and hands over to
/// [`Access::host_call`](crate::Access::host_call). Returns from the enclosing function
/// with [`WasmError::Link`](wasmhost_api::WasmError::Link) when the engine refuses one.
#[macro_export]
macro_rules! link_host_functions {
    ($linker:expr, $host:expr, $backend:ty, $func_type:expr) => {
        for f in $host.iter() {
            let func = f.clone();
            $linker
                .func_new(
                    &f.module,
                    &f.name,
                    ($func_type)(&f.sig),
                    move |mut caller, args, results| {
                        let args: Vec<_> = args
                            .iter()
                            .map(|a| to_value(&caller, a))
                            .collect::<Result<_, _>>()?;
                        let mut slots = results.iter_mut();
                        let cx = caller.as_context_mut();
                        $crate::Access::<$backend, _>::host_call(cx, &func, &args, |cx, v| {
                            if let Some(slot) = slots.next() {
                                *slot = to_val(cx, v)?;
                            }
                            Ok(())
                        })
                        .map_err(host_failure)
                    },
                )
                .map_err(|e| wasmhost_api::WasmError::Link(e.to_string()))?;
        }
    };
}
