//! The float/NaN probe matrix: every scalar float operator of wasm against operands that
//! include signed zeros, infinities, subnormals, normals, canonical NaNs of both signs,
//! quiet NaNs with payloads and signalling NaNs. Results are compared by exact bits.

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, HostFunctions, ValType, Value, WasmError};

/// f32 operands, as bits.
pub const F32_OPERANDS: [u32; 16] = [
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x0000_0001, // smallest subnormal
    0x007f_ffff, // largest subnormal
    0x0080_0000, // smallest normal
    0x7f7f_ffff, // largest normal
    0x3f80_0000, // 1.0
    0xc020_0000, // -2.5 (ties for nearest)
    0x7fc0_0000, // +canonical NaN
    0xffc0_0000, // -canonical NaN
    0x7fd2_3456, // +quiet NaN with payload
    0xffd2_3456, // -quiet NaN with payload
    0x7fa0_0000, // +signalling NaN
    0xff80_0001, // -signalling NaN
];

/// f64 operands, as bits.
pub const F64_OPERANDS: [u64; 16] = [
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x0000_0000_0000_0001,
    0x000f_ffff_ffff_ffff,
    0x0010_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000,
    0xc004_0000_0000_0000, // -2.5
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ffa_3456_789a_bcde,
    0xfffa_3456_789a_bcde,
    0x7ff4_0000_0000_0000,
    0xfff0_0000_0000_0001,
];

/// Integer operands for int-to-float conversions.
pub const I32_OPERANDS: [i32; 7] = [0, 1, -1, i32::MIN, i32::MAX, 16_777_217, -16_777_217];
/// Integer operands for int-to-float conversions.
pub const I64_OPERANDS: [i64; 7] = [
    0,
    1,
    -1,
    i64::MIN,
    i64::MAX,
    9_007_199_254_740_993,
    -9_007_199_254_740_993,
];

/// One operator probed: its name (an export of the probe module), its signature, and
/// whether the spec lets it produce a NaN of unspecified sign and payload.
#[derive(Clone, Debug)]
pub struct Operator {
    /// Export name, e.g. `f32.add`, `f32.store+i32.load`.
    pub name: String,
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result type.
    pub result: ValType,
    /// The WAT body computing the result from the parameters.
    body: String,
    /// The spec allows a set of NaN results (arithmetic operators), not one exact result.
    pub nan_nondeterministic: bool,
    /// In the deterministic profile, a NaN result must be the positive canonical NaN: true
    /// for arithmetic, false for a chain that ends in a bit operation (a negated canonical
    /// NaN is negative), where the engines must still agree bit for bit.
    pub canonical_when_deterministic: bool,
}

/// Every operator of the matrix.
pub fn operators() -> Vec<Operator> {
    use ValType::*;
    let mut ops = Vec::new();
    let mut op = |name: String, params: &[ValType], result, body: String, nd: bool| {
        ops.push(Operator {
            name,
            params: params.to_vec(),
            result,
            body,
            nan_nondeterministic: nd,
            canonical_when_deterministic: nd,
        })
    };
    for (t, ty) in [("f32", F32), ("f64", F64)] {
        for u in ["sqrt", "ceil", "floor", "trunc", "nearest"] {
            op(
                format!("{t}.{u}"),
                &[ty],
                ty,
                format!("local.get 0 {t}.{u}"),
                true,
            );
        }
        for u in ["abs", "neg"] {
            op(
                format!("{t}.{u}"),
                &[ty],
                ty,
                format!("local.get 0 {t}.{u}"),
                false,
            );
        }
        for b in ["add", "sub", "mul", "div", "min", "max"] {
            op(
                format!("{t}.{b}"),
                &[ty, ty],
                ty,
                format!("local.get 0 local.get 1 {t}.{b}"),
                true,
            );
        }
        op(
            format!("{t}.copysign"),
            &[ty, ty],
            ty,
            format!("local.get 0 local.get 1 {t}.copysign"),
            false,
        );
        for (i, ity) in [("i32", I32), ("i64", I64)] {
            for conv in ["trunc", "trunc_sat"] {
                for sign in ["s", "u"] {
                    let name = format!("{i}.{conv}_{t}_{sign}");
                    op(
                        name.clone(),
                        &[ty],
                        ity,
                        format!("local.get 0 {name}"),
                        false,
                    );
                }
            }
            for sign in ["s", "u"] {
                let name = format!("{t}.convert_{i}_{sign}");
                op(
                    name.clone(),
                    &[ity],
                    ty,
                    format!("local.get 0 {name}"),
                    false,
                );
            }
        }
        let (bits, bty) = if t == "f32" {
            ("i32", I32)
        } else {
            ("i64", I64)
        };
        op(
            format!("{bits}.reinterpret_{t}"),
            &[ty],
            bty,
            format!("local.get 0 {bits}.reinterpret_{t}"),
            false,
        );
        op(
            format!("{t}.reinterpret_{bits}"),
            &[bty],
            ty,
            format!("local.get 0 {t}.reinterpret_{bits}"),
            false,
        );
        op(
            format!("{t}.store+{t}.load"),
            &[ty],
            ty,
            format!("i32.const 8 local.get 0 {t}.store i32.const 8 {t}.load"),
            false,
        );
        op(
            format!("{t}.store+{bits}.load"),
            &[ty],
            bty,
            format!("i32.const 8 local.get 0 {t}.store i32.const 8 {bits}.load"),
            false,
        );
    }
    op(
        "f64.promote_f32".into(),
        &[F32],
        F64,
        "local.get 0 f64.promote_f32".into(),
        true,
    );
    op(
        "f32.demote_f64".into(),
        &[F64],
        F32,
        "local.get 0 f32.demote_f64".into(),
        true,
    );
    ops.extend(chains());
    ops
}

