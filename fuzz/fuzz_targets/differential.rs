//! A module wasm-smith makes from the input, run on every engine in both profiles: a
//! difference the spec does not allow (any in the deterministic profile) is a finding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasmhost::AnyEngine;
use wasmhost_conformance::generated;

const FUEL: u64 = 100_000;

fn engines() -> &'static [Vec<AnyEngine>; 2] {
    static ENGINES: OnceLock<[Vec<AnyEngine>; 2]> = OnceLock::new();
    ENGINES.get_or_init(|| generated::engines(FUEL))
}

fuzz_target!(|data: &[u8]| {
    let Some(wasm) = generated::module_from_bytes(data) else {
        return;
    };
    let seed = data
        .iter()
        .fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b));
    let differences = generated::disallowed_differences(engines(), &wasm, seed, FUEL);
    assert!(differences.is_empty(), "{differences:#?}");
});
