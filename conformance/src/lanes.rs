//! The SIMD lane probes: every f32x4 and f64x2 float operation against the scalar matrix's
//! edge values (every pair of them, lane by lane), and every relaxed SIMD operation against
//! the inputs where processors and engines part ways (bytes of −128 in the dot products,
//! MIN·MIN in q15mulr, swizzle indices past 15, NaN and out-of-range truncations, partial
//! laneselect masks, ±0 and NaN in relaxed min/max, fused against unfused multiply-add).
//!
//! The results go into a [`Matrix`] like the scalar probes', classified lane by lane: a
//! NaN lane may differ within the set the spec allows ([`Verdict::AllowedNan`]); a relaxed
//! operation may give any of the spec's results in the default profile
//! ([`Verdict::AllowedRelaxed`]); in the deterministic profile every engine must give the
//! same bits, and every NaN lane of a float result the positive canonical NaN.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, Value, WasmError};

use crate::probes::{
    self, Case, F32_OPERANDS, F64_OPERANDS, Matrix, Outcome, Verdict, all_spec_allowed_nans,
};

/// The lanes of a v128 read as floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Four f32 lanes.
    F32x4,
    /// Two f64 lanes.
    F64x2,
}

impl Shape {
    fn count(self) -> usize {
        match self {
            Shape::F32x4 => 4,
            Shape::F64x2 => 2,
        }
    }

    /// Lane `k` of `v`, as a float value.
    fn lane(self, v: u128, k: usize) -> Value {
        match self {
            Shape::F32x4 => Value::F32((v >> (32 * k)) as u32),
            Shape::F64x2 => Value::F64((v >> (64 * k)) as u64),
        }
    }

    /// The v128 of `lanes` (floats of this shape), lane 0 first; missing lanes are +0.
    fn pack(self, lanes: &[Value]) -> Value {
        Value::V128(lanes.iter().enumerate().fold(0, |v, (k, lane)| {
            v | match *lane {
                Value::F32(b) => u128::from(b) << (32 * k),
                Value::F64(b) => u128::from(b) << (64 * k),
                _ => 0,
            }
        }))
    }

    /// The scalar matrix's edge values, as lanes.
    fn edges(self) -> Vec<Value> {
        match self {
            Shape::F32x4 => F32_OPERANDS.iter().map(|b| Value::F32(*b)).collect(),
            Shape::F64x2 => F64_OPERANDS.iter().map(|b| Value::F64(*b)).collect(),
        }
    }

    /// A product `a·a` that rounds to `1 + 2^-k` exactly when unfused, and the negation of
    /// that sum: with them, `madd(a, a, c)` is 0 unfused and a tiny number fused.
    fn fused_witness(self) -> (Value, Value) {
        match self {
            Shape::F32x4 => (Value::F32(0x3f80_0800), Value::F32(0xbf80_1000)),
            Shape::F64x2 => (
                Value::F64(0x3ff0_0000_0800_0000),
                Value::F64(0xbff0_0000_1000_0000),
            ),
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Shape::F32x4 => "f32x4",
            Shape::F64x2 => "f64x2",
        }
    }
}

/// How an operation's results may differ between engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Float arithmetic: a NaN lane may be any NaN of the set the spec allows; the
    /// positive canonical NaN in the deterministic profile.
    Arithmetic,
    /// Bits moved, not computed (abs, neg, pmin, pmax): every engine the same bits.
    Bits,
    /// A relaxed operation: any of the spec's results in the default profile, the spec's
    /// deterministic one in the deterministic profile (checked across engines, and in
    /// `tests/suite/simd.rs` against the exact values).
    Relaxed,
}

/// One vector operation probed.
#[derive(Clone, Debug)]
pub struct Operator {
    /// The instruction, which is also the export's name.
    pub name: String,
    /// How many v128 operands it takes.
    pub arity: usize,
    /// The float shape of its operands, when they are floats (the integer relaxed
    /// operations take bit patterns: [`bit_patterns`]).
    pub args: Option<Shape>,
    /// The float shape of its result, when it is floats.
    pub result: Option<Shape>,
    /// How its results may differ.
    pub kind: Kind,
}

