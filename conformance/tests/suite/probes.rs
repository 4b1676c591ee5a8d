//! The float/NaN probe matrix across every enabled engine, in both profiles.

use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::probes::{Matrix, Verdict, cases, classify, operators};

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
    let ops = operators();
    assert_eq!(matrix.rows.len(), cases(&ops).len());
    for row in &matrix.rows {
        assert_eq!(row.outcomes.len(), wasmhost::ENGINES.len());
        let same = row.outcomes.windows(2).all(|w| w[0] == w[1]);
        let op = ops.iter().find(|o| o.name == row.case.op).unwrap();
        // Agreement is exactly "same bits"; an allowed difference is only ever a NaN of an
        // arithmetic operator; everything else that differs is a divergence.
        let expected_ok = match row.verdict {
            Verdict::Agree => same,
            Verdict::AllowedNan => !same && op.nan_nondeterministic,
            // Only the SIMD lane probes have relaxed operations.
            Verdict::AllowedRelaxed => false,
            Verdict::Divergence => !same,
        };
        assert!(
            expected_ok,
            "{} {:?}: {:?} {:?}",
            row.case.op, row.case.args, row.outcomes, row.verdict
        );
    }
}

#[test]
fn constant_operands_give_the_same_bits_except_where_a_nan_may_differ() {
    for deterministic in [false, true] {
        let engines = AnyEngine::all(&Config::default().deterministic(deterministic));
        let runtime = Matrix::run(&engines).unwrap();
        let constant = Matrix::run_constant(&engines).unwrap();
        assert!(constant.constant && !runtime.constant);
        assert_eq!(constant.rows.len(), runtime.rows.len());
        let ops = operators();
        for (r, c) in runtime.rows.iter().zip(&constant.rows) {
            assert_eq!(r.case, c.case);
            let op = ops.iter().find(|o| o.name == c.case.op).unwrap();
            for (a, b) in r.outcomes.iter().zip(&c.outcomes) {
                // Folded or not, an engine computes the same value; only a NaN's sign and
                // payload may differ, and only where the spec allows a set of NaNs.
                let verdict = classify(op, &c.case, &[a, b], deterministic);
                assert_ne!(
                    verdict,
                    Verdict::Divergence,
                    "{} {:?}: argument {a:?}, constant {b:?} (deterministic: {deterministic})",
                    c.case.op,
                    c.case.args
                );
            }
        }
        if deterministic {
            assert_eq!(constant.count(Verdict::Divergence), 0);
            assert_eq!(constant.count(Verdict::AllowedNan), 0);
        }
    }
}
