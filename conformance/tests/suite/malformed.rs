//! A bounded, fixed-seed run of malformed modules on every engine (the long run:
//! `wasmhost malformed --count 1000000`): nothing panics, every rejection is a typed compile
//! error, and the engines agree on what is a module.

use wasmhost_conformance::malformed::{self, Verdict};

#[test]
fn malformed_modules_are_typed_compile_errors_on_every_engine_and_the_engines_agree() {
    let report = malformed::run(20261201, 3_000, |_| {});
    assert_eq!(report.inputs, 3_000);
    assert_eq!(
        report.all_accepted + report.all_rejected + report.findings.len() as u64,
        2 * 3_000,
        "every input, in both profiles, is counted once"
    );
    assert!(
        report.all_rejected > 1_000,
        "most inputs are malformed: {}",
        report.summary()
    );
    assert!(
        report.all_accepted > 10,
        "some mutants stay valid: {}",
        report.summary()
    );
    for finding in &report.findings {
        assert!(
            finding
                .verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Accepted | Verdict::Rejected)),
            "input {} ({}, {}) was mishandled: {:?}",
            finding.index,
            finding.profile,
            finding.made_by,
            finding.verdicts
        );
    }
    assert_eq!(report.disagreements(), 0, "{:#?}", report.findings);
}

#[test]
fn the_same_seed_gives_the_same_inputs() {
    let bases = [("tiny", &b"\0asm\x01\0\0\0"[..])];
    for index in 0..100 {
        assert_eq!(
            malformed::input(&bases, 7, index),
            malformed::input(&bases, 7, index)
        );
    }
    assert_ne!(
        malformed::input(&bases, 7, 1),
        malformed::input(&bases, 8, 1)
    );
}
