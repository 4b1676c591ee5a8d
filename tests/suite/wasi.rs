//! WASI preview 1 on every engine: real third-party programs (`../shared/programs`, see its
//! README) give their expected output, and the same output and fuel everywhere in the
//! deterministic profile; `proc_exit` is one typed outcome; hostile arguments get errnos.

use wasmhost::prelude::*;
use wasmhost::wasi::{self, Captured, DirPerms, WasiCtx};
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, Value, WasmError};

/// What one run of a program gave.
#[derive(Debug, PartialEq)]
struct Run {
    exit: i32,
    stdout: String,
    stderr: String,
    fuel: Option<u64>,
}

/// Runs program `name` of folder `folder` as Sightglass does: the folder preopened as `.`,
/// no standard input, `bench.start`/`bench.end` linked.
fn run(engine: &AnyEngine, folder: &std::path::Path, name: &str) -> Run {
    let wasm = std::fs::read(folder.join(name)).expect("the program reads");
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    for mark in ["start", "end"] {
        host.raw("bench", mark, &[], &[], |_, _| Ok(vec![]));
    }
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let ctx = WasiCtx::builder()
        .arg(name)
        .stdout(stdout.output())
        .stderr(stderr.output())
        .preopen_dir(folder, ".", DirPerms::ReadOnly)
        .expect("the folder opens");
    let ctx = match engine.config().deterministic {
        true => ctx.deterministic(0),
        false => ctx,
    };
    let module = engine.compile(&wasm).expect("the program compiles");
    let (exit, mut instance) = wasi::run_command(&module, &host, ctx.build())
        .unwrap_or_else(|e| panic!("{name} fails on {}: {e}", engine.name()));
    Run {
        exit,
        stdout: stdout.text(),
        stderr: stderr.text(),
        fuel: instance.fuel_consumed(),
    }
}

/// The programs the tests run on every engine, the interpreter included: quick ones (each
/// under half a second on wasmi), of every source language (C, C++, Rust, TinyGo), each
/// with expected output to compare.
const PROGRAMS: [(&str, &str); 6] = [
    ("bz2", "benchmark.wasm"),
    ("richards", "benchmark.wasm"),
    ("quicksort", "benchmark.wasm"),
    ("shootout", "shootout-keccak.wasm"),
    ("rust-json", "benchmark.wasm"),
    ("tinygo", "tinygo-json.wasm"),
];

/// The expected output file of `name` in `folder`, in Sightglass's naming.
fn expected(folder: &std::path::Path, name: &str, stream: &str) -> Option<String> {
    let file = folder.join(format!(
        "{}.{stream}.expected",
        name.trim_end_matches(".wasm")
    ));
    file.is_file()
        .then(|| std::fs::read_to_string(file).expect("expected output reads"))
}

fn real_programs_give_their_expected_output(engine: &AnyEngine) {
    let Some(dir) = wasmhost_test_wasms::programs_dir() else {
        return;
    };
    for (folder, name) in PROGRAMS {
        let folder = dir.join(folder);
        let run = run(engine, &folder, name);
        assert_eq!(run.exit, 0, "{name}: {}", run.stderr);
        for (stream, got) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if let Some(want) = expected(&folder, name, stream) {
                assert_eq!(got.trim_end(), want.trim_end(), "{name} {stream}");
            }
        }
    }
}

fn exit_codes_end_the_call_and_spend_the_instance(engine: &AnyEngine) {
    let wasm = wasmhost::wat2wasm(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 3)) unreachable)
            (func (export "ok") (result i32) (i32.const 1)))"#,
    )
    .unwrap();
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let module = engine.compile(&wasm).unwrap();
    let mut instance = module
        .instantiate(&host, WasiCtx::builder().build())
        .unwrap();
    assert_eq!(instance.call_raw("_start", &[]), Err(WasmError::Exit(3)));
    assert_eq!(instance.call_raw("ok", &[]), Err(WasmError::Exit(3)));
    let mut fresh = module
        .instantiate(&host, WasiCtx::builder().build())
        .unwrap();
    assert_eq!(fresh.call_raw("ok", &[]), Ok(vec![Value::I32(1)]));
}

