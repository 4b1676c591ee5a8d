//! The metering report: what fuel costs and how well its units predict time. Runs the
//! `workloads` guest's exports on every engine with metering off, native and portable, and
//! reports per workload the units consumed, the median time, nanoseconds per unit, the
//! slowdown against no metering, and per engine and mode the correlation of units with time
//! across workloads.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, ValType, Value};

use crate::html::esc;

/// One workload: an export of the `workloads` guest and its round count.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Workload {
    /// The export, named after the kind of work.
    pub name: String,
    /// Rounds per call.
    pub rounds: i32,
}

/// The default workloads, sized so that each call takes milliseconds on a compiling engine.
pub fn workloads(scale: f64) -> Vec<Workload> {
    [
        ("integer", 400_000),
        ("float", 300_000),
        ("memory", 400_000),
        ("bulk", 300),
        ("calls", 400_000),
        ("host_calls", 100_000),
    ]
    .into_iter()
    .map(|(name, rounds)| Workload {
        name: name.into(),
        rounds: ((rounds as f64 * scale) as i32).max(1),
    })
    .collect()
}

/// One measurement: a workload on an engine in a metering mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    /// The workload's name.
    pub workload: String,
    /// The engine's name.
    pub engine: String,
    /// `off`, `native` or `portable`.
    pub mode: String,
    /// Fuel consumed by one call; `None` with metering off.
    pub units: Option<u64>,
    /// Median wall time of one call, in nanoseconds.
    pub median_ns: u64,
    /// `median_ns` over `units`.
    pub ns_per_unit: Option<f64>,
    /// `median_ns` over the same workload's with metering off on the same engine.
    pub slowdown: f64,
}

/// How well units predict time for one engine in one mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fit {
    /// The engine's name.
    pub engine: String,
    /// `native` or `portable`.
    pub mode: String,
    /// Pearson correlation of units with median time across the workloads.
    pub correlation: f64,
    /// Total time over total units across the workloads: a price per unit.
    pub ns_per_unit: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeterReport {
    /// The workloads run.
    pub workloads: Vec<Workload>,
    /// Calls timed per measurement (the median is reported).
    pub repetitions: usize,
    /// Every measurement.
    pub measurements: Vec<Measurement>,
    /// Per engine and metering mode.
    pub fits: Vec<Fit>,
    /// The portable units' cost table ([`wasmhost::CostTable::id`]): what a unit here is.
    #[serde(default)]
    pub cost_table: String,
}

const MODES: [Metering; 3] = [Metering::Off, Metering::Native, Metering::Portable];

