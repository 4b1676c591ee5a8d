//! The module cache: compile once, then from memory; with a directory, compiled code
//! survives the process (engines that can store it). `cargo run --example cache`.

use std::time::Instant;

use wasmhost::cache::{CacheConfig, ModuleCache};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, WasmError};

fn main() -> Result<(), WasmError> {
    let dir = std::env::temp_dir().join("wasmhost-example-cache");
    let wasm = wasmhost_test_wasms::guest("kernels");
    for engine in AnyEngine::all(&Config::default()) {
        let name = engine.name();
        let config = CacheConfig::default().max_entries(64).disk(&dir);
        for round in ["cold", "memory"] {
            let cache = ModuleCache::new(engine.clone(), config.clone())?;
            let began = Instant::now();
            cache.compile(wasm)?;
            let first = began.elapsed();
            let began = Instant::now();
            cache.compile(wasm)?;
            println!(
                "{name}, {round}: first compile {first:?} (from disk if stored earlier), again {:?}; {:?}",
                began.elapsed(),
                cache.stats()
            );
        }
    }
    Ok(())
}
