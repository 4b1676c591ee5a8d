//! `wasmhost inspect`: what a module imports and exports, which wasm features it uses, and
//! which engines take it, with how long each took to compile.

use std::time::Instant;

use serde::Serialize;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Everything `inspect` tells about one module.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Size in bytes.
    pub bytes: usize,
    /// Why the module is not valid wasm (with every feature on), if it is not.
    pub invalid: Option<String>,
    /// Imports, in order: `module.name: what`.
    pub imports: Vec<String>,
    /// Exports, in order: `name: what`.
    pub exports: Vec<String>,
    /// The wasm features beyond 1.0 it needs, each by its proposal's name.
    pub features: Vec<&'static str>,
    /// Each engine's verdict.
    pub engines: Vec<EngineVerdict>,
    /// `command` (exports `_start`), `reactor`, or `none` when it imports no WASI.
    pub wasi: String,
    /// The WASI (preview 1) functions it imports.
    pub wasi_imports: Vec<String>,
}

/// Whether one engine compiles the module, and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct EngineVerdict {
    /// The engine.
    pub engine: String,
    /// Compile time in milliseconds, when it compiled.
    pub compile_ms: Option<f64>,
    /// The engine's error, when it did not.
    pub error: Option<String>,
}

/// The features `inspect` looks for, by proposal name: a module needs one when it does not
/// validate with that one feature turned off.
const FEATURES: &[(&str, WasmFeatures)] = &[
    ("mutable-global", WasmFeatures::MUTABLE_GLOBAL),
    ("sign-extension", WasmFeatures::SIGN_EXTENSION),
    (
        "saturating-float-to-int",
        WasmFeatures::SATURATING_FLOAT_TO_INT,
    ),
    ("multi-value", WasmFeatures::MULTI_VALUE),
    ("bulk-memory", WasmFeatures::BULK_MEMORY),
    ("reference-types", WasmFeatures::REFERENCE_TYPES),
    ("simd", WasmFeatures::SIMD),
    ("relaxed-simd", WasmFeatures::RELAXED_SIMD),
    ("threads", WasmFeatures::THREADS),
    ("tail-call", WasmFeatures::TAIL_CALL),
    ("multi-memory", WasmFeatures::MULTI_MEMORY),
    ("memory64", WasmFeatures::MEMORY64),
    ("extended-const", WasmFeatures::EXTENDED_CONST),
    ("exceptions", WasmFeatures::EXCEPTIONS),
    ("function-references", WasmFeatures::FUNCTION_REFERENCES),
    ("gc", WasmFeatures::GC),
];

/// Inspects `wasm` (binary format), compiling it on every engine with `config`.
pub fn inspect(wasm: &[u8], config: &Config) -> Inspection {
    let all = WasmFeatures::all();
    let invalid = Validator::new_with_features(all)
        .validate_all(wasm)
        .err()
        .map(|e| e.to_string());
    let features = if invalid.is_some() {
        Vec::new()
    } else {
        FEATURES
            .iter()
            .filter(|(_, f)| {
                Validator::new_with_features(all.difference(*f))
                    .validate_all(wasm)
                    .is_err()
            })
            .map(|(name, _)| *name)
            .collect()
    };
    let (imports, exports) = interface(wasm);
    let engines = AnyEngine::all(config)
        .iter()
        .map(|engine| {
            let began = Instant::now();
            let compiled = engine.compile(wasm);
            let ms = began.elapsed().as_secs_f64() * 1e3;
            EngineVerdict {
                engine: engine.name().into(),
                compile_ms: compiled.is_ok().then_some(ms),
                error: compiled.err().map(|e| e.to_string()),
            }
        })
        .collect();
    let wasi_imports = imports
        .iter()
        .filter_map(|i| i.strip_prefix(wasmhost::wasi::MODULE)?.strip_prefix('.'))
        .map(|i| i.split(':').next().unwrap_or(i).trim().to_string())
        .collect();
    let wasi = match crate::command::wasi_kind(wasm) {
        Some(wasmhost::wasi::Kind::Command) => "command",
        Some(wasmhost::wasi::Kind::Reactor) => "reactor",
        _ => "none",
    };
    Inspection {
        bytes: wasm.len(),
        invalid,
        imports,
        exports,
        features,
        engines,
        wasi: wasi.into(),
        wasi_imports,
    }
}