/// Runs every workload on every engine in every mode, `repetitions` calls each, reporting
/// progress through `progress`.
///
/// # Errors
/// The first failure of a compile, instantiation or call, as text.
pub fn run(
    workloads: &[Workload],
    repetitions: usize,
    mut progress: impl FnMut(&str),
) -> Result<MeterReport, String> {
    let wasm = wasmhost_test_wasms::guest("workloads");
    let mut host = HostFunctions::<u64>::new();
    host.raw("env", "tick", &[ValType::I32], &[], |ctx, _| {
        *ctx.state_mut() += 1;
        Ok(vec![])
    });
    let mut measurements: Vec<Measurement> = Vec::new();
    for name in wasmhost::ENGINES {
        for mode in MODES {
            let engine = AnyEngine::from_name(name, Config::default().metering(mode))
                .map_err(|e| e.to_string())?;
            let module = engine.compile(wasm).map_err(|e| format!("{name}: {e}"))?;
            for w in workloads {
                progress(&format!("meter: {name} {} {}", mode.name(), w.name));
                let mut times = Vec::with_capacity(repetitions);
                let mut units = None;
                for _ in 0..repetitions {
                    let mut instance = module
                        .instantiate(&host, 0)
                        .map_err(|e| format!("{name}: {e}"))?;
                    if mode != Metering::Off {
                        instance
                            .set_fuel(u64::MAX >> 2)
                            .map_err(|e| e.to_string())?;
                    }
                    let start = Instant::now();
                    instance
                        .call_raw(&w.name, &[Value::I32(w.rounds)])
                        .map_err(|e| format!("{name} {}: {e}", w.name))?;
                    times.push(start.elapsed());
                    units = instance.fuel_consumed();
                }
                let median_ns = median(&mut times).as_nanos() as u64;
                let off_ns = measurements
                    .iter()
                    .find(|m| m.engine == *name && m.mode == "off" && m.workload == w.name)
                    .map_or(median_ns, |m| m.median_ns);
                measurements.push(Measurement {
                    workload: w.name.clone(),
                    engine: name.to_string(),
                    mode: mode.name().into(),
                    units,
                    median_ns,
                    ns_per_unit: units.map(|u| median_ns as f64 / u.max(1) as f64),
                    slowdown: median_ns as f64 / off_ns.max(1) as f64,
                });
            }
        }
    }
    let fits = fits(&measurements);
    Ok(MeterReport {
        workloads: workloads.to_vec(),
        repetitions,
        measurements,
        fits,
        cost_table: wasmhost::CostTable::default().id(),
    })
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn fits(measurements: &[Measurement]) -> Vec<Fit> {
    let mut fits = Vec::new();
    for name in wasmhost::ENGINES {
        for mode in [Metering::Native, Metering::Portable] {
            let points: Vec<(f64, f64)> = measurements
                .iter()
                .filter(|m| m.engine == *name && m.mode == mode.name())
                .filter_map(|m| Some((m.units? as f64, m.median_ns as f64)))
                .collect();
            let (units, ns) = points
                .iter()
                .fold((0.0, 0.0), |(u, t), (pu, pt)| (u + pu, t + pt));
            fits.push(Fit {
                engine: name.to_string(),
                mode: mode.name().into(),
                correlation: pearson(&points),
                ns_per_unit: ns / units.max(1.0),
            });
        }
    }
    fits
}

/// The Pearson correlation of the points; 0 when either coordinate does not vary.
pub fn pearson(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), (px, py)| (x + px / n, y + py / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// The report as a terminal table.
pub fn summary(report: &MeterReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Metering: median of {} calls per cell; units per call; ns per unit; slowdown against metering off; portable units of cost table {}.\n",
        report.repetitions, report.cost_table
    );
    let _ = writeln!(
        s,
        "{:<11} {:<8} {:>10} | {:>12} {:>9} {:>6} | {:>12} {:>9} {:>6}",
        "workload",
        "engine",
        "off ms",
        "native units",
        "ns/unit",
        "×off",
        "portable",
        "ns/unit",
        "×off"
    );
    for w in &report.workloads {
        for name in wasmhost::ENGINES {
            let cell = |mode: &str| {
                report
                    .measurements
                    .iter()
                    .find(|m| m.workload == w.name && m.engine == *name && m.mode == mode)
            };
            let Some(off) = cell("off") else { continue };
            let metered = |mode: &str| match cell(mode) {
                Some(m) => format!(
                    "{:>12} {:>9.3} {:>6.2}",
                    m.units.unwrap_or(0),
                    m.ns_per_unit.unwrap_or(0.0),
                    m.slowdown
                ),
                None => format!("{:>12} {:>9} {:>6}", "-", "-", "-"),
            };
            let _ = writeln!(
                s,
                "{:<11} {:<8} {:>10.3} | {} | {}",
                w.name,
                name,
                off.median_ns as f64 / 1e6,
                metered("native"),
                metered("portable")
            );
        }
    }
    let _ = writeln!(s, "\nHow well units predict time, across the workloads:");
    for fit in &report.fits {
        let _ = writeln!(
            s,
            "  {:<8} {:<9} correlation {:>6.3}   {:.3} ns per unit overall",
            fit.engine, fit.mode, fit.correlation, fit.ns_per_unit
        );
    }
    s
}

/// The report as one self-contained HTML page, with the table and a chart of slowdowns.
pub fn render_html(report: &MeterReport) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>wasmhost metering</title><style>\
         body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
         th{background:#f4f4f4}td.name{text-align:left;font-family:monospace}</style></head><body>\
         <h1>wasmhost metering</h1>",
    );
    let _ = write!(
        h,
        "<p>Median of {} calls per cell. <b>units</b>: fuel one call consumed; <b>ns/unit</b>: \
         median time over units; <b>×off</b>: median time over the same workload's with metering off. \
         Portable units are those of cost table <code>{}</code>.</p>",
        report.repetitions, report.cost_table
    );
    h += "<table><tr><th>workload</th><th>rounds</th><th>engine</th><th>off ms</th>\
          <th>native units</th><th>ns/unit</th><th>×off</th>\
          <th>portable units</th><th>ns/unit</th><th>×off</th></tr>";
    for w in &report.workloads {
        for m in report
            .measurements
            .iter()
            .filter(|m| m.workload == w.name && m.mode == "off")
        {
            let cell = |mode: &str| {
                report
                    .measurements
                    .iter()
                    .find(|x| x.workload == w.name && x.engine == m.engine && x.mode == mode)
                    .map_or("<td>-</td><td>-</td><td>-</td>".to_string(), |x| {
                        format!(
                            "<td>{}</td><td>{:.3}</td><td>{:.2}</td>",
                            x.units.unwrap_or(0),
                            x.ns_per_unit.unwrap_or(0.0),
                            x.slowdown
                        )
                    })
            };
            let _ = write!(
                h,
                "<tr><td class=\"name\">{}</td><td>{}</td><td class=\"name\">{}</td><td>{:.3}</td>{}{}</tr>",
                esc(&w.name),
                w.rounds,
                esc(&m.engine),
                m.median_ns as f64 / 1e6,
                cell("native"),
                cell("portable")
            );
        }
    }
    h += "</table><h2>How well units predict time</h2><table><tr><th>engine</th><th>mode</th>\
          <th>correlation</th><th>ns per unit overall</th></tr>";
    for f in &report.fits {
        let _ = write!(
            h,
            "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            esc(&f.engine),
            esc(&f.mode),
            f.correlation,
            f.ns_per_unit
        );
    }
    h += "</table><h2>Slowdown against metering off</h2>";
    slowdown_chart(&mut h, report);
    h += "</body></html>";
    h
}