/// A guest calling each function with hostile arguments: out-of-bounds pointers, huge
/// lengths, bad descriptors, invalid UTF-8 and escaping paths. Each answers an errno (the
/// one the spec names); nothing traps, nothing outside the preopen is touched.
fn hostile_arguments_get_errnos(engine: &AnyEngine) {
    let wasm = wasmhost::wat2wasm(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 100) "../outside")
            (data (i32.const 200) "\ff\fe")
            (data (i32.const 300) "/etc/passwd")
            ;; an iovec at 8 of 4 bytes at 0, one at 16 pointing past the end of memory
            (data (i32.const 8) "\00\00\00\00\04\00\00\00")
            (data (i32.const 16) "\00\00\01\00\10\00\00\00")
            (func (export "write_bad_fd") (result i32) (call $fd_write (i32.const 99) (i32.const 8) (i32.const 1) (i32.const 0)))
            (func (export "write_oob_iovec") (result i32) (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 0)))
            (func (export "write_oob_list") (result i32) (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1000000) (i32.const 0)))
            (func (export "read_into_oob") (result i32) (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 0)))
            (func (export "open_escape") (result i32) (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 10) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
            (func (export "open_absolute") (result i32) (call $path_open (i32.const 3) (i32.const 1) (i32.const 300) (i32.const 11) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
            (func (export "open_not_utf8") (result i32) (call $path_open (i32.const 3) (i32.const 1) (i32.const 200) (i32.const 2) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
            (func (export "create_read_only") (result i32) (call $path_open (i32.const 3) (i32.const 1) (i32.const 103) (i32.const 7) (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
            (func (export "open_huge_path") (result i32) (call $path_open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const -1) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
            (func (export "random_oob") (result i32) (call $random_get (i32.const 65000) (i32.const 1000)))
            (func (export "sockets") (result i32) (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 0)))
            (func (export "raise") (result i32) (call $proc_raise (i32.const 9))))"#,
    )
    .unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    let inside = sandbox.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let ctx = WasiCtx::builder()
        .stdin_bytes(b"input".to_vec())
        .preopen_dir(&inside, ".", DirPerms::ReadOnly)
        .unwrap()
        .build();
    let mut guest = engine
        .compile(&wasm)
        .unwrap()
        .instantiate(&host, ctx)
        .unwrap();
    let cases = [
        ("write_bad_fd", wasi::errno::BADF),
        ("write_oob_iovec", wasi::errno::FAULT),
        ("write_oob_list", wasi::errno::FAULT),
        ("read_into_oob", wasi::errno::FAULT),
        ("open_escape", wasi::errno::NOTCAPABLE),
        ("open_absolute", wasi::errno::NOTCAPABLE),
        ("open_not_utf8", wasi::errno::ILSEQ),
        ("create_read_only", wasi::errno::ROFS),
        ("open_huge_path", wasi::errno::NAMETOOLONG),
        ("random_oob", wasi::errno::FAULT),
        ("sockets", wasi::errno::NOTSUP),
        ("raise", wasi::errno::NOSYS),
    ];
    for (export, errno) in cases {
        assert_eq!(
            guest.call_raw(export, &[]),
            Ok(vec![Value::I32(i32::from(errno))]),
            "{export}"
        );
    }
    // The read into memory it could not store consumed nothing.
    assert_eq!(std::fs::read_dir(sandbox.path()).unwrap().count(), 1);
}

wasmhost::on_every_engine!(
    real_programs_give_their_expected_output,
    exit_codes_end_the_call_and_spend_the_instance,
    hostile_arguments_get_errnos,
);

/// In the deterministic profile with portable fuel, every engine gives one answer: the same
/// exit code, output and fuel.
#[test]
fn real_programs_agree_on_every_engine_in_the_deterministic_profile() {
    let Some(dir) = wasmhost_test_wasms::programs_dir() else {
        return;
    };
    let config = Config::default()
        .deterministic(true)
        .metering(Metering::Portable);
    for (folder, name) in PROGRAMS {
        let folder = dir.join(folder);
        let runs: Vec<(&str, Run)> = AnyEngine::all(&config)
            .iter()
            .map(|engine| (engine.name(), run(engine, &folder, name)))
            .collect();
        for (engine, got) in &runs[1..] {
            assert_eq!(got, &runs[0].1, "{name}: {engine} against {}", runs[0].0);
        }
        assert!(runs[0].1.fuel.is_some_and(|f| f > 0), "{name} burns fuel");
    }
}
