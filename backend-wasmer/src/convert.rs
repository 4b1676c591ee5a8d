//! Conversions between wasmer's types and the contract's.

use wasmer::sys::vm::TrapCode;
use wasmer::{
    AsStoreMut, AsStoreRef, ExternRef, ExternType, FunctionType, InstantiationError, LinkError,
    RuntimeError, Type,
};
use wasmhost_api::{FuncRef, FuncSig, ImportType, Limits, Trap, ValType, Value, WasmError};

/// A host function's error as wasmer carries it through its call stack: the contract's
/// error is a `std::error::Error` already, and comes back out unchanged.
pub(crate) fn host_failure(e: WasmError) -> RuntimeError {
    RuntimeError::user(Box::new(e))
}

/// Maps a wasmer runtime error onto the contract's error.
pub(crate) fn map_runtime_error(e: RuntimeError) -> WasmError {
    if let Some(inner) = e.downcast_ref::<WasmError>() {
        return inner.clone();
    }
    let message = e.message();
    match e.to_trap() {
        Some(TrapCode::UnreachableCodeReached) => Trap::Unreachable.into(),
        Some(TrapCode::HeapAccessOutOfBounds) => Trap::MemoryOutOfBounds.into(),
        Some(TrapCode::TableAccessOutOfBounds) => Trap::TableOutOfBounds.into(),
        Some(TrapCode::IndirectCallToNull) => Trap::IndirectCallToNull.into(),
        Some(TrapCode::BadSignature) => Trap::IndirectCallSignature.into(),
        Some(TrapCode::IntegerOverflow) => Trap::IntegerOverflow.into(),
        Some(TrapCode::IntegerDivisionByZero) => Trap::IntegerDivideByZero.into(),
        Some(TrapCode::BadConversionToInteger) => Trap::InvalidConversion.into(),
        Some(TrapCode::StackOverflow) => Trap::StackOverflow.into(),
        Some(other) => Trap::Other(format!("{other:?}")).into(),
        None => WasmError::Engine(message),
    }
}

pub(crate) fn map_instantiation_error(e: InstantiationError) -> WasmError {
    match e {
        InstantiationError::Start(e) | InstantiationError::Link(LinkError::Trap(e)) => {
            map_runtime_error(e)
        }
        InstantiationError::Link(LinkError::Import(module, name, err)) => {
            WasmError::Link(format!("import `{module}.{name}`: {err}"))
        }
        other => WasmError::Link(other.to_string()),
    }
}

/// The wasmer value of `v`, made in `store` (a host reference is a value of the store).
///
/// # Errors
/// [`WasmError::ExportSignature`] for a non-null function reference: the contract does not
/// carry which function it is.
pub(crate) fn to_wasmer(store: &mut impl AsStoreMut, v: Value) -> Result<wasmer::Value, WasmError> {
    Ok(match v {
        Value::I32(x) => wasmer::Value::I32(x),
        Value::I64(x) => wasmer::Value::I64(x),
        Value::F32(b) => wasmer::Value::F32(f32::from_bits(b)),
        Value::F64(b) => wasmer::Value::F64(f64::from_bits(b)),
        Value::V128(b) => wasmer::Value::V128(b),
        Value::FuncRef(None) => wasmer::Value::FuncRef(None),
        Value::FuncRef(Some(_)) => return Err(opaque_funcref()),
        Value::ExternRef(r) => wasmer::Value::ExternRef(r.map(|n| ExternRef::new(store, n))),
    })
}

/// The error for a non-null function reference passed into a guest.
pub(crate) fn opaque_funcref() -> WasmError {
    WasmError::ExportSignature {
        name: "(an argument)".into(),
        expected: "a null function reference or a value of another type".into(),
        found: "a non-null function reference, which cannot cross into a guest".into(),
    }
}

pub(crate) fn to_value(store: &impl AsStoreRef, v: &wasmer::Value) -> Result<Value, RuntimeError> {
    Ok(match v {
        wasmer::Value::I32(x) => Value::I32(*x),
        wasmer::Value::I64(x) => Value::I64(*x),
        wasmer::Value::F32(x) => Value::F32(x.to_bits()),
        wasmer::Value::F64(x) => Value::F64(x.to_bits()),
        wasmer::Value::V128(x) => Value::V128(*x),
        wasmer::Value::FuncRef(f) => Value::FuncRef(f.as_ref().map(|_| FuncRef::opaque())),
        // Only the host makes host references, and it makes them from numbers.
        wasmer::Value::ExternRef(Some(r)) => match r.downcast::<u32>(store) {
            Some(n) => Value::ExternRef(Some(*n)),
            None => {
                return Err(host_failure(WasmError::Engine(
                    "a foreign host reference".into(),
                )));
            }
        },
        wasmer::Value::ExternRef(None) => Value::ExternRef(None),
        other => {
            return Err(host_failure(WasmError::Engine(format!(
                "value of type {:?} is outside the contract's value types",
                other.ty()
            ))));
        }
    })
}

/// What a module declares an import to be, in the contract's terms.
pub(crate) fn import_type(ty: &ExternType) -> ImportType {
    match ty {
        ExternType::Function(f) => ImportType::Func(func_sig(f)),
        ExternType::Global(g) => ImportType::Global {
            ty: to_valtype(&g.ty),
            mutable: g.mutability.is_mutable(),
        },
        ExternType::Memory(m) if !m.shared => ImportType::Memory(Limits::new(
            u64::from(m.minimum.0),
            m.maximum.map(|p| u64::from(p.0)),
        )),
        ExternType::Table(t) => ImportType::Table {
            element: to_valtype(&t.ty),
            limits: Limits::new(u64::from(t.minimum), t.maximum.map(u64::from)),
        },
        _ => ImportType::Other,
    }
}

fn to_valtype(t: &Type) -> Option<ValType> {
    Some(match t {
        Type::I32 => ValType::I32,
        Type::I64 => ValType::I64,
        Type::F32 => ValType::F32,
        Type::F64 => ValType::F64,
        Type::V128 => ValType::V128,
        Type::FuncRef => ValType::FuncRef,
        Type::ExternRef => ValType::ExternRef,
        _ => return None,
    })
}

/// Whether `args` have exactly the types `params`.
pub(crate) fn params_match(params: &[Type], args: &[Value]) -> bool {
    params.len() == args.len()
        && params
            .iter()
            .zip(args)
            .all(|(p, a)| to_valtype(p) == Some(a.ty()))
}

pub(crate) fn from_valtype(t: ValType) -> Type {
    match t {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
        ValType::V128 => Type::V128,
        ValType::FuncRef => Type::FuncRef,
        ValType::ExternRef => Type::ExternRef,
    }
}

/// The contract's signature of a wasmer function type; `None` if it uses other value types.
pub(crate) fn func_sig(ty: &FunctionType) -> Option<FuncSig> {
    Some(FuncSig {
        params: ty.params().iter().map(to_valtype).collect::<Option<_>>()?,
        results: ty.results().iter().map(to_valtype).collect::<Option<_>>()?,
    })
}

pub(crate) fn wasmer_func_type(sig: &FuncSig) -> FunctionType {
    FunctionType::new(
        sig.params
            .iter()
            .copied()
            .map(from_valtype)
            .collect::<Vec<_>>(),
        sig.results
            .iter()
            .copied()
            .map(from_valtype)
            .collect::<Vec<_>>(),
    )
}
