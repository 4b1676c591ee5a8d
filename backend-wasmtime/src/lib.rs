//! # wasmhost-wasmtime
//!
//! The [`wasmhost_api`] contract on [wasmtime](https://docs.rs/wasmtime) with the cranelift
//! compiler: slow to compile, fast to run, and the engine most Rust hosts pick.
//!
//! Engine differences stay here: wasmtime's trap codes, its store data, its linker and its
//! feature defaults are mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use wasmhost_api::{
    Config, Engine, ExportInfo, ExternKind, HostContext, HostFunctions, Metering, Module,
    Prelinked, WasmError,
};
use wasmhost_backend::{Access, provided_externs};
use wasmhost_instrument::{ModuleFacts, Passes, instrument};
use wasmtime::{AsContextMut, InstancePre, Linker, Store};

pub use backend::{Wasmtime, WasmtimeParams, WasmtimeResults};
use convert::{
    from_valtype, func_sig, host_failure, import_type, map_error, to_val, to_value,
    wasmtime_func_type,
};

/// What a wasmhost instance keeps in its wasmtime store.
pub type StoreData<T> = wasmhost_backend::StoreData<Wasmtime, T>;

/// A live wasmtime instance in its own store.
pub type WasmtimeInstance<T> = wasmhost_backend::Instance<Wasmtime, T>;

/// An export of one [`WasmtimeInstance`], looked up and type-checked once: see
/// [`wasmhost_backend::Instance::typed`].
pub type WasmtimeTyped<P, R> = wasmhost_backend::Typed<Wasmtime, P, R>;

/// A serialized export of one [`WasmtimeInstance`], taking `I` and giving `O`: see
/// [`wasmhost_backend::Instance::serialized`].
pub type WasmtimeSerialized<I, O> = wasmhost_backend::Serialized<Wasmtime, I, O>;

/// The wasmtime version this backend is built against (`=` pinned in the workspace).
const WASMTIME_VERSION: &str = "48.0.0";

/// The native stack wasm may use when an instrumented call-depth limit is in force: room
/// for the limit's frames, so that the limit, not wasmtime's stack check, stops a guest.
/// Wasm runs on the calling thread's own stack, so this stays well inside the 2 MiB that
/// Rust gives a spawned thread.
const DEPTH_LIMITED_STACK: usize = 1 << 20;

/// The wasmtime engine (cranelift) with a wasmhost [`Config`].
#[derive(Clone)]
pub struct WasmtimeEngine {
    /// Compiles every module: unlike the other engines, wasmtime frees a module's code when
    /// the module is dropped, so one engine serves a host compiling without end.
    engine: wasmtime::Engine,
    config: Arc<Config>,
    /// The rewrites `config` needs on wasmtime.
    passes: Arc<Passes>,
}

/// wasmtime's configuration for `config`: the contract's wasm feature set, and wasmtime's
/// own fuel as the native meter.
fn wasmtime_config(config: &Config) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    // Align with the feature set `Config` documents (wasmtime's defaults turn more on;
    // threads are off without wasmtime's `threads` cargo feature, which we do not build).
    c.wasm_tail_call(false)
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_extended_const(false)
        .wasm_memory64(false)
        .wasm_exceptions(false)
        .wasm_wide_arithmetic(false)
        .wasm_gc(false)
        .wasm_function_references(false)
        .wasm_custom_page_sizes(false)
        .wasm_reference_types(true)
        .wasm_bulk_memory(true)
        .wasm_multi_value(true);
    // Cranelift could canonicalize NaNs itself (`cranelift_nan_canonicalization`), after
    // every float operation; the instrumentation's pass does it only where the bits can be
    // observed, with the same result, and the same way as on every other engine.
    c.consume_fuel(config.metering == Metering::Native);
    if config.call_depth_limit().is_some() {
        c.max_wasm_stack(DEPTH_LIMITED_STACK);
    }
    c
}

impl WasmtimeEngine {
    /// An engine for `config`, with the contract's wasm feature set.
    pub fn new(config: Config) -> Self {
        let engine = wasmtime::Engine::new(&wasmtime_config(&config))
            // Every setting above is one wasmtime 48 supports with the features we build.
            .expect("the contract's wasmtime configuration is valid");
        WasmtimeEngine {
            engine,
            passes: Arc::new(Passes::for_config(&config)),
            config: Arc::new(config),
        }
    }
}

impl Default for WasmtimeEngine {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Engine for WasmtimeEngine {
    type Module = WasmtimeModule;

