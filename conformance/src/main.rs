//! The `wasmhost` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wasmhost_conformance::run;

#[derive(Parser)]
#[command(
    name = "wasmhost",
    version,
    about = "Run WebAssembly guests on every engine and compare them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Call one export of a module (.wasm or .wat) and print what each engine returned,
    /// how long it took, and whether the engines agree.
    Run {
        /// The module: binary (.wasm) or text (.wat).
        file: PathBuf,
        /// The export to call.
        export: String,
        /// Arguments: one per parameter for raw exports (decimal, or 0x… for exact bits);
        /// one JSON value for serialized exports.
        args: Vec<String>,
        /// `wasmer`, `wasmi`, or `all`.
        #[arg(long, default_value = "all")]
        engine: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            export,
            args,
            engine,
        } => run_command(&file, &export, &args, &engine),
    }
}

fn run_command(file: &PathBuf, export: &str, args: &[String], engine: &str) -> ExitCode {
    let wasm = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| wasmhost::wat2wasm(bytes).map_err(|e| e.to_string()))
    {
        Ok(wasm) => wasm,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let engines = match run::engines(engine) {
        Ok(engines) => engines,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runs = Vec::new();
    for engine in &engines {
        match run::run_on(engine, &wasm, export, args) {
            Ok(r) => {
                println!(
                    "{:<7} {}   (compile {:.3?}, instantiate {:.3?}, call {:.3?})",
                    r.engine, r.outcome, r.compile, r.instantiate, r.call
                );
                runs.push(r);
            }
            Err(e) => {
                eprintln!("{:<7} error: {e}", engine_name(engine));
                return ExitCode::from(2);
            }
        }
    }
    if runs.len() > 1 {
        if run::agree(&runs) {
            println!("engines agree ({} engines, bit for bit)", runs.len());
        } else {
            println!("engines DISAGREE");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn engine_name(engine: &wasmhost::AnyEngine) -> &'static str {
    use wasmhost::prelude::*;
    engine.name()
}
