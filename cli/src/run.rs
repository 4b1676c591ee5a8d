//! `wasmhost run`: one export of one module, on one engine or all of them, with timings and
//! a verdict on whether the engines agree.

use std::fmt;
use std::time::{Duration, Instant};

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyModule, Config, FuncSig, HostFunctions, Value, WasmError, abi};

/// How an export is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Raw wasm values in and out.
    Raw(FuncSig),
    /// The serialized ABI: one JSON value in (as MessagePack), a `Result` out.
    Serialized,
}

/// What one engine returned, in a form that compares exactly across engines.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Raw results, floats as bits.
    Values(Vec<Value>),
    /// The guest's serialized `Result`, as JSON (MessagePack `bin` as an array of bytes).
    Json(serde_json::Value),
    /// The call failed.
    Error(WasmError),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Values(v) => {
                let parts: Vec<_> = v.iter().map(Value::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Outcome::Json(j) => write!(f, "{j}"),
            Outcome::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// One engine's run of one export.
#[derive(Clone, Debug)]
pub struct EngineRun {
    /// Engine name.
    pub engine: &'static str,
    /// Time to compile the module.
    pub compile: Duration,
    /// Time to instantiate it.
    pub instantiate: Duration,
    /// Time of the call itself.
    pub call: Duration,
    /// What came back.
    pub outcome: Outcome,
    /// Fuel the call consumed, with metering on.
    pub fuel: Option<u64>,
}

/// Decides how `export` of `module` is called: the ABI shape on a module that exports the
/// allocator is serialized, anything else is raw.
pub fn call_kind(module: &impl Module, export: &str) -> Result<CallKind, WasmError> {
    let exports = module.exports();
    let sig = exports
        .iter()
        .find(|e| e.name == export)
        .ok_or_else(|| WasmError::MissingExport(export.to_string()))?
        .sig
        .clone()
        .ok_or_else(|| WasmError::ExportSignature {
            name: export.to_string(),
            expected: "numeric parameters and results".into(),
            found: "reference or vector types".into(),
        })?;
    let has_allocator = exports.iter().any(|e| e.name == abi::ALLOC);
    Ok(if sig == FuncSig::packed() && has_allocator {
        CallKind::Serialized
    } else {
        CallKind::Raw(sig)
    })
}

/// Runs `export` of `wasm` on `engine` with command-line `args`: raw exports take one
/// argument per parameter (see [`Value::parse`]); serialized exports take their arguments
/// joined by spaces as one JSON value (none means `null`, i.e. `()`).
///
/// # Errors
/// Compilation, instantiation and argument errors; a failing call is an [`Outcome::Error`].
pub fn run_on<E: Engine<Module = AnyModule>>(
    engine: &E,
    wasm: &[u8],
    export: &str,
    args: &[String],
) -> Result<EngineRun, WasmError> {
    let started = Instant::now();
    let module = engine.compile(wasm)?;
    let compile = started.elapsed();
    let kind = call_kind(&module, export)?;
    let input = encode_args(&kind, args)?;
    let started = Instant::now();
    let mut instance = module.instantiate(&HostFunctions::new(), ())?;
    let instantiate = started.elapsed();
    let started = Instant::now();
    let outcome = match &input {
        Input::Raw(values) => match instance.call_raw(export, values) {
            Ok(v) => Outcome::Values(v),
            Err(e) => Outcome::Error(e),
        },
        Input::Serialized(bytes) => match instance.call_bytes(export, bytes) {
            Ok(out) => decode_output(&out).map_or_else(Outcome::Error, Outcome::Json),
            Err(e) => Outcome::Error(e),
        },
    };
    let call = started.elapsed();
    Ok(EngineRun {
        engine: engine.name(),
        compile,
        instantiate,
        call,
        outcome,
        fuel: instance.fuel_consumed(),
    })
}

enum Input {
    Raw(Vec<Value>),
    Serialized(Vec<u8>),
}

fn encode_args(kind: &CallKind, args: &[String]) -> Result<Input, WasmError> {
    match kind {
        CallKind::Raw(sig) => {
            if args.len() != sig.params.len() {
                return Err(WasmError::ExportSignature {
                    name: "(command line)".into(),
                    expected: sig.to_string(),
                    found: format!("{} arguments", args.len()),
                });
            }
            sig.params
                .iter()
                .zip(args)
                .map(|(ty, text)| {
                    Value::parse(*ty, text).ok_or_else(|| {
                        WasmError::Serialize(format!("`{text}` is not a valid {ty}"))
                    })
                })
                .collect::<Result<_, _>>()
                .map(Input::Raw)
        }
        CallKind::Serialized => {
            let text = if args.is_empty() {
                "null".to_string()
            } else {
                args.join(" ")
            };
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| WasmError::Serialize(format!("argument is not JSON: {e}")))?;
            abi::encode(&json).map(Input::Serialized)
        }
    }
}

/// The guest's encoded `Result` as JSON: `{"Ok": …}` or `{"Err": …}`.
fn decode_output(bytes: &[u8]) -> Result<serde_json::Value, WasmError> {
    let value = rmpv::decode::read_value(&mut &bytes[..])
        .map_err(|e| WasmError::Deserialize(e.to_string()))?;
    Ok(to_json(value))
}

fn to_json(v: rmpv::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        rmpv::Value::Nil => J::Null,
        rmpv::Value::Boolean(b) => J::Bool(b),
        rmpv::Value::Integer(i) => i
            .as_i64()
            .map(J::from)
            .or_else(|| i.as_u64().map(J::from))
            .unwrap_or(J::Null),
        rmpv::Value::F32(x) => serde_json::Number::from_f64(x as f64).map_or(J::Null, J::Number),
        rmpv::Value::F64(x) => serde_json::Number::from_f64(x).map_or(J::Null, J::Number),
        rmpv::Value::String(s) => J::String(s.into_str().unwrap_or_default()),
        rmpv::Value::Binary(b) => J::Array(b.into_iter().map(J::from).collect()),
        rmpv::Value::Array(a) => J::Array(a.into_iter().map(to_json).collect()),
        rmpv::Value::Map(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        rmpv::Value::String(s) => s.into_str().unwrap_or_default(),
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        rmpv::Value::Ext(tag, data) => serde_json::json!({ "ext": tag, "data": data }),
    }
}

/// The engines to run, set up with `config`: one by name, or every compiled-in engine for
/// `"all"`.
///
/// # Errors
/// [`WasmError::UnknownEngine`] for a name that is not compiled in.
pub fn engines(selection: &str, config: &Config) -> Result<Vec<AnyEngine>, WasmError> {
    if selection == "all" {
        Ok(AnyEngine::all(config))
    } else {
        Ok(vec![AnyEngine::from_name(selection, config.clone())?])
    }
}

/// Whether every run returned the same outcome (exact bits, same error variant and text).
pub fn agree(runs: &[EngineRun]) -> bool {
    runs.windows(2).all(|w| w[0].outcome == w[1].outcome)
}

/// The module in `file`, binary or text (converted to binary).
///
/// # Errors
/// The file cannot be read, or its text is not valid WAT.
pub fn read_module(file: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| wasmhost::wat2wasm(bytes).map_err(|e| e.to_string()))
}

