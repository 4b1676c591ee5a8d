//! The float/NaN probe matrix across every enabled engine, in both profiles.

use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::probes::{Matrix, Verdict, cases, operators};

#[test]
fn deterministic_profile_has_zero_differences_across_engines() {
    let matrix = Matrix::run(&AnyEngine::all(&Config::default().deterministic(true))).unwrap();
    let differing: Vec<_> = matrix
        .rows
        .iter()
        .filter(|r| r.verdict != Verdict::Agree)
        .map(|r| format!("{} {:?}: {:?}", r.case.op, r.case.args, r.outcomes))
        .collect();
    assert!(
        differing.is_empty(),
        "{} differences:\n{}",
        differing.len(),
        differing.join("\n")
    );
    assert_eq!(matrix.rows.len(), cases(&operators()).len());
}

#[test]
fn default_profile_classifies_every_difference() {
    let matrix = Matrix::run(&AnyEngine::all(&Config::default())).unwrap();
    let total = matrix.count(Verdict::Agree)
        + matrix.count(Verdict::AllowedNan)
        + matrix.count(Verdict::Divergence);
    assert_eq!(total, cases(&operators()).len());
    for row in &matrix.rows {
        assert_eq!(row.outcomes.len(), wasmhost::ENGINES.len());
    }
}
