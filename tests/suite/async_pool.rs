//! The async face (`wasmhost::pool`, cargo feature `tokio`): a thousand concurrent calls whose
//! async host function awaits a channel and a timer all come back right, exactly once, while
//! the runtime's workers keep serving other tasks; the reuse policy; async host functions
//! called where they cannot block.

#![cfg(feature = "tokio")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmhost::pool::{AsyncHostFunctions, GuestPool, Reuse};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyModule, Config, HostFunctions, Interruption, WasmError};
use wasmhost_test_wasms::host::host_functions;

wasmhost::on_every_engine!(
    a_thousand_concurrent_calls_awaiting_a_channel_all_come_back_and_workers_stay_free,
    fresh_instances_per_call_or_reused_up_to_n_calls,
    an_instance_whose_call_failed_is_not_reused,
    an_async_host_function_outside_the_pool_is_a_typed_error,
    no_more_calls_run_at_once_than_the_pool_allows,
    a_dropped_call_stops_its_guest_and_frees_its_turn,
    a_pool_timeout_interrupts_long_calls_and_drops_their_instances,
    a_deadline_or_a_dropped_call_ends_an_async_host_functions_wait,
    a_resetting_pool_gives_every_call_a_pristine_instance,
);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .unwrap()
}

fn host_calls(engine: &AnyEngine) -> AnyModule {
    engine
        .compile(wasmhost_test_wasms::guest("host-calls"))
        .unwrap()
}

/// A request to the "database": two numbers, and where to send their sum.
type Request = (i64, i64, tokio::sync::oneshot::Sender<i64>);

fn a_thousand_concurrent_calls_awaiting_a_channel_all_come_back_and_workers_stay_free(
    engine: &AnyEngine,
) {
    const CALLS: i64 = 1_000;
    let runtime = runtime();
    runtime.block_on(async {
        // The host function asks a task over a channel, as a host asks its database; that
        // task answers each after a timer.
        let (requests, mut incoming) = tokio::sync::mpsc::channel::<Request>(64);
        tokio::spawn(async move {
            while let Some((a, b, answer)) = incoming.recv().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let _ = answer.send(a + b);
                });
            }
        });
        let mut host = host_functions();
        host.func_async("host_add", move |(a, b): (i64, i64)| {
            let requests = requests.clone();
            async move {
                let (answer, sum) = tokio::sync::oneshot::channel();
                requests
                    .send((a, b, answer))
                    .await
                    .map_err(|_| WasmError::host("the database is gone"))?;
                sum.await.map_err(|_| WasmError::host("no answer"))
            }
        });
        let pool = GuestPool::new(&host_calls(engine), &host, || 0u64)
            .unwrap()
            .reuse(Reuse::UpTo(50));

        // A heartbeat on the workers: if guest code ran there, it would stall.
        let beating = Arc::new(AtomicBool::new(true));
        let longest_gap = Arc::new(AtomicU64::new(0));
        let heartbeat = tokio::spawn({
            let (beating, longest_gap) = (beating.clone(), longest_gap.clone());
            async move {
                let mut last = Instant::now();
                let mut beats = 0u64;
                while beating.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let gap = last.elapsed().as_millis() as u64;
                    longest_gap.fetch_max(gap, Ordering::Relaxed);
                    last = Instant::now();
                    beats += 1;
                }
                beats
            }
        });

        let began = Instant::now();
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { (i, pool.call::<_, i64>("sum3", (i, 10, 100)).await) })
            })
            .collect();
        let mut seen = HashSet::new();
        for call in calls {
            let (i, sum) = call.await.unwrap();
            assert_eq!(sum, Ok(i + 110), "call {i}");
            assert!(seen.insert(i), "call {i} answered twice");
        }
        let took = began.elapsed();
        beating.store(false, Ordering::Relaxed);
        let beats = heartbeat.await.unwrap();
        assert_eq!(seen.len() as i64, CALLS);
        // Every call waited two timers; the workers still beat all along.
        let gap = longest_gap.load(Ordering::Relaxed);
        println!(
            "{}: {CALLS} calls in {took:?}, {beats} heartbeats, longest gap {gap} ms",
            engine.name()
        );
        assert!(beats >= 5, "{beats} heartbeats in {took:?}");
        assert!(gap < 500, "the workers stalled for {gap} ms");
    });
}

