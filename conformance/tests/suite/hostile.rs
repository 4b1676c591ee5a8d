//! Hostile guests through the serialized ABI (`wasmhost_conformance::hostile::CASES`): each
//! case, on every engine, ends in the typed error it names, the host thread goes on, and a
//! fresh instance of the same module works.

use wasmhost::AnyEngine;
use wasmhost_conformance::hostile::{self, CASES};

/// One test per case and engine, named as the case is.
macro_rules! case_tests {
    ($($name:ident),* $(,)?) => {
        $(
            fn $name(engine: &AnyEngine) {
                let case = hostile::case(stringify!($name)).expect("a case of this name");
                let run = hostile::run_case(engine, case);
                assert!(run.passed, "{}: {}", run.engine, run.outcome);
            }
        )*
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        wasmhost::on_every_engine!($($name),*);
    };
}

case_tests!(
    a_lying_or_trapping_allocator_is_a_typed_error_for_inputs,
    a_lying_or_trapping_allocator_is_a_typed_error_for_host_answers,
    an_answer_allocated_over_its_own_input_arrives_intact,
    an_allocator_growing_memory_by_gigabytes_meets_the_memory_limit,
    a_panic_message_outside_memory_leaves_the_trap,
    a_panic_message_that_never_returns_is_bounded_by_fuel,
    a_guest_and_host_calling_each_other_without_end_stop_at_the_nesting_limit,
    a_memory_under_another_name_is_a_missing_export,
);

#[test]
fn every_case_has_a_test_of_its_own() {
    let cases: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(cases, TESTED);
}
