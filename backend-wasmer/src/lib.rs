//! # wasmhost-wasmer
//!
//! The [`wasmhost_api`] contract on [wasmer](https://docs.rs/wasmer) with the cranelift
//! compiler: slow to compile, fast to run.
//!
//! Engine differences stay here: wasmer's runtime errors, its function environments and
//! its feature defaults are mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;
mod typed;

use std::borrow::Cow;
use std::sync::Arc;

use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder, Features};
use wasmer::wasmparser::Operator;
use wasmer::{
    Extern, Function, FunctionEnv, FunctionEnvMut, Global, Memory, MemoryType, Pages, Store, Table,
    TableType,
};
use wasmer_middlewares::Metering as MeteringMiddleware;
use wasmhost_api::{
    Config, Engine, ExportInfo, ExternKind, HostContext, HostFunctions, HostImport, Metering,
    Module, Prelinked, WasmError,
};
use wasmhost_backend::Access;
use wasmhost_instrument::{ModuleFacts, Passes, instrument};

use backend::NativeMeter;
pub use backend::{Wasmer, WasmerStore};
use convert::{
    from_valtype, func_sig, host_failure, import_type, to_value, to_wasmer, wasmer_func_type,
};
pub use typed::{WasmerParams, WasmerResults};

/// What a wasmhost instance keeps in its wasmer function environment.
pub type Env<T> = wasmhost_backend::StoreData<Wasmer, T>;

/// A live wasmer instance in its own store.
pub type WasmerInstance<T> = wasmhost_backend::Instance<Wasmer, T>;

/// An export of one [`WasmerInstance`], looked up and type-checked once: see
/// [`wasmhost_backend::Instance::typed`].
pub type WasmerTyped<P, R> = wasmhost_backend::Typed<Wasmer, P, R>;

/// A serialized export of one [`WasmerInstance`], taking `I` and giving `O`: see
/// [`wasmhost_backend::Instance::serialized`].
pub type WasmerSerialized<I, O> = wasmhost_backend::Serialized<Wasmer, I, O>;

/// The wasmer engine (cranelift) with a wasmhost [`Config`].
#[derive(Clone)]
pub struct WasmerEngine {
    /// Validates, and names the compiler in the fingerprint; modules are compiled and loaded
    /// by engines of their own (see `compile`).
    engine: wasmer::Engine,
    config: Arc<Config>,
    /// The rewrites `config` needs on wasmer.
    passes: Arc<Passes>,
}

/// The native meter's cost of an operator: one unit each, as wasmer's own examples count.
fn native_cost(_: &Operator<'_>) -> u64 {
    1
}

