//! Compiling, linking and instantiating on wasmi ([`wasmhost_backend::Compiler`]).

use std::sync::Arc;

use wasmhost_api::{Config, ExternKind, HostFunctions, Metering, WasmError};
use wasmhost_backend::{Compiler, Import, provided_externs};
use wasmhost_instrument::grow;
use wasmi::{AsContextMut, Linker, Store};

use crate::convert::{
    from_valtype, host_failure, import_type, map_error, to_val, to_value, wasmi_func_type,
};
use crate::{StoreData, Wasmi};

/// The wasmi version this backend is built against (`=` pinned in the workspace).
const WASMI_VERSION: &str = "2.0.0";

/// wasmi's side of a [`crate::WasmiEngine`]: an engine that validates, and the settings
/// each module's own engine is made with.
#[derive(Clone)]
pub struct WasmiSetup {
    validator: wasmi::Engine,
    config: Arc<wasmi::Config>,
}

/// What a [`crate::WasmiPrelinked`] instantiates with.
pub struct WasmiLinked<T> {
    /// A wasmi linker holds no store: built once, it serves every instance.
    linker: Arc<Linker<StoreData<T>>>,
    /// The globals, memories and tables the host provides for the module's imports: made
    /// in each instance's store, so each instance links with a linker of its own.
    externs: Arc<Vec<(String, String, ExternKind)>>,
}

impl<T> Clone for WasmiLinked<T> {
    fn clone(&self) -> Self {
        WasmiLinked {
            linker: Arc::clone(&self.linker),
            externs: Arc::clone(&self.externs),
        }
    }
}

/// wasmi's frame limit without an instrumented depth limit: deeper than the compiled
/// engines' native stacks reach with small frames (about 32 000 on wasmer, 16 000 on
/// wasmtime), so that wasmi does not stop real programs shallower than they do.
const UNLIMITED_FRAMES: usize = 1 << 16;

/// wasmi's value stack limit without an instrumented depth limit, in bytes (heap, grown on
/// demand): 64 MiB.
const UNLIMITED_STACK_BYTES: usize = 64 << 20;

impl Compiler for Wasmi {
    const NAME: &'static str = "wasmi";
    const INTERPRETS: bool = true;
    // wasmi cannot serialize its compiled code: modules are only cached in memory.
    type Engine = WasmiSetup;
    type Module = wasmi::Module;
    type Linked<T: Send + 'static> = WasmiLinked<T>;

    fn engine(config: &Config) -> WasmiSetup {
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
            // count and value stack sit well above it. Host re-entry adds a frame per
            // level, so allow two per counted call.
            let frames = (depth as usize).saturating_mul(2).saturating_add(64);
            c.set_max_recursion_depth(frames.max(UNLIMITED_FRAMES))
                .set_max_stack_height(frames.saturating_mul(4096).max(UNLIMITED_STACK_BYTES));
        } else {
            // wasmi's defaults (1 000 frames, 1 MB of values) stop real recursion that the
            // compiled engines run (shootout-ackermann needs about 1 030 frames), where
            // wasmer's and wasmtime's native stacks hold tens of thousands of small frames.
            // wasmi's frames live on the heap, not the native stack, so deeper costs only
            // memory, and only when used.
            c.set_max_recursion_depth(UNLIMITED_FRAMES)
                .set_max_stack_height(UNLIMITED_STACK_BYTES);
        }
        // The host's module is validated without multi-memory, which the contract leaves
        // off; the interruption checks read a memory of their own, added after it.
        let validator = wasmi::Engine::new(&c);
        c.wasm_multi_memory(config.interruptible);
        WasmiSetup {
            validator,
            config: Arc::new(c),
        }
    }

    fn validate(engine: &WasmiSetup, wasm: &[u8]) -> Result<(), WasmError> {
        wasmi::Module::validate(&engine.validator, wasm).map_err(compile_error)
    }

    fn build(
        engine: &WasmiSetup,
        _: &Config,
        wasm: &[u8],
        rewritten: bool,
    ) -> Result<wasmi::Module, WasmError> {
        // wasmi canonicalizes NaNs only behind a cargo feature, which cargo would unify
        // across the whole build: the deterministic profile rewrites the module instead.
        // Every module gets a wasmi engine of its own: an engine keeps the compiled code of
        // every module it made until the engine itself is dropped, so a host compiling many
        // modules on one engine would grow without end.
        // Growth goes through the host, since wasmi's own `memory.grow` and `table.grow`
        // grow the native stack: see `wasmhost_instrument::grow`.
        let own = wasmi::Engine::new(&engine.config);
        let new = |bytes: &[u8]| wasmi::Module::new(&own, bytes).map_err(compile_error);
        match grow::through_host(wasm) {
            Ok(Some(grown)) if rewritten => new(&grown),
            // The original is validated first: the rewrite re-encodes every instruction,
            // and a malformed encoding (a `memory.grow` whose reserved byte is a padded
            // zero, say) comes out well-formed. Skipping it (wasmi then validating only the
            // rewritten module) made spec tests of malformed modules pass where they must
            // fail.
            Ok(Some(grown)) => Self::validate(engine, wasm).and_then(|()| new(&grown)),
            Ok(None) => new(wasm),
            Err(e) if rewritten => Err(e),
            Err(_) => new(wasm),
        }
    }

    fn exports(module: &wasmi::Module) -> impl Iterator<Item = (String, wasmi::FuncType)> {
        module
            .exports()
            .filter_map(|e| Some((e.name().to_string(), e.ty().func()?.clone())))
    }

    fn imports(module: &wasmi::Module) -> impl Iterator<Item = Import> {
        module
            .imports()
            .filter(|i| i.module() != grow::MODULE)
            .map(|i| (i.module().into(), i.name().into(), import_type(i.ty())))
    }

    fn link<T: Send + 'static>(
        _: &WasmiSetup,
        module: &wasmi::Module,
        host: &HostFunctions<T>,
        imports: &[Import],
    ) -> Result<WasmiLinked<T>, WasmError> {
        let externs = provided_externs(host, imports.iter().map(|(m, n, _)| (&**m, &**n)));
        let mut linker = Linker::<StoreData<T>>::new(module.engine());
        link_growth(&mut linker, module)?;
        wasmhost_backend::link_host_functions!(linker, host, Wasmi, wasmi_func_type);
        Ok(WasmiLinked {
            linker: Arc::new(linker),
            externs: Arc::new(externs),
        })
    }

    fn store<T: Send + 'static>(module: &wasmi::Module, data: StoreData<T>) -> Store<StoreData<T>> {
        Store::new(module.engine(), data)
    }

    fn instantiate<T: Send + 'static>(
        module: &wasmi::Module,
        linked: &WasmiLinked<T>,
        store: &mut Store<StoreData<T>>,
    ) -> Result<wasmi::Instance, WasmError> {
        let store = &mut *store;
        if linked.externs.is_empty() {
            linked.linker.instantiate_and_start(&mut *store, module)
        } else {
            let mut linker = Linker::clone(&linked.linker);
            for (from, name, kind) in linked.externs.iter() {
                let made = provided_extern(store, kind)?;
                linker
                    .define(from, name, made)
                    .map_err(|e| WasmError::Link(e.to_string()))?;
            }
            linker.instantiate_and_start(&mut *store, module)
        }
        .map_err(map_error)
    }

    fn fingerprint(_: &WasmiSetup) -> String {
        format!("wasmi {WASMI_VERSION}")
    }
}

fn compile_error(e: wasmi::Error) -> WasmError {
    WasmError::Compile(e.to_string())
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
