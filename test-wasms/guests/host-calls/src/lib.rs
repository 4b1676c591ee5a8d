//! Calls host functions; one of them (`host_shout`) calls back into this guest's `reverse`.

use wasmhost_guest::{WasmError, export, host_imports};

host_imports! {
    fn host_add(pair: (i64, i64)) -> Result<i64, WasmError>;
    fn host_count(unit: ()) -> Result<u64, WasmError>;
    fn host_shout(text: String) -> Result<String, WasmError>;
    fn host_fail(message: String) -> Result<(), WasmError>;
}

export! {
    /// `a + b + c`, added by the host.
    fn sum3(input: (i64, i64, i64)) -> Result<i64, WasmError> {
        let ab = host_add(&(input.0, input.1))?;
        host_add(&(ab, input.2))
    }
}

export! {
    /// Calls the host's counter `times` times; returns its last value.
    fn count(times: u32) -> Result<u64, WasmError> {
        let mut last = 0;
        for _ in 0..times {
            last = host_count(&())?;
        }
        Ok(last)
    }
}

export! {
    /// Asks the host to shout `text`; the host reverses it by calling `reverse` below.
    fn shout(text: String) -> Result<String, WasmError> {
        host_shout(&text)
    }
}

export! {
    fn reverse(text: String) -> Result<String, WasmError> {
        Ok(text.chars().rev().collect())
    }
}

export! {
    /// Passes the host function's error on with `?`.
    fn fail_via_host(message: String) -> Result<(), WasmError> {
        host_fail(&message)
    }
}

export! {
    /// Catches the host function's error and answers with what it said.
    fn catch_host_error(message: String) -> Result<String, WasmError> {
        match host_fail(&message) {
            Ok(()) => Ok("no error".into()),
            Err(e) => Ok(format!("caught: {e}")),
        }
    }
}
