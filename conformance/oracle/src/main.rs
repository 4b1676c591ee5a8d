//! Prints the probe matrix's outcomes on wasmi with its `deterministic` feature, as JSON.

use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::probes::Matrix;

fn main() {
    // The default profile of our API: canonicalization comes from wasmi's own feature.
    let engine = AnyEngine::from_name("wasmi", Config::default()).expect("wasmi is compiled in");
    let matrix = Matrix::run(&[engine]).expect("the probe module runs");
    println!("{}", serde_json::to_string(&matrix).expect("serializes"));
}
