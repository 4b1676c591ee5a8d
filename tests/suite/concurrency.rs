//! An instance moves between threads with its state and its typed handles. (Many threads on
//! one module: `conformance/tests/suite/concurrency.rs`, and the benchmarks' `threads` group.)

use crate::common;

use common::module;
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, AnyInstance};
use wasmhost_test_wasms::host::host_functions;

wasmhost::on_every_engine!(an_instance_moves_between_threads_with_its_state);

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
