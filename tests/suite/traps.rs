//! Every trap maps to its own error variant, the same on every engine, and the next call on
//! a fresh instance succeeds.

use crate::common;

use common::instance;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Trap, Value, WasmError};

fn every_trap_maps_to_its_own_variant(engine: &AnyEngine) {
    let cases = [
        ("unreachable", Trap::Unreachable),
        ("out_of_bounds_load", Trap::MemoryOutOfBounds),
        ("divide_by_zero", Trap::IntegerDivideByZero),
        ("integer_overflow", Trap::IntegerOverflow),
        ("invalid_conversion", Trap::InvalidConversion),
        ("stack_overflow", Trap::StackOverflow),
        (
            "indirect_call_signature_mismatch",
            Trap::IndirectCallSignature,
        ),
        ("indirect_call_to_null", Trap::IndirectCallToNull),
        ("table_out_of_bounds", Trap::TableOutOfBounds),
    ];
    for (export, trap) in cases {
        let mut guest = instance(engine, "traps");
        assert_eq!(
            guest.call_raw(export, &[]),
            Err(WasmError::Trap(trap)),
            "{export}"
        );
        // The trapped instance still answers, and so does a fresh one.
        assert_eq!(
            guest.call_raw("ok", &[]),
            Ok(vec![Value::I32(1)]),
            "{export}"
        );
        let mut fresh = instance(engine, "traps");
        assert_eq!(
            fresh.call_raw("ok", &[]),
            Ok(vec![Value::I32(1)]),
            "{export}"
        );
    }
}

fn long_bulk_memory_loops_do_not_exhaust_the_host_stack(engine: &AnyEngine) {
    let mut guest = instance(engine, "traps");
    assert_eq!(
        guest.call_raw("fill_loop", &[Value::I32(1_000_000)]),
        Ok(vec![])
    );
}

fn long_memory_and_table_grow_loops_do_not_exhaust_the_host_stack(engine: &AnyEngine) {
    let mut guest = instance(engine, "traps");
    for export in ["grow_loop", "table_grow_loop"] {
        assert_eq!(
            guest.call_raw(export, &[Value::I32(1_000_000)]),
            Ok(vec![]),
            "{export}"
        );
    }
}

fn raw_calls_keep_exact_float_bits(engine: &AnyEngine) {
    let mut guest = instance(engine, "numeric");
    assert_eq!(
        guest.call_raw("add", &[Value::I32(i32::MAX), Value::I32(1)]),
        Ok(vec![Value::I32(i32::MIN)])
    );
    assert_eq!(
        guest.call_raw("fib", &[Value::I64(90)]),
        Ok(vec![Value::I64(2_880_067_194_370_816_120)])
    );
    // sqrt of a NaN with a payload: the result is some NaN; which one is the engine's (and
    // the conformance suite's) business. Non-NaN bits must be exact.
    assert_eq!(
        guest.call_raw("f64_sqrt", &[Value::F64(2.25f64.to_bits())]),
        Ok(vec![Value::F64(1.5f64.to_bits())])
    );
    assert_eq!(
        guest.call_raw(
            "f32_div",
            &[
                Value::F32(1.0f32.to_bits()),
                Value::F32((-0.0f32).to_bits())
            ]
        ),
        Ok(vec![Value::F32(f32::NEG_INFINITY.to_bits())])
    );
    assert_eq!(
        guest.call_raw("multi", &[Value::I64(0x1_0000_0002)]),
        Ok(vec![Value::I64(0x1_0000_0002), Value::I32(2)])
    );
}

wasmhost::on_every_engine!(
    every_trap_maps_to_its_own_variant,
    long_bulk_memory_loops_do_not_exhaust_the_host_stack,
    long_memory_and_table_grow_loops_do_not_exhaust_the_host_stack,
    raw_calls_keep_exact_float_bits,
);