/// Chains: an arithmetic result consumed straight away by another operator. The
/// deterministic profile canonicalizes a result only where its bits can be observed
/// (`wasmhost_instrument::canonicalize::needed`); these show that the bits are those of
/// canonicalizing everywhere: the engines must agree, and the oracle (wasmi's own
/// `deterministic` feature, which canonicalizes every result) must agree with them.
fn chains() -> Vec<Operator> {
    use ValType::*;
    let mut ops = Vec::new();
    for (t, ty, bits, bty) in [("f32", F32, "i32", I32), ("f64", F64, "i64", I64)] {
        let mut chain = |name: &str, result, body: String, canonical| {
            ops.push(Operator {
                name: format!("{t}.chain:{name}"),
                params: vec![ty, ty],
                result,
                body,
                nan_nondeterministic: true,
                canonical_when_deterministic: canonical,
            })
        };
        let ab = "local.get 0 local.get 1";
        // Blind consumers: the first result is not canonicalized, the last one is.
        chain(
            "add>mul",
            ty,
            format!("local.get 0 {ab} {t}.add {t}.mul"),
            true,
        );
        chain(
            "sub>sqrt>floor",
            ty,
            format!("{ab} {t}.sub {t}.sqrt {t}.floor"),
            true,
        );
        chain(
            "div>min",
            ty,
            format!("local.get 1 {ab} {t}.div {t}.min"),
            true,
        );
        chain(
            "mul>ne",
            I32,
            format!("local.get 0 {ab} {t}.mul {t}.ne"),
            false,
        );
        chain(
            "add>trunc_sat",
            I32,
            format!("{ab} {t}.add i32.trunc_sat_{t}_s"),
            false,
        );
        chain(
            "max>drop",
            ty,
            format!("local.get 0 {ab} {t}.max drop"),
            false,
        );
        // Values pushed and consumed between the result and its consumer: `a / b + x / 4`.
        let quarter = format!("local.get 0 {t}.const 0.25 {t}.mul");
        chain(
            "div>quarter>add",
            ty,
            format!("{ab} {t}.div {quarter} {t}.add"),
            true,
        );
        chain(
            "div>quarter>copysign",
            ty,
            format!("{ab} {t}.div {quarter} {t}.copysign"),
            false,
        );
        // One pushed operand between the result and a binary consumer: `x * y + 1`.
        chain(
            "mul>const>add",
            ty,
            format!("{ab} {t}.mul {t}.const 1 {t}.add"),
            true,
        );
        chain(
            "sqrt>local>lt",
            I32,
            format!("local.get 0 {t}.sqrt local.get 1 {t}.lt"),
            false,
        );
        chain(
            "sub>local>copysign",
            ty,
            format!("{ab} {t}.sub local.get 1 {t}.copysign"),
            false,
        );
        // Observing consumers: the result is canonicalized before them.
        chain("add>neg", ty, format!("{ab} {t}.add {t}.neg"), false);
        chain("sub>abs", ty, format!("{ab} {t}.sub {t}.abs"), false);
        chain(
            "div>copysign",
            ty,
            format!("local.get 0 {ab} {t}.div {t}.copysign"),
            false,
        );
        chain(
            "mul>reinterpret",
            bty,
            format!("{ab} {t}.mul {bits}.reinterpret_{t}"),
            false,
        );
        chain(
            "add>store>load",
            bty,
            format!("i32.const 8 {ab} {t}.add {t}.store i32.const 8 {bits}.load"),
            false,
        );
        chain(
            "add>local>copysign",
            ty,
            format!("(local {t}) {ab} {t}.add local.set 2 local.get 0 local.get 2 {t}.copysign"),
            false,
        );
        chain(
            "add>block>neg",
            ty,
            format!("block (result {t}) {ab} {t}.add end {t}.neg"),
            false,
        );
        chain(
            "add>call>neg",
            ty,
            format!("{ab} {t}.add call $identity_{t} {t}.neg"),
            false,
        );
    }
    ops.push(Operator {
        name: "f32.chain:promote>demote".into(),
        params: vec![F32, F32],
        result: F32,
        body: "local.get 0 local.get 1 f32.add f64.promote_f32 f32.demote_f64".into(),
        nan_nondeterministic: true,
        canonical_when_deterministic: true,
    });
    ops
}

