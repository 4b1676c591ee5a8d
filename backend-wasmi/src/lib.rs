//! # wasmhost-wasmi
//!
//! The [`wasmhost_api`] contract on [wasmi](https://docs.rs/wasmi), an interpreter:
//! portable, quick to compile, and deterministic in everything but NaN bits.
//!
//! Engine differences stay here: wasmi's trap codes, its store data and its linker are
//! mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod canonicalize;
mod convert;
mod guest;

use std::sync::Arc;

use wasmhost_api::{
    Config, Engine, ExportInfo, HostContext, HostFunctions, Instance, Module, WasmError,
};
use wasmi::{Linker, Store};

use convert::{func_sig, host_failure, map_error, to_val, to_value, wasmi_func_type};
use guest::Access;
pub use guest::StoreData;

/// The wasmi engine with a wasmhost [`Config`].
#[derive(Clone)]
pub struct WasmiEngine {
    engine: wasmi::Engine,
    config: Arc<Config>,
}

impl WasmiEngine {
    /// An engine for `config`, with the contract's wasm feature set.
    pub fn new(config: Config) -> Self {
        let mut c = wasmi::Config::default();
        // Align with the feature set `Config` documents (wasmi's defaults turn more on).
        c.wasm_tail_call(false)
            .wasm_multi_memory(false)
            .wasm_extended_const(false)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false);
        WasmiEngine {
            engine: wasmi::Engine::new(&c),
            config: Arc::new(config),
        }
    }
}

impl Default for WasmiEngine {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Engine for WasmiEngine {
    type Module = WasmiModule;

    fn name(&self) -> &'static str {
        "wasmi"
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn compile(&self, wasm: &[u8]) -> Result<WasmiModule, WasmError> {
        // wasmi canonicalizes NaNs only behind a cargo feature, which cargo would unify
        // across the whole build: the deterministic profile rewrites the module instead.
        // The original is validated first: the rewrite re-encodes (and so would repair
        // malformed encodings) and adds locals (which would make an out-of-range local
        // index valid).
        let rewritten;
        let wasm = if self.config.deterministic {
            wasmi::Module::validate(&self.engine, wasm)
                .map_err(|e| WasmError::Compile(e.to_string()))?;
            rewritten = canonicalize::canonicalize_nans(wasm);
            rewritten.as_deref().unwrap_or(wasm)
        } else {
            wasm
        };
        let module = wasmi::Module::new(&self.engine, wasm)
            .map_err(|e| WasmError::Compile(e.to_string()))?;
        Ok(WasmiModule {
            module,
            engine: self.clone(),
        })
    }
}

/// A module compiled by [`WasmiEngine`].
#[derive(Clone)]
pub struct WasmiModule {
    module: wasmi::Module,
    engine: WasmiEngine,
}

impl Module for WasmiModule {
    type Instance<T: Send + 'static> = WasmiInstance<T>;

    fn exports(&self) -> Vec<ExportInfo> {
        self.module
            .exports()
            .filter_map(|e| {
                let ty = e.ty().func()?;
                Some(ExportInfo {
                    name: e.name().to_string(),
                    sig: func_sig(ty),
                })
            })
            .collect()
    }

    fn instantiate<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
        state: T,
    ) -> Result<WasmiInstance<T>, WasmError> {
        host.check_imports(
            self.module
                .imports()
                .map(|i| (i.module(), i.name(), i.ty().func().and_then(func_sig))),
        )?;
        let mut store = Store::new(
            &self.engine.engine,
            StoreData::new(state, self.engine.config.max_payload_bytes),
        );
        let mut linker = Linker::<StoreData<T>>::new(&self.engine.engine);
        for f in host.iter() {
            let func = f.clone();
            linker
                .func_new(
                    &f.module,
                    &f.name,
                    wasmi_func_type(&f.sig),
                    move |caller, args, results| {
                        let args: Vec<_> = args.iter().map(to_value).collect::<Result<_, _>>()?;
                        let mut access = Access(caller);
                        let out = func
                            .invoke(&mut HostContext::new(&mut access), &args)
                            .map_err(host_failure)?;
                        for (slot, v) in results.iter_mut().zip(out) {
                            *slot = to_val(v);
                        }
                        Ok(())
                    },
                )
                .map_err(|e| WasmError::Link(e.to_string()))?;
        }
        let instance = linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(map_error)?;
        store.data_mut().set_instance(instance);
        Ok(WasmiInstance { store })
    }
}

/// A live wasmi instance in its own store.
pub struct WasmiInstance<T> {
    store: Store<StoreData<T>>,
}

impl<T> WasmiInstance<T> {
    fn access(&mut self) -> Access<&mut Store<StoreData<T>>> {
        Access(&mut self.store)
    }
}

impl<T: Send + 'static> Instance<T> for WasmiInstance<T> {
    fn state(&self) -> &T {
        &self.store.data().state
    }

    fn state_mut(&mut self) -> &mut T {
        &mut self.store.data_mut().state
    }
}

impl<T> wasmhost_api::Guest for WasmiInstance<T> {
    fn call_raw(
        &mut self,
        name: &str,
        args: &[wasmhost_api::Value],
    ) -> Result<Vec<wasmhost_api::Value>, WasmError> {
        self.access().call_raw(name, args)
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        self.access().call_packed(name, ptr, len)
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        self.access().alloc(len)
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        self.access().dealloc(ptr, len)
    }

    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, WasmError> {
        self.access().read(ptr, len)
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), WasmError> {
        self.access().write(ptr, bytes)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        self.access().memory_size()
    }

    fn max_payload_bytes(&self) -> u32 {
        self.store.data().max_payload_bytes
    }
}
