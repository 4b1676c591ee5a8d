//! One self-contained HTML page for one report or several merged (one per machine): the
//! per-file spec table, the probe matrix as a grid coloured by agreement, and a chart.

use std::fmt::Write as _;

use crate::probes::{self, Outcome, Verdict};
use crate::report::{Report, merged_verdict};

/// One column of the merged view: an engine on a machine.
struct Column<'a> {
    label: String,
    report: &'a Report,
    engine: usize,
}

fn columns(reports: &[Report]) -> Vec<Column<'_>> {
    reports
        .iter()
        .flat_map(|r| {
            r.engines.iter().enumerate().map(move |(i, e)| Column {
                label: format!("{e} · {}", r.machine.arch),
                report: r,
                engine: i,
            })
        })
        .collect()
}

/// Escapes text for HTML.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(v) => v.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// Renders the page.
pub fn render(reports: &[Report]) -> String {
    let cols = columns(reports);
    let ops = probes::operators();
    let mut h = String::new();
    let machines: Vec<_> = reports
        .iter()
        .map(|r| format!("{}-{}", r.machine.arch, r.machine.os))
        .collect();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>wasmhost conformance</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}}\
         th{{background:#f4f4f4}}td.name{{text-align:left;font-family:monospace}}\
         .fail{{background:#f8c4c4}}.skip{{color:#999}}.ok{{background:#d8f0d8}}.expected{{background:#d6e4f5}}\
         .grid{{display:flex;flex-wrap:wrap;width:{}px;margin:2px 0}}\
         .c{{width:9px;height:9px;margin:0 1px 1px 0}}.agree{{background:#5cb85c}}.allowed{{background:#f0ad4e}}.divergence{{background:#d9534f}}\
         .op{{display:inline-block;vertical-align:top;margin:0 1.5em 1em 0}}.op span{{display:block;font-family:monospace}}\
         .verdict{{font-size:1.2em;padding:.5em 1em;display:inline-block}}</style></head><body>",
        16 * 10
    );
    let _ = write!(
        h,
        "<h1>wasmhost conformance</h1><p>Machines: {}. Engines: {}. wasmhost {}.</p>",
        esc(&machines.join(", ")),
        esc(&reports
            .first()
            .map_or(String::new(), |r| r.engines.join(", "))),
        esc(&reports.first().map_or(String::new(), |r| r.version.clone()))
    );
    let divergences = crate::merge::deterministic_divergences(reports);
    let _ = write!(
        h,
        "<p class=\"verdict {}\">Deterministic profile: {} divergences across {} engine × machine columns.</p>",
        if divergences == 0 { "ok" } else { "fail" },
        divergences,
        cols.len()
    );
    if reports.len() > 1 {
        merged_sections(&mut h, reports);
    }
    chart(&mut h, &cols);
    spec_table(&mut h, &cols);
    for deterministic in [false, true] {
        probe_grid(&mut h, reports, &cols, deterministic, &ops);
    }
    constant_probes(&mut h, reports);
    lane_probes(&mut h, reports);
    guest_table(&mut h, &cols);
    generated_table(&mut h, reports);
    malformed_and_bombs(&mut h, reports);
    hostile(&mut h, reports);
    for report in reports {
        if let Some(programs) = &report.programs {
            h += &programs.html(&report.engines, esc);
        }
    }
    h += "</body></html>\n";
    h
}

/// Every section compared across the machines ([`crate::merge`]), with a few differing
/// places of each.
fn merged_sections(h: &mut String, reports: &[Report]) {
    h.push_str(
        "<h2 id=\"merged\">Across machines</h2><p>Each section compared across the machines: \
         the probe matrices case by case over every engine on every machine, the rest each \
         engine against itself. Differences the spec allows (NaN bits, a relaxed choice) are \
         orange; the deterministic profile must show no other.</p><table><tr><th>section</th>\
         <th>profile</th><th>compared</th><th>agree</th><th>allowed</th><th>differ</th></tr>",
    );
    let comparisons = crate::merge::compare(reports);
    for c in &comparisons {
        let class = if c.differ == 0 {
            "ok"
        } else if c.deterministic {
            "fail"
        } else {
            "allowed"
        };
        let _ = write!(
            h,
            "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            esc(c.section),
            profile_label(c.deterministic),
            c.compared,
            c.agree,
            c.allowed,
            c.differ
        );
    }
    h.push_str("</table>");
    for c in comparisons.iter().filter(|c| !c.examples.is_empty()) {
        let _ = write!(
            h,
            "<details><summary>{} ({}): first differences</summary><pre>{}</pre></details>",
            esc(c.section),
            profile_label(c.deterministic),
            esc(&c.examples.join("\n"))
        );
    }
}

/// The probe matrix with constant operands, per report: counts per profile, and every case
/// where the engines' constant folding differs.
fn constant_probes(h: &mut String, reports: &[Report]) {
    matrices(
        h,
        reports,
        "<h2 id=\"probes-constant\">Float/NaN probes, operands as constants</h2><p>The same cases \
         with each operand a constant in the module, so that each engine's constant folding \
         computes them. Differences in NaN sign or payload are allowed by the spec (orange); \
         the deterministic profile must show none.</p>",
        |p| p.probes_constant.iter().collect(),
    );
}

/// The SIMD lane probes, per report: counts per profile and operand kind, and the first
/// cases where the engines differ.
fn lane_probes(h: &mut String, reports: &[Report]) {
    matrices(
        h,
        reports,
        "<h2 id=\"lanes\">SIMD lane probes</h2><p>Every f32x4/f64x2 float operation against the \
         scalar matrix's edge values, lane by lane, and every relaxed SIMD operation against \
         inputs chosen for its edge cases; operands as arguments, then as constants. NaN lanes \
         and relaxed choices may differ in the default profile (orange); the deterministic \
         profile must show one answer.</p>",
        |p| p.lanes.iter().collect(),
    );
}

/// Cases of differing rows shown per report.
const DIFFERING_SHOWN: usize = 200;

/// Counts per profile of the matrices `pick` chooses, and their first differing cases.
fn matrices(
    h: &mut String,
    reports: &[Report],
    intro: &str,
    pick: fn(&crate::report::ProfileReport) -> Vec<&crate::probes::Matrix>,
) {
    h.push_str(intro);
    for r in reports {
        h.push_str(
            "<table><tr><th>machine</th><th>profile</th><th>operands</th><th>agree</th>\
             <th>allowed NaN</th><th>allowed relaxed</th><th>divergence</th></tr>",
        );
        let mut differing = Vec::new();
        for p in &r.profiles {
            for m in pick(p) {
                let divergence = m.count(Verdict::Divergence);
                let _ = write!(
                    h,
                    "<tr><td class=\"name\">{}-{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                    esc(&r.machine.arch),
                    esc(&r.machine.os),
                    profile_label(p.deterministic),
                    if m.constant { "constants" } else { "arguments" },
                    m.count(Verdict::Agree),
                    m.count(Verdict::AllowedNan),
                    m.count(Verdict::AllowedRelaxed),
                    if divergence == 0 { "ok" } else { "fail" },
                    divergence
                );
                differing.extend(
                    m.rows
                        .iter()
                        .filter(|row| row.verdict != Verdict::Agree)
                        .map(|row| (p.deterministic, m.constant, row)),
                );
            }
        }
        h.push_str("</table>");
        if differing.is_empty() {
            continue;
        }
        if differing.len() > DIFFERING_SHOWN {
            let _ = write!(
                h,
                "<p>The first {DIFFERING_SHOWN} of {} differing cases (all are in the JSON).</p>",
                differing.len()
            );
        }
        let _ = write!(h, "<table><tr><th>profile</th><th>case</th>");
        for e in &r.engines {
            let _ = write!(h, "<th>{}</th>", esc(e));
        }
        h.push_str("<th>verdict</th></tr>");
        for (deterministic, constant, row) in differing.into_iter().take(DIFFERING_SHOWN) {
            let args: Vec<String> = row.case.args.iter().map(|a| a.to_string()).collect();
            let _ = write!(
                h,
                "<tr><td class=\"name\">{}</td><td class=\"name\">{} ({}){}</td>",
                profile_label(deterministic),
                esc(&row.case.op),
                esc(&args.join(", ")),
                if constant { ", constants" } else { "" }
            );
            for o in &row.outcomes {
                let _ = write!(h, "<td class=\"name\">{}</td>", esc(&show(o)));
            }
            let class = match row.verdict {
                Verdict::AllowedNan | Verdict::AllowedRelaxed => "allowed",
                _ => "divergence",
            };
            let _ = write!(h, "<td class=\"{class}\">{:?}</td></tr>", row.verdict);
        }
        h.push_str("</table>");
    }
}

fn profile_label(deterministic: bool) -> &'static str {
    if deterministic {
        "deterministic"
    } else {
        "default"
    }
}

/// Stacked bars: Wasm 2.0 core-set directives passed / failed / skipped per column and
/// profile (the turned-off proposals would only add grey).
fn chart(h: &mut String, cols: &[Column<'_>]) {
    let mut bars = Vec::new();
    for c in cols {
        for p in &c.report.profiles {
            let (mut pass, mut fail, mut skip) = (0u32, 0u32, 0u32);
            for row in p.spec.iter().filter(|r| r.is_core_set()) {
                let r = &row.results[c.engine];
                pass += r.passed;
                fail += r.failed;
                skip += r.skipped_total();
            }
            bars.push((
                format!("{} · {}", c.label, profile_label(p.deterministic)),
                pass,
                fail,
                skip,
            ));
        }
    }
    let max = bars
        .iter()
        .map(|b| b.1 + b.2 + b.3)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (width, row) = (600.0, 22.0);
    let _ = write!(
        h,
        "<h2>Wasm 2.0 core-set directives per engine</h2><svg width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">",
        width + 260.0,
        row * bars.len() as f64 + 30.0
    );
    for (i, (label, pass, fail, skip)) in bars.iter().enumerate() {
        let y = i as f64 * row;
        let mut x = 250.0;
        let _ = write!(h, "<text x=\"0\" y=\"{}\">{}</text>", y + 15.0, esc(label));
        for (n, colour, what) in [
            (pass, "#5cb85c", "passed"),
            (fail, "#d9534f", "failed"),
            (skip, "#bbb", "skipped"),
        ] {
            let w = *n as f64 / max * width;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"><title>{n} {what}</title></rect>",
                row - 4.0
            );
            x += w;
        }
    }
    let _ = write!(
        h,
        "<text x=\"250\" y=\"{}\">green: passed, red: failed, grey: skipped (features turned off, or outside the contract)</text></svg>",
        row * bars.len() as f64 + 20.0
    );
}

fn spec_table(h: &mut String, cols: &[Column<'_>]) {
    h.push_str("<h2>Spec files: Wasm 2.0 core set (passed / failed / skipped directives)</h2>");
    h.push_str("<p>Hover a cell for its failures and skip reasons.</p>");
    spec_rows(h, cols, true);
    h.push_str(
        "<details><summary>Proposals the contract turns off (every directive skipped)</summary>",
    );
    spec_rows(h, cols, false);
    h.push_str("</details>");
}

/// One table of spec files: the core set's, or the turned-off proposals'.
fn spec_rows(h: &mut String, cols: &[Column<'_>], core: bool) {
    let profiles = [false, true];
    h.push_str("<table><tr><th>file</th>");
    for c in cols {
        for d in profiles {
            let _ = write!(h, "<th>{}<br>{}</th>", esc(&c.label), profile_label(d));
        }
    }
    h.push_str("</tr>");
    let Some(first) = cols.first().and_then(|c| c.report.profile(false)) else {
        h.push_str("</table>");
        return;
    };
    for (i, row) in first
        .spec
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_core_set() == core)
    {
        let _ = write!(h, "<tr><td class=\"name\">{}</td>", esc(&row.file));
        for c in cols {
            for d in profiles {
                let Some(r) = c
                    .report
                    .profile(d)
                    .and_then(|p| p.spec.get(i))
                    .map(|r| &r.results[c.engine])
                else {
                    h.push_str("<td></td>");
                    continue;
                };
                let class = if r.failed > 0 {
                    "fail"
                } else if r.passed == 0 {
                    "skip"
                } else {
                    "ok"
                };
                let reasons: Vec<_> = r.skipped.iter().map(|(k, v)| format!("{v}× {k}")).collect();
                let failures: Vec<_> = r
                    .failures
                    .iter()
                    .map(|(l, m)| format!("line {l}: {m}"))
                    .collect();
                let _ = write!(
                    h,
                    "<td class=\"{class}\" title=\"{}\">{} / {} / {}</td>",
                    esc(&[failures, reasons].concat().join("\n")),
                    r.passed,
                    r.failed,
                    r.skipped_total()
                );
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn probe_grid(
    h: &mut String,
    reports: &[Report],
    cols: &[Column<'_>],
    deterministic: bool,
    ops: &[probes::Operator],
) {
    let Some(first) = reports.first().and_then(|r| r.profile(deterministic)) else {
        return;
    };
    let _ = write!(
        h,
        "<h2 id=\"probes-{}\">Float/NaN probe matrix, {} profile</h2><p>One cell per case, compared across every column \
         (green: same bits everywhere; orange: NaN sign/payload differences the spec allows; red: divergence). \
         Hover a cell for each column's result.</p>",
        profile_label(deterministic),
        profile_label(deterministic)
    );
    let mut i = 0;
    while i < first.probes.rows.len() {
        let op = &first.probes.rows[i].case.op;
        let _ = write!(
            h,
            "<div class=\"op\"><span>{}</span><div class=\"grid\">",
            esc(op)
        );
        while i < first.probes.rows.len() && &first.probes.rows[i].case.op == op {
            let verdict =
                merged_verdict(reports, deterministic, i, ops).unwrap_or(Verdict::Divergence);
            let class = match verdict {
                Verdict::Agree => "agree",
                Verdict::AllowedNan | Verdict::AllowedRelaxed => "allowed",
                Verdict::Divergence => "divergence",
            };
            let case = &first.probes.rows[i].case;
            let mut title = format!(
                "{op}({})",
                case.args
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for c in cols {
                if let Some(o) = c
                    .report
                    .profile(deterministic)
                    .and_then(|p| p.probes.rows.get(i))
                {
                    let _ = write!(title, "\n{}: {}", c.label, show(&o.outcomes[c.engine]));
                }
            }
            let _ = write!(
                h,
                "<div class=\"c {class}\" title=\"{}\"></div>",
                esc(&title)
            );
            i += 1;
        }
        h.push_str("</div></div>");
    }
}

fn guest_table(h: &mut String, cols: &[Column<'_>]) {
    let _ = write!(
        h,
        "<h2>Guests through the ABI</h2><p>Each cell: whether the outcome and the portable fuel \
         are the same as the first column's in the same profile (a difference there is a \
         failure), then the fuel. A deterministic-profile cell that differs from its own \
         default-profile cell is <span class=\"expected\">expected</span>: that profile \
         canonicalizes NaNs and limits call depth, and this is what it changed.</p>\
         <table><tr><th>guest</th><th>export</th>"
    );
    for c in cols {
        for d in [false, true] {
            let _ = write!(h, "<th>{}<br>{}</th>", esc(&c.label), profile_label(d));
        }
    }
    h.push_str("</tr>");
    let Some(first) = cols.first() else {
        return;
    };
    fn rows<'a>(c: &Column<'a>, d: bool) -> Option<&'a Vec<crate::report::GuestRow>> {
        c.report.profile(d).map(|p| &p.guests)
    }
    /// What column `c` saw in profile `d` for guest call `i`: outcome and fuel.
    fn cell<'a>(
        c: &Column<'a>,
        d: bool,
        i: usize,
    ) -> (Option<&'a crate::guests::Outcome>, Option<u64>) {
        let row = rows(c, d).and_then(|g| g.get(i));
        (
            row.map(|g| &g.outcomes[c.engine]),
            row.and_then(|g| g.fuel.get(c.engine).copied().flatten()),
        )
    }
    let Some(count) = rows(first, false).map(Vec::len) else {
        return;
    };
    for i in 0..count {
        let Some(g) = rows(first, false).and_then(|g| g.get(i)) else {
            continue;
        };
        let _ = write!(
            h,
            "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td>",
            esc(&g.call.guest),
            esc(&g.call.export)
        );
        for c in cols {
            for d in [false, true] {
                let seen = cell(c, d, i);
                let (class, text) = if seen != cell(first, d, i) {
                    ("fail", "differs")
                } else if d && seen != cell(c, false, i) {
                    ("expected", "same · profile changed it")
                } else {
                    ("ok", "same")
                };
                let fuel_text = seen.1.map_or("-".into(), |f| f.to_string());
                let _ = write!(
                    h,
                    "<td class=\"{class}\" title=\"{}\">{text} · {fuel_text}</td>",
                    esc(&format!("{:?}", seen.0)),
                );
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// The generated modules, per report: counts per profile, differences by class, and the
/// divergences that are not allowed.
fn generated_table(h: &mut String, reports: &[Report]) {
    let runs: Vec<_> = reports
        .iter()
        .filter_map(|r| r.generated.as_ref().map(|g| (r, g)))
        .collect();
    if runs.is_empty() {
        return;
    }
    h.push_str(
        "<h2 id=\"generated\">Generated modules</h2><p>Modules made by wasm-smith (Wasm 2.0 \
         with SIMD and relaxed SIMD), each export called with the same arguments and the same portable fuel \
         on every engine; the traces (results, error kinds, fuel, exported globals, a digest \
         of memory) compared. The first difference of each module is classified.</p>\
         <table><tr><th>machine</th><th>modules (seed)</th><th>profile</th><th>calls per \
         engine</th><th>agree</th><th>differ: allowed</th><th>differ: unexplained</th>\
         <th>outcomes of the first engine's calls</th></tr>",
    );
    for (report, g) in &runs {
        for p in &g.profiles {
            let unexplained = p.unexplained();
            let allowed: Vec<String> = p
                .classes
                .iter()
                .filter(|(c, _)| c.allowed() && !p.deterministic)
                .map(|(c, n)| format!("{n} {}", c.name()))
                .collect();
            let outcomes: Vec<String> = p
                .outcomes
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td class=\"name\">{}</td>\
                 <td class=\"{}\">{unexplained}</td><td class=\"name\">{}</td></tr>",
                esc(&report.machine.arch),
                g.modules,
                g.seed,
                profile_label(p.deterministic),
                p.calls,
                p.agreed,
                esc(&allowed.join(", ")),
                if unexplained == 0 { "ok" } else { "fail" },
                esc(&outcomes.join(", "))
            );
        }
    }
    h.push_str("</table>");
    for (_, g) in &runs {
        for p in &g.profiles {
            for d in p
                .divergences
                .iter()
                .filter(|d| p.deterministic || !d.class.allowed())
            {
                let _ = write!(
                    h,
                    "<p class=\"fail\">{} profile, module {}: {}: {}{}</p>",
                    profile_label(p.deterministic),
                    d.module,
                    esc(&d.step),
                    esc(&d.seen.join(" | ")),
                    esc(&d.saved_as())
                );
            }
        }
    }
}

/// Malformed modules and compile bombs, per report that ran them.
fn malformed_and_bombs(h: &mut String, reports: &[Report]) {
    for report in reports {
        if let Some(m) = &report.malformed {
            let mishandled = m.mishandled();
            let _ = write!(
                h,
                "<h2 id=\"malformed\">Malformed modules ({})</h2><p>Random bytes and mutated, \
                 truncated test guests, compiled on every engine in the default profile and \
                 with every rewriting pass on. Every refusal must be a typed compile error.</p>\
                 <table><tr><th>inputs (seed)</th><th>compilations all accepted</th>\
                 <th>all rejected</th><th>engines disagree</th><th>panic or untyped error</th></tr>\
                 <tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{mishandled}</td></tr></table>",
                esc(&report.machine.arch),
                m.inputs,
                m.seed,
                m.all_accepted,
                m.all_rejected,
                m.disagreements(),
                if mishandled == 0 { "ok" } else { "fail" },
            );
        }
        if let Some(b) = &report.bombs {
            let _ = write!(
                h,
                "<h2 id=\"bombs\">Compile bombs ({})</h2><p>Modules built to be slow to compile, \
                 timed on every engine: milliseconds and nanoseconds per byte, and the ratio of \
                 the largest module's time per byte to the smallest's (at most {}× passes).</p>\
                 <table><tr><th>shape</th><th>engine</th>",
                esc(&report.machine.arch),
                crate::bombs::MAX_RATIO
            );
            for size in &b.sizes {
                let _ = write!(h, "<th>{:.2} MB</th>", *size as f64 / 1e6);
            }
            h.push_str("<th>ratio</th></tr>");
            for shape in crate::bombs::Shape::ALL {
                for engine in &b.engines {
                    let _ = write!(
                        h,
                        "<tr><td class=\"name\">{}</td><td>{}</td>",
                        shape.name(),
                        esc(engine)
                    );
                    for size in &b.sizes {
                        let cell = b.compile(shape, *size, engine).map_or("-".into(), |c| {
                            match (&c.outcome, c.ns_per_byte()) {
                                (Ok(secs), Some(ns)) => {
                                    format!("{:.0} ms · {ns:.0} ns/B", secs * 1e3)
                                }
                                (Err(e), _) => format!("refused: {e}"),
                                _ => "-".into(),
                            }
                        });
                        let _ = write!(h, "<td>{}</td>", esc(&cell));
                    }
                    let ratio = b.ratio(shape, engine);
                    let _ = write!(
                        h,
                        "<td class=\"{}\">{}</td></tr>",
                        if ratio.is_some_and(|r| r <= crate::bombs::MAX_RATIO) {
                            "ok"
                        } else {
                            "fail"
                        },
                        ratio.map_or("-".into(), |r| format!("{r:.2}×"))
                    );
                }
            }
            h.push_str("</table>");
        }
    }
}

/// Hostile guests, threads sharing a module and long runs, per report that ran them.
fn hostile(h: &mut String, reports: &[Report]) {
    use crate::hostile::{LEAK_BOUND, WARM_UP};
    let class = |ok: bool| if ok { "ok" } else { "fail" };
    for report in reports {
        let Some(r) = &report.hostile else {
            continue;
        };
        let _ = write!(
            h,
            "<h2 id=\"hostile\">Hostile guests ({})</h2><p>Guests that lie, trap, grow without \
             end or call back without end, through the serialized ABI: each must end in the \
             typed error it names, and a fresh instance of the module must work after it.</p>\
             <table><tr><th>case</th><th>what the guest does</th><th>engine</th><th>how it ended</th></tr>",
            esc(&report.machine.arch)
        );
        for c in &r.cases {
            let _ = write!(
                h,
                "<tr><td class=\"name\">{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&c.case.replace('_', " ")),
                esc(&c.what),
                esc(&c.engine),
                class(c.passed),
                esc(&c.outcome)
            );
        }
        h.push_str("</table>");
        if !r.threads.is_empty() {
            h.push_str(
                "<h3>Threads sharing one module</h3><p>Serialized calls through a host function, \
                 each thread on instances of its own (a fresh one every 50 calls); every result \
                 must come back right, exactly once.</p><table><tr><th>engine</th><th>threads</th>\
                 <th>calls</th><th>calls/s</th><th>every result once</th></tr>",
            );
            for t in &r.threads {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td class=\"{}\">{}</td></tr>",
                    esc(&t.engine),
                    t.threads,
                    t.calls,
                    t.calls_per_second,
                    class(t.every_result_once),
                    t.every_result_once
                );
            }
            h.push_str("</table>");
        }
        if !r.leaks.is_empty() {
            let _ = write!(
                h,
                "<h3>Long runs</h3><p>Resident memory of the process after the first {WARM_UP} \
                 and after all: growth past {} MiB fails.</p><table><tr><th>engine</th>\
                 <th>what</th><th>iterations</th><th>resident after {WARM_UP}</th>\
                 <th>after all</th><th>growth</th></tr>",
                LEAK_BOUND >> 20
            );
            for l in &r.leaks {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} MB</td><td>{:.1} MB</td>\
                     <td class=\"{}\">+{} KiB</td></tr>",
                    esc(&l.engine),
                    esc(&l.what),
                    l.iterations,
                    l.resident_after_warm_up as f64 / 1e6,
                    l.resident_after as f64 / 1e6,
                    class(l.every_iteration_right && l.growth() <= LEAK_BOUND),
                    l.growth() >> 10
                );
            }
            h.push_str("</table>");
        }
    }
}
