//! The stack limit: every `call` and `call_indirect` raises a counter by its callee's
//! frame before it and lowers it after it returns; a call that would pass the limit traps
//! instead of calling.
//!
//! ```text
//! ;; at the entry of a function that calls: its depth, which every call puts back
//! global.get $depth  local.set $base
//! ;; around each call
//! local.get $base  i32.const frame  i32.add  global.set $depth
//! local.get $base  i32.const limit-frame  i32.gt_u  if  unreachable  end
//! call f
//! local.get $base  global.set $depth   ;; only in a function the host may call
//! ```
//!
//! A call to a function that calls nothing raises the depth only inside the `if`, before
//! `unreachable`: that callee never reads it, and the host reads it only after a trap, to
//! tell a stack overflow. A leaf call in a loop then costs the compare and branch alone.
//!
//! A function that calls and that only the module's direct calls reach takes its depth as
//! an added parameter after its own, which is its `base`: its callers push `base + frame`
//! as that argument instead of storing it in the global, and it reads no global at its
//! entry (`passed_as_parameter`; the fuel may follow it, see [`crate::fuel`]). The global
//! is then raised only on the way to the trap, as for a leaf. The host, a table and a tail
//! call reach a function through its own signature, so the functions they may reach keep
//! reading the global.
//!
//! Restoring the saved depth, rather than subtracting the frame again, is one instruction
//! after each call instead of four: what a call costs an interpreter shows in call-heavy
//! programs (recursion, small functions). And only a function the host may call (exported,
//! in a table, named by a `ref.func`, the start function) restores it: inside the module the
//! depth is read only at a function's entry, and every call sets it just before, so a
//! value left raised after a call is never read; the host's call returns through such a
//! function, which leaves the depth as the host set it. (A raised value is one that passed
//! the check, so it never reads as an overflow either.)
//!
//! A frame is 1 under a frame-count limit ([`StackLimit::Frames`]); under a byte limit
//! ([`StackLimit::Bytes`]) it is what the callee's frame holds, counted the same way for
//! every engine (`FrameCosts`), so that a frame with many locals and a deep operand stack
//! counts for as much more as it takes on a native stack.
//!
//! The engines' own stack limits differ (wasmi counts frames, wasmer uses a native stack of
//! a fixed size), so the depth at which unbounded recursion stops differs between engines
//! and machines. With this pass it is the same everywhere: the host reports
//! [`wasmhost_api::Trap::StackOverflow`]. Calls to host imports count too, so that guest →
//! host → guest re-entrancy is bounded as well. A trap leaves the counter raised: the host
//! sets it back to 0 after every failed call it made.

use wasm_encoder::{BlockType, Function, Instruction};
use wasmhost_api::{FRAME_OVERHEAD_BYTES, StackLimit, WasmError};
use wasmparser::{FuncType, Parser, Payload, TypeRef, ValType, ValidPayload, Validator};

use crate::calls::CallGraph;

/// Operand stacks deeper than this are counted at 16 bytes a value without reading their
/// types (reading them is linear in the height, after every instruction).
const TYPED_HEIGHT: u32 = 64;

/// What each call of a module costs under a stack limit.
pub(crate) struct FrameCosts {
    limit: StackLimit,
    /// Per function index (imports first): its frame in bytes.
    functions: Vec<u32>,
    /// Per type index: the largest frame of the functions of that signature.
    indirect: Vec<u32>,
}

impl FrameCosts {
    /// The frames of `wasm`'s functions under `limit` (read only for a byte limit).
    pub(crate) fn of(wasm: &[u8], limit: StackLimit) -> Result<Self, WasmError> {
        let (types, frames) = match limit {
            StackLimit::Frames(_) => (Vec::new(), Vec::new()),
            StackLimit::Bytes(_) => frames_in_bytes(wasm)
                .map_err(|e| WasmError::Compile(format!("instrumentation failed: {e}")))?,
        };
        // Types are equal by signature, not by index: a `call_indirect` of one may reach a
        // function declared with another of the same signature. Computed once per type, not
        // at every call site.
        let indirect = types
            .iter()
            .map(|ty| {
                frames
                    .iter()
                    .filter(|(sig, _)| sig == ty)
                    .map(|(_, bytes)| *bytes)
                    .max()
                    .unwrap_or(FRAME_OVERHEAD_BYTES)
            })
            .collect();
        Ok(FrameCosts {
            limit,
            functions: frames.into_iter().map(|(_, bytes)| bytes).collect(),
            indirect,
        })
    }

    /// What `call function` costs.
    pub(crate) fn call(&self, function: u32) -> u32 {
        match self.limit {
            StackLimit::Frames(_) => 1,
            StackLimit::Bytes(_) => self
                .functions
                .get(function as usize)
                .copied()
                .unwrap_or(FRAME_OVERHEAD_BYTES),
        }
    }

    /// What a `call_indirect` of type `index` costs: the largest frame of the module's
    /// functions of that signature (any of them may be in the table).
    pub(crate) fn call_indirect(&self, index: u32) -> u32 {
        match self.limit {
            StackLimit::Frames(_) => 1,
            StackLimit::Bytes(_) => self
                .indirect
                .get(index as usize)
                .copied()
                .unwrap_or(FRAME_OVERHEAD_BYTES),
        }
    }
}

/// A signature for a function whose type index is out of range (validation refuses such a
/// module before it gets here).
fn empty() -> FuncType {
    FuncType::new([], [])
}

/// Bytes a value of `ty` takes in a frame.
fn size(ty: ValType) -> u32 {
    match ty {
        ValType::V128 => 16,
        _ => 8,
    }
}

