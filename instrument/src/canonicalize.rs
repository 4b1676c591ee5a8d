//! NaN canonicalization: after every float instruction that may produce a NaN, a NaN result
//! is replaced by the positive canonical NaN (`0x7fc00000` / `0x7ff8000000000000`).
//!
//! This is the deterministic profile on engines that cannot canonicalize at run time
//! (wasmi's own switch is a cargo feature, and so would hold for every wasmi engine in the
//! build). Each rewritten instruction gains:
//!
//! ```text
//! local.set $tmp        ;; r
//! block
//!   local.get $tmp
//!   local.get $tmp
//!   f32.ge              ;; r >= r: false only for NaN
//!   br_if 0
//!   f32.const nan
//!   local.set $tmp      ;; the canonical NaN in its place
//! end
//! local.get $tmp
//! ```
//!
//! A branch, not a `select`: a NaN is rare, so the branch is predicted and nearly free,
//! where a select waits on the comparison every time (the n-body kernel: deterministic /
//! default 2.4 with a select).
//!
//! with one scratch local per float type. Bit operations (neg, abs, copysign, reinterpret,
//! load, store) are left alone, as the spec requires. A result consumed straight away by an
//! operator blind to NaN bits is left alone too: see [`needed`].
//!
//! A vector result is canonicalized lane by lane, in the shape of the operation that made
//! it (a v128 carries no lane type, and an f32x4 mask on f64x2 data would corrupt it):
//!
//! ```text
//! local.tee $v          ;; r
//! local.get $canonical  ;; r, the canonical NaN in every lane of the shape
//! local.get $v
//! local.get $v
//! f32x4.eq              ;; r, canonical, all ones in each lane where r == r
//! v128.bitselect        ;; r's lane where it is a number, else the canonical NaN
//! ```
//!
//! `$canonical` is set once at the function's entry: an interpreter reads a local as an
//! operand for free, where a `v128.const` in a loop is an instruction of its own each time
//! (wasmi's vectorized matrix multiply ran 4 % fewer instructions deterministic).
//!
//! A vector result is left alone only when an operator reading the same lane shape
//! consumes it (see [`needed`]). The relaxed SIMD operations are rewritten first
//! ([`crate::relaxed`]).

use wasm_encoder::{BlockType, Function, Instruction};
use wasmparser::Operator;

/// The shape of the floats an instruction may produce a NaN in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A scalar `f32`.
    F32,
    /// A scalar `f64`.
    F64,
    /// A v128 of four `f32` lanes.
    F32x4,
    /// A v128 of two `f64` lanes.
    F64x2,
}

impl Shape {
    /// Whether values of this shape are v128s.
    pub fn is_vector(self) -> bool {
        matches!(self, Shape::F32x4 | Shape::F64x2)
    }
}

/// The shape of the floats an instruction may produce a NaN in, for the instructions the
/// spec lets produce a non-deterministic NaN. Bit operations are not listed, nor relaxed
/// operations: the deterministic profile rewrites those into listed ones ([`crate::relaxed`]).
pub fn nan_producing(op: &Operator<'_>) -> Option<Shape> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Sqrt | F32Min | F32Max | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(Shape::F32),
        F64Add | F64Sub | F64Mul | F64Div | F64Sqrt | F64Min | F64Max | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(Shape::F64),
        F32x4Add | F32x4Sub | F32x4Mul | F32x4Div | F32x4Sqrt | F32x4Min | F32x4Max | F32x4Ceil
        | F32x4Floor | F32x4Trunc | F32x4Nearest | F32x4DemoteF64x2Zero => Some(Shape::F32x4),
        F64x2Add | F64x2Sub | F64x2Mul | F64x2Div | F64x2Sqrt | F64x2Min | F64x2Max | F64x2Ceil
        | F64x2Floor | F64x2Trunc | F64x2Nearest | F64x2PromoteLowF32x4 => Some(Shape::F64x2),
        _ => None,
    }
}

/// [`nan_producing`] for scalar results only: the operators the search for a blind
/// consumer understands.
fn scalar_nan_producing(op: &Operator<'_>) -> bool {
    nan_producing(op).is_some_and(|shape| !shape.is_vector())
}

