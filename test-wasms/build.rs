//! Builds the test guests: the Rust guests under `guests/` with a nested cargo build for
//! wasm32 (its own workspace and target directory, so it never waits on the outer build's
//! lock), and the WAT guests under `wat/` with the `wat` crate. Writes `guests.rs` into
//! OUT_DIR with every guest's bytes by name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

#[path = "src/toolchain.rs"]
mod toolchain;

use toolchain::{WASI_TARGET, WASM_TARGET};

fn main() {
    check_toolchain();
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for watched in [
        "guests",
        "wat",
        "src/types.rs",
        "../guest/src",
        "../runtime-api/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut entries = Vec::new();
    for (name, path) in build_rust_guests(&root.join("guests"), &guest_target_dir(&out)) {
        entries.push((name, path));
    }
    for (name, path) in build_wat_guests(&root.join("wat"), &out) {
        entries.push((name, path));
    }
    entries.sort();

    let mut code = String::from(
        "/// Every test guest, by name, in name order.\npub const ALL: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &entries {
        code += &format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        );
    }
    code += "];\n";
    fs::write(out.join("guests.rs"), code).unwrap();
}

/// Stops the build at once when the toolchain lacks the wasm32 target, saying how to add it
/// (see `src/toolchain.rs`); and runs again when the target is added or removed.
fn check_toolchain() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else {
        // The guests' own build will say what is wrong with this rustc.
        return;
    };
    for target in toolchain::TARGETS {
        println!(
            "cargo:rerun-if-changed={}",
            toolchain::std_dir(&sysroot, target).display()
        );
    }
    let name = env::var("RUSTUP_TOOLCHAIN").ok();
    if let Some(message) = toolchain::missing_wasm_target(&sysroot, name.as_deref()) {
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

/// `<target>/wasm-guests`, kept between builds of any profile, so guests build once.
fn guest_target_dir(out: &Path) -> PathBuf {
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    out.ancestors()
        .nth(4)
        .map(|target| target.join("wasm-guests"))
        .unwrap_or_else(|| out.join("wasm-guests"))
}

/// The Rust guests' folders under `workspace`, by name: those named `wasi-*` use WASI and
/// are built for [`WASI_TARGET`], the others for [`WASM_TARGET`].
fn rust_guests(workspace: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(workspace).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("Cargo.toml").exists() && !dir.join("Cargo.lock").exists() {
            names.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names
}

fn build_rust_guests(workspace: &Path, target_dir: &Path) -> Vec<(String, PathBuf)> {
    let names = rust_guests(workspace);
    let wasi: Vec<&String> = names.iter().filter(|n| n.starts_with("wasi-")).collect();
    // Two builds into one target directory (its host-side crates, the macros, built once).
    let mut plain = vec!["--workspace".to_string()];
    for name in &wasi {
        plain.extend(["--exclude".to_string(), name.to_string()]);
    }
    let mut with_wasi = Vec::new();
    for name in &wasi {
        with_wasi.extend(["-p".to_string(), name.to_string()]);
    }
    cargo_build(workspace, target_dir, WASM_TARGET, &plain);
    if !wasi.is_empty() {
        cargo_build(workspace, target_dir, WASI_TARGET, &with_wasi);
    }

    let mut guests = Vec::new();
    for name in names {
        let target = match name.starts_with("wasi-") {
            true => WASI_TARGET,
            false => WASM_TARGET,
        };
        let release = target_dir.join(target).join("release");
        // A library (cdylib) is named with underscores, a program (bin) as its package.
        let wasm = [name.replace('-', "_"), name.clone()]
            .map(|file| release.join(format!("{file}.wasm")))
            .into_iter()
            .find(|wasm| wasm.exists())
            .unwrap_or_else(|| panic!("guest {name} was not built in {}", release.display()));
        guests.push((name, wasm));
    }
    guests
}

/// `cargo build --release` of the guests' workspace for `target`, with `selection`.
fn cargo_build(workspace: &Path, target_dir: &Path, target: &str, selection: &[String]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", target])
        .args(selection)
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host; the guests get their own.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_LLVM_COV",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the wasm guests");
    assert!(
        status.success(),
        "building the Rust guests for {target} failed (cargo's output is above). A new guest \
         needs its lock entry: run `cargo metadata` in test-wasms/guests once. A missing \
         target: `rustup target add {target}`."
    );
}

fn build_wat_guests(dir: &Path, out: &Path) -> Vec<(String, PathBuf)> {
    let mut guests = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wat") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let wasm = out.join(format!("{name}.wasm"));
        fs::write(&wasm, bytes).unwrap();
        guests.push((name, wasm));
    }
    guests
}
