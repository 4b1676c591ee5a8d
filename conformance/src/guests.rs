//! Every test guest through the serialized ABI (and the WAT guests through raw calls) on
//! every engine: the same output bytes, the same error variant, the same portable fuel.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Value, WasmError, abi};

/// One call of one guest export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Test guest name (see `wasmhost-test-wasms`).
    pub guest: String,
    /// Export called.
    pub export: String,
    /// The input, as JSON (sent as MessagePack), or raw values for raw exports.
    pub input: Input,
}

/// A call's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// A serialized call's input.
    Json(serde_json::Value),
    /// A raw call's arguments.
    Raw(Vec<Value>),
}

/// What one engine returned: the guest's encoded `Result` or raw values, or the error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The encoded `Result<Out, WasmError>` the guest wrote.
    Bytes(Vec<u8>),
    /// Raw results.
    Values(Vec<Value>),
    /// The call failed.
    Error(WasmError),
}

/// The calls: every Rust guest's exports with ordinary and failing input, and every trap.
pub fn calls() -> Vec<Call> {
    let ser = |guest: &str, export: &str, input: serde_json::Value| Call {
        guest: guest.into(),
        export: export.into(),
        input: Input::Json(input),
    };
    let raw = |guest: &str, export: &str, args: Vec<Value>| Call {
        guest: guest.into(),
        export: export.into(),
        input: Input::Raw(args),
    };
    let mut calls = vec![
        ser("echo", "echo_string", json!("héllo 🦀")),
        ser("echo", "echo_bytes", json!([0, 1, 2, 255])),
        ser(
            "echo",
            "echo_nested",
            json!({"name": "n", "values": [-1, 0, 1], "ratio": 0.5, "child": null,
                   "tags": {"a": 1}, "shape": {"Rect": {"w": 1, "h": 2}}, "blob": [9]}),
        ),
        ser("echo", "echo_nested", json!("not a struct")),
        ser(
            "validate",
            "validate",
            json!({"author": "a", "content": "hi", "timestamp": 1}),
        ),
        ser(
            "validate",
            "validate",
            json!({"author": "", "content": "hi", "timestamp": 1}),
        ),
        ser("payload", "make", json!([100_000, 7])),
        ser("payload", "digest", json!([1, 2, 3])),
        ser("panics", "panic_with", json!("boom")),
        ser("panics", "index_out_of_range", json!(10)),
        ser("panics", "answer", json!(null)),
        ser("alloc-churn", "churn", json!(500)),
        ser("host-calls", "sum3", json!([1, 2, 3])),
        ser("host-calls", "shout", json!("stressed")),
        ser("host-calls", "fail_via_host", json!("no")),
        ser("host-calls", "catch_host_error", json!("no")),
        ser("greeter", "greet", json!("ada")),
        raw("numeric", "fib", vec![Value::I64(90)]),
        raw("numeric", "f32_div", vec![Value::F32(0), Value::F32(0)]),
        raw(
            "numeric",
            "f64_sqrt",
            vec![Value::F64(0xfff8_0000_0000_0001)],
        ),
    ];
    for trap in [
        "unreachable",
        "out_of_bounds_load",
        "divide_by_zero",
        "integer_overflow",
        "invalid_conversion",
        "stack_overflow",
        "indirect_call_signature_mismatch",
        "indirect_call_to_null",
        "table_out_of_bounds",
    ] {
        calls.push(raw("traps", trap, vec![]));
    }
    calls
}

/// Runs one call on a fresh instance.
pub fn run(engine: &AnyEngine, call: &Call) -> Outcome {
    run_with_fuel(engine, call).0
}

/// Runs one call on a fresh instance of an engine with metering on, and returns the fuel it
/// consumed (`None` when metering is off, or the guest did not instantiate).
pub fn fuel(engine: &AnyEngine, call: &Call) -> Option<u64> {
    run_with_fuel(engine, call).1
}

fn run_with_fuel(engine: &AnyEngine, call: &Call) -> (Outcome, Option<u64>) {
    let wasm = wasmhost_test_wasms::guest(&call.guest);
    let instance = engine
        .compile(wasm)
        .and_then(|module| module.instantiate(&wasmhost_test_wasms::host::host_functions(), 0u64));
    let mut instance = match instance {
        Ok(instance) => instance,
        Err(e) => return (Outcome::Error(e), None),
    };
    let outcome = match &call.input {
        Input::Json(json) => abi::encode(json)
            .and_then(|input| instance.call_bytes(&call.export, &input))
            .map(Outcome::Bytes),
        Input::Raw(args) => instance.call_raw(&call.export, args).map(Outcome::Values),
    };
    (
        outcome.unwrap_or_else(Outcome::Error),
        instance.fuel_consumed(),
    )
}