/// Whether the result of `op` must be canonicalized, given the operators that follow it.
///
/// A NaN's bits can only be observed through bit-level uses: a store, a reinterpret,
/// copysign's sign operand, a local, a global, a value passed to a call or returned. A
/// consumer that is blind to them makes the canonicalization before it redundant, with
/// exactly the same bits in the end:
/// - an operator that may itself produce a NaN returns a NaN for a NaN operand, whatever
///   its payload, and that NaN is canonicalized in turn (or consumed blindly again);
/// - comparisons and float-to-int conversions do not see payloads (a NaN compares
///   unequal and converts to 0 or traps, whatever its bits);
/// - `drop` discards it.
///
/// The consumer is found by following the stack through the next few operators, as long
/// as they only move values (constants, `local.get`, arithmetic, comparisons,
/// conversions, loads, `local.set` and `drop` of other values): `x * x + 1`,
/// `a / b + y * 0.25` and `d * m[j]` are found; a branch, a call or a store ends the
/// search, and the result is canonicalized. Anything but a blind consumer (neg, abs, copysign, select, a local, a
/// global) may pass the bits on, so the result is canonicalized before it.
///
/// A vector result is consumed blindly only by an operator of its own shape (arithmetic,
/// or a comparison): read in another shape, a NaN lane's payload bits are numbers.
///
/// A local is a blind consumer too when every read of it in the function is consumed
/// blindly in turn ([`BlindLocals`]): an accumulator that only arithmetic reads (`acc =
/// acc + x * y` in a loop) is left alone, and its NaN is canonicalized where a result
/// computed from it is observed.
pub fn needed(op: &Operator<'_>, following: &[Operator<'_>], blind: &BlindLocals) -> bool {
    match nan_producing(op) {
        Some(shape) if shape.is_vector() => !vector_consumed_blindly(shape, following, blind),
        Some(_) => !consumed_blindly(following, blind),
        None => false,
    }
}

/// The locals of one function whose every read is consumed blindly: a NaN stored in one can
/// never be observed with its bits, so storing one needs no check. Per lane shape, since a
/// vector's lanes are blind only to readers of their own shape.
#[derive(Debug, Default)]
pub struct BlindLocals {
    scalar: std::collections::HashSet<u32>,
    f32x4: std::collections::HashSet<u32>,
    f64x2: std::collections::HashSet<u32>,
}

impl BlindLocals {
    /// The blind locals of the function body `ops`: the largest set such that every
    /// `local.get` (and `local.tee`) of a member is consumed blindly, counting the members
    /// themselves as blind consumers. Found by starting from every local read or written and
    /// dropping those with a read that is not, until none is dropped.
    pub fn of(ops: &[Operator<'_>]) -> Self {
        let touched: std::collections::HashSet<u32> = ops
            .iter()
            .filter_map(|op| match op {
                Operator::LocalGet { local_index }
                | Operator::LocalSet { local_index }
                | Operator::LocalTee { local_index } => Some(*local_index),
                _ => None,
            })
            .collect();
        let mut blind = BlindLocals {
            scalar: touched.clone(),
            f32x4: touched.clone(),
            f64x2: touched,
        };
        loop {
            let mut dropped = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let (Operator::LocalGet { local_index } | Operator::LocalTee { local_index }) = op
                else {
                    continue;
                };
                let rest = &ops[i + 1..];
                for shape in [Shape::F32, Shape::F32x4, Shape::F64x2] {
                    let member = blind.set(shape).contains(local_index);
                    let read_blindly = if shape.is_vector() {
                        vector_consumed_blindly(shape, rest, &blind)
                    } else {
                        consumed_blindly(rest, &blind)
                    };
                    if member && !read_blindly {
                        dropped.push((shape, *local_index));
                    }
                }
            }
            if dropped.is_empty() {
                return blind;
            }
            for (shape, local) in dropped {
                blind.set_mut(shape).remove(&local);
            }
        }
    }

    fn set(&self, shape: Shape) -> &std::collections::HashSet<u32> {
        match shape {
            Shape::F32 | Shape::F64 => &self.scalar,
            Shape::F32x4 => &self.f32x4,
            Shape::F64x2 => &self.f64x2,
        }
    }

    fn set_mut(&mut self, shape: Shape) -> &mut std::collections::HashSet<u32> {
        match shape {
            Shape::F32 | Shape::F64 => &mut self.scalar,
            Shape::F32x4 => &mut self.f32x4,
            Shape::F64x2 => &mut self.f64x2,
        }
    }

    /// Whether `op` stores the value on top of the stack in a blind local of `shape`. A
    /// `local.tee` stores it and leaves it on the stack: the search for its next consumer
    /// goes on past it (in the same window, so a chain of them stays bounded).
    fn stores(&self, shape: Shape, op: &Operator<'_>) -> bool {
        match op {
            Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                self.set(shape).contains(local_index)
            }
            _ => false,
        }
    }
}

