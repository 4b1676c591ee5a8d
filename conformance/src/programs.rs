//! Real programs in Sightglass's layout (`../shared/programs`, see its README): each run on
//! every engine in the default profile and in the deterministic profile with portable fuel,
//! its folder preopened as `.`, no standard input; exit code, output against the
//! `.expected` files, agreement across engines, fuel, and the time between `bench.start`
//! and `bench.end`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::wasi::{self, Captured, WasiCtx, WasiView};
use wasmhost::{AnyEngine, Config, HostFunctions, MemoryReservation, Metering};

/// The fuel budget of a program run in the deterministic profile: 2^52 units, days of work.
pub const PROGRAM_FUEL: u64 = 1 << 52;

pub use wasmhost_test_wasms::programs::{Program, find};

/// A failure another open issue covers: listed with its reason, not counted.
pub struct KnownFailure {
    /// The program.
    pub program: &'static str,
    /// The engine, or `None` for every engine.
    pub engine: Option<&'static str>,
    /// In the deterministic profile (`true`) or the default one.
    pub deterministic: bool,
    /// Why, and which issue covers it.
    pub reason: &'static str,
}

/// The known failures: none today, every program runs on every engine in both profiles.
pub const KNOWN_FAILURES: &[KnownFailure] = &[];

/// The known failure that covers `program` on `engine` in a profile, if any.
pub fn known_failure(program: &str, engine: &str, deterministic: bool) -> Option<&'static str> {
    KNOWN_FAILURES
        .iter()
        .find(|k| {
            k.program == program
                && k.deterministic == deterministic
                && k.engine.is_none_or(|e| e == engine)
        })
        .map(|k| k.reason)
}

/// One program on one engine in one profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The exit code, or the error that stopped it.
    pub exit: Result<i32, String>,
    /// Whether stdout and stderr are what the folder expects (`None`: nothing to compare).
    pub expected: Option<bool>,
    /// A digest of stdout and stderr, to compare engines.
    pub output: String,
    /// Portable fuel, in the deterministic profile.
    pub fuel: Option<u64>,
    /// Milliseconds between `bench.start` and `bench.end` (the whole run without them).
    pub millis: f64,
    /// How many runs `millis` is the fastest of (a report from before: 1).
    #[serde(default = "one")]
    pub runs: usize,
}

impl Run {
    /// A run that did not start, and why.
    fn not_started(why: String) -> Run {
        Run {
            exit: Err(why),
            expected: None,
            output: String::new(),
            fuel: None,
            millis: 0.0,
            runs: 1,
        }
    }

    /// Whether its time is worth a ratio: at least 1 ms, or at least 0.1 ms as the fastest
    /// of 10 runs or more (a single run under a millisecond is mostly the machine's jitter;
    /// programs that take no time at all, `noop`, are left out either way).
    fn timed_well(&self) -> bool {
        self.millis >= 1.0 || (self.runs >= 10 && self.millis >= 0.1)
    }

    /// Whether the run failed: an exit code other than 0, or output not as expected.
    fn failed(&self) -> bool {
        self.exit != Ok(0) || self.expected == Some(false)
    }

    /// The run to report of this one and a repeat of it: the first that failed, else the
    /// faster.
    fn or_repeat(self, repeat: Run) -> Run {
        let runs = self.runs + repeat.runs;
        let kept = match (self.failed(), repeat.failed()) {
            (true, _) => self,
            (false, true) => repeat,
            (false, false) if repeat.millis < self.millis => repeat,
            (false, false) => self,
        };
        Run { runs, ..kept }
    }
}

/// One program in one profile, on every engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRuns {
    /// The profile.
    pub deterministic: bool,
    /// Each engine's run, in the report's engine order.
    pub runs: Vec<Run>,
    /// The known failure that covers a failing run here.
    pub known: Option<String>,
}

impl ProfileRuns {
    /// Whether every engine ran it to exit code 0 with the expected output.
    pub fn passed(&self) -> bool {
        self.runs
            .iter()
            .all(|r| r.exit == Ok(0) && r.expected != Some(false))
    }

