//! The conformance report: everything the suite found, per machine, engine and profile; as
//! a terminal summary, JSON for machines, and one self-contained HTML page.
//!
//! Reports from several machines merge: NaN bits differ between processor architectures,
//! and that is where peers disagree in practice, so every report records its machine and
//! the merged view compares every engine on every architecture.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, MemoryReservation, Value};

use crate::bombs::{self, BombReport};
use crate::generated::{self, GeneratedReport};
use crate::guests::{self, Call};
use crate::hostile::HostileReport;
use crate::malformed::{self, MalformedReport};
use crate::probes::{self, Matrix, Verdict};
use crate::spec::{self, FileResult, KNOWN_FAILURES};

/// The machine a report was made on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Processor architecture, e.g. `x86_64`, `aarch64`.
    pub arch: String,
    /// Operating system.
    pub os: String,
}

impl Machine {
    /// The machine this binary runs on (as compiled: a cross-built binary under an
    /// emulator reports the emulated architecture).
    pub fn this() -> Self {
        Machine {
            arch: std::env::consts::ARCH.into(),
            os: std::env::consts::OS.into(),
        }
    }
}

/// One run of the suite on one machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// The wasmhost version that ran it.
    pub version: String,
    /// Engines, in column order.
    pub engines: Vec<String>,
    /// One entry per profile: default, then deterministic.
    pub profiles: Vec<ProfileReport>,
    /// The differential run of generated modules, both profiles (absent when none ran, and
    /// from reports made before it existed).
    #[serde(default)]
    pub generated: Option<GeneratedReport>,
    /// Malformed modules on every engine (absent when none ran).
    #[serde(default)]
    pub malformed: Option<MalformedReport>,
    /// Compile bombs on every engine (absent when none ran).
    #[serde(default)]
    pub bombs: Option<BombReport>,
    /// Hostile guests, threads sharing a module and long runs on every engine (absent when
    /// none ran).
    #[serde(default)]
    pub hostile: Option<HostileReport>,
    /// Real programs on every engine in both profiles (absent when none ran).
    #[serde(default)]
    pub programs: Option<crate::programs::ProgramsReport>,
}

/// What [`Report::run`] runs besides the spec tests, the probes and the guests.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Generated modules; a count of 0 runs none.
    pub generated: generated::Options,
    /// Malformed inputs (of seed 1); 0 runs none.
    pub malformed: u64,
    /// Compile bombs at sizes doubling from 0.25 MB up to this many bytes; 0 runs none.
    pub bombs_max_bytes: usize,
    /// Whether to run the hostile guests ([`crate::hostile`]).
    pub hostile: bool,
    /// Serialized calls at 1 and at 2 threads sharing a module; 0 runs none.
    pub thread_calls: u64,
    /// Traps, instantiations and failed calls in a row, resident memory measured; 0 runs
    /// none.
    pub leak_iterations: u64,
    /// A directory of real programs in Sightglass's layout to run ([`crate::programs`]),
    /// and the names of those to run (all when empty).
    pub programs: Option<(std::path::PathBuf, Vec<String>)>,
    /// How many times each program runs per engine and profile, the fastest timed.
    pub program_runs: usize,
    /// The cost table of the programs' hosted runs.
    pub program_costs: wasmhost::CostTable,
    /// How the compiling engines lay out memories in every section (the generated modules
    /// take theirs from [`RunOptions::generated`]). [`MemoryReservation::Compact`] is for
    /// emulated runs, where a guarded memory costs hundreds of MB of resident memory.
    pub memory_reservation: MemoryReservation,
}

impl Default for RunOptions {
    /// 200 generated modules of seed 1, 2 000 malformed inputs, bombs up to 1 MB, the
    /// hostile guests, 20 000 calls on threads, 10 000 of each long run.
    fn default() -> Self {
        RunOptions {
            generated: generated::Options::new(200, 1),
            malformed: 2_000,
            bombs_max_bytes: 1_000_000,
            hostile: true,
            thread_calls: 20_000,
            leak_iterations: 10_000,
            programs: None,
            program_runs: 1,
            program_costs: wasmhost::CostTable::default(),
            memory_reservation: MemoryReservation::Guarded,
        }
    }
}