/// [`consumed_blindly`] for a vector result of `shape`.
fn vector_consumed_blindly(shape: Shape, following: &[Operator<'_>], blind: &BlindLocals) -> bool {
    let mut above = 0;
    for op in following.iter().take(WINDOW) {
        let Some((pops, pushes)) = vector_stack_effect(shape, op) else {
            return false;
        };
        if pops > above {
            if above == 0 && matches!(op, Operator::LocalTee { .. }) {
                if blind.stores(shape, op) {
                    continue;
                }
                return false;
            }
            return vector_input_shape(op) == Some(shape)
                || same_shape_comparison(shape, op)
                || matches!(op, Operator::Drop)
                || (above == 0 && blind.stores(shape, op));
        }
        above = above - pops + pushes;
    }
    false
}

/// The lanes a NaN-producing vector operator reads its operands as: its result's shape,
/// but for the conversions between the two.
fn vector_input_shape(op: &Operator<'_>) -> Option<Shape> {
    match op {
        Operator::F64x2PromoteLowF32x4 => Some(Shape::F32x4),
        Operator::F32x4DemoteF64x2Zero => Some(Shape::F64x2),
        _ => nan_producing(op).filter(|shape| shape.is_vector()),
    }
}

/// The comparisons of `shape`'s lanes: a mask, blind to NaN payloads.
fn same_shape_comparison(shape: Shape, op: &Operator<'_>) -> bool {
    use Operator::*;
    match shape {
        Shape::F32x4 => matches!(
            op,
            F32x4Eq | F32x4Ne | F32x4Lt | F32x4Gt | F32x4Le | F32x4Ge
        ),
        Shape::F64x2 => matches!(
            op,
            F64x2Eq | F64x2Ne | F64x2Lt | F64x2Gt | F64x2Le | F64x2Ge
        ),
        _ => false,
    }
}

/// What `op` pops and pushes, for the operators the search past a vector result of
/// `shape` follows: pushes, loads (an address in, a vector out), splats, address
/// arithmetic, and `shape`'s own arithmetic and comparisons; `None` ends the search.
fn vector_stack_effect(shape: Shape, op: &Operator<'_>) -> Option<(usize, usize)> {
    use Operator::*;
    let binary_arithmetic = matches!(
        op,
        F32x4Add
            | F32x4Sub
            | F32x4Mul
            | F32x4Div
            | F32x4Min
            | F32x4Max
            | F64x2Add
            | F64x2Sub
            | F64x2Mul
            | F64x2Div
            | F64x2Min
            | F64x2Max
    );
    if vector_input_shape(op) == Some(shape) {
        return Some(if binary_arithmetic { (2, 1) } else { (1, 1) });
    }
    if same_shape_comparison(shape, op) {
        return Some((2, 1));
    }
    Some(match op {
        LocalGet { .. } | GlobalGet { .. } | V128Const { .. } | I32Const { .. } => (0, 1),
        V128Load { .. } | F32x4Splat | F64x2Splat | LocalTee { .. } => (1, 1),
        I32Add | I32Sub | I32Mul | I32Shl => (2, 1),
        Drop | LocalSet { .. } => (1, 0),
        _ => return None,
    })
}

/// How many operators past a result the search for its consumer goes.
const WINDOW: usize = 48;

/// Whether the value on top of the stack before `following` is consumed blindly.
fn consumed_blindly(following: &[Operator<'_>], blind: &BlindLocals) -> bool {
    // Values pushed above the result and not yet consumed.
    let mut above = 0;
    for op in following.iter().take(WINDOW) {
        let Some((pops, pushes)) = stack_effect(op) else {
            return false;
        };
        if pops > above {
            // This operator takes the result as one of its operands.
            if above == 0 && matches!(op, Operator::LocalTee { .. }) {
                if blind.stores(Shape::F32, op) {
                    continue;
                }
                return false;
            }
            return blind_to_payload(op) || (above == 0 && blind.stores(Shape::F32, op));
        }
        above = above - pops + pushes;
    }
    false
}

/// Whether `op` consumes a value without letting its NaN payload or sign reach anything
/// observable, whichever operand the value is.
fn blind_to_payload(op: &Operator<'_>) -> bool {
    scalar_nan_producing(op) || blind_binary(op) || trunc_to_int(op) || matches!(op, Operator::Drop)
}

/// The binary operators blind to both operands' NaN bits: arithmetic and comparisons
/// (copysign is not: it keeps its first operand's payload and its second's sign).
fn blind_binary(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        F32Add
            | F32Sub
            | F32Mul
            | F32Div
            | F32Min
            | F32Max
            | F64Add
            | F64Sub
            | F64Mul
            | F64Div
            | F64Min
            | F64Max
            | F32Eq
            | F32Ne
            | F32Lt
            | F32Gt
            | F32Le
            | F32Ge
            | F64Eq
            | F64Ne
            | F64Lt
            | F64Gt
            | F64Le
            | F64Ge
    )
}

/// Float-to-int conversions, trapping or saturating.
fn trunc_to_int(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        I32TruncF32S
            | I32TruncF32U
            | I32TruncF64S
            | I32TruncF64U
            | I64TruncF32S
            | I64TruncF32U
            | I64TruncF64S
            | I64TruncF64U
            | I32TruncSatF32S
            | I32TruncSatF32U
            | I32TruncSatF64S
            | I32TruncSatF64U
            | I64TruncSatF32S
            | I64TruncSatF32U
            | I64TruncSatF64S
            | I64TruncSatF64U
    )
}

