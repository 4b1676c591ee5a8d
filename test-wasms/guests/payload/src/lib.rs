//! Big payloads: makes output of a given size, and digests input of any size.

#[path = "../../../src/types.rs"]
#[allow(dead_code)]
mod types;

use wasmhost_guest::{ByteSlice, Bytes, WasmError, export};

export! {
    /// `len` bytes of `types::fill(len, seed)`.
    fn make(input: (u64, u64)) -> Result<Bytes, WasmError> {
        let (len, seed) = input;
        Ok(Bytes::from(types::fill(len as usize, seed)))
    }
}

export! {
    /// Length and `types::digest` of the input, read where the host wrote it.
    fn digest(input: &ByteSlice) -> Result<(u64, u64), WasmError> {
        Ok((input.len() as u64, types::digest(&input)))
    }
}
