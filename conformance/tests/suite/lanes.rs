//! The SIMD lane probes across every enabled engine: one answer per case in the
//! deterministic profile, folded or not; in the default profile every difference classified.

use wasmhost::{AnyEngine, Config};
use wasmhost_conformance::lanes::{Kind, cases, operators, run_matrix};
use wasmhost_conformance::probes::Verdict;

#[test]
fn deterministic_profile_gives_one_answer_per_lane_with_and_without_constant_folding() {
    let engines = AnyEngine::all(&Config::default().deterministic(true));
    let runtime = run_matrix(&engines, false).unwrap();
    let constant = run_matrix(&engines, true).unwrap();
    assert_eq!(runtime.rows.len(), cases(&operators()).len());
    for (r, c) in runtime.rows.iter().zip(&constant.rows) {
        assert_eq!(r.case, c.case);
        assert_eq!(
            r.verdict,
            Verdict::Agree,
            "{} {:?}: {:?}",
            r.case.op,
            r.case.args,
            r.outcomes
        );
        assert_eq!(
            c.verdict,
            Verdict::Agree,
            "constant {} {:?}: {:?}",
            c.case.op,
            c.case.args,
            c.outcomes
        );
        // Folded or not, the same bits.
        assert_eq!(r.outcomes, c.outcomes, "{} {:?}", r.case.op, r.case.args);
    }
}

#[test]
fn default_profile_classifies_every_difference() {
    let ops = operators();
    for constant in [false, true] {
        let matrix = run_matrix(&AnyEngine::all(&Config::default()), constant).unwrap();
        for row in &matrix.rows {
            let same = row.outcomes.windows(2).all(|w| w[0] == w[1]);
            let op = ops.iter().find(|o| o.name == row.case.op).unwrap();
            let expected_ok = match row.verdict {
                Verdict::Agree => same,
                Verdict::AllowedNan => !same && op.kind == Kind::Arithmetic,
                Verdict::AllowedRelaxed => !same && op.kind == Kind::Relaxed,
                Verdict::Divergence => false,
            };
            assert!(
                expected_ok,
                "{} {:?}: {:?} {:?} (constant: {constant})",
                row.case.op, row.case.args, row.outcomes, row.verdict
            );
        }
    }
}
