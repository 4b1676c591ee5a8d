//! The test guests of wasmhost, as wasm bytes by name, and the types their serialized
//! exports use.
//!
//! Rust guests live in `guests/<name>/` (built for wasm32 by this crate's build script),
//! WAT guests in `wat/<name>.wat`. Each is listed in [`ALL`] under that name.

#![warn(missing_docs)]

pub mod host;
pub mod programs;
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

/// The third-party WASI programs (Sightglass's, see their README): `WASMHOST_PROGRAMS`, else
/// `../shared/programs` beside the checkout. `None` when neither is a directory, and then
/// a test that needs them says it skipped them, except where `WASMHOST_REQUIRE_PROGRAMS`
/// is set (CI sets it), which makes their absence fail.
///
/// # Panics
/// When they are required and absent.
pub fn programs_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("WASMHOST_PROGRAMS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/programs"),
        std::path::PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("WASMHOST_REQUIRE_PROGRAMS").is_none(),
        "the programs are required (WASMHOST_REQUIRE_PROGRAMS) and not at {}",
        dir.display()
    );
    eprintln!(
        "skipped: no programs at {} (set WASMHOST_PROGRAMS)",
        dir.display()
    );
    None
}