/// Every vector operation of the lane probes.
pub fn operators() -> Vec<Operator> {
    let mut ops = Vec::new();
    let mut op = |name: String, arity, args, result, kind| {
        ops.push(Operator {
            name,
            arity,
            args,
            result,
            kind,
        })
    };
    for shape in [Shape::F32x4, Shape::F64x2] {
        let t = shape.prefix();
        let float = Some(shape);
        for u in ["sqrt", "ceil", "floor", "trunc", "nearest"] {
            op(format!("{t}.{u}"), 1, float, float, Kind::Arithmetic);
        }
        for u in ["abs", "neg"] {
            op(format!("{t}.{u}"), 1, float, float, Kind::Bits);
        }
        for b in ["add", "sub", "mul", "div", "min", "max"] {
            op(format!("{t}.{b}"), 2, float, float, Kind::Arithmetic);
        }
        for b in ["pmin", "pmax"] {
            op(format!("{t}.{b}"), 2, float, float, Kind::Bits);
        }
        for b in ["relaxed_min", "relaxed_max"] {
            op(format!("{t}.{b}"), 2, float, float, Kind::Relaxed);
        }
        for m in ["relaxed_madd", "relaxed_nmadd"] {
            op(format!("{t}.{m}"), 3, float, float, Kind::Relaxed);
        }
    }
    let (f32x4, f64x2) = (Some(Shape::F32x4), Some(Shape::F64x2));
    op(
        "f32x4.demote_f64x2_zero".into(),
        1,
        f64x2,
        f32x4,
        Kind::Arithmetic,
    );
    op(
        "f64x2.promote_low_f32x4".into(),
        1,
        f32x4,
        f64x2,
        Kind::Arithmetic,
    );
    for (name, args) in [
        ("i32x4.relaxed_trunc_f32x4_s", f32x4),
        ("i32x4.relaxed_trunc_f32x4_u", f32x4),
        ("i32x4.relaxed_trunc_f64x2_s_zero", f64x2),
        ("i32x4.relaxed_trunc_f64x2_u_zero", f64x2),
    ] {
        op(name.into(), 1, args, None, Kind::Relaxed);
    }
    for (name, arity) in [
        ("i8x16.relaxed_swizzle", 2),
        ("i16x8.relaxed_q15mulr_s", 2),
        ("i16x8.relaxed_dot_i8x16_i7x16_s", 2),
        ("i32x4.relaxed_dot_i8x16_i7x16_add_s", 3),
        ("i8x16.relaxed_laneselect", 3),
        ("i16x8.relaxed_laneselect", 3),
        ("i32x4.relaxed_laneselect", 3),
        ("i64x2.relaxed_laneselect", 3),
    ] {
        op(name.into(), arity, None, None, Kind::Relaxed);
    }
    ops
}

/// The v128 operands of the integer relaxed operations: the bit patterns where engines and
/// processors part ways, and some ordinary ones.
pub fn bit_patterns() -> Vec<u128> {
    let bytes = |b: u8| u128::from_le_bytes([b; 16]);
    let i16s = |lanes: [u16; 8]| {
        lanes
            .iter()
            .rev()
            .fold(0u128, |v, l| v << 16 | u128::from(*l))
    };
    vec![
        0,
        bytes(0x80), // i8 MIN everywhere: the dot products' saturation
        bytes(0x7f),
        bytes(0xff),
        u128::from_le_bytes(std::array::from_fn(|i| i as u8)), // 0..15: a swizzle's identity
        u128::from_le_bytes(std::array::from_fn(|i| 16 + i as u8)), // past 15: zeros
        u128::from_le_bytes(std::array::from_fn(|i| 0x80 | i as u8)), // top bit set
        bytes(0x0f),                                           // a partial laneselect mask
        i16s([0x8000, 0x7fff, 0x8000, 1, 0xffff, 0x4000, 0xc000, 0x8001]), // q15 edges
    ]
}

/// The third operands of the ternary integer operations (accumulators and masks).
fn third_patterns() -> Vec<u128> {
    let p = bit_patterns();
    vec![p[0], p[1], p[3], p[7]]
}