/// The suite in one profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileReport {
    /// Whether NaN canonicalization was on.
    pub deterministic: bool,
    /// Per spec file, each engine's result (in [`Report::engines`] order).
    pub spec: Vec<SpecRow>,
    /// The float/NaN probe matrix.
    pub probes: Matrix,
    /// The same matrix with the operands as constants, so that the engines' constant
    /// folding computes it (absent from reports made before it existed).
    #[serde(default)]
    pub probes_constant: Option<Matrix>,
    /// The SIMD lane probes ([`crate::lanes`]): operands as arguments, then as constants
    /// (absent from reports made before SIMD).
    #[serde(default)]
    pub lanes: Vec<Matrix>,
    /// The test guests through the ABI.
    pub guests: Vec<GuestRow>,
}

/// One spec file on every engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpecRow {
    /// `set/name`.
    pub file: String,
    /// Each engine's result.
    pub results: Vec<FileResult>,
}

impl SpecRow {
    /// Whether the file belongs to the contract's set: the Wasm 2.0 core set, and the SIMD
    /// and relaxed-SIMD proposals' files (not a turned-off proposal).
    pub fn is_core_set(&self) -> bool {
        !self.file.starts_with("proposals/")
            || ["proposals/simd/", "proposals/relaxed-simd/"]
                .iter()
                .any(|set| self.file.starts_with(set))
    }
}

/// One guest call on every engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuestRow {
    /// The call.
    pub call: Call,
    /// Each engine's outcome.
    pub outcomes: Vec<guests::Outcome>,
    /// Each engine's fuel for the same call with portable metering on (empty in reports
    /// written before metering existed).
    #[serde(default)]
    pub fuel: Vec<Option<u64>>,
}

impl GuestRow {
    /// Whether every engine returned the same bytes or error, and burnt the same portable
    /// fuel.
    pub fn agree(&self) -> bool {
        self.outcomes.windows(2).all(|w| w[0] == w[1]) && self.fuel.windows(2).all(|w| w[0] == w[1])
    }
}

/// A place where spec assertions accepted a set of NaNs and the engines returned different
/// bits: both pass the spec, yet their results differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NanDisagreement {
    /// `file:line export`.
    pub place: String,
    /// Each engine's values.
    pub values: Vec<Vec<Value>>,
}

impl ProfileReport {
    /// Where engines that pass the same NaN assertion returned different bits.
    pub fn nan_disagreements(&self) -> Vec<NanDisagreement> {
        let mut out = Vec::new();
        for row in &self.spec {
            let Some(first) = row.results.first() else {
                continue;
            };
            for (i, bits) in first.nan_bits.iter().enumerate() {
                let values: Vec<Vec<Value>> = row
                    .results
                    .iter()
                    .filter_map(|r| r.nan_bits.get(i).filter(|b| b.line == bits.line))
                    .map(|b| b.values.clone())
                    .collect();
                if values.len() == row.results.len() && values.windows(2).any(|w| w[0] != w[1]) {
                    out.push(NanDisagreement {
                        place: format!("{}:{} {}", row.file, bits.line, bits.export),
                        values,
                    });
                }
            }
        }
        out
    }

    /// How many results the spec left open (NaN patterns, `either`), per engine (the same for all).
    pub fn nan_results(&self) -> usize {
        self.spec
            .iter()
            .filter_map(|r| r.results.first())
            .map(|r| r.nan_bits.len())
            .sum()
    }

    /// Failures that are not listed as an engine's known limitation.
    pub fn unexplained_failures(&self, engines: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.spec {
            for (engine, result) in engines.iter().zip(&row.results) {
                for (line, message) in &result.failures {
                    let known = KNOWN_FAILURES
                        .iter()
                        .any(|k| k.engine == engine && k.file == row.file && k.line == *line);
                    if !known {
                        out.push(format!("{engine} {}:{line}: {message}", row.file));
                    }
                }
            }
        }
        out
    }

