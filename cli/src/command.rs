//! `wasmhost run PROGRAM.wasm`: a WASI command (`_start`) on one engine or all of them, its
//! output passed through, its exit code returned; with several engines, whether they agree.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmhost::prelude::*;
use wasmhost::wasi::{self, Captured, DirPerms, Output, WasiCtx};
use wasmhost::{AnyModule, HostFunctions, WasmError};

/// What the program sees of the world.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// Host directories, each under its guest name, read-write.
    pub dirs: Vec<(PathBuf, String)>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Arguments after the program's name.
    pub args: Vec<String>,
}

impl World {
    /// Parses `--dir HOST[::GUEST]` (the guest name defaults to the host path as given).
    pub fn dir(spec: &str) -> (PathBuf, String) {
        match spec.split_once("::") {
            Some((host, guest)) => (host.into(), guest.into()),
            None => (spec.into(), spec.into()),
        }
    }

    /// Parses `--env KEY=VALUE`.
    ///
    /// # Errors
    /// Without `=`.
    pub fn env(spec: &str) -> Result<(String, String), String> {
        spec.split_once('=')
            .map(|(k, v)| (k.into(), v.into()))
            .ok_or_else(|| format!("`{spec}` is not KEY=VALUE"))
    }
}

/// Whether `wasm` is a WASI command: it imports `wasi_snapshot_preview1` and exports
/// `_start`.
pub fn is_wasi_command(wasm: &[u8]) -> bool {
    wasi_kind(wasm) == Some(wasi::Kind::Command)
}

/// The WASI kind of `wasm`, `None` when it does not parse.
pub fn wasi_kind(wasm: &[u8]) -> Option<wasi::Kind> {
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            wasmparser::Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    imports.push(import.ok()?.module.to_string());
                }
            }
            wasmparser::Payload::ExportSection(section) => {
                for export in section {
                    exports.push(export.ok()?.name.to_string());
                }
            }
            _ => {}
        }
    }
    Some(wasi::kind(
        imports.iter().map(String::as_str),
        exports.iter().map(String::as_str),
    ))
}

/// One engine's run of the program.
#[derive(Debug)]
pub struct CommandRun {
    /// Engine name.
    pub engine: &'static str,
    /// The exit code, or what stopped the program otherwise.
    pub exit: Result<i32, WasmError>,
    /// Its standard output and error, when captured.
    pub stdout: Vec<u8>,
    /// See `stdout`.
    pub stderr: Vec<u8>,
    /// Fuel consumed, with metering on.
    pub fuel: Option<u64>,
    /// Compile and run time.
    pub took: Duration,
}

/// Runs the command `wasm` (named `name` in its arguments) on `engine` (an engine, or one
/// behind the module cache), in `world`; its
/// output captured when `capture`, else passed through (standard input too). The
/// deterministic profile makes WASI deterministic as well.
///
/// # Errors
/// Compilation and instantiation errors.
pub fn run<E: Engine<Module = AnyModule>>(
    engine: &E,
    wasm: &[u8],
    name: &str,
    world: &World,
    capture: bool,
) -> Result<CommandRun, WasmError> {
    let began = Instant::now();
    let module = engine.compile(wasm)?;
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    // Sightglass's benchmark markers (`../shared/programs`), so its programs run as they are.
    for mark in ["start", "end"] {
        host.raw("bench", mark, &[], &[], |_, _| Ok(vec![]));
    }
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let mut builder = WasiCtx::builder().arg(name).args(&world.args);
    builder = match capture {
        true => builder.stdout(stdout.output()).stderr(stderr.output()),
        false => builder
            .stdout(Output::Inherit)
            .stderr(Output::Inherit)
            .inherit_stdin(),
    };
    for (key, value) in &world.env {
        builder = builder.env(key, value);
    }
    for (host_dir, guest) in &world.dirs {
        builder = builder
            .preopen_dir(host_dir, guest.clone(), DirPerms::ReadWrite)
            .map_err(|e| WasmError::host(format!("{}: {e}", host_dir.display())))?;
    }
    if engine.config().deterministic {
        builder = builder.deterministic(0);
    }
    let mut instance = module.prelink(&host)?.instantiate(builder.build())?;
    let exit = match instance.call_raw("_start", &[]) {
        Ok(_) => Ok(0),
        Err(WasmError::Exit(code)) => Ok(code),
        Err(e) => Err(e),
    };
    Ok(CommandRun {
        engine: engine.name(),
        exit,
        stdout: stdout.contents(),
        stderr: stderr.contents(),
        fuel: instance.fuel_consumed(),
        took: began.elapsed(),
    })
}

/// Whether every run gave the same exit, output and fuel.
pub fn agree(runs: &[CommandRun]) -> bool {
    runs.windows(2).all(|w| {
        w[0].exit == w[1].exit
            && w[0].stdout == w[1].stdout
            && w[0].stderr == w[1].stderr
            && w[0].fuel == w[1].fuel
    })
}
