//! Every engine side by side: calls (ours against the raw engine), serialized calls, fresh
//! instances, payloads, and the cost of the deterministic profile against native code.
//!
//! `cargo bench -p wasmhost-benches` runs them all; the group names say what is compared.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use wasmhost::prelude::*;
use wasmhost::{AnyEngine, Bytes, Config, HostFunctions, Value};
use wasmhost_benches::{FLOAT_KERNEL_WAT, float_kernel_native};

fn engines(config: &Config) -> Vec<AnyEngine> {
    AnyEngine::all(config)
}

/// A no-op call on a live instance: ours (raw values, by name) against the engine's own
/// calls, typed (a handle looked up once) and untyped (by name, with values, as ours).
fn noop_call(c: &mut Criterion) {
    let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
    let mut g = c.benchmark_group("noop_call");
    for engine in engines(&Config::default()) {
        let mut instance = engine
            .compile(&wasm)
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .unwrap();
        g.bench_function(BenchmarkId::new("wasmhost", engine.name()), |b| {
            b.iter(|| instance.call_raw(black_box("noop"), &[]).unwrap())
        });
    }
    // Raw wasmer.
    {
        let mut store = wasmer::Store::default();
        let module = wasmer::Module::new(&store, &wasm).unwrap();
        let instance = wasmer::Instance::new(&mut store, &module, &wasmer::imports! {}).unwrap();
        let f = instance
            .exports
            .get_typed_function::<(), ()>(&store, "noop")
            .unwrap();
        g.bench_function(BenchmarkId::new("raw_typed", "wasmer"), |b| {
            b.iter(|| f.call(&mut store).unwrap())
        });
        // The like-for-like baseline of a raw-values call: look up by name, call with values.
        g.bench_function(BenchmarkId::new("raw_untyped", "wasmer"), |b| {
            b.iter(|| {
                let f = instance.exports.get_function(black_box("noop")).unwrap();
                f.call(&mut store, &[]).unwrap()
            })
        });
    }
    // Raw wasmi.
    {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &wasm).unwrap();
        let mut store = wasmi::Store::new(&engine, ());
        let instance = wasmi::Linker::new(&engine)
            .instantiate_and_start(&mut store, &module)
            .unwrap();
        let f = instance.get_typed_func::<(), ()>(&store, "noop").unwrap();
        g.bench_function(BenchmarkId::new("raw_typed", "wasmi"), |b| {
            b.iter(|| f.call(&mut store, ()).unwrap())
        });
        g.bench_function(BenchmarkId::new("raw_untyped", "wasmi"), |b| {
            b.iter(|| {
                let f = instance.get_func(&store, black_box("noop")).unwrap();
                f.call(&mut store, &[], &mut []).unwrap()
            })
        });
    }
    g.finish();
}

