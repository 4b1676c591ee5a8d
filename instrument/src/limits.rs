//! Memory and table limits, enforced by the module itself so that every engine agrees on
//! where growth stops.
//!
//! - `memory.grow` past the limit does not grow and returns `-1`, as the spec allows for a
//!   failed growth; the guest may handle that. The limit global is set to [`MEMORY_HIT`], and
//!   if the call then traps (a Rust guest aborts when its allocator gets no memory), the host
//!   reports [`wasmhost_api::WasmError::MemoryLimit`].
//! - `table.grow` past the limit traps, with the limit global set to [`TABLE_HIT`]: the host
//!   reports [`wasmhost_api::WasmError::TableLimit`].
//!
//! Initial sizes over the limits are refused at instantiation
//! ([`crate::ModuleFacts::check_limits`]).

use wasm_encoder::{BlockType, Function, Instruction, ValType};

/// The limit global's value after the memory limit refused a `memory.grow`.
pub const MEMORY_HIT: i32 = 1;
/// The limit global's value after the table limit stopped a `table.grow`.
pub const TABLE_HIT: i32 = 2;

/// Emits a `memory.grow` of memory `mem` that fails past `max_pages`. The stack holds the
/// page delta; `scratch` is an `i32` local.
pub(crate) fn memory_grow(f: &mut Function, mem: u32, max_pages: u64, limit: u32, scratch: u32) {
    f.instruction(&Instruction::LocalSet(scratch))
        .instruction(&Instruction::MemorySize(mem));
    exceeds(f, scratch, max_pages);
    f.instruction(&Instruction::If(BlockType::Result(ValType::I32)))
        .instruction(&Instruction::I32Const(MEMORY_HIT))
        .instruction(&Instruction::GlobalSet(limit))
        .instruction(&Instruction::I32Const(-1))
        .instruction(&Instruction::Else)
        .instruction(&Instruction::LocalGet(scratch))
        .instruction(&Instruction::MemoryGrow(mem))
        .instruction(&Instruction::End);
}

/// Emits the check before a `table.grow` of table `table`: past `max` elements it traps.
/// The stack holds the element delta, which stays; `scratch` is an `i32` local.
pub(crate) fn table_grow_check(f: &mut Function, table: u32, max: u32, limit: u32, scratch: u32) {
    f.instruction(&Instruction::LocalSet(scratch))
        .instruction(&Instruction::TableSize(table));
    exceeds(f, scratch, max as u64);
    f.instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(TABLE_HIT))
        .instruction(&Instruction::GlobalSet(limit))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(scratch));
}

/// With the current size on the stack: whether size + delta (in `scratch`) exceeds `max`,
/// computed in 64 bits so that it cannot wrap.
fn exceeds(f: &mut Function, scratch: u32, max: u64) {
    f.instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::LocalGet(scratch))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::I64Const(max.min(i64::MAX as u64) as i64))
        .instruction(&Instruction::I64GtU);
}