    /// Whether every engine gave the same exit, output and fuel.
    pub fn agree(&self) -> bool {
        self.runs
            .windows(2)
            .all(|w| w[0].exit == w[1].exit && w[0].output == w[1].output && w[0].fuel == w[1].fuel)
    }

    /// Whether this is a failure to count: not passing (or, deterministic, disagreeing)
    /// and not covered by a known failure.
    pub fn fails(&self) -> bool {
        self.known.is_none() && (!self.passed() || (self.deterministic && !self.agree()))
    }
}

/// One program, both profiles.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramRow {
    /// Its name.
    pub program: String,
    /// Default, then deterministic.
    pub profiles: Vec<ProfileRuns>,
}

/// The programs section of the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramsReport {
    /// The directory they came from.
    pub dir: String,
    /// One row per program.
    pub rows: Vec<ProgramRow>,
    /// The cost table of the fuel columns ([`wasmhost::CostTable::id`]), so a figure names
    /// the table it was counted with.
    #[serde(default)]
    pub cost_table: String,
    /// How many times each program ran on each engine in each profile; its time is the
    /// fastest run's (a report from before the option: 1).
    #[serde(default = "one")]
    pub runs: usize,
}

/// The runs of a report that does not say.
fn one() -> usize {
    1
}

impl ProgramsReport {
    /// Failures that count: an unexpected exit or output, or a disagreement in the
    /// deterministic profile, not covered by a known failure.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.rows {
            for p in row.profiles.iter().filter(|p| p.fails()) {
                let profile = if p.deterministic {
                    "deterministic"
                } else {
                    "default"
                };
                out.push(format!("{} ({profile})", row.program));
            }
        }
        out
    }
}

/// Host state of a program run: WASI, and the `bench.start`/`bench.end` marks.
struct State {
    wasi: WasiCtx,
    started: Option<Instant>,
    elapsed: Option<Duration>,
}

impl WasiView for State {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.wasi
    }
}

/// The host functions of a program run.
fn host() -> HostFunctions<State> {
    let mut host = HostFunctions::<State>::new();
    wasi::link(&mut host);
    host.raw("bench", "start", &[], &[], |cx, _| {
        cx.state_mut().started = Some(Instant::now());
        Ok(vec![])
    });
    host.raw("bench", "end", &[], &[], |cx, _| {
        let state = cx.state_mut();
        state.elapsed = state.started.map(|s| s.elapsed());
        Ok(vec![])
    });
    host
}

/// Runs `program` on `engine` (compiled as `module`).
fn run_one(engine: &AnyEngine, program: &Program, module: &wasmhost::AnyModule) -> Run {
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let deterministic = engine.config().deterministic;
    let builder = match program.context() {
        Ok(b) => b.stdout(stdout.output()).stderr(stderr.output()),
        Err(e) => return Run::not_started(format!("the folder does not open: {e}")),
    };
    let builder = if deterministic {
        builder.deterministic(0)
    } else {
        builder
    };
    let state = State {
        wasi: builder.build(),
        started: None,
        elapsed: None,
    };
    let began = Instant::now();
    let result = wasi::run_command(module, &host(), state);
    let whole = began.elapsed();
    let (exit, fuel, timed) = match result {
        Ok((code, mut instance)) => (Ok(code), instance.fuel_consumed(), instance.state().elapsed),
        Err(e) => (Err(e.to_string()), None, None),
    };
    let (out, err) = (stdout.contents(), stderr.contents());
    let expected = program.output_as_expected(&out, &err);
    let digest = blake3::hash(&[out.as_slice(), b"\0", err.as_slice()].concat());
    Run {
        exit,
        expected,
        output: digest.to_hex()[..16].to_string(),
        fuel,
        millis: timed.unwrap_or(whole).as_secs_f64() * 1e3,
        runs: 1,
    }
}