/// What `op` pops and pushes, for operators that only move values on the stack; `None`
/// for anything else (control, calls, memory, tables), which ends the search.
fn stack_effect(op: &Operator<'_>) -> Option<(usize, usize)> {
    use Operator::*;
    if blind_binary(op) {
        return Some((2, 1));
    }
    if scalar_nan_producing(op) || trunc_to_int(op) {
        // The unary ones (the binary ones are blind_binary).
        return Some((1, 1));
    }
    Some(match op {
        F32Const { .. }
        | F64Const { .. }
        | I32Const { .. }
        | I64Const { .. }
        | LocalGet { .. }
        | GlobalGet { .. } => (0, 1),
        F32Neg
        | F32Abs
        | F64Neg
        | F64Abs
        | I32ReinterpretF32
        | I64ReinterpretF64
        | F32ReinterpretI32
        | F64ReinterpretI64
        | F32ConvertI32S
        | F32ConvertI32U
        | F32ConvertI64S
        | F32ConvertI64U
        | F64ConvertI32S
        | F64ConvertI32U
        | F64ConvertI64S
        | F64ConvertI64U
        | I32Eqz
        | I64Eqz
        | I32WrapI64
        | I64ExtendI32S
        | I64ExtendI32U
        | LocalTee { .. } => (1, 1),
        // A load takes an address pushed above the result, so the search goes on past it
        // (it may trap, and a trap observes no value on the stack).
        op if crate::ops::is_load(op) => (1, 1),
        F32Copysign | F64Copysign | I32Add | I32Sub | I32Mul | I32And | I32Or | I32Xor | I32Shl
        | I32ShrS | I32ShrU | I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS
        | I32LeU | I32GeS | I32GeU | I64Add | I64Sub | I64Mul | I64And | I64Or | I64Xor
        | I64Shl | I64ShrS | I64ShrU => (2, 1),
        Drop | LocalSet { .. } | GlobalSet { .. } => (1, 0),
        Select | TypedSelect { .. } => (3, 1),
        _ => return None,
    })
}

/// The positive canonical NaN in each lane of an f32x4.
const F32X4_CANONICAL: u128 = 0x7fc0_0000_7fc0_0000_7fc0_0000_7fc0_0000;
/// The positive canonical NaN in each lane of an f64x2.
const F64X2_CANONICAL: u128 = 0x7ff8_0000_0000_0000_7ff8_0000_0000_0000;

/// The scratch locals the checks use, one per type.
#[derive(Clone, Copy)]
pub(crate) struct Scratch {
    pub(crate) f32: u32,
    pub(crate) f64: u32,
    /// `None` in a function without vector checks (a v128 local would make the module
    /// invalid on an engine built without SIMD).
    pub(crate) v128: Option<u32>,
    /// The two v128 locals that hold the canonical NaN in every lane of an f32x4 and of an
    /// f64x2 ([`set_canonical`]), in a function with vector checks.
    pub(crate) canonical: Option<VectorCanonical>,
}

/// The locals that hold the canonical NaN of each vector shape, set at a function's entry.
#[derive(Clone, Copy)]
pub(crate) struct VectorCanonical {
    pub(crate) f32x4: u32,
    pub(crate) f64x2: u32,
}

