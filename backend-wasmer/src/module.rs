//! Compiling, linking and instantiating on wasmer ([`wasmhost_backend::Compiler`]).

use std::sync::Arc;

use std::ptr::NonNull;
use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition,
};
use wasmer::sys::{
    BaseTunables, CompilerConfig, Cranelift, EngineBuilder, Features, NativeEngineExt, Tunables,
};
use wasmer::wasmparser::Operator;
use wasmer::{
    Extern, Function, FunctionEnv, FunctionEnvMut, Global, Memory, MemoryType, Pages, Store, Table,
    TableType,
};
use wasmer_middlewares::Metering as MeteringMiddleware;
use wasmhost_api::{
    Config, ExternKind, HostFunctions, HostImport, MemoryReservation, Metering, WasmError,
};
use wasmhost_backend::{Access, Compiler, Import, first_of_each};

use crate::convert::{
    from_valtype, host_failure, import_type, map_instantiation_error, to_value, to_wasmer,
    wasmer_func_type,
};
use crate::{Env, Wasmer, WasmerStore};

/// A module wasmer compiled, with the engine of its own that compiled it (see
/// [`Compiler::build`] below), which its stores use.
#[derive(Clone)]
pub struct WasmerCompiled {
    module: wasmer::Module,
    engine: wasmer::Engine,
}

/// What a [`crate::WasmerPrelinked`] instantiates with.
pub struct WasmerLinked<T> {
    /// What the host provides for each import, in import order.
    imports: Arc<Vec<HostImport<T>>>,
    /// For each import, the first import of the same name: a module importing one global,
    /// memory or table twice gets the same one twice.
    first: Arc<Vec<usize>>,
}

impl<T> Clone for WasmerLinked<T> {
    fn clone(&self) -> Self {
        WasmerLinked {
            imports: Arc::clone(&self.imports),
            first: Arc::clone(&self.first),
        }
    }
}

impl Compiler for Wasmer {
    const NAME: &'static str = "wasmer";
    const SERIALIZES: bool = true;
    /// The alignment wasmer's archive needs where it is read in place
    /// (`wasmer_types::MetadataHeader::ALIGN`).
    const ARTIFACT_ALIGN: Option<usize> = Some(16);
    /// Validates, and names the compiler in the fingerprint; modules are compiled and loaded
    /// by engines of their own (see `build`).
    type Engine = wasmer::Engine;
    type Module = WasmerCompiled;
    type Linked<T: Send + 'static> = WasmerLinked<T>;

    fn engine(config: &Config) -> wasmer::Engine {
        if config.call_depth_limit().is_some() {
            // The instrumented depth limit must be the one that stops a guest, not wasmer's
            // native stack (1 MiB by default, process-wide): raise it, never lower it.
            let counted = match config.stack_limit() {
                Some(wasmhost_api::StackLimit::Bytes(bytes)) => 4 * bytes as usize,
                _ => 0,
            };
            let wanted = counted.max(8 << 20);
            if wasmer::sys::vm::get_stack_size() < wanted {
                wasmer::sys::vm::set_stack_size(wanted);
            }
        }
        build_engine(config.memory_reservation, None, false)
    }

    fn validate(engine: &wasmer::Engine, wasm: &[u8]) -> Result<(), WasmError> {
        wasmer::Module::validate(engine, wasm).map_err(|e| WasmError::Compile(e.to_string()))
    }

    fn build(
        _: &wasmer::Engine,
        config: &Config,
        wasm: &[u8],
        _: bool,
    ) -> Result<WasmerCompiled, WasmError> {
        // Every module gets a wasmer engine of its own: an engine keeps the code of every
        // module it compiled until the engine itself is dropped, so a host compiling many
        // modules on one engine would grow without end (and abort once the kernel refuses
        // more mappings). wasmer's metering middleware also belongs to one module.
        let metering = (config.metering == Metering::Native).then(|| {
            // One unit an operator, as wasmer's own examples count.
            let cost: CostFn = |_| 1;
            Arc::new(MeteringMiddleware::new(config.initial_fuel, cost))
        });
        // The interruption checks read a memory of their own, added after the module's: the
        // module itself was validated without multi-memory, which the contract leaves off.
        let engine = build_engine(config.memory_reservation, metering, config.interruptible);
        let module =
            wasmer::Module::new(&engine, wasm).map_err(|e| WasmError::Compile(e.to_string()))?;
        Ok(WasmerCompiled { module, engine })
    }

    fn exports(module: &WasmerCompiled) -> impl Iterator<Item = (String, wasmer::FunctionType)> {
        module
            .module
            .exports()
            .filter_map(|e| Some((e.name().to_string(), e.ty().func()?.clone())))
    }

    fn imports(module: &WasmerCompiled) -> impl Iterator<Item = Import> {
        module
            .module
            .imports()
            .map(|i| (i.module().into(), i.name().into(), import_type(i.ty())))
    }