    /// Divergences: probe cases classified as such, guest calls where engines differ, spec
    /// NaN results that differ (in the deterministic profile only: elsewhere the spec
    /// allows it), and spec failures that are not known engine limitations.
    pub fn divergences(&self, engines: &[String]) -> usize {
        self.probes.count(Verdict::Divergence)
            + self.constant_probe_divergences()
            + self.divergences_beyond_probes(engines)
    }

    /// Divergences of the constant-operand probe matrix and of the SIMD lane probes.
    pub fn constant_probe_divergences(&self) -> usize {
        self.probes_constant
            .iter()
            .chain(&self.lanes)
            .map(|m| m.count(Verdict::Divergence))
            .sum()
    }

    /// [`ProfileReport::divergences`] less the probe matrices'.
    fn divergences_beyond_probes(&self, engines: &[String]) -> usize {
        let nan = if self.deterministic {
            self.nan_disagreements().len()
        } else {
            0
        };
        self.guests.iter().filter(|g| !g.agree()).count()
            + nan
            + self.unexplained_failures(engines).len()
    }
}

impl Report {
    /// Runs the whole suite on every compiled-in engine, in both profiles, with what
    /// `options` adds. `progress` is told what runs, as it starts.
    pub fn run(options: &RunOptions, mut progress: impl FnMut(&str) + Send) -> Self {
        let files = spec::spec_files();
        let calls = guests::calls();
        let mut profiles = Vec::new();
        let mut engine_names = Vec::new();
        for deterministic in [false, true] {
            let profile = if deterministic {
                "deterministic"
            } else {
                "default"
            };
            let config = Config::default()
                .deterministic(deterministic)
                .memory_reservation(options.memory_reservation);
            let engines = AnyEngine::all(&config);
            let metered = AnyEngine::all(&config.metering(wasmhost::Metering::Portable));
            engine_names = engines.iter().map(|e| e.name().to_string()).collect();
            let mut spec = Vec::new();
            for (i, file) in files.iter().enumerate() {
                progress(&format!(
                    "{profile}: spec {}/{} {}/{}",
                    i + 1,
                    files.len(),
                    file.set,
                    file.name
                ));
                spec.push(SpecRow {
                    file: format!("{}/{}", file.set, file.name),
                    results: engines.iter().map(|e| spec::run_file(e, file)).collect(),
                });
            }
            progress(&format!("{profile}: float/NaN probe matrix"));
            let probes =
                Matrix::run(&engines).unwrap_or_else(|e| panic!("the probe module must run: {e}"));
            progress(&format!(
                "{profile}: float/NaN probe matrix, constant operands"
            ));
            let probes_constant = Matrix::run_constant(&engines)
                .unwrap_or_else(|e| panic!("the constant probe module must run: {e}"));
            progress(&format!("{profile}: SIMD lane probes"));
            let lanes = [false, true]
                .map(|constant| {
                    crate::lanes::run_matrix(&engines, constant)
                        .unwrap_or_else(|e| panic!("the lane probe module must run: {e}"))
                })
                .to_vec();
            progress(&format!("{profile}: {} guest calls", calls.len()));
            let guests = calls
                .iter()
                .map(|call| GuestRow {
                    call: call.clone(),
                    outcomes: engines.iter().map(|e| guests::run(e, call)).collect(),
                    fuel: metered.iter().map(|e| guests::fuel(e, call)).collect(),
                })
                .collect();
            profiles.push(ProfileReport {
                deterministic,
                spec,
                probes,
                probes_constant: Some(probes_constant),
                lanes,
                guests,
            });
        }
        let generated = (options.generated.count > 0).then(|| {
            let count = options.generated.count;
            let progress = std::sync::Mutex::new(&mut progress);
            generated::run(&options.generated, |done| {
                if let Ok(mut progress) = progress.lock() {
                    progress(&format!("generated modules: {done}/{count}"));
                }
            })
        });
        let malformed = (options.malformed > 0).then(|| {
            progress(&format!("{} malformed modules", options.malformed));
            malformed::run(1, options.malformed, |_| {})
        });
        let bombs = (options.bombs_max_bytes > 0).then(|| {
            let sizes: Vec<usize> = std::iter::successors(Some(250_000), |s| Some(s * 2))
                .take_while(|&s| s <= options.bombs_max_bytes)
                .collect();
            let config = Config::default().memory_reservation(options.memory_reservation);
            bombs::run(&sizes, &config, |step| {
                progress(&format!("compile bombs: {step}"))
            })
        });
        let hostile = options.hostile.then(|| {
            progress("hostile guests, threads, long runs");
            HostileReport::run(
                &AnyEngine::all(&Config::default().memory_reservation(options.memory_reservation)),
                options.thread_calls,
                options.leak_iterations,
            )
        });
        let programs = options.programs.as_ref().map(|(dir, only)| {
            let reservation = options.memory_reservation;
            let (runs, costs) = (options.program_runs, &options.program_costs);
            let report = crate::programs::run(dir, only, reservation, runs, costs, &mut progress);
            report.unwrap_or_else(|e| {
                panic!(
                    "the programs directory {} must be readable: {e}",
                    dir.display()
                )
            })
        });
        Report {
            machine: Machine::this(),
            version: env!("CARGO_PKG_VERSION").into(),
            engines: engine_names,
            profiles,
            generated,
            malformed,
            bombs,
            hostile,
            programs,
        }
    }

