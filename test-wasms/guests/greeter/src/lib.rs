use wasmhost_guest::{WasmError, export, host_imports};

host_imports! {
    fn lookup_age(name: String) -> Result<u32, WasmError>;
}

export! {
    fn greet(name: String) -> Result<String, WasmError> {
        let age = lookup_age(&name)?;
        Ok(format!("hello {name}, age {age}"))
    }
}