/// The native meter's cost function.
type CostFn = fn(&Operator<'_>) -> u64;

/// A cranelift engine with the contract's feature set, and a metering middleware if given.
fn build_engine(metering: Option<Arc<MeteringMiddleware<CostFn>>>) -> wasmer::Engine {
    let mut features = Features::new();
    // Align with the feature set `Config` documents (wasmer's defaults turn more on).
    features
        .threads(false)
        .simd(false)
        .relaxed_simd(false)
        .multi_memory(false)
        .extended_const(false)
        .tail_call(false)
        .memory64(false)
        .exceptions(false)
        .wide_arithmetic(false)
        .reference_types(true)
        .bulk_memory(true)
        .multi_value(true);
    // Cranelift could canonicalize NaNs itself, after every float operation; the
    // instrumentation's pass does it only where the bits can be observed, with the same
    // result, at a fraction of the cost, and the same way as on every other engine.
    let mut compiler = Cranelift::new();
    if let Some(metering) = metering {
        compiler.push_middleware(metering);
    }
    EngineBuilder::new(compiler)
        .set_features(Some(features))
        .engine()
        .into()
}

impl WasmerEngine {
    /// An engine for `config`, with the contract's wasm feature set.
    pub fn new(config: Config) -> Self {
        if config.call_depth_limit().is_some() {
            // The instrumented depth limit must be the one that stops a guest, not wasmer's
            // native stack (1 MiB by default, process-wide): raise it, never lower it.
            let wanted = 8 << 20;
            if wasmer::sys::vm::get_stack_size() < wanted {
                wasmer::sys::vm::set_stack_size(wanted);
            }
        }
        WasmerEngine {
            engine: build_engine(None),
            passes: Arc::new(Passes::for_config(&config)),
            config: Arc::new(config),
        }
    }
}

impl Default for WasmerEngine {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Engine for WasmerEngine {
    type Module = WasmerModule;

    fn name(&self) -> &'static str {
        "wasmer"
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn compile(&self, wasm: &[u8]) -> Result<WasmerModule, WasmError> {
        self.config.check_module_size(wasm.len())?;
        // The original is validated first: the rewrite assumes a valid module.
        let (bytes, facts, start) = if self.passes.any() {
            wasmer::Module::validate(&self.engine, wasm)
                .map_err(|e| WasmError::Compile(e.to_string()))?;
            let out = instrument(wasm, &self.passes)?;
            (Cow::Owned(out.wasm), out.facts, out.start)
        } else {
            (Cow::Borrowed(wasm), ModuleFacts::default(), false)
        };
        // Every module gets a wasmer engine of its own: an engine keeps the code of every
        // module it compiled until the engine itself is dropped, so a host compiling many
        // modules on one engine would grow without end (and abort once the kernel refuses
        // more mappings). wasmer's metering middleware also belongs to one module.
        let metering = match self.config.metering {
            Metering::Native => {
                let cost: CostFn = native_cost;
                Some(Arc::new(MeteringMiddleware::new(
                    self.config.initial_fuel,
                    cost,
                )))
            }
            _ => None,
        };
        let engine = build_engine(metering);
        let module = wasmer::Module::new(&engine, &bytes[..])
            .map_err(|e| WasmError::Compile(e.to_string()))?;
        Ok(WasmerModule {
            module,
            engine: self.clone(),
            store_engine: engine,
            facts: Arc::new(facts),
            start,
        })
    }

    fn fingerprint(&self) -> String {
        // Cranelift compiles for the processor it runs on, so its code is bound to these
        // features; the version pins the artifact format.
        format!(
            "wasmer {} {} {}-{} {:?} {:?}",
            wasmer_types::VERSION,
            self.engine.deterministic_id(),
            std::env::consts::ARCH,
            std::env::consts::OS,
            wasmer::sys::CpuFeature::for_host(),
            self.config,
        )
    }

    fn can_serialize(&self) -> bool {
        true
    }

    /// The start flag, the [`ModuleFacts`], then wasmer's artifact.
    fn serialize(&self, module: &WasmerModule) -> Option<Result<Vec<u8>, WasmError>> {
        let artifact = match module.module.serialize() {
            Ok(artifact) => artifact,
            Err(e) => return Some(Err(WasmError::Engine(e.to_string()))),
        };
        let mut out = vec![module.start as u8];
        module.facts.write_to(&mut out);
        // Zeros up to the archive's alignment, and their count, so that an archive loaded
        // where it lies in an aligned buffer is aligned too.
        let pad = (ARCHIVE_ALIGN - (out.len() + 1) % ARCHIVE_ALIGN) % ARCHIVE_ALIGN;
        out.push(pad as u8);
        out.resize(out.len() + pad, 0);
        out.extend_from_slice(&artifact);
        Some(Ok(out))
    }

    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<WasmerModule, WasmError> {
        let (start, facts, at) = read_prefix(bytes)?;
        // SAFETY: the caller guarantees these are bytes `serialize` produced under this
        // fingerprint. (wasmer copies them.)
        let engine = build_engine(None);
        let module = unsafe { wasmer::Module::deserialize(&engine, &bytes[at..]) };
        self.loaded(engine, module, start, facts)
    }

    unsafe fn deserialize_owned(
        &self,
        buffer: Vec<u8>,
        start: usize,
    ) -> Result<WasmerModule, WasmError> {
        let Some(bytes) = buffer.get(start..) else {
            return Err(malformed());
        };
        let (has_start, facts, at) = read_prefix(bytes)?;
        let at = start + at;
        if !(buffer.as_ptr() as usize + at).is_multiple_of(ARCHIVE_ALIGN) {
            // SAFETY: as in `deserialize`.
            return unsafe { self.deserialize(&buffer[start..]) };
        }
        let archive = bytes::Bytes::from(buffer).slice(at..);
        let engine = build_engine(None);
        // SAFETY: as in `deserialize`; the archive is aligned as wasmer reads it in place.
        let module = unsafe { wasmer::Module::deserialize(&engine, archive) };
        self.loaded(engine, module, has_start, facts)
    }
}

/// The alignment wasmer's archive needs where it is read in place
/// (`wasmer_types::MetadataHeader::ALIGN`).
const ARCHIVE_ALIGN: usize = 16;

fn malformed() -> WasmError {
    WasmError::Engine("not a serialized wasmhost module".into())
}

/// The start flag and facts `serialize` wrote before the archive, and where the archive
/// starts.
fn read_prefix(bytes: &[u8]) -> Result<(bool, ModuleFacts, usize), WasmError> {
    let (&start, rest) = bytes.split_first().ok_or_else(malformed)?;
    let (facts, rest) = ModuleFacts::read_from(rest).ok_or_else(malformed)?;
    let (&pad, rest) = rest.split_first().ok_or_else(malformed)?;
    if rest.len() < pad as usize {
        return Err(malformed());
    }
    let at = bytes.len() - rest.len() + pad as usize;
    Ok((start != 0, facts, at))
}

impl WasmerEngine {
    /// A module wasmer loaded onto `engine` (one of its own, as in `compile`), with what
    /// wasmhost stored beside it.
    fn loaded(
        &self,
        engine: wasmer::Engine,
        module: Result<wasmer::Module, wasmer::DeserializeError>,
        start: bool,
        facts: ModuleFacts,
    ) -> Result<WasmerModule, WasmError> {
        Ok(WasmerModule {
            module: module.map_err(|e| WasmError::Engine(e.to_string()))?,
            engine: self.clone(),
            store_engine: engine,
            facts: Arc::new(facts),
            start,
        })
    }
}

/// A module compiled by [`WasmerEngine`].
#[derive(Clone)]
pub struct WasmerModule {
    module: wasmer::Module,
    engine: WasmerEngine,
    /// The engine that compiled it, which its stores use.
    store_engine: wasmer::Engine,
    facts: Arc<ModuleFacts>,
    /// Whether the start function was moved to an export, to be called after instantiation.
    start: bool,
}

impl Module for WasmerModule {
    type Instance<T: Send + 'static> = WasmerInstance<T>;
    type Prelinked<T: Send + 'static> = WasmerPrelinked<T>;

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

    fn prelink<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
    ) -> Result<WasmerPrelinked<T>, WasmError> {
        let imports: Vec<_> = self.module.imports().collect();
        host.check_imports(
            imports
                .iter()
                .map(|i| (i.module(), i.name(), import_type(i.ty()))),
            &self.engine.config,
        )?;
        self.facts.check_limits(&self.engine.config)?;
        // In import order, so that instances link by index, without looking names up; a
        // host function the module does not import is not made at all.
        let first = imports
            .iter()
            .enumerate()
            .map(|(i, import)| {
                let same = |j: &usize| {
                    imports[*j].module() == import.module() && imports[*j].name() == import.name()
                };
                (0..i).find(same).unwrap_or(i)
            })
            .collect();
        let imports = imports
            .iter()
            .filter_map(|i| host.resolve(i.module(), i.name()))
            .collect();
        Ok(WasmerPrelinked {
            module: self.clone(),
            imports: Arc::new(imports),
            first: Arc::new(first),
        })
    }
}

/// A [`WasmerModule`] linked with its host functions: see [`Module::prelink`].
pub struct WasmerPrelinked<T> {
    module: WasmerModule,
    /// What the host provides for each import, in import order.
    imports: Arc<Vec<HostImport<T>>>,
    /// For each import, the first import of the same name: a module importing one global,
    /// memory or table twice gets the same one twice.
    first: Arc<Vec<usize>>,
}

impl<T> Clone for WasmerPrelinked<T> {
    fn clone(&self) -> Self {
        WasmerPrelinked {
            module: self.module.clone(),
            imports: Arc::clone(&self.imports),
            first: Arc::clone(&self.first),
        }
    }
}

impl<T: Send + 'static> Prelinked<T> for WasmerPrelinked<T> {
    type Instance = WasmerInstance<T>;

    fn instantiate(&self, state: T) -> Result<WasmerInstance<T>, WasmError> {
        let module = &self.module;
        let mut store = Store::new(module.store_engine.clone());
        let config = Arc::clone(&module.engine.config);
        let env = FunctionEnv::new(&mut store, Env::new(state, config));
        let mut externs: Vec<Extern> = Vec::with_capacity(self.imports.len());
        for (i, import) in self.imports.iter().enumerate() {
            if let Some(same) = self.first.get(i).filter(|&&first| first < i) {
                externs.push(externs[*same].clone());
                continue;
            }
            externs.push(match import {
                HostImport::Func(f) => {
                    let host_func = f.clone();
                    let function = Function::new_with_env(
                        &mut store,
                        &env,
                        wasmer_func_type(&f.sig),
                        move |fenv: FunctionEnvMut<Env<T>>, args: &[wasmer::Value]| {
                            let args: Vec<_> = args
                                .iter()
                                .map(|a| to_value(&fenv, a))
                                .collect::<Result<_, _>>()?;
                            let mut access = Access::<Wasmer, T>(fenv);
                            let out = host_func
                                .invoke(&mut HostContext::new(&mut access), &args)
                                .map_err(host_failure)?;
                            out.into_iter()
                                .map(|v| to_wasmer(&mut access.0, v).map_err(host_failure))
                                .collect()
                        },
                    );
                    Extern::from(function)
                }
                HostImport::Extern(kind) => provided_extern(&mut store, kind)?,
            });
        }
        let instance = wasmer::Instance::new_by_index(&mut store, &module.module, &externs)
            .map_err(convert::map_instantiation_error)?;
        let mut cx = env.clone().into_mut(&mut store);
        Env::attach(&mut cx, instance.exports.clone());
        NativeMeter::attach(&mut cx);
        let engine = &module.engine;
        let guarded = engine.passes.any() || engine.config.metering != Metering::Off;
        WasmerInstance::new(WasmerStore { store, env }, guarded, module.start)
    }
}

