//! Interruption checks, for engines with no interruption of their own (wasmer, wasmi).
//!
//! The pass adds a memory of one page that no original instruction can name (it comes after
//! the module's own memories), exports it as [`EXPORT`], and reads its first byte at every
//! loop head and at the entry of every function that calls: a guest that runs long runs
//! loops or calls, so it reaches a check within one pass through a loop body or one call.
//! The host writes a non-zero byte there from any thread to stop the guest, which traps
//! with `unreachable`; the host knows why, since it wrote the byte. A function that neither
//! loops nor calls runs straight through and ends, so it gets no check.

use wasm_encoder::{BlockType, Function, Instruction, MemArg, MemArgTarget};
use wasmparser::Operator;

/// The name the added memory is exported under. A module that already exports this name
/// is refused ([`crate::instrument`]).
pub const EXPORT: &str = "wasmhost_interrupt";

/// Emits the check: traps when the flag byte in memory `memory` is not 0.
pub(crate) fn check(f: &mut Function, memory: u32) {
    f.instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::I32Load8U(MemArg {
            offset: 0,
            align: 0,
            target: MemArgTarget::Memory(memory),
            ordering: None,
        }))
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End);
}

/// Whether a function with body `ops` needs a check at its entry: it calls.
pub(crate) fn at_entry(ops: &[Operator<'_>]) -> bool {
    ops.iter()
        .any(|op| matches!(op, Operator::Call { .. } | Operator::CallIndirect { .. }))
}
