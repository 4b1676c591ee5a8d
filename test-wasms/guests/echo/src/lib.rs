//! Echo: returns its input unchanged, for bytes and strings (borrowed from the input, so
//! copied once, into the output) and a nested struct (owned).

#[path = "../../../src/types.rs"]
#[allow(dead_code)]
mod types;

use types::Nested;
use wasmhost_guest::{ByteSlice, WasmError, export};

export! {
    fn echo_bytes(input: &ByteSlice) -> Result<&ByteSlice, WasmError> {
        Ok(input)
    }
}

export! {
    fn echo_string(input: &str) -> Result<&str, WasmError> {
        Ok(input)
    }
}

export! {
    fn echo_nested(input: Nested) -> Result<Nested, WasmError> {
        Ok(input)
    }
}
