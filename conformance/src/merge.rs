//! Reports from several machines, compared section by section: NaN bits and relaxed SIMD
//! results may differ between processor architectures (and that is where peers disagree),
//! while in the deterministic profile nothing may.
//!
//! Two kinds of section:
//! - **classified** ones (the probe matrices and the SIMD lane probes, both operand kinds):
//!   each case is judged over every column (engine × machine) at once, as one machine's
//!   matrix is judged over its engines: agree, allowed NaN, allowed relaxed, divergence.
//! - **compared** ones (the spec's results left open, the guest calls, the generated
//!   modules, the real programs): each engine is compared with itself on every machine.
//!   Differences between engines on one machine are each report's own (see
//!   [`Report::deterministic_divergences`]); what is new here is a machine changing an
//!   engine's answer. In the deterministic profile each such difference is a divergence;
//!   in the default profile it is listed (the spec's results left open differ within what
//!   the spec allows, so they count as allowed).

use std::fmt::Write as _;

use serde::Serialize;
use wasmhost::Value;

use crate::probes::{self, Case, Matrix, Outcome, Row, Verdict};
use crate::report::{ProfileReport, Report};

/// Where a profile keeps one of its matrices.
type MatrixOf = fn(&ProfileReport) -> Option<&Matrix>;

/// Differing cases kept per section and profile, to show.
const EXAMPLES: usize = 12;

/// One section of the reports in one profile, compared across machines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// What was compared.
    pub section: &'static str,
    /// The profile.
    pub deterministic: bool,
    /// Places compared: cases, or (row, engine) pairs in compared sections.
    pub compared: usize,
    /// Places with one answer everywhere.
    pub agree: usize,
    /// Places that differ as the spec allows (NaN bits, a relaxed choice).
    pub allowed: usize,
    /// Places that differ otherwise: divergences in the deterministic profile (and in the
    /// default one, for classified sections); listed, not judged, in the default profile of
    /// compared sections.
    pub differ: usize,
    /// A few of the places that differ (allowed or not), described.
    pub examples: Vec<String>,
}

impl Comparison {
    fn new(section: &'static str, deterministic: bool) -> Self {
        Comparison {
            section,
            deterministic,
            ..Comparison::default()
        }
    }

    /// Counts one place.
    fn add(&mut self, verdict: Verdict, describe: impl FnOnce() -> String) {
        self.compared += 1;
        match verdict {
            Verdict::Agree => self.agree += 1,
            Verdict::AllowedNan | Verdict::AllowedRelaxed => self.allowed += 1,
            Verdict::Divergence => self.differ += 1,
        }
        if verdict != Verdict::Agree && self.examples.len() < EXAMPLES {
            self.examples.push(describe());
        }
    }

    /// Divergences this comparison adds to the verdict: its `differ` places, in the
    /// deterministic profile.
    pub fn divergences(&self) -> usize {
        if self.deterministic { self.differ } else { 0 }
    }
}

