//! The module cache on every engine: hits and misses, eviction, single flight, and a disk
//! layer that rebuilds what it cannot trust instead of loading it.

use std::path::Path;
use std::sync::{Arc, Barrier};

use wasmhost::cache::{CacheConfig, CacheKey, CacheStats, ModuleCache};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyModule, Config, HostFunctions, Metering, Value, WasmError};

wasmhost::on_every_engine!(
    a_second_compile_is_a_memory_hit,
    a_lookup_by_key_finds_only_what_was_compiled,
    configurations_never_share_an_entry,
    memory_is_bounded_by_entry_count,
    memory_is_bounded_by_bytes,
    eight_threads_asking_at_once_compile_once,
    a_failed_compile_is_not_cached,
    a_new_cache_loads_from_disk,
    a_truncated_file_is_rebuilt,
    a_flipped_byte_is_rebuilt,
    a_file_of_another_configuration_is_rebuilt,
    a_file_of_another_engine_version_is_rebuilt,
    a_file_of_another_revision_of_the_passes_is_rebuilt,
    metering_and_start_survive_the_disk,
    serialized_modules_load_from_a_slice_and_from_any_offset_of_a_buffer,
);

/// A distinct small module for each `n`: `add` plus a constant.
fn numbered(n: i32) -> Vec<u8> {
    wasmhost::wat2wasm(format!(
        r#"(module (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add i32.const {n} i32.add))"#
    ))
    .unwrap()
}

/// Checks that `module` is a working `numbered(n)`.
fn assert_works(module: &AnyModule, n: i32) {
    let mut instance = module.instantiate(&HostFunctions::new(), ()).unwrap();
    let sum = instance.call_raw("add", &[Value::I32(2), Value::I32(40)]);
    assert_eq!(sum, Ok(vec![Value::I32(42 + n)]));
}

fn cache(engine: &AnyEngine, config: CacheConfig) -> ModuleCache<AnyEngine> {
    ModuleCache::new(engine.clone(), config).unwrap()
}

fn a_second_compile_is_a_memory_hit(engine: &AnyEngine) {
    let cache = cache(engine, CacheConfig::default());
    let wasm = numbered(1);
    assert_works(&cache.compile(&wasm).unwrap(), 1);
    assert_works(&cache.compile(&wasm).unwrap(), 1);
    assert_works(&cache.compile(&numbered(2)).unwrap(), 2);
    let stats = cache.stats();
    assert_eq!(
        (stats.memory_hits, stats.memory_misses, stats.compiles),
        (1, 2, 2)
    );
    assert_eq!(stats.entries, 2);
    let bytes = (numbered(1).len() + numbered(2).len()) as u64;
    assert_eq!(stats.bytes, bytes);
}

fn a_lookup_by_key_finds_only_what_was_compiled(engine: &AnyEngine) {
    let cache = cache(engine, CacheConfig::default());
    let key = cache.key(&numbered(8));
    assert!(cache.get(&key).is_none());
    cache.compile(&numbered(8)).unwrap();
    assert_works(&cache.get(&key).unwrap(), 8);
    assert!(cache.get(&cache.key(&numbered(9))).is_none());
    let stats = cache.stats();
    assert_eq!(
        (stats.memory_hits, stats.memory_misses, stats.compiles),
        (1, 3, 1)
    );
}

fn configurations_never_share_an_entry(engine: &AnyEngine) {
    let configs = [
        Config::default(),
        Config::default().deterministic(true),
        Config::default().metering(Metering::Portable),
        Config::default().metering(Metering::Native),
        Config::default()
            .metering(Metering::Portable)
            .initial_fuel(7),
        Config::default().max_memory_bytes(1 << 20),
    ];
    let wasm = numbered(0);
    let mut keys: Vec<CacheKey> = configs
        .iter()
        .map(|c| {
            let engine = AnyEngine::from_name(engine.name(), c.clone()).unwrap();
            cache(&engine, CacheConfig::default()).key(&wasm)
        })
        .collect();
    keys.sort_by_key(|k| k.0);
    keys.dedup();
    assert_eq!(keys.len(), configs.len(), "one key per configuration");
    // And the same set-up gives the same key, in another cache.
    let again = cache(engine, CacheConfig::default());
    assert_eq!(
        again.key(&wasm),
        cache(engine, CacheConfig::default()).key(&wasm)
    );
}

fn memory_is_bounded_by_entry_count(engine: &AnyEngine) {
    let cache = cache(engine, CacheConfig::default().max_entries(2));
    for n in [1, 2, 3] {
        cache.compile(&numbered(n)).unwrap();
    }
    assert_eq!((cache.stats().entries, cache.stats().evictions), (2, 1));
    // The least recently used (1) went; 3 and 2 stay.
    cache.compile(&numbered(3)).unwrap();
    cache.compile(&numbered(2)).unwrap();
    assert_eq!(cache.stats().compiles, 3);
    assert_works(&cache.compile(&numbered(1)).unwrap(), 1);
    assert_eq!(cache.stats().compiles, 4);
}

