//! A content-addressed module cache: compile once, in memory and on disk.
//!
//! [`ModuleCache`] wraps any [`Engine`] and is an engine itself, so code written against
//! the trait gets caching by wrapping its engine:
//!
//! ```
//! use wasmhost::prelude::*;
//! use wasmhost::cache::{CacheConfig, ModuleCache};
//! use wasmhost::{AnyEngine, Config};
//!
//! let engine = AnyEngine::from_name(wasmhost::ENGINES[0], Config::default())?;
//! let cache = ModuleCache::new(engine, CacheConfig::default())?;
//! let wasm = wasmhost::wat2wasm("(module (func (export \"f\")))")?;
//! let _compiled = cache.compile(&wasm)?;
//! let _from_memory = cache.compile(&wasm)?;
//! // With the key kept, a lookup does not hash the module again.
//! let key = cache.key(&wasm);
//! let _by_key = cache.get(&key).expect("cached above");
//! assert_eq!((cache.stats().compiles, cache.stats().memory_hits), (1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keys
//!
//! A [`CacheKey`] is the blake3 hash of the engine's [`Engine::fingerprint`] (engine,
//! version, compiler settings, processor features where code is native, and the whole
//! [`crate::Config`]) and the wasm bytes. Two set-ups never share an entry.
//!
//! # Memory
//!
//! Bounded by entry count and by bytes, least recently used first out. An entry's bytes
//! are its wasm size: engines do not report the size of their compiled code, which is
//! typically a few times larger, so set the byte bound with that in mind. A module asked
//! for by many threads at once is compiled once; the others wait for it ("single flight").
//! A compile error is not cached.
//!
//! # Disk
//!
//! With [`CacheConfig::disk`], engines that can serialize compiled code (wasmer) keep a file
//! per module; see [`disk`] for the format and the checks made before loading. Engines that
//! cannot (wasmi, an interpreter whose translation is fast) skip the disk layer.

pub mod disk;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use lru::LruCache;

use crate::{Config, Engine, WasmError};
pub use disk::{DiskCache, DiskEntry, Loaded};

/// Where a cache keeps its entries and how many.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Most modules kept in memory. Default 256.
    pub max_entries: usize,
    /// Most wasm bytes of the modules kept in memory. Default 1 GiB.
    pub max_bytes: u64,
    /// The directory of the disk layer; `None` (the default) keeps modules in memory only.
    pub disk: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 256,
            max_bytes: 1 << 30,
            disk: None,
        }
    }
}

impl CacheConfig {
    /// Keeps at most `n` modules in memory.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Keeps at most `bytes` of wasm in memory.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Stores compiled modules in `dir` as well, for engines that can.
    pub fn disk(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk = Some(dir.into());
        self
    }
}

/// The default directory of the disk layer: `$WASMHOST_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wasmhost`, else `$HOME/.cache/wasmhost`; `None` when none is set.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("WASMHOST_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("wasmhost")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("wasmhost")))
}

/// The content address of a compiled module: blake3 of the engine's fingerprint and the
/// wasm bytes. Displays as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// The key of `wasm` compiled under `fingerprint`.
    pub fn new(fingerprint: &str, wasm: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        // Length-prefixed, so that no fingerprint can run into the bytes.
        hasher.update(&(fingerprint.len() as u64).to_le_bytes());
        hasher.update(fingerprint.as_bytes());
        hasher.update(wasm);
        CacheKey(*hasher.finalize().as_bytes())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

/// What a cache did since it was made: read with [`ModuleCache::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules found in memory.
    pub memory_hits: u64,
    /// Modules not in memory: then loaded from disk, compiled, waited for (`coalesced`), or
    /// (after [`ModuleCache::get`]) left to the caller. Hits and misses add up to the calls
    /// of [`Engine::compile`] and [`ModuleCache::get`].
    pub memory_misses: u64,
    /// Misses that waited for another thread compiling the same module instead of
    /// compiling it again.
    pub coalesced: u64,
    /// Modules loaded from disk.
    pub disk_hits: u64,
    /// Modules looked for on disk and not found.
    pub disk_misses: u64,
    /// Disk files that failed a check (truncated, corrupt, another configuration or engine
    /// version) or that the engine refused: removed and rebuilt, never loaded.
    pub disk_rejected: u64,
    /// Files written to disk.
    pub disk_writes: u64,
    /// Files that could not be written (the cache goes on without them).
    pub disk_write_errors: u64,
    /// Modules compiled from wasm (successfully).
    pub compiles: u64,
    /// Modules dropped from memory to stay within the bounds.
    pub evictions: u64,
    /// Modules in memory now.
    pub entries: u64,
    /// Their wasm bytes.
    pub bytes: u64,
}

