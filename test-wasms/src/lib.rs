//! The test guests of wasmhost, as wasm bytes by name, and the types their serialized
//! exports use.
//!
//! Rust guests live in `guests/<name>/` (built for wasm32 by this crate's build script),
//! WAT guests in `wat/<name>.wat`. Each is listed in [`ALL`] under that name.

#![warn(missing_docs)]

pub mod host;
pub mod toolchain;
pub mod types;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The bytes of the guest called `name`.
///
/// # Panics
/// When there is no such guest: a typo in a test, to be fixed there.
pub fn guest(name: &str) -> &'static [u8] {
    ALL.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("no test guest named {name:?}"))
}