    fn name(&self) -> &'static str {
        "wasmtime"
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn compile(&self, wasm: &[u8]) -> Result<WasmtimeModule, WasmError> {
        self.config.check_module_size(wasm.len())?;
        let compile_error = |e: wasmtime::Error| WasmError::Compile(format!("{e:#}"));
        // The original is validated first: the rewrite assumes a valid module. Not by
        // wasmtime's own `Module::validate`, which accepts some malformed encodings that
        // its compiler refuses (see `wasmhost_instrument::validate`); wasmtime validates the
        // rewritten module as it compiles it.
        let (bytes, facts, start) = if self.passes.any() {
            wasmhost_instrument::validate(wasm)?;
            let out = instrument(wasm, &self.passes)?;
            (Cow::Owned(out.wasm), out.facts, out.start)
        } else {
            (Cow::Borrowed(wasm), ModuleFacts::default(), false)
        };
        let module = wasmtime::Module::new(&self.engine, &bytes[..]).map_err(compile_error)?;
        Ok(WasmtimeModule {
            module,
            engine: self.clone(),
            facts: Arc::new(facts),
            start,
        })
    }

    fn fingerprint(&self) -> String {
        // Cranelift compiles for the processor it runs on: wasmtime's compatibility hash
        // covers the target, its features and every setting that changes the code.
        let mut hash = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hash);
        format!(
            "wasmtime {WASMTIME_VERSION} {:016x} {}-{} {:?}",
            hash.finish(),
            std::env::consts::ARCH,
            std::env::consts::OS,
            self.config,
        )
    }

    fn can_serialize(&self) -> bool {
        true
    }

    /// The start flag, the [`ModuleFacts`], then wasmtime's artifact.
    fn serialize(&self, module: &WasmtimeModule) -> Option<Result<Vec<u8>, WasmError>> {
        let artifact = match module.module.serialize() {
            Ok(artifact) => artifact,
            Err(e) => return Some(Err(WasmError::Engine(e.to_string()))),
        };
        let mut out = vec![module.start as u8];
        module.facts.write_to(&mut out);
        out.extend_from_slice(&artifact);
        Some(Ok(out))
    }

    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<WasmtimeModule, WasmError> {
        let malformed = || WasmError::Engine("not a serialized wasmhost module".into());
        let (&start, rest) = bytes.split_first().ok_or_else(malformed)?;
        let (facts, artifact) = ModuleFacts::read_from(rest).ok_or_else(malformed)?;
        // SAFETY: the caller guarantees these are bytes `serialize` produced under this
        // fingerprint. wasmtime checks the artifact's header and engine settings too.
        let module = unsafe { wasmtime::Module::deserialize(&self.engine, artifact) }
            .map_err(|e| WasmError::Engine(e.to_string()))?;
        Ok(WasmtimeModule {
            module,
            engine: self.clone(),
            facts: Arc::new(facts),
            start: start != 0,
        })
    }
}

/// A module compiled by [`WasmtimeEngine`].
#[derive(Clone)]
pub struct WasmtimeModule {
    module: wasmtime::Module,
    engine: WasmtimeEngine,
    facts: Arc<ModuleFacts>,
    /// Whether the start function was moved to an export, to be called after instantiation.
    start: bool,
}

impl Module for WasmtimeModule {
    type Instance<T: Send + 'static> = WasmtimeInstance<T>;
    type Prelinked<T: Send + 'static> = WasmtimePrelinked<T>;

    fn exports(&self) -> Vec<ExportInfo> {
        self.module
            .exports()
            .filter_map(|e| {
                let ty = e.ty();
                let ty = ty.func()?;
                Some(ExportInfo {
                    name: e.name().to_string(),
                    sig: func_sig(ty),
                })
            })
            .collect()
    }

    fn prelink<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
    ) -> Result<WasmtimePrelinked<T>, WasmError> {
        let imports: Vec<_> = self.module.imports().collect();
        host.check_imports(
            imports
                .iter()
                .map(|i| (i.module(), i.name(), import_type(&i.ty()))),
            &self.engine.config,
        )?;
        let externs = provided_externs(host, imports.iter().map(|i| (i.module(), i.name())));
        self.facts.check_limits(&self.engine.config)?;
        let engine = &self.engine.engine;
        let mut linker = Linker::<StoreData<T>>::new(engine);
        for f in host.iter() {
            let func = f.clone();
            linker
                .func_new(
                    &f.module,
                    &f.name,
                    wasmtime_func_type(engine, &f.sig),
                    move |mut caller, args, results| {
                        let args: Vec<_> = args
                            .iter()
                            .map(|a| to_value(&caller, a))
                            .collect::<Result<_, _>>()?;
                        let mut access = Access::<Wasmtime, T>(caller.as_context_mut());
                        let out = func
                            .invoke(&mut HostContext::new(&mut access), &args)
                            .map_err(host_failure)?;
                        for (slot, v) in results.iter_mut().zip(out) {
                            *slot = to_val(&mut access.0, v).map_err(host_failure)?;
                        }
                        Ok(())
                    },
                )
                .map_err(|e| WasmError::Link(e.to_string()))?;
        }
        // With functions only, every import resolves now: instances skip the linker.
        let linked = if externs.is_empty() {
            Linked::Pre(
                linker
                    .instantiate_pre(&self.module)
                    .map_err(|e| WasmError::Link(format!("{e:#}")))?,
            )
        } else {
            Linked::PerInstance {
                linker,
                externs: Arc::new(externs),
            }
        };
        Ok(WasmtimePrelinked {
            module: self.clone(),
            linked,
        })
    }
}

