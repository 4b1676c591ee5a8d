//! Every Rust test guest through the serialized ABI: the same results on every engine.

use crate::common;

use std::collections::BTreeMap;

use common::{instance, module};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Bytes, HostFunctions, WasmError};
use wasmhost_test_wasms::host::{host_functions, host_functions_with_add};
use wasmhost_test_wasms::types::{Entry, Nested, Shape, Validation};

fn nested() -> Nested {
    let leaf = Nested {
        name: "leaf ✓".into(),
        values: vec![],
        ratio: -0.0,
        child: None,
        tags: BTreeMap::new(),
        shape: Shape::Point,
        blob: vec![],
    };
    Nested {
        name: "root".into(),
        values: vec![i64::MIN, -1, 0, 1, i64::MAX],
        ratio: f64::from_bits(0x7ff8_0000_0000_0001),
        child: Some(Box::new(leaf)),
        tags: BTreeMap::from([("a".into(), 1), ("zz".into(), u32::MAX)]),
        shape: Shape::Rect { w: 3, h: 65535 },
        blob: (0..=255).collect(),
    }
}

fn echo_round_trips(engine: &AnyEngine) {
    let mut guest = instance(engine, "echo");
    let bytes = Bytes::from(vec![0u8, 1, 255, 128]);
    assert_eq!(guest.call::<_, Bytes>("echo_bytes", &bytes).unwrap(), bytes);
    let text = "héllo, wörld — 🦀".to_string();
    assert_eq!(guest.call::<_, String>("echo_string", &text).unwrap(), text);
    let value = nested();
    let back: Nested = guest.call("echo_nested", &value).unwrap();
    // f64 NaN != NaN: compare the float by bits, the rest by value.
    assert_eq!(back.ratio.to_bits(), value.ratio.to_bits());
    assert_eq!(
        Nested { ratio: 0.0, ..back },
        Nested {
            ratio: 0.0,
            ..value
        }
    );
    let circle = Nested {
        shape: Shape::Circle(1.5),
        child: None,
        ..nested()
    };
    let back: Nested = guest.call("echo_nested", &circle).unwrap();
    assert_eq!(back.shape, Shape::Circle(1.5));
}

fn validation_callback_passes_and_fails(engine: &AnyEngine) {
    let mut guest = instance(engine, "validate");
    let entry = |author: &str, content: &str, timestamp| Entry {
        author: author.into(),
        content: content.into(),
        timestamp,
    };
    let cases = [
        (entry("alice", "hello", 1), Validation::Pass),
        (
            entry("", "hello", 1),
            Validation::Fail("author is empty".into()),
        ),
        (
            entry("bob", "", 1),
            Validation::Fail("content is 0 bytes, not 1..=1024".into()),
        ),
        (
            entry("bob", &"x".repeat(1025), 1),
            Validation::Fail("content is 1025 bytes, not 1..=1024".into()),
        ),
        (
            entry("bob", "hi", 0),
            Validation::Fail("timestamp is zero".into()),
        ),
    ];
    for (input, expected) in cases {
        let got: Validation = guest.call("validate", &input).unwrap();
        assert_eq!(got, expected, "{input:?}");
    }
}

fn host_functions_are_closures_with_state_and_callbacks(engine: &AnyEngine) {
    let mut guest = module(engine, "host-calls")
        .instantiate(&host_functions(), 0u64)
        .unwrap();
    assert_eq!(guest.call::<_, i64>("sum3", &(1, 2, 3)).unwrap(), 6);
    assert_eq!(guest.call::<_, u64>("count", &5u32).unwrap(), 5);
    assert_eq!(*guest.state(), 5);
    *guest.state_mut() = 100;
    assert_eq!(guest.call::<_, u64>("count", &1u32).unwrap(), 101);
    assert_eq!(
        guest.call::<_, String>("shout", "stressed").unwrap(),
        "DESSERTS"
    );
}

