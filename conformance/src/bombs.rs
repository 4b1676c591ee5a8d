//! Compile bombs: modules built to be slow to compile, at growing sizes, timed on every
//! engine. What a host needs to know is that compile time grows with the bytes it accepts
//! and no faster, so that a size limit ([`wasmhost::Config::max_module_bytes`]) bounds the
//! time too: the verdict is the compile time per byte of the largest module over that of
//! the smallest, per shape and engine.
//!
//! Each shape grows its construct with the module up to [`MAX_FUNCTION_BYTES`] per function
//! (a nesting 350 000 blocks deep, 130 000 local copies), or [`MAX_BR_TABLE_TARGETS`], then
//! repeats it: up to 1 MB the construct itself grows, beyond that the number of them does.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasm_encoder::{
    BlockType, CodeSection, Function, FunctionSection, Instruction, TypeSection, ValType,
};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config};

/// The largest function body a shape makes before it starts another function.
pub const MAX_FUNCTION_BYTES: usize = 1 << 20;

/// The most targets a `br_table` gets: wasmi 2.0 validates with wasmparser 0.228, which
/// refuses a `br_table` of more than 131 072 targets (wasmer's newer wasmparser takes up to
/// 7 654 321), so larger ones would measure a refusal, not a compile.
pub const MAX_BR_TABLE_TARGETS: usize = 100_000;

/// What a bomb is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Many small functions.
    Functions,
    /// Blocks nested inside blocks.
    Nesting,
    /// One `br_table` with a target per byte.
    BrTable,
    /// 50 000 locals (the most a function may have), copied into one another.
    Locals,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 4] = [
        Shape::Functions,
        Shape::Nesting,
        Shape::BrTable,
        Shape::Locals,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Functions => "many functions",
            Shape::Nesting => "deep nesting",
            Shape::BrTable => "huge br_table",
            Shape::Locals => "many locals",
        }
    }
}

/// A module of `shape`, about `bytes` long (within a few hundred bytes).
pub fn module(shape: Shape, bytes: usize) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut left = bytes;
    while left > 64 {
        let body = match shape {
            // Each function is a dozen bytes with its entry in the function section.
            Shape::Functions => small_function(),
            _ => bomb_function(shape, left.min(MAX_FUNCTION_BYTES)),
        };
        // The body, its size before it, and its type index in the function section.
        let len = body.byte_len();
        left = left.saturating_sub(len + leb128_len(len) + 1);
        functions.function(0);
        code.function(&body);
    }
    let mut module = wasm_encoder::Module::new();
    module.section(&types).section(&functions).section(&code);
    module.finish()
}

fn leb128_len(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()).div_ceil(7).max(1) as usize
}

fn small_function() -> Function {
    let mut f = Function::new([]);
    f.instructions().local_get(0).i32_const(7).i32_add().end();
    f
}

/// One function of `shape` whose body is about `budget` bytes.
fn bomb_function(shape: Shape, budget: usize) -> Function {
    match shape {
        Shape::Functions => small_function(),
        Shape::Nesting => {
            // `block` is two bytes, `end` one.
            let depth = budget / 3;
            let mut f = Function::new([]);
            for _ in 0..depth {
                f.instruction(&Instruction::Block(BlockType::Empty));
            }
            for _ in 0..depth {
                f.instruction(&Instruction::End);
            }
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::End);
            f
        }
        Shape::BrTable => {
            const DEPTH: u32 = 16;
            let mut f = Function::new([]);
            for _ in 0..DEPTH {
                f.instruction(&Instruction::Block(BlockType::Empty));
            }
            let targets: Vec<u32> = (0..budget.min(MAX_BR_TABLE_TARGETS) as u32)
                .map(|i| i.wrapping_mul(7) % DEPTH)
                .collect();
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::BrTable(targets.into(), 0));
            for _ in 0..DEPTH {
                f.instruction(&Instruction::End);
            }
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::End);
            f
        }
        Shape::Locals => {
            const LOCALS: u32 = 49_999;
            let mut f = Function::new([(LOCALS, ValType::I64)]);
            // Indices from 16 384 up take three bytes: eight bytes a copy.
            const FIRST: u32 = 16_384;
            for i in 0..(budget / 8) as u32 {
                let from = FIRST + i.wrapping_mul(7_919) % (LOCALS - FIRST);
                let to = FIRST + i.wrapping_mul(104_729) % (LOCALS - FIRST);
                f.instruction(&Instruction::LocalGet(from));
                f.instruction(&Instruction::LocalSet(to));
            }
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::End);
            f
        }
    }
}

