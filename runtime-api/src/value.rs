//! Raw wasm values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A wasm value type: the numeric types, the 128-bit vector, and the two reference types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE 754 float.
    F32,
    /// 64-bit IEEE 754 float.
    F64,
    /// 128-bit vector (SIMD): 16 bytes with no lane shape of their own.
    V128,
    /// A reference to a function, or null.
    FuncRef,
    /// A reference to a host value, or null.
    ExternRef,
}

/// A non-null function reference that came out of a guest.
///
/// Opaque: the contract says *that* a function is referenced, not which one, because a
/// function belongs to the store of its instance and every instance has its own. It can be
/// read and compared with null; passing it back into a guest is refused with
/// [`crate::WasmError::ExportSignature`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FuncRef {
    _opaque: (),
}

impl FuncRef {
    /// A non-null function reference. Backends make these for references a guest returns.
    pub const fn opaque() -> Self {
        FuncRef { _opaque: () }
    }
}

/// A raw wasm value. Floats are carried as their exact bit patterns so that NaN sign and
/// payload survive every conversion between engines and the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// 32-bit integer.
    I32(i32),
    /// 64-bit integer.
    I64(i64),
    /// 32-bit float, as bits.
    F32(u32),
    /// 64-bit float, as bits.
    F64(u64),
    /// 128-bit vector, as bits: lane 0 of any shape is the least significant (the byte at
    /// the lowest address when stored).
    V128(u128),
    /// A function reference: `None` is `ref.null func`.
    FuncRef(Option<FuncRef>),
    /// A host reference: `None` is `ref.null extern`, `Some(n)` the host value `n` (the
    /// host chooses what the number stands for; the guest can only hold and pass it).
    ExternRef(Option<u32>),
}

impl Value {
    /// The type of this value.
    pub fn ty(&self) -> ValType {
        match self {
            Value::I32(_) => ValType::I32,
            Value::I64(_) => ValType::I64,
            Value::F32(_) => ValType::F32,
            Value::F64(_) => ValType::F64,
            Value::V128(_) => ValType::V128,
            Value::FuncRef(_) => ValType::FuncRef,
            Value::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The default value of `ty`: zero, or a null reference. Locals, table elements and
    /// globals start as this.
    pub fn default_for(ty: ValType) -> Self {
        match ty {
            ValType::I32 => Value::I32(0),
            ValType::I64 => Value::I64(0),
            ValType::F32 => Value::F32(0),
            ValType::F64 => Value::F64(0),
            ValType::V128 => Value::V128(0),
            ValType::FuncRef => Value::FuncRef(None),
            ValType::ExternRef => Value::ExternRef(None),
        }
    }

    /// Parses `text` as a value of type `ty`: integers in decimal (or `0x` hex), floats as
    /// decimal numbers, `nan`, `inf`, or exact bits as `0x…`; a vector as its bits in `0x…`
    /// (up to 32 hex digits) or decimal; references as `null`, and a host reference also as
    /// its number.
    pub fn parse(ty: ValType, text: &str) -> Option<Self> {
        let hex = text.strip_prefix("0x");
        Some(match ty {
            ValType::I32 => Value::I32(match hex {
                Some(h) => u32::from_str_radix(h, 16).ok()? as i32,
                None => text.parse::<i64>().ok().and_then(|v| {
                    i32::try_from(v)
                        .ok()
                        .or_else(|| u32::try_from(v).ok().map(|u| u as i32))
                })?,
            }),
            ValType::I64 => Value::I64(match hex {
                Some(h) => u64::from_str_radix(h, 16).ok()? as i64,
                None => text
                    .parse::<i64>()
                    .ok()
                    .or_else(|| text.parse::<u64>().ok().map(|u| u as i64))?,
            }),
            ValType::F32 => Value::F32(match hex {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => text.parse::<f32>().ok()?.to_bits(),
            }),
            ValType::F64 => Value::F64(match hex {
                Some(h) => u64::from_str_radix(h, 16).ok()?,
                None => text.parse::<f64>().ok()?.to_bits(),
            }),
            ValType::V128 => Value::V128(match hex {
                Some(h) => u128::from_str_radix(h, 16).ok()?,
                None => text.parse().ok()?,
            }),
            ValType::FuncRef if text == "null" => Value::FuncRef(None),
            ValType::FuncRef => return None,
            ValType::ExternRef if text == "null" => Value::ExternRef(None),
            ValType::ExternRef => Value::ExternRef(Some(text.parse().ok()?)),
        })
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// Integers in decimal; floats as their value followed by their exact bits, e.g.
/// `f32:nan (0x7fc00000)`, because two NaNs that print alike may differ in bits; vectors as
/// their 32 hex digits, `v128:0x0000…0001` (lane 0 last); references
/// as `funcref:null`, `funcref:func`, `externref:null`, `externref:7`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::I32(v) => write!(f, "i32:{v}"),
            Value::I64(v) => write!(f, "i64:{v}"),
            Value::F32(b) => write!(f, "f32:{} ({b:#010x})", f32::from_bits(b)),
            Value::F64(b) => write!(f, "f64:{} ({b:#018x})", f64::from_bits(b)),
            Value::V128(b) => write!(f, "v128:{b:#034x}"),
            Value::FuncRef(None) => f.write_str("funcref:null"),
            Value::FuncRef(Some(_)) => f.write_str("funcref:func"),
            Value::ExternRef(None) => f.write_str("externref:null"),
            Value::ExternRef(Some(n)) => write!(f, "externref:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_exact_float_bits() {
        assert_eq!(
            Value::parse(ValType::F32, "0x7fc00001"),
            Some(Value::F32(0x7fc0_0001))
        );
        assert_eq!(
            Value::parse(ValType::F64, "1.5"),
            Some(Value::F64(1.5f64.to_bits()))
        );
        assert_eq!(
            Value::parse(ValType::I32, "4294967295"),
            Some(Value::I32(-1))
        );
        assert_eq!(Value::parse(ValType::I32, "x"), None);
        assert_eq!(
            Value::parse(ValType::ExternRef, "7"),
            Some(Value::ExternRef(Some(7)))
        );
        assert_eq!(
            Value::parse(ValType::FuncRef, "null"),
            Some(Value::FuncRef(None))
        );
        assert_eq!(Value::parse(ValType::FuncRef, "7"), None);
        assert_eq!(
            Value::parse(ValType::V128, "0xffffffff000000000000000000000001"),
            Some(Value::V128(0xffff_ffff_0000_0000_0000_0000_0000_0001))
        );
        assert_eq!(
            Value::parse(ValType::V128, "0x1")
                .map(|v| v.to_string())
                .as_deref(),
            Some("v128:0x00000000000000000000000000000001")
        );
    }
}
