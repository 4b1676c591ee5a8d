//! Relaxed SIMD in the deterministic profile: each relaxed operation is replaced by the
//! semantics the spec gives it in its deterministic profile, written with fixed-width SIMD
//! operations every engine computes alike on every processor:
//!
//! | relaxed operation | deterministic semantics |
//! |---|---|
//! | `f32x4/f64x2.relaxed_madd` | `mul` then `add`, unfused (two roundings) |
//! | `f32x4/f64x2.relaxed_nmadd` | `mul`, `neg`, then `add`, unfused |
//! | `f32x4/f64x2.relaxed_min/max` | `min` / `max` (NaN if either lane is, −0 < +0) |
//! | `i8x16.relaxed_swizzle` | `i8x16.swizzle` (an index past 15 gives 0) |
//! | `i32x4.relaxed_trunc_*` | `i32x4.trunc_sat_*` (NaN gives 0, out of range saturates) |
//! | `i16x8.relaxed_q15mulr_s` | `i16x8.q15mulr_sat_s` |
//! | `*.relaxed_laneselect` | `v128.bitselect` (bit by bit, whatever the mask) |
//! | `i16x8.relaxed_dot_i8x16_i7x16_s` | both operands signed, each pair's sum saturated to i16 |
//! | `i32x4.relaxed_dot_i8x16_i7x16_add_s` | the i16 dot above, pairs widened and added, plus the accumulator |
//!
//! The float results are then canonicalized like any other ([`crate::canonicalize`]).

use wasm_encoder::{Function, Instruction};
use wasmparser::Operator;

use crate::canonicalize::Shape;

/// The v128 scratch locals a rewrite uses.
pub(crate) type Scratch = [u32; 4];

/// Whether `op` is a relaxed SIMD operation.
pub fn is_relaxed(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        F32x4RelaxedMadd
            | F32x4RelaxedNmadd
            | F64x2RelaxedMadd
            | F64x2RelaxedNmadd
            | F32x4RelaxedMin
            | F32x4RelaxedMax
            | F64x2RelaxedMin
            | F64x2RelaxedMax
            | I8x16RelaxedSwizzle
            | I32x4RelaxedTruncF32x4S
            | I32x4RelaxedTruncF32x4U
            | I32x4RelaxedTruncF64x2SZero
            | I32x4RelaxedTruncF64x2UZero
            | I16x8RelaxedQ15mulrS
            | I8x16RelaxedLaneselect
            | I16x8RelaxedLaneselect
            | I32x4RelaxedLaneselect
            | I64x2RelaxedLaneselect
            | I16x8RelaxedDotI8x16I7x16S
            | I32x4RelaxedDotI8x16I7x16AddS
    )
}

/// Emits the deterministic form of the relaxed operation `op` ([`is_relaxed`]). Returns the
/// shape of its float result, which the caller canonicalizes, if it has one.
pub(crate) fn deterministic(op: &Operator<'_>, f: &mut Function, v: Scratch) -> Option<Shape> {
    use Instruction as I;
    use Operator::*;
    let plain = |f: &mut Function, i: Instruction<'_>| {
        f.instruction(&i);
    };
    match op {
        F32x4RelaxedMadd | F32x4RelaxedNmadd | F64x2RelaxedMadd | F64x2RelaxedNmadd => {
            let f32x4 = matches!(op, F32x4RelaxedMadd | F32x4RelaxedNmadd);
            let (mul, neg, add, shape) = if f32x4 {
                (I::F32x4Mul, I::F32x4Neg, I::F32x4Add, Shape::F32x4)
            } else {
                (I::F64x2Mul, I::F64x2Neg, I::F64x2Add, Shape::F64x2)
            };
            // a b c: c aside, a * b, negated for nmadd, + c.
            f.instruction(&I::LocalSet(v[0])).instruction(&mul);
            if matches!(op, F32x4RelaxedNmadd | F64x2RelaxedNmadd) {
                f.instruction(&neg);
            }
            f.instruction(&I::LocalGet(v[0])).instruction(&add);
            return Some(shape);
        }
        F32x4RelaxedMin => plain(f, I::F32x4Min),
        F32x4RelaxedMax => plain(f, I::F32x4Max),
        F64x2RelaxedMin => plain(f, I::F64x2Min),
        F64x2RelaxedMax => plain(f, I::F64x2Max),
        I8x16RelaxedSwizzle => plain(f, I::I8x16Swizzle),
        I32x4RelaxedTruncF32x4S => plain(f, I::I32x4TruncSatF32x4S),
        I32x4RelaxedTruncF32x4U => plain(f, I::I32x4TruncSatF32x4U),
        I32x4RelaxedTruncF64x2SZero => plain(f, I::I32x4TruncSatF64x2SZero),
        I32x4RelaxedTruncF64x2UZero => plain(f, I::I32x4TruncSatF64x2UZero),
        I16x8RelaxedQ15mulrS => plain(f, I::I16x8Q15MulrSatS),
        I8x16RelaxedLaneselect
        | I16x8RelaxedLaneselect
        | I32x4RelaxedLaneselect
        | I64x2RelaxedLaneselect => plain(f, I::V128Bitselect),
        I16x8RelaxedDotI8x16I7x16S => dot_i16(f, v),
        I32x4RelaxedDotI8x16I7x16AddS => {
            // a b c: c aside, the i16 dot of a and b, pairs widened to i32 and added, + c.
            f.instruction(&I::LocalSet(v[3]));
            dot_i16(f, v);
            f.instruction(&I::I32x4ExtAddPairwiseI16x8S)
                .instruction(&I::LocalGet(v[3]))
                .instruction(&I::I32x4Add);
        }
        // Not reached: callers pass relaxed operations only ([`is_relaxed`]).
        _ => plain(f, I::Unreachable),
    }
    match op {
        F32x4RelaxedMin | F32x4RelaxedMax => Some(Shape::F32x4),
        F64x2RelaxedMin | F64x2RelaxedMax => Some(Shape::F64x2),
        _ => None,
    }
}

/// The i16 lanes 0, 2, 4, 6 of two i16x8s, as an `i8x16.shuffle` of bytes.
const EVEN_I16: [u8; 16] = [0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29];
/// The i16 lanes 1, 3, 5, 7 of two i16x8s.
const ODD_I16: [u8; 16] = [2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31];

/// `a b` → each i16 lane `i` is `a[2i]·b[2i] + a[2i+1]·b[2i+1]`, bytes signed, the sum
/// saturated. Each product of two i8s fits an i16 (at most 128·128); the sum may not.
fn dot_i16(f: &mut Function, v: Scratch) {
    use Instruction as I;
    let [a, b, low, _] = v;
    f.instruction(&I::LocalSet(b))
        .instruction(&I::LocalSet(a))
        // The products of bytes 0..8 and of bytes 8..16, as i16s.
        .instruction(&I::LocalGet(a))
        .instruction(&I::LocalGet(b))
        .instruction(&I::I16x8ExtMulLowI8x16S)
        .instruction(&I::LocalSet(low))
        .instruction(&I::LocalGet(a))
        .instruction(&I::LocalGet(b))
        .instruction(&I::I16x8ExtMulHighI8x16S)
        .instruction(&I::LocalSet(b))
        // Each pair's first products beside their second ones, added with saturation.
        .instruction(&I::LocalGet(low))
        .instruction(&I::LocalGet(b))
        .instruction(&I::I8x16Shuffle(EVEN_I16))
        .instruction(&I::LocalGet(low))
        .instruction(&I::LocalGet(b))
        .instruction(&I::I8x16Shuffle(ODD_I16))
        .instruction(&I::I16x8AddSatS);
}
