//! Any bytes, compiled on every engine in the default profile and with every rewriting pass
//! on: a panic, or a refusal that is not a typed `Compile` error, is a finding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, Metering, WasmError};

fn engines() -> &'static [AnyEngine] {
    static ENGINES: OnceLock<Vec<AnyEngine>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let all_passes = Config::default()
            .deterministic(true)
            .metering(Metering::Portable)
            .max_memory_bytes(1 << 20);
        let mut engines = AnyEngine::all(&Config::default());
        engines.extend(AnyEngine::all(&all_passes));
        engines
    })
}

fuzz_target!(|data: &[u8]| {
    for engine in engines() {
        match engine.compile(data) {
            Ok(_) | Err(WasmError::Compile(_)) => {}
            Err(other) => panic!("{} refused with an untyped error: {other}", engine.name()),
        }
    }
});