    /// The profile report, default or deterministic.
    pub fn profile(&self, deterministic: bool) -> Option<&ProfileReport> {
        self.profiles
            .iter()
            .find(|p| p.deterministic == deterministic)
    }

    /// Malformed inputs an engine panicked on or refused with an untyped error, and
    /// hostile runs that did not end as they must ([`HostileReport::failures`]).
    pub fn mishandled_inputs(&self) -> usize {
        self.malformed
            .as_ref()
            .map_or(0, MalformedReport::mishandled)
            + self.hostile.as_ref().map_or(0, |h| h.failures().len())
    }

    /// Real programs that failed: a wrong exit or output, or engines that disagree in the
    /// deterministic profile, not covered by a known failure.
    pub fn program_failures(&self) -> Vec<String> {
        self.programs
            .as_ref()
            .map_or_else(Vec::new, |p| p.failures())
    }

    /// Divergences in the deterministic profile: the suite's verdict.
    pub fn deterministic_divergences(&self) -> usize {
        self.profile(true)
            .map_or(0, |p| p.divergences(&self.engines))
            + self.generated_divergences()
    }

    /// Divergences in the deterministic profile between engines on this machine that no
    /// matrix counts: guest calls, spec results left open, unexplained spec failures and
    /// generated modules ([`crate::merge`] counts the matrices, across machines too).
    pub fn divergences_within_engines(&self) -> usize {
        self.profile(true)
            .map_or(0, |p| p.divergences_beyond_probes(&self.engines))
            + self.generated_divergences()
    }

    /// Generated modules that diverged in the deterministic profile.
    fn generated_divergences(&self) -> usize {
        self.generated
            .as_ref()
            .and_then(|g| g.profile(true))
            .map_or(0, |p| p.unexplained() as usize)
    }
}

/// The verdict of probe row `row` across every engine of every report (machine).
/// `None` when the reports do not hold the same case there (different wasmhost versions).
pub fn merged_verdict(
    reports: &[Report],
    deterministic: bool,
    row: usize,
    ops: &[probes::Operator],
) -> Option<Verdict> {
    let mut outcomes = Vec::new();
    let mut case = None;
    for r in reports {
        let probe = r.profile(deterministic)?.probes.rows.get(row)?;
        if case.is_some_and(|c| c != &probe.case) {
            return None;
        }
        case = Some(&probe.case);
        outcomes.extend(probe.outcomes.iter());
    }
    let case = case?;
    let op = ops.iter().find(|o| o.name == case.op)?;
    Some(probes::classify(op, case, &outcomes, deterministic))
}

fn profile_name(deterministic: bool) -> &'static str {
    if deterministic {
        "deterministic"
    } else {
        "default"
    }
}

