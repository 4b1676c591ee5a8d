//! The fast paths on every engine: pre-linked instantiation, typed raw handles and typed
//! serialized handles, each behaving exactly like the slow path it replaces.

use crate::common;

use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Config, HostFunctions, Metering, Trap, ValType, Value, WasmError};
use wasmhost_test_wasms::host::host_functions;

wasmhost::on_every_engine!(
    prelinked_instances_each_keep_their_own_state,
    prelink_reports_missing_and_mistyped_imports,
    prelink_refuses_a_memory_over_the_limit,
    typed_handles_call_like_call_raw,
    calls_by_name_check_their_arguments_every_time,
    typed_handles_take_every_value_type_and_give_many_results,
    a_typed_handle_of_the_wrong_signature_is_a_typed_error,
    a_typed_handle_on_another_instance_is_refused,
    typed_handles_report_traps_and_the_instance_goes_on,
    typed_handles_are_metered,
    serialized_handles_call_like_call,
    serialized_handles_report_guest_errors_and_bad_shapes,
);

fn prelinked_instances_each_keep_their_own_state(engine: &AnyEngine) {
    let module = common::module(engine, "host-calls");
    let prelinked = module.prelink(&host_functions()).unwrap();
    let mut instances: Vec<_> = (0..3u64)
        .map(|start| prelinked.instantiate(start * 100).unwrap())
        .collect();
    for (i, instance) in instances.iter_mut().enumerate() {
        let count: u64 = instance.call("count", &(i as u32 + 1)).unwrap();
        assert_eq!(count, i as u64 * 100 + i as u64 + 1);
        assert_eq!(*instance.state(), count);
    }
    // Clones share the linking and still make independent instances, on other threads.
    let clone = prelinked.clone();
    let count = std::thread::spawn(move || {
        let mut instance = clone.instantiate(7).unwrap();
        instance.call::<_, u64>("count", &2u32)
    });
    assert_eq!(count.join().unwrap(), Ok(9));
}

fn prelink_reports_missing_and_mistyped_imports(engine: &AnyEngine) {
    let module = common::module(engine, "host-calls");
    assert!(matches!(
        module.prelink(&HostFunctions::<u64>::new()).err(),
        Some(WasmError::MissingImport { .. })
    ));
    let mut host = host_functions();
    host.raw("wasmhost", "host_add", &[ValType::I32], &[], |_, _| {
        Ok(vec![])
    });
    assert!(matches!(
        module.prelink(&host).err(),
        Some(WasmError::Link(_))
    ));
}

fn prelink_refuses_a_memory_over_the_limit(engine: &AnyEngine) {
    let engine =
        AnyEngine::from_name(engine.name(), Config::default().max_memory_bytes(64 << 10)).unwrap();
    let module = engine
        .compile(&wasmhost::wat2wasm("(module (memory 2))").unwrap())
        .unwrap();
    assert_eq!(
        module.prelink(&HostFunctions::<()>::new()).err(),
        Some(WasmError::MemoryLimit)
    );
}

fn typed_handles_call_like_call_raw(engine: &AnyEngine) {
    let mut instance = common::instance(engine, "numeric");
    let add = instance.typed::<(i32, i32), i32>("add").unwrap();
    let fib = instance.typed::<i64, i64>("fib").unwrap();
    for (a, b) in [(2, 40), (i32::MAX, 1), (-5, -7)] {
        let raw = instance.call_raw("add", &[Value::I32(a), Value::I32(b)]);
        assert_eq!(
            add.call(&mut instance, (a, b)).map(|s| vec![Value::I32(s)]),
            raw
        );
    }
    assert_eq!(fib.call(&mut instance, 90), Ok(2880067194370816120));
    // A handle is cheap to clone and stays valid for the instance's life.
    let again = add.clone();
    assert_eq!(again.call(&mut instance, (1, 1)), Ok(2));
}

