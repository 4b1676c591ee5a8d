//! Compiling, linking and instantiating on wasmtime ([`wasmhost_backend::Compiler`]).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use wasmhost_api::{
    Config, ExternKind, HostFunctions, MemoryReservation, Metering, StackLimit, WasmError,
};
use wasmhost_backend::{Compiler, Import, provided_externs};
use wasmtime::{AsContextMut, InstancePre, Linker, Store};

use crate::convert::{
    from_valtype, host_failure, import_type, map_error, to_val, to_value, wasmtime_func_type,
};
use crate::{StoreData, Wasmtime};

/// The wasmtime version this backend is built against (`=` pinned in the workspace).
const WASMTIME_VERSION: &str = "48.0.0";

/// The native stack wasm may use when an instrumented call-depth limit is in force: room
/// for the limit's frames, so that the limit, not wasmtime's stack check, stops a guest.
/// Wasm runs on the calling thread's own stack, so this stays well inside the 2 MiB that
/// Rust gives a spawned thread.
const DEPTH_LIMITED_STACK: usize = 1 << 20;

/// wasmtime's configuration for `config`: the contract's wasm feature set, and wasmtime's
/// own fuel as the native meter.
fn wasmtime_config(config: &Config) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    // Align with the feature set `Config` documents (wasmtime's defaults turn more on;
    // threads are off without wasmtime's `threads` cargo feature, which we do not build).
    c.wasm_tail_call(false)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
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
    // Interruption by the instrumentation's flag check, as on the other engines, rather
    // than wasmtime's epoch check: the epoch check's slow path is a call, around which
    // cranelift spills the float registers a loop keeps live (the matrix product ran
    // 2.5x slower with it, 1.2x with the flag). The flag lives in a memory of its own.
    c.wasm_multi_memory(config.interruptible);
    match config.stack_limit() {
        // A native frame holds at most about four times what the limit counts for it (the
        // smallest: a return address, a frame pointer, saved registers against 32 bytes),
        // so a larger byte limit than the default needs a larger stack, and a thread with it.
        Some(StackLimit::Bytes(bytes)) => {
            c.max_wasm_stack(DEPTH_LIMITED_STACK.max(4 * bytes as usize));
        }
        Some(StackLimit::Frames(_)) => {
            c.max_wasm_stack(DEPTH_LIMITED_STACK);
        }
        None => {}
    }
    if config.memory_reservation == MemoryReservation::Compact {
        // Explicit bounds checks instead of a 4 GiB reservation with guard pages; a little
        // room to grow in place, so a guest growing a page at a time does not copy its
        // memory on every grow. The GC heap (externref) is laid out the same way.
        c.memory_reservation(0)
            .memory_guard_size(0)
            .memory_reservation_for_growth(COMPACT_GROWTH_ROOM)
            .guard_before_linear_memory(false)
            .gc_heap_reservation(0)
            .gc_heap_guard_size(0)
            .gc_heap_reservation_for_growth(COMPACT_GROWTH_ROOM);
    }
    c
}

/// Address space a compact memory reserves past its size, to grow into without moving.
const COMPACT_GROWTH_ROOM: u64 = 1 << 20;

impl Compiler for Wasmtime {
    const NAME: &'static str = "wasmtime";
    const SERIALIZES: bool = true;
    /// Compiles every module: unlike the other engines, wasmtime frees a module's code when
    /// the module is dropped, so one engine serves a host compiling without end.
    type Engine = wasmtime::Engine;
    type Module = wasmtime::Module;
    type Linked<T: Send + 'static> = WasmtimeLinked<T>;

    fn engine(config: &Config) -> wasmtime::Engine {
        wasmtime::Engine::new(&wasmtime_config(config))
            // Every setting above is one wasmtime 48 supports with the features we build.
            .expect("the contract's wasmtime configuration is valid")
    }

    /// Not by wasmtime's own `Module::validate`, which accepts some malformed encodings
    /// that its compiler refuses (see `wasmhost_instrument::validate`); wasmtime validates
    /// the rewritten module as it compiles it.
    fn validate(_: &wasmtime::Engine, wasm: &[u8]) -> Result<(), WasmError> {
        wasmhost_instrument::validate(wasm)
    }

