//! Panics on request, and works otherwise: a panic must reach the host as an error with its
//! message, and the next call on a fresh instance must succeed.

use wasmhost_guest::{WasmError, export};

export! {
    fn panic_with(message: String) -> Result<(), WasmError> {
        panic!("{message}");
    }
}

export! {
    fn index_out_of_range(index: u32) -> Result<u8, WasmError> {
        let v = [1u8, 2, 3];
        Ok(v[index as usize])
    }
}

export! {
    fn answer(unit: ()) -> Result<u32, WasmError> {
        let () = unit;
        Ok(42)
    }
}
