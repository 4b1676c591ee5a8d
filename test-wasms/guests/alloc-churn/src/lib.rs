//! Allocation round trips for leak checks: the host's allocations through the ABI, and the
//! guest's own, must all be given back.

use wasmhost_guest::{Bytes, WasmError, export};

export! {
    /// Takes the input (freeing it) and answers with a buffer of `reply_len` bytes (which
    /// the host frees).
    fn swap(input: (Bytes, u32)) -> Result<Bytes, WasmError> {
        let (bytes, reply_len) = input;
        drop(bytes);
        Ok(Bytes::from(vec![7u8; reply_len as usize]))
    }
}

export! {
    /// Allocates and frees `rounds` buffers of varying sizes inside the guest.
    fn churn(rounds: u32) -> Result<u64, WasmError> {
        let mut total = 0u64;
        for i in 0..rounds {
            let v = vec![i as u8; (i as usize * 7919) % 65_537];
            total += v.len() as u64;
        }
        Ok(total)
    }
}