/// How a [`WasmtimePrelinked`] makes its instances.
enum Linked<T: 'static> {
    /// Every import is a host function: wasmtime's own pre-linked instance.
    Pre(InstancePre<StoreData<T>>),
    /// The host provides globals, memories or tables, made in each instance's store, so
    /// each instance links with a copy of the linker.
    PerInstance {
        linker: Linker<StoreData<T>>,
        externs: Arc<Vec<(String, String, ExternKind)>>,
    },
}

impl<T> Clone for Linked<T> {
    fn clone(&self) -> Self {
        match self {
            Linked::Pre(pre) => Linked::Pre(pre.clone()),
            Linked::PerInstance { linker, externs } => Linked::PerInstance {
                linker: linker.clone(),
                externs: Arc::clone(externs),
            },
        }
    }
}

/// A [`WasmtimeModule`] linked with its host functions: see [`Module::prelink`].
pub struct WasmtimePrelinked<T: 'static> {
    module: WasmtimeModule,
    linked: Linked<T>,
}

impl<T> Clone for WasmtimePrelinked<T> {
    fn clone(&self) -> Self {
        WasmtimePrelinked {
            module: self.module.clone(),
            linked: self.linked.clone(),
        }
    }
}

impl<T: Send + 'static> Prelinked<T> for WasmtimePrelinked<T> {
    type Instance = WasmtimeInstance<T>;

    fn instantiate(&self, state: T) -> Result<WasmtimeInstance<T>, WasmError> {
        let module = &self.module;
        let engine = &module.engine;
        let config = &engine.config;
        let mut store = Store::new(&engine.engine, StoreData::new(state, Arc::clone(config)));
        if config.metering == Metering::Native {
            store.set_fuel(config.initial_fuel).map_err(map_error)?;
        }
        let instance = match &self.linked {
            Linked::Pre(pre) => pre.instantiate(&mut store),
            Linked::PerInstance { linker, externs } => {
                let mut linker = linker.clone();
                for (from, name, kind) in externs.iter() {
                    let made = provided_extern(&mut store, kind)?;
                    linker
                        .define(&store, from, name, made)
                        .map_err(|e| WasmError::Link(e.to_string()))?;
                }
                linker.instantiate(&mut store, &module.module)
            }
        }
        .map_err(map_error)?;
        StoreData::attach(&mut store.as_context_mut(), instance);
        let guarded = engine.passes.any() || config.metering != Metering::Off;
        WasmtimeInstance::new(store, guarded, module.start)
    }
}

/// A global, memory or table the host provides, made in the instance's store.
fn provided_extern<T: 'static>(
    store: &mut Store<StoreData<T>>,
    kind: &ExternKind,
) -> Result<wasmtime::Extern, WasmError> {
    let link = |e: wasmtime::Error| WasmError::Link(format!("a provided import: {e}"));
    let size = |n: u64| {
        u32::try_from(n).map_err(|_| WasmError::Link("a provided import is too large".into()))
    };
    Ok(match kind {
        ExternKind::Global { value, mutable } => {
            let mutability = if *mutable {
                wasmtime::Mutability::Var
            } else {
                wasmtime::Mutability::Const
            };
            let ty = wasmtime::GlobalType::new(from_valtype(value.ty()), mutability);
            let value = to_val(&mut *store, *value)?;
            wasmtime::Global::new(&mut *store, ty, value)
                .map_err(link)?
                .into()
        }
        ExternKind::Memory(limits) => {
            let ty = wasmtime::MemoryType::new(
                size(limits.minimum)?,
                limits.maximum.map(size).transpose()?,
            );
            wasmtime::Memory::new(&mut *store, ty).map_err(link)?.into()
        }
        ExternKind::Table { element, limits } => {
            let (element, null) = match element {
                wasmhost_api::ValType::ExternRef => {
                    (wasmtime::RefType::EXTERNREF, wasmtime::Ref::Extern(None))
                }
                _ => (wasmtime::RefType::FUNCREF, wasmtime::Ref::Func(None)),
            };
            let ty = wasmtime::TableType::new(
                element,
                size(limits.minimum)?,
                limits.maximum.map(size).transpose()?,
            );
            wasmtime::Table::new(&mut *store, ty, null)
                .map_err(link)?
                .into()
        }
    })
}
