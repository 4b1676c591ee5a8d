//! Prints the probe matrix's outcomes on wasmi with its `deterministic` feature, as JSON.

// The matrix's source, compiled here as it is in wasmhost-conformance: it depends only on
// wasmhost and serde, and this way the oracle builds without the rest of that crate.
#[path = "../../src/probes.rs"]
#[allow(dead_code)] // the constant-operand half of the matrix is not asked for here
mod probes;

use wasmhost::{AnyEngine, Config};

fn main() {
    // The default profile of our API: canonicalization comes from wasmi's own feature.
    let engine = AnyEngine::from_name("wasmi", Config::default()).expect("wasmi is compiled in");
    let matrix = probes::Matrix::run(&[engine]).expect("the probe module runs");
    println!("{}", serde_json::to_string(&matrix).expect("serializes"));
}
