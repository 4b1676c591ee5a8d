//! Whether the toolchain can build the Rust test guests. `.cargo/rustc-wrapper` checks this
//! on cargo's first call; the build script checks it again, before anything else, for builds
//! that bypass the wrapper (a `RUSTC_WRAPPER` of the user's own, no `sh`). Either way a
//! toolchain without the wasm32 targets is reported with the command that fixes it, rather
//! than by the guests' build failing after a long one.
//! (rust-toolchain.toml lists the target, but rustup adds listed targets only when it
//! installs the toolchain: one installed earlier without it stays without it.)

use std::path::{Path, PathBuf};

/// The target the Rust test guests are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The target of the guests that use WASI (`guests/wasi-*`): Rust's std on preview 1.
pub const WASI_TARGET: &str = "wasm32-wasip1";

/// Every target the guests need.
pub const TARGETS: [&str; 2] = [WASM_TARGET, WASI_TARGET];

/// Where `target`'s standard library lives in the toolchain whose sysroot is `sysroot`.
pub fn std_dir(sysroot: &Path, target: &str) -> PathBuf {
    sysroot.join("lib").join("rustlib").join(target).join("lib")
}

/// `None` when the toolchain at `sysroot` has the standard library of every target in
/// [`TARGETS`]; otherwise what to tell the user, with the command that adds the missing ones.
/// `toolchain` is rustup's name for it, if known.
pub fn missing_wasm_target(sysroot: &Path, toolchain: Option<&str>) -> Option<String> {
    let has_std = |target: &str| {
        std::fs::read_dir(std_dir(sysroot, target))
            .map(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("libstd-") && name.ends_with(".rlib")
                })
            })
            .unwrap_or(false)
    };
    let missing: Vec<&str> = TARGETS.into_iter().filter(|t| !has_std(t)).collect();
    if missing.is_empty() {
        return None;
    }
    let which = toolchain.map_or_else(String::new, |t| format!(" --toolchain {t}"));
    let missing = missing.join(" ");
    Some(format!(
        "the Rust test guests are built for {}, and this toolchain ({}) does not have \
         {missing}. Run:\n\n    rustup target add {missing}{which}\n\nthen the same \
         command again.",
        TARGETS.join(" and "),
        sysroot.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toolchain_without_a_target_is_told_the_command_that_adds_it() {
        let sysroot = std::env::temp_dir().join(format!("no-wasm-sysroot-{}", std::process::id()));
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
        let message = missing_wasm_target(&sysroot, Some("1.95.0")).expect("reported");
        assert!(
            message.contains(
                "rustup target add wasm32-unknown-unknown wasm32-wasip1 --toolchain 1.95.0"
            ),
            "{message}"
        );
        // An empty target directory (a removal that left it behind) is still missing.
        std::fs::create_dir_all(std_dir(&sysroot, WASM_TARGET)).unwrap();
        assert!(missing_wasm_target(&sysroot, None).is_some());
        std::fs::write(std_dir(&sysroot, WASM_TARGET).join("libstd-0123.rlib"), b"").unwrap();
        // One of the two there: the command names the other alone.
        let message = missing_wasm_target(&sysroot, None).expect("reported");
        assert!(
            message.contains("rustup target add wasm32-wasip1\n"),
            "{message}"
        );
        std::fs::create_dir_all(std_dir(&sysroot, WASI_TARGET)).unwrap();
        std::fs::write(std_dir(&sysroot, WASI_TARGET).join("libstd-0123.rlib"), b"").unwrap();
        assert_eq!(missing_wasm_target(&sysroot, None), None);
        std::fs::remove_dir_all(&sysroot).unwrap();
    }
}