/// A serialized call (MessagePack in and out) on a live instance, and on a fresh instance
/// of a compiled module: the cost a host pays per call.
fn serialized_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("serialized_call");
    for engine in engines(&Config::default()) {
        let module = engine.compile(wasmhost_test_wasms::guest("echo")).unwrap();
        let mut live = module.instantiate(&HostFunctions::new(), ()).unwrap();
        g.bench_function(BenchmarkId::new("live_instance", engine.name()), |b| {
            b.iter(|| {
                live.call::<_, String>("echo_string", black_box("hello"))
                    .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("fresh_instance", engine.name()), |b| {
            b.iter(|| {
                let mut i = module.instantiate(&HostFunctions::new(), ()).unwrap();
                i.call::<_, String>("echo_string", black_box("hello"))
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// A fresh instance of a small module and one call: ours against the raw engine, to show
/// what our instantiation adds (import checks, host-function linking, the store's data).
fn fresh_instance(c: &mut Criterion) {
    let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
    let mut g = c.benchmark_group("fresh_instance_noop");
    for engine in engines(&Config::default()) {
        let module = engine.compile(&wasm).unwrap();
        g.bench_function(BenchmarkId::new("wasmhost", engine.name()), |b| {
            b.iter(|| {
                let mut i = module.instantiate(&HostFunctions::new(), ()).unwrap();
                i.call_raw("noop", &[]).unwrap()
            })
        });
    }
    {
        let engine = wasmer::Engine::default();
        let module = wasmer::Module::new(&engine, &wasm).unwrap();
        g.bench_function(BenchmarkId::new("raw", "wasmer"), |b| {
            b.iter(|| {
                let mut store = wasmer::Store::new(engine.clone());
                let i = wasmer::Instance::new(&mut store, &module, &wasmer::imports! {}).unwrap();
                let f = i
                    .exports
                    .get_typed_function::<(), ()>(&store, "noop")
                    .unwrap();
                f.call(&mut store).unwrap()
            })
        });
    }
    {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &wasm).unwrap();
        let linker = wasmi::Linker::<()>::new(&engine);
        g.bench_function(BenchmarkId::new("raw", "wasmi"), |b| {
            b.iter(|| {
                let mut store = wasmi::Store::new(&engine, ());
                let i = linker.instantiate_and_start(&mut store, &module).unwrap();
                let f = i.get_typed_func::<(), ()>(&store, "noop").unwrap();
                f.call(&mut store, ()).unwrap()
            })
        });
    }
    g.finish();
}

/// Bytes across the boundary, both ways (an echo), against a plain memcpy of the same size.
fn payload(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_echo_16MiB");
    g.sample_size(10);
    let data = Bytes::from(vec![7u8; 16 << 20]);
    for engine in engines(&Config::default()) {
        let mut live = engine
            .compile(wasmhost_test_wasms::guest("echo"))
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .unwrap();
        g.bench_function(engine.name(), |b| {
            b.iter(|| live.call::<_, Bytes>("echo_bytes", &data).unwrap())
        });
    }
    g.bench_function("native_memcpy_x6", |b| {
        // An echo copies the payload about six times: encode, into the guest, decode,
        // encode, out of the guest, decode.
        b.iter(|| {
            let mut v = data.to_vec();
            for _ in 0..5 {
                v = black_box(v.clone());
            }
            v
        })
    });
    g.finish();
}

/// The float kernel on every engine in both profiles, and natively.
fn deterministic_profile_cost(c: &mut Criterion) {
    const ROUNDS: i32 = 100_000;
    let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
    let mut g = c.benchmark_group("float_kernel_100k");
    for deterministic in [false, true] {
        let profile = if deterministic {
            "deterministic"
        } else {
            "default"
        };
        for engine in engines(&Config::default().deterministic(deterministic)) {
            let mut i = engine
                .compile(&wasm)
                .unwrap()
                .instantiate(&HostFunctions::new(), ())
                .unwrap();
            g.bench_function(BenchmarkId::new(engine.name(), profile), |b| {
                b.iter(|| {
                    i.call_raw("kernel", &[Value::I32(black_box(ROUNDS))])
                        .unwrap()
                })
            });
        }
    }
    g.bench_function("native", |b| {
        b.iter(|| float_kernel_native(black_box(ROUNDS)))
    });
    g.finish();
}

/// Fuel metering off, native and portable on compute workloads (the `workloads` guest),
/// every engine: what each meter costs, and whether portable stays within its target.
fn metering_cost(c: &mut Criterion) {
    use wasmhost::{Metering, ValType};
    const ROUNDS: i32 = 100_000;
    let mut host = HostFunctions::<()>::new();
    host.raw("env", "tick", &[ValType::I32], &[], |_, _| Ok(vec![]));
    for workload in ["integer", "float", "memory", "calls"] {
        let mut g = c.benchmark_group(format!("metering_{workload}_100k"));
        for mode in [Metering::Off, Metering::Native, Metering::Portable] {
            for engine in engines(&Config::default().metering(mode)) {
                let mut i = engine
                    .compile(wasmhost_test_wasms::guest("workloads"))
                    .unwrap()
                    .instantiate(&host, ())
                    .unwrap();
                g.bench_function(BenchmarkId::new(engine.name(), mode.name()), |b| {
                    b.iter(|| {
                        if mode != Metering::Off {
                            i.set_fuel(u64::MAX >> 2).unwrap();
                        }
                        i.call_raw(workload, &[Value::I32(black_box(ROUNDS))])
                            .unwrap()
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = noop_call, serialized_call, fresh_instance, payload, deterministic_profile_cost, metering_cost
}
criterion_main!(benches);
