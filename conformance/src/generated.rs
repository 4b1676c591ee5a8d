//! Differential runs of generated modules: programs nobody wrote by hand, where engines'
//! disagreements hide.
//!
//! `wasm-smith` makes valid modules within the feature set every engine shares (Wasm 2.0
//! with SIMD and relaxed SIMD, no imports). Each module runs on every engine in the default and the
//! deterministic profile: instantiated (its start function run), then every exported
//! function called with the same generated arguments, each call with the same budget of
//! portable fuel so that every program ends. What each engine did is recorded as a trace
//! (each call's results or error kind and the fuel it burnt, then every exported global and
//! a digest of memory) and the traces are compared. The first difference of a module is
//! classified:
//!
//! - [`Class::NanBits`]: NaNs of different bits, which the spec allows;
//! - [`Class::StackDepth`]: a call stack exhausted at an engine's own depth (the default
//!   profile has no call-depth limit);
//! - [`Class::RelaxedChoice`]: a module with relaxed SIMD whose engines differ in the
//!   default profile only (each may choose among the spec's results);
//! - [`Class::NanState`]: anything else that vanishes in the deterministic profile, where
//!   NaNs are canonical: NaN bits that reached memory, a global or a branch;
//! - [`Class::Unexplained`]: everything else, and every difference in the deterministic
//!   profile: a bug of ours or of an engine.
//!
//! A module that diverges is saved as `.wasm` and `.wat`, with the call that shows it.
//! Module `i` of seed `s` is the same on every machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, Config, HostFunctions, MemoryReservation, Metering, ValType, Value, WasmError,
};

use crate::malformed::SplitMix;

/// What to generate and how to run it.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many modules.
    pub count: u64,
    /// The seed they come from.
    pub seed: u64,
    /// Portable fuel per call (and for the start function).
    pub fuel: u64,
    /// Where divergent modules are saved; `None` keeps none.
    pub reproducers: Option<PathBuf>,
    /// How many shrinking steps (wasm-shrink) a saved module with an unexplained divergence
    /// gets to become a smaller one that diverges alike, saved beside it; 0 saves the module
    /// as generated only.
    pub shrink_attempts: u32,
    /// How the compiling engines lay out each module's memory.
    pub memory_reservation: MemoryReservation,
}

impl Options {
    /// `count` modules of `seed`, 100 000 units of fuel per call, reproducers kept nowhere
    /// (and 200 shrinking attempts each once they are kept).
    pub fn new(count: u64, seed: u64) -> Self {
        Options {
            count,
            seed,
            fuel: 100_000,
            reproducers: None,
            shrink_attempts: 200,
            memory_reservation: MemoryReservation::Guarded,
        }
    }
}

/// Why two engines' traces of one module differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Class {
    /// NaN results of different bits: allowed by the spec.
    NanBits,
    /// A call stack exhausted at an engine's own depth: allowed without a call-depth limit.
    StackDepth,
    /// Relaxed SIMD's choices: the module has relaxed operations, and its engines agree in
    /// the deterministic profile.
    RelaxedChoice,
    /// Gone in the deterministic profile: NaN bits that reached state or control flow.
    NanState,
    /// Not explained: a bug of ours or of an engine.
    Unexplained,
}

impl Class {
    /// Whether the spec allows engines to differ so (in the default profile).
    pub fn allowed(self) -> bool {
        self != Class::Unexplained
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::NanBits => "NaN bits (allowed)",
            Class::StackDepth => "stack depth (allowed without a depth limit)",
            Class::RelaxedChoice => "relaxed SIMD choice (allowed)",
            Class::NanState => "NaN bits in state (gone when NaNs are canonical)",
            Class::Unexplained => "unexplained",
        }
    }
}

/// One module whose engines disagreed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Divergence {
    /// The module's number in its seed's sequence.
    pub module: u64,
    /// Why.
    pub class: Class,
    /// The first step that differs: `call f(…)`, `global g`, `memory`, ….
    pub step: String,
    /// What each engine saw there, in [`GeneratedReport::engines`] order.
    pub seen: Vec<String>,
    /// The saved module (`.wasm`; a `.wat` beside it), when reproducers are kept.
    pub reproducer: Option<String>,
    /// A smaller module that diverges alike (`.min.wasm`, `.min.wat`), when shrinking found
    /// one.
    #[serde(default)]
    pub minimized: Option<String>,
}

impl Divergence {
    /// Where the module was saved, and its minimized form, as ` (saved as …)`; empty when
    /// it was not.
    pub fn saved_as(&self) -> String {
        match (&self.reproducer, &self.minimized) {
            (Some(r), Some(m)) => format!(" (saved as {r}, minimized as {m})"),
            (Some(r), None) => format!(" (saved as {r})"),
            _ => String::new(),
        }
    }
}