/// Every section of `reports` (one per machine) compared, default profile first.
pub fn compare(reports: &[Report]) -> Vec<Comparison> {
    let probe_ops = probes::operators();
    let lane_ops = crate::lanes::operators();
    let by_probe = |case: &Case, outcomes: &[&Outcome], d: bool| {
        probes::classify_listed(&probe_ops, case, outcomes, d)
    };
    let by_lanes = |case: &Case, outcomes: &[&Outcome], d: bool| {
        crate::lanes::classify_listed(&lane_ops, case, outcomes, d)
    };
    let mut out = Vec::new();
    for deterministic in [false, true] {
        let profiles: Vec<&ProfileReport> = reports
            .iter()
            .filter_map(|r| r.profile(deterministic))
            .collect();
        if profiles.len() != reports.len() || profiles.is_empty() {
            continue;
        }
        let matrices: [(&'static str, MatrixOf, bool); 4] = [
            ("float/NaN probes, arguments", |p| Some(&p.probes), false),
            (
                "float/NaN probes, constants",
                |p| p.probes_constant.as_ref(),
                false,
            ),
            ("SIMD lane probes, arguments", |p| p.lanes.first(), true),
            ("SIMD lane probes, constants", |p| p.lanes.get(1), true),
        ];
        for (section, matrix, lanes) in matrices {
            let Some(matrices) = profiles
                .iter()
                .map(|p| matrix(p))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            out.push(if lanes {
                classified(section, deterministic, &matrices, by_lanes)
            } else {
                classified(section, deterministic, &matrices, by_probe)
            });
        }
        let engines = &reports[0].engines;
        out.push(spec_left_open(&profiles, engines, deterministic));
        out.push(guests(&profiles, engines, deterministic));
        if let Some(c) = generated(reports, deterministic) {
            out.push(c);
        }
        if let Some(c) = programs(reports, deterministic) {
            out.push(c);
        }
    }
    out
}

/// A matrix judged case by case over every engine of every machine.
fn classified(
    section: &'static str,
    deterministic: bool,
    matrices: &[&Matrix],
    classify: impl Fn(&Case, &[&Outcome], bool) -> Option<Verdict>,
) -> Comparison {
    let mut c = Comparison::new(section, deterministic);
    let rows = matrices.first().map_or(0, |m| m.rows.len());
    for i in 0..rows {
        let first = &matrices[0].rows[i];
        let same_case = matrices
            .iter()
            .all(|m| m.rows.get(i).is_some_and(|r| r.case == first.case));
        let outcomes: Vec<&Outcome> = matrices
            .iter()
            .filter_map(|m| m.rows.get(i))
            .flat_map(|r| r.outcomes.iter())
            .collect();
        // Reports of different versions hold different cases: not comparable, a divergence.
        let verdict = same_case
            .then(|| classify(&first.case, &outcomes, deterministic))
            .flatten()
            .unwrap_or(Verdict::Divergence);
        c.add(verdict, || {
            let merged = Row {
                case: first.case.clone(),
                outcomes: outcomes.iter().map(|o| (*o).clone()).collect(),
                verdict,
            };
            merged.describe()
        });
    }
    c
}

/// Compares one engine with itself across machines: what it answered on each (`None` where
/// a report lacks the place: a different version). A difference is allowed where `allowed`.
fn same_everywhere<T: PartialEq>(seen: &[Option<T>], allowed: bool) -> Verdict {
    if seen.windows(2).all(|w| w[0] == w[1]) && seen.first().is_some_and(Option::is_some) {
        Verdict::Agree
    } else if allowed && seen.iter().all(Option::is_some) {
        Verdict::AllowedNan
    } else {
        Verdict::Divergence
    }
}

/// `place on engine: a | b | …`, one answer per machine.
fn describe_machines<T>(
    place: &str,
    engine: &str,
    seen: &[Option<T>],
    show: impl Fn(&T) -> String,
) -> String {
    let answers: Vec<String> = seen
        .iter()
        .map(|s| s.as_ref().map_or_else(|| "(missing)".to_string(), &show))
        .collect();
    format!("{place} on {engine}: {}", answers.join(" | "))
}

/// Values as the report prints them.
fn show_values(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().map(ToString::to_string).collect();
    shown.join(", ")
}

/// How [`per_engine`] reads and shows one section.
struct Places<V, N, S> {
    /// How many places.
    count: usize,
    /// What an engine (by index) answered at a place, in a profile.
    values: V,
    /// A place's name.
    name: N,
    /// An answer, for people.
    show: S,
    /// Whether a difference is one the spec permits.
    allowed: bool,
}

/// Each engine with itself across machines, place by place.
fn per_engine<T: PartialEq>(
    c: &mut Comparison,
    profiles: &[&ProfileReport],
    engines: &[String],
    places: Places<
        impl Fn(&ProfileReport, usize, usize) -> Option<T>,
        impl Fn(usize) -> String,
        impl Fn(&T) -> String,
    >,
) {
    for place in 0..places.count {
        for (e, engine) in engines.iter().enumerate() {
            let seen: Vec<Option<T>> = profiles
                .iter()
                .map(|p| (places.values)(p, place, e))
                .collect();
            c.add(same_everywhere(&seen, places.allowed), || {
                describe_machines(&(places.name)(place), engine, &seen, &places.show)
            });
        }
    }
}

/// The spec's results left open (NaN patterns, relaxed `either`): allowed to differ in the
/// default profile, one answer in the deterministic one.
fn spec_left_open(
    profiles: &[&ProfileReport],
    engines: &[String],
    deterministic: bool,
) -> Comparison {
    let mut c = Comparison::new("spec results left open", deterministic);
    let first = profiles[0];
    let places: Vec<(usize, usize)> = first
        .spec
        .iter()
        .enumerate()
        .flat_map(|(row, spec)| {
            let open = spec.results.first().map_or(0, |r| r.nan_bits.len());
            (0..open).map(move |k| (row, k))
        })
        .collect();
    let values = |p: &ProfileReport, i: usize, engine: usize| {
        let (row, k) = places[i];
        let spec = p.spec.get(row).filter(|r| r.file == first.spec[row].file)?;
        let bits = spec.results.get(engine)?.nan_bits.get(k)?;
        (bits.line == first.spec[row].results[0].nan_bits[k].line).then(|| bits.values.clone())
    };
    let name = |i: usize| {
        let (row, k) = places[i];
        let bits = &first.spec[row].results[0].nan_bits[k];
        format!("{}:{} {}", first.spec[row].file, bits.line, bits.export)
    };
    let places = Places {
        count: places.len(),
        values,
        name,
        show: |values: &Vec<Value>| show_values(values),
        allowed: !deterministic,
    };
    per_engine(&mut c, profiles, engines, places);
    c
}

/// The guest calls: outcome and portable fuel.
fn guests(profiles: &[&ProfileReport], engines: &[String], deterministic: bool) -> Comparison {
    let mut c = Comparison::new("guest calls", deterministic);
    let first = profiles[0];
    let places = Places {
        count: first.guests.len(),
        values: |p: &ProfileReport, row: usize, engine: usize| {
            let g = p
                .guests
                .get(row)
                .filter(|g| g.call == first.guests[row].call)?;
            Some((g.outcomes.get(engine)?.clone(), g.fuel.get(engine).copied()))
        },
        name: |row: usize| {
            let call = &first.guests[row].call;
            format!("{}.{}", call.guest, call.export)
        },
        show: |(outcome, fuel): &(crate::guests::Outcome, Option<Option<u64>>)| {
            format!("{outcome:?}, fuel {:?}", fuel.flatten())
        },
        allowed: false,
    };
    per_engine(&mut c, profiles, engines, places);
    c
}

/// The generated modules: each engine's trace digest, module by module.
fn generated(reports: &[Report], deterministic: bool) -> Option<Comparison> {
    let profiles = reports
        .iter()
        .map(|r| r.generated.as_ref()?.profile(deterministic))
        .collect::<Option<Vec<_>>>()?;
    let mut c = Comparison::new("generated modules", deterministic);
    let first = profiles[0];
    for (row, (index, _)) in first.digests.iter().enumerate() {
        for (engine, name) in reports[0].engines.iter().enumerate() {
            let seen: Vec<Option<&String>> = profiles
                .iter()
                .map(|p| {
                    p.digests
                        .get(row)
                        .filter(|(i, _)| i == index)
                        .and_then(|(_, d)| d.get(engine))
                })
                .collect();
            c.add(same_everywhere(&seen, false), || {
                let place = format!("module {index} (trace digest)");
                describe_machines(&place, name, &seen, |d| d.to_string())
            });
        }
    }
    Some(c)
}

/// The real programs: exit, output digest and portable fuel, program by program.
fn programs(reports: &[Report], deterministic: bool) -> Option<Comparison> {
    let all = reports
        .iter()
        .map(|r| r.programs.as_ref())
        .collect::<Option<Vec<_>>>()?;
    let mut c = Comparison::new("real programs", deterministic);
    let first = all[0];
    for row in &first.rows {
        let runs: Vec<Option<&crate::programs::ProfileRuns>> = all
            .iter()
            .map(|p| {
                let other = p.rows.iter().find(|r| r.program == row.program)?;
                other
                    .profiles
                    .iter()
                    .find(|r| r.deterministic == deterministic)
            })
            .collect();
        for (engine, name) in reports[0].engines.iter().enumerate() {
            let seen: Vec<Option<_>> = runs
                .iter()
                .map(|r| {
                    let run = (*r)?.runs.get(engine)?;
                    Some((run.exit.clone(), run.output.clone(), run.fuel))
                })
                .collect();
            c.add(same_everywhere(&seen, false), || {
                describe_machines(&row.program, name, &seen, |(exit, output, fuel)| {
                    format!("exit {exit:?}, output {output}, fuel {fuel:?}")
                })
            });
        }
    }
    Some(c)
}

/// Divergences in the deterministic profile across every engine of every report: every
/// section's across machines, and each report's own that no section covers (guests that
/// differ between engines, unexplained spec failures, generated modules).
pub fn deterministic_divergences(reports: &[Report]) -> usize {
    let sections: usize = compare(reports).iter().map(Comparison::divergences).sum();
    let own: usize = reports.iter().map(Report::divergences_within_engines).sum();
    sections + own
}

/// The terminal summary of reports from several machines: each one's own summary, then
/// every section compared across them.
pub fn summary(reports: &[Report]) -> String {
    let mut s = String::new();
    for r in reports {
        s += &crate::report::summary(r);
        s.push('\n');
    }
    let columns: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.engines
                .iter()
                .map(move |e| format!("{e}·{}", r.machine.arch))
        })
        .collect();
    let _ = writeln!(s, "Merged across {}", columns.join(", "));
    let _ = writeln!(
        s,
        "  {:<30} {:<14} {:>8} {:>8} {:>8} {:>7}",
        "section", "profile", "compared", "agree", "allowed", "differ"
    );
    let comparisons = compare(reports);
    for c in &comparisons {
        let _ = writeln!(
            s,
            "  {:<30} {:<14} {:>8} {:>8} {:>8} {:>7}",
            c.section,
            if c.deterministic {
                "deterministic"
            } else {
                "default"
            },
            c.compared,
            c.agree,
            c.allowed,
            c.differ
        );
    }
    for c in comparisons.iter().filter(|c| !c.examples.is_empty()) {
        let profile = if c.deterministic {
            "deterministic"
        } else {
            "default"
        };
        let _ = writeln!(s, "  {} ({profile}), first differences:", c.section);
        for e in &c.examples {
            let _ = writeln!(s, "    {e}");
        }
    }
    let _ = writeln!(
        s,
        "Merged deterministic profile: {} divergences",
        deterministic_divergences(reports)
    );
    s
}
