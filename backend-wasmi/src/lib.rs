//! # wasmhost-wasmi
//!
//! The [`wasmhost_api`] contract on [wasmi](https://docs.rs/wasmi), an interpreter:
//! portable, quick to compile, and deterministic in everything but NaN bits.
//!
//! Engine differences stay here: wasmi's trap codes, its store data and its linker are
//! mapped onto the contract's types and never leak out.

#![warn(missing_docs)]

mod backend;
mod convert;

use std::sync::Arc;

use wasmhost_api::{
    Config, Engine, ExportInfo, ExternKind, HostContext, HostFunctions, Metering, Module,
    Prelinked, WasmError,
};
use wasmhost_backend::{Access, provided_externs};
use wasmhost_instrument::{ModuleFacts, Passes, grow, instrument};
use wasmi::{AsContextMut, Linker, Store};

pub use backend::{Wasmi, WasmiParams, WasmiResults};
use convert::{
    from_valtype, func_sig, host_failure, import_type, map_error, to_val, to_value, wasmi_func_type,
};

/// What a wasmhost instance keeps in its wasmi store.
pub type StoreData<T> = wasmhost_backend::StoreData<Wasmi, T>;

/// A live wasmi instance in its own store.
pub type WasmiInstance<T> = wasmhost_backend::Instance<Wasmi, T>;

/// An export of one [`WasmiInstance`], looked up and type-checked once: see
/// [`wasmhost_backend::Instance::typed`].
pub type WasmiTyped<P, R> = wasmhost_backend::Typed<Wasmi, P, R>;

/// A serialized export of one [`WasmiInstance`], taking `I` and giving `O`: see
/// [`wasmhost_backend::Instance::serialized`].
pub type WasmiSerialized<I, O> = wasmhost_backend::Serialized<Wasmi, I, O>;

/// The wasmi engine with a wasmhost [`Config`].
#[derive(Clone)]
pub struct WasmiEngine {
    /// Validates; modules are compiled by engines of their own, made from `wasmi_config`.
    engine: wasmi::Engine,
    wasmi_config: Arc<wasmi::Config>,
    config: Arc<Config>,
    /// The rewrites `config` needs on wasmi.
    passes: Arc<Passes>,
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
        if config.metering == Metering::Native {
            // Lazy translation would charge translation fuel on a function's first call,
            // so the same call would cost more the first time.
            c.consume_fuel(true)
                .compilation_mode(wasmi::CompilationMode::Eager);
        }
        if let Some(depth) = config.call_depth_limit() {
            // The instrumented limit must be the one that stops a guest: wasmi's own frame
            // count (default 1000) and value stack sit well above it. Host re-entry adds a
            // frame per level, so allow two per counted call.
            let frames = (depth as usize).saturating_mul(2).saturating_add(64);
            c.set_max_recursion_depth(frames.max(1000))
                .set_max_stack_height(frames.saturating_mul(4096).max(1_000_000));
        }
        WasmiEngine {
            engine: wasmi::Engine::new(&c),
            wasmi_config: Arc::new(c),
            passes: Arc::new(Passes::for_config(&config)),
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
        self.config.check_module_size(wasm.len())?;
        // wasmi canonicalizes NaNs only behind a cargo feature, which cargo would unify
        // across the whole build: the deterministic profile rewrites the module instead.
        // The original is validated first: the rewrites assume a valid module.
        // Every module gets a wasmi engine of its own: an engine keeps the compiled code of
        // every module it made until the engine itself is dropped, so a host compiling many
        // modules on one engine would grow without end.
        // Growth goes through the host, since wasmi's own `memory.grow` and `table.grow`
        // grow the native stack: see `wasmhost_instrument::grow`.
        let engine = wasmi::Engine::new(&self.wasmi_config);
        let compile_error = |e: wasmi::Error| WasmError::Compile(e.to_string());
        let validate = || wasmi::Module::validate(&self.engine, wasm).map_err(compile_error);
        let new = |bytes: &[u8]| wasmi::Module::new(&engine, bytes).map_err(compile_error);
        let (module, facts, start) = if self.passes.any() {
            validate()?;
            let out = instrument(wasm, &self.passes)?;
            let grown = grow::through_host(&out.wasm)?;
            let module = new(grown.as_deref().unwrap_or(&out.wasm))?;
            (module, out.facts, out.start)
        } else {
            // The original is validated first: the rewrite re-encodes every instruction, and
            // a malformed encoding (a `memory.grow` whose reserved byte is a padded zero, say)
            // comes out well-formed. Skipping it (wasmi then validating only the rewritten
            // module) made spec tests of malformed modules pass where they must fail.
            let module = match grow::through_host(wasm) {
                Ok(Some(grown)) => validate().and_then(|()| new(&grown))?,
                Ok(None) | Err(_) => new(wasm)?,
            };
            (module, ModuleFacts::default(), false)
        };
        Ok(WasmiModule {
            module,
            engine: self.clone(),
            facts: Arc::new(facts),
            start,
        })
    }

