//! The facade's integration tests, one binary: each module is one behaviour, run on every
//! engine. (`tests/leaks.rs` counts the process's memory, and `tests/spans.rs` installs a
//! tracing subscriber, whose interest in each span is cached process-wide: each is a binary
//! of its own.)
//! One binary links the engines once, where a binary per file linked them a dozen times.

mod async_pool;
mod bad_input;
mod cache;
mod common;
mod concurrency;
mod counted_loops;
mod fast_paths;
mod fuel_stops;
mod globals;
mod guests;
mod imports;
mod interrupt;
mod limits;
mod memory_reservation;
mod payloads;
mod readme;
mod reset;
mod simd;
mod state_checks;
mod traps;
#[cfg(feature = "wasi")]
mod wasi;
