//! The module half every backend shares: the engine with its configuration and rewrites,
//! compiling (validate, instrument, build), a module's exports, pre-linking, instantiating,
//! and the header of a serialized module.
//!
//! A backend implements [`Compiler`]: its engine, how it validates and builds a module, its
//! imports and exports, how it links host functions and makes a store, and its artifact.
//! [`Engine`], [`Module`] and [`Prelinked`] do the rest, the same way on every engine.

use std::sync::{Arc, OnceLock};

use wasmhost_api::{Config, ExportInfo, HostFunctions, ImportType, WasmError};
use wasmhost_instrument::{ModuleFacts, Passes, instrument};

use crate::reset::Pristine;
use crate::{AbiCalls, Instance, StoreData};

/// One import of a module: module name, field name, and what it is.
pub type Import = (String, String, ImportType);

/// What a backend does to compile, link and instantiate on its engine.
pub trait Compiler: AbiCalls {
    /// The engine's name, as [`wasmhost_api::Engine::name`] gives it.
    const NAME: &'static str;
    /// Whether the engine interprets rather than compiles to native code.
    const INTERPRETS: bool = false;
    /// Whether compiled modules can be serialized ([`Compiler::serialize`]).
    const SERIALIZES: bool = false;
    /// The alignment the artifact needs where it is loaded in place; the header then pads
    /// up to it (after a byte saying how much). `None`: no padding, no pad byte.
    const ARTIFACT_ALIGN: Option<usize> = None;

    /// What the engine keeps for one configuration.
    type Engine: Clone + Send + Sync + 'static;
    /// A compiled module.
    type Module: Clone + Send + Sync + 'static;
    /// A module linked with host functions over state `T`.
    type Linked<T: Send + 'static>: Clone + Send + Sync + 'static;

    /// The engine for `config`, with the contract's wasm feature set.
    fn engine(config: &Config) -> Self::Engine;

    /// Validates `wasm` as the engine would compile it, with the contract's feature set
    /// (multi-memory off, even where the engine turns it on for the interruption checks).
    ///
    /// # Errors
    /// [`WasmError::Compile`] for an invalid module.
    fn validate(engine: &Self::Engine, wasm: &[u8]) -> Result<(), WasmError>;

    /// Compiles `wasm`: the instrumentation's output when `rewritten` (then already
    /// validated in its original form), the host's module as it is otherwise.
    ///
    /// # Errors
    /// [`WasmError::Compile`] for a module the engine refuses.
    fn build(
        engine: &Self::Engine,
        config: &Config,
        wasm: &[u8],
        rewritten: bool,
    ) -> Result<Self::Module, WasmError>;

    /// The module's exported functions, with their types.
    fn exports(module: &Self::Module) -> impl Iterator<Item = (String, Self::FuncType)>;

    /// The module's imports, in order (the host's growth functions on wasmi left out).
    fn imports(module: &Self::Module) -> impl Iterator<Item = Import>;

    /// Links `host`'s functions for `module`, whose `imports` the host satisfies.
    ///
    /// # Errors
    /// [`WasmError::Link`] when the engine refuses a definition.
    fn link<T: Send + 'static>(
        engine: &Self::Engine,
        module: &Self::Module,
        host: &HostFunctions<T>,
        imports: &[Import],
    ) -> Result<Self::Linked<T>, WasmError>;

    /// A new store for `module`, holding `data`.
    fn store<T: Send + 'static>(module: &Self::Module, data: StoreData<Self, T>) -> Self::Store<T>;

    /// Instantiates `module` in `store` (running the engine's start function), and gives
    /// the instance's exports.
    ///
    /// # Errors
    /// [`WasmError::Link`] for a provided import the engine refuses; the start function's
    /// error.
    fn instantiate<T: Send + 'static>(
        module: &Self::Module,
        linked: &Self::Linked<T>,
        store: &mut Self::Store<T>,
    ) -> Result<Self::Exports, WasmError>;

    /// What the engine's compiled code depends on (version, target, settings), for the
    /// module cache's key.
    fn fingerprint(engine: &Self::Engine) -> String;

    /// Appends the engine's artifact for `module` to `out`, when [`Compiler::SERIALIZES`].
    ///
    /// # Errors
    /// [`WasmError::Engine`] when the engine cannot serialize it.
    fn serialize(module: &Self::Module, out: &mut Vec<u8>) -> Result<(), WasmError> {
        let _ = (module, out);
        Err(not_serializable::<Self>())
    }

    /// The module an artifact of [`Compiler::serialize`] holds.
    ///
    /// # Safety
    /// As [`wasmhost_api::Engine::deserialize`], for the artifact.
    ///
    /// # Errors
    /// [`WasmError::Engine`] when the engine rejects it.
    unsafe fn deserialize(
        engine: &Self::Engine,
        artifact: &[u8],
    ) -> Result<Self::Module, WasmError> {
        let _ = (engine, artifact);
        Err(not_serializable::<Self>())
    }

    /// [`Compiler::deserialize`] of `buffer[at..]`, where the artifact lies aligned to
    /// [`Compiler::ARTIFACT_ALIGN`]: the buffer is handed over, for an engine that reads its
    /// artifact in place instead of copying megabytes into fresh pages.
    ///
    /// # Safety
    /// As [`Compiler::deserialize`], for `buffer[at..]`, where `at <= buffer.len()`.
    ///
    /// # Errors
    /// As [`Compiler::deserialize`].
    unsafe fn deserialize_aligned(
        engine: &Self::Engine,
        buffer: Vec<u8>,
        at: usize,
    ) -> Result<Self::Module, WasmError> {
        // SAFETY: the caller's guarantee.
        unsafe { Self::deserialize(engine, &buffer[at..]) }
    }
}