/// The terminal summary of one report.
pub fn summary(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wasmhost {} conformance on {}-{}; engines: {}",
        report.version,
        report.machine.arch,
        report.machine.os,
        report.engines.join(", ")
    );
    let _ = writeln!(
        s,
        "\nSpec tests, directives of the Wasm 2.0 core set with SIMD and relaxed SIMD (`off`: those of proposals the \
         contract turns off):"
    );
    let _ = writeln!(
        s,
        "  {:<14} {:<8} {:>8} {:>7} {:>8} {:>7}  {:>16}",
        "profile", "engine", "passed", "failed", "skipped", "off", "files all passed"
    );
    for p in &report.profiles {
        for (i, engine) in report.engines.iter().enumerate() {
            let core: Vec<&FileResult> = p
                .spec
                .iter()
                .filter(|r| r.is_core_set())
                .map(|r| &r.results[i])
                .collect();
            let sum = |f: &dyn Fn(&FileResult) -> u32| core.iter().map(|r| f(r)).sum::<u32>();
            let off: u32 = p
                .spec
                .iter()
                .filter(|r| !r.is_core_set())
                .map(|r| r.results[i].skipped_total())
                .sum();
            let run_files: Vec<_> = core.iter().filter(|r| r.passed + r.failed > 0).collect();
            let clean = run_files.iter().filter(|r| r.failed == 0).count();
            let _ = writeln!(
                s,
                "  {:<14} {:<8} {:>8} {:>7} {:>8} {:>7}  {:>9} of {:<4}",
                profile_name(p.deterministic),
                engine,
                sum(&|r| r.passed),
                sum(&|r| r.failed),
                sum(&|r| r.skipped_total()),
                off,
                clean,
                run_files.len()
            );
        }
    }
    for p in &report.profiles {
        for (i, engine) in report.engines.iter().enumerate() {
            for row in &p.spec {
                for (line, message) in &row.results[i].failures {
                    let known = KNOWN_FAILURES
                        .iter()
                        .find(|k| k.engine == engine && k.file == row.file && k.line == *line);
                    let why = known.map_or(String::new(), |k| format!(" [known: {}]", k.why));
                    let profile = profile_name(p.deterministic);
                    let _ = writeln!(
                        s,
                        "    {engine} ({profile}) failed {}:{line}: {message}{why}",
                        row.file
                    );
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "\nFloat/NaN probe matrix ({} cases):",
        report.profiles.first().map_or(0, |p| p.probes.rows.len())
    );
    let _ = writeln!(
        s,
        "  {:<14} {:>7} {:>12} {:>11}",
        "profile", "agree", "allowed NaN", "divergence"
    );
    for p in &report.profiles {
        let _ = writeln!(
            s,
            "  {:<14} {:>7} {:>12} {:>11}",
            profile_name(p.deterministic),
            p.probes.count(Verdict::Agree),
            p.probes.count(Verdict::AllowedNan),
            p.probes.count(Verdict::Divergence)
        );
    }
    let _ = writeln!(
        s,
        "\nSIMD lane probes ({} cases: f32x4/f64x2 lane by lane, relaxed SIMD at its edges):",
        report
            .profiles
            .first()
            .and_then(|p| p.lanes.first())
            .map_or(0, |m| m.rows.len())
    );
    let _ = writeln!(
        s,
        "  {:<14} {:<9} {:>7} {:>12} {:>16} {:>11}",
        "profile", "operands", "agree", "allowed NaN", "allowed relaxed", "divergence"
    );
    for p in &report.profiles {
        for m in &p.lanes {
            let _ = writeln!(
                s,
                "  {:<14} {:<9} {:>7} {:>12} {:>16} {:>11}",
                profile_name(p.deterministic),
                if m.constant { "constant" } else { "arguments" },
                m.count(Verdict::Agree),
                m.count(Verdict::AllowedNan),
                m.count(Verdict::AllowedRelaxed),
                m.count(Verdict::Divergence)
            );
        }
        for m in &p.lanes {
            for r in m
                .rows
                .iter()
                .filter(|r| r.verdict == Verdict::Divergence)
                .take(8)
            {
                let _ = writeln!(s, "    divergence: {}", r.describe());
            }
        }
    }
    let _ = writeln!(
        s,
        "\nFloat/NaN probe matrix, operands as constants (the engines' constant folding):"
    );
    for p in &report.profiles {
        let Some(m) = &p.probes_constant else {
            continue;
        };
        let _ = writeln!(
            s,
            "  {:<14} {:>7} {:>12} {:>11}",
            profile_name(p.deterministic),
            m.count(Verdict::Agree),
            m.count(Verdict::AllowedNan),
            m.count(Verdict::Divergence)
        );
        // Where the engines' folders differ, case by case.
        let differing: Vec<_> = m
            .rows
            .iter()
            .filter(|r| r.verdict != Verdict::Agree)
            .collect();
        for r in differing.iter().take(8) {
            let _ = writeln!(s, "    {} [{:?}]", r.describe(), r.verdict);
        }
        if differing.len() > 8 {
            let _ = writeln!(
                s,
                "    … and {} more (all in the JSON)",
                differing.len() - 8
            );
        }
    }
    if let (Some(d), Some(c)) = (report.profile(false), report.profile(true)) {
        for (i, engine) in report.engines.iter().enumerate() {
            let changed = d
                .probes
                .rows
                .iter()
                .zip(&c.probes.rows)
                .filter(|(a, b)| a.outcomes[i] != b.outcomes[i])
                .count();
            let _ = writeln!(
                s,
                "  {engine}: the deterministic profile changes the bits of {changed} cases"
            );
        }
    }
    for p in &report.profiles {
        let disagreements = p.nan_disagreements();
        let _ = writeln!(
            s,
            "\nSpec results left open (NaN patterns, relaxed SIMD's `either`) ({}): {} per engine, {} where the engines' bits differ",
            profile_name(p.deterministic),
            p.nan_results(),
            disagreements.len()
        );
        for d in disagreements.iter().take(10) {
            let engines: Vec<String> = d
                .values
                .iter()
                .map(|values| {
                    let shown: Vec<String> = values.iter().map(ToString::to_string).collect();
                    format!("[{}]", shown.join(", "))
                })
                .collect();
            let _ = writeln!(s, "    {}: {}", d.place, engines.join(" "));
        }
    }
    for p in &report.profiles {
        let agree = p.guests.iter().filter(|g| g.agree()).count();
        let _ = writeln!(
            s,
            "\nGuests through the ABI ({}): {} calls, {} agree (outcome and portable fuel)",
            profile_name(p.deterministic),
            p.guests.len(),
            agree
        );
        for g in p.guests.iter().filter(|g| !g.agree()) {
            let _ = writeln!(
                s,
                "    differ: {} {}: {:?}, fuel {:?}",
                g.call.guest, g.call.export, g.outcomes, g.fuel
            );
        }
    }
    if let Some(generated) = &report.generated {
        let _ = write!(s, "\n{}", generated.summary());
    }
    if let Some(malformed) = &report.malformed {
        let _ = write!(s, "\n{}", malformed.summary());
    }
    if let Some(bombs) = &report.bombs {
        let _ = write!(
            s,
            "\nCompile bombs (time per byte of the largest over the smallest: the ratio):\n{}",
            bombs.summary()
        );
    }
    if let Some(hostile) = &report.hostile {
        let _ = write!(s, "\n{}", hostile.summary());
    }
    if let Some(programs) = &report.programs {
        let _ = write!(s, "\n{}", programs.summary(&report.engines));
    }
    let _ = writeln!(
        s,
        "\nDeterministic profile: {} divergences{}",
        report.deterministic_divergences(),
        if report.deterministic_divergences() == 0 {
            " (the engines agree bit for bit)"
        } else {
            ""
        }
    );
    s
}

/// Reads a JSON report: one run (`--json`), or several already merged.
///
/// # Errors
/// When the bytes are neither.
pub fn from_json(bytes: &[u8]) -> Result<Vec<Report>, serde_json::Error> {
    serde_json::from_slice::<Report>(bytes)
        .map(|r| vec![r])
        .or_else(|_| serde_json::from_slice::<Vec<Report>>(bytes))
}
