//! Conversions between wasmi's types and the contract's.

use std::fmt;

use wasmhost_api::{FuncRef, FuncSig, ImportType, Limits, Trap, ValType, Value, WasmError};
use wasmi::{
    AsContext, AsContextMut, ExternRef, ExternType, F32, F64, FuncType, Nullable, TrapCode, V128,
    Val,
};

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

/// The wasmi value of `v`, made in `ctx`'s store (a host reference is a value of the store).
///
/// # Errors
/// [`WasmError::ExportSignature`] for a non-null function reference: the contract does not
/// carry which function it is.
pub(crate) fn to_val(ctx: impl AsContextMut, v: Value) -> Result<Val, WasmError> {
    Ok(match v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(F32::from_bits(b)),
        Value::F64(b) => Val::F64(F64::from_bits(b)),
        // Without wasmi's `simd` no module has a v128 parameter, so the signature check
        // refuses the value before it gets here (wasmi would panic on it).
        Value::V128(b) => Val::V128(V128::from(b)),
        Value::FuncRef(None) => Val::FuncRef(Nullable::Null),
        Value::FuncRef(Some(_)) => {
            return Err(WasmError::ExportSignature {
                name: "(an argument)".into(),
                expected: "a null function reference or a value of another type".into(),
                found: "a non-null function reference, which cannot cross into a guest".into(),
            });
        }
        Value::ExternRef(None) => Val::ExternRef(Nullable::Null),
        Value::ExternRef(Some(n)) => Val::ExternRef(Nullable::Val(ExternRef::new(ctx, n))),
    })
}

pub(crate) fn to_value(ctx: impl AsContext, v: &Val) -> Result<Value, wasmi::Error> {
    Ok(match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(x.to_bits()),
        Val::F64(x) => Value::F64(x.to_bits()),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(f) => Value::FuncRef(f.val().map(|_| FuncRef::opaque())),
        Val::ExternRef(Nullable::Null) => Value::ExternRef(None),
        // Only the host makes host references, and it makes them from numbers.
        Val::ExternRef(Nullable::Val(r)) => match r.data(&ctx).downcast_ref::<u32>() {
            Some(n) => Value::ExternRef(Some(*n)),
            None => {
                return Err(host_failure(WasmError::Engine(
                    "a foreign host reference".into(),
                )));
            }
        },
    })
}

/// What a module declares an import to be, in the contract's terms.
pub(crate) fn import_type(ty: &ExternType) -> ImportType {
    match ty {
        ExternType::Func(f) => ImportType::Func(func_sig(f)),
        ExternType::Global(g) => ImportType::Global {
            ty: to_valtype(&g.content()),
            mutable: g.mutability().is_mut(),
        },
        ExternType::Memory(m) if !m.is_64() => {
            ImportType::Memory(Limits::new(m.minimum(), m.maximum()))
        }
        ExternType::Table(t) => ImportType::Table {
            element: Some(match t.element() {
                wasmi::RefType::Func => ValType::FuncRef,
                wasmi::RefType::Extern => ValType::ExternRef,
            }),
            limits: Limits::new(t.minimum(), t.maximum()),
        },
        _ => ImportType::Other,
    }
}

fn to_valtype(t: &wasmi::ValType) -> Option<ValType> {
    Some(match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        // Without wasmi's `simd`, no module validates with a v128 in it.
        wasmi::ValType::V128 if cfg!(feature = "simd") => ValType::V128,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        wasmi::ValType::ExternRef => ValType::ExternRef,
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

pub(crate) fn from_valtype(t: ValType) -> wasmi::ValType {
    match t {
        ValType::I32 => wasmi::ValType::I32,
        ValType::I64 => wasmi::ValType::I64,
        ValType::F32 => wasmi::ValType::F32,
        ValType::F64 => wasmi::ValType::F64,
        ValType::V128 => wasmi::ValType::V128,
        ValType::FuncRef => wasmi::ValType::FuncRef,
        ValType::ExternRef => wasmi::ValType::ExternRef,
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
