//! Conversions between wasmtime's types and the contract's.

use wasmhost_api::{FuncRef, FuncSig, ImportType, Limits, Trap, ValType, Value, WasmError};
use wasmtime::{AsContext, AsContextMut, ExternRef, ExternType, FuncType, Val};

/// A host function's error as wasmtime carries it through its call stack: the contract's
/// error is a `std::error::Error` already, and comes back out unchanged (see `map_error`).
pub(crate) fn host_failure(e: WasmError) -> wasmtime::Error {
    wasmtime::Error::new(e)
}

/// Maps a wasmtime error from a call or instantiation onto the contract's error: every
/// trap code the contract's feature set can raise has its own variant.
pub(crate) fn map_error(e: wasmtime::Error) -> WasmError {
    if let Some(code) = e.downcast_ref::<wasmtime::Trap>() {
        use wasmtime::Trap as T;
        return match code {
            T::UnreachableCodeReached => Trap::Unreachable.into(),
            T::MemoryOutOfBounds => Trap::MemoryOutOfBounds.into(),
            T::TableOutOfBounds => Trap::TableOutOfBounds.into(),
            T::IndirectCallToNull => Trap::IndirectCallToNull.into(),
            T::IntegerDivisionByZero => Trap::IntegerDivideByZero.into(),
            T::IntegerOverflow => Trap::IntegerOverflow.into(),
            T::BadConversionToInteger => Trap::InvalidConversion.into(),
            T::StackOverflow => Trap::StackOverflow.into(),
            T::BadSignature => Trap::IndirectCallSignature.into(),
            T::OutOfFuel => WasmError::OutOfFuel,
            other => Trap::Other(other.to_string()).into(),
        };
    }
    match e.downcast_ref::<WasmError>() {
        Some(inner) => inner.clone(),
        None => WasmError::Engine(format!("{e:#}")),
    }
}

/// The wasmtime value of `v`, made in `ctx`'s store (a host reference is a value of the
/// store, rooted in its current scope).
///
/// # Errors
/// [`WasmError::ExportSignature`] for a non-null function reference: the contract does not
/// carry which function it is.
pub(crate) fn to_val(ctx: impl AsContextMut, v: Value) -> Result<Val, WasmError> {
    Ok(match v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(b) => Val::F32(b),
        Value::F64(b) => Val::F64(b),
        Value::V128(b) => Val::V128(b.into()),
        Value::FuncRef(None) => Val::FuncRef(None),
        Value::FuncRef(Some(_)) => {
            return Err(WasmError::ExportSignature {
                name: "(an argument)".into(),
                expected: "a null function reference or a value of another type".into(),
                found: "a non-null function reference, which cannot cross into a guest".into(),
            });
        }
        Value::ExternRef(None) => Val::ExternRef(None),
        Value::ExternRef(Some(n)) => Val::ExternRef(Some(
            ExternRef::new(ctx, n).map_err(|e| WasmError::Engine(e.to_string()))?,
        )),
    })
}

/// The contract's value of `v`.
///
/// # Errors
/// A host failure for a reference the host did not make, or a type outside the contract.
pub(crate) fn to_value(ctx: impl AsContext, v: &Val) -> Result<Value, wasmtime::Error> {
    Ok(match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(*x),
        Val::F64(x) => Value::F64(*x),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(f) => Value::FuncRef(f.map(|_| FuncRef::opaque())),
        Val::ExternRef(None) => Value::ExternRef(None),
        // Only the host makes host references, and it makes them from numbers.
        Val::ExternRef(Some(r)) => {
            let data = r.data(ctx.as_context())?;
            match data.and_then(|d| d.downcast_ref::<u32>()) {
                Some(n) => Value::ExternRef(Some(*n)),
                None => {
                    return Err(host_failure(WasmError::Engine(
                        "a foreign host reference".into(),
                    )));
                }
            }
        }
        other => {
            return Err(host_failure(WasmError::Engine(format!(
                "a value of type {:?} is outside the contract's value types",
                other.ty(ctx.as_context())
            ))));
        }
    })
}

/// What a module declares an import to be, in the contract's terms.
pub(crate) fn import_type(ty: &ExternType) -> ImportType {
    match ty {
        ExternType::Func(f) => ImportType::Func(func_sig(f)),
        ExternType::Global(g) => ImportType::Global {
            ty: to_valtype(g.content()),
            mutable: g.mutability() == wasmtime::Mutability::Var,
        },
        ExternType::Memory(m) if !m.is_64() && !m.is_shared() => {
            ImportType::Memory(Limits::new(m.minimum(), m.maximum()))
        }
        ExternType::Table(t) if !t.is_64() => ImportType::Table {
            element: to_valtype(&wasmtime::ValType::Ref(t.element().clone())),
            limits: Limits::new(t.minimum(), t.maximum()),
        },
        _ => ImportType::Other,
    }
}

/// The contract's type of `t`; `None` outside the contract's value types (GC types).
pub(crate) fn to_valtype(t: &wasmtime::ValType) -> Option<ValType> {
    Some(match t {
        wasmtime::ValType::I32 => ValType::I32,
        wasmtime::ValType::I64 => ValType::I64,
        wasmtime::ValType::F32 => ValType::F32,
        wasmtime::ValType::F64 => ValType::F64,
        wasmtime::ValType::V128 => ValType::V128,
        t if t.is_funcref() => ValType::FuncRef,
        t if t.is_externref() => ValType::ExternRef,
        _ => return None,
    })
}

/// Whether `args` have exactly the types `params`.
pub(crate) fn params_match(ty: &FuncType, args: &[Value]) -> bool {
    ty.params().len() == args.len()
        && ty
            .params()
            .zip(args)
            .all(|(p, a)| to_valtype(&p) == Some(a.ty()))
}

pub(crate) fn from_valtype(t: ValType) -> wasmtime::ValType {
    match t {
        ValType::I32 => wasmtime::ValType::I32,
        ValType::I64 => wasmtime::ValType::I64,
        ValType::F32 => wasmtime::ValType::F32,
        ValType::F64 => wasmtime::ValType::F64,
        ValType::V128 => wasmtime::ValType::V128,
        ValType::FuncRef => wasmtime::ValType::FUNCREF,
        ValType::ExternRef => wasmtime::ValType::EXTERNREF,
    }
}

/// The contract's signature of a wasmtime function type; `None` if it uses other value
/// types.
pub(crate) fn func_sig(ty: &FuncType) -> Option<FuncSig> {
    Some(FuncSig {
        params: ty.params().map(|t| to_valtype(&t)).collect::<Option<_>>()?,
        results: ty
            .results()
            .map(|t| to_valtype(&t))
            .collect::<Option<_>>()?,
    })
}

pub(crate) fn wasmtime_func_type(engine: &wasmtime::Engine, sig: &FuncSig) -> FuncType {
    FuncType::new(
        engine,
        sig.params.iter().copied().map(from_valtype),
        sig.results.iter().copied().map(from_valtype),
    )
}
