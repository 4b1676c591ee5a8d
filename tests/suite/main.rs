//! The facade's integration tests, one binary: each module is one behaviour, run on every
//! engine. (`tests/leaks.rs` counts the process's memory, and so is a binary of its own.)
//! One binary links the engines once, where a binary per file linked them a dozen times.

mod async_pool;
mod bad_input;
mod cache;
mod common;
mod concurrency;
mod fast_paths;
mod globals;
mod guests;
mod imports;
mod limits;
mod payloads;
mod readme;
mod spans;
mod traps;