/// A program whose runs in a profile add up to less than this many timed milliseconds runs
/// again: the fastest of one run of a 1 ms program moved its hosted / default ratio between
/// 1.26 and 1.93 from one report to the next; the fastest of tens does not move like that.
pub const MIN_TIMED_MILLIS: f64 = 100.0;

/// The most runs a program gets in a profile on an engine, however short it is.
pub const MAX_RUNS: usize = 50;

/// Whether a program that has run `done` times on an engine, in each profile, runs again:
/// until `at_least` runs, then while the shorter profile's timed runs add up to less than
/// [`MIN_TIMED_MILLIS`], at most [`MAX_RUNS`] times, and not once a run has failed.
fn runs_again(done: usize, at_least: usize, timed_millis: [f64; 2], failed: bool) -> bool {
    if done < at_least {
        return true;
    }
    let shortest = timed_millis[0].min(timed_millis[1]);
    done < MAX_RUNS && !failed && shortest < MIN_TIMED_MILLIS
}

/// Runs every program in `dir` whose name is in `only` (all when empty) on every engine, in
/// both profiles, memories laid out as `reservation` says, `runs` times each (at least
/// once), and a short program more often, until its runs add up to [`MIN_TIMED_MILLIS`]
/// (at most [`MAX_RUNS`]), each engine's runs of the two profiles taking turns, the hosted
/// runs' fuel counted by `costs`. A program's time is its fastest run's: a single run of a
/// program of a few milliseconds on a loaded machine can take twice as long as the next. A
/// run that fails is reported over the others.
/// `progress` is told what runs.
///
/// # Errors
/// When `dir` cannot be read.
pub fn run(
    dir: &Path,
    only: &[String],
    reservation: MemoryReservation,
    runs: usize,
    costs: &wasmhost::CostTable,
    mut progress: impl FnMut(&str),
) -> std::io::Result<ProgramsReport> {
    let repeats = runs.max(1);
    let programs: Vec<Program> = find(dir)?
        .into_iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .collect();
    let mut rows = Vec::new();
    for (i, program) in programs.iter().enumerate() {
        progress(&format!(
            "programs {}/{} {}",
            i + 1,
            programs.len(),
            program.name
        ));
        let wasm = std::fs::read(&program.wasm)?;
        let mut row = ProgramRow {
            program: program.name.clone(),
            profiles: Vec::new(),
        };
        let configs = [false, true].map(|deterministic| {
            let config = Config::default()
                .deterministic(deterministic)
                .memory_reservation(reservation);
            if deterministic {
                // Fuel measures here, it does not bound: the longest programs burn tens of
                // billions of units, past the default budget.
                config
                    .metering(Metering::Portable)
                    .costs(costs.clone())
                    .initial_fuel(PROGRAM_FUEL)
            } else {
                config
            }
        });
        let engines = configs.each_ref().map(AnyEngine::all);
        let mut runs: [Vec<Run>; 2] = Default::default();
        for (default, hosted) in engines[0].iter().zip(&engines[1]) {
            let pair = [default, hosted];
            let modules = pair.map(|engine| engine.compile(&wasm));
            // The two profiles' runs alternate, so that a stretch of a loaded machine slows
            // both alike rather than one profile's whole batch.
            let mut kept = modules
                .each_ref()
                .map(|m| m.as_ref().err().map(|e| Run::not_started(e.to_string())));
            let mut timed = [0.0; 2];
            let mut done = 0;
            while runs_again(done, repeats, timed, kept.iter().flatten().any(Run::failed)) {
                for d in [0, 1] {
                    let Ok(module) = &modules[d] else { continue };
                    let run = run_one(pair[d], program, module);
                    timed[d] += run.millis;
                    kept[d] = Some(match kept[d].take() {
                        Some(before) => before.or_repeat(run),
                        None => run,
                    });
                }
                done += 1;
            }
            for (d, run) in kept.into_iter().enumerate() {
                runs[d].extend(run);
            }
        }
        for (d, runs) in runs.into_iter().enumerate() {
            let deterministic = d == 1;
            let mut profile = ProfileRuns {
                deterministic,
                runs,
                known: None,
            };
            if !profile.passed() || (deterministic && !profile.agree()) {
                // Known only when every failing engine's failure is.
                let reasons: Vec<Option<&str>> = engines[d]
                    .iter()
                    .zip(&profile.runs)
                    .filter(|(_, r)| r.exit != Ok(0) || r.expected == Some(false))
                    .map(|(e, _)| known_failure(&program.name, e.name(), deterministic))
                    .collect();
                if reasons.iter().all(Option::is_some) {
                    profile.known = reasons.into_iter().flatten().next().map(str::to_string);
                }
            }
            row.profiles.push(profile);
        }
        rows.push(row);
    }
    Ok(ProgramsReport {
        dir: dir.display().to_string(),
        rows,
        cost_table: costs.id(),
        runs: repeats,
    })
}

