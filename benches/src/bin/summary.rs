//! Prints the benchmark summary from criterion's last run, and writes it as JSON and HTML.
//!
//! `cargo run --release -p wasmhost-benches --bin summary -- [--criterion DIR]
//! [--json FILE] [--html FILE]`; `benches/run` runs the benchmarks and then this.

use std::path::PathBuf;
use std::process::ExitCode;

use wasmhost_benches::summary;

fn main() -> ExitCode {
    let mut criterion = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/criterion"));
    let (mut json, mut html) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().map(PathBuf::from);
        match (arg.as_str(), value) {
            ("--criterion", Some(v)) => criterion = v,
            ("--json", Some(v)) => json = Some(v),
            ("--html", Some(v)) => html = Some(v),
            _ => {
                eprintln!("usage: summary [--criterion DIR] [--json FILE] [--html FILE]");
                return ExitCode::from(2);
            }
        }
    }
    let medians = match summary::read_medians(&criterion) {
        Ok(m) if !m.is_empty() => m,
        Ok(_) | Err(_) => {
            eprintln!(
                "error: no criterion results in {} (run `cargo bench -p wasmhost-benches` first)",
                criterion.display()
            );
            return ExitCode::from(2);
        }
    };
    let rows = summary::rows(&medians);
    print!("{}", summary::render_text(&rows));
    let outputs = [
        (
            json,
            serde_json::to_string_pretty(&rows).unwrap_or_default(),
        ),
        (html, summary::render_html(&rows)),
    ];
    for (path, text) in outputs {
        let Some(path) = path else { continue };
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("written to {}", path.display());
    }
    ExitCode::SUCCESS
}
