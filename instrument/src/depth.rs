//! The call-depth limit: every `call` and `call_indirect` raises a depth counter before it
//! and lowers it after it returns; one call past the limit traps instead of calling.
//!
//! ```text
//! global.get $depth  i32.const 1  i32.add  local.tee $tmp  global.set $depth
//! local.get $tmp  i32.const limit  i32.gt_u  if  unreachable  end
//! call f
//! global.get $depth  i32.const 1  i32.sub  global.set $depth
//! ```
//!
//! The engines' own stack limits differ (wasmi counts frames, wasmer uses a native stack of
//! a fixed size), so the depth at which unbounded recursion stops differs between engines
//! and machines. With this pass it is the same everywhere: the host reports
//! [`wasmhost_api::Trap::StackOverflow`]. Calls to host imports count too, so that guest →
//! host → guest re-entrancy is bounded as well. A trap leaves the counter raised: the host
//! sets it back to 0 after every failed call it made.

use wasm_encoder::{BlockType, Function, Instruction};

/// Emits the depth check before a call; `tmp` is an `i32` local.
pub(crate) fn enter(f: &mut Function, depth: u32, limit: u32, tmp: u32) {
    f.instruction(&Instruction::GlobalGet(depth))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Add)
        .instruction(&Instruction::LocalTee(tmp))
        .instruction(&Instruction::GlobalSet(depth))
        .instruction(&Instruction::LocalGet(tmp))
        .instruction(&Instruction::I32Const(limit as i32))
        .instruction(&Instruction::I32GtU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End);
}

/// Emits the depth release after a call.
pub(crate) fn leave(f: &mut Function, depth: u32) {
    f.instruction(&Instruction::GlobalGet(depth))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Sub)
        .instruction(&Instruction::GlobalSet(depth));
}