/// Every case of the lane probes, in a fixed order. Float operands cover every pair (or
/// triple, the third from a few values and the fused witness) of the scalar edge values,
/// `shape.count()` of them per case, one per lane.
pub fn cases(ops: &[Operator]) -> Vec<Case> {
    let mut cases = Vec::new();
    for op in ops {
        let tuples: Vec<Vec<Value>> = match op.args {
            Some(shape) => float_tuples(shape, op.arity)
                .chunks(shape.count())
                .map(|lanes| {
                    (0..op.arity)
                        .map(|i| shape.pack(&lanes.iter().map(|t| t[i]).collect::<Vec<_>>()))
                        .collect()
                })
                .collect(),
            None => {
                let firsts = bit_patterns();
                let thirds = if op.arity == 3 {
                    third_patterns()
                } else {
                    vec![0]
                };
                let mut tuples = Vec::new();
                for a in &firsts {
                    for b in &firsts {
                        for c in &thirds {
                            let all = [*a, *b, *c].map(Value::V128);
                            tuples.push(all[..op.arity].to_vec());
                        }
                    }
                }
                tuples
            }
        };
        cases.extend(tuples.into_iter().map(|args| Case {
            op: op.name.clone(),
            args,
        }));
    }
    cases
}

/// The scalar operand tuples of a float operation, before they are packed into lanes.
fn float_tuples(shape: Shape, arity: usize) -> Vec<Vec<Value>> {
    let edges = shape.edges();
    match arity {
        1 => edges.into_iter().map(|a| vec![a]).collect(),
        2 => edges
            .iter()
            .flat_map(|a| edges.iter().map(move |b| vec![*a, *b]))
            .collect(),
        _ => {
            // madd: every pair with the witness, against a few addends.
            let (witness, minus_square) = shape.fused_witness();
            let mut factors = edges.clone();
            factors.push(witness);
            let addends = [0, 1, 2, 8, 10, 12].map(|i| edges[i]);
            let addends = addends
                .into_iter()
                .chain([minus_square])
                .collect::<Vec<_>>();
            let mut tuples = Vec::new();
            for a in &factors {
                for b in &factors {
                    tuples.extend(addends.iter().map(|c| vec![*a, *b, *c]));
                }
            }
            tuples
        }
    }
}

/// The probe module: one export per operation, named as it.
fn module_wat(ops: &[Operator]) -> String {
    let mut wat = String::from("(module\n");
    for op in ops {
        let params = vec!["v128"; op.arity].join(" ");
        let gets: String = (0..op.arity).map(|i| format!("local.get {i} ")).collect();
        wat += &format!(
            "  (func (export \"{}\") (param {params}) (result v128) {gets}{})\n",
            op.name, op.name
        );
    }
    wat + ")\n"
}

/// The probe module with each case's operands as constants, `c{index}`, for the engines'
/// constant folding.
fn constant_module_wat(cases: &[Case]) -> String {
    let mut wat = String::from("(module\n");
    for (i, case) in cases.iter().enumerate() {
        let operands: Vec<String> = case.args.iter().map(probes::constant).collect();
        wat += &format!(
            "  (func (export \"c{i}\") (result v128) {} {})\n",
            operands.join(" "),
            case.op
        );
    }
    wat + ")\n"
}

/// Runs every case on `engine`.
fn run(
    engine: &AnyEngine,
    ops: &[Operator],
    cases: &[Case],
    constant: bool,
) -> Result<Vec<Outcome>, WasmError> {
    let wat = if constant {
        constant_module_wat(cases)
    } else {
        module_wat(ops)
    };
    let mut instance = engine
        .compile(&wasmhost::wat2wasm(wat)?)?
        .instantiate(&HostFunctions::new(), ())?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let outcome = if constant {
                instance.call_raw(&format!("c{i}"), &[])
            } else {
                instance.call_raw(&case.op, &case.args)
            };
            outcome.and_then(|mut v| v.pop().ok_or_else(|| WasmError::Engine("no result".into())))
        })
        .collect())
}