fn fresh_instances_per_call_or_reused_up_to_n_calls(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let module = host_calls(engine);
        // `count` returns the host state's counter: it tells a fresh instance from a reused one.
        let counts = |pool: GuestPool<u64>| async move {
            let mut out = Vec::new();
            for _ in 0..6 {
                out.push(pool.call::<_, u64>("count", 1u32).await.unwrap());
            }
            (out, pool.idle())
        };
        let fresh = GuestPool::new(&module, &host_functions(), || 0).unwrap();
        assert_eq!(counts(fresh).await, (vec![1, 1, 1, 1, 1, 1], 0));
        let reused = GuestPool::new(&module, &host_functions(), || 0)
            .unwrap()
            .reuse(Reuse::UpTo(3));
        assert_eq!(counts(reused).await, (vec![1, 2, 3, 1, 2, 3], 0));
        let from_ten = GuestPool::new(&module, &host_functions(), || 10)
            .unwrap()
            .reuse(Reuse::UpTo(100));
        assert_eq!(counts(from_ten).await, (vec![11, 12, 13, 14, 15, 16], 1));
    });
}

fn an_instance_whose_call_failed_is_not_reused(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let mut host = host_functions();
        host.func_async("host_fail", |message: String| async move {
            Err::<(), _>(WasmError::host(message))
        });
        let pool = GuestPool::new(&host_calls(engine), &host, || 0)
            .unwrap()
            .reuse(Reuse::UpTo(100));
        assert_eq!(pool.call::<_, u64>("count", 1u32).await, Ok(1));
        assert_eq!(pool.idle(), 1);
        // The host function's error comes back to the guest, which passes it on as its own:
        // the instance is sound and goes back.
        let failed = pool.call::<_, ()>("fail_via_host", "no".to_string()).await;
        assert_eq!(failed, Err(WasmError::host("no")));
        // A call that fails on the host's side (no such export) drops the instance.
        assert!(pool.call::<_, u64>("no_such_export", 1u32).await.is_err());
        assert_eq!(pool.idle(), 0);
        assert_eq!(pool.call::<_, u64>("count", 1u32).await, Ok(1));
    });
}

fn an_async_host_function_outside_the_pool_is_a_typed_error(engine: &AnyEngine) {
    let mut host: HostFunctions<u64> = host_functions();
    host.func_async("host_add", |(a, b): (i64, i64)| async move {
        Ok::<_, WasmError>(a + b)
    });
    let mut guest = host_calls(engine).instantiate(&host, 0).unwrap();
    // No runtime on this thread.
    let result = guest.call::<_, i64>("sum3", &(1i64, 2i64, 3i64));
    assert!(
        matches!(&result, Err(WasmError::Host(m)) if m.contains("outside a tokio runtime")),
        "{result:?}"
    );
    // On a runtime worker, where blocking is not allowed, it fails instead of blocking.
    let on_worker = runtime().block_on(async move {
        tokio::spawn(async move { guest.call::<_, i64>("sum3", &(1i64, 2i64, 3i64)) })
            .await
            .unwrap()
    });
    assert!(
        matches!(on_worker, Err(WasmError::Host(_))),
        "{on_worker:?}"
    );
}

fn no_more_calls_run_at_once_than_the_pool_allows(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let in_flight = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let mut host = host_functions();
        host.func_async("host_add", {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            move |(a, b): (i64, i64)| {
                let (in_flight, most) = (in_flight.clone(), most.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, WasmError>(a + b)
                }
            }
        });
        let pool = GuestPool::new(&host_calls(engine), &host, || 0)
            .unwrap()
            .max_concurrent(3);
        let calls: Vec<_> = (0..40i64)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.call::<_, i64>("sum3", (i, 0i64, 0i64)).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(i as i64));
        }
        assert_eq!(most.load(Ordering::SeqCst), 3, "calls at once");
    });
}

/// `host-calls` on an interruptible engine of `engine`'s kind.
fn interruptible_host_calls(engine: &AnyEngine) -> AnyModule {
    let config = Config::default().interruptible(true);
    host_calls(&AnyEngine::from_name(engine.name(), config).unwrap())
}

/// `count(u32::MAX)` calls the host four billion times: tens of minutes, unless stopped.
const ENDLESS: u32 = u32::MAX;

