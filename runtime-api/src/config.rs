//! The one place for knobs.

/// How an engine is set up. Every backend honours every field.
///
/// The wasm feature set is fixed, the same on every backend, so that one module is valid or
/// invalid on all of them: WebAssembly 2.0 without SIMD (mutable globals, sign extension,
/// saturating float-to-int, multi-value, bulk memory, reference types). Off: SIMD (wasmi
/// needs a cargo feature for it), relaxed SIMD (non-deterministic by design), threads, tail
/// calls, memory64, multi-memory, extended constants, exceptions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Largest serialized payload, in bytes, accepted in either direction of a call
    /// (host to guest input, guest to host output, and the same for host functions).
    /// Default: 1 GiB + 1 MiB, so a 1 GiB byte payload with its encoding overhead fits.
    pub max_payload_bytes: u32,
    /// The deterministic profile: every float operation that may produce a NaN (add, sub,
    /// mul, div, sqrt, min, max, ceil, floor, trunc, nearest, promote, demote) produces the
    /// positive canonical NaN (`0x7fc00000` / `0x7ff8000000000000`), so the same guest gives
    /// the same bits on every engine and every processor. Bit operations (neg, abs,
    /// copysign, reinterpret, load, store) keep their NaN bits, as the spec requires.
    /// Default: off (NaN bits follow the engine and the hardware).
    pub deterministic: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_payload_bytes: (1 << 30) + (1 << 20),
            deterministic: false,
        }
    }
}

impl Config {
    /// Sets [`Config::max_payload_bytes`].
    pub fn max_payload_bytes(mut self, bytes: u32) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Sets [`Config::deterministic`].
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }
}