/// [`classify`] for a case of one of `ops`, found by name; `None` when none is its operator
/// (a report of another version).
pub fn classify_listed(
    ops: &[Operator],
    case: &Case,
    outcomes: &[&Outcome],
    deterministic: bool,
) -> Option<Verdict> {
    let op = ops.iter().find(|o| o.name == case.op)?;
    Some(classify(op, case, outcomes, deterministic))
}

/// Classifies one case's results across engines, lane by lane.
pub fn classify(op: &Operator, case: &Case, outcomes: &[&Outcome], deterministic: bool) -> Verdict {
    let bits = |o: &&Outcome| match o {
        Ok(Value::V128(b)) => Some(*b),
        _ => None,
    };
    let Some(results) = outcomes.iter().map(bits).collect::<Option<Vec<u128>>>() else {
        // A vector operation never traps: any error is a divergence, unless all agree.
        return if outcomes.windows(2).all(|w| w[0] == w[1]) {
            Verdict::Agree
        } else {
            Verdict::Divergence
        };
    };
    if let (true, Some(shape)) = (deterministic && op.kind != Kind::Bits, op.result) {
        let canonical = |v: &u128| {
            (0..shape.count()).all(|k| match shape.lane(*v, k) {
                Value::F32(b) if f32::from_bits(b).is_nan() => b == 0x7fc0_0000,
                Value::F64(b) if f64::from_bits(b).is_nan() => b == 0x7ff8_0000_0000_0000,
                _ => true,
            })
        };
        if !results.iter().all(canonical) {
            return Verdict::Divergence;
        }
    }
    if op.kind == Kind::Relaxed {
        // Every engine's result must be one of the spec's alternatives (in the
        // deterministic profile, too: its answer is one of them), agreeing or not.
        let args: Vec<u128> = case
            .args
            .iter()
            .filter_map(|a| match a {
                Value::V128(v) => Some(*v),
                _ => None,
            })
            .collect();
        let permitted = |r: &u128| crate::relaxed::permitted(&op.name, &args, *r) == Some(true);
        if !results.iter().all(permitted) {
            return Verdict::Divergence;
        }
    }
    if results.windows(2).all(|w| w[0] == w[1]) {
        return Verdict::Agree;
    }
    match (deterministic, op.kind, op.result) {
        (true, ..) | (false, Kind::Bits, _) => Verdict::Divergence,
        (false, Kind::Relaxed, _) => Verdict::AllowedRelaxed,
        (false, Kind::Arithmetic, Some(shape)) => {
            let allowed = (0..shape.count()).all(|k| {
                let lanes: Vec<Outcome> = results.iter().map(|v| Ok(shape.lane(*v, k))).collect();
                if lanes.windows(2).all(|w| w[0] == w[1]) {
                    return true;
                }
                // The lane's own operands where the shapes match; all of them otherwise.
                let inputs: Vec<Value> = match op.args {
                    Some(args) if args == shape => case
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            Value::V128(v) => Some(args.lane(*v, k)),
                            _ => None,
                        })
                        .collect(),
                    Some(args) => case
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            Value::V128(v) => Some(*v),
                            _ => None,
                        })
                        .flat_map(|v| (0..args.count()).map(move |j| args.lane(v, j)))
                        .collect(),
                    None => Vec::new(),
                };
                all_spec_allowed_nans(&inputs, &lanes.iter().collect::<Vec<_>>())
            });
            if allowed {
                Verdict::AllowedNan
            } else {
                Verdict::Divergence
            }
        }
        (false, Kind::Arithmetic, None) => Verdict::Divergence,
    }
}