/// Emits, at a function's entry, the setting of the locals of `canonical`.
pub(crate) fn set_canonical(f: &mut Function, canonical: VectorCanonical) {
    for (local, bits) in [
        (canonical.f32x4, F32X4_CANONICAL),
        (canonical.f64x2, F64X2_CANONICAL),
    ] {
        f.instruction(&Instruction::V128Const(bits as i128))
            .instruction(&Instruction::LocalSet(local));
    }
}

/// Emits the check after `op` when it may produce a NaN. The caller decides with
/// [`needed`] whether the check is due.
pub(crate) fn after(op: &Operator<'_>, f: &mut Function, scratch: Scratch) {
    if let Some(shape) = nan_producing(op) {
        check(shape, f, scratch);
    }
}

/// Emits the check of a result of `shape` on top of the stack.
pub(crate) fn check(shape: Shape, f: &mut Function, scratch: Scratch) {
    let (f32_tmp, f64_tmp) = (scratch.f32, scratch.f64);
    match shape {
        Shape::F32x4 | Shape::F64x2 => {
            let v = scratch
                .v128
                .expect("a function with vector checks has a v128 scratch local");
            let canonical = scratch
                .canonical
                .expect("a function with vector checks has its canonical NaNs in locals");
            let (canonical, eq) = match shape {
                Shape::F32x4 => (canonical.f32x4, Instruction::F32x4Eq),
                _ => (canonical.f64x2, Instruction::F64x2Eq),
            };
            f.instruction(&Instruction::LocalTee(v))
                .instruction(&Instruction::LocalGet(canonical))
                .instruction(&Instruction::LocalGet(v))
                .instruction(&Instruction::LocalGet(v))
                .instruction(&eq)
                .instruction(&Instruction::V128Bitselect);
        }
        // A branch rather than a `select`: a NaN is rare, so the branch is predicted and
        // costs next to nothing, where a select waits on the comparison every time.
        Shape::F32 => scalar_check(
            f,
            f32_tmp,
            &Instruction::F32Ge,
            &Instruction::F32Const(f32::from_bits(0x7fc0_0000).into()),
        ),
        Shape::F64 => scalar_check(
            f,
            f64_tmp,
            &Instruction::F64Ge,
            &Instruction::F64Const(f64::from_bits(0x7ff8_0000_0000_0000).into()),
        ),
    }
}