/// What every probe module starts with: a memory, and the functions chains call through.
const MODULE_HEAD: &str = "(module (memory 1)\n\
     (func $identity_f32 (param f32) (result f32) local.get 0)\n\
     (func $identity_f64 (param f64) (result f64) local.get 0)\n";

/// The probe module: one export per operator.
pub fn module_wat(ops: &[Operator]) -> String {
    let mut wat = String::from(MODULE_HEAD);
    for op in ops {
        let params: Vec<_> = op.params.iter().map(|t| t.to_string()).collect();
        wat += &format!(
            "  (func (export \"{}\") (param {}) (result {}) {})\n",
            op.name,
            params.join(" "),
            op.result,
            op.body
        );
    }
    wat + ")\n"
}

/// The probe module with operands as constants: one export per case, `c{index}`, whose
/// body is the operator's with each parameter read replaced by the case's operand as a
/// constant, so that an engine's constant folding computes it (the parameters stay
/// declared, unread, so that the body's own locals keep their indices).
pub fn constant_module_wat(ops: &[Operator], cases: &[Case]) -> String {
    let mut wat = String::from(MODULE_HEAD);
    for (i, case) in cases.iter().enumerate() {
        let op = ops
            .iter()
            .find(|o| o.name == case.op)
            .expect("case of a listed op");
        let params: Vec<_> = op.params.iter().map(|t| t.to_string()).collect();
        let mut body = Vec::new();
        let mut tokens = op.body.split_whitespace().peekable();
        while let Some(token) = tokens.next() {
            match (token, tokens.peek().and_then(|n| n.parse::<usize>().ok())) {
                ("local.get", Some(param)) if param < case.args.len() => {
                    tokens.next();
                    body.push(constant(&case.args[param]));
                }
                _ => body.push(token.to_string()),
            }
        }
        wat += &format!(
            "  (func (export \"c{i}\") (param {}) (result {}) {})\n",
            params.join(" "),
            op.result,
            body.join(" ")
        );
    }
    wat + ")\n"
}

/// `value` as a WAT constant instruction with exactly its bits.
pub fn constant(value: &Value) -> String {
    // A NaN by sign and payload; any other float in Rust's shortest round-trip form, which
    // the text parser reads back exactly (infinities print as `inf`, as WAT spells them).
    let nan = |bits: u64, sign: u64, payload: u64| {
        let minus = if bits & sign != 0 { "-" } else { "" };
        format!("{minus}nan:{:#x}", bits & payload)
    };
    match *value {
        Value::I32(v) => format!("i32.const {v}"),
        Value::I64(v) => format!("i64.const {v}"),
        Value::F32(b) if f32::from_bits(b).is_nan() => {
            format!("f32.const {}", nan(b as u64, 1 << 31, 0x7f_ffff))
        }
        Value::F32(b) => format!("f32.const {:?}", f32::from_bits(b)),
        Value::F64(b) if f64::from_bits(b).is_nan() => {
            format!("f64.const {}", nan(b, 1 << 63, 0xf_ffff_ffff_ffff))
        }
        Value::F64(b) => format!("f64.const {:?}", f64::from_bits(b)),
        Value::V128(b) => format!("v128.const i64x2 {} {}", b as u64, (b >> 64) as u64),
        Value::FuncRef(_) | Value::ExternRef(_) => {
            unreachable!("the probe matrix's operands are numbers, not {value}")
        }
    }
}

