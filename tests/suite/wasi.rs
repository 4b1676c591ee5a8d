//! WASI preview 1 on every engine: real third-party programs (`../shared/programs`, see its
//! README) give their expected output, and the same output and fuel everywhere in the
//! deterministic profile; `proc_exit` is one typed outcome; hostile arguments get errnos.

use wasmhost::prelude::*;
use wasmhost::wasi::{self, Captured, DirPerms, MemoryDir, WasiCtx};
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, ValType, Value, WasmError};
use wasmhost_test_wasms::programs::{self, Program};

/// What one run of a program gave.
#[derive(Debug, PartialEq)]
struct Run {
    exit: i32,
    stdout: String,
    stderr: String,
    fuel: Option<u64>,
}

/// Runs `program` as Sightglass does ([`Program::context`]), its folder's files copied
/// into an in-memory tree preopened as `.` instead when `in_memory`.
fn run(engine: &AnyEngine, program: &Program, in_memory: bool) -> Run {
    let wasm = std::fs::read(&program.wasm).expect("the program reads");
    let ctx = match in_memory {
        false => program.context().expect("the folder opens"),
        true => {
            let tree = MemoryDir::new();
            for entry in std::fs::read_dir(&program.folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let name = path.file_name().unwrap().to_str().unwrap();
                    tree.write(name, std::fs::read(&path).unwrap()).unwrap();
                }
            }
            WasiCtx::builder()
                .arg(&program.name)
                .preopen_memory(&tree, ".", DirPerms::ReadOnly)
        }
    };
    let ctx = match engine.config().deterministic {
        true => ctx.deterministic(0),
        false => ctx,
    };
    run_command(engine, &wasm, ctx, &program.name)
}