/// The counters, updated without a lock.
#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    memory_misses: AtomicU64,
    coalesced: AtomicU64,
    disk_hits: AtomicU64,
    disk_misses: AtomicU64,
    disk_rejected: AtomicU64,
    disk_writes: AtomicU64,
    disk_write_errors: AtomicU64,
    compiles: AtomicU64,
    evictions: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The modules in memory, with their total wasm bytes.
struct Memory<M> {
    modules: LruCache<CacheKey, (M, u64)>,
    bytes: u64,
}

/// A compile in progress, which other threads asking for the same module wait on.
type Flight<M> = Arc<OnceLock<Result<M, WasmError>>>;

struct Shared<E: Engine> {
    engine: E,
    fingerprint: String,
    config: CacheConfig,
    disk: Option<DiskCache>,
    memory: Mutex<Memory<E::Module>>,
    in_flight: Mutex<HashMap<CacheKey, Flight<E::Module>>>,
    counters: Counters,
}

/// An [`Engine`] that compiles each module once: a content-addressed cache in memory and,
/// optionally, on disk, in front of the engine it wraps. Cheap to clone; clones share the
/// cache. See the [module docs](self).
pub struct ModuleCache<E: Engine> {
    shared: Arc<Shared<E>>,
}

impl<E: Engine> Clone for ModuleCache<E> {
    fn clone(&self) -> Self {
        ModuleCache {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E: Engine> ModuleCache<E> {
    /// A cache in front of `engine`.
    ///
    /// # Errors
    /// [`WasmError::Engine`] when the disk directory cannot be created.
    pub fn new(engine: E, config: CacheConfig) -> Result<Self, WasmError> {
        let disk = match &config.disk {
            Some(dir) if engine.can_serialize() => Some(DiskCache::open(dir).map_err(|e| {
                WasmError::Engine(format!("cache directory {}: {e}", dir.display()))
            })?),
            _ => None,
        };
        Ok(ModuleCache {
            shared: Arc::new(Shared {
                fingerprint: engine.fingerprint(),
                engine,
                config,
                disk,
                memory: Mutex::new(Memory {
                    modules: LruCache::unbounded(),
                    bytes: 0,
                }),
                in_flight: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// The engine behind the cache.
    pub fn engine(&self) -> &E {
        &self.shared.engine
    }

    /// The key `wasm` is cached under.
    pub fn key(&self, wasm: &[u8]) -> CacheKey {
        CacheKey::new(&self.shared.fingerprint, wasm)
    }

    /// The module cached in memory under `key`, if any: the hot path for a host that keeps
    /// its modules' keys. [`Engine::compile`] hashes the whole module to find its key
    /// (blake3: about 0.3 ms per MB on a small machine); this does not. Counted as a hit or
    /// a miss like a compile.
    pub fn get(&self, key: &CacheKey) -> Option<E::Module> {
        let module = self.lookup(key);
        let counters = &self.shared.counters;
        bump(if module.is_some() {
            &counters.memory_hits
        } else {
            &counters.memory_misses
        });
        module
    }

    /// The disk layer: `None` without [`CacheConfig::disk`], or when the engine cannot
    /// serialize its modules.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.shared.disk.as_ref()
    }

    /// The counters and the memory layer's size now.
    pub fn stats(&self) -> CacheStats {
        let c = &self.shared.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let memory = self.memory();
        CacheStats {
            memory_hits: read(&c.memory_hits),
            memory_misses: read(&c.memory_misses),
            coalesced: read(&c.coalesced),
            disk_hits: read(&c.disk_hits),
            disk_misses: read(&c.disk_misses),
            disk_rejected: read(&c.disk_rejected),
            disk_writes: read(&c.disk_writes),
            disk_write_errors: read(&c.disk_write_errors),
            compiles: read(&c.compiles),
            evictions: read(&c.evictions),
            entries: memory.modules.len() as u64,
            bytes: memory.bytes,
        }
    }

    /// Empties the memory layer (the disk layer stays: [`DiskCache::clear`] empties it).
    pub fn clear_memory(&self) {
        let mut memory = self.memory();
        memory.modules.clear();
        memory.bytes = 0;
    }

    // A panic while a lock is held cannot leave these maps inconsistent (each update is one
    // call), so a poisoned lock is used as it is: the host keeps serving.
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory<E::Module>> {
        self.shared
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Flight<E::Module>>> {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, key: &CacheKey) -> Option<E::Module> {
        self.memory().modules.get(key).map(|(m, _)| m.clone())
    }

    /// The module for `wasm`: from memory, else from disk, else compiled (once, however
    /// many threads ask at the same time).
    fn get_or_compile(&self, wasm: &[u8]) -> Result<E::Module, WasmError> {
        let key = self.key(wasm);
        let counters = &self.shared.counters;
        if let Some(module) = self.lookup(&key) {
            bump(&counters.memory_hits);
            return Ok(module);
        }
        let (flight, leader) = {
            let mut in_flight = self.in_flight();
            // Checked again under this lock: a leader stores its module before it leaves
            // the in-flight map, so a module missed above is either here or in flight.
            if let Some(module) = self.lookup(&key) {
                bump(&counters.memory_hits);
                return Ok(module);
            }
            bump(&counters.memory_misses);
            match in_flight.get(&key) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Flight::default();
                    in_flight.insert(key, Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if !leader {
            bump(&counters.coalesced);
        }
        let result = flight
            .get_or_init(|| self.load_or_compile(&key, wasm))
            .clone();
        if leader {
            if let Ok(module) = &result {
                self.insert(key, module.clone(), wasm.len() as u64);
            }
            self.in_flight().remove(&key);
        }
        result
    }

    fn load_or_compile(&self, key: &CacheKey, wasm: &[u8]) -> Result<E::Module, WasmError> {
        let shared = &*self.shared;
        let counters = &shared.counters;
        let disk = shared.disk.as_ref();
        if let Some(disk) = disk {
            match disk.load(key, &shared.fingerprint) {
                Ok(file) => {
                    // SAFETY: the file passed the digest, key and fingerprint checks: these
                    // are the bytes `serialize` wrote for this module on this set-up.
                    let (file, start) = file.into_parts();
                    match unsafe { shared.engine.deserialize_owned(file, start) } {
                        Ok(module) => {
                            bump(&counters.disk_hits);
                            return Ok(module);
                        }
                        Err(_) => {
                            disk.remove(key);
                            bump(&counters.disk_rejected);
                        }
                    }
                }
                Err(disk::Rejected::Missing) => bump(&counters.disk_misses),
                Err(disk::Rejected::Invalid) => bump(&counters.disk_rejected),
            }
        }
        let module = shared.engine.compile(wasm)?;
        bump(&counters.compiles);
        if let Some(disk) = disk {
            let stored = match shared.engine.serialize(&module) {
                Some(Ok(body)) => disk.store(key, &shared.fingerprint, &body).is_ok(),
                _ => false,
            };
            bump(if stored {
                &counters.disk_writes
            } else {
                &counters.disk_write_errors
            });
        }
        Ok(module)
    }

    fn insert(&self, key: CacheKey, module: E::Module, bytes: u64) {
        let limits = &self.shared.config;
        let mut memory = self.memory();
        if let Some((_, old)) = memory.modules.put(key, (module, bytes)) {
            memory.bytes -= old;
        }
        memory.bytes += bytes;
        while memory.modules.len() > limits.max_entries || memory.bytes > limits.max_bytes {
            let Some((_, (_, evicted))) = memory.modules.pop_lru() else {
                break;
            };
            memory.bytes -= evicted;
            bump(&self.shared.counters.evictions);
        }
    }
}

impl<E: Engine> Engine for ModuleCache<E> {
    type Module = E::Module;

    fn name(&self) -> &'static str {
        self.shared.engine.name()
    }

    fn config(&self) -> &Config {
        self.shared.engine.config()
    }

    /// The cached module for `wasm`, compiled on a miss. See [`ModuleCache`].
    fn compile(&self, wasm: &[u8]) -> Result<E::Module, WasmError> {
        self.get_or_compile(wasm)
    }

    fn fingerprint(&self) -> String {
        self.shared.fingerprint.clone()
    }

    fn can_serialize(&self) -> bool {
        self.shared.engine.can_serialize()
    }

    fn serialize(&self, module: &E::Module) -> Option<Result<Vec<u8>, WasmError>> {
        self.shared.engine.serialize(module)
    }

    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<E::Module, WasmError> {
        // SAFETY: passed on from the caller.
        unsafe { self.shared.engine.deserialize(bytes) }
    }

    unsafe fn deserialize_owned(
        &self,
        buffer: Vec<u8>,
        start: usize,
    ) -> Result<E::Module, WasmError> {
        // SAFETY: passed on from the caller.
        unsafe { self.shared.engine.deserialize_owned(buffer, start) }
    }
}