/// The generated modules in one profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GeneratedProfile {
    /// Whether NaN canonicalization (and the call-depth limit) was on.
    pub deterministic: bool,
    /// Modules on which every engine's trace was the same.
    pub agreed: u64,
    /// Exported functions called, per engine.
    pub calls: u64,
    /// How the first engine's calls ended, by kind (`ok`, `trap: …`, `out of fuel`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Divergent modules by class.
    pub classes: BTreeMap<Class, u64>,
    /// The divergent modules (the first 100).
    pub divergences: Vec<Divergence>,
    /// Per module run, its index and a digest of each engine's trace (in the report's
    /// engine order): what a merge compares across machines.
    #[serde(default)]
    pub digests: Vec<(u64, Vec<String>)>,
}

impl GeneratedProfile {
    /// Divergent modules.
    pub fn diverged(&self) -> u64 {
        self.classes.values().sum()
    }

    /// Divergent modules the spec does not allow (in the deterministic profile: all).
    pub fn unexplained(&self) -> u64 {
        if self.deterministic {
            self.diverged()
        } else {
            self.classes.get(&Class::Unexplained).copied().unwrap_or(0)
        }
    }
}

/// A differential run of generated modules.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GeneratedReport {
    /// The seed the modules came from.
    pub seed: u64,
    /// Modules generated and run.
    pub modules: u64,
    /// Portable fuel per call.
    pub fuel: u64,
    /// Engines, in the order of each divergence's `seen`.
    pub engines: Vec<String>,
    /// Default, then deterministic.
    pub profiles: Vec<GeneratedProfile>,
}

impl GeneratedReport {
    /// The profile of this kind, if it ran.
    pub fn profile(&self, deterministic: bool) -> Option<&GeneratedProfile> {
        self.profiles
            .iter()
            .find(|p| p.deterministic == deterministic)
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "Generated modules: {} of seed {} on {}, {} fuel per call\n",
            self.modules,
            self.seed,
            self.engines.join(", "),
            self.fuel
        );
        for p in &self.profiles {
            let classes: Vec<String> = p
                .classes
                .iter()
                .map(|(c, n)| format!("{n} {}", c.name()))
                .collect();
            out += &format!(
                "  {:<13} {} calls per engine; {} modules agree, {} diverge{}{}\n",
                if p.deterministic {
                    "deterministic"
                } else {
                    "default"
                },
                p.calls,
                p.agreed,
                p.diverged(),
                if classes.is_empty() { "" } else { ": " },
                classes.join(", ")
            );
            for d in p
                .divergences
                .iter()
                .filter(|d| p.deterministic || !d.class.allowed())
                .take(10)
            {
                out += &format!(
                    "    module {} ({}): {}: {}{}\n",
                    d.module,
                    d.class.name(),
                    d.step,
                    d.seen.join(" | "),
                    d.saved_as()
                );
            }
        }
        out
    }
}

/// The wasm-smith configuration: the feature set every engine shares, no imports (the host
/// has nothing to offer a generated module), small memories and tables, everything exported.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_imports: 0,
        max_tags: 0,
        min_types: 2,
        min_funcs: 5,
        max_funcs: 20,
        max_memories: 1,
        max_tables: 2,
        max_memory32_bytes: 16 * 65_536,
        max_table_elements: 1_000,
        export_everything: true,
        simd_enabled: true,
        relaxed_simd_enabled: true,
        threads_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        compact_imports_enabled: false,
        custom_descriptors_enabled: false,
        custom_page_sizes_enabled: false,
        ..wasm_smith::Config::default()
    }
}

/// Module `index` of `seed`: wasm-smith's output for seed-derived bytes, with its memory
/// exported as `memory` so that the contract can read it. `None` when wasm-smith could not
/// make one from those bytes.
pub fn module(seed: u64, index: u64) -> Option<Vec<u8>> {
    let mut rng = SplitMix::new(seed, index);
    let len = 64 + rng.below(16 * 1024) as usize;
    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    module_from_bytes(&bytes)
}

/// The module wasm-smith makes of `bytes` (a fuzzer's input, say), its memory exported as
/// `memory`; `None` when it could not make one.
pub fn module_from_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut u = arbitrary::Unstructured::new(bytes);
    let module = wasm_smith::Module::new(smith_config(), &mut u).ok()?;
    export_memory_as_abi(&module.to_bytes()).ok()
}

/// The engines of both profiles, default then deterministic, with `fuel` per call.
pub fn engines(fuel: u64) -> [Vec<AnyEngine>; 2] {
    engines_with(fuel, MemoryReservation::Guarded)
}

/// As [`engines`], memories laid out as `reservation` says.
fn engines_with(fuel: u64, reservation: MemoryReservation) -> [Vec<AnyEngine>; 2] {
    [false, true].map(|d| AnyEngine::all(&config(d, fuel).memory_reservation(reservation)))
}