/// Runs every case on `engine` with its operands as constants ([`constant_module_wat`]).
///
/// # Errors
/// When the module does not compile or instantiate: every engine must take it.
pub fn run_constant(
    engine: &AnyEngine,
    ops: &[Operator],
    cases: &[Case],
) -> Result<Vec<Outcome>, WasmError> {
    let wasm = wasmhost::wat2wasm(constant_module_wat(ops, cases))?;
    let mut instance = engine
        .compile(&wasm)?
        .instantiate(&HostFunctions::new(), ())?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            instance
                .call_raw(&format!("c{i}"), &case.args)
                .and_then(|mut v| v.pop().ok_or_else(|| WasmError::Engine("no result".into())))
        })
        .collect())
}

fn operands(ty: ValType) -> Vec<Value> {
    match ty {
        ValType::F32 => F32_OPERANDS.iter().map(|b| Value::F32(*b)).collect(),
        ValType::F64 => F64_OPERANDS.iter().map(|b| Value::F64(*b)).collect(),
        // Integers as themselves, and as the float operands' bits (for reinterpret).
        ValType::I32 => I32_OPERANDS
            .iter()
            .copied()
            .chain(F32_OPERANDS.iter().map(|b| *b as i32))
            .map(Value::I32)
            .collect(),
        ValType::I64 => I64_OPERANDS
            .iter()
            .copied()
            .chain(F64_OPERANDS.iter().map(|b| *b as i64))
            .map(Value::I64)
            .collect(),
        // No scalar operator takes a vector or a reference.
        ValType::V128 | ValType::FuncRef | ValType::ExternRef => Vec::new(),
    }
}

/// One probe: an operator applied to operands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Operator name.
    pub op: String,
    /// Operands.
    pub args: Vec<Value>,
}

/// Every case of the matrix, in a fixed order.
pub fn cases(ops: &[Operator]) -> Vec<Case> {
    let mut cases = Vec::new();
    for op in ops {
        let first = operands(op.params[0]);
        if op.params.len() == 1 {
            cases.extend(first.iter().map(|a| Case {
                op: op.name.clone(),
                args: vec![*a],
            }));
        } else {
            let second = operands(op.params[1]);
            for a in &first {
                cases.extend(second.iter().map(|b| Case {
                    op: op.name.clone(),
                    args: vec![*a, *b],
                }));
            }
        }
    }
    cases
}

/// What one engine returned for one case: a value (exact bits) or an error.
pub type Outcome = Result<Value, WasmError>;

/// Runs every case on `engine` (whose configuration picks the profile).
///
/// # Errors
/// When the probe module does not compile or instantiate: every engine must take it.
pub fn run(
    engine: &AnyEngine,
    ops: &[Operator],
    cases: &[Case],
) -> Result<Vec<Outcome>, WasmError> {
    let wasm = wasmhost::wat2wasm(module_wat(ops))?;
    let mut instance = engine
        .compile(&wasm)?
        .instantiate(&HostFunctions::new(), ())?;
    Ok(cases
        .iter()
        .map(|case| {
            instance
                .call_raw(&case.op, &case.args)
                .and_then(|mut v| v.pop().ok_or_else(|| WasmError::Engine("no result".into())))
        })
        .collect())
}

/// How the engines' results for one case relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Every engine returned the same bits (or the same error).
    Agree,
    /// The results differ only in NaN sign or payload, within the set the spec allows.
    AllowedNan,
    /// A relaxed SIMD operation's results differ: the spec lets each engine and processor
    /// choose among its results (default profile only; see `lanes`).
    AllowedRelaxed,
    /// Anything else: an engine bug or ours, to be reported.
    Divergence,
}

/// Whether `v` is a NaN, and whether it is canonical (payload = only the quiet bit) or at
/// least arithmetic (quiet bit set).
fn nan_kind(v: &Value) -> Option<(bool, bool)> {
    match *v {
        Value::F32(b) if f32::from_bits(b).is_nan() => {
            Some((b & 0x7fff_ffff == 0x7fc0_0000, b & 0x0040_0000 != 0))
        }
        Value::F64(b) if f64::from_bits(b).is_nan() => Some((
            b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            b & 0x0008_0000_0000_0000 != 0,
        )),
        _ => None,
    }
}