    fn build(
        engine: &wasmtime::Engine,
        _: &Config,
        wasm: &[u8],
        _: bool,
    ) -> Result<wasmtime::Module, WasmError> {
        wasmtime::Module::new(engine, wasm).map_err(|e| WasmError::Compile(format!("{e:#}")))
    }

    fn exports(module: &wasmtime::Module) -> impl Iterator<Item = (String, wasmtime::FuncType)> {
        module
            .exports()
            .filter_map(|e| Some((e.name().to_string(), e.ty().func()?.clone())))
    }

    fn imports(module: &wasmtime::Module) -> impl Iterator<Item = Import> {
        module
            .imports()
            .map(|i| (i.module().into(), i.name().into(), import_type(&i.ty())))
    }

    fn link<T: Send + 'static>(
        engine: &wasmtime::Engine,
        module: &wasmtime::Module,
        host: &HostFunctions<T>,
        imports: &[Import],
    ) -> Result<WasmtimeLinked<T>, WasmError> {
        let externs = provided_externs(host, imports.iter().map(|(m, n, _)| (&**m, &**n)));
        let mut linker = Linker::<StoreData<T>>::new(engine);
        wasmhost_backend::link_host_functions!(linker, host, Wasmtime, |sig| wasmtime_func_type(
            engine, sig
        ));
        // With functions only, every import resolves now: instances skip the linker.
        Ok(if externs.is_empty() {
            WasmtimeLinked(Linked::Pre(
                linker
                    .instantiate_pre(module)
                    .map_err(|e| WasmError::Link(format!("{e:#}")))?,
            ))
        } else {
            WasmtimeLinked(Linked::PerInstance {
                linker,
                externs: Arc::new(externs),
            })
        })
    }

    fn store<T: Send + 'static>(
        module: &wasmtime::Module,
        data: StoreData<T>,
    ) -> Store<StoreData<T>> {
        Store::new(module.engine(), data)
    }

    fn instantiate<T: Send + 'static>(
        module: &wasmtime::Module,
        linked: &WasmtimeLinked<T>,
        store: &mut Store<StoreData<T>>,
    ) -> Result<wasmtime::Instance, WasmError> {
        let store = &mut *store;
        match &linked.0 {
            Linked::Pre(pre) => pre.instantiate(&mut *store),
            Linked::PerInstance { linker, externs } => {
                let mut linker = linker.clone();
                for (from, name, kind) in externs.iter() {
                    let made = provided_extern(store, kind)?;
                    linker
                        .define(&*store, from, name, made)
                        .map_err(|e| WasmError::Link(e.to_string()))?;
                }
                linker.instantiate(&mut *store, module)
            }
        }
        .map_err(map_error)
    }

    fn fingerprint(engine: &wasmtime::Engine) -> String {
        // Cranelift compiles for the processor it runs on: wasmtime's compatibility hash
        // covers the target, its features and every setting that changes the code.
        let mut hash = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hash);
        format!(
            "wasmtime {WASMTIME_VERSION} {:016x} {}-{}",
            hash.finish(),
            std::env::consts::ARCH,
            std::env::consts::OS,
        )
    }

    fn serialize(module: &wasmtime::Module, out: &mut Vec<u8>) -> Result<(), WasmError> {
        let artifact = module.serialize();
        out.extend_from_slice(&artifact.map_err(|e| WasmError::Engine(e.to_string()))?);
        Ok(())
    }

    unsafe fn deserialize(
        engine: &wasmtime::Engine,
        artifact: &[u8],
    ) -> Result<wasmtime::Module, WasmError> {
        // SAFETY: the caller guarantees these are bytes `serialize` produced under this
        // fingerprint. wasmtime checks the artifact's header and engine settings too.
        unsafe { wasmtime::Module::deserialize(engine, artifact) }
            .map_err(|e| WasmError::Engine(e.to_string()))
    }
}

/// What a [`crate::WasmtimePrelinked`] instantiates with.
pub struct WasmtimeLinked<T: 'static>(Linked<T>);

impl<T> Clone for WasmtimeLinked<T> {
    fn clone(&self) -> Self {
        WasmtimeLinked(self.0.clone())
    }
}

/// How a [`crate::WasmtimePrelinked`] makes its instances.
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