impl ProgramRow {
    /// Its cells per profile: each engine's outcome and time.
    fn cell(run: &Run) -> String {
        let outcome = match (&run.exit, run.expected) {
            (Ok(0), Some(false)) => "wrong output".to_string(),
            (Ok(0), _) => "ok".to_string(),
            (Ok(code), _) => format!("exit {code}"),
            (Err(e), _) => e.clone(),
        };
        format!("{outcome} {:.0} ms", run.millis)
    }
}

/// What the hosted configuration (deterministic profile with portable fuel) costs one
/// engine on the programs, against the default profile (each the fastest of
/// [`ProgramsReport::runs`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HostedCost {
    /// The engine, as the report names it.
    pub engine: String,
    /// How many programs ran to exit 0 in both profiles, the ones compared.
    pub programs: usize,
    /// The median of hosted / default time over them.
    pub median: f64,
    /// The largest, and its program.
    pub worst: (f64, String),
}

impl ProgramsReport {
    /// Per engine, hosted / default time over the programs that ran to exit 0 in both
    /// profiles (a time under 1 ms that is not the fastest of 10 runs or more left out:
    /// its ratio is noise).
    pub fn hosted_cost(&self, engines: &[String]) -> Vec<HostedCost> {
        let mut costs = Vec::new();
        for (i, engine) in engines.iter().enumerate() {
            let mut ratios: Vec<(f64, String)> = Vec::new();
            for row in &self.rows {
                let run = |deterministic: bool| {
                    let p = row
                        .profiles
                        .iter()
                        .find(|p| p.deterministic == deterministic)?;
                    p.runs.get(i).filter(|r| r.exit == Ok(0) && r.timed_well())
                };
                if let (Some(default), Some(hosted)) = (run(false), run(true)) {
                    ratios.push((hosted.millis / default.millis, row.program.clone()));
                }
            }
            if ratios.is_empty() {
                continue;
            }
            ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
            let n = ratios.len();
            let median = if n % 2 == 1 {
                ratios[n / 2].0
            } else {
                (ratios[n / 2 - 1].0 + ratios[n / 2].0) / 2.0
            };
            costs.push(HostedCost {
                engine: engine.clone(),
                programs: n,
                median,
                worst: ratios[n - 1].clone(),
            });
        }
        costs
    }

    /// One line per engine: [`ProgramsReport::hosted_cost`].
    fn hosted_cost_text(&self, engines: &[String]) -> String {
        let mut s = String::new();
        for c in self.hosted_cost(engines) {
            s += &format!(
                "  {}: hosted (deterministic + portable fuel) / default time over {} programs: \
                 median {:.2}, worst {:.2} ({})\n",
                c.engine, c.programs, c.median, c.worst.0, c.worst.1
            );
        }
        s
    }