fn memory_is_bounded_by_bytes(engine: &AnyEngine) {
    let size = numbered(1).len() as u64;
    // Room for two modules of this size, not three.
    let cache = cache(
        engine,
        CacheConfig::default().max_bytes(2 * size + size / 2),
    );
    for n in [1, 2, 3] {
        cache.compile(&numbered(n)).unwrap();
    }
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.evictions), (2, 1));
    assert!(stats.bytes <= 2 * size + size / 2);
    // A module larger than the whole bound is compiled and returned, just not kept.
    let small = cache_with_bytes(engine, size / 2);
    assert_works(&small.compile(&numbered(5)).unwrap(), 5);
    assert_eq!((small.stats().entries, small.stats().evictions), (0, 1));
}

fn cache_with_bytes(engine: &AnyEngine, bytes: u64) -> ModuleCache<AnyEngine> {
    cache(engine, CacheConfig::default().max_bytes(bytes))
}

fn eight_threads_asking_at_once_compile_once(engine: &AnyEngine) {
    // A large guest, so that the compile is still running when the others ask.
    let wasm = wasmhost_test_wasms::guest("payload");
    let cache = cache(engine, CacheConfig::default());
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                cache.compile(wasm).map(|m| m.exports().len())
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap().unwrap() > 0);
    }
    let stats = cache.stats();
    assert_eq!(stats.compiles, 1, "{stats:?}");
    assert_eq!(stats.memory_hits + stats.memory_misses, 8, "{stats:?}");
    assert_eq!(stats.memory_misses, 1 + stats.coalesced, "{stats:?}");
}

fn a_failed_compile_is_not_cached(engine: &AnyEngine) {
    let cache = cache(engine, CacheConfig::default());
    for _ in 0..2 {
        assert!(matches!(
            cache.compile(b"\0asm but not really"),
            Err(WasmError::Compile(_))
        ));
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.entries, stats.compiles, stats.memory_misses),
        (0, 0, 2)
    );
}

/// A cache over `engine` with a disk layer in `dir`, as a new process would make it.
fn disk_cache(engine: &AnyEngine, dir: &Path) -> ModuleCache<AnyEngine> {
    cache(engine, CacheConfig::default().disk(dir))
}

/// Fills `dir` with `numbered(n)`'s file, and returns its path; `None` when the engine
/// cannot serialize, after checking that the disk layer is skipped and writes nothing.
fn stored(engine: &AnyEngine, dir: &Path, n: i32) -> Option<std::path::PathBuf> {
    let cache = disk_cache(engine, dir);
    assert_works(&cache.compile(&numbered(n)).unwrap(), n);
    let Some(disk) = cache.disk() else {
        assert_eq!(std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0), 0);
        assert_eq!(cache.stats().disk_writes, 0);
        return None;
    };
    assert_eq!(
        (cache.stats().disk_misses, cache.stats().disk_writes),
        (1, 1)
    );
    let path = disk.path(&cache.key(&numbered(n)));
    assert!(path.is_file());
    Some(path)
}

/// Compiles `numbered(n)` in a new cache over `dir` and returns its counters.
fn reload(engine: &AnyEngine, dir: &Path, n: i32) -> CacheStats {
    let cache = disk_cache(engine, dir);
    assert_works(&cache.compile(&numbered(n)).unwrap(), n);
    cache.stats()
}

/// After a bad file was found: rebuilt, not loaded, and a good file written in its place.
fn assert_rebuilt(engine: &AnyEngine, dir: &Path, n: i32) {
    let stats = reload(engine, dir, n);
    assert_eq!(
        (
            stats.disk_rejected,
            stats.disk_hits,
            stats.compiles,
            stats.disk_writes
        ),
        (1, 0, 1, 1),
        "{stats:?}"
    );
    let stats = reload(engine, dir, n);
    assert_eq!((stats.disk_hits, stats.compiles), (1, 0), "{stats:?}");
}

fn a_new_cache_loads_from_disk(engine: &AnyEngine) {
    let dir = tempfile::tempdir().unwrap();
    if stored(engine, dir.path(), 3).is_none() {
        return; // the engine cannot serialize: `stored` checked that nothing was written
    }
    let stats = reload(engine, dir.path(), 3);
    assert_eq!((stats.disk_hits, stats.compiles), (1, 0), "{stats:?}");
}

fn a_truncated_file_is_rebuilt(engine: &AnyEngine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = stored(engine, dir.path(), 4) else {
        return; // the engine cannot serialize: `stored` checked that nothing was written
    };
    let file = std::fs::read(&path).unwrap();
    std::fs::write(&path, &file[..file.len() - 1]).unwrap();
    assert_rebuilt(engine, dir.path(), 4);
}