fn calls_by_name_check_their_arguments_every_time(engine: &AnyEngine) {
    // Repeated calls by name skip the lookup (a one-entry cache): never the checks.
    let mut instance = common::instance(engine, "numeric");
    let add = |a, b| vec![Value::I32(a), Value::I32(b)];
    assert_eq!(
        instance.call_raw("add", &add(1, 2)),
        Ok(vec![Value::I32(3)])
    );
    assert!(matches!(
        instance.call_raw("add", &[Value::I64(1), Value::I64(2)]),
        Err(WasmError::ExportSignature { .. })
    ));
    assert!(matches!(
        instance.call_raw("add", &[Value::I32(1)]),
        Err(WasmError::ExportSignature { .. })
    ));
    assert_eq!(
        instance.call_raw("fib", &[Value::I64(10)]),
        Ok(vec![Value::I64(55)])
    );
    assert_eq!(
        instance.call_raw("add", &add(2, 2)),
        Ok(vec![Value::I32(4)])
    );
}

fn typed_handles_take_every_value_type_and_give_many_results(engine: &AnyEngine) {
    let mut instance = common::instance(engine, "numeric");
    let div = instance.typed::<(f32, f32), f32>("f32_div").unwrap();
    // NaN bits come back exactly as the engine made them; here a plain quotient.
    assert_eq!(div.call(&mut instance, (1.0, 4.0)), Ok(0.25));
    let sqrt = instance.typed::<f64, f64>("f64_sqrt").unwrap();
    assert_eq!(sqrt.call(&mut instance, 2.25), Ok(1.5));
    let multi = instance.typed::<i64, (i64, i32)>("multi").unwrap();
    assert_eq!(
        multi.call(&mut instance, 0x1_0000_0005),
        Ok((0x1_0000_0005, 5))
    );
    let wasm = wasmhost::wat2wasm(
        r#"(module (func (export "none")) (func (export "eight")
            (param i32 i64 f32 f64 i32 i64 f32 f64) (result f64)
            local.get 3 local.get 7 f64.add))"#,
    )
    .unwrap();
    let mut instance = engine
        .compile(&wasm)
        .and_then(|m| m.instantiate(&HostFunctions::new(), ()))
        .unwrap();
    let none = instance.typed::<(), ()>("none").unwrap();
    assert_eq!(none.call(&mut instance, ()), Ok(()));
    let eight = instance
        .typed::<(i32, i64, f32, f64, i32, i64, f32, f64), f64>("eight")
        .unwrap();
    assert_eq!(
        eight.call(&mut instance, (1, 2, 3.0, 0.5, 5, 6, 7.0, 0.25)),
        Ok(0.75)
    );
}

fn a_typed_handle_of_the_wrong_signature_is_a_typed_error(engine: &AnyEngine) {
    let mut instance = common::instance(engine, "numeric");
    assert_eq!(
        instance.typed::<(i64, i64), i32>("add").err(),
        Some(WasmError::ExportSignature {
            name: "add".into(),
            expected: "(i64, i64) -> (i32)".into(),
            found: "(i32, i32) -> (i32)".into(),
        })
    );
    assert!(matches!(
        instance.typed::<(i32, i32), i64>("add").err(),
        Some(WasmError::ExportSignature { .. })
    ));
    assert_eq!(
        instance.typed::<(), ()>("nope").err(),
        Some(WasmError::MissingExport("nope".into()))
    );
    assert!(matches!(
        instance.serialized::<u32, u32>("add").err(),
        Some(WasmError::ExportSignature { .. })
    ));
}

fn a_typed_handle_on_another_instance_is_refused(engine: &AnyEngine) {
    let mut first = common::instance(engine, "numeric");
    let mut second = common::instance(engine, "numeric");
    let add = first.typed::<(i32, i32), i32>("add").unwrap();
    assert!(matches!(
        add.call(&mut second, (1, 2)),
        Err(WasmError::Engine(_))
    ));
    let mut greeter = common::module(engine, "greeter")
        .instantiate(&host_functions(), 0)
        .unwrap();
    let greet = greeter.serialized::<str, String>("greet").unwrap();
    let mut other = common::module(engine, "greeter")
        .instantiate(&host_functions(), 0)
        .unwrap();
    let pages = other.memory_size().unwrap();
    assert!(matches!(
        greet.call(&mut other, "ada"),
        Err(WasmError::Engine(_))
    ));
    // Refused before anything was allocated in the other instance; both go on working.
    assert_eq!(other.memory_size().unwrap(), pages);
    assert_eq!(add.call(&mut first, (1, 2)), Ok(3));
    assert_eq!(
        second.call_raw("add", &[Value::I32(1), Value::I32(2)]),
        Ok(vec![Value::I32(3)])
    );
}