    /// The terminal table: per program and profile, each engine's outcome and time, the
    /// verdict, fuel in the deterministic profile.
    pub fn summary(&self, engines: &[String]) -> String {
        let mut s = format!(
            "Real programs ({}): each engine's outcome and time between bench.start and \
             bench.end (the fastest of at least {} runs, and of up to {MAX_RUNS} for a \
             program until its runs add up to {MIN_TIMED_MILLIS} ms); deterministic profile \
             with portable fuel (cost table {})\n",
            self.dir, self.runs, self.cost_table
        );
        for row in &self.rows {
            for p in &row.profiles {
                let cells: Vec<String> = engines
                    .iter()
                    .zip(&p.runs)
                    .map(|(e, r)| format!("{e} {}", ProgramRow::cell(r)))
                    .collect();
                let verdict = match (&p.known, p.fails(), p.agree()) {
                    (Some(reason), _, _) => format!("known failure: {reason}"),
                    (None, true, _) => "FAILED".into(),
                    (None, false, true) => "agree".into(),
                    (None, false, false) => {
                        "outputs differ (allowed in the default profile)".into()
                    }
                };
                let fuel = match p.runs.first().and_then(|r| r.fuel) {
                    Some(f) if p.deterministic => format!(", fuel {f}"),
                    _ => String::new(),
                };
                s += &format!(
                    "  {:<22} {:<13} {}: {verdict}{fuel}\n",
                    row.program,
                    if p.deterministic {
                        "deterministic"
                    } else {
                        "default"
                    },
                    cells.join(", ")
                );
            }
        }
        let failures = self.failures();
        s += &format!(
            "  {} programs, {} failures{}\n",
            self.rows.len(),
            failures.len(),
            if failures.is_empty() {
                String::new()
            } else {
                format!(": {}", failures.join(", "))
            }
        );
        s += &self.hosted_cost_text(engines);
        s
    }