fn a_flipped_byte_is_rebuilt(engine: &AnyEngine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = stored(engine, dir.path(), 5) else {
        return; // the engine cannot serialize: `stored` checked that nothing was written
    };
    let mut file = std::fs::read(&path).unwrap();
    // In the compiled code, past the header.
    let at = file.len() - file.len() / 3;
    file[at] ^= 0x40;
    std::fs::write(&path, &file).unwrap();
    assert_rebuilt(engine, dir.path(), 5);
}

fn a_file_of_another_configuration_is_rebuilt(engine: &AnyEngine) {
    let dir = tempfile::tempdir().unwrap();
    let deterministic =
        AnyEngine::from_name(engine.name(), Config::default().deterministic(true)).unwrap();
    let Some(other) = stored(&deterministic, dir.path(), 6) else {
        return; // the engine cannot serialize: `stored` checked that nothing was written
    };
    // The other configuration's file, under this configuration's name.
    let ours = disk_cache(engine, dir.path());
    let path = ours.disk().unwrap().path(&ours.key(&numbered(6)));
    std::fs::rename(other, &path).unwrap();
    assert_rebuilt(engine, dir.path(), 6);
}

/// Stores module `n` under its own key, but as written by an engine of `fingerprint`, and
/// checks that it is rebuilt.
fn assert_rebuilt_when_written_by(engine: &AnyEngine, n: i32, fingerprint: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = stored(engine, dir.path(), n) else {
        return; // the engine cannot serialize: `stored` checked that nothing was written
    };
    // A well-formed file, with a good digest, under the right key.
    let cache = disk_cache(engine, dir.path());
    let disk = cache.disk().unwrap();
    let key = cache.key(&numbered(n));
    let file = disk.load(&key, &engine.fingerprint()).unwrap();
    std::fs::remove_file(&path).unwrap();
    disk.store(&key, fingerprint, file.body()).unwrap();
    assert_rebuilt(engine, dir.path(), n);
}

fn a_file_of_another_engine_version_is_rebuilt(engine: &AnyEngine) {
    let older = engine.fingerprint().replacen(' ', " 0.0.1-older ", 1);
    assert_rebuilt_when_written_by(engine, 7, &older);
}

/// The rewritten module's code is in the file: one rewritten by another revision of the
/// passes (a digest of their source names it) is not run.
fn a_file_of_another_revision_of_the_passes_is_rebuilt(engine: &AnyEngine) {
    let fingerprint = engine.fingerprint();
    let (head, digest) = fingerprint
        .rsplit_once(" instrument ")
        .expect("the fingerprint names the passes' revision");
    let digest = u64::from_str_radix(digest, 16).expect("16 hex digits");
    let other = format!("{head} instrument {:016x}", digest ^ 1);
    assert_rebuilt_when_written_by(engine, 8, &other);
}

fn metering_and_start_survive_the_disk(engine: &AnyEngine) {
    // A start function that never returns: only fuel stops it, and only if the loaded
    // module still meters and still has its start function called.
    let spin = wasmhost_test_wasms::guest("start_spin");
    for mode in [Metering::Native, Metering::Portable] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default().metering(mode).initial_fuel(50_000);
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        for round in ["compiled", "reloaded"] {
            let cache = disk_cache(&engine, dir.path());
            let module = cache.compile(spin).unwrap();
            assert_eq!(
                module.instantiate(&HostFunctions::new(), ()).err(),
                Some(WasmError::OutOfFuel),
                "{mode:?}, {round}"
            );
            if round == "reloaded" && cache.disk().is_some() {
                assert_eq!(cache.stats().disk_hits, 1, "{mode:?}");
            }
        }
    }
}

/// A serialized module loads from a slice and from a handed-over buffer at any offset: an
/// aligned archive is read in place, an unaligned one from a copy, the same module either way.
fn serialized_modules_load_from_a_slice_and_from_any_offset_of_a_buffer(engine: &AnyEngine) {
    let module = engine.compile(&numbered(5)).unwrap();
    let Some(serialized) = engine.serialize(&module) else {
        // Engines with nothing to store say so up front.
        assert!(
            !engine.can_serialize(),
            "{} serializes nothing",
            engine.name()
        );
        return;
    };
    let serialized = serialized.unwrap();
    // SAFETY: these are the bytes `serialize` just produced on this very engine.
    assert_works(&unsafe { engine.deserialize(&serialized) }.unwrap(), 5);
    for offset in 0..17 {
        let mut buffer = vec![0xa5; offset];
        buffer.extend_from_slice(&serialized);
        // SAFETY: as above, after `offset` bytes of something else.
        let loaded = unsafe { engine.deserialize_owned(buffer, offset) };
        assert_works(&loaded.unwrap(), 5);
    }
    // A start past the end, or a body cut short, is an error, not a crash.
    // SAFETY: nothing is loaded from these: they fail the prefix's checks first.
    assert!(unsafe { engine.deserialize_owned(serialized.clone(), serialized.len() + 1) }.is_err());
    assert!(unsafe { engine.deserialize(&serialized[..1]) }.is_err());
}
