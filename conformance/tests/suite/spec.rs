//! The spec-test runner: it reports a wrong assertion as a failure and a feature we turn off
//! as a skip; and the Wasm 2.0 set runs on every engine with only known failures.

use wasmhost::AnyEngine;
use wasmhost_conformance::spec::{KNOWN_FAILURES, SpecFile, run_file, spec_files};

const HAND_WRITTEN: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "nan") (result f32) f32.const 0 f32.const 0 f32.div)
  (func (export "is_null") (param externref) (result i32) local.get 0 ref.is_null))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 1) (i32.const 1)) "integer divide by zero")
(assert_return (invoke "nan") (f32.const nan:arithmetic))
(assert_invalid (module (func (result i32) f32.const 0)) "type mismatch")
(assert_return (invoke "is_null" (ref.null extern)) (i32.const 1))
(assert_return (invoke "is_null" (ref.extern 7)) (i32.const 0))
(assert_return (invoke "is_null" (ref.null any)) (i32.const 1))
(assert_return (invoke "add" (i32.const 0) (i32.const 0)) (i32.const 0))
"#;

fn file(text: &str, skip: Option<&str>) -> SpecFile {
    SpecFile {
        set: "hand-written".into(),
        name: "runner.wast".into(),
        text: text.into(),
        skip: skip.map(Into::into),
    }
}

fn runner_reports_failures_and_skips(engine: &AnyEngine) {
    let result = run_file(engine, &file(HAND_WRITTEN, None));
    // module, add = 3, div traps, nan, invalid module, both externref calls.
    assert_eq!(result.passed, 7, "{result:?}");
    // add = 4 is wrong; div 1/1 does not trap.
    let lines: Vec<_> = result.failures.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [8, 10], "{result:?}");
    // The anyref call (a GC type) is skipped with its reason, and so is what follows it.
    assert_eq!(result.skipped_total(), 2, "{result:?}");
    assert!(
        result.skipped.keys().any(|r| r.contains("reference")),
        "{result:?}"
    );
    // The NaN the script accepts as "arithmetic" is recorded with its exact bits.
    assert_eq!(result.nan_bits.len(), 1);
    assert_eq!(result.nan_bits[0].export, "nan");

    let skipped = run_file(engine, &file(HAND_WRITTEN, Some("SIMD is off")));
    assert_eq!(
        (skipped.passed, skipped.failed, skipped.skipped_total()),
        (0, 0, 11)
    );
    assert_eq!(skipped.skipped.keys().collect::<Vec<_>>(), ["SIMD is off"]);
}

fn wasm_2_0_set_has_only_known_failures(engine: &AnyEngine) {
    use wasmhost::prelude::*;
    for deterministic in [false, true] {
        let config = wasmhost::Config::default().deterministic(deterministic);
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        only_known_failures(&engine);
    }
}

/// Every rewriting pass keeps the spec set passing: portable metering with a budget that
/// never runs out, the call-depth limit, and both together.
fn wasm_2_0_set_passes_through_the_instrumentation(engine: &AnyEngine) {
    use wasmhost::prelude::*;
    use wasmhost::{Config, Metering};
    let metered = Config::default()
        .metering(Metering::Portable)
        .initial_fuel(u64::MAX >> 2);
    for config in [
        metered.clone(),
        Config::default().max_call_depth(wasmhost::DEFAULT_MAX_CALL_DEPTH),
        metered.deterministic(true),
    ] {
        only_known_failures(&AnyEngine::from_name(engine.name(), config).unwrap());
    }
}

fn only_known_failures(engine: &AnyEngine) {
    use wasmhost::prelude::*;
    let mut failures = Vec::new();
    let mut passed = 0;
    for file in spec_files() {
        let result = run_file(engine, &file);
        passed += result.passed;
        for (line, message) in result.failures {
            let known = KNOWN_FAILURES
                .iter()
                .any(|k| k.engine == engine.name() && k.file == result.file && k.line == line);
            if !known {
                failures.push(format!("{}:{line}: {message}", result.file));
            }
        }
    }
    let config = engine.config();
    assert!(failures.is_empty(), "{config:?}:\n{}", failures.join("\n"));
    assert!(passed > 20_000, "only {passed} directives passed");
}

wasmhost::on_every_engine!(
    runner_reports_failures_and_skips,
    wasm_2_0_set_has_only_known_failures,
    wasm_2_0_set_passes_through_the_instrumentation,
);