/// The scalar check: `r >= r` holds for every number and fails for a NaN alone, and leaves
/// the block; otherwise the canonical NaN takes `r`'s place. `>=` rather than `!=`: on
/// x86_64 an unordered-or-unequal test is two flag tests (cranelift emits `ucomisd; jp;
/// je`), where `>=` is one (`ucomisd; jae`), one instruction and one branch less per check.
fn scalar_check(f: &mut Function, tmp: u32, ge: &Instruction<'_>, canonical: &Instruction<'_>) {
    f.instruction(&Instruction::LocalSet(tmp))
        .instruction(&Instruction::Block(BlockType::Empty))
        .instruction(&Instruction::LocalGet(tmp))
        .instruction(&Instruction::LocalGet(tmp))
        .instruction(ge)
        .instruction(&Instruction::BrIf(0))
        .instruction(canonical)
        .instruction(&Instruction::LocalSet(tmp))
        .instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(tmp));
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::Operator::*;

    /// [`super::needed`] in a function without blind locals.
    fn needed(op: &Operator<'_>, following: &[Operator<'_>]) -> bool {
        super::needed(op, following, &BlindLocals::default())
    }

    #[test]
    fn a_chain_of_tees_into_blind_locals_is_searched_within_the_window() {
        // A hostile body: a result teed into a blind local a hundred thousand times. The
        // search goes on past each tee iteratively, so it ends at the window, not in a
        // native stack overflow; unresolved there, the result is checked.
        let mut ops = vec![LocalGet { local_index: 0 }; 2];
        ops.push(F32Add);
        ops.extend(std::iter::repeat_n(LocalTee { local_index: 1 }, 100_000));
        ops.extend([LocalGet { local_index: 1 }, F32Sqrt, Drop, Drop]);
        let blind = BlindLocals::of(&ops);
        assert!(super::needed(&F32Add, &ops[3..], &blind));
        // A short chain ending in a blind consumer needs no check.
        let short = [
            LocalTee { local_index: 1 },
            LocalTee { local_index: 1 },
            F32Sqrt,
        ];
        let blind = BlindLocals::of(&short);
        assert!(!super::needed(&F32Add, &short, &blind));
    }

    #[test]
    fn a_result_is_canonicalized_unless_its_consumer_is_blind_to_nan_bits() {
        let blind = [
            F32Mul,
            F32Sqrt,
            F64PromoteF32,
            F32Lt,
            F32Ne,
            I32TruncSatF32S,
            Drop,
        ];
        for next in &blind {
            assert!(
                !needed(&F32Add, std::slice::from_ref(next)),
                "add then {next:?}"
            );
        }
        let observing = [
            F32Neg,
            F32Abs,
            F32Copysign,
            I32ReinterpretF32,
            LocalSet { local_index: 0 },
            LocalTee { local_index: 0 },
            GlobalSet { global_index: 0 },
            Select,
            Call { function_index: 0 },
            Return,
            End,
            Br { relative_depth: 0 },
        ];
        for next in &observing {
            assert!(
                needed(&F32Add, std::slice::from_ref(next)),
                "add then {next:?}"
            );
        }
        assert!(needed(&F64Div, &[]), "the last operator of a body");
        // Operators that cannot make a NaN of their own never need it.
        assert!(!needed(&F32Neg, &[]) && !needed(&F32Copysign, &[Return]));
    }

    /// The operators of `text`, a function body in WAT (not type-checked).
    fn ops(text: &str) -> Vec<Operator<'static>> {
        let wat = format!("(module (memory 1) (func {text}))");
        let wasm = wat::parse_str(wat).unwrap();
        let mut ops = crate::ops::first_body(Box::leak(wasm.into_boxed_slice()));
        ops.pop(); // the body's own `end`
        ops
    }

    #[test]
    fn a_vector_result_is_left_alone_only_for_a_consumer_reading_its_own_shape() {
        let after = |op: Operator<'_>, text: &str| needed(&op, &ops(text));
        // c + a * b, the product's consumer two loads away: blind.
        assert!(!after(F64x2Mul, "f64x2.add"));
        assert!(!after(F64x2Mul, "local.get 0 v128.load f64x2.add"));
        assert!(!after(F32x4Sqrt, "f32x4.lt"));
        // Read as other lanes, a NaN's payload is numbers: checked.
        assert!(after(F64x2Mul, "f32x4.add"));
        assert!(!after(F64x2Mul, "f32x4.demote_f64x2_zero"));
        assert!(after(F32x4Mul, "f32x4.demote_f64x2_zero"));
        assert!(after(F64x2Mul, "f64x2.promote_low_f32x4"));
        assert!(!after(F32x4Mul, "f64x2.promote_low_f32x4"));
        // Observed: stored, kept, moved as bits, or the function's end.
        for next in [
            "v128.store",
            "local.set 1",
            "f64x2.neg",
            "v128.not",
            "return",
        ] {
            assert!(after(F64x2Add, next), "add then {next}");
        }
        assert!(after(F64x2Add, ""));
    }

    #[test]
    fn one_pushed_operand_may_come_between_a_result_and_its_binary_consumer() {
        let one = F32Const {
            value: wasmparser::Ieee32::from(1.0f32),
        };
        let x = LocalGet { local_index: 0 };
        assert!(!needed(&F32Mul, &[one.clone(), F32Add]), "x * x + 1");
        assert!(!needed(&F32Sqrt, &[x.clone(), F32Lt]), "sqrt(x) < y");
        // The unary operator after the push consumes the pushed value, not the result.
        assert!(needed(&F32Mul, &[x.clone(), F32Sqrt]));
        // Copysign keeps its first operand's payload.
        assert!(needed(&F32Mul, &[x.clone(), F32Copysign]));
        // Two pushes: the binary operator consumes those two, and the search goes on.
        let quarter = [x.clone(), one.clone(), F32Mul];
        assert!(
            !needed(&F32Div, &[&quarter[..], &[F32Add]].concat()),
            "a / b + y * 0.25"
        );
        assert!(needed(&F32Div, &[&quarter[..], &[F32Copysign]].concat()));
        assert!(
            needed(&F32Mul, &[x.clone(), x.clone(), F32Add]),
            "ends under a value"
        );
        // A branch, a call or a store ends the search.
        assert!(needed(&F32Mul, &[x, Br { relative_depth: 0 }, F32Add]));
        // What follows the consumer does not matter: its own result is checked in turn.
        assert!(!needed(
            &F32Add,
            &[one, F32Add, LocalSet { local_index: 1 }]
        ));
    }
}