/// Runs the lane probes on `engines`, which must share one profile; with the operands as
/// constants in the module when `constant`.
///
/// # Errors
/// When an engine cannot run the probe module (every engine must: SIMD is in the contract).
pub fn run_matrix(engines: &[AnyEngine], constant: bool) -> Result<Matrix, WasmError> {
    let deterministic = engines.first().is_some_and(|e| e.config().deterministic);
    let ops = operators();
    let cases = cases(&ops);
    let per_engine = engines
        .iter()
        .map(|e| run(e, &ops, &cases, constant))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Matrix::classified(
        engines,
        constant,
        cases,
        &per_engine,
        |case, outcomes| {
            classify_listed(&ops, case, outcomes, deterministic).expect("case of a listed op")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> Operator {
        operators().into_iter().find(|o| o.name == name).unwrap()
    }

    #[test]
    fn float_operands_cover_every_pair_of_edge_values_lane_by_lane() {
        let ops = operators();
        let cases = cases(&ops);
        let div: Vec<_> = cases.iter().filter(|c| c.op == "f32x4.div").collect();
        assert_eq!(div.len(), F32_OPERANDS.len() * F32_OPERANDS.len() / 4);
        let mut pairs: Vec<(Value, Value)> = div
            .iter()
            .flat_map(|c| match c.args[..] {
                [Value::V128(a), Value::V128(b)] => (0..4)
                    .map(|k| (Shape::F32x4.lane(a, k), Shape::F32x4.lane(b, k)))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        pairs.sort_by_key(|(a, b)| (a.to_string(), b.to_string()));
        pairs.dedup();
        assert_eq!(pairs.len(), 256);
        assert!(wasmhost::wat2wasm(module_wat(&ops)).is_ok());
        assert!(wasmhost::wat2wasm(constant_module_wat(&cases[..50])).is_ok());
    }

    #[test]
    fn lanes_are_classified_in_their_operations_shape() {
        let div = op("f32x4.div");
        let zeros = Shape::F32x4.pack(&[Value::F32(0); 4]);
        let case = Case {
            op: div.name.clone(),
            args: vec![zeros, zeros],
        };
        // 0/0 in every lane: a negative canonical NaN in one engine's lane 2 is allowed...
        let pos = Ok(Shape::F32x4.pack(&[Value::F32(0x7fc0_0000); 4]));
        let neg = Ok(Shape::F32x4.pack(&[
            Value::F32(0x7fc0_0000),
            Value::F32(0x7fc0_0000),
            Value::F32(0xffc0_0000),
            Value::F32(0x7fc0_0000),
        ]));
        assert_eq!(
            classify(&div, &case, &[&pos, &neg], false),
            Verdict::AllowedNan
        );
        // ...but not in the deterministic profile, nor a payload from canonical inputs.
        assert_eq!(
            classify(&div, &case, &[&pos, &neg], true),
            Verdict::Divergence
        );
        let payload = Ok(Shape::F32x4.pack(&[Value::F32(0x7fc0_0001); 4]));
        assert_eq!(
            classify(&div, &case, &[&pos, &payload], false),
            Verdict::Divergence
        );
        // A relaxed choice (fused or not) is allowed in the default profile only, and
        // only among the spec's alternatives.
        let madd = op("f32x4.relaxed_madd");
        let (witness, minus_square) = Shape::F32x4.fused_witness();
        let madd_case = Case {
            op: madd.name.clone(),
            args: [witness, witness, minus_square]
                .map(|l| Shape::F32x4.pack(&[l; 4]))
                .to_vec(),
        };
        let (Value::F32(x), Value::F32(c)) = (witness, minus_square) else {
            unreachable!()
        };
        let (x, c) = (f32::from_bits(x), f32::from_bits(c));
        let lanes = |v: f32| Ok(Shape::F32x4.pack(&[Value::F32(v.to_bits()); 4]));
        let (fused, unfused) = (lanes(x.mul_add(x, c)), lanes(x * x + c));
        assert_ne!(fused, unfused);
        assert_eq!(
            classify(&madd, &madd_case, &[&fused, &unfused], false),
            Verdict::AllowedRelaxed
        );
        assert_eq!(
            classify(&madd, &madd_case, &[&fused, &unfused], true),
            Verdict::Divergence
        );
        let wrong = lanes(1.0);
        assert_eq!(
            classify(&madd, &madd_case, &[&fused, &wrong], false),
            Verdict::Divergence
        );
        let (one, two) = (Ok(Value::V128(1)), Ok(Value::V128(2)));
        // Bit operations must agree.
        assert_eq!(
            classify(&op("f64x2.neg"), &case, &[&one, &two], false),
            Verdict::Divergence
        );
    }
}