fn a_dropped_call_stops_its_guest_and_frees_its_turn(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let pool = GuestPool::new(&interruptible_host_calls(engine), &host_functions(), || 0)
            .unwrap()
            .max_concurrent(1);
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            pool.call::<_, u64>("count", ENDLESS),
        )
        .await;
        assert!(abandoned.is_err(), "the endless call timed out");
        // One call at a time: this one gets its turn only once the abandoned guest stopped.
        let next = tokio::time::timeout(
            Duration::from_secs(30),
            pool.call::<_, i64>("sum3", (1i64, 2i64, 3i64)),
        )
        .await;
        assert_eq!(next, Ok(Ok(6)), "the abandoned guest was stopped");
    });
}

/// An async host function whose future never completes is dropped at the call's deadline,
/// and at a cancel (the call's future dropped): the guest stops and the turn is freed.
fn a_deadline_or_a_dropped_call_ends_an_async_host_functions_wait(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let mut host = host_functions();
        host.func_async("host_add", |(_, _): (i64, i64)| {
            std::future::pending::<Result<i64, WasmError>>()
        });
        let module = interruptible_host_calls(engine);
        let pool = GuestPool::new(&module, &host, || 0)
            .unwrap()
            .max_concurrent(1)
            .timeout(Duration::from_millis(50));
        let began = Instant::now();
        let stuck = pool.call::<_, i64>("sum3", (1i64, 2i64, 3i64)).await;
        assert_eq!(stuck, Err(WasmError::Interrupted(Interruption::Deadline)));
        assert!(began.elapsed() < Duration::from_secs(10));
        let pool = GuestPool::new(&module, &host, || 0)
            .unwrap()
            .max_concurrent(1);
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            pool.call::<_, i64>("sum3", (1i64, 2i64, 3i64)),
        )
        .await;
        assert!(abandoned.is_err(), "the waiting call timed out");
        // One call at a time: this one gets its turn only once the first guest stopped.
        let next =
            tokio::time::timeout(Duration::from_secs(30), pool.call::<_, u64>("count", 3u32)).await;
        assert_eq!(next, Ok(Ok(3)), "the abandoned guest was stopped");
    });
}

fn a_pool_timeout_interrupts_long_calls_and_drops_their_instances(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let pool = GuestPool::new(&interruptible_host_calls(engine), &host_functions(), || 0)
            .unwrap()
            .reuse(Reuse::UpTo(100))
            .timeout(Duration::from_millis(50));
        assert_eq!(pool.call::<_, u64>("count", 3u32).await, Ok(3));
        assert_eq!(pool.idle(), 1);
        let late = pool.call::<_, u64>("count", ENDLESS).await;
        assert_eq!(late, Err(WasmError::Interrupted(Interruption::Deadline)));
        assert_eq!(pool.idle(), 0);
        assert_eq!(pool.call::<_, u64>("count", 3u32).await, Ok(3));
        // Without interruption, a timeout cannot be kept: every call says so.
        let plain = GuestPool::new(&host_calls(engine), &host_functions(), || 0)
            .unwrap()
            .timeout(Duration::from_millis(50));
        let refused = plain.call::<_, u64>("count", 3u32).await;
        assert!(matches!(refused, Err(WasmError::Engine(_))), "{refused:?}");
    });
}

fn a_resetting_pool_gives_every_call_a_pristine_instance(engine: &AnyEngine) {
    let runtime = runtime();
    runtime.block_on(async {
        let engine =
            AnyEngine::from_name(engine.name(), Config::default().resettable(true)).unwrap();
        let counter = engine
            .compile(wasmhost_test_wasms::guest("counter_service"))
            .unwrap();
        let pool = GuestPool::new(&counter, &HostFunctions::new(), || ())
            .unwrap()
            .reuse(Reuse::Reset);
        // The same instance every time, each call on it the first since instantiation.
        for _ in 0..3 {
            assert_eq!(pool.call::<_, u64>("next", ()).await, Ok(1));
            assert_eq!(pool.idle(), 1);
        }
        // A Rust guest's allocator grows its memory at once: such an instance cannot be
        // reset, so it is dropped and the next call gets a fresh one.
        let rust = host_calls(&engine);
        let pool = GuestPool::new(&rust, &host_functions(), || 0)
            .unwrap()
            .reuse(Reuse::Reset);
        for _ in 0..2 {
            assert_eq!(pool.call::<_, u64>("count", 2u32).await, Ok(2));
            assert_eq!(pool.idle(), 0);
        }
    });
}