/// Runs `wasm` on `engines` (from [`engines`]) and returns the differences the spec does
/// not allow: any in the deterministic profile, unexplained ones in the default. For a
/// fuzzer, which wants a panic on each; `arguments` seeds the call arguments.
pub fn disallowed_differences(
    engines: &[Vec<AnyEngine>; 2],
    wasm: &[u8],
    arguments: u64,
    fuel: u64,
) -> Vec<String> {
    let run = run_wasm(engines, wasm.to_vec(), arguments, 0, fuel);
    run.profiles
        .iter()
        .zip(["default", "deterministic"])
        .filter_map(|(p, name)| {
            let (at, class, traces) = p.difference.as_ref()?;
            (name == "deterministic" || !class.allowed()).then(|| {
                let seen: Vec<String> = traces
                    .iter()
                    .map(|t| {
                        t.get(*at)
                            .map_or("(trace ended)".into(), |(step, s)| format!("{step}: {s}"))
                    })
                    .collect();
                format!("{name} profile: {}", seen.join(" | "))
            })
        })
        .collect()
}

/// Renames the first memory export to the ABI's `memory` (and a function or global that
/// already bore that name out of its way).
fn export_memory_as_abi(wasm: &[u8]) -> Result<Vec<u8>, wasmparser::BinaryReaderError> {
    use wasm_encoder::{ExportKind, ExportSection, RawSection};
    use wasmparser::{ExternalKind, Payload};
    let mut out = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Payload::ExportSection(reader) = &payload {
            let mut section = ExportSection::new();
            let mut memory_named = false;
            for export in reader.clone() {
                let export = export?;
                let kind = match export.kind {
                    ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
                    ExternalKind::Table => ExportKind::Table,
                    ExternalKind::Memory => ExportKind::Memory,
                    ExternalKind::Global => ExportKind::Global,
                    ExternalKind::Tag => ExportKind::Tag,
                };
                let name = match export.kind {
                    ExternalKind::Memory if !memory_named => {
                        memory_named = true;
                        wasmhost::abi::MEMORY.to_string()
                    }
                    _ if export.name == wasmhost::abi::MEMORY => format!("{}~", export.name),
                    _ => export.name.to_string(),
                };
                section.export(&name, kind, export.index);
            }
            out.section(&section);
        } else if let Some((id, range)) = payload.as_section() {
            out.section(&RawSection {
                id,
                data: &wasm[range.start as usize..range.end as usize],
            });
        }
    }
    Ok(out.finish())
}

/// What a module exports that a trace reads: its function exports with signatures the contract carries,
/// as `(name, parameter types)`, and its exported globals, by name. Read from the bytes, so
/// that no engine compiles the module just to list them.
struct Exports {
    functions: Vec<(String, Vec<ValType>)>,
    globals: Vec<String>,
}