fn host_function_errors_reach_the_caller_typed(engine: &AnyEngine) {
    let mut guest = module(engine, "host-calls")
        .instantiate(&host_functions(), 0u64)
        .unwrap();
    assert_eq!(
        guest.call::<_, ()>("fail_via_host", "boom"),
        Err(WasmError::Host("boom".into()))
    );
    // The guest may also handle the error itself.
    assert_eq!(
        guest.call::<_, String>("catch_host_error", "boom").unwrap(),
        "caught: host function error: boom"
    );
    assert_eq!(
        guest.call::<_, i64>("sum3", &(i64::MAX, 1, 0)),
        Err(WasmError::Host("overflow".into()))
    );
    // The same instance keeps serving.
    assert_eq!(guest.call::<_, i64>("sum3", &(1, 1, 1)).unwrap(), 3);
}

fn host_function_panic_is_an_error_not_a_crash(engine: &AnyEngine) {
    let host = host_functions_with_add(|_, _| panic!("host bug"));
    let mut guest = module(engine, "host-calls").instantiate(&host, 0).unwrap();
    match guest.call::<_, i64>("sum3", &(1, 2, 3)) {
        Err(WasmError::Host(m)) => assert!(m.contains("panicked: host bug"), "{m}"),
        other => panic!("expected a host error, got {other:?}"),
    }
    assert_eq!(guest.call::<_, u64>("count", &2u32).unwrap(), 2);
}

fn guest_panic_is_an_error_with_its_message(engine: &AnyEngine) {
    let mut guest = instance(engine, "panics");
    match guest.call::<_, ()>("panic_with", "the sky is falling") {
        Err(WasmError::GuestPanic(m)) => assert!(m.contains("the sky is falling"), "{m}"),
        other => panic!("expected a guest panic, got {other:?}"),
    }
    match guest.call::<_, u8>("index_out_of_range", &10u32) {
        Err(WasmError::GuestPanic(m)) => assert!(m.contains("index out of bounds"), "{m}"),
        other => panic!("expected a guest panic, got {other:?}"),
    }
    let mut fresh = instance(engine, "panics");
    assert_eq!(fresh.call::<_, u32>("answer", &()).unwrap(), 42);
}

fn allocation_round_trips_do_not_leak(engine: &AnyEngine) {
    let mut guest = instance(engine, "alloc-churn");
    let call = |guest: &mut wasmhost::AnyInstance<()>, i: u32| {
        let input = Bytes::from(vec![1u8; (i as usize * 31) % 4099]);
        let reply: Bytes = guest.call("swap", &(input, (i * 17) % 3001)).unwrap();
        assert_eq!(reply.len() as u32, (i * 17) % 3001);
    };
    // Let the allocator reach its steady state before measuring.
    for i in 0..1_000 {
        call(&mut guest, i);
    }
    assert!(guest.call::<_, u64>("churn", &2_000u32).unwrap() > 0);
    let pages_before = guest.memory_size().unwrap() / 65536;
    for i in 0..100_000 {
        call(&mut guest, i);
    }
    assert!(guest.call::<_, u64>("churn", &2_000u32).unwrap() > 0);
    assert_eq!(guest.memory_size().unwrap() / 65536, pages_before);
}

fn modules_are_shared_across_threads(engine: &AnyEngine) {
    let module = module(engine, "echo");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let module = module.clone();
            std::thread::spawn(move || {
                let mut guest = module.instantiate(&HostFunctions::new(), ()).unwrap();
                let text = format!("thread {t}");
                guest.call::<_, String>("echo_string", &text).unwrap() == text
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
    // An instance, with its store, moves to another thread.
    let mut guest = instance(engine, "echo");
    let moved = std::thread::spawn(move || guest.call::<_, String>("echo_string", "moved"));
    assert_eq!(moved.join().unwrap().unwrap(), "moved");
}

wasmhost::on_every_engine!(
    echo_round_trips,
    validation_callback_passes_and_fails,
    host_functions_are_closures_with_state_and_callbacks,
    host_function_errors_reach_the_caller_typed,
    host_function_panic_is_an_error_not_a_crash,
    guest_panic_is_an_error_with_its_message,
    allocation_round_trips_do_not_leak,
    modules_are_shared_across_threads,
);

#[test]
fn engines_are_send_and_sync_and_instances_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<wasmhost::AnyEngine>();
    send_sync::<wasmhost::AnyModule>();
    send::<wasmhost::AnyInstance<u64>>();
}