/// Horizontal bars: one group per workload, one bar per engine and mode.
fn slowdown_chart(h: &mut String, report: &MeterReport) {
    let bars: Vec<&Measurement> = report
        .measurements
        .iter()
        .filter(|m| m.mode != "off")
        .collect();
    let max = bars.iter().map(|m| m.slowdown).fold(1.0, f64::max);
    let (row, label_w, width) = (16, 220, 480.0);
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-size=\"11\">",
        label_w + width as usize + 60,
        bars.len() * row + 20
    );
    let one = label_w as f64 + width / max;
    let _ = write!(
        h,
        "<line x1=\"{one:.1}\" y1=\"0\" x2=\"{one:.1}\" y2=\"{}\" stroke=\"#888\" stroke-dasharray=\"3\"/>",
        bars.len() * row
    );
    for (i, m) in bars.iter().enumerate() {
        let y = i * row;
        let w = width * m.slowdown / max;
        let colour = match (m.engine.as_str(), m.mode.as_str()) {
            (_, "native") if m.engine == wasmhost::ENGINES[0] => "#4a7fb5",
            (_, "native") => "#8fb3d9",
            (_, _) if m.engine == wasmhost::ENGINES[0] => "#d9822b",
            _ => "#f0b77a",
        };
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\">{} · {} · {}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{:.2}×</text>",
            y + 12,
            esc(&m.workload),
            esc(&m.engine),
            esc(&m.mode),
            y + 2,
            row - 4,
            label_w as f64 + w + 4.0,
            y + 12,
            m.slowdown
        );
    }
    let _ = write!(
        h,
        "<text x=\"{one:.1}\" y=\"{}\">1× (off)</text></svg>",
        bars.len() * row + 14
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_a_line_is_one_and_of_noise_less() {
        let line: Vec<_> = (0..6).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        assert!((pearson(&line) - 1.0).abs() < 1e-12);
        let anti: Vec<_> = (0..6).map(|i| (i as f64, -(i as f64))).collect();
        assert!((pearson(&anti) + 1.0).abs() < 1e-12);
        let flat = [(1.0, 2.0), (2.0, 2.0)];
        assert_eq!(pearson(&flat), 0.0);
    }
}
