//! An async host on tokio: guest calls on the blocking pool through a pool of instances,
//! and a host function that awaits (here a timer standing in for a database), while the
//! runtime keeps serving other tasks. `cargo run --example async_pool --features tokio`.

use std::time::{Duration, Instant};

use wasmhost::pool::{AsyncHostFunctions, GuestPool, Reuse};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, WasmError};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), WasmError> {
    for engine in AnyEngine::all(&Config::default()) {
        let module = engine.compile(wasmhost_test_wasms::guest("host-calls"))?;
        let mut host = wasmhost_test_wasms::host::host_functions();
        host.func_async("host_add", |(a, b): (i64, i64)| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok::<i64, WasmError>(a + b)
        });
        let pool = GuestPool::new(&module, &host, || 0u64)?.reuse(Reuse::UpTo(100));
        let began = Instant::now();
        let calls: Vec<_> = (0..200i64)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.call::<_, i64>("sum3", (i, 1i64, 1i64)).await })
            })
            .collect();
        let mut total = 0;
        for call in calls {
            total += call.await.expect("the task ran")?;
        }
        println!(
            "{}: 200 concurrent calls, each waiting twice for 2 ms, in {:?}; sum of results {total}; {} instances idle",
            engine.name(),
            began.elapsed(),
            pool.idle()
        );
    }
    Ok(())
}