    fn link<T: Send + 'static>(
        _: &wasmer::Engine,
        _: &WasmerCompiled,
        host: &HostFunctions<T>,
        imports: &[Import],
    ) -> Result<WasmerLinked<T>, WasmError> {
        // In import order, so that instances link by index, without looking names up; a
        // host function the module does not import is not made at all.
        let resolved = imports
            .iter()
            .filter_map(|(module, name, _)| host.resolve(module, name))
            .collect();
        Ok(WasmerLinked {
            imports: Arc::new(resolved),
            first: Arc::new(first_of_each(imports)),
        })
    }

    fn store<T: Send + 'static>(module: &WasmerCompiled, data: Env<T>) -> WasmerStore<T> {
        let mut store = Store::new(module.engine.clone());
        let env = FunctionEnv::new(&mut store, data);
        WasmerStore { store, env }
    }

    fn instantiate<T: Send + 'static>(
        module: &WasmerCompiled,
        linked: &WasmerLinked<T>,
        own: &mut WasmerStore<T>,
    ) -> Result<wasmer::Exports, WasmError> {
        let WasmerStore { store, env } = own;
        let mut externs: Vec<Extern> = Vec::with_capacity(linked.imports.len());
        for (i, import) in linked.imports.iter().enumerate() {
            if let Some(same) = linked.first.get(i).filter(|&&first| first < i) {
                externs.push(externs[*same].clone());
                continue;
            }
            externs.push(match import {
                HostImport::Func(f) => {
                    let host_func = f.clone();
                    let function = Function::new_with_env(
                        store,
                        env,
                        wasmer_func_type(&f.sig),
                        move |fenv: FunctionEnvMut<Env<T>>, args: &[wasmer::Value]| {
                            let args: Vec<_> = args
                                .iter()
                                .map(|a| to_value(&fenv, a))
                                .collect::<Result<_, _>>()?;
                            let mut out = Vec::new();
                            Access::<Wasmer, T>::host_call(fenv, &host_func, &args, |cx, v| {
                                to_wasmer(cx, v).map(|v| out.push(v))
                            })
                            .map_err(host_failure)?;
                            Ok(out)
                        },
                    );
                    Extern::from(function)
                }
                HostImport::Extern(kind) => provided_extern(store, kind)?,
            });
        }
        let instance = wasmer::Instance::new_by_index(store, &module.module, &externs)
            .map_err(map_instantiation_error)?;
        Ok(instance.exports.clone())
    }

    fn fingerprint(engine: &wasmer::Engine) -> String {
        // Cranelift compiles for the processor it runs on, so its code is bound to these
        // features; the version pins the artifact format.
        format!(
            "wasmer {} {} {}-{} {:?}",
            wasmer_types::VERSION,
            engine.deterministic_id(),
            std::env::consts::ARCH,
            std::env::consts::OS,
            wasmer::sys::CpuFeature::for_host(),
        )
    }

    fn serialize(module: &WasmerCompiled, out: &mut Vec<u8>) -> Result<(), WasmError> {
        let artifact = module.module.serialize();
        out.extend_from_slice(&artifact.map_err(|e| WasmError::Engine(e.to_string()))?);
        Ok(())
    }

    unsafe fn deserialize(
        config_engine: &wasmer::Engine,
        artifact: &[u8],
    ) -> Result<WasmerCompiled, WasmError> {
        // Multi-memory on: the artifact may hold the interruption checks' memory.
        let engine = build_engine(reservation_of(config_engine), None, true);
        // SAFETY: the caller guarantees these are bytes `serialize` produced under this
        // fingerprint. (wasmer copies them.)
        let module = unsafe { wasmer::Module::deserialize(&engine, artifact) };
        let module = module.map_err(|e| WasmError::Engine(e.to_string()))?;
        Ok(WasmerCompiled { module, engine })
    }

    unsafe fn deserialize_aligned(
        config_engine: &wasmer::Engine,
        buffer: Vec<u8>,
        at: usize,
    ) -> Result<WasmerCompiled, WasmError> {
        let engine = build_engine(reservation_of(config_engine), None, true);
        let archive = bytes::Bytes::from(buffer).slice(at..);
        // SAFETY: as in `deserialize`; wasmer reads the archive in place, aligned.
        let module = unsafe { wasmer::Module::deserialize(&engine, archive) };
        let module = module.map_err(|e| WasmError::Engine(e.to_string()))?;
        Ok(WasmerCompiled { module, engine })
    }
}

/// The native meter's cost function.
type CostFn = fn(&Operator<'_>) -> u64;

/// A cranelift engine with the contract's feature set (and multi-memory when
/// `multi_memory`), memories laid out as `reservation` says, and a metering middleware if
/// given.
fn build_engine(
    reservation: MemoryReservation,
    metering: Option<Arc<MeteringMiddleware<CostFn>>>,
    multi_memory: bool,
) -> wasmer::Engine {
    let mut features = Features::new();
    // Align with the feature set `Config` documents (wasmer's defaults turn more on).
    features
        .threads(false)
        .simd(true)
        .relaxed_simd(true)
        .multi_memory(multi_memory)
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
    let mut engine: wasmer::Engine = EngineBuilder::new(compiler)
        .set_features(Some(features))
        .engine()
        .into();
    if reservation == MemoryReservation::Compact {
        engine.set_tunables(CompactTunables(BaseTunables::new()));
    }
    engine
}

/// The memory reservation an engine from [`build_engine`] was built with, read back from
/// its tunables (a deserialized module gets an engine of its own, built the same way).
fn reservation_of(engine: &wasmer::Engine) -> MemoryReservation {
    match engine
        .tunables()
        .memory_style(&MemoryType::new(0, None, false))
    {
        MemoryStyle::Dynamic { .. } => MemoryReservation::Compact,
        MemoryStyle::Static => MemoryReservation::Guarded,
    }
}

/// wasmer's own tunables, but with every memory dynamic and unguarded
/// ([`MemoryReservation::Compact`]): cranelift then emits a bounds check on each access,
/// and a memory maps only its current size (moving when it grows).
struct CompactTunables(BaseTunables);

impl Tunables for CompactTunables {
    fn memory_style(&self, _: &MemoryType) -> MemoryStyle {
        MemoryStyle::Dynamic {
            offset_guard_size: 0,
        }
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.0.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.0.create_host_memory(ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe { self.0.create_vm_memory(ty, style, vm_definition_location) }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.0.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe { self.0.create_vm_table(ty, style, vm_definition_location) }
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