/// Medians of repeated compiles, instantiations and calls of one export on one engine: a
/// quick comparison from the command line (criterion, in `benches/`, is the careful one).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EngineBench {
    /// Engine name.
    pub engine: &'static str,
    /// Compiles timed, and their median in nanoseconds.
    pub compiles: u32,
    /// Median compile time, ns.
    pub compile_ns: u128,
    /// Instantiations timed.
    pub instantiations: u32,
    /// Median instantiation time, ns.
    pub instantiate_ns: u128,
    /// Calls timed, on one live instance.
    pub calls: u32,
    /// Median call time, ns.
    pub call_ns: u128,
    /// Fastest call, ns.
    pub call_min_ns: u128,
}

/// Times `export` on `engine`: a few compiles, a hundred instantiations (at most), and
/// `calls` calls on one instance.
///
/// # Errors
/// As [`run_on`], and the call's own error: a failing call is not timed.
pub fn bench_on(
    engine: &AnyEngine,
    wasm: &[u8],
    export: &str,
    args: &[String],
    calls: u32,
) -> Result<EngineBench, WasmError> {
    fn median(mut times: Vec<Duration>) -> u128 {
        times.sort();
        times.get(times.len() / 2).map_or(0, Duration::as_nanos)
    }
    let time = |f: &mut dyn FnMut() -> Result<(), WasmError>, n: u32| {
        (0..n)
            .map(|_| {
                let started = Instant::now();
                f().map(|()| started.elapsed())
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let compiles = 5;
    let module = engine.compile(wasm)?;
    let compile = time(&mut || engine.compile(wasm).map(drop), compiles)?;
    let prelinked = module.prelink(&HostFunctions::new())?;
    let instantiations = calls.clamp(1, 100);
    let instantiate = time(&mut || prelinked.instantiate(()).map(drop), instantiations)?;
    let input = encode_args(&call_kind(&module, export)?, args)?;
    let mut instance = prelinked.instantiate(())?;
    let calls = calls.max(1);
    let call = time(
        &mut || match &input {
            Input::Raw(values) => instance.call_raw(export, values).map(drop),
            Input::Serialized(bytes) => instance.call_bytes(export, bytes).map(drop),
        },
        calls,
    )?;
    Ok(EngineBench {
        engine: engine.name(),
        compiles,
        compile_ns: median(compile),
        instantiations,
        instantiate_ns: median(instantiate),
        calls,
        call_min_ns: call.iter().min().map_or(0, Duration::as_nanos),
        call_ns: median(call),
    })
}