fn not_serializable<B: Compiler>() -> WasmError {
    WasmError::Engine(format!("{} cannot load serialized modules", B::NAME))
}

fn malformed() -> WasmError {
    WasmError::Engine("not a serialized wasmhost module".into())
}

/// A backend's engine with a wasmhost [`Config`].
pub struct Engine<B: Compiler> {
    engine: B::Engine,
    config: Arc<Config>,
    /// The rewrites `config` needs.
    passes: Arc<Passes>,
}

impl<B: Compiler> Clone for Engine<B> {
    fn clone(&self) -> Self {
        Engine {
            engine: self.engine.clone(),
            config: Arc::clone(&self.config),
            passes: Arc::clone(&self.passes),
        }
    }
}

impl<B: Compiler> Engine<B> {
    /// An engine for `config`, with the contract's wasm feature set.
    pub fn new(mut config: Config) -> Self {
        // A deadline needs the checks, however the field was set.
        config.interruptible |= config.call_timeout.is_some();
        Engine {
            engine: B::engine(&config),
            passes: Arc::new(Passes::for_config(&config)),
            config: Arc::new(config),
        }
    }

    /// Whether calls need the meters' and the passes' bookkeeping.
    fn guarded(&self) -> bool {
        self.passes.any()
            || self.config.metering != wasmhost_api::Metering::Off
            || self.config.interruptible
    }

    /// A module of this engine, with what the instrumentation learned of it.
    fn module(&self, module: B::Module, facts: ModuleFacts, start: bool) -> Module<B> {
        Module {
            module,
            engine: self.clone(),
            facts: Arc::new(facts),
            start,
            pristine: Arc::new(OnceLock::new()),
        }
    }
}

impl<B: Compiler> Default for Engine<B> {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl<B: Compiler> wasmhost_api::Engine for Engine<B> {
    type Module = Module<B>;

    fn name(&self) -> &'static str {
        B::NAME
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn compile(&self, wasm: &[u8]) -> Result<Module<B>, WasmError> {
        self.config.check_module_size(wasm.len())?;
        if !self.passes.any() {
            let module = B::build(&self.engine, &self.config, wasm, false)?;
            return Ok(self.module(module, ModuleFacts::default(), false));
        }
        // The original is validated first: the rewrite assumes a valid module. (Without
        // multi-memory, which the engine compiling it has on when the interruption checks
        // add a memory of their own.)
        B::validate(&self.engine, wasm)?;
        let out = instrument(wasm, &self.passes)?;
        let module = B::build(&self.engine, &self.config, &out.wasm, true)?;
        Ok(self.module(module, out.facts, out.start))
    }

    fn fingerprint(&self) -> String {
        // The cost table's id names the charging rules too, which its weights alone do not:
        // a module metered under other rules is compiled anew, and so is one rewritten by
        // another revision of the passes.
        format!(
            "{} {:?} costs {} instrument {}",
            B::fingerprint(&self.engine),
            self.config,
            self.config.costs.id(),
            wasmhost_instrument::SOURCE_DIGEST
        )
    }

    fn interprets(&self) -> bool {
        B::INTERPRETS
    }

    fn can_serialize(&self) -> bool {
        B::SERIALIZES
    }

    /// The start flag, the [`ModuleFacts`], padding where the engine's artifact needs
    /// alignment, then the artifact.
    fn serialize(&self, module: &Module<B>) -> Option<Result<Vec<u8>, WasmError>> {
        if !B::SERIALIZES {
            return None;
        }
        let mut out = vec![module.start as u8];
        module.facts.write_to(&mut out);
        if let Some(align) = B::ARTIFACT_ALIGN {
            // Zeros up to the alignment, and their count, so that an artifact loaded where
            // it lies in an aligned buffer is aligned too.
            let pad = (align - (out.len() + 1) % align) % align;
            out.push(pad as u8);
            out.resize(out.len() + pad, 0);
        }
        Some(B::serialize(&module.module, &mut out).map(|()| out))
    }

    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<Module<B>, WasmError> {
        let (start, facts, at) = read_header::<B>(bytes)?;
        // SAFETY: the caller guarantees these are bytes `serialize` produced under this
        // fingerprint.
        let module = unsafe { B::deserialize(&self.engine, &bytes[at..]) }?;
        Ok(self.module(module, facts, start))
    }