/// The imports and exports, described, as far as the module can be read.
fn interface(wasm: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut types: Vec<String> = Vec::new();
    // The type of each function, imported then defined.
    let mut functions: Vec<u32> = Vec::new();
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let describe = |types: &[String], index: u32| {
        types
            .get(index as usize)
            .cloned()
            .unwrap_or_else(|| format!("type {index}"))
    };
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            break;
        };
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader.into_iter().flatten() {
                    for ty in group.types() {
                        types.push(match &ty.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                let list = |v: &[wasmparser::ValType]| {
                                    v.iter()
                                        .map(ToString::to_string)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                };
                                format!("func ({}) -> ({})", list(f.params()), list(f.results()))
                            }
                            other => format!("{other:?}"),
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports().flatten() {
                    let what = match import.ty {
                        TypeRef::Func(t) => {
                            functions.push(t);
                            describe(&types, t)
                        }
                        TypeRef::Global(g) => global(&g),
                        TypeRef::Memory(m) => memory(&m),
                        TypeRef::Table(t) => table(&t),
                        TypeRef::Tag(_) => "tag".into(),
                        other => format!("{other:?}"),
                    };
                    imports.push(format!("{}.{}: {what}", import.module, import.name));
                }
            }
            Payload::FunctionSection(reader) => functions.extend(reader.into_iter().flatten()),
            Payload::ExportSection(reader) => {
                for export in reader.into_iter().flatten() {
                    let what = match export.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => functions
                            .get(export.index as usize)
                            .map_or_else(|| "func".into(), |t| describe(&types, *t)),
                        ExternalKind::Memory => "memory".into(),
                        ExternalKind::Table => "table".into(),
                        ExternalKind::Global => "global".into(),
                        ExternalKind::Tag => "tag".into(),
                    };
                    exports.push(format!("{}: {what}", export.name));
                }
            }
            _ => {}
        }
    }
    (imports, exports)
}

fn global(g: &wasmparser::GlobalType) -> String {
    let m = if g.mutable { "mut " } else { "" };
    format!("global {m}{}", g.content_type)
}

fn memory(m: &wasmparser::MemoryType) -> String {
    let max = m
        .maximum
        .map_or_else(String::new, |max| format!("..={max}"));
    format!("memory {}{max} pages", m.initial)
}

fn table(t: &wasmparser::TableType) -> String {
    let max = t
        .maximum
        .map_or_else(String::new, |max| format!("..={max}"));
    format!("table {} {}{max}", t.element_type, t.initial)
}

impl Inspection {
    /// Whether every engine compiled it.
    pub fn every_engine_accepts(&self) -> bool {
        self.engines.iter().all(|e| e.error.is_none())
    }

    /// The terminal summary.
    pub fn summary(&self) -> String {
        let mut s = format!("{} bytes\n", self.bytes);
        if let Some(why) = &self.invalid {
            s += &format!("not valid wasm: {why}\n");
        }
        let list = |title: &str, items: &[String]| {
            let mut out = format!("{title} ({}):\n", items.len());
            for item in items {
                out += &format!("  {item}\n");
            }
            out
        };
        s += &list("imports", &self.imports);
        s += &list("exports", &self.exports);
        s += &format!(
            "features beyond wasm 1.0: {}\n",
            if self.features.is_empty() {
                "none".to_string()
            } else {
                self.features.join(", ")
            }
        );
        if self.wasi != "none" {
            s += &format!(
                "WASI preview 1 {}, importing {}\n",
                self.wasi,
                self.wasi_imports.join(", ")
            );
        }
        for e in &self.engines {
            s += &match (&e.compile_ms, &e.error) {
                (Some(ms), _) => format!("{}: compiles in {ms:.1} ms\n", e.engine),
                (_, Some(error)) => format!("{}: refuses it: {error}\n", e.engine),
                _ => format!("{}: ?\n", e.engine),
            };
        }
        s
    }
}