/// One compile of one bomb on one engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Compile {
    /// The shape.
    pub shape: Shape,
    /// The size asked for, one of [`BombReport::sizes`].
    pub target: u64,
    /// The module's size.
    pub bytes: u64,
    /// The engine.
    pub engine: String,
    /// Seconds to compile, or the (typed) error the engine refused it with.
    pub outcome: Result<f64, String>,
}

impl Compile {
    /// Nanoseconds per byte, when it compiled.
    pub fn ns_per_byte(&self) -> Option<f64> {
        self.outcome
            .as_ref()
            .ok()
            .map(|s| s * 1e9 / self.bytes as f64)
    }
}

/// Every shape at every size on every engine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BombReport {
    /// Module sizes asked for, smallest first.
    pub sizes: Vec<u64>,
    /// Engines.
    pub engines: Vec<String>,
    /// Every compile, by shape, then size, then engine.
    pub compiles: Vec<Compile>,
}

/// How much slower per byte the largest module of a shape may compile than the smallest.
pub const MAX_RATIO: f64 = 3.0;

impl BombReport {
    /// Compile time per byte of the largest module of `shape` over the smallest's, on
    /// `engine`; `None` when either did not compile.
    pub fn ratio(&self, shape: Shape, engine: &str) -> Option<f64> {
        let per_byte = |target: u64| {
            self.compile(shape, target, engine)
                .and_then(Compile::ns_per_byte)
        };
        Some(per_byte(*self.sizes.last()?)? / per_byte(*self.sizes.first()?)?)
    }

    /// The compile of `shape` at size `target` on `engine`.
    pub fn compile(&self, shape: Shape, target: u64, engine: &str) -> Option<&Compile> {
        self.compiles
            .iter()
            .find(|c| c.shape == shape && c.engine == engine && c.target == target)
    }

    /// Shape and engine pairs whose ratio is over [`MAX_RATIO`], or that did not compile.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for shape in Shape::ALL {
            for engine in &self.engines {
                match self.ratio(shape, engine) {
                    Some(r) if r <= MAX_RATIO => {}
                    Some(r) => out.push(format!("{} on {engine}: {r:.2}x", shape.name())),
                    None => out.push(format!("{} on {engine}: did not compile", shape.name())),
                }
            }
        }
        out
    }

    /// The table for the terminal: milliseconds and ns per byte per size, then the ratio.
    pub fn summary(&self) -> String {
        let mut s = format!("{:<16} {:<8}", "shape", "engine");
        for size in &self.sizes {
            s += &format!(" {:>16}", format!("{:.2} MB", *size as f64 / 1e6));
        }
        s += "   ratio\n";
        for shape in Shape::ALL {
            for engine in &self.engines {
                s += &format!("{:<16} {engine:<8}", shape.name());
                for size in &self.sizes {
                    let cell = self
                        .compile(shape, *size, engine)
                        .map_or("-".to_string(), |c| match &c.outcome {
                            Ok(secs) => format!(
                                "{:.0} ms {:.0} ns/B",
                                secs * 1e3,
                                c.ns_per_byte().unwrap_or(0.0)
                            ),
                            Err(e) => format!("refused: {e}"),
                        });
                    s += &format!(" {cell:>16}");
                }
                s += &self
                    .ratio(shape, engine)
                    .map_or("       -\n".into(), |r| format!(" {r:>6.2}x\n"));
            }
        }
        s
    }
}

/// Compiles every shape at every size in `sizes` on every engine with `config`, telling
/// `progress` what starts.
pub fn run(sizes: &[usize], config: &Config, mut progress: impl FnMut(&str)) -> BombReport {
    let engines = AnyEngine::all(config);
    let mut report = BombReport {
        sizes: sizes.iter().map(|&s| s as u64).collect(),
        engines: engines.iter().map(|e| e.name().to_string()).collect(),
        ..BombReport::default()
    };
    for shape in Shape::ALL {
        for &size in sizes {
            let wasm = module(shape, size);
            let bytes = wasm.len() as u64;
            for engine in &engines {
                progress(&format!(
                    "{} {:.2} MB on {}",
                    shape.name(),
                    bytes as f64 / 1e6,
                    engine.name()
                ));
                let start = Instant::now();
                let outcome = engine.compile(&wasm).map(drop);
                let took: Duration = start.elapsed();
                report.compiles.push(Compile {
                    shape,
                    target: size as u64,
                    bytes,
                    engine: engine.name().to_string(),
                    outcome: outcome
                        .map(|()| took.as_secs_f64())
                        .map_err(|e| e.to_string()),
                });
            }
        }
    }
    report
}
