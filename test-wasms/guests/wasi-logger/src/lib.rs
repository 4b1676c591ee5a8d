//! A serialized-ABI guest that also uses WASI: each call logs a line to standard output
//! with `println!`, and one to standard error.

use wasmhost_guest::{WasmError, export};

export! {
    fn sum_and_log(values: Vec<u32>) -> Result<u64, WasmError> {
        let sum = values.iter().map(|&v| u64::from(v)).sum();
        println!("summed {} values: {sum}", values.len());
        eprintln!("logged");
        Ok(sum)
    }
}