fn typed_handles_report_traps_and_the_instance_goes_on(engine: &AnyEngine) {
    let mut instance = common::instance(engine, "traps");
    let unreachable = instance.typed::<(), ()>("unreachable").unwrap();
    let divide = instance.typed::<(), i32>("divide_by_zero").unwrap();
    let ok = instance.typed::<(), i32>("ok").unwrap();
    assert_eq!(
        unreachable.call(&mut instance, ()),
        Err(WasmError::Trap(Trap::Unreachable))
    );
    assert_eq!(
        divide.call(&mut instance, ()),
        Err(WasmError::Trap(Trap::IntegerDivideByZero))
    );
    assert_eq!(ok.call(&mut instance, ()), Ok(1));
}

fn typed_handles_are_metered(engine: &AnyEngine) {
    for mode in [Metering::Native, Metering::Portable] {
        let config = Config::default().metering(mode);
        let engine = AnyEngine::from_name(engine.name(), config).unwrap();
        let mut host = HostFunctions::new();
        host.raw("env", "tick", &[ValType::I32], &[], |_, _| Ok(vec![]));
        let mut instance = engine
            .compile(wasmhost_test_wasms::guest("limits"))
            .and_then(|m| m.instantiate(&host, ()))
            .unwrap();
        let sum = instance.typed::<i32, i64>("sum").unwrap();
        // The same units as the call by name.
        instance.set_fuel(1_000_000).unwrap();
        instance.call_raw("sum", &[Value::I32(100)]).unwrap();
        let by_name = instance.fuel_consumed();
        instance.set_fuel(1_000_000).unwrap();
        assert_eq!(sum.call(&mut instance, 100), Ok(5050));
        assert_eq!(instance.fuel_consumed(), by_name, "{mode:?}");
        // Out of fuel is typed, and the spent instance refuses the handle too.
        instance.set_fuel(100).unwrap();
        assert_eq!(
            sum.call(&mut instance, 1_000_000),
            Err(WasmError::OutOfFuel)
        );
        assert_eq!(sum.call(&mut instance, 1), Err(WasmError::OutOfFuel));
    }
}

fn serialized_handles_call_like_call(engine: &AnyEngine) {
    let mut instance = common::module(engine, "greeter")
        .instantiate(&host_functions(), 0)
        .unwrap();
    let greet = instance.serialized::<str, String>("greet").unwrap();
    for name in ["ada", "bob", ""] {
        let by_name: Result<String, _> = instance.call("greet", name);
        assert_eq!(greet.call(&mut instance, name), by_name);
    }
    assert_eq!(
        greet.call(&mut instance, "ada"),
        Ok("hello ada, age 36".to_string())
    );
    // Many calls leave guest memory where it was: input and output are freed each time.
    let pages = instance.memory_size().unwrap();
    for _ in 0..1000 {
        greet.call(&mut instance, "ada").unwrap();
    }
    assert_eq!(instance.memory_size().unwrap(), pages);
}

fn serialized_handles_report_guest_errors_and_bad_shapes(engine: &AnyEngine) {
    let mut instance = common::module(engine, "host-calls")
        .instantiate(&host_functions(), 0)
        .unwrap();
    let fail = instance.serialized::<str, ()>("fail_via_host").unwrap();
    assert_eq!(fail.call(&mut instance, "no"), Err(WasmError::host("no")));
    // Output that does not decode into the handle's type is a typed error, not a panic.
    let wrong = instance
        .serialized::<(i64, i64, i64), String>("sum3")
        .unwrap();
    assert!(matches!(
        wrong.call(&mut instance, &(1, 2, 3)),
        Err(WasmError::Deserialize(_))
    ));
    let sum3 = instance.serialized::<(i64, i64, i64), i64>("sum3").unwrap();
    assert_eq!(sum3.call(&mut instance, &(1, 2, 3)), Ok(6));
}
