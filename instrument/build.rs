//! Digests the rewrite's own source into `WASMHOST_INSTRUMENT_DIGEST`
//! ([`wasmhost_instrument::SOURCE_DIGEST`]): a module compiled and cached on disk by another
//! revision of the passes carries their code, so the cache must not hand it to this one.

use std::path::{Path, PathBuf};

/// Every file under `dir`, sorted, so that the digest does not depend on directory order.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut sources = Vec::new();
    files(Path::new("src"), &mut sources);
    // FNV-1a over each file's path and bytes: a change detector, not a security boundary.
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &sources {
        println!("cargo::rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for byte in path.to_string_lossy().bytes().chain([0]).chain(bytes) {
            digest = (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo::rerun-if-changed=src");
    println!("cargo::rustc-env=WASMHOST_INSTRUMENT_DIGEST={digest:016x}");
}
