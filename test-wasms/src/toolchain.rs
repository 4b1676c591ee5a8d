//! Whether the toolchain can build the Rust test guests. `.cargo/rustc-wrapper` checks this
//! on cargo's first call; the build script checks it again, before anything else, for builds
//! that bypass the wrapper (a `RUSTC_WRAPPER` of the user's own, no `sh`). Either way a
//! toolchain without the wasm32 target is reported with the command that fixes it, rather
//! than by the guests' build failing after a long one.
//! (rust-toolchain.toml lists the target, but rustup adds listed targets only when it
//! installs the toolchain: one installed earlier without it stays without it.)

use std::path::{Path, PathBuf};

/// The target the Rust test guests are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Where the wasm32 standard library lives in the toolchain whose sysroot is `sysroot`.
pub fn wasm_std_dir(sysroot: &Path) -> PathBuf {
    sysroot
        .join("lib")
        .join("rustlib")
        .join(WASM_TARGET)
        .join("lib")
}

/// `None` when the toolchain at `sysroot` has the wasm32 standard library; otherwise what to
/// tell the user, with the command to run. `toolchain` is rustup's name for it, if known.
pub fn missing_wasm_target(sysroot: &Path, toolchain: Option<&str>) -> Option<String> {
    let has_std = std::fs::read_dir(wasm_std_dir(sysroot))
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
        .unwrap_or(false);
    if has_std {
        return None;
    }
    let which = toolchain.map_or_else(String::new, |t| format!(" --toolchain {t}"));
    Some(format!(
        "the Rust test guests are built for {WASM_TARGET}, and this toolchain ({}) does not \
         have it. Run:\n\n    rustup target add {WASM_TARGET}{which}\n\nthen the same \
         command again.",
        sysroot.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toolchain_without_the_target_is_told_the_command_that_adds_it() {
        let sysroot = std::env::temp_dir().join(format!("no-wasm-sysroot-{}", std::process::id()));
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
        let message = missing_wasm_target(&sysroot, Some("1.95.0")).expect("reported");
        assert!(
            message.contains("rustup target add wasm32-unknown-unknown --toolchain 1.95.0"),
            "{message}"
        );
        // An empty target directory (a removal that left it behind) is still missing.
        std::fs::create_dir_all(wasm_std_dir(&sysroot)).unwrap();
        assert!(missing_wasm_target(&sysroot, None).is_some());
        std::fs::write(wasm_std_dir(&sysroot).join("libstd-0123.rlib"), b"").unwrap();
        assert_eq!(missing_wasm_target(&sysroot, None), None);
        std::fs::remove_dir_all(&sysroot).unwrap();
    }
}
