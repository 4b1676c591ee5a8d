//! Real programs on wasmtime: through wasmhost (its WASI, its layer) against wasmtime's own
//! `wasmtime-wasi` p1 on a bare `Linker`, each the median of N whole runs (a fresh instance,
//! `_start`, captured stdout; compiled once), alternating, with identical output asserted.
//!
//!   cargo run --release --manifest-path benches/wasi-compare/Cargo.toml [-- N]
//!
//! A workspace of its own, so that wasmtime-wasi (and the wasmtime features it turns on)
//! stays out of wasmhost's build. Programs: `WASMHOST_PROGRAMS`, else `../shared/programs`.
use std::path::PathBuf;
use std::time::Instant;

use wasmhost::prelude::*;
use wasmhost::wasi::{self, Captured, DirPerms, WasiCtx};
use wasmhost::{AnyEngine, Config, HostFunctions};

const PROGRAMS: [(&str, &str); 8] = [
    ("bz2", "benchmark.wasm"),
    ("richards", "benchmark.wasm"),
    ("quicksort", "benchmark.wasm"),
    ("pulldown-cmark", "benchmark.wasm"),
    ("regex", "benchmark.wasm"),
    ("rust-json", "benchmark.wasm"),
    ("shootout", "shootout-keccak.wasm"),
    ("tinygo", "tinygo-json.wasm"),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::var_os("WASMHOST_PROGRAMS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/programs"),
        PathBuf::from,
    );
    let runs: usize = std::env::args().nth(1).map_or(7, |n| n.parse().unwrap());
    let ours_engine = AnyEngine::from_name("wasmtime", Config::default())?;
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    for mark in ["start", "end"] {
        host.raw("bench", mark, &[], &[], |_, _| Ok(vec![]));
    }
    let engine = wasmtime::Engine::default();
    let mut linker = wasmtime::Linker::<wasmtime_wasi::p1::WasiP1Ctx>::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx| cx)?;
    linker.func_wrap("bench", "start", || {})?;
    linker.func_wrap("bench", "end", || {})?;
    let mut ratios = Vec::new();
    println!(
        "{:<16} {:>12} {:>12} {:>8}",
        "program", "ours ms", "wasmtime-wasi ms", "ratio"
    );
    for (folder, file) in PROGRAMS {
        let folder = dir.join(folder);
        let wasm = std::fs::read(folder.join(file))?;
        let ours_module = ours_engine.compile(&wasm)?;
        let theirs_module = wasmtime::Module::new(&engine, &wasm)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut out_ours, mut out_theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let stdout = Captured::new();
            let ctx = WasiCtx::builder()
                .arg(file)
                .stdout(stdout.output())
                .preopen_dir(&folder, ".", DirPerms::ReadOnly)?
                .build();
            let (exit, _i) = wasi::run_command(&ours_module, &host, ctx)?;
            ours.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(exit, 0);
            out_ours = stdout.contents();

            let t = Instant::now();
            let pipe = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(64 << 20);
            let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
            builder.arg(file).stdout(pipe.clone()).preopened_dir(
                &folder,
                ".",
                wasmtime_wasi::FsPerms::ReadOnly,
            )?;
            let ctx = builder.build_p1();
            let mut store = wasmtime::Store::new(&engine, ctx);
            let instance = linker.instantiate(&mut store, &theirs_module)?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            match start.call(&mut store, ()) {
                Ok(()) => {}
                Err(e) => {
                    let code = e.downcast_ref::<wasmtime_wasi::I32Exit>().map(|e| e.0);
                    assert_eq!(code, Some(0), "{e}");
                }
            }
            drop(store);
            theirs.push(t.elapsed().as_secs_f64() * 1e3);
            out_theirs = pipe.contents().to_vec();
        }
        assert_eq!(out_ours, out_theirs, "{file}: outputs differ");
        let (a, b) = (median(ours), median(theirs));
        ratios.push(a / b);
        println!(
            "{:<16} {:>12.2} {:>12.2} {:>8.3}",
            folder.file_name().unwrap().to_string_lossy(),
            a,
            b,
            a / b
        );
    }
    let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    println!("geometric mean ours / wasmtime-wasi: {geo:.3}");
    Ok(())
}
