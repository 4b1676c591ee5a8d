//! NaN canonicalization: after every float instruction that may produce a NaN, a NaN result
//! is replaced by the positive canonical NaN (`0x7fc00000` / `0x7ff8000000000000`).
//!
//! This is the deterministic profile on engines that cannot canonicalize at run time
//! (wasmi's own switch is a cargo feature, and so would hold for every wasmi engine in the
//! build). Each rewritten instruction gains:
//!
//! ```text
//! local.tee $tmp        ;; r
//! f32.const nan         ;; r, canonical
//! local.get $tmp
//! local.get $tmp
//! f32.eq                ;; r, canonical, r == r (false only for NaN)
//! select                ;; r if r == r, else canonical
//! ```
//!
//! with one scratch local per float type. Bit operations (neg, abs, copysign, reinterpret,
//! load, store) are left alone, as the spec requires.

use wasm_encoder::{Function, Instruction, ValType};
use wasmparser::Operator;

/// The float type an instruction may produce a NaN of, for the instructions the spec lets
/// produce a non-deterministic NaN. Bit operations are not listed.
pub fn nan_producing(op: &Operator<'_>) -> Option<ValType> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Sqrt | F32Min | F32Max | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(ValType::F32),
        F64Add | F64Sub | F64Mul | F64Div | F64Sqrt | F64Min | F64Max | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(ValType::F64),
        _ => None,
    }
}

/// Emits the check after `op` when it may produce a NaN, using scratch locals `f32_tmp` and
/// `f64_tmp`.
pub(crate) fn after(op: &Operator<'_>, f: &mut Function, f32_tmp: u32, f64_tmp: u32) {
    match nan_producing(op) {
        Some(ValType::F32) => {
            f.instruction(&Instruction::LocalTee(f32_tmp))
                .instruction(&Instruction::F32Const(f32::from_bits(0x7fc0_0000).into()))
                .instruction(&Instruction::LocalGet(f32_tmp))
                .instruction(&Instruction::LocalGet(f32_tmp))
                .instruction(&Instruction::F32Eq)
                .instruction(&Instruction::Select);
        }
        Some(_) => {
            f.instruction(&Instruction::LocalTee(f64_tmp))
                .instruction(&Instruction::F64Const(
                    f64::from_bits(0x7ff8_0000_0000_0000).into(),
                ))
                .instruction(&Instruction::LocalGet(f64_tmp))
                .instruction(&Instruction::LocalGet(f64_tmp))
                .instruction(&Instruction::F64Eq)
                .instruction(&Instruction::Select);
        }
        None => {}
    }
}
