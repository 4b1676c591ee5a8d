//! Echo: returns its input unchanged, for bytes, strings and a nested struct.

#[path = "../../../src/types.rs"]
#[allow(dead_code)]
mod types;

use types::Nested;
use wasmhost_guest::{Bytes, WasmError, export};

export! {
    fn echo_bytes(input: Bytes) -> Result<Bytes, WasmError> {
        Ok(input)
    }
}

export! {
    fn echo_string(input: String) -> Result<String, WasmError> {
        Ok(input)
    }
}

export! {
    fn echo_nested(input: Nested) -> Result<Nested, WasmError> {
        Ok(input)
    }
}
