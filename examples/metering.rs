//! Metering a hosted guest: a budget per call in the same units on every engine, a host
//! function that charges for its own work, a typed error when the budget runs out, and the
//! units consumed, for billing. `cargo run --example metering`.

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, Metering, WasmError};

fn main() -> Result<(), WasmError> {
    let config = Config::default()
        .metering(Metering::Portable) // the same units on every engine and processor
        .max_memory_bytes(16 << 20);
    let mut host = wasmhost_test_wasms::host::host_functions();
    // Replaces the plain `host_add`: the host's own work costs the guest 1 000 units.
    host.func("host_add", |ctx, (a, b): (i64, i64)| {
        ctx.charge(1_000)?;
        Ok(a + b)
    });
    for engine in AnyEngine::all(&config) {
        let module = engine.compile(wasmhost_test_wasms::guest("host-calls"))?;
        let mut guest = module.instantiate(&host, 0)?;
        guest.set_fuel(100_000)?; // the budget of the next call
        let sum: i64 = guest.call("sum3", &(1i64, 2i64, 3i64))?;
        let used = guest.fuel_consumed().unwrap_or(0);
        println!(
            "{}: sum3 = {sum} for {used} units (2 000 charged by the host)",
            engine.name()
        );

        // A budget too small for the call: a typed error; the instance is then spent.
        guest.set_fuel(1_500)?;
        let result = guest.call::<_, i64>("sum3", &(1i64, 2i64, 3i64));
        assert_eq!(result, Err(WasmError::OutOfFuel));
        println!("{}: with a budget of 1 500: {result:?}", engine.name());
    }
    Ok(())
}
