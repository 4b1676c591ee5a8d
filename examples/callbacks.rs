//! Host state and callbacks: host functions that count in the host's state, that call back
//! into the guest while the guest is calling them, and whose errors the guest receives as
//! its own. `cargo run --example callbacks`.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, WasmError};

fn main() -> Result<(), WasmError> {
    let mut host = HostFunctions::<u64>::new();
    host.func("host_add", |_, (a, b): (i64, i64)| {
        a.checked_add(b).ok_or_else(|| WasmError::host("overflow"))
    })
    .func("host_count", |ctx, (): ()| {
        *ctx.state_mut() += 1; // the host state of this instance
        Ok(*ctx.state())
    })
    .func("host_shout", |ctx, text: String| {
        // A callback: the guest's `reverse` runs while the guest waits for this answer.
        let reversed: String = ctx.call("reverse", &text)?;
        Ok(reversed.to_uppercase())
    })
    .func("host_fail", |_, message: String| -> Result<(), WasmError> {
        Err(WasmError::host(message))
    });
    for engine in AnyEngine::all(&Config::default()) {
        let module = engine.compile(wasmhost_test_wasms::guest("host-calls"))?;
        let mut guest = module.instantiate(&host, 0)?;
        let sum: i64 = guest.call("sum3", &(1i64, 2i64, 3i64))?;
        let count: u64 = guest.call("count", &3u32)?;
        let shout: String = guest.call("shout", "olleh")?;
        let overflow = guest.call::<_, i64>("sum3", &(i64::MAX, 1i64, 0i64));
        let failed = guest.call::<_, ()>("fail_via_host", "no");
        println!(
            "{}: sum3 = {sum}, count = {count} (state {}), shout = {shout}, overflow: {overflow:?}, failing host: {failed:?}",
            engine.name(),
            guest.state()
        );
    }
    Ok(())
}
