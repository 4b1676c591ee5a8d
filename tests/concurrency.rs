//! Many threads on one compiled module: every call's result comes back exactly once, no
//! thread waits on another, and an instance moves between threads with its state. (Calls per
//! second at 1 and 2 threads are measured in the benchmarks' `threads` group.)

mod common;

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;

use common::module;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance};
use wasmhost_test_wasms::host::host_functions;

wasmhost::on_every_engine!(
    threads_sharing_a_module_get_every_result_exactly_once,
    an_instance_moves_between_threads_with_its_state,
);

const THREADS: i64 = 4;
const CALLS: i64 = 250;
/// Calls on one instance before a thread makes a fresh one.
const CALLS_PER_INSTANCE: i64 = 50;

fn threads_sharing_a_module_get_every_result_exactly_once(engine: &AnyEngine) {
    let module = module(engine, "host-calls");
    let prelinked = module.prelink(&host_functions()).unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS as usize));
    let (results, received) = mpsc::channel();
    for t in 0..THREADS {
        let (prelinked, start, results) = (prelinked.clone(), start.clone(), results.clone());
        std::thread::spawn(move || {
            start.wait();
            let mut guest = None;
            for i in 0..CALLS {
                if i % CALLS_PER_INSTANCE == 0 {
                    guest = Some(prelinked.instantiate(0).unwrap());
                }
                let guest = guest.as_mut().unwrap();
                // The host adds, so each result also crossed a host function.
                let sum: Result<i64, _> = guest.call("sum3", &(t * 1_000_000, i, 1));
                results.send((t, i, sum, *guest.state())).unwrap();
            }
        });
    }
    drop(results);
    let mut seen = HashSet::new();
    for _ in 0..THREADS * CALLS {
        // A thread that never answers is a deadlock: fail rather than hang.
        let (t, i, sum, _) = received
            .recv_timeout(Duration::from_secs(120))
            .expect("every call answers within two minutes");
        assert_eq!(sum, Ok(t * 1_000_000 + i + 1), "thread {t}, call {i}");
        assert!(seen.insert((t, i)), "thread {t}, call {i} answered twice");
    }
    assert!(received.recv().is_err(), "no result beyond the calls made");
    assert_eq!(seen.len() as i64, THREADS * CALLS);
}

fn an_instance_moves_between_threads_with_its_state(engine: &AnyEngine) {
    let mut guest: AnyInstance<u64> = module(engine, "host-calls")
        .instantiate(&host_functions(), 0)
        .unwrap();
    let count = guest.serialized::<u32, u64>("count").unwrap();
    assert_eq!(count.call(&mut guest, &5).unwrap(), 5);
    // To another thread, with the handle made here, and back.
    let (mut guest, count) = std::thread::spawn(move || {
        assert_eq!(count.call(&mut guest, &3).unwrap(), 8);
        (guest, count)
    })
    .join()
    .unwrap();
    assert_eq!(*guest.state(), 8);
    let mut guest = std::thread::spawn(move || {
        assert_eq!(guest.call::<_, u64>("count", &2).unwrap(), 10);
        guest
    })
    .join()
    .unwrap();
    assert_eq!(count.call(&mut guest, &1).unwrap(), 11);
}