impl Exports {
    fn of(wasm: &[u8]) -> Self {
        use wasmparser::{ExternalKind, Payload, TypeRef};
        let contract_type = |t: &wasmparser::ValType| match t {
            wasmparser::ValType::I32 => Some(ValType::I32),
            wasmparser::ValType::I64 => Some(ValType::I64),
            wasmparser::ValType::F32 => Some(ValType::F32),
            wasmparser::ValType::F64 => Some(ValType::F64),
            t if *t == wasmparser::ValType::FUNCREF => Some(ValType::FuncRef),
            t if *t == wasmparser::ValType::EXTERNREF => Some(ValType::ExternRef),
            _ => None,
        };
        // Per type: its parameters, when the contract carries the whole signature.
        let mut types: Vec<Option<Vec<ValType>>> = Vec::new();
        // Per function (imported, then defined): its type.
        let mut functions: Vec<u32> = Vec::new();
        let mut exports = Exports {
            functions: Vec::new(),
            globals: Vec::new(),
        };
        for payload in wasmparser::Parser::new(0).parse_all(wasm).flatten() {
            match payload {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types().flatten() {
                        let all_carried = ty.results().iter().all(|t| contract_type(t).is_some());
                        let params: Option<Vec<ValType>> =
                            ty.params().iter().map(contract_type).collect();
                        types.push(params.filter(|_| all_carried));
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports().flatten() {
                        if let TypeRef::Func(ty) | TypeRef::FuncExact(ty) = import.ty {
                            functions.push(ty);
                        }
                    }
                }
                Payload::FunctionSection(reader) => functions.extend(reader.into_iter().flatten()),
                Payload::ExportSection(reader) => {
                    for export in reader.into_iter().flatten() {
                        match export.kind {
                            ExternalKind::Global => exports.globals.push(export.name.to_string()),
                            ExternalKind::Func | ExternalKind::FuncExact => {
                                let ty = functions.get(export.index as usize);
                                let params = ty.and_then(|&t| types.get(t as usize)?.clone());
                                if let Some(params) = params {
                                    exports.functions.push((export.name.to_string(), params));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        exports
    }
}

/// One observation of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// A call's (or the compile's or the instantiation's) outcome, and the fuel it burnt.
    Outcome(Result<Vec<Value>, String>, Option<u64>),
    /// A global's value, or why it could not be read.
    Global(Result<Value, String>),
    /// Memory size and a digest of its bytes, or why there is none.
    Memory(Result<(u64, [u8; 32]), String>),
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = |v: &[Value]| {
            v.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Seen::Outcome(Ok(v), fuel) => write!(f, "[{}] fuel {fuel:?}", values(v)),
            Seen::Outcome(Err(e), fuel) => write!(f, "{e} fuel {fuel:?}"),
            Seen::Global(Ok(v)) => write!(f, "{v:?}"),
            Seen::Memory(Ok((size, digest))) => {
                write!(
                    f,
                    "{size} bytes, digest {:02x}{:02x}{:02x}{:02x}…",
                    digest[0], digest[1], digest[2], digest[3]
                )
            }
            Seen::Global(Err(e)) | Seen::Memory(Err(e)) => write!(f, "{e}"),
        }
    }
}

/// What one engine did with one module: `(step, seen)` in order.
type Trace = Vec<(String, Seen)>;

/// An error as an engine-independent kind: the engines' own texts differ for the same
/// failure, and what must agree is the kind.
fn kind(e: &WasmError) -> String {
    match e {
        WasmError::Compile(_) => "compile error".into(),
        WasmError::Trap(trap) => format!("trap: {trap}"),
        WasmError::OutOfFuel => "out of fuel".into(),
        WasmError::MemoryLimit => "memory limit".into(),
        WasmError::TableLimit => "table limit".into(),
        other => other.to_string(),
    }
}

/// Arguments for `params`, from `rng`: edge values more often than chance would give them.
fn arguments(params: &[ValType], rng: &mut SplitMix) -> Vec<Value> {
    const I32: [i32; 6] = [0, 1, -1, i32::MIN, i32::MAX, 0x8000];
    const I64: [i64; 6] = [0, 1, -1, i64::MIN, i64::MAX, 1 << 32];
    // Zeros, one, infinity, canonical and payload NaNs of both signs, the smallest subnormal.
    const F32: [u32; 8] = [
        0,
        0x8000_0000,
        0x3f80_0000,
        0x7f80_0000,
        0x7fc0_0000,
        0xffc0_0000,
        0x7fa0_0001,
        1,
    ];
    const F64: [u64; 8] = [
        0,
        0x8000_0000_0000_0000,
        0x3ff0_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff4_0000_0000_0001,
        1,
    ];
    params
        .iter()
        .map(|ty| {
            let edge = rng.below(2) == 0;
            let pick = rng.next();
            match ty {
                ValType::I32 if edge => Value::I32(I32[pick as usize % I32.len()]),
                ValType::I32 => Value::I32(pick as i32),
                ValType::I64 if edge => Value::I64(I64[pick as usize % I64.len()]),
                ValType::I64 => Value::I64(pick as i64),
                ValType::F32 if edge => Value::F32(F32[pick as usize % F32.len()]),
                ValType::F32 => Value::F32(pick as u32),
                ValType::F64 if edge => Value::F64(F64[pick as usize % F64.len()]),
                ValType::F64 => Value::F64(pick),
                ValType::V128 => Value::V128(u128::from(pick) << 64 | u128::from(rng.next())),
                // A function reference can only cross into a guest as null.
                ValType::FuncRef => Value::FuncRef(None),
                ValType::ExternRef if edge => Value::ExternRef(None),
                ValType::ExternRef => Value::ExternRef(Some(pick as u32)),
            }
        })
        .collect()
}

/// The configuration of each profile: portable fuel so that every program ends at the
/// same point on every engine, and limits that keep a generated memory bomb small.
fn config(deterministic: bool, fuel: u64) -> Config {
    Config::default()
        .deterministic(deterministic)
        .metering(Metering::Portable)
        .initial_fuel(fuel)
        .max_memory_bytes(8 << 20)
        .max_table_elements(10_000)
}

/// Runs `wasm` on `engine`: instantiates, calls every export in order, then reads every
/// exported global and memory.
fn trace(
    engine: &AnyEngine,
    wasm: &[u8],
    calls: &[(String, Vec<Value>)],
    globals: &[String],
    fuel: u64,
) -> Trace {
    let mut trace = Trace::new();
    let module = match engine.compile(wasm) {
        Ok(m) => m,
        Err(e) => {
            trace.push(("compile".into(), Seen::Outcome(Err(kind(&e)), None)));
            return trace;
        }
    };
    let host = HostFunctions::<()>::new();
    let instantiate = |trace: &mut Trace| match module.instantiate(&host, ()) {
        Ok(mut instance) => {
            let used = instance.fuel_consumed();
            trace.push(("instantiate".into(), Seen::Outcome(Ok(vec![]), used)));
            Some(instance)
        }
        Err(e) => {
            trace.push(("instantiate".into(), Seen::Outcome(Err(kind(&e)), None)));
            None
        }
    };
    let Some(mut instance) = instantiate(&mut trace) else {
        return trace;
    };
    for (name, args) in calls {
        let outcome = instance
            .set_fuel(fuel)
            .and_then(|()| instance.call_raw(name, args));
        let spent = matches!(outcome, Err(WasmError::OutOfFuel));
        let step = format!("call {name:?}({})", render_args(args));
        trace.push((
            step,
            Seen::Outcome(outcome.map_err(|e| kind(&e)), instance.fuel_consumed()),
        ));
        if spent {
            // A spent instance is not run again: go on with a fresh one.
            match instantiate(&mut trace) {
                Some(fresh) => instance = fresh,
                None => return trace,
            }
        }
    }
    for name in globals {
        let value = instance.global(name).map_err(|e| kind(&e));
        trace.push((format!("global {name}"), Seen::Global(value)));
    }
    let memory = instance
        .memory_size()
        .and_then(|size| {
            let size32 = u32::try_from(size).unwrap_or(u32::MAX);
            let bytes = instance.memory_slice(0, size32)?;
            Ok((size, *blake3::hash(bytes).as_bytes()))
        })
        .map_err(|e| kind(&e));
    trace.push(("memory".into(), Seen::Memory(memory)));
    trace
}

/// [`trace`], with a panic recorded as the trace's last step rather than ending the run.
fn guarded_trace(
    engine: &AnyEngine,
    wasm: &[u8],
    calls: &[(String, Vec<Value>)],
    globals: &[String],
    fuel: u64,
) -> Trace {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let run = AssertUnwindSafe(|| trace(engine, wasm, calls, globals, fuel));
    catch_unwind(run).unwrap_or_else(|panic| {
        let message = crate::malformed::panic_message(&*panic);
        vec![(
            "run".into(),
            Seen::Outcome(Err(format!("panicked: {message}")), None),
        )]
    })
}

fn render_args(args: &[Value]) -> String {
    args.iter()
        .map(|v| match v {
            Value::I32(x) => x.to_string(),
            Value::I64(x) => x.to_string(),
            Value::F32(b) => format!("{b:#x}"),
            Value::F64(b) => format!("{b:#x}"),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the traces first differ, if they do.
fn first_difference(traces: &[Trace]) -> Option<usize> {
    let longest = traces.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest).find(|&i| {
        let first = traces[0].get(i);
        traces.iter().any(|t| t.get(i) != first)
    })
}

fn is_nan(v: &Value) -> bool {
    match *v {
        Value::F32(b) => f32::from_bits(b).is_nan(),
        Value::F64(b) => f64::from_bits(b).is_nan(),
        _ => false,
    }
}

/// Whether two values differ only in NaN bits: floats that are both NaNs, or vectors
/// whose differing lanes are NaNs in both, read as f32x4 or as f64x2 (a v128 carries no
/// lane type).
fn nan_bits_apart(a: &Value, b: &Value) -> bool {
    match (*a, *b) {
        (Value::V128(x), Value::V128(y)) => {
            let f32x4 = (0..4).all(|k| {
                let (l, r) = ((x >> (32 * k)) as u32, (y >> (32 * k)) as u32);
                l == r || (f32::from_bits(l).is_nan() && f32::from_bits(r).is_nan())
            });
            let f64x2 = (0..2).all(|k| {
                let (l, r) = ((x >> (64 * k)) as u64, (y >> (64 * k)) as u64);
                l == r || (f64::from_bits(l).is_nan() && f64::from_bits(r).is_nan())
            });
            f32x4 || f64x2
        }
        _ => is_nan(a) && is_nan(b) && a.ty() == b.ty(),
    }
}

/// Whether `wasm` has a relaxed SIMD operation.
fn uses_relaxed_simd(wasm: &[u8]) -> bool {
    use wasmparser::{Parser, Payload};
    Parser::new(0).parse_all(wasm).flatten().any(|payload| {
        let Payload::CodeSectionEntry(body) = payload else {
            return false;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            return false;
        };
        std::iter::from_fn(|| (!ops.eof()).then(|| ops.read().ok()).flatten())
            .any(|op| wasmhost_instrument::relaxed::is_relaxed(&op))
    })
}

/// Whether the traces differ at `at` only in NaN bits: the same outcome shape, the same
/// fuel, and every differing value a NaN on every engine.
fn only_nan_bits(traces: &[Trace], at: usize) -> bool {
    let values = |t: &Trace| -> Option<(Vec<Value>, Option<u64>)> {
        match t.get(at).map(|(_, s)| s) {
            Some(Seen::Outcome(Ok(v), fuel)) => Some((v.clone(), *fuel)),
            Some(Seen::Global(Ok(v))) => Some((vec![*v], None)),
            _ => None,
        }
    };
    let Some(seen) = traces.iter().map(values).collect::<Option<Vec<_>>>() else {
        return false;
    };
    let (first, fuel) = &seen[0];
    seen.iter().all(|(values, f)| {
        f == fuel
            && values.len() == first.len()
            && values
                .iter()
                .zip(first)
                .all(|(a, b)| a == b || nan_bits_apart(a, b))
    })
}

fn stack_exhausted(traces: &[Trace], through: usize) -> bool {
    traces.iter().any(|t| {
        t.iter().take(through + 1).any(|(_, s)| {
            matches!(s, Seen::Outcome(Err(e), _) if e == &kind(&wasmhost::Trap::StackOverflow.into()))
        })
    })
}

/// Why `traces` differ at `at`, in the deterministic profile or not, given whether the
/// deterministic profile's traces of the same module agree.
fn classify(
    traces: &[Trace],
    at: usize,
    deterministic: bool,
    deterministic_agrees: bool,
    relaxed: bool,
) -> Class {
    if deterministic {
        Class::Unexplained
    } else if only_nan_bits(traces, at) {
        Class::NanBits
    } else if stack_exhausted(traces, at) {
        Class::StackDepth
    } else if relaxed && deterministic_agrees {
        Class::RelaxedChoice
    } else if deterministic_agrees {
        Class::NanState
    } else {
        Class::Unexplained
    }
}

/// One module's outcome in both profiles.
struct ModuleRun {
    index: u64,
    wasm: Vec<u8>,
    /// Default, then deterministic.
    profiles: [ProfileRun; 2],
}

/// One module in one profile.
struct ProfileRun {
    /// Exports called per engine.
    calls: u64,
    /// How the first engine's calls ended, by kind.
    outcomes: Vec<String>,
    /// Where the engines' traces first differ, why, and the traces.
    difference: Option<(usize, Class, Vec<Trace>)>,
    /// A digest of each engine's trace.
    digests: Vec<String>,
}

fn run_module(engines: &[Vec<AnyEngine>; 2], index: u64, options: &Options) -> Option<ModuleRun> {
    let wasm = module(options.seed, index)?;
    Some(run_wasm(engines, wasm, options.seed, index, options.fuel))
}

/// Runs `wasm` on every engine of both profiles, the call arguments drawn from `seed` and
/// `index`.
fn run_wasm(
    engines: &[Vec<AnyEngine>; 2],
    wasm: Vec<u8>,
    seed: u64,
    index: u64,
    fuel: u64,
) -> ModuleRun {
    // The calls are made once, so that every engine and profile gets the same arguments.
    let exports = Exports::of(&wasm);
    let mut rng = SplitMix::new(seed ^ 0xa5a5, index);
    let calls: Vec<(String, Vec<Value>)> = exports
        .functions
        .into_iter()
        .map(|(name, params)| {
            let args = arguments(&params, &mut rng);
            (name, args)
        })
        .collect();
    let mut traces_by_profile: Vec<Vec<Trace>> = Vec::new();
    for profile in engines {
        traces_by_profile.push(
            profile
                .iter()
                .map(|e| guarded_trace(e, &wasm, &calls, &exports.globals, fuel))
                .collect(),
        );
    }
    let deterministic_agrees = first_difference(&traces_by_profile[1]).is_none();
    let relaxed = uses_relaxed_simd(&wasm);
    let profiles = [0, 1].map(|p| {
        let traces = &traces_by_profile[p];
        let outcomes = traces[0]
            .iter()
            .filter(|(step, _)| step.starts_with("call "))
            .map(|(_, seen)| match seen {
                Seen::Outcome(Ok(_), _) => "ok".to_string(),
                Seen::Outcome(Err(e), _) => e.clone(),
                _ => unreachable!("calls record outcomes"),
            })
            .collect();
        let difference = first_difference(traces).map(|at| {
            let class = classify(traces, at, p == 1, deterministic_agrees, relaxed);
            (at, class, traces.clone())
        });
        ProfileRun {
            calls: calls.len() as u64,
            outcomes,
            difference,
            digests: traces.iter().map(digest).collect(),
        }
    });
    ModuleRun {
        index,
        wasm,
        profiles,
    }
}

/// A short digest of everything `trace` saw, the same on any machine that saw the same.
fn digest(trace: &Trace) -> String {
    let hash = blake3::hash(format!("{trace:?}").as_bytes());
    hash.to_hex()[..16].to_string()
}

/// Generates `options.count` modules and runs each on every engine in both profiles, two
/// modules at a time on machines with two cores or more. `progress` hears how many are
/// done.
pub fn run(options: &Options, progress: impl Fn(u64) + Sync) -> GeneratedReport {
    let engines = engines_with(options.fuel, options.memory_reservation);
    let mut report = GeneratedReport {
        seed: options.seed,
        modules: 0,
        fuel: options.fuel,
        engines: engines[0].iter().map(|e| e.name().to_string()).collect(),
        profiles: [false, true]
            .map(|deterministic| GeneratedProfile {
                deterministic,
                ..GeneratedProfile::default()
            })
            .to_vec(),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let mut runs: Vec<ModuleRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (engines, done, progress) = (&engines, &done, &progress);
                scope.spawn(move || {
                    (w..options.count)
                        .step_by(workers as usize)
                        .filter_map(|i| {
                            let run = run_module(engines, i, options);
                            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            if n % 10 == 0 {
                                progress(n);
                            }
                            run
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a generated module's run panicked"))
            .collect()
    });
    runs.sort_by_key(|r| r.index);
    for run in runs {
        report.modules += 1;
        let mut saved: Option<String> = None;
        for (
            p,
            (
                profile,
                ProfileRun {
                    calls,
                    outcomes,
                    difference,
                    digests,
                },
            ),
        ) in report.profiles.iter_mut().zip(run.profiles).enumerate()
        {
            profile.digests.push((run.index, digests));
            profile.calls += calls;
            for outcome in outcomes {
                *profile.outcomes.entry(outcome).or_default() += 1;
            }
            let Some((at, class, traces)) = difference else {
                profile.agreed += 1;
                continue;
            };
            *profile.classes.entry(class).or_default() += 1;
            if profile.divergences.len() >= 100 {
                continue;
            }
            let name = format!("seed{}-module{}", options.seed, run.index);
            let mut minimized = None;
            if let Some(dir) = &options.reproducers {
                if saved.is_none() {
                    saved = save(dir, &name, &run.wasm);
                }
                // Only what no rule explains is worth the time: a bug of ours or an engine's.
                if class == Class::Unexplained {
                    minimized = shrink(&engines, &run.wasm, run.index, options, p, class).and_then(
                        |small| save(dir, &format!("{name}.{}.min", profile_name(p)), &small),
                    );
                }
            }
            profile.divergences.push(Divergence {
                module: run.index,
                class,
                step: traces
                    .iter()
                    .find_map(|t| t.get(at))
                    .map_or_else(String::new, |(step, _)| step.clone()),
                seen: traces
                    .iter()
                    .map(|t| {
                        t.get(at)
                            .map_or("(trace ended)".into(), |(_, s)| s.to_string())
                    })
                    .collect(),
                reproducer: saved.clone(),
                minimized,
            });
        }
    }
    report
}

fn profile_name(p: usize) -> &'static str {
    if p == 1 { "deterministic" } else { "default" }
}

/// A smaller module than `wasm` (module `index`) that still diverges with `class` in
/// profile `p`, when `options.shrink_attempts` of wasm-shrink's steps find one. Each step runs the candidate
/// on every engine in both profiles (a difference's class depends on both).
fn shrink(
    engines: &[Vec<AnyEngine>; 2],
    wasm: &[u8],
    index: u64,
    options: &Options,
    p: usize,
    class: Class,
) -> Option<Vec<u8>> {
    if options.shrink_attempts == 0 {
        return None;
    }
    let info = wasm_shrink::WasmShrink::default()
        .attempts(options.shrink_attempts)
        .seed(index)
        .run(wasm.to_vec(), |candidate| {
            let again = run_wasm(
                engines,
                candidate.to_vec(),
                options.seed,
                index,
                options.fuel,
            );
            Ok(matches!(&again.profiles[p].difference, Some((_, c, _)) if *c == class))
        })
        .ok()?;
    (info.output_size < info.input_size).then_some(info.output)
}

/// Saves a divergent module as `<name>.wasm` and `<name>.wat`; returns the `.wasm`'s path.
fn save(dir: &Path, name: &str, wasm: &[u8]) -> Option<String> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wasm).ok()?;
    if let Ok(text) = wasmprinter::print_bytes(wasm) {
        let _ = std::fs::write(path.with_extension("wat"), text);
    }
    Some(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(values: Vec<Value>, fuel: u64) -> (String, Seen) {
        ("call \"f\"()".into(), Seen::Outcome(Ok(values), Some(fuel)))
    }

    fn trap(trap: wasmhost::Trap) -> (String, Seen) {
        let e = kind(&trap.into());
        ("call \"f\"()".into(), Seen::Outcome(Err(e), Some(7)))
    }

    #[test]
    fn nan_results_of_other_bits_are_allowed_and_nothing_else_is() {
        let a = vec![
            call(vec![Value::I32(1)], 5),
            call(vec![Value::F32(0x7fc0_0000)], 9),
        ];
        let b = vec![
            call(vec![Value::I32(1)], 5),
            call(vec![Value::F32(0xffc0_0000)], 9),
        ];
        let traces = [a.clone(), b];
        assert_eq!(first_difference(&traces), Some(1));
        assert_eq!(classify(&traces, 1, false, false, false), Class::NanBits);
        assert_eq!(classify(&traces, 1, true, false, false), Class::Unexplained);

        // The same NaNs after different fuel: not just NaN bits.
        let c = vec![
            call(vec![Value::I32(1)], 5),
            call(vec![Value::F32(0xffc0_0000)], 8),
        ];
        let traces = [a.clone(), c];
        assert_eq!(
            classify(&traces, 1, false, false, false),
            Class::Unexplained
        );
        assert_eq!(classify(&traces, 1, false, true, false), Class::NanState);

        // A number against a NaN: not NaN bits.
        let d = vec![call(vec![Value::I32(2)], 5)];
        let traces = [a.clone(), d];
        assert_eq!(first_difference(&traces), Some(0));
        assert_eq!(
            classify(&traces, 0, false, false, false),
            Class::Unexplained
        );

        // Identical traces have no difference; a shorter one does.
        assert_eq!(first_difference(&[a.clone(), a.clone()]), None);
        assert_eq!(first_difference(&[a.clone(), a[..1].to_vec()]), Some(1));
    }

    #[test]
    fn vector_lanes_are_nan_bits_apart_in_either_float_shape_and_relaxed_is_its_own_class() {
        let nan_lane = |bits: u128| call(vec![Value::V128(bits)], 9);
        // f32 lane 1 is a NaN of other bits in each: allowed.
        let traces = [
            vec![nan_lane(0x7fc0_0000_0000_0000_0000_0001)],
            vec![nan_lane(0xffc0_0001_0000_0000_0000_0001)],
        ];
        assert_eq!(classify(&traces, 0, false, false, false), Class::NanBits);
        // A number lane apart: not NaN bits, but a relaxed module's choice when the
        // deterministic profile agrees.
        let traces = [vec![nan_lane(1)], vec![nan_lane(2)]];
        assert_eq!(
            classify(&traces, 0, false, false, false),
            Class::Unexplained
        );
        assert_eq!(
            classify(&traces, 0, false, true, true),
            Class::RelaxedChoice
        );
        assert_eq!(classify(&traces, 0, false, false, true), Class::Unexplained);
        assert!(uses_relaxed_simd(
            &wasmhost::wat2wasm(
                "(module (func (param v128) (result v128) local.get 0 local.get 0 i8x16.relaxed_swizzle))"
            )
            .unwrap()
        ));
        assert!(!uses_relaxed_simd(
            &wasmhost::wat2wasm(
                "(module (func (param v128) (result v128) local.get 0 local.get 0 i8x16.swizzle))"
            )
            .unwrap()
        ));
    }

    #[test]
    fn an_exhausted_stack_before_the_difference_is_an_engine_limit() {
        let a = vec![
            trap(wasmhost::Trap::StackOverflow),
            call(vec![Value::I32(1)], 5),
        ];
        let b = vec![
            trap(wasmhost::Trap::StackOverflow),
            call(vec![Value::I32(2)], 5),
        ];
        let traces = [a, b];
        assert_eq!(classify(&traces, 1, false, false, false), Class::StackDepth);
        assert_eq!(classify(&traces, 1, true, false, false), Class::Unexplained);
    }

    #[test]
    fn modules_come_from_the_seed_with_their_memory_exported_for_the_abi() {
        let mut with_memory = 0;
        for i in 0..20 {
            let Some(wasm) = module(3, i) else { continue };
            assert_eq!(module(3, i).as_deref(), Some(&wasm[..]), "module {i}");
            wasmparser::Validator::new().validate_all(&wasm).unwrap();
            let exports: Vec<(String, wasmparser::ExternalKind)> = wasmparser::Parser::new(0)
                .parse_all(&wasm)
                .flatten()
                .filter_map(|p| match p {
                    wasmparser::Payload::ExportSection(r) => Some(r),
                    _ => None,
                })
                .flat_map(|r| r.into_iter().flatten())
                .map(|e| (e.name.to_string(), e.kind))
                .collect();
            let memory = exports
                .iter()
                .find(|(_, k)| *k == wasmparser::ExternalKind::Memory);
            if let Some((name, _)) = memory {
                assert_eq!(name, wasmhost::abi::MEMORY, "module {i}");
                with_memory += 1;
            }
        }
        assert!(with_memory > 0, "no module of 20 had a memory");
        assert_ne!(module(3, 0), module(4, 0));
    }

    #[test]
    fn a_divergent_module_shrinks_to_a_smaller_one_that_diverges_alike() {
        // Endless recursion with fuel enough to reach every engine's own stack limit: each
        // stops at its own depth, with its own fuel burnt.
        let wasm = wasmhost::wat2wasm(
            br#"(module
              (memory (export "memory") 1)
              (global (export "g") (mut i32) (i32.const 5))
              (func $deep (export "deep") (param i32) (result i32)
                (call $deep (i32.add (local.get 0) (i32.const 1))))
              (func (export "busy") (param i32) (result i32)
                (i32.store (i32.const 16) (local.get 0))
                (i32.mul (local.get 0) (i32.const 3)))
              (func (export "more") (result i64) (i64.const 42)))"#,
        )
        .unwrap();
        let options = Options {
            fuel: 10_000_000,
            ..Options::new(1, 1)
        };
        let engines = engines_with(options.fuel, options.memory_reservation);
        let run = run_wasm(&engines, wasm.clone(), 1, 0, options.fuel);
        let Some((_, class, _)) = &run.profiles[0].difference else {
            panic!("the engines agree on endless recursion");
        };
        assert_eq!(*class, Class::StackDepth);
        let small = shrink(&engines, &wasm, 0, &options, 0, Class::StackDepth)
            .expect("a smaller module diverges alike");
        assert!(
            small.len() < wasm.len(),
            "{} vs {}",
            small.len(),
            wasm.len()
        );
        let again = run_wasm(&engines, small, 1, 0, options.fuel);
        assert!(matches!(
            &again.profiles[0].difference,
            Some((_, Class::StackDepth, _))
        ));
    }

    #[test]
    fn a_divergent_module_is_saved_as_binary_and_text() {
        let dir = std::env::temp_dir().join(format!("wasmhost-saved-{}", std::process::id()));
        let wasm =
            wasmhost::wat2wasm(b"(module (func (export \"f\") (result i32) i32.const 1))").unwrap();
        let path = save(&dir, "seed1-module2", &wasm).expect("saved");
        assert_eq!(std::fs::read(&path).unwrap(), wasm);
        let text = std::fs::read_to_string(Path::new(&path).with_extension("wat")).unwrap();
        assert!(text.contains("i32.const 1"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
