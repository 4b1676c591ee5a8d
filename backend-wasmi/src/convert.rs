//! Conversions between wasmi's types and the contract's.

use std::fmt;

use wasmhost_api::{FuncSig, Trap, ValType, Value, WasmError};
use wasmi::{F32, F64, FuncType, TrapCode, Val};

/// A host function's error, carried through wasmi's call stack unchanged.
#[derive(Debug)]
pub(crate) struct HostFailure(pub(crate) WasmError);

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl wasmi::errors::HostError for HostFailure {}

pub(crate) fn host_failure(e: WasmError) -> wasmi::Error {
    wasmi::Error::host(HostFailure(e))
}

/// Maps a wasmi error from a call or instantiation onto the contract's error.
pub(crate) fn map_error(e: wasmi::Error) -> WasmError {
    if let Some(code) = e.as_trap_code() {
        return match code {
            TrapCode::UnreachableCodeReached => Trap::Unreachable.into(),
            TrapCode::MemoryOutOfBounds => Trap::MemoryOutOfBounds.into(),
            TrapCode::TableOutOfBounds => Trap::TableOutOfBounds.into(),
            TrapCode::IndirectCallToNull => Trap::IndirectCallToNull.into(),
            TrapCode::IntegerDivisionByZero => Trap::IntegerDivideByZero.into(),
            TrapCode::IntegerOverflow => Trap::IntegerOverflow.into(),
            TrapCode::BadConversionToInteger => Trap::InvalidConversion.into(),
            TrapCode::StackOverflow => Trap::StackOverflow.into(),
            TrapCode::BadSignature => Trap::IndirectCallSignature.into(),
            TrapCode::OutOfFuel => WasmError::OutOfFuel,
            TrapCode::GrowthOperationLimited => WasmError::MemoryLimit,
            other => Trap::Other(other.to_string()).into(),
        };
    }
    // wasmer reports an element segment that does not fit as the trap it is; so do we.
    if let wasmi::errors::ErrorKind::Instantiation(
        wasmi::errors::InstantiationError::ElementSegmentDoesNotFit { .. },
    ) = e.kind()
    {
        return Trap::TableOutOfBounds.into();
    }
    match e.downcast_ref::<HostFailure>() {
        Some(HostFailure(inner)) => inner.clone(),
        None => WasmError::Engine(e.to_string()),
    }
}

pub(crate) fn to_val(v: Value) -> Val {
    match v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(F32::from_bits(b)),
        Value::F64(b) => Val::F64(F64::from_bits(b)),
    }
}

pub(crate) fn to_value(v: &Val) -> Result<Value, wasmi::Error> {
    Ok(match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(x.to_bits()),
        Val::F64(x) => Value::F64(x.to_bits()),
        other => {
            return Err(host_failure(WasmError::Engine(format!(
                "value of type {:?} is outside the contract's value types",
                other.ty()
            ))));
        }
    })
}

fn to_valtype(t: &wasmi::ValType) -> Option<ValType> {
    Some(match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        _ => return None,
    })
}

/// Whether `args` have exactly the types `params`.
pub(crate) fn params_match(params: &[wasmi::ValType], args: &[Value]) -> bool {
    params.len() == args.len()
        && params
            .iter()
            .zip(args)
            .all(|(p, a)| to_valtype(p) == Some(a.ty()))
}

fn from_valtype(t: ValType) -> wasmi::ValType {
    match t {
        ValType::I32 => wasmi::ValType::I32,
        ValType::I64 => wasmi::ValType::I64,
        ValType::F32 => wasmi::ValType::F32,
        ValType::F64 => wasmi::ValType::F64,
    }
}

/// The contract's signature of a wasmi function type; `None` if it uses other value types.
pub(crate) fn func_sig(ty: &FuncType) -> Option<FuncSig> {
    Some(FuncSig {
        params: ty.params().iter().map(to_valtype).collect::<Option<_>>()?,
        results: ty.results().iter().map(to_valtype).collect::<Option<_>>()?,
    })
}

pub(crate) fn wasmi_func_type(sig: &FuncSig) -> FuncType {
    FuncType::new(
        sig.params.iter().copied().map(from_valtype),
        sig.results.iter().copied().map(from_valtype),
    )
}
