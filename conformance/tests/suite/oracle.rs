//! The deterministic profile on wasmi (a wasm rewrite) against wasmi's own `deterministic`
//! cargo feature: the same bits for every case of the probe matrix. Only built with wasmi.

#![cfg(feature = "wasmi")]

use std::path::Path;
use std::process::Command;

use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::probes::Matrix;

#[test]
fn wasmi_rewrite_matches_wasmis_own_deterministic_feature() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("../target/oracle");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--locked", "--manifest-path"])
        .arg(root.join("oracle/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo for the oracle");
    assert!(
        out.status.success(),
        "oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: Matrix = serde_json::from_slice(&out.stdout).unwrap();

    let ours = Matrix::run(&[
        AnyEngine::from_name("wasmi", Config::default().deterministic(true)).unwrap(),
    ])
    .unwrap();
    assert_eq!(ours.rows.len(), oracle.rows.len());
    let differing: Vec<String> = ours
        .rows
        .iter()
        .zip(&oracle.rows)
        .filter(|(a, b)| a.outcomes != b.outcomes)
        .map(|(a, b)| {
            format!(
                "{} {:?}: ours {:?}, wasmi's {:?}",
                a.case.op, a.case.args, a.outcomes, b.outcomes
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "{} cases differ:\n{}",
        differing.len(),
        differing.join("\n")
    );
}