    unsafe fn deserialize_owned(
        &self,
        buffer: Vec<u8>,
        start: usize,
    ) -> Result<Module<B>, WasmError> {
        let bytes = buffer.get(start..).ok_or_else(malformed)?;
        let (has_start, facts, at) = read_header::<B>(bytes)?;
        let at = start + at;
        let aligned =
            B::ARTIFACT_ALIGN.is_some_and(|a| (buffer.as_ptr() as usize + at).is_multiple_of(a));
        // SAFETY: as in `deserialize`; `at` is within the buffer.
        let module = unsafe {
            if aligned {
                B::deserialize_aligned(&self.engine, buffer, at)
            } else {
                B::deserialize(&self.engine, &buffer[at..])
            }
        }?;
        Ok(self.module(module, facts, has_start))
    }
}

/// The start flag and facts `serialize` wrote before the artifact, and where the artifact
/// starts.
fn read_header<B: Compiler>(bytes: &[u8]) -> Result<(bool, ModuleFacts, usize), WasmError> {
    let (&start, rest) = bytes.split_first().ok_or_else(malformed)?;
    let (facts, mut rest) = ModuleFacts::read_from(rest).ok_or_else(malformed)?;
    if B::ARTIFACT_ALIGN.is_some() {
        let (&pad, padded) = rest.split_first().ok_or_else(malformed)?;
        rest = padded.get(pad as usize..).ok_or_else(malformed)?;
    }
    Ok((start != 0, facts, bytes.len() - rest.len()))
}

/// A module compiled by a backend's [`Engine`].
pub struct Module<B: Compiler> {
    module: B::Module,
    engine: Engine<B>,
    facts: Arc<ModuleFacts>,
    /// Whether the start function was moved to an export, to be called after instantiation.
    start: bool,
    /// The snapshot of its first instance, which resets write back ([`Config::resettable`]);
    /// `None` inside when the module is not resettable.
    pristine: Arc<OnceLock<Option<Arc<Pristine>>>>,
}

impl<B: Compiler> Clone for Module<B> {
    fn clone(&self) -> Self {
        Module {
            module: self.module.clone(),
            engine: self.engine.clone(),
            facts: Arc::clone(&self.facts),
            start: self.start,
            pristine: Arc::clone(&self.pristine),
        }
    }
}

impl<B: Compiler> wasmhost_api::Module for Module<B> {
    type Instance<T: Send + 'static> = Instance<B, T>;
    type Prelinked<T: Send + 'static> = Prelinked<B, T>;

    fn exports(&self) -> Vec<ExportInfo> {
        B::exports(&self.module)
            .map(|(name, ty)| ExportInfo {
                sig: B::func_sig(&ty),
                name,
            })
            .collect()
    }

    fn prelink<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
    ) -> Result<Prelinked<B, T>, WasmError> {
        let config = &self.engine.config;
        let imports: Vec<Import> = B::imports(&self.module).collect();
        let each = imports.iter().map(|(m, n, ty)| (&**m, &**n, ty.clone()));
        host.check_imports(each, config)?;
        self.facts.check_limits(config)?;
        let linked = B::link(&self.engine.engine, &self.module, host, &imports)?;
        Ok(Prelinked {
            module: self.clone(),
            linked,
        })
    }
}

/// A backend's [`Module`] linked with its host functions: see
/// [`wasmhost_api::Module::prelink`].
pub struct Prelinked<B: Compiler, T: Send + 'static> {
    module: Module<B>,
    linked: B::Linked<T>,
}

impl<B: Compiler, T: Send + 'static> Clone for Prelinked<B, T> {
    fn clone(&self) -> Self {
        Prelinked {
            module: self.module.clone(),
            linked: self.linked.clone(),
        }
    }
}

impl<B: Compiler, T: Send + 'static> wasmhost_api::Prelinked<T> for Prelinked<B, T> {
    type Instance = Instance<B, T>;

    fn instantiate(&self, state: T) -> Result<Instance<B, T>, WasmError> {
        let module = &self.module;
        let engine = &module.engine;
        let config = &engine.config;
        let mut store = B::store(&module.module, StoreData::new(state, Arc::clone(config)));
        if config.metering == wasmhost_api::Metering::Native {
            // Before instantiating: the start function burns fuel too.
            let fuel = config.initial_fuel.min(i64::MAX as u64) as i64;
            B::set_native_fuel(&mut B::cx(&mut store), fuel);
        }
        let exports = B::instantiate(&module.module, &self.linked, &mut store)?;
        StoreData::<B, T>::attach(&mut B::cx(&mut store), exports);
        let mut instance = Instance::new(store, engine.guarded(), module.start)?;
        if config.resettable {
            // Every instance comes out of instantiation the same (a resettable module has
            // no start function and imports only functions): the first one is the snapshot.
            let pristine = module.pristine.get_or_init(|| {
                Pristine::of::<B, T>(&mut B::cx(&mut instance.store)).map(Arc::new)
            });
            instance.pristine = pristine.clone();
        }
        Ok(instance)
    }
}
