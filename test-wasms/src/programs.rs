//! The third-party WASI programs (Sightglass's layout, see `../shared/programs/README.md`),
//! found and set up once for every host that runs them: the conformance suite, the tests
//! and the benches.

use std::path::{Path, PathBuf};

use wasmhost_api::HostFunctions;
use wasmhost_wasi::{DirPerms, WasiCtxBuilder};

/// A program found in a directory.
#[derive(Clone, Debug)]
pub struct Program {
    /// Its name: the folder's, or the file's stem where a folder holds several.
    pub name: String,
    /// Its folder, preopened as `.`.
    pub folder: PathBuf,
    /// The `.wasm` file.
    pub wasm: PathBuf,
}

impl Program {
    /// The expected content of `stream` (`stdout` or `stderr`), when the folder has it.
    pub fn expected(&self, stream: &str) -> Option<String> {
        let stem = self.wasm.file_stem()?.to_string_lossy();
        std::fs::read_to_string(self.folder.join(format!("{stem}.{stream}.expected"))).ok()
    }

    /// Whether `stdout` and `stderr` are what the folder expects, trailing whitespace aside:
    /// `None` when it expects nothing.
    pub fn output_as_expected(&self, stdout: &[u8], stderr: &[u8]) -> Option<bool> {
        let matches = |stream: &str, got: &[u8]| {
            self.expected(stream)
                .map(|want| want.trim_end().as_bytes() == got.trim_ascii_end())
        };
        match (matches("stdout", stdout), matches("stderr", stderr)) {
            (None, None) => None,
            (out, err) => Some(out.unwrap_or(true) && err.unwrap_or(true)),
        }
    }

    /// The WASI context Sightglass runs it with: its name as the only argument, its folder
    /// preopened read-only as `.`, no standard input.
    ///
    /// # Errors
    /// When the folder does not open.
    pub fn context(&self) -> std::io::Result<WasiCtxBuilder> {
        wasmhost_wasi::WasiCtx::builder()
            .arg(&self.name)
            .preopen_dir(&self.folder, ".", DirPerms::ReadOnly)
    }
}

/// Every program under `dir`: each folder's `benchmark.wasm`, or each `NAME.wasm` of a
/// folder without one, in name order.
///
/// # Errors
/// When `dir` or one of its folders cannot be read.
pub fn find(dir: &Path) -> std::io::Result<Vec<Program>> {
    let mut out = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let name = |path: &Path| {
        path.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into()
    };
    for folder in folders {
        let single = folder.join("benchmark.wasm");
        if single.is_file() {
            out.push(Program {
                name: name(&folder),
                folder,
                wasm: single,
            });
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        for wasm in files {
            out.push(Program {
                name: name(&wasm),
                folder: folder.clone(),
                wasm,
            });
        }
    }
    Ok(out)
}

/// The programs of `dir` called `names`, in that order.
///
/// # Panics
/// When `dir` cannot be read or a name is not there: the tests and benches name programs
/// that must exist.
pub fn named(dir: &Path, names: &[&str]) -> Vec<Program> {
    let all = find(dir).unwrap_or_else(|e| panic!("{} does not read: {e}", dir.display()));
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|p| p.name == *name)
                .unwrap_or_else(|| panic!("no program {name} in {}", dir.display()))
                .clone()
        })
        .collect()
}

/// Links the `bench.start` and `bench.end` every program imports, as marks that do nothing.
pub fn link_bench_marks<T: Send + 'static>(host: &mut HostFunctions<T>) {
    for mark in ["start", "end"] {
        host.raw("bench", mark, &[], &[], |_, _| Ok(vec![]));
    }
}
