//! The module cache: compile once, then from memory; with a directory, compiled code
//! survives the process (engines that can store it: wasmer), which the second cache here,
//! with an empty memory layer like a new process, shows. `cargo run --example cache`.

use std::time::Instant;

use wasmhost::cache::{CacheConfig, ModuleCache};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, WasmError};

fn main() -> Result<(), WasmError> {
    // An empty directory, so that the first cache compiles and the second loads from disk.
    let dir = std::env::temp_dir().join(format!("wasmhost-example-cache-{}", std::process::id()));
    let wasm = wasmhost_test_wasms::guest("kernels");
    for engine in AnyEngine::all(&Config::default()) {
        let name = engine.name();
        let config = CacheConfig::default().max_entries(64).disk(&dir);
        for process in ["a first cache", "a new cache, as in a new process"] {
            let cache = ModuleCache::new(engine.clone(), config.clone())?;
            let began = Instant::now();
            cache.compile(wasm)?;
            let first = began.elapsed();
            let began = Instant::now();
            cache.compile(wasm)?;
            let stats = cache.stats();
            println!(
                "{name}, {process}: {first:?} ({}), then {:?} from memory",
                if stats.disk_hits > 0 {
                    "from disk"
                } else {
                    "compiled"
                },
                began.elapsed(),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