    /// The HTML section: the same table.
    pub fn html(&self, engines: &[String], esc: impl Fn(&str) -> String) -> String {
        let mut h = format!(
            "<h2 id=\"programs\">Real programs</h2><p>Third-party WASI programs from {}: \
             each engine's outcome and the time between <code>bench.start</code> and \
             <code>bench.end</code>, in the default profile and in the deterministic profile \
             with portable fuel, where every engine must give the same output and fuel.</p>\
             <table><tr><th>program</th><th>profile</th>",
            esc(&self.dir)
        );
        for e in engines {
            h += &format!("<th>{}</th>", esc(e));
        }
        h += &format!(
            "<th>verdict</th><th>fuel ({})</th></tr>",
            esc(&self.cost_table)
        );
        for row in &self.rows {
            for p in &row.profiles {
                h += &format!(
                    "<tr><td class=\"name\">{}</td><td>{}</td>",
                    esc(&row.program),
                    if p.deterministic {
                        "deterministic"
                    } else {
                        "default"
                    }
                );
                for r in &p.runs {
                    h += &format!("<td>{}</td>", esc(&ProgramRow::cell(r)));
                }
                let (class, verdict) = match (&p.known, p.fails()) {
                    (Some(reason), _) => ("", format!("known failure: {reason}")),
                    (None, true) => ("fail", "failed".to_string()),
                    (None, false) => ("ok", if p.agree() { "agree" } else { "differ" }.into()),
                };
                let fuel = p.runs.first().and_then(|r| r.fuel).map(|f| f.to_string());
                h += &format!(
                    "<td class=\"{class}\">{}</td><td>{}</td></tr>",
                    esc(&verdict),
                    fuel.unwrap_or_default()
                );
            }
        }
        h += "</table>";
        for c in self.hosted_cost(engines) {
            h += &format!(
                "<p>{}: hosted (deterministic + portable fuel) / default time over {} \
                 programs: median {:.2}, worst {:.2} ({}).</p>",
                esc(&c.engine),
                c.programs,
                c.median,
                c.worst.0,
                esc(&c.worst.1)
            );
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(millis: f64, exit: i32) -> Run {
        Run {
            exit: Ok(exit),
            expected: Some(true),
            output: String::new(),
            fuel: None,
            millis,
            runs: 1,
        }
    }

    #[test]
    fn repeated_runs_report_the_fastest_unless_one_failed() {
        assert_eq!(run(9.0, 0).or_repeat(run(4.0, 0)).millis, 4.0);
        assert_eq!(run(4.0, 0).or_repeat(run(9.0, 0)).millis, 4.0);
        // A failure is reported, however fast the run that passed.
        assert_eq!(run(4.0, 0).or_repeat(run(9.0, 1)).exit, Ok(1));
        assert_eq!(run(9.0, 1).or_repeat(run(4.0, 0)).exit, Ok(1));
        let wrong = Run {
            expected: Some(false),
            ..run(9.0, 0)
        };
        assert_eq!(run(4.0, 0).or_repeat(wrong).expected, Some(false));
        // The kept run says how many it was chosen from.
        let three = run(9.0, 0).or_repeat(run(4.0, 0)).or_repeat(run(6.0, 1));
        assert_eq!((three.runs, three.exit), (3, Ok(1)));
    }

    #[test]
    fn a_time_under_a_millisecond_counts_only_as_the_fastest_of_many_runs() {
        assert!(run(1.0, 0).timed_well());
        assert!(!run(0.8, 0).timed_well());
        let many = |millis, runs| Run {
            runs,
            ..run(millis, 0)
        };
        assert!(many(0.8, 10).timed_well());
        assert!(!many(0.8, 9).timed_well());
        // A program that does nothing measurable, however often it ran.
        assert!(!many(0.02, 50).timed_well());
    }

    #[test]
    fn a_short_program_runs_again_until_its_runs_add_up_or_the_most_runs() {
        // The runs asked for come first, whatever they add up to or whether one failed.
        assert!(runs_again(0, 1, [0.0; 2], false));
        assert!(runs_again(2, 3, [500.0; 2], true));
        // Then on while the shorter profile's runs add up to less than the minimum.
        assert!(runs_again(
            1,
            1,
            [MIN_TIMED_MILLIS, MIN_TIMED_MILLIS - 1.0],
            false
        ));
        assert!(!runs_again(
            1,
            1,
            [MIN_TIMED_MILLIS, MIN_TIMED_MILLIS + 1.0],
            false
        ));
        // A failure is not repeated, nor is a program past the most runs.
        assert!(!runs_again(1, 1, [1.0; 2], true));
        assert!(!runs_again(MAX_RUNS, 1, [1.0; 2], false));
        assert!(runs_again(MAX_RUNS - 1, 1, [1.0; 2], false));
    }

    #[test]
    fn hosted_cost_is_the_median_and_worst_ratio_over_programs_both_profiles_ran() {
        let row = |name: &str, default: [f64; 2], hosted: [f64; 2], exit: i32| ProgramRow {
            program: name.into(),
            profiles: [(false, default), (true, hosted)]
                .into_iter()
                .map(|(deterministic, ms)| ProfileRuns {
                    deterministic,
                    runs: vec![run(ms[0], exit), run(ms[1], 0)],
                    known: None,
                })
                .collect(),
        };
        let report = ProgramsReport {
            dir: String::new(),
            cost_table: String::new(),
            runs: 1,
            rows: vec![
                row("a", [10.0, 10.0], [11.0, 20.0], 0),
                row("b", [10.0, 10.0], [13.0, 10.0], 0),
                row("c", [10.0, 10.0], [12.0, 15.0], 0),
                // Failed on the first engine: left out there.
                row("d", [10.0, 10.0], [99.0, 10.0], 1),
                // Under a millisecond: left out.
                row("e", [0.5, 0.5], [5.0, 5.0], 0),
            ],
        };
        let costs = report.hosted_cost(&["x".into(), "y".into()]);
        assert_eq!(costs[0].programs, 3);
        assert!((costs[0].median - 1.2).abs() < 1e-9);
        assert_eq!(costs[0].worst, (1.3, "b".to_string()));
        assert_eq!(costs[1].programs, 4);
        assert!((costs[1].median - 1.25).abs() < 1e-9);
        assert_eq!(costs[1].worst, (2.0, "a".to_string()));
    }
}