    fn interprets(&self) -> bool {
        true
    }

    /// wasmi cannot serialize its compiled code: modules are only cached in memory.
    fn fingerprint(&self) -> String {
        format!("wasmi {WASMI_VERSION} {:?}", self.config)
    }
}

/// The wasmi version this backend is built against (`=` pinned in the workspace).
const WASMI_VERSION: &str = "2.0.0";

/// A module compiled by [`WasmiEngine`].
#[derive(Clone)]
pub struct WasmiModule {
    module: wasmi::Module,
    engine: WasmiEngine,
    facts: Arc<ModuleFacts>,
    /// Whether the start function was moved to an export, to be called after instantiation.
    start: bool,
}

impl Module for WasmiModule {
    type Instance<T: Send + 'static> = WasmiInstance<T>;
    type Prelinked<T: Send + 'static> = WasmiPrelinked<T>;

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
    ) -> Result<WasmiPrelinked<T>, WasmError> {
        let imports = || self.module.imports().filter(|i| i.module() != grow::MODULE);
        host.check_imports(
            imports().map(|i| (i.module(), i.name(), import_type(i.ty()))),
            &self.engine.config,
        )?;
        let externs = provided_externs(host, imports().map(|i| (i.module(), i.name())));
        self.facts.check_limits(&self.engine.config)?;
        // A wasmi linker holds no store: built once here, it serves every instance.
        let mut linker = Linker::<StoreData<T>>::new(self.module.engine());
        link_growth(&mut linker, &self.module)?;
        for f in host.iter() {
            let func = f.clone();
            linker
                .func_new(
                    &f.module,
                    &f.name,
                    wasmi_func_type(&f.sig),
                    move |mut caller, args, results| {
                        let args: Vec<_> = args
                            .iter()
                            .map(|a| to_value(&caller, a))
                            .collect::<Result<_, _>>()?;
                        let mut access = Access::<Wasmi, T>(caller.as_context_mut());
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
        Ok(WasmiPrelinked {
            module: self.clone(),
            linker: Arc::new(linker),
            externs: Arc::new(externs),
        })
    }
}

/// Defines the growth functions `module` imports from [`grow::MODULE`]: each grows the
/// memory or table the rewrite exported, through wasmi's API, and returns the old size, or
/// -1 as the instruction would.
fn link_growth<T>(
    linker: &mut Linker<StoreData<T>>,
    module: &wasmi::Module,
) -> Result<(), WasmError> {
    for import in module.imports().filter(|i| i.module() == grow::MODULE) {
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let defined = if import.name() == grow::MEMORY_GROW {
            linker.func_new(
                grow::MODULE,
                grow::MEMORY_GROW,
                ty,
                |mut caller, args, results| {
                    let delta = args.first().and_then(wasmi::Val::i32).unwrap_or(0) as u32;
                    let memory = caller
                        .get_export(grow::MEMORY_EXPORT)
                        .and_then(wasmi::Extern::into_memory);
                    let old = memory.map_or(Err(()), |m| {
                        m.grow(&mut caller, u64::from(delta)).map_err(drop)
                    });
                    results[0] = wasmi::Val::I32(old.map_or(-1, |pages| pages as i32));
                    Ok(())
                },
            )
        } else if let Some(index) = grow::table_grow_index(import.name()) {
            let export = grow::table_export(index);
            linker.func_new(
                grow::MODULE,
                import.name(),
                ty,
                move |mut caller, args, results| {
                    let init = match args.first() {
                        Some(wasmi::Val::FuncRef(f)) => wasmi::Ref::Func(*f),
                        Some(wasmi::Val::ExternRef(e)) => wasmi::Ref::Extern(*e),
                        _ => {
                            return Err(host_failure(WasmError::host(
                                "table.grow without a reference",
                            )));
                        }
                    };
                    let delta = args.get(1).and_then(wasmi::Val::i32).unwrap_or(0) as u32;
                    let table = caller
                        .get_export(&export)
                        .and_then(wasmi::Extern::into_table);
                    let old = table.map_or(Err(()), |t| {
                        t.grow(&mut caller, u64::from(delta), init).map_err(drop)
                    });
                    results[0] = wasmi::Val::I32(old.map_or(-1, |size| size as i32));
                    Ok(())
                },
            )
        } else {
            continue;
        };
        defined.map_err(|e| WasmError::Link(e.to_string()))?;
    }
    Ok(())
}

/// A [`WasmiModule`] linked with its host functions: see [`Module::prelink`].
pub struct WasmiPrelinked<T> {
    module: WasmiModule,
    linker: Arc<Linker<StoreData<T>>>,
    /// The globals, memories and tables the host provides for the module's imports: made
    /// in each instance's store, so each instance links with a linker of its own.
    externs: Arc<Vec<(String, String, ExternKind)>>,
}

impl<T> Clone for WasmiPrelinked<T> {
    fn clone(&self) -> Self {
        WasmiPrelinked {
            module: self.module.clone(),
            linker: Arc::clone(&self.linker),
            externs: Arc::clone(&self.externs),
        }
    }
}

impl<T: Send + 'static> Prelinked<T> for WasmiPrelinked<T> {
    type Instance = WasmiInstance<T>;

    fn instantiate(&self, state: T) -> Result<WasmiInstance<T>, WasmError> {
        let module = &self.module;
        let config = &module.engine.config;
        let mut store = Store::new(
            module.module.engine(),
            StoreData::new(state, Arc::clone(config)),
        );
        if config.metering == Metering::Native {
            store.set_fuel(config.initial_fuel).map_err(map_error)?;
        }
        let instance = if self.externs.is_empty() {
            self.linker
                .instantiate_and_start(&mut store, &module.module)
        } else {
            let mut linker = Linker::clone(&self.linker);
            for (from, name, kind) in self.externs.iter() {
                let made = provided_extern(&mut store, kind)?;
                linker
                    .define(from, name, made)
                    .map_err(|e| WasmError::Link(e.to_string()))?;
            }
            linker.instantiate_and_start(&mut store, &module.module)
        }
        .map_err(map_error)?;
        StoreData::attach(&mut store.as_context_mut(), instance);
        let engine = &module.engine;
        let guarded = engine.passes.any() || engine.config.metering != Metering::Off;
        WasmiInstance::new(store, guarded, module.start)
    }
}

/// A global, memory or table the host provides, made in the instance's store.
fn provided_extern<T>(
    store: &mut Store<StoreData<T>>,
    kind: &ExternKind,
) -> Result<wasmi::Extern, WasmError> {
    let link = |e: wasmi::Error| WasmError::Link(format!("a provided import: {e}"));
    let size = |n: u64| {
        u32::try_from(n).map_err(|_| WasmError::Link("a provided import is too large".into()))
    };
    Ok(match kind {
        ExternKind::Global { value, mutable } => {
            let mutability = if *mutable {
                wasmi::Mutability::Var
            } else {
                wasmi::Mutability::Const
            };
            let value = to_val(&mut *store, *value)?;
            wasmi::Global::new(&mut *store, value, mutability).into()
        }
        ExternKind::Memory(limits) => {
            let ty = wasmi::MemoryType::new(
                size(limits.minimum)?,
                limits.maximum.map(size).transpose()?,
            );
            wasmi::Memory::new(&mut *store, ty).map_err(link)?.into()
        }
        ExternKind::Table { element, limits } => {
            let element = match from_valtype(*element) {
                wasmi::ValType::ExternRef => wasmi::RefType::Extern,
                _ => wasmi::RefType::Func,
            };
            let ty = wasmi::TableType::new(
                element,
                size(limits.minimum)?,
                limits.maximum.map(size).transpose()?,
            );
            let null = wasmi::Ref::null(element);
            wasmi::Table::new(&mut *store, ty, null)
                .map_err(link)?
                .into()
        }
    })
}