/// Whether every NaN result of `outcomes` is in the set the spec allows for an arithmetic
/// operator with operands `args`: canonical NaNs if all NaN operands are canonical,
/// arithmetic NaNs otherwise.
pub(crate) fn all_spec_allowed_nans(args: &[Value], outcomes: &[&Outcome]) -> bool {
    let inputs_canonical = args
        .iter()
        .filter_map(nan_kind)
        .all(|(canonical, _)| canonical);
    // A chain that ends in `reinterpret` (or a store and an integer load) shows a NaN's
    // bits as an integer: read it back as the float it was.
    let as_float = |v: &Value| match *v {
        Value::I32(b) => Value::F32(b as u32),
        Value::I64(b) => Value::F64(b as u64),
        other => other,
    };
    outcomes.iter().all(|o| match o {
        Ok(v) => match nan_kind(&as_float(v)) {
            Some((canonical, arithmetic)) => {
                if inputs_canonical {
                    canonical
                } else {
                    arithmetic
                }
            }
            None => false,
        },
        Err(_) => false,
    })
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

/// Classifies one case's results across engines. In the deterministic profile every NaN
/// an arithmetic operator returns must also be the positive canonical NaN.
pub fn classify(op: &Operator, case: &Case, outcomes: &[&Outcome], deterministic: bool) -> Verdict {
    if deterministic && op.canonical_when_deterministic {
        let canonical = |o: &&Outcome| match o {
            Ok(Value::F32(b)) if f32::from_bits(*b).is_nan() => *b == 0x7fc0_0000,
            Ok(Value::F64(b)) if f64::from_bits(*b).is_nan() => *b == 0x7ff8_0000_0000_0000,
            _ => true,
        };
        if !outcomes.iter().all(canonical) {
            return Verdict::Divergence;
        }
    }
    if outcomes.windows(2).all(|w| w[0] == w[1]) {
        Verdict::Agree
    } else if op.nan_nondeterministic && all_spec_allowed_nans(&case.args, outcomes) {
        Verdict::AllowedNan
    } else if !deterministic && op.name.contains(".chain:") && nan_derived(outcomes) {
        // A chain's intermediate NaN has an unspecified sign and payload, and the bit
        // operations after it show them: as a NaN's bits, or as the sign copysign takes.
        Verdict::AllowedNan
    } else {
        Verdict::Divergence
    }
}

/// Whether the outcomes are all NaNs (an integer read as the float whose bits it holds), or
/// differ only in the sign bit.
fn nan_derived(outcomes: &[&Outcome]) -> bool {
    let bits = |o: &&Outcome| match o {
        Ok(Value::F32(b)) => Some((*b as u64, 1u64 << 31, f32::from_bits(*b).is_nan())),
        Ok(Value::I32(b)) => Some((
            *b as u32 as u64,
            1 << 31,
            f32::from_bits(*b as u32).is_nan(),
        )),
        Ok(Value::F64(b)) => Some((*b, 1 << 63, f64::from_bits(*b).is_nan())),
        Ok(Value::I64(b)) => Some((*b as u64, 1 << 63, f64::from_bits(*b as u64).is_nan())),
        Ok(Value::V128(_) | Value::FuncRef(_) | Value::ExternRef(_)) | Err(_) => None,
    };
    let Some(all) = outcomes.iter().map(bits).collect::<Option<Vec<_>>>() else {
        return false;
    };
    all.iter().all(|(_, _, nan)| *nan)
        || all.windows(2).all(|w| w[0].0 & !w[0].1 == w[1].0 & !w[1].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> Operator {
        operators().into_iter().find(|o| o.name == name).unwrap()
    }

    #[test]
    fn nan_sign_differences_are_allowed_only_for_arithmetic() {
        let div = op("f32.div");
        let case = Case {
            op: div.name.clone(),
            args: vec![Value::F32(0), Value::F32(0)],
        };
        let (pos, neg) = (Ok(Value::F32(0x7fc0_0000)), Ok(Value::F32(0xffc0_0000)));
        assert_eq!(
            classify(&div, &case, &[&pos, &neg], false),
            Verdict::AllowedNan
        );
        // Canonical inputs must give canonical outputs: a payload is a divergence.
        let payload = Ok(Value::F32(0x7fc0_0001));
        assert_eq!(
            classify(&div, &case, &[&pos, &payload], false),
            Verdict::Divergence
        );
        // In the deterministic profile only the positive canonical NaN is right.
        assert_eq!(
            classify(&div, &case, &[&neg, &neg], true),
            Verdict::Divergence
        );
        assert_eq!(classify(&div, &case, &[&pos, &pos], true), Verdict::Agree);
        // neg is a bit operation: any difference is a divergence.
        let negate = op("f32.neg");
        let case = Case {
            op: negate.name.clone(),
            args: vec![Value::F32(0x7fc0_0000)],
        };
        assert_eq!(
            classify(&negate, &case, &[&pos, &neg], false),
            Verdict::Divergence
        );
    }

    #[test]
    fn the_matrix_covers_every_operand_pair() {
        let ops = operators();
        let cases = cases(&ops);
        let binary = cases.iter().filter(|c| c.op == "f64.min").count();
        assert_eq!(binary, F64_OPERANDS.len() * F64_OPERANDS.len());
        assert!(wasmhost::wat2wasm(module_wat(&ops)).is_ok());
    }
}

/// The matrix run on several engines in one profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Matrix {
    /// Whether this is the deterministic profile.
    pub deterministic: bool,
    /// Whether the operands were constants in the module (folded by the engines' compilers)
    /// rather than arguments of the call.
    #[serde(default)]
    pub constant: bool,
    /// Engine names, in column order.
    pub engines: Vec<String>,
    /// Every case with each engine's outcome (in `engines` order) and the verdict.
    pub rows: Vec<Row>,
}

/// One case across engines.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// The case.
    pub case: Case,
    /// Each engine's outcome, in [`Matrix::engines`] order.
    pub outcomes: Vec<Outcome>,
    /// How they relate.
    pub verdict: Verdict,
}