/// Runs the WASI command `wasm` (called `name` in failures) on `engine` with the context
/// `ctx` builds, its stdout and stderr captured, `bench.start`/`bench.end` linked.
fn run_command(engine: &AnyEngine, wasm: &[u8], ctx: wasi::WasiCtxBuilder, name: &str) -> Run {
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    programs::link_bench_marks(&mut host);
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let ctx = ctx.stdout(stdout.output()).stderr(stderr.output()).build();
    let module = engine.compile(wasm).expect("the program compiles");
    let (exit, mut instance) = wasi::run_command(&module, &host, ctx)
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
const PROGRAMS: [&str; 6] = [
    "bz2",
    "richards",
    "quicksort",
    "shootout-keccak",
    "rust-json",
    "tinygo-json",
];

fn real_programs_give_their_expected_output(engine: &AnyEngine) {
    programs_give_their_expected_output(engine, false);
}

/// The same programs, their folders copied into in-memory trees: the same output.
fn real_programs_read_their_inputs_from_an_in_memory_tree(engine: &AnyEngine) {
    programs_give_their_expected_output(engine, true);
}

fn programs_give_their_expected_output(engine: &AnyEngine, in_memory: bool) {
    let Some(dir) = wasmhost_test_wasms::programs_dir() else {
        return;
    };
    for program in programs::named(&dir, &PROGRAMS) {
        let name = &program.name;
        let run = run(engine, &program, in_memory);
        assert_eq!(run.exit, 0, "{name}: {}", run.stderr);
        for (stream, got) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if let Some(want) = program.expected(stream) {
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
    for program in programs::named(&dir, &PROGRAMS) {
        let name = &program.name;
        let runs: Vec<(&str, Run)> = AnyEngine::all(&config)
            .iter()
            .map(|engine| (engine.name(), run(engine, &program, false)))
            .collect();
        for (engine, got) in &runs[1..] {
            assert_eq!(got, &runs[0].1, "{name}: {engine} against {}", runs[0].0);
        }
        assert!(runs[0].1.fuel.is_some_and(|f| f > 0), "{name} burns fuel");
    }
}

/// Runs the Rust std program (`test-wasms/guests/wasi-app`, built for wasm32-wasip1) with
/// `args`, `GREETING=hi`, standard input `abc`, and `data.txt` in an in-memory tree
/// preopened as `.`; in the deterministic mode with `seed`. What it gave, and the contents
/// of the `out/sum.txt` it wrote.
fn run_app(engine: &AnyEngine, args: &[&str], seed: Option<u64>) -> (Run, Option<String>) {
    let tree = MemoryDir::new();
    tree.write("data.txt", "1 2 3 -4\n10\n").unwrap();
    let ctx = WasiCtx::builder()
        .arg("wasi-app")
        .args(args)
        .env("GREETING", "hi")
        .stdin_bytes(b"abc".to_vec())
        .preopen_memory(&tree, ".", DirPerms::ReadWrite);
    let ctx = match seed {
        Some(seed) => ctx.deterministic(seed),
        None => ctx,
    };
    let wasm = wasmhost_test_wasms::guest("wasi-app");
    let run = run_command(engine, wasm, ctx, "wasi-app");
    let sum = tree.read("out/sum.txt").ok();
    (run, sum.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The line of `stdout` that starts with `key: `, without it.
fn line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{stdout}"))
}

fn a_rust_std_program_sees_args_env_stdin_clocks_files_and_exits_with_its_code(engine: &AnyEngine) {
    let (run, sum_file) = run_app(engine, &["exit", "7"], None);
    assert_eq!(run.exit, 7, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert_eq!(line(out, "args"), "exit 7");
    assert_eq!(line(out, "greeting"), "hi");
    assert_eq!(line(out, "stdin"), "ABC");
    assert_eq!(line(out, "after 2020"), "true");
    assert_eq!(line(out, "monotonic clock advances"), "true");
    let mut keys: Vec<u32> = line(out, "hash order")
        .split(',')
        .map(|k| k.parse().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..16).collect::<Vec<_>>());
    assert_eq!(line(out, "sum"), "12");
    assert_eq!(line(out, "listing"), "data.txt,out");
    assert_eq!(sum_file.as_deref(), Some("12"));
    assert_eq!(run.stderr, "to stderr\n");
    // Without `exit N`, `main` returns: exit code 0.
    assert_eq!(run_app(engine, &[], None).0.exit, 0);
}

/// The Rust std program in the deterministic mode, with the deterministic profile and
/// portable fuel: one output and one fuel figure on every engine; its `HashMap` order
/// follows the seed (`random_get`), so another seed gives another order.
#[test]
fn a_rust_std_program_agrees_on_every_engine_in_the_deterministic_profile() {
    let config = Config::default()
        .deterministic(true)
        .metering(Metering::Portable);
    let engines = AnyEngine::all(&config);
    let runs: Vec<Run> = engines
        .iter()
        .map(|engine| run_app(engine, &[], Some(1)).0)
        .collect();
    for (engine, run) in engines.iter().zip(&runs).skip(1) {
        let name = engine.name();
        assert_eq!(
            run.stdout,
            runs[0].stdout,
            "{name} against {}",
            engines[0].name()
        );
        assert_eq!(
            run.fuel,
            runs[0].fuel,
            "{name} against {}",
            engines[0].name()
        );
    }
    assert_eq!(line(&runs[0].stdout, "sum"), "12");
    assert!(runs[0].fuel.is_some_and(|f| f > 0));
    let again = run_app(&engines[0], &[], Some(1)).0;
    assert_eq!(again.stdout, runs[0].stdout);
    let orders: std::collections::BTreeSet<String> = (2..6)
        .map(|seed| {
            line(
                &run_app(&engines[0], &[], Some(seed)).0.stdout,
                "hash order",
            )
            .to_string()
        })
        .collect();
    assert!(
        orders.len() > 1,
        "four seeds, one HashMap order: {orders:?}"
    );
}

/// A serialized-ABI guest built for wasm32-wasip1 (`guests/wasi-logger`) logs with
/// `println!` while it answers typed calls: WASI and the ABI in one instance.
fn a_serialized_guest_logs_through_wasi(engine: &AnyEngine) {
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let ctx = WasiCtx::builder()
        .stdout(stdout.output())
        .stderr(stderr.output())
        .build();
    let module = engine
        .compile(wasmhost_test_wasms::guest("wasi-logger"))
        .unwrap();
    let mut guest = module.instantiate(&host, ctx).unwrap();
    let sum: u64 = guest.call("sum_and_log", &vec![1u32, 2, u32::MAX]).unwrap();
    assert_eq!(sum, 3 + u64::from(u32::MAX));
    let sum: u64 = guest.call("sum_and_log", &Vec::<u32>::new()).unwrap();
    assert_eq!(sum, 0);
    assert_eq!(
        stdout.text(),
        "summed 3 values: 4294967298\nsummed 0 values: 0\n"
    );
    assert_eq!(stderr.text(), "logged\nlogged\n");
}

/// A guest that exports each named WASI function as it is (parameters `i` for i32, `I` for
/// i64; an errno back): the tests call WASI through it with exact arguments.
fn trampoline(functions: &[(&str, &str)]) -> Vec<u8> {
    let types = |params: &str| -> String {
        let each = params
            .chars()
            .map(|c| if c == 'I' { " i64" } else { " i32" });
        each.collect()
    };
    let mut imports = String::new();
    let mut exports = String::new();
    for (name, params) in functions {
        let (types, gets): (String, String) = (
            types(params),
            (0..params.len())
                .map(|i| format!("(local.get {i})"))
                .collect(),
        );
        imports += &format!(
            "(import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param{types}) (result i32)))\n"
        );
        exports += &format!(
            "(func (export \"{name}\") (param{types}) (result i32) (call ${name} {gets}))\n"
        );
    }
    let wat = format!("(module\n{imports}(memory (export \"memory\") 1)\n{exports})");
    wasmhost::wat2wasm(wat).expect("the trampoline assembles")
}

/// Calls WASI function `name` through the trampoline; its errno.
fn errno(guest: &mut impl Guest, name: &str, args: &[Value]) -> u16 {
    match guest.call_raw(name, args) {
        Ok(results) => match results[..] {
            [Value::I32(errno)] => errno as u16,
            _ => panic!("{name} returned {results:?}"),
        },
        Err(e) => panic!("{name} failed: {e}"),
    }
}

/// Writes `text` at `ptr` and gives the (ptr, len) arguments for it.
fn text(guest: &mut impl Guest, ptr: u32, text: &str) -> [Value; 2] {
    guest.write(ptr, text.as_bytes()).unwrap();
    [Value::I32(ptr as i32), Value::I32(text.len() as i32)]
}

fn u32_at(guest: &mut impl Guest, ptr: u32) -> u32 {
    let bytes = guest.read(ptr, 4).unwrap();
    u32::from_le_bytes(bytes.try_into().unwrap())
}

fn u64_at(guest: &mut impl Guest, ptr: u32) -> u64 {
    let bytes = guest.read(ptr, 8).unwrap();
    u64::from_le_bytes(bytes.try_into().unwrap())
}

const FILE_CALLS: &[(&str, &str)] = &[
    ("path_open", "iiiiiIIii"),
    ("fd_write", "iiii"),
    ("fd_read", "iiii"),
    ("fd_seek", "iIii"),
    ("fd_close", "i"),
    ("path_filestat_get", "iiiii"),
    ("path_create_directory", "iii"),
    ("path_rename", "iiiiii"),
    ("fd_readdir", "iiiIi"),
    ("path_unlink_file", "iii"),
    ("path_remove_directory", "iii"),
];

/// Where a test's preopen stands: a host directory (beside a file outside it, and on unix a
/// symlink inside pointing at that file) or an in-memory tree.
enum Backing {
    Host(tempfile::TempDir),
    Memory(MemoryDir),
}

impl Backing {
    /// `data.txt` ("abc") and an empty `sub/`, in a host directory or a tree.
    fn new(memory: bool) -> Self {
        if memory {
            let tree = MemoryDir::new();
            tree.write("data.txt", "abc").unwrap();
            tree.create_dir_all("sub").unwrap();
            return Backing::Memory(tree);
        }
        let sandbox = tempfile::tempdir().unwrap();
        let root = sandbox.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("data.txt"), "abc").unwrap();
        std::fs::write(sandbox.path().join("secret"), "outside").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(sandbox.path().join("secret"), root.join("link")).unwrap();
        Backing::Host(sandbox)
    }

    fn preopen(&self, ctx: wasi::WasiCtxBuilder) -> WasiCtx {
        match self {
            Backing::Host(sandbox) => ctx
                .preopen_dir(sandbox.path().join("root"), ".", DirPerms::ReadWrite)
                .unwrap(),
            Backing::Memory(tree) => ctx.preopen_memory(tree, ".", DirPerms::ReadWrite),
        }
        .build()
    }

    /// File `path`'s bytes, as the host reads them back.
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        match self {
            Backing::Host(sandbox) => std::fs::read(sandbox.path().join("root").join(path)).ok(),
            Backing::Memory(tree) => tree.read(path).ok(),
        }
    }

    /// Whether the host's symlink pointing outside is there.
    fn has_link(&self) -> bool {
        matches!(self, Backing::Host(_)) && cfg!(unix)
    }
}

fn files_are_created_written_read_listed_and_removed_inside_a_preopen(engine: &AnyEngine) {
    files_are_created_written_read_listed_and_removed(engine, Backing::new(false));
}

fn files_are_created_written_read_listed_and_removed_inside_an_in_memory_tree(engine: &AnyEngine) {
    files_are_created_written_read_listed_and_removed(engine, Backing::new(true));
}

/// The names directory `fd` lists, read through `fd_readdir` with a buffer of `buf_len`
/// bytes: each call from the cookie of the last whole entry, until one does not fill it.
fn list(g: &mut impl Guest, fd: i32, buf_len: u32) -> Vec<String> {
    use Value::{I32, I64};
    let (mut names, mut cookie) = (Vec::new(), 0u64);
    loop {
        let args = [
            I32(fd),
            I32(4000),
            I32(buf_len as i32),
            I64(cookie as i64),
            I32(520),
        ];
        assert_eq!(errno(g, "fd_readdir", &args), 0);
        let used = u32_at(g, 520);
        let listing = g.read(4000, used).unwrap();
        let mut at = 0;
        while at + 24 <= listing.len() {
            let len = u32::from_le_bytes(listing[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + len > listing.len() {
                break; // cut off by the buffer's end: read again from its cookie
            }
            cookie = u64::from_le_bytes(listing[at..at + 8].try_into().unwrap());
            names.push(String::from_utf8_lossy(&listing[at + 24..at + 24 + len]).into_owned());
            at += 24 + len;
        }
        if used < buf_len {
            return names;
        }
    }
}

fn files_are_created_written_read_listed_and_removed(engine: &AnyEngine, backing: Backing) {
    use Value::{I32, I64};
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let ctx = backing.preopen(WasiCtx::builder());
    let module = engine.compile(&trampoline(FILE_CALLS)).unwrap();
    let mut g = module.instantiate(&host, ctx).unwrap();
    let (read, write) = (1 << 1, 1 << 6);
    // Create and open new.txt for reading and writing: descriptor 4, after the preopen.
    let [p, l] = text(&mut g, 1000, "new.txt");
    let open = |p: Value, l: Value, oflags: i32, rights: i64| {
        [
            I32(3),
            I32(1),
            p,
            l,
            I32(oflags),
            I64(rights),
            I64(0),
            I32(0),
            I32(500),
        ]
    };
    assert_eq!(errno(&mut g, "path_open", &open(p, l, 1, read | write)), 0);
    let fd = u32_at(&mut g, 500);
    assert_eq!(fd, 4);
    // Write "hello" through an iovec, seek back, read it into another.
    g.write(2000, b"hello").unwrap();
    g.write(100, &[2000u32.to_le_bytes(), 5u32.to_le_bytes()].concat())
        .unwrap();
    g.write(108, &[3000u32.to_le_bytes(), 16u32.to_le_bytes()].concat())
        .unwrap();
    let fdv = I32(fd as i32);
    assert_eq!(
        errno(&mut g, "fd_write", &[fdv, I32(100), I32(1), I32(504)]),
        0
    );
    assert_eq!(u32_at(&mut g, 504), 5);
    assert_eq!(
        errno(&mut g, "fd_seek", &[fdv, I64(0), I32(0), I32(508)]),
        0
    );
    assert_eq!(u64_at(&mut g, 508), 0);
    assert_eq!(
        errno(&mut g, "fd_read", &[fdv, I32(108), I32(1), I32(512)]),
        0
    );
    assert_eq!(u32_at(&mut g, 512), 5);
    assert_eq!(g.read(3000, 5).unwrap(), b"hello");
    assert_eq!(errno(&mut g, "fd_close", &[fdv]), 0);
    assert_eq!(errno(&mut g, "fd_close", &[fdv]), wasi::errno::BADF);
    assert_eq!(backing.read("new.txt").unwrap(), b"hello");
    // Its stat: a regular file of 5 bytes.
    let [p, l] = text(&mut g, 1000, "new.txt");
    assert_eq!(
        errno(
            &mut g,
            "path_filestat_get",
            &[I32(3), I32(1), p, l, I32(600)]
        ),
        0
    );
    assert_eq!((g.read(616, 1).unwrap()[0], u64_at(&mut g, 632)), (4, 5));
    // A directory made, the file moved into it, the listing in name order.
    let [p, l] = text(&mut g, 1000, "made");
    assert_eq!(errno(&mut g, "path_create_directory", &[I32(3), p, l]), 0);
    let [p1, l1] = text(&mut g, 1000, "new.txt");
    let [p2, l2] = text(&mut g, 1100, "made/moved.txt");
    assert_eq!(
        errno(&mut g, "path_rename", &[I32(3), p1, l1, I32(3), p2, l2]),
        0
    );
    assert_eq!(backing.read("made/moved.txt").unwrap(), b"hello");
    assert_eq!(backing.read("new.txt"), None);
    let names = list(&mut g, 3, 4096);
    // Paged through a buffer smaller than one entry and a half: the same listing.
    assert_eq!(list(&mut g, 3, 40), names);
    let mut want = vec![".", "..", "data.txt", "made", "sub"];
    if backing.has_link() {
        want.insert(3, "link");
    }
    assert_eq!(names, want);
    // Removed again.
    let [p, l] = text(&mut g, 1000, "made/moved.txt");
    assert_eq!(errno(&mut g, "path_unlink_file", &[I32(3), p, l]), 0);
    let [p, l] = text(&mut g, 1000, "made");
    assert_eq!(errno(&mut g, "path_remove_directory", &[I32(3), p, l]), 0);
    assert_eq!(
        errno(
            &mut g,
            "path_filestat_get",
            &[I32(3), I32(1), p, l, I32(600)]
        ),
        wasi::errno::NOENT
    );
    // A symlink inside the preopen that points outside it leads nowhere.
    if let Backing::Host(sandbox) = &backing
        && backing.has_link()
    {
        let [p, l] = text(&mut g, 1000, "link");
        let e = errno(&mut g, "path_open", &open(p, l, 0, read | write));
        assert_eq!(e, wasi::errno::NOTCAPABLE);
        assert_eq!(
            std::fs::read(sandbox.path().join("secret")).unwrap(),
            b"outside"
        );
    }
    // `..` above the preopen and absolute paths reach nothing, on either backing.
    for escape in ["../secret", "/secret", "sub/../../secret"] {
        let [p, l] = text(&mut g, 1000, escape);
        let e = errno(&mut g, "path_open", &open(p, l, 0, read));
        assert_eq!(e, wasi::errno::NOTCAPABLE, "{escape}");
    }
}

const TIME_CALLS: &[(&str, &str)] = &[
    ("clock_time_get", "iIi"),
    ("random_get", "ii"),
    ("poll_oneoff", "iiii"),
    ("environ_sizes_get", "ii"),
];

fn the_deterministic_mode_has_virtual_time_seeded_randomness_and_no_host_environment(
    engine: &AnyEngine,
) {
    use Value::{I32, I64};
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let module = engine.compile(&trampoline(TIME_CALLS)).unwrap();
    let fresh = |seed: u64| {
        let ctx = WasiCtx::builder().inherit_env().deterministic(seed).build();
        module.instantiate(&host, ctx).unwrap()
    };
    let mut g = fresh(42);
    // The realtime clock starts at the epoch and each read advances it by the step.
    for i in 0..3 {
        assert_eq!(
            errno(&mut g, "clock_time_get", &[I32(0), I64(0), I32(100)]),
            0
        );
        let want = wasi::VIRTUAL_EPOCH_NANOS + i * wasi::VIRTUAL_STEP_NANOS;
        assert_eq!(u64_at(&mut g, 100), want);
    }
    // A one-second sleep (a relative clock subscription) takes no time and moves it on.
    let mut subscription = [0u8; 48];
    subscription[24..32].copy_from_slice(&1_000_000_000u64.to_le_bytes());
    g.write(200, &subscription).unwrap();
    assert_eq!(
        errno(
            &mut g,
            "poll_oneoff",
            &[I32(200), I32(300), I32(1), I32(400)]
        ),
        0
    );
    assert_eq!(u32_at(&mut g, 400), 1);
    assert_eq!(
        errno(&mut g, "clock_time_get", &[I32(1), I64(0), I32(100)]),
        0
    );
    assert_eq!(
        u64_at(&mut g, 100),
        1_000_000_000 + 4 * wasi::VIRTUAL_STEP_NANOS
    );
    // The random bytes come from the seed: the same for the same seed, on every engine
    // (ChaCha12 of seed 42), others for another.
    assert_eq!(errno(&mut g, "random_get", &[I32(500), I32(8)]), 0);
    let bytes = g.read(500, 8).unwrap();
    let mut again = fresh(42);
    assert_eq!(errno(&mut again, "random_get", &[I32(500), I32(8)]), 0);
    assert_eq!(again.read(500, 8).unwrap(), bytes);
    let mut other = fresh(43);
    assert_eq!(errno(&mut other, "random_get", &[I32(500), I32(8)]), 0);
    assert_ne!(other.read(500, 8).unwrap(), bytes);
    // inherit_env is ignored: nothing of the host's environment is there.
    assert_eq!(errno(&mut g, "environ_sizes_get", &[I32(600), I32(604)]), 0);
    assert_eq!((u32_at(&mut g, 600), u32_at(&mut g, 604)), (0, 0));
}

/// The trampoline of [`TIME_CALLS`] on an engine of `engine`'s kind with `config`, its WASI
/// state the builder's defaults.
fn time_calls(engine: &AnyEngine, config: Config) -> wasmhost::AnyInstance<WasiCtx> {
    let engine = AnyEngine::from_name(engine.name(), config).unwrap();
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let module = engine.compile(&trampoline(TIME_CALLS)).unwrap();
    module
        .instantiate(&host, WasiCtx::builder().build())
        .unwrap()
}

/// A WASI sleep on host time (a relative clock subscription of an hour) ends at the call's
/// deadline, and the guest stops.
fn a_deadline_ends_a_wasi_sleep(engine: &AnyEngine) {
    use Value::I32;
    let config = Config::default().call_timeout(std::time::Duration::from_millis(20));
    let mut g = time_calls(engine, config);
    let mut subscription = [0u8; 48];
    subscription[24..32].copy_from_slice(&3_600_000_000_000u64.to_le_bytes());
    g.write(200, &subscription).unwrap();
    let began = std::time::Instant::now();
    let slept = g.call_raw("poll_oneoff", &[I32(200), I32(300), I32(1), I32(400)]);
    assert_eq!(
        slept,
        Err(WasmError::Interrupted(wasmhost::Interruption::Deadline))
    );
    assert!(began.elapsed() < std::time::Duration::from_secs(5));
}

fn wasi_calls_charge_fuel_for_the_bytes_they_move(engine: &AnyEngine) {
    use Value::I32;
    let mut g = time_calls(engine, Config::default().metering(Metering::Portable));
    let mut spent = |len: i32| {
        let before = g.fuel_consumed().unwrap();
        assert_eq!(errno(&mut g, "random_get", &[I32(0), I32(len)]), 0);
        g.fuel_consumed().unwrap() - before
    };
    let (none, some) = (spent(0), spent(16_000));
    assert_eq!(
        some - none,
        16_000 / 16,
        "io_bytes_per_unit is 16 by default"
    );
}

/// Every WASI function but `proc_exit`, called through a trampoline with hostile arguments
/// (pointers and lengths past the end of memory, huge numbers, the preopen with garbage, an
/// in-memory tree with zeros, zeros): each answers an errno, never a trap or a host panic;
/// with every pointer out of bounds each one fails (but `sched_yield`, which takes none);
/// nothing outside the preopen is touched, the tree stays within its capacity, and the
/// instance keeps serving.
fn every_function_answers_hostile_arguments_with_an_errno(engine: &AnyEngine) {
    let sandbox = tempfile::tempdir().unwrap();
    let inside = sandbox.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    // A second preopen (descriptor 4): an in-memory tree of one file, 1 MiB at most.
    let tree = MemoryDir::with_capacity(1 << 20);
    tree.write("f", "x").unwrap();
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    let functions: Vec<(String, String)> = host
        .iter()
        .filter(|f| f.module == wasi::MODULE && f.name != "proc_exit")
        .map(|f| {
            let params = f.sig.params.iter();
            let shape = params.map(|t| if *t == ValType::I64 { 'I' } else { 'i' });
            (f.name.clone(), shape.collect())
        })
        .collect();
    assert_eq!(
        functions.len() + 1,
        46,
        "every preview 1 function is linked"
    );
    let list: Vec<(&str, &str)> = functions
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    let module = engine.compile(&trampoline(&list)).unwrap();
    let ctx = WasiCtx::builder()
        .arg("prog")
        .env("KEY", "value")
        .stdin_bytes(b"input".to_vec())
        .preopen_dir(&inside, ".", DirPerms::ReadWrite)
        .unwrap()
        .preopen_memory(&tree, "tree", DirPerms::ReadWrite)
        .build();
    let mut g = module.instantiate(&host, ctx).unwrap();
    let far = |t: char, _: usize| match t {
        'I' => Value::I64(i64::MAX),
        _ => Value::I32(-16),
    };
    let edge = |t: char, _: usize| match t {
        'I' => Value::I64(-1),
        _ => Value::I32(65532),
    };
    let preopen = |t: char, i: usize| match (t, i) {
        ('i', 0) => Value::I32(3),
        _ => far(t, i),
    };
    let zero = |t: char, _: usize| match t {
        'I' => Value::I64(0),
        _ => Value::I32(0),
    };
    let tree_zero = |t: char, i: usize| match (t, i) {
        ('i', 0) => Value::I32(4),
        _ => zero(t, i),
    };
    type Arguments<'a> = &'a dyn Fn(char, usize) -> Value;
    let sets: [(&str, Arguments); 5] = [
        ("far", &far),
        ("edge", &edge),
        ("preopen", &preopen),
        ("tree, zeros", &tree_zero),
        ("zero", &zero),
    ];
    for (set, arg) in sets {
        for (name, params) in &list {
            let args: Vec<Value> = params.chars().enumerate().map(|(i, t)| arg(t, i)).collect();
            let errno = match g.call_raw(name, &args) {
                Ok(results) => match results[..] {
                    [Value::I32(e)] => e,
                    _ => panic!("{name} ({set}) returned {results:?}"),
                },
                Err(e) => panic!("{name} ({set}) stopped the guest: {e}"),
            };
            assert!((0..=76).contains(&errno), "{name} ({set}): errno {errno}");
            if set == "far" && *name != "sched_yield" {
                assert_ne!(
                    errno, 0,
                    "{name} succeeded with every pointer out of bounds"
                );
            }
        }
    }
    let entries: Vec<_> = std::fs::read_dir(sandbox.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing appeared beside the preopen");
    assert!(tree.used_bytes() <= 1 << 20);
    assert_eq!(
        g.call_raw("args_sizes_get", &[Value::I32(100), Value::I32(104)]),
        Ok(vec![Value::I32(0)])
    );
}

wasmhost::on_every_engine!(
    every_function_answers_hostile_arguments_with_an_errno,
    real_programs_give_their_expected_output,
    real_programs_read_their_inputs_from_an_in_memory_tree,
    a_rust_std_program_sees_args_env_stdin_clocks_files_and_exits_with_its_code,
    a_serialized_guest_logs_through_wasi,
    exit_codes_end_the_call_and_spend_the_instance,
    hostile_arguments_get_errnos,
    files_are_created_written_read_listed_and_removed_inside_a_preopen,
    files_are_created_written_read_listed_and_removed_inside_an_in_memory_tree,
    the_deterministic_mode_has_virtual_time_seeded_randomness_and_no_host_environment,
    wasi_calls_charge_fuel_for_the_bytes_they_move,
    a_deadline_ends_a_wasi_sleep,
);
