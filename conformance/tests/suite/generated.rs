//! Generated modules (wasm-smith) on every engine in both profiles: a bounded, fixed-seed
//! run (`wasmhost conformance --generated N --seed S` runs long ones).

use wasmhost_conformance::generated::{self, Class, Options};

#[test]
fn generated_modules_agree_on_every_engine_in_the_deterministic_profile() {
    let report = generated::run(&Options::new(50, 2), |_| {});
    let summary = report.summary();
    assert!(report.modules >= 45, "{summary}");
    assert_eq!(report.profiles.len(), 2);
    let deterministic = report.profile(true).unwrap();
    assert_eq!(deterministic.diverged(), 0, "{summary}");
    assert_eq!(deterministic.agreed, report.modules, "{summary}");
    let default = report.profile(false).unwrap();
    assert_eq!(default.unexplained(), 0, "{summary}");
    assert!(
        default
            .divergences
            .iter()
            .all(|d| d.class != Class::Unexplained),
        "{summary}"
    );
    // The modules did run: calls returned, and calls trapped or ran out of fuel.
    for profile in &report.profiles {
        assert!(profile.calls > 100, "{summary}");
        assert!(
            profile.outcomes.get("ok").is_some_and(|&n| n > 0),
            "{summary}"
        );
        assert!(profile.outcomes.keys().any(|k| k != "ok"), "{summary}");
    }
}