/// A global, memory or table the host provides, made in the instance's store.
fn provided_extern(store: &mut Store, kind: &ExternKind) -> Result<Extern, WasmError> {
    let too_large = |what: &str| WasmError::Link(format!("a provided {what} is too large"));
    Ok(match kind {
        ExternKind::Global { value, mutable } => {
            let value = to_wasmer(store, *value)?;
            let global = if *mutable {
                Global::new_mut(store, value)
            } else {
                Global::new(store, value)
            };
            global.into()
        }
        ExternKind::Memory(limits) => {
            let pages = |n: u64| u32::try_from(n).map(Pages).map_err(|_| too_large("memory"));
            let maximum = limits.maximum.map(pages).transpose()?;
            let ty = MemoryType::new(pages(limits.minimum)?, maximum, false);
            Memory::new(store, ty)
                .map_err(|e| WasmError::Link(format!("a provided memory: {e}")))?
                .into()
        }
        ExternKind::Table { element, limits } => {
            let elements = |n: u64| u32::try_from(n).map_err(|_| too_large("table"));
            let maximum = limits.maximum.map(elements).transpose()?;
            let ty = TableType::new(from_valtype(*element), elements(limits.minimum)?, maximum);
            let null = to_wasmer(store, wasmhost_api::Value::default_for(*element))?;
            Table::new(store, ty, null)
                .map_err(|e| WasmError::Link(format!("a provided table: {e}")))?
                .into()
        }
    })
}
