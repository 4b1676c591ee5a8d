//! The `wasmhost` commands end to end (`run`, `meter`, `cache`, `conformance`), and the
//! comparison they rest on.

use std::process::Command;

use wasmhost::prelude::*;
use wasmhost_cli::run::{self, CallKind, Outcome};

fn wasmhost(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmhost"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run the wasmhost binary");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn run_prints_each_engine_and_whether_they_agree() {
    let (code, out) = wasmhost(&[
        "run",
        "test-wasms/wat/numeric.wat",
        "fib",
        "90",
        "--engine",
        "all",
    ]);
    assert_eq!(code, 0, "{out}");
    for engine in wasmhost::ENGINES {
        assert!(
            out.contains(&format!("{engine:<7} [i64:2880067194370816120]")),
            "{out}"
        );
    }
    if wasmhost::ENGINES.len() > 1 {
        assert!(out.contains("engines agree"), "{out}");
    }
}

#[test]
fn run_reports_bad_input_without_panicking() {
    let (code, out) = wasmhost(&["run", "test-wasms/wat/numeric.wat", "add", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("error:") && !out.contains("panicked"), "{out}");
    let (code, out) = wasmhost(&["run", "no/such/file.wasm", "f"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = wasmhost(&[
        "run",
        "test-wasms/wat/numeric.wat",
        "add",
        "1",
        "2",
        "--engine",
        "v8",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown engine `v8`"), "{out}");
}

fn serialized_exports_take_and_give_json(engine: &wasmhost::AnyEngine) {
    let wasm = wasmhost_test_wasms::guest("validate");
    let module = engine.compile(wasm).unwrap();
    assert_eq!(
        run::call_kind(&module, "validate"),
        Ok(CallKind::Serialized)
    );
    let input = [r#"{"author": "", "content": "x", "timestamp": 1}"#.to_string()];
    let result = run::run_on(engine, wasm, "validate", &input).unwrap();
    assert_eq!(
        result.outcome,
        Outcome::Json(serde_json::json!({"Ok": {"Fail": "author is empty"}}))
    );
}

fn raw_exports_take_exact_bits(engine: &wasmhost::AnyEngine) {
    let wasm = wasmhost::wat2wasm(include_str!("../../test-wasms/wat/numeric.wat")).unwrap();
    let args = ["0x3f800000".to_string(), "0x80000000".to_string()];
    let result = run::run_on(engine, &wasm, "f32_div", &args).unwrap();
    assert_eq!(
        result.outcome,
        Outcome::Values(vec![wasmhost::Value::F32(f32::NEG_INFINITY.to_bits())])
    );
}

wasmhost::on_every_engine!(
    serialized_exports_take_and_give_json,
    raw_exports_take_exact_bits
);

#[test]
fn run_takes_a_fuel_budget_and_reports_what_was_used() {
    let args = ["run", "test-wasms/wat/numeric.wat", "fib", "90", "--fuel"];
    let (code, out) = wasmhost(&[&args[..], &["1000000"]].concat());
    assert_eq!(code, 0, "{out}");
    // Portable units: the same on every engine.
    let used: Vec<_> = out
        .lines()
        .filter_map(|l| l.split(", fuel ").nth(1))
        .collect();
    assert_eq!(used.len(), wasmhost::ENGINES.len(), "{out}");
    assert!(used.windows(2).all(|w| w[0] == w[1]), "{out}");
    let (code, out) = wasmhost(&[&args[..], &["10"]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("error: out of fuel"), "{out}");
}

#[test]
fn run_takes_a_deadline_that_interrupts_an_endless_call() {
    let wat = std::env::temp_dir().join(format!("wasmhost-spin-{}.wat", std::process::id()));
    std::fs::write(&wat, r#"(module (func (export "spin") (loop $l (br $l))))"#).unwrap();
    let (code, out) = wasmhost(&["run", wat.to_str().unwrap(), "spin", "--timeout", "20"]);
    std::fs::remove_file(&wat).unwrap();
    assert_eq!(code, 0, "{out}");
    let interrupted = out
        .matches("error: guest interrupted: deadline passed")
        .count();
    assert_eq!(interrupted, wasmhost::ENGINES.len(), "{out}");
}

#[test]
fn meter_reports_every_engine_and_mode_and_writes_json_and_html() {
    let dir = std::env::temp_dir().join(format!("wasmhost-meter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, html) = (dir.join("meter.json"), dir.join("meter.html"));
    let (code, out) = wasmhost(&[
        "meter",
        "--scale",
        "0.01",
        "--repetitions",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let report: wasmhost_conformance::meter::MeterReport =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // 6 workloads × every engine × off, native, portable.
    assert_eq!(report.measurements.len(), 6 * wasmhost::ENGINES.len() * 3);
    // The units name their cost table, in the JSON and on the terminal.
    let table = wasmhost::CostTable::default().id();
    assert_eq!(report.cost_table, table);
    assert!(out.contains(&table), "{out}");
    for m in &report.measurements {
        assert_eq!(m.units.is_some(), m.mode != "off", "{m:?}");
        assert!(m.units != Some(0), "{m:?}");
    }
    // Portable units are the engines' common currency: the same for each workload.
    for w in &report.workloads {
        let units: Vec<_> = report
            .measurements
            .iter()
            .filter(|m| m.workload == w.name && m.mode == "portable")
            .map(|m| m.units)
            .collect();
        assert!(
            units.windows(2).all(|p| p[0] == p[1]),
            "{}: {units:?}",
            w.name
        );
    }
    assert_eq!(report.fits.len(), 2 * wasmhost::ENGINES.len());
    assert!(out.contains("correlation"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("host_calls"),
        "{page}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_fills_the_disk_cache_which_cache_stats_lists_and_clear_empties() {
    let dir = std::env::temp_dir().join(format!("wasmhost-cli-cache-{}", std::process::id()));
    let dir_arg = dir.to_str().unwrap();
    let run = ["run", "test-wasms/wat/numeric.wat", "add", "2", "40"];
    for _ in 0..2 {
        let (code, out) = wasmhost(&[&run[..], &["--cache-dir", dir_arg]].concat());
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("[i32:42]"), "{out}");
    }
    // Only engines that can store compiled code write files, one each (an interpreter
    // does not), whatever the second run found.
    let mut storing: Vec<String> = wasmhost::AnyEngine::all(&wasmhost::Config::default())
        .iter()
        .filter(|e| e.can_serialize())
        .map(|e| e.fingerprint())
        .collect();
    storing.sort();
    let files = storing.len();
    let (code, out) = wasmhost(&["cache", "stats", "--json", "--dir", dir_arg]);
    assert_eq!(code, 0, "{out}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["files"], files, "{out}");
    let mut found: Vec<String> = stats["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fingerprint"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    assert_eq!(found, storing, "{out}");
    let (code, out) = wasmhost(&["cache", "clear", "--dir", dir_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("removed {files} files")), "{out}");
    let (_, out) = wasmhost(&["cache", "stats", "--dir", dir_arg]);
    assert!(out.contains("0 files, 0 bytes"), "{out}");
    let (code, out) = wasmhost(&["cache", "clear", "--json", "--dir", dir_arg]);
    assert_eq!(code, 0, "{out}");
    let cleared: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cleared["removed"], 0, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn conformance_command_writes_json_and_html_and_merges() {
    let dir = std::env::temp_dir().join(format!("wasmhost-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, html) = (dir.join("run.json"), dir.join("run.html"));
    let bin = env!("CARGO_BIN_EXE_wasmhost");
    let out = Command::new(bin)
        .args(["conformance", "--generated", "10", "--malformed", "100"])
        .args(["--bombs-max-mb", "0.25", "--thread-calls", "100"])
        .args(["--leak-iterations", "0", "--reproducers"])
        .arg(dir.join("divergences"))
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Float/NaN probe matrix"), "{stdout}");
    assert!(stdout.contains("Hostile guests: "), "{stdout}");
    assert!(json.exists() && html.exists());
    let merged = Command::new(bin)
        .args(["conformance", "--merge"])
        .arg(&json)
        .arg(&json)
        .arg("--html")
        .arg(dir.join("merged.html"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&merged.stdout);
    assert!(merged.status.success(), "{stdout}");
    assert!(
        stdout.contains("Merged deterministic profile: 0 divergences"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_lists_the_interface_the_features_and_each_engines_verdict() {
    let (code, out) = wasmhost(&["inspect", "test-wasms/wat/numeric.wat"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fib: func (i64) -> (i64)"), "{out}");
    assert!(
        out.contains("features beyond wasm 1.0: multi-value"),
        "{out}"
    );
    for engine in wasmhost::ENGINES {
        assert!(out.contains(&format!("{engine}: compiles in")), "{out}");
    }

    // SIMD is in the contract's features: every engine compiles it.
    let dir = std::env::temp_dir().join(format!("wasmhost-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let simd = dir.join("simd.wat");
    std::fs::write(
        &simd,
        r#"(module (import "env" "m" (memory 1))
             (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0))))"#,
    )
    .unwrap();
    let (code, out) = wasmhost(&["inspect", simd.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("env.m: memory 1 pages"), "{out}");
    assert!(out.contains("splat: func (i32) -> (v128)"), "{out}");
    assert!(out.contains("features beyond wasm 1.0: simd"), "{out}");
    assert_eq!(
        out.matches(": compiles in").count(),
        wasmhost::ENGINES.len(),
        "{out}"
    );

    // Tail calls are outside them: every engine refuses, and the exit code says so.
    let tail = dir.join("tail.wat");
    std::fs::write(&tail, "(module (func $f return_call $f))").unwrap();
    let json = dir.join("tail.json");
    let (code, out) = wasmhost(&[
        "inspect",
        tail.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("features beyond wasm 1.0: tail-call"), "{out}");
    assert!(out.contains("refuses it"), "{out}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["features"], serde_json::json!(["tail-call"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_times_every_engine_and_run_writes_json() {
    let dir = std::env::temp_dir().join(format!("wasmhost-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let (code, out) = wasmhost(&[
        "bench",
        "test-wasms/wat/numeric.wat",
        "fib",
        "30",
        "--calls",
        "50",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let benches: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let benches = benches.as_array().unwrap();
    assert_eq!(benches.len(), wasmhost::ENGINES.len(), "{out}");
    for b in benches {
        assert_eq!(b["calls"], 50);
        assert!(b["call_ns"].as_u64().unwrap() >= b["call_min_ns"].as_u64().unwrap());
        assert!(b["compile_ns"].as_u64().unwrap() > 0);
    }

    let json = dir.join("run.json");
    let (code, out) = wasmhost(&[
        "run",
        "test-wasms/wat/numeric.wat",
        "fib",
        "30",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(run["engines_agree"], true);
    assert_eq!(run["runs"][0]["outcome"], "[i64:832040]");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A WASI command that writes its argument strings (NUL-separated) to stdout and exits
/// with code 7.
const WASI_COMMAND: &str = r#"(module
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (drop (call $sizes (i32.const 800) (i32.const 804)))
        (drop (call $args (i32.const 900) (i32.const 1000)))
        (i32.store (i32.const 100) (i32.const 1000))
        (i32.store (i32.const 104) (i32.load (i32.const 804)))
        (drop (call $write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 200)))
        (call $exit (i32.const 7))))"#;

/// A WASI command that echoes up to 16 bytes of its standard input.
const ECHO_STDIN: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (i32.store (i32.const 100) (i32.const 1000))
        (i32.store (i32.const 104) (i32.const 16))
        (drop (call $read (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))
        (i32.store (i32.const 104) (i32.load (i32.const 200)))
        (drop (call $write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 300)))))"#;

#[test]
fn run_interrupts_a_wasi_command_waiting_on_its_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.wat");
    std::fs::write(&file, ECHO_STDIN).unwrap();
    let file = file.to_str().unwrap();
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmhost"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the wasmhost binary")
    };
    for engine in wasmhost::ENGINES {
        // The input stays open with nothing in it (a single engine's run inherits it): the
        // run waits until its deadline.
        let mut child = spawn(&["run", file, "--engine", engine, "--timeout", "100"]);
        let open = child.stdin.take();
        let began = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if began.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{engine}: still waiting on its input after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(open);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("interrupted: deadline passed"),
            "{engine}: {text}"
        );
        // Given input and its end, the command echoes it.
        let mut child = spawn(&["run", file, "--engine", engine]);
        child.stdin.take().unwrap().write_all(b"hello").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello", "{engine}");
    }
}

#[test]
fn run_runs_a_wasi_command_passing_its_output_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("command.wat");
    std::fs::write(&file, WASI_COMMAND).unwrap();
    let file = file.to_str().unwrap();
    let (code, out) = wasmhost(&["run", file, "--engine", "all", "--", "hello-arg"]);
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("command.wat\0hello-arg\0"), "{out}");
    if wasmhost::ENGINES.len() > 1 {
        assert!(out.contains("engines agree"), "{out}");
    }
    let (code, out) = wasmhost(&["run", file, "--engine", wasmhost::ENGINES[0], "x"]);
    assert_eq!((code, out.as_str()), (7, "command.wat\0x\0"));
    // With a fuel budget, the fuel used follows the program's output.
    let engine = wasmhost::ENGINES[0];
    let (code, out) = wasmhost(&["run", file, "--engine", engine, "--fuel", "100000", "x"]);
    assert_eq!(code, 7, "{out}");
    let used = out
        .strip_prefix("command.wat\0x\0")
        .and_then(|rest| rest.trim_end().split(" fuel ").nth(1))
        .and_then(|fuel| fuel.parse::<u64>().ok());
    assert!(used.is_some_and(|fuel| fuel > 0), "{out}");
    // Through the module cache, each engine's run written as JSON.
    let (json, cache) = (dir.path().join("run.json"), dir.path().join("cache"));
    let args = [
        "run",
        file,
        "--engine",
        "all",
        "--json",
        json.to_str().unwrap(),
    ];
    let (code, out) = wasmhost(
        &[
            &args[..],
            &["--cache-dir", cache.to_str().unwrap(), "--", "y"],
        ]
        .concat(),
    );
    assert_eq!(code, 7, "{out}");
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(run["engines_agree"], true, "{run}");
    let runs = run["runs"].as_array().unwrap();
    assert_eq!(runs.len(), wasmhost::ENGINES.len());
    for r in runs {
        assert_eq!(r["exit"], 7, "{r}");
        if runs.len() > 1 {
            assert_eq!(r["stdout"], "command.wat\u{0}y\u{0}", "{r}");
        }
    }
    assert!(
        std::fs::read_dir(&cache).is_ok_and(|mut d| d.next().is_some()),
        "the cache directory holds the compiled command"
    );
    let (code, out) = wasmhost(&["inspect", file]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "WASI preview 1 command, importing args_sizes_get, args_get, fd_write, proc_exit"
        ),
        "{out}"
    );
}