/// Every function's signature and frame in bytes: the overhead, its parameters and locals,
/// and its deepest operand stack, as the validator tracks it.
type Frames = (Vec<FuncType>, Vec<(FuncType, u32)>);

fn frames_in_bytes(wasm: &[u8]) -> wasmparser::Result<Frames> {
    let features = wasmparser::WasmFeatures::WASM2 | wasmparser::WasmFeatures::RELAXED_SIMD;
    let mut validator = Validator::new_with_features(features);
    let mut types = Vec::new();
    let mut functions = Vec::new();
    let mut defined = Vec::new();
    let mut imports = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::TypeSection(reader) => {
                for ty in reader.clone().into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    if let TypeRef::Func(ty) = import?.ty {
                        let sig = types.get(ty as usize).cloned();
                        functions.push((sig.unwrap_or_else(empty), FRAME_OVERHEAD_BYTES));
                        imports += 1;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader.clone() {
                    defined.push(types.get(ty? as usize).cloned().unwrap_or_else(empty));
                }
            }
            _ => {}
        }
        if let ValidPayload::Func(func, body) = validator.payload(&payload)? {
            let mut v = func.into_validator(Default::default());
            let mut reader = body.get_binary_reader();
            v.read_locals(&mut reader)?;
            let locals: u32 = (0..v.len_locals())
                .filter_map(|i| v.get_local_type(i))
                .map(size)
                .sum();
            let mut deepest = 0;
            let mut ops = wasmparser::OperatorsReader::new(reader);
            while !ops.eof() {
                let (op, offset) = ops.read_with_offset()?;
                v.op(offset, &op)?;
                let height = v.operand_stack_height();
                let bytes = if height > TYPED_HEIGHT {
                    height * 16
                } else {
                    (0..height as usize)
                        .map(|depth| match v.get_operand_type(depth) {
                            Some(Some(ty)) => size(ty),
                            _ => 8,
                        })
                        .sum()
                };
                deepest = deepest.max(bytes);
            }
            let sig = defined
                .get(functions.len() - imports)
                .cloned()
                .unwrap_or_else(empty);
            functions.push((sig, FRAME_OVERHEAD_BYTES + locals + deepest));
        }
    }
    Ok((types, functions))
}

/// Emits, at the entry of a function that calls, the copy of the depth into `base` (an
/// `i32` local): the depth stays that value through the function, since every call puts it
/// back.
pub(crate) fn save(f: &mut Function, depth: u32, base: u32) {
    f.instruction(&Instruction::GlobalGet(depth))
        .instruction(&Instruction::LocalSet(base));
}

/// The defined functions that take the call depth as an added parameter instead of
/// reading the global ([`Callee::Passed`]): those that call (they read the depth) and that
/// only the module's own direct calls reach (`direct`, from [`CallGraph::direct_only`]).
///
/// A recursion's depth then travels in a register, not through memory: the deterministic
/// profile's cost on shootout-ackermann's recursion fell by a third on every engine (see
/// the README's benchmarks).
pub(crate) fn passed_as_parameter(graph: &CallGraph, direct: &[bool]) -> Vec<bool> {
    let calls = graph
        .bodies
        .iter()
        .map(|body| body.sites.iter().any(|site| !site.tail));
    direct.iter().zip(calls).map(|(d, c)| *d && c).collect()
}

/// A call under the stack limit, as [`enter`] emits it.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    /// The depth global.
    pub(crate) global: u32,
    /// The calling function's depth ([`save`]).
    pub(crate) base: u32,
    /// What the callee's frame counts for.
    pub(crate) frame: u32,
    /// How the callee learns its depth.
    pub(crate) callee: Callee,
}

/// How a callee learns the depth it runs at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callee {
    /// It never reads it (it calls nothing): the depth is raised only on the way to the
    /// trap, where the host reads it to tell a stack overflow.
    Blind,
    /// It reads the global (it calls, and the host or an unknown function may call it too,
    /// or the call reaches the host): the global is raised before the call.
    Global,
    /// It takes it as an argument after its own ([`passed_as_parameter`]): the raised
    /// depth is pushed after the call's arguments, and the global is raised only on the way
    /// to the trap.
    Passed,
}

/// Emits the depth raise and check before `call`, and for a [`Callee::Passed`] the depth
/// argument after the call's own.
pub(crate) fn enter(f: &mut Function, call: Call, limit: u32) {
    let raised = |f: &mut Function| {
        f.instruction(&Instruction::LocalGet(call.base))
            .instruction(&Instruction::I32Const(call.frame as i32))
            .instruction(&Instruction::I32Add);
    };
    let raise = |f: &mut Function| {
        raised(f);
        f.instruction(&Instruction::GlobalSet(call.global));
    };
    if call.callee == Callee::Global {
        raise(f);
    }
    // `base + frame > limit`, without the sum overflowing: a frame larger than the limit
    // always traps.
    match limit.checked_sub(call.frame) {
        Some(room) => {
            f.instruction(&Instruction::LocalGet(call.base))
                .instruction(&Instruction::I32Const(room as i32))
                .instruction(&Instruction::I32GtU)
                .instruction(&Instruction::If(BlockType::Empty));
            if call.callee != Callee::Global {
                raise(f);
            }
            f.instruction(&Instruction::Unreachable)
                .instruction(&Instruction::End);
        }
        None => {
            if call.callee != Callee::Global {
                raise(f);
            }
            f.instruction(&Instruction::Unreachable);
        }
    }
    if call.callee == Callee::Passed {
        raised(f);
    }
}

/// Emits the depth release after a call: back to the function's `base`.
pub(crate) fn leave(f: &mut Function, depth: u32, base: u32) {
    f.instruction(&Instruction::LocalGet(base))
        .instruction(&Instruction::GlobalSet(depth));
}
