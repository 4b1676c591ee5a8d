//! The `wasmhost` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use progress::Progress;

mod progress;
use wasmhost::prelude::*;
use wasmhost_cli::{command, run};
use wasmhost_conformance::report::{self, Report};
use wasmhost_conformance::{html, meter};

#[derive(Parser)]
#[command(
    name = "wasmhost",
    version,
    about = "Run WebAssembly guests on every engine and compare them",
    after_help = "Exit codes: 0 when all went as it must; 1 when the engines disagree or \
                  refuse, or a run (conformance, malformed, bombs) found a failure; 2 for \
                  bad arguments or a file that cannot be read or written.\n\
                  Logs: RUST_LOG=wasmhost=debug,wasmhost_api=debug shows a span for each \
                  compile, instantiation and call on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Call one export of a module (.wasm or .wat) and print what each engine returned,
    /// how long it took, and whether the engines agree. A WASI command
    /// (`wasmhost run PROGRAM.wasm [--dir HOST[::GUEST]] [--env K=V] [-- ARGS]`) runs
    /// `_start` instead, its output passed through, and exits with its code; with several
    /// engines it also says whether they agree on exit code, stdout and stderr.
    Run {
        /// The module: binary (.wasm) or text (.wat).
        file: PathBuf,
        /// The export to call (a WASI command: its first argument).
        export: Option<String>,
        /// Arguments: one per parameter for raw exports (decimal, or 0x… for exact bits);
        /// one JSON value for serialized exports; a WASI command's arguments.
        args: Vec<String>,
        /// A WASI command: a host directory it may reach, read-write, under a guest name
        /// (default: the same path). Repeatable.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// A WASI command: an environment variable. Repeatable.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// One engine compiled in (an unknown name lists them), or `all`.
        #[arg(long, default_value = "all")]
        engine: String,
        #[command(flatten)]
        limits: Limits,
        /// Compile through the module cache on disk (see `wasmhost cache`), in
        /// --cache-dir or the default directory.
        #[arg(long)]
        cache: bool,
        /// The cache directory (implies --cache). Default: $WASMHOST_CACHE_DIR, else
        /// $XDG_CACHE_HOME/wasmhost, else ~/.cache/wasmhost.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Also write each engine's result and timings as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time one export of a module on every engine (or one): median compile,
    /// instantiation and call, and each engine against the fastest. A quick comparison;
    /// `benches/run` (criterion) is the careful one.
    Bench {
        /// The module: binary (.wasm) or text (.wat).
        file: PathBuf,
        /// The export to call.
        export: String,
        /// Arguments, as for `run`.
        args: Vec<String>,
        /// One engine compiled in (an unknown name lists them), or `all`.
        #[arg(long, default_value = "all")]
        engine: String,
        /// Calls timed on one live instance.
        #[arg(long, default_value_t = 1_000)]
        calls: u32,
        #[command(flatten)]
        limits: Limits,
        /// Also write the timings as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// What a module (.wasm or .wat) imports and exports, which wasm features beyond 1.0 it
    /// needs, and whether each engine compiles it, in how long. Exit code 1 when an engine
    /// refuses it.
    Inspect {
        /// The module: binary (.wasm) or text (.wat).
        file: PathBuf,
        #[command(flatten)]
        limits: Limits,
        /// Also write the inspection as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The module cache on disk: what it holds, or empty it. Engines that cannot store
    /// compiled code (wasmi) keep modules in memory only and have no files here.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
        /// The cache directory. Default: as for `run --cache`.
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
    },
    /// Run the conformance suite (spec tests, float/NaN probe matrix, guests through the
    /// ABI, generated modules) on every engine in the default and the deterministic
    /// profile, with malformed modules and compile bombs, and report. Exits with 1 when the
    /// deterministic profile has a divergence or an engine mishandled a malformed module.
    Conformance {
        /// Write the full results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write one self-contained HTML page.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Do not run: merge these JSON reports (from several machines) instead.
        #[arg(long, num_args = 1..)]
        merge: Vec<PathBuf>,
        /// How many generated modules (wasm-smith) to run on every engine in both profiles
        /// and compare; 0 for none.
        #[arg(long, default_value_t = 200)]
        generated: u64,
        /// The seed of the generated modules: the same seed gives the same modules
        /// everywhere.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where generated modules on which the engines diverge are saved (.wasm and .wat).
        #[arg(long, default_value = "target/divergences")]
        reproducers: PathBuf,
        /// Shrinking steps for a module whose divergence no rule explains: a smaller module
        /// that diverges alike is saved beside it (.min.wasm, .min.wat); 0 for none.
        #[arg(long, default_value_t = 200)]
        shrink_attempts: u32,
        /// How many malformed modules (seed 1) to compile on every engine; 0 for none
        /// (`wasmhost malformed` runs long ones).
        #[arg(long, default_value_t = 2_000)]
        malformed: u64,
        /// Time compile bombs at sizes doubling from 0.25 MB up to this many MB; 0 for none
        /// (`wasmhost bombs` goes to 8 MB).
        #[arg(long, default_value_t = 1.0)]
        bombs_max_mb: f64,
        /// Leave out the hostile guests, threads sharing a module and long runs.
        #[arg(long)]
        no_hostile: bool,
        /// Serialized calls at 1 and at 2 threads sharing a module (calls per second); 0
        /// for none.
        #[arg(long, default_value_t = 20_000)]
        thread_calls: u64,
        /// Traps, instantiations and failed calls in a row, resident memory measured
        /// before and after; 0 for none.
        #[arg(long, default_value_t = 10_000)]
        leak_iterations: u64,
        /// Also run the real programs of this directory, in Sightglass's layout (e.g.
        /// ../shared/programs): every engine, both profiles, output against the expected
        /// files. A wrong output, or a disagreement in the deterministic profile, exits 1.
        #[arg(long)]
        programs: Option<PathBuf>,
        /// Only these programs (by name, comma-separated); all when not given.
        #[arg(long, value_delimiter = ',')]
        programs_only: Vec<String>,
        /// Run each program at least this many times per engine and profile, and time the
        /// fastest (a program runs again, up to 50 times, until its runs add up to 100 ms:
        /// what makes the hosted / default ratios of short programs worth quoting).
        #[arg(long, default_value_t = 1)]
        program_runs: usize,
        /// The programs' hosted runs: pay each `if` whose arms cost at most this many
        /// units with the code around it (`CostTable::prepaid_if_arm`).
        #[arg(long, value_name = "UNITS", default_value_t = 0)]
        prepaid_if_arm: u32,
        /// How wasmer and wasmtime lay out memories: `guarded` (the engines' default: 4 GiB
        /// or more of address space each, no bounds checks) or `compact` (only what is
        /// used, explicit bounds checks): use `compact` under an emulator (qemu-user).
        #[arg(long, default_value = "guarded", value_parser = parse_reservation)]
        memory_reservation: wasmhost::MemoryReservation,
    },
    /// Malformed modules: random bytes, mutated and truncated test guests, compiled on every
    /// engine in the default profile and with every rewriting pass; counts the verdicts and
    /// lists every input an engine panicked on, refused with the wrong error, or on which the
    /// engines disagreed. Exits with 1 when any engine panicked or refused with the wrong
    /// error.
    Malformed {
        /// How many inputs.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// The seed the inputs come from: the same seed gives the same inputs everywhere.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the results, findings included, as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Compile bombs: modules built to be slow to compile (many functions, deep nesting,
    /// a huge br_table, many locals) at sizes doubling up to --max-mb, timed on every
    /// engine. Prints milliseconds and ns per byte per size, and the ratio of the largest
    /// module's ns per byte to the smallest's. Exits with 1 when a ratio is over 3 or a bomb
    /// did not compile.
    Bombs {
        /// The smallest module, in MB (10^6 bytes).
        #[arg(long, default_value_t = 0.25)]
        min_mb: f64,
        /// The largest module, in MB (10^6 bytes).
        #[arg(long, default_value_t = 8.0)]
        max_mb: f64,
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The metering report: integer, float, memory, bulk-memory, call and host-call
    /// workloads on every engine with fuel metering off, native and portable: units per call,
    /// median time, ns per unit, slowdown, and how well units predict time.
    Meter {
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write one self-contained HTML page with a chart.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Scale every workload's round count (0.1 for a quick look).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Calls timed per cell; the median is reported.
        #[arg(long, default_value_t = 7)]
        repetitions: usize,
    },
}

/// What `wasmhost cache` does.
#[derive(Subcommand)]
enum CacheAction {
    /// Count the files, their bytes, and the engines and configurations that wrote them.
    Stats {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached module.
    Clear {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
}

/// The resource limits of `run`, as `Config` has them.
#[derive(clap::Args)]
struct Limits {
    /// The deterministic profile: canonical NaNs and a call-depth limit.
    #[arg(long)]
    deterministic: bool,
    /// Fuel metering: `off`, `native` (the engine's own) or `portable` (the same units on
    /// every engine). Default: `portable` when --fuel is given, else `off`.
    #[arg(long)]
    metering: Option<String>,
    /// The fuel budget of the call; the fuel it used is printed.
    #[arg(long)]
    fuel: Option<u64>,
    /// Largest linear memory, in bytes.
    #[arg(long)]
    max_memory: Option<u64>,
    /// Deepest nesting of calls.
    #[arg(long)]
    max_call_depth: Option<u32>,
    /// Deepest stack, in bytes as wasmhost counts frames (`Config::max_stack_bytes`).
    #[arg(long)]
    max_stack_bytes: Option<u32>,
    /// How wasmer and wasmtime lay out memories: `guarded` or `compact` (see
    /// `wasmhost::MemoryReservation`).
    #[arg(long, default_value = "guarded", value_parser = parse_reservation)]
    memory_reservation: wasmhost::MemoryReservation,
    /// A wall-clock deadline for the call, in milliseconds (`Config::call_timeout`): past
    /// it the guest is interrupted.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// Portable fuel: pay each `if` whose arms cost at most this many units with the code
    /// around it (`CostTable::prepaid_if_arm`); 0 pays arms when they run.
    #[arg(long, value_name = "UNITS", default_value_t = 0)]
    prepaid_if_arm: u32,
}

/// A memory reservation by name, for clap.
fn parse_reservation(name: &str) -> Result<wasmhost::MemoryReservation, String> {
    wasmhost::MemoryReservation::from_name(name)
        .ok_or_else(|| format!("unknown memory reservation `{name}` (guarded, compact)"))
}

impl Limits {
    fn config(&self) -> Result<wasmhost::Config, String> {
        let mut config = wasmhost::Config::default()
            .deterministic(self.deterministic)
            .memory_reservation(self.memory_reservation)
            .costs(wasmhost::CostTable::default().prepaid_if_arm(self.prepaid_if_arm));
        let metering = match (&self.metering, self.fuel) {
            (Some(name), _) => wasmhost::Metering::from_name(name)
                .ok_or_else(|| format!("unknown metering `{name}` (off, native, portable)"))?,
            (None, Some(_)) => wasmhost::Metering::Portable,
            (None, None) => wasmhost::Metering::Off,
        };
        config = config.metering(metering);
        if let Some(fuel) = self.fuel {
            config = config.initial_fuel(fuel);
        }
        if let Some(bytes) = self.max_memory {
            config = config.max_memory_bytes(bytes);
        }
        if let Some(depth) = self.max_call_depth {
            config = config.max_call_depth(depth);
        }
        if let Some(bytes) = self.max_stack_bytes {
            config = config.max_stack_bytes(bytes);
        }
        if let Some(ms) = self.timeout {
            config = config.call_timeout(std::time::Duration::from_millis(ms));
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    // Spans and events only when asked for: RUST_LOG=wasmhost=debug, say.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            // A line as each span closes, with its fields and how long it took.
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }
    match Cli::parse().command {
        Command::Run {
            file,
            export,
            args,
            dirs,
            env,
            engine,
            limits,
            cache,
            cache_dir,
            json,
        } => match limits.config() {
            Ok(config) if is_command(&file) => {
                let world = command::World {
                    dirs: dirs.iter().map(|d| command::World::dir(d)).collect(),
                    env: match env.iter().map(|e| command::World::env(e)).collect() {
                        Ok(env) => env,
                        Err(e) => {
                            eprintln!("error: {e}");
                            return ExitCode::from(2);
                        }
                    },
                    args: export.into_iter().chain(args).collect(),
                };
                let cache = cache_dir.or_else(|| cache.then(default_cache_dir).flatten());
                wasi_command(
                    &file,
                    &engine,
                    &config,
                    &world,
                    cache.as_deref(),
                    json.as_deref(),
                )
            }
            Ok(config) => {
                let Some(export) = export else {
                    eprintln!("error: name the export to call (the module is not a WASI command)");
                    return ExitCode::from(2);
                };
                let cache = cache_dir.or_else(|| cache.then(default_cache_dir).flatten());
                let call = Call {
                    file: &file,
                    export: &export,
                    args: &args,
                };
                run_command(&call, &engine, &config, cache.as_deref(), json.as_deref())
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Bench {
            file,
            export,
            args,
            engine,
            calls,
            limits,
            json,
        } => match limits.config() {
            Ok(config) => {
                let call = Call {
                    file: &file,
                    export: &export,
                    args: &args,
                };
                bench_command(&call, &engine, &config, calls, json.as_deref())
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Inspect { file, limits, json } => match limits.config() {
            Ok(config) => inspect_command(&file, &config, json.as_deref()),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Cache { action, dir } => match dir.or_else(default_cache_dir) {
            Some(dir) => cache_command(&action, &dir),
            None => ExitCode::from(2),
        },
        Command::Conformance {
            json,
            html,
            merge,
            generated,
            seed,
            reproducers,
            shrink_attempts,
            malformed,
            bombs_max_mb,
            no_hostile,
            thread_calls,
            leak_iterations,
            programs,
            programs_only,
            program_runs,
            prepaid_if_arm,
            memory_reservation,
        } => {
            let options = report::RunOptions {
                generated: wasmhost_conformance::generated::Options {
                    reproducers: Some(reproducers),
                    shrink_attempts,
                    memory_reservation,
                    ..wasmhost_conformance::generated::Options::new(generated, seed)
                },
                malformed,
                bombs_max_bytes: (bombs_max_mb * 1e6) as usize,
                hostile: !no_hostile,
                thread_calls,
                leak_iterations,
                programs: programs.map(|dir| (dir, programs_only)),
                program_runs,
                program_costs: wasmhost::CostTable::default().prepaid_if_arm(prepaid_if_arm),
                memory_reservation,
            };
            conformance(json.as_deref(), html.as_deref(), &merge, &options)
        }
        Command::Meter {
            json,
            html,
            scale,
            repetitions,
        } => meter_command(json.as_deref(), html.as_deref(), scale, repetitions),
        Command::Malformed { count, seed, json } => malformed_command(count, seed, json.as_deref()),
        Command::Bombs {
            min_mb,
            max_mb,
            json,
        } => bombs_command(min_mb, max_mb, json.as_deref()),
    }
}

fn inspect_command(file: &Path, config: &wasmhost::Config, json: Option<&Path>) -> ExitCode {
    let wasm = match run::read_module(file) {
        Ok(wasm) => wasm,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let inspection = wasmhost_cli::inspect::inspect(&wasm, config);
    print!("{}", inspection.summary());
    if let Some(path) = json
        && let Err(code) = write_json(path, &inspection)
    {
        return code;
    }
    if inspection.every_engine_accepts() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes `value` as JSON to `path` and says so; on failure, says why and gives the exit
/// code for it.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExitCode> {
    let written = serde_json::to_string(value)
        .map_err(|e| e.to_string())
        .and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string()));
    match written {
        Ok(()) => {
            println!("JSON written to {}", path.display());
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            Err(ExitCode::from(2))
        }
    }
}

fn malformed_command(count: u64, seed: u64, json: Option<&Path>) -> ExitCode {
    let progress = Progress::bar(count, "inputs");
    let report = wasmhost_conformance::malformed::run(seed, count, |done| progress.done(done));
    drop(progress);
    print!("{}", report.summary());
    for finding in report.findings.iter().take(20) {
        println!(
            "  input {} ({}; {}): {:?}",
            finding.index, finding.profile, finding.made_by, finding.verdicts
        );
    }
    if let Some(path) = json
        && let Err(code) = write_json(path, &report)
    {
        return code;
    }
    if report.mishandled() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn bombs_command(min_mb: f64, max_mb: f64, json: Option<&Path>) -> ExitCode {
    use wasmhost_conformance::bombs;
    let mut sizes = Vec::new();
    let mut size = (min_mb * 1e6) as usize;
    while size > 0 && size as f64 <= max_mb * 1e6 * 1.0001 {
        sizes.push(size);
        size *= 2;
    }
    if sizes.is_empty() {
        eprintln!("error: no sizes between --min-mb {min_mb} and --max-mb {max_mb}");
        return ExitCode::from(2);
    }
    let progress = Progress::spinner();
    let report = bombs::run(&sizes, &wasmhost::Config::default(), |step| {
        progress.step(step)
    });
    drop(progress);
    print!("{}", report.summary());
    if let Some(path) = json
        && let Err(code) = write_json(path, &report)
    {
        return code;
    }
    let failures = report.failures();
    for failure in &failures {
        println!("over {}x or refused: {failure}", bombs::MAX_RATIO);
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn meter_command(
    json: Option<&Path>,
    html_out: Option<&Path>,
    scale: f64,
    repetitions: usize,
) -> ExitCode {
    let progress = Progress::spinner();
    let workloads = meter::workloads(scale);
    let report = meter::run(&workloads, repetitions.max(1), |step| progress.step(step));
    drop(progress);
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", meter::summary(&report));
    let outputs = [
        (
            json,
            serde_json::to_string(&report).map_err(|e| e.to_string()),
        ),
        (html_out, Ok(meter::render_html(&report))),
    ];
    for (path, text) in outputs {
        let Some(path) = path else { continue };
        if let Err(e) = text.and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string())) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("written to {}", path.display());
    }
    ExitCode::SUCCESS
}

fn conformance(
    json: Option<&Path>,
    html_out: Option<&Path>,
    merge: &[PathBuf],
    options: &report::RunOptions,
) -> ExitCode {
    let reports = if merge.is_empty() {
        let progress = Progress::spinner();
        let report = Report::run(options, |step| {
            if progress.interactive() {
                progress.step(step);
            } else if (!step.contains(": spec ") || step.contains(" 1/"))
                && (!step.starts_with("generated modules:") || step.contains("000/"))
            {
                // Piped: a line per stage, for CI logs.
                eprintln!("{step}");
            }
        });
        drop(progress);
        print!("{}", report::summary(&report));
        vec![report]
    } else {
        let mut reports = Vec::new();
        for path in merge {
            match std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| report::from_json(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => reports.extend(r),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        print!("{}", wasmhost_conformance::merge::summary(&reports));
        reports
    };
    if let Some(path) = json {
        let text = if reports.len() == 1 {
            serde_json::to_string(&reports[0])
        } else {
            serde_json::to_string(&reports)
        };
        if let Err(e) = text
            .map_err(|e| e.to_string())
            .and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string()))
        {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("JSON written to {}", path.display());
    }
    if let Some(path) = html_out {
        if let Err(e) = std::fs::write(path, html::render(&reports)) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("HTML written to {}", path.display());
    }
    let mishandled: usize = reports.iter().map(Report::mishandled_inputs).sum();
    let program_failures: usize = reports.iter().map(|r| r.program_failures().len()).sum();
    if wasmhost_conformance::merge::deterministic_divergences(&reports) == 0
        && mishandled == 0
        && program_failures == 0
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The default cache directory, or `None` with a message saying how to give one.
fn default_cache_dir() -> Option<PathBuf> {
    let dir = wasmhost::cache::default_dir();
    if dir.is_none() {
        eprintln!("error: no cache directory: set WASMHOST_CACHE_DIR or pass one");
    }
    dir
}

fn cache_command(action: &CacheAction, dir: &Path) -> ExitCode {
    let disk = match wasmhost::cache::DiskCache::open(dir) {
        Ok(disk) => disk,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let result = match action {
        CacheAction::Stats { json } => disk.entries().map(|entries| {
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            if *json {
                let entries: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "path": e.path,
                            "bytes": e.bytes,
                            "fingerprint": e.fingerprint,
                        })
                    })
                    .collect();
                let stats = serde_json::json!({
                    "dir": dir, "files": entries.len(), "bytes": total, "entries": entries,
                });
                println!("{stats}");
            } else {
                println!(
                    "{}: {} files, {} bytes",
                    dir.display(),
                    entries.len(),
                    total
                );
                for e in &entries {
                    let fingerprint = e.fingerprint.as_deref().unwrap_or("unreadable");
                    println!("{:>12}  {fingerprint}", e.bytes);
                }
            }
        }),
        CacheAction::Clear { json } => disk.clear().map(|removed| {
            if *json {
                println!("{}", serde_json::json!({ "dir": dir, "removed": removed }));
            } else {
                println!("{}: removed {removed} files", dir.display());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

/// What `run` and `bench` call: an export of the module in a file, with its arguments.
struct Call<'a> {
    file: &'a Path,
    export: &'a str,
    args: &'a [String],
}

impl Call<'_> {
    /// The module's bytes and the engines selected, or the exit code after saying why not.
    fn prepare(
        &self,
        engine: &str,
        config: &wasmhost::Config,
    ) -> Result<(Vec<u8>, Vec<wasmhost::AnyEngine>), ExitCode> {
        let wasm = run::read_module(self.file).map_err(|e| {
            eprintln!("error: {}: {e}", self.file.display());
            ExitCode::from(2)
        })?;
        let engines = run::engines(engine, config).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        Ok((wasm, engines))
    }
}

/// Whether `file` holds a WASI command (a file that does not read is left to `run`'s own
/// error).
fn is_command(file: &Path) -> bool {
    run::read_module(file).is_ok_and(|wasm| command::is_wasi_command(&wasm))
}

/// `engine` behind the module cache on disk in `dir` (`run --cache`).
fn disk_cached(
    engine: &wasmhost::AnyEngine,
    dir: &Path,
) -> Result<wasmhost::cache::ModuleCache<wasmhost::AnyEngine>, wasmhost::WasmError> {
    let config = wasmhost::cache::CacheConfig::default().disk(dir);
    wasmhost::cache::ModuleCache::new(engine.clone(), config)
}

/// Runs a WASI command: on one engine its output passes through (then the fuel it used, with
/// metering on) and its exit code is ours;
/// on several, the first engine's output is printed, then each engine's outcome and whether
/// they agree (exit 1 when they do not).
fn wasi_command(
    file: &Path,
    engine: &str,
    config: &wasmhost::Config,
    world: &command::World,
    cache: Option<&Path>,
    json: Option<&Path>,
) -> ExitCode {
    let call = Call {
        file,
        export: "_start",
        args: &[],
    };
    let (wasm, engines) = match call.prepare(engine, config) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into());
    let capture = engines.len() > 1;
    let mut runs = Vec::new();
    for engine in &engines {
        let run = match cache {
            Some(dir) => disk_cached(engine, dir)
                .and_then(|cached| command::run(&cached, &wasm, &name, world, capture)),
            None => command::run(engine, &wasm, &name, world, capture),
        };
        match run {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("{:<8} error: {e}", engine.name());
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
                serde_json::json!({
                    "engine": r.engine,
                    "exit": r.exit.as_ref().ok(),
                    "error": r.exit.as_ref().err().map(ToString::to_string),
                    "stdout": capture.then(|| text(&r.stdout)),
                    "stderr": capture.then(|| text(&r.stderr)),
                    "took_ns": r.took.as_nanos() as u64,
                    "fuel": r.fuel,
                })
            })
            .collect();
        let value = serde_json::json!({ "runs": rows, "engines_agree": command::agree(&runs) });
        if let Err(code) = write_json(path, &value) {
            return code;
        }
    }
    if let Some(first) = runs.first().filter(|_| capture) {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&first.stdout);
        let _ = std::io::stderr().write_all(&first.stderr);
    }
    if capture {
        for r in &runs {
            let exit = match &r.exit {
                Ok(code) => format!("exit {code}"),
                Err(e) => format!("error: {e}"),
            };
            let fuel = r.fuel.map_or(String::new(), |f| format!(", fuel {f}"));
            eprintln!(
                "{:<8} {exit}, {} bytes of stdout, {} of stderr ({:.3?}{fuel})",
                r.engine,
                r.stdout.len(),
                r.stderr.len(),
                r.took
            );
        }
        if !command::agree(&runs) {
            eprintln!("engines DISAGREE on exit code, output or fuel");
            return ExitCode::from(1);
        }
        eprintln!(
            "engines agree ({} engines: exit code, stdout, stderr, fuel)",
            runs.len()
        );
    } else if let Some(fuel) = runs.first().and_then(|r| r.fuel) {
        // One engine: the program's output passed through; the fuel --fuel promises follows
        // it on stderr.
        eprintln!("{:<8} fuel {fuel}", runs[0].engine);
    }
    match runs.first().map(|r| &r.exit) {
        Some(Ok(code)) => ExitCode::from(*code as u8),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        None => ExitCode::from(2),
    }
}

fn run_command(
    call: &Call<'_>,
    engine: &str,
    config: &wasmhost::Config,
    cache: Option<&Path>,
    json: Option<&Path>,
) -> ExitCode {
    let (wasm, engines) = match call.prepare(engine, config) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let (export, args) = (call.export, call.args);
    let mut runs = Vec::new();
    for engine in &engines {
        let result = match cache {
            Some(dir) => disk_cached(engine, dir)
                .and_then(|cached| run::run_on(&cached, &wasm, export, args)),
            None => run::run_on(engine, &wasm, export, args),
        };
        match result {
            Ok(r) => {
                let fuel = r.fuel.map_or(String::new(), |f| format!(", fuel {f}"));
                println!(
                    "{:<7} {}   (compile {:.3?}, instantiate {:.3?}, call {:.3?}{fuel})",
                    r.engine, r.outcome, r.compile, r.instantiate, r.call
                );
                runs.push(r);
            }
            Err(e) => {
                eprintln!("{:<7} error: {e}", engine.name());
                return ExitCode::from(2);
            }
        }
    }
    let agree = run::agree(&runs);
    if let Some(path) = json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "engine": r.engine,
                    "outcome": r.outcome.to_string(),
                    "compile_ns": r.compile.as_nanos() as u64,
                    "instantiate_ns": r.instantiate.as_nanos() as u64,
                    "call_ns": r.call.as_nanos() as u64,
                    "fuel": r.fuel,
                })
            })
            .collect();
        let value = serde_json::json!({ "runs": rows, "engines_agree": agree });
        if let Err(code) = write_json(path, &value) {
            return code;
        }
    }
    if runs.len() > 1 {
        if agree {
            println!("engines agree ({} engines, bit for bit)", runs.len());
        } else {
            println!("engines DISAGREE");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn bench_command(
    call: &Call<'_>,
    engine: &str,
    config: &wasmhost::Config,
    calls: u32,
    json: Option<&Path>,
) -> ExitCode {
    let (wasm, engines) = match call.prepare(engine, config) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let mut benches = Vec::new();
    for engine in &engines {
        match run::bench_on(engine, &wasm, call.export, call.args, calls) {
            Ok(b) => benches.push(b),
            Err(e) => {
                eprintln!("{:<7} error: {e}", engine.name());
                return ExitCode::from(1);
            }
        }
    }
    let fastest =
        |f: fn(&run::EngineBench) -> u128| benches.iter().map(f).min().unwrap_or(1).max(1) as f64;
    let (compile, instantiate, call_fastest) = (
        fastest(|b| b.compile_ns),
        fastest(|b| b.instantiate_ns),
        fastest(|b| b.call_ns),
    );
    println!(
        "{:<7}  {:>19}  {:>17}  {:>19}   medians; x the fastest; {calls} calls",
        "engine", "compile", "instantiate", "call"
    );
    for b in &benches {
        println!(
            "{:<7}  {:>10.1} µs {:>5.1}x  {:>8.1} µs {:>5.1}x  {:>10.0} ns {:>5.1}x ({} ns)",
            b.engine,
            b.compile_ns as f64 / 1e3,
            b.compile_ns as f64 / compile,
            b.instantiate_ns as f64 / 1e3,
            b.instantiate_ns as f64 / instantiate,
            b.call_ns as f64,
            b.call_ns as f64 / call_fastest,
            b.call_min_ns
        );
    }
    if let Some(path) = json
        && let Err(code) = write_json(path, &benches)
    {
        return code;
    }
    ExitCode::SUCCESS
}