impl Row {
    /// `op (args): outcome / outcome / …`, for reports.
    pub fn describe(&self) -> String {
        let args: Vec<String> = self.case.args.iter().map(ToString::to_string).collect();
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|o| {
                o.as_ref()
                    .map_or_else(ToString::to_string, ToString::to_string)
            })
            .collect();
        format!(
            "{} ({}): {}",
            self.case.op,
            args.join(", "),
            outcomes.join(" / ")
        )
    }
}

impl Matrix {
    /// Runs the matrix on `engines`, which must share one profile.
    ///
    /// # Errors
    /// When an engine cannot run the probe module.
    pub fn run(engines: &[AnyEngine]) -> Result<Self, WasmError> {
        Self::run_with(engines, false)
    }

    /// [`Matrix::run`] with the operands as constants ([`constant_module_wat`]).
    ///
    /// # Errors
    /// When an engine cannot run the constant probe module.
    pub fn run_constant(engines: &[AnyEngine]) -> Result<Self, WasmError> {
        Self::run_with(engines, true)
    }

    fn run_with(engines: &[AnyEngine], constant: bool) -> Result<Self, WasmError> {
        let deterministic = engines.first().is_some_and(|e| e.config().deterministic);
        let ops = operators();
        let cases = cases(&ops);
        let per_engine = engines
            .iter()
            .map(|e| {
                if constant {
                    run_constant(e, &ops, &cases)
                } else {
                    run(e, &ops, &cases)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::classified(
            engines,
            constant,
            cases,
            &per_engine,
            |case, outcomes| {
                classify_listed(&ops, case, outcomes, deterministic).expect("case of a listed op")
            },
        ))
    }

    /// The matrix of `cases` with each engine's outcomes (`per_engine`, in `engines`
    /// order), each row's verdict given by `classify`.
    pub fn classified(
        engines: &[AnyEngine],
        constant: bool,
        cases: Vec<Case>,
        per_engine: &[Vec<Outcome>],
        classify: impl Fn(&Case, &[&Outcome]) -> Verdict,
    ) -> Self {
        let rows = cases
            .into_iter()
            .enumerate()
            .map(|(i, case)| {
                let outcomes: Vec<Outcome> = per_engine.iter().map(|r| r[i].clone()).collect();
                let verdict = classify(&case, &outcomes.iter().collect::<Vec<_>>());
                Row {
                    case,
                    outcomes,
                    verdict,
                }
            })
            .collect();
        Matrix {
            deterministic: engines.first().is_some_and(|e| e.config().deterministic),
            constant,
            engines: engines.iter().map(|e| e.name().to_string()).collect(),
            rows,
        }
    }

    /// How many rows have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }
}
