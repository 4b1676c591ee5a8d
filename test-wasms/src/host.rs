//! The host functions the test guests import (`host-calls`, `greeter`), defined once for
//! every host that runs them: wasmhost's tests and the conformance suite.

use wasmhost_api::{HostFunctions, WasmError};

/// The test guests' imports, with `host_add` given (tests swap in a failing or panicking
/// one). The host state counts how often `host_count` ran.
pub fn host_functions_with_add(
    add: impl Fn(i64, i64) -> Result<i64, WasmError> + Send + Sync + 'static,
) -> HostFunctions<u64> {
    let mut host = HostFunctions::new();
    host.func("host_add", move |_, (a, b): (i64, i64)| add(a, b))
        .func("host_count", |ctx, (): ()| {
            *ctx.state_mut() += 1;
            Ok(*ctx.state())
        })
        .func("host_shout", |ctx, text: String| {
            // Calls back into the guest while the guest is calling us.
            let reversed: String = ctx.call("reverse", &text)?;
            Ok(reversed.to_uppercase())
        })
        .func("host_fail", |_, message: String| -> Result<(), WasmError> {
            Err(WasmError::host(message))
        })
        .func("lookup_age", |_, name: String| {
            Ok(if name == "ada" { 36u32 } else { 0 })
        });
    host
}

/// The test guests' imports, `host_add` failing on overflow.
pub fn host_functions() -> HostFunctions<u64> {
    host_functions_with_add(|a, b| a.checked_add(b).ok_or_else(|| WasmError::host("overflow")))
}
