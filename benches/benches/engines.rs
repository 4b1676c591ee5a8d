//! Every engine side by side, in the same criterion groups: compiling (cold, from the disk
//! cache, from memory), instantiating, calls (ours against the raw engine), serialized
//! calls, host calls, payloads against memcpy, compute kernels against native Rust, what
//! the deterministic profile and fuel metering cost, WASI calls against a raw host function,
//! and real programs (`../shared/programs`) on every engine in both profiles.
//!
//! `cargo bench -p wasmhost-benches` runs them and then prints the summary of ratios
//! (`wasmhost_benches::summary`); the group and benchmark names below are what it reads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use wasmhost::cache::{CacheConfig, ModuleCache};
use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, ByteSlice, Bytes, Config, HostFunctions, MemoryReservation, Metering, ValType,
    Value, abi,
};
use wasmhost_benches::{
    FLOAT_KERNEL_WAT, float_kernel_native, kernels, large_growing_module, large_module, summary,
};

fn engines(config: &Config) -> Vec<AnyEngine> {
    AnyEngine::all(config)
}

/// The large guest's size in functions: about 1.5 MB of wasm.
const LARGE_FUNCTIONS: usize = 12_000;

/// Compiling a small guest (the echo guest) and a large generated one from bytes (also with
/// a memory it grows), and the large one from the disk cache (engines that serialize) and
/// from the memory cache.
fn compile(c: &mut Criterion) {
    let small = wasmhost_test_wasms::guest("echo");
    let large = large_module(LARGE_FUNCTIONS);
    let growing = large_growing_module(LARGE_FUNCTIONS);
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for engine in engines(&Config::default()) {
        let name = engine.name();
        g.bench_function(BenchmarkId::new("cold_small", name), |b| {
            b.iter(|| engine.compile(black_box(small)).unwrap())
        });
        g.bench_function(BenchmarkId::new("cold_large", name), |b| {
            b.iter(|| engine.compile(black_box(&large)).unwrap())
        });
        g.bench_function(BenchmarkId::new("cold_large_growing", name), |b| {
            b.iter(|| engine.compile(black_box(&growing)).unwrap())
        });
        let dir = tempfile::tempdir().unwrap();
        let disk = CacheConfig::default().disk(dir.path());
        if ModuleCache::new(engine.clone(), disk.clone())
            .unwrap()
            .disk()
            .is_some()
        {
            ModuleCache::new(engine.clone(), disk.clone())
                .unwrap()
                .compile(&large)
                .unwrap();
            g.bench_function(BenchmarkId::new("disk_hit_large", name), |b| {
                b.iter(|| {
                    // A new cache each time: an empty memory layer, as in a new process.
                    let cache = ModuleCache::new(engine.clone(), disk.clone()).unwrap();
                    cache.compile(black_box(&large)).unwrap()
                })
            });
        }
        let cache = ModuleCache::new(engine.clone(), CacheConfig::default()).unwrap();
        cache.compile(&large).unwrap();
        // A host that keeps the key looks up without hashing the module again; `compile`
        // hashes it (that is the `key_large` time).
        let key = cache.key(&large);
        g.bench_function(BenchmarkId::new("memory_hit_large", name), |b| {
            b.iter(|| cache.get(black_box(&key)).unwrap())
        });
        g.bench_function(BenchmarkId::new("key_large", name), |b| {
            b.iter(|| cache.key(black_box(&large)))
        });
    }
    g.finish();
}

/// A fresh instance and one no-op call: from a pre-linked module, from a module linked per
/// instance, and with the raw engine.
fn instantiate(c: &mut Criterion) {
    let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
    let mut g = c.benchmark_group("instantiate");
    for engine in engines(&Config::default()) {
        let module = engine.compile(&wasm).unwrap();
        let prelinked = module.prelink(&HostFunctions::new()).unwrap();
        g.bench_function(BenchmarkId::new("prelinked", engine.name()), |b| {
            b.iter(|| {
                let mut i = prelinked.instantiate(()).unwrap();
                i.call_raw("noop", &[]).unwrap()
            })
        });
        g.bench_function(
            BenchmarkId::new("linked_per_instance", engine.name()),
            |b| {
                b.iter(|| {
                    let mut i = module.instantiate(&HostFunctions::new(), ()).unwrap();
                    i.call_raw("noop", &[]).unwrap()
                })
            },
        );
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
    {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let pre = wasmtime::Linker::<()>::new(&engine)
            .instantiate_pre(&module)
            .unwrap();
        g.bench_function(BenchmarkId::new("raw", "wasmtime"), |b| {
            b.iter(|| {
                let mut store = wasmtime::Store::new(&engine, ());
                let i = pre.instantiate(&mut store).unwrap();
                let f = i.get_typed_func::<(), ()>(&mut store, "noop").unwrap();
                f.call(&mut store, ()).unwrap()
            })
        });
    }
    g.finish();
}

/// A no-op call on a live instance: ours by name and by typed handle, against the engine's
/// own typed call (a handle looked up once) and untyped call (by name, with values).
fn noop_call(c: &mut Criterion) {
    let wasm = wasmhost::wat2wasm(FLOAT_KERNEL_WAT).unwrap();
    let mut g = c.benchmark_group("noop_call");
    for engine in engines(&Config::default()) {
        let mut instance = engine
            .compile(&wasm)
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .unwrap();
        g.bench_function(BenchmarkId::new("by_name", engine.name()), |b| {
            b.iter(|| instance.call_raw(black_box("noop"), &[]).unwrap())
        });
        let noop = instance.typed::<(), ()>("noop").unwrap();
        g.bench_function(BenchmarkId::new("typed", engine.name()), |b| {
            b.iter(|| noop.call(&mut instance, ()).unwrap())
        });
    }
    // The same typed call on a hosted instance (deterministic profile, portable fuel), which
    // goes through the host's checks (spent, interrupted) and the guest's charge and test.
    let hosted = Config::default()
        .deterministic(true)
        .metering(Metering::Portable);
    for engine in engines(&hosted) {
        let mut instance = engine
            .compile(&wasm)
            .unwrap()
            .instantiate(&HostFunctions::new(), ())
            .unwrap();
        instance.set_fuel(u64::MAX / 2).unwrap();
        let noop = instance.typed::<(), ()>("noop").unwrap();
        g.bench_function(BenchmarkId::new("typed_hosted", engine.name()), |b| {
            b.iter(|| noop.call(&mut instance, ()).unwrap())
        });
    }
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
        g.bench_function(BenchmarkId::new("raw_untyped", "wasmer"), |b| {
            b.iter(|| {
                let f = instance.exports.get_function(black_box("noop")).unwrap();
                f.call(&mut store, &[]).unwrap()
            })
        });
    }
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
    {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance
            .get_typed_func::<(), ()>(&mut store, "noop")
            .unwrap();
        g.bench_function(BenchmarkId::new("raw_typed", "wasmtime"), |b| {
            b.iter(|| f.call(&mut store, ()).unwrap())
        });
        g.bench_function(BenchmarkId::new("raw_untyped", "wasmtime"), |b| {
            b.iter(|| {
                let f = instance.get_func(&mut store, black_box("noop")).unwrap();
                f.call(&mut store, &[], &mut []).unwrap()
            })
        });
    }
    g.finish();
}

/// The echo guest's ABI exports through the raw wasmer API: the baseline of a serialized
/// call (allocate, copy in, call, copy out, free), without our layer.
struct RawWasmerEcho {
    store: wasmer::Store,
    memory: wasmer::Memory,
    alloc: wasmer::TypedFunction<i32, i32>,
    dealloc: wasmer::TypedFunction<(i32, i32), ()>,
    echo: wasmer::TypedFunction<(i32, i32), i64>,
}

impl RawWasmerEcho {
    fn new(engine: &wasmer::Engine, module: &wasmer::Module) -> Self {
        let mut store = wasmer::Store::new(engine.clone());
        let i = wasmer::Instance::new(&mut store, module, &wasmer::imports! {}).unwrap();
        RawWasmerEcho {
            memory: i.exports.get_memory(abi::MEMORY).unwrap().clone(),
            alloc: i.exports.get_typed_function(&store, abi::ALLOC).unwrap(),
            dealloc: i.exports.get_typed_function(&store, abi::DEALLOC).unwrap(),
            echo: i.exports.get_typed_function(&store, "echo_string").unwrap(),
            store,
        }
    }

    fn call(&mut self, input: &[u8]) -> Vec<u8> {
        let len = input.len() as i32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        let view = self.memory.view(&self.store);
        // SAFETY: as in wasmhost's own copies: no other access to this memory meanwhile.
        let memory = unsafe { view.data_unchecked_mut() };
        memory[ptr as usize..][..input.len()].copy_from_slice(input);
        let (out, out_len) = abi::unpack(self.echo.call(&mut self.store, ptr, len).unwrap() as u64);
        let view = self.memory.view(&self.store);
        // SAFETY: as above.
        let output = unsafe { view.data_unchecked() }[out as usize..][..out_len as usize].to_vec();
        self.dealloc
            .call(&mut self.store, out as i32, out_len as i32)
            .unwrap();
        output
    }
}

/// As [`RawWasmerEcho`], on wasmi.
struct RawWasmiEcho {
    store: wasmi::Store<()>,
    memory: wasmi::Memory,
    alloc: wasmi::TypedFunc<i32, i32>,
    dealloc: wasmi::TypedFunc<(i32, i32), ()>,
    echo: wasmi::TypedFunc<(i32, i32), i64>,
}

impl RawWasmiEcho {
    fn new(linker: &wasmi::Linker<()>, module: &wasmi::Module) -> Self {
        let mut store = wasmi::Store::new(module.engine(), ());
        let i = linker.instantiate_and_start(&mut store, module).unwrap();
        RawWasmiEcho {
            memory: i.get_memory(&store, abi::MEMORY).unwrap(),
            alloc: i.get_typed_func(&store, abi::ALLOC).unwrap(),
            dealloc: i.get_typed_func(&store, abi::DEALLOC).unwrap(),
            echo: i.get_typed_func(&store, "echo_string").unwrap(),
            store,
        }
    }

    fn call(&mut self, input: &[u8]) -> Vec<u8> {
        let len = input.len() as i32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory.data_mut(&mut self.store)[ptr as usize..][..input.len()].copy_from_slice(input);
        let (out, out_len) =
            abi::unpack(self.echo.call(&mut self.store, (ptr, len)).unwrap() as u64);
        let output = self.memory.data(&self.store)[out as usize..][..out_len as usize].to_vec();
        self.dealloc
            .call(&mut self.store, (out as i32, out_len as i32))
            .unwrap();
        output
    }
}

/// As [`RawWasmerEcho`], on wasmtime.
struct RawWasmtimeEcho {
    store: wasmtime::Store<()>,
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<i32, i32>,
    dealloc: wasmtime::TypedFunc<(i32, i32), ()>,
    echo: wasmtime::TypedFunc<(i32, i32), i64>,
}

impl RawWasmtimeEcho {
    fn new(pre: &wasmtime::InstancePre<()>) -> Self {
        let mut store = wasmtime::Store::new(pre.module().engine(), ());
        let i = pre.instantiate(&mut store).unwrap();
        RawWasmtimeEcho {
            memory: i.get_memory(&mut store, abi::MEMORY).unwrap(),
            alloc: i.get_typed_func(&mut store, abi::ALLOC).unwrap(),
            dealloc: i.get_typed_func(&mut store, abi::DEALLOC).unwrap(),
            echo: i.get_typed_func(&mut store, "echo_string").unwrap(),
            store,
        }
    }

    fn call(&mut self, input: &[u8]) -> Vec<u8> {
        let len = input.len() as i32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory.data_mut(&mut self.store)[ptr as usize..][..input.len()].copy_from_slice(input);
        let (out, out_len) =
            abi::unpack(self.echo.call(&mut self.store, (ptr, len)).unwrap() as u64);
        let output = self.memory.data(&self.store)[out as usize..][..out_len as usize].to_vec();
        self.dealloc
            .call(&mut self.store, (out as i32, out_len as i32))
            .unwrap();
        output
    }
}

/// An empty serialized call (the echo guest, an empty string): on a live instance by name
/// and by handle, on a fresh instance of a pre-linked module, and the raw engine doing the
/// same steps (the three raw calls and the copies; instantiation too for the fresh one).
fn serialized_call(c: &mut Criterion) {
    let wasm = wasmhost_test_wasms::guest("echo");
    let input = abi::encode("").unwrap();
    let mut g = c.benchmark_group("serialized_call");
    for engine in engines(&Config::default()) {
        let name = engine.name();
        let module = engine.compile(wasm).unwrap();
        let prelinked = module.prelink(&HostFunctions::new()).unwrap();
        let mut live = prelinked.instantiate(()).unwrap();
        g.bench_function(BenchmarkId::new("live_by_name", name), |b| {
            b.iter(|| {
                live.call::<_, String>("echo_string", black_box(""))
                    .unwrap()
            })
        });
        let echo = live.serialized::<str, String>("echo_string").unwrap();
        g.bench_function(BenchmarkId::new("live_typed", name), |b| {
            b.iter(|| echo.call(&mut live, black_box("")).unwrap())
        });
        g.bench_function(BenchmarkId::new("fresh_prelinked", name), |b| {
            b.iter(|| {
                let mut i = prelinked.instantiate(()).unwrap();
                i.call::<_, String>("echo_string", black_box("")).unwrap()
            })
        });
    }
    {
        let engine = wasmer::Engine::default();
        let module = wasmer::Module::new(&engine, wasm).unwrap();
        let mut live = RawWasmerEcho::new(&engine, &module);
        g.bench_function(BenchmarkId::new("raw_three_calls", "wasmer"), |b| {
            b.iter(|| live.call(black_box(&input)))
        });
        g.bench_function(BenchmarkId::new("raw_fresh", "wasmer"), |b| {
            b.iter(|| RawWasmerEcho::new(&engine, &module).call(black_box(&input)))
        });
    }
    {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, wasm).unwrap();
        let linker = wasmi::Linker::<()>::new(&engine);
        let mut live = RawWasmiEcho::new(&linker, &module);
        g.bench_function(BenchmarkId::new("raw_three_calls", "wasmi"), |b| {
            b.iter(|| live.call(black_box(&input)))
        });
        g.bench_function(BenchmarkId::new("raw_fresh", "wasmi"), |b| {
            b.iter(|| RawWasmiEcho::new(&linker, &module).call(black_box(&input)))
        });
    }
    {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let pre = wasmtime::Linker::<()>::new(&engine)
            .instantiate_pre(&module)
            .unwrap();
        let mut live = RawWasmtimeEcho::new(&pre);
        g.bench_function(BenchmarkId::new("raw_three_calls", "wasmtime"), |b| {
            b.iter(|| live.call(black_box(&input)))
        });
        g.bench_function(BenchmarkId::new("raw_fresh", "wasmtime"), |b| {
            b.iter(|| RawWasmtimeEcho::new(&pre).call(black_box(&input)))
        });
    }
    g.finish();
}

/// Host-call round trips: one serialized call in which the guest calls a serialized host
/// function 100 times (guest → host → the guest's allocator for the answer → guest).
fn host_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("host_call");
    for engine in engines(&Config::default()) {
        let mut instance = engine
            .compile(wasmhost_test_wasms::guest("host-calls"))
            .unwrap()
            .instantiate(&wasmhost_test_wasms::host::host_functions(), 0)
            .unwrap();
        let count = instance.serialized::<u32, u64>("count").unwrap();
        g.bench_function(BenchmarkId::new("round_trips_100", engine.name()), |b| {
            b.iter(|| count.call(&mut instance, black_box(&100)).unwrap())
        });
    }
    g.finish();
}

/// Serialized calls per second with 1 and 2 threads sharing one compiled module, each
/// thread calling its own live instance (2 cores here: 2 threads should double the rate).
fn threads(c: &mut Criterion) {
    const CALLS: u64 = 1_000;
    let mut g = c.benchmark_group("threads");
    g.sample_size(20);
    for engine in engines(&Config::default()) {
        let prelinked = engine
            .compile(wasmhost_test_wasms::guest("echo"))
            .unwrap()
            .prelink(&HostFunctions::new())
            .unwrap();
        for threads in [1u64, 2] {
            let mut instances: Vec<_> = (0..threads)
                .map(|_| prelinked.instantiate(()).unwrap())
                .collect();
            g.throughput(Throughput::Elements(threads * CALLS));
            g.bench_function(BenchmarkId::new(engine.name(), threads), |b| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for instance in &mut instances {
                            scope.spawn(|| {
                                for _ in 0..CALLS {
                                    let out: String = instance.call("echo_string", "x").unwrap();
                                    black_box(out);
                                }
                            });
                        }
                    })
                })
            });
        }
    }
    g.finish();
}

/// Bytes across the boundary both ways (an echo) at growing sizes, against one memcpy of
/// the same size: throughput counts the payload once.
fn payload(c: &mut Criterion) {
    const SIZES: [(usize, &str); 5] = [
        (1 << 10, "1KiB"),
        (64 << 10, "64KiB"),
        (1 << 20, "1MiB"),
        (16 << 20, "16MiB"),
        (64 << 20, "64MiB"),
    ];
    let mut g = c.benchmark_group("payload_echo");
    g.sample_size(10);
    let mut instances: Vec<_> = engines(&Config::default())
        .into_iter()
        .map(|engine| {
            let mut live = engine
                .compile(wasmhost_test_wasms::guest("echo"))
                .unwrap()
                .instantiate(&HostFunctions::new(), ())
                .unwrap();
            let echo = live.serialized::<Bytes, Bytes>("echo_bytes").unwrap();
            (engine.name(), live, echo)
        })
        .collect();
    for (size, label) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let data = Bytes::from(vec![7u8; size]);
        for (name, live, echo) in &mut instances {
            // The output copied out into a new `Bytes` (its pages faulted in on every call).
            g.bench_function(BenchmarkId::new(*name, label), |b| {
                b.iter(|| echo.call(live, &data).unwrap())
            });
            // The output read where the guest wrote it: the two copies an echo needs.
            g.bench_function(BenchmarkId::new(format!("{name}-borrowed"), label), |b| {
                b.iter(|| {
                    echo.call_borrowed(live, &data, |out: &ByteSlice| black_box(out.len()))
                        .unwrap()
                })
            });
        }
        let mut copy = vec![0u8; size];
        g.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| copy.copy_from_slice(black_box(&data)))
        });
        // One copy into a new allocation, as an owned output must be: above 32 MiB the
        // allocator maps fresh pages each time and the kernel zeroes every one of them.
        g.bench_function(BenchmarkId::new("to_vec", label), |b| {
            b.iter(|| black_box(&data).to_vec())
        });
    }
    g.finish();
}

/// The engines that run SIMD: all, unless wasmi is built without it (the `simd` feature).
fn simd_engines(config: &Config) -> Vec<AnyEngine> {
    let mut all = engines(config);
    all.retain(|e| cfg!(feature = "simd") || e.name() != "wasmi");
    all
}

/// The compute kernels: the `kernels` guest (and `simd-kernels`) on every engine, and the
/// same source natively.
fn compute_kernels(c: &mut Criterion) {
    type Native = fn(u32) -> u64;
    let kernels_: [(&str, &str, i32, Native); 5] = [
        ("kernels", "hash", 200_000, kernels::hash),
        ("kernels", "matmul", 40, |n| kernels::matmul(n).to_bits()),
        // The same product vectorized into f64x2 in wasm; natively the compiler's choice.
        ("simd-kernels", "matmul_simd", 40, |n| {
            kernels::matmul_simd(n).to_bits()
        }),
        ("kernels", "sort", 20_000, kernels::sort),
        ("kernels", "fib", 22, kernels::fib),
    ];
    let instances = |guest: &str| -> Vec<_> {
        let engines = match guest {
            "simd-kernels" => simd_engines(&Config::default()),
            _ => engines(&Config::default()),
        };
        engines
            .into_iter()
            .map(|engine| {
                let instance = engine
                    .compile(wasmhost_test_wasms::guest(guest))
                    .unwrap()
                    .instantiate(&HostFunctions::new(), ())
                    .unwrap();
                (engine.name(), instance)
            })
            .collect()
    };
    for (guest, kernel, size, native) in kernels_ {
        let mut instances = instances(guest);
        let mut g = c.benchmark_group(format!("kernel_{kernel}"));
        for (name, instance) in &mut instances {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    instance
                        .call_raw(kernel, &[Value::I32(black_box(size))])
                        .unwrap()
                })
            });
        }
        g.bench_function("native", |b| b.iter(|| native(black_box(size as u32))));
        g.finish();
    }
}

/// The SIMD float kernel (the vectorized matrix product) on every engine in both profiles:
/// what the deterministic profile's lane-by-lane canonicalization costs.
fn deterministic_profile_simd_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("simd_matmul_40");
    for deterministic in [false, true] {
        let profile = if deterministic {
            "deterministic"
        } else {
            "default"
        };
        for engine in simd_engines(&Config::default().deterministic(deterministic)) {
            let mut instance = engine
                .compile(wasmhost_test_wasms::guest("simd-kernels"))
                .unwrap()
                .instantiate(&HostFunctions::new(), ())
                .unwrap();
            g.bench_function(BenchmarkId::new(engine.name(), profile), |b| {
                b.iter(|| {
                    instance
                        .call_raw("matmul_simd", &[Value::I32(black_box(40))])
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

/// Each of `kernels` (the `kernels` guest's export, its argument) on every engine under each
/// named configuration: group `{prefix}_{kernel}`, benchmark `{engine}/{name}`.
fn kernels_by_config(
    c: &mut Criterion,
    prefix: &str,
    kernels: &[(&str, i32)],
    configs: &[(&str, Config)],
) {
    for &(kernel, size) in kernels {
        let mut g = c.benchmark_group(format!("{prefix}_{kernel}"));
        for (name, config) in configs {
            for engine in engines(config) {
                let mut instance = engine
                    .compile(wasmhost_test_wasms::guest("kernels"))
                    .unwrap()
                    .instantiate(&HostFunctions::new(), ())
                    .unwrap();
                g.bench_function(BenchmarkId::new(engine.name(), *name), |b| {
                    b.iter(|| {
                        instance
                            .call_raw(kernel, &[Value::I32(black_box(size))])
                            .unwrap()
                    })
                });
            }
        }
        g.finish();
    }
}

/// The memory-heavy kernels with each memory reservation: what compact memories' explicit
/// bounds checks cost (wasmi checks every access either way, a control).
fn memory_reservation_cost(c: &mut Criterion) {
    let reservations = [MemoryReservation::Guarded, MemoryReservation::Compact]
        .map(|r| (r.name(), Config::default().memory_reservation(r)));
    let kernels = [("sort", 20_000), ("matmul", 40), ("hash", 200_000)];
    kernels_by_config(c, "memory_reservation", &kernels, &reservations);
}

/// The kernels with interruption compiled in ([`Config::interruptible`]: the
/// instrumentation's flag check at loop heads and call entries), without a deadline and with
/// one armed on every call, against without: what being able to stop a guest costs.
fn interruption_cost(c: &mut Criterion) {
    let modes = [
        ("off", Config::default()),
        ("on", Config::default().interruptible(true)),
        (
            "armed",
            Config::default().call_timeout(Duration::from_secs(3600)),
        ),
    ];
    let kernels = [
        ("sort", 20_000),
        ("matmul", 40),
        ("hash", 200_000),
        ("fib", 22),
        ("nbody", 20_000),
        ("spectral_norm", 60),
        ("mandelbrot", 120),
    ];
    assert_eq!(kernels.map(|(k, _)| k), summary::INTERRUPTION_KERNELS);
    kernels_by_config(c, "interruption", &kernels, &modes);
}

/// How long a call with a 1 ms deadline takes to come back from a guest that would never
/// end: in a loop without calls, and in a loop of host calls. Less 1 ms, the latency.
fn interrupt_latency(c: &mut Criterion) {
    const ENDLESS: &str = r#"(module
      (import "env" "tick" (func $tick))
      (func (export "spin") (loop $l (br $l)))
      (func (export "ticks") (loop $l (call $tick) (br $l))))"#;
    let wasm = wasmhost::wat2wasm(ENDLESS).unwrap();
    let mut host = HostFunctions::<()>::new();
    host.raw("env", "tick", &[], &[], |_, _| Ok(vec![]));
    let mut g = c.benchmark_group("interrupt_latency");
    g.sample_size(20);
    for engine in engines(&Config::default().call_timeout(Duration::from_millis(1))) {
        let prelinked = engine.compile(&wasm).unwrap().prelink(&host).unwrap();
        for export in ["spin", "ticks"] {
            g.bench_function(BenchmarkId::new(engine.name(), export), |b| {
                b.iter_batched(
                    || prelinked.instantiate(()).unwrap(),
                    |mut guest| guest.call_raw(export, &[]).unwrap_err(),
                    criterion::BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

/// A used instance reset, against a fresh one, each followed by the same calls: what
/// `Instance::reset` saves a host that wants a pristine instance per call. Two guests with
/// 4 MiB of memory: scribbler (WAT, data in its memory, two raw calls) and echo (Rust, the
/// SDK's allocator, one serialized call of 4 KiB each way).
fn reset(c: &mut Criterion) {
    type Call = fn(&mut wasmhost::AnyInstance<()>);
    let guests: [(&str, Call); 2] = [
        ("scribbler", |guest| {
            let at = Value::I32(black_box(123_456));
            guest.call_raw("scribble", &[at, Value::I64(7)]).unwrap();
            black_box(guest.call_raw("look", &[Value::I32(1000)]).unwrap());
        }),
        ("echo", |guest| {
            let input = Bytes::from(vec![7u8; 4096]);
            black_box(guest.call::<_, Bytes>("echo_bytes", &input).unwrap());
        }),
    ];
    for (guest, call) in guests {
        let mut g = c.benchmark_group(format!("reset_{guest}"));
        for engine in engines(&Config::default().resettable(true)) {
            let prelinked = engine
                .compile(wasmhost_test_wasms::guest(guest))
                .unwrap()
                .prelink(&HostFunctions::new())
                .unwrap();
            g.bench_function(BenchmarkId::new(engine.name(), "fresh"), |b| {
                b.iter(|| call(&mut prelinked.instantiate(()).unwrap()))
            });
            let mut used = prelinked.instantiate(()).unwrap();
            g.bench_function(BenchmarkId::new(engine.name(), "reset"), |b| {
                b.iter(|| {
                    used.reset().unwrap();
                    call(&mut used)
                })
            });
        }
        g.finish();
    }
}

/// Float kernels shaped like real programs (n-body, spectral norm, Mandelbrot), and a
/// call-heavy recursion (`fib`, group `recursion_fib`: a call per few instructions, where the
/// stack limit and the fuel are paid on every call), on every engine in the default profile,
/// the deterministic one, and the hosted one (deterministic with portable fuel), and
/// natively: what the hosted configuration costs on such code.
fn float_kernels_by_profile(c: &mut Criterion) {
    type Native = fn(u32) -> u64;
    let kernels_: [(&str, &str, i32, Native); 4] = [
        ("float_nbody", "nbody", 20_000, |n| {
            kernels::nbody(n).to_bits()
        }),
        ("float_spectral_norm", "spectral_norm", 60, |n| {
            kernels::spectral_norm(n).to_bits()
        }),
        ("float_mandelbrot", "mandelbrot", 120, |n| {
            kernels::mandelbrot(n).to_bits()
        }),
        ("recursion_fib", "fib", 22, kernels::fib),
    ];
    let profiles = [
        ("default", Config::default()),
        ("deterministic", Config::default().deterministic(true)),
        (
            "hosted",
            Config::default()
                .deterministic(true)
                .metering(Metering::Portable),
        ),
    ];
    for (group, kernel, size, native) in kernels_ {
        let mut g = c.benchmark_group(group);
        for (profile, config) in &profiles {
            for engine in engines(config) {
                let mut instance = engine
                    .compile(wasmhost_test_wasms::guest("kernels"))
                    .unwrap()
                    .instantiate(&HostFunctions::new(), ())
                    .unwrap();
                g.bench_function(BenchmarkId::new(engine.name(), profile), |b| {
                    b.iter(|| {
                        if config.metering == Metering::Portable {
                            instance.set_fuel(u64::MAX / 2).unwrap();
                        }
                        instance
                            .call_raw(kernel, &[Value::I32(black_box(size))])
                            .unwrap()
                    })
                });
            }
        }
        g.bench_function("native", |b| b.iter(|| native(black_box(size as u32))));
        g.finish();
    }
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
/// every engine: what each meter costs.
fn metering_cost(c: &mut Criterion) {
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

/// The WASI guest of [`wasi_call`]: each export makes one call 100 times in a loop.
const WASI_CALLS_WAT: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
    (import "env" "raw" (func $raw (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    ;; one iovec: 8 bytes at 16
    (data (i32.const 0) "\10\00\00\00\08\00\00\00")
    (func (export "fd_write") (local $i i32)
        (loop $next
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
            (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100)))))
    (func (export "clock_time_get") (local $i i32)
        (loop $next
            (drop (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 32)))
            (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100)))))
    (func (export "raw") (local $i i32)
        (loop $next
            (drop (call $raw (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
            (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))))"#;

/// One WASI call, 100 in a loop: `fd_write` of 8 bytes (to a dropped stdout) and
/// `clock_time_get`, against a raw host function of `fd_write`'s shape that returns 0.
fn wasi_call(c: &mut Criterion) {
    use wasmhost::wasi::{self, WasiCtx};
    let wasm = wasmhost::wat2wasm(WASI_CALLS_WAT).unwrap();
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    host.raw("env", "raw", &[ValType::I32; 4], &[ValType::I32], |_, _| {
        Ok(vec![Value::I32(0)])
    });
    let mut g = c.benchmark_group("wasi_call");
    for engine in engines(&Config::default()) {
        let module = engine.compile(&wasm).unwrap();
        let mut instance = module
            .instantiate(&host, WasiCtx::builder().build())
            .unwrap();
        for export in ["fd_write", "clock_time_get", "raw"] {
            let id = BenchmarkId::new(format!("{export}_100"), engine.name());
            g.bench_function(id, |b| b.iter(|| instance.call_raw(export, &[]).unwrap()));
        }
    }
    g.finish();
}

/// Real programs (Sightglass's, `../shared/programs`) that run in well under a second on
/// every engine: a whole run each (a fresh instance and `_start`; compiled once), in the
/// default profile and in the deterministic profile with portable fuel. Skipped, with a
/// message, where the programs are not there.
fn programs(c: &mut Criterion) {
    use wasmhost::wasi::{self, WasiCtx};
    use wasmhost_test_wasms::programs;
    let Some(dir) = wasmhost_test_wasms::programs_dir() else {
        return;
    };
    let mut host = HostFunctions::<WasiCtx>::new();
    wasi::link(&mut host);
    programs::link_bench_marks(&mut host);
    // The smoke run (`benches/run --quick`) takes the first two only.
    let count = std::env::var("WASMHOST_BENCH_PROGRAMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(summary::PROGRAMS.len());
    let mut g = c.benchmark_group("program");
    g.sample_size(10);
    for program in programs::named(
        &dir,
        &summary::PROGRAMS[..count.min(summary::PROGRAMS.len())],
    ) {
        let name = &program.name;
        let wasm = std::fs::read(&program.wasm).unwrap();
        for deterministic in [false, true] {
            let (profile, config) = match deterministic {
                false => ("default", Config::default()),
                true => (
                    "deterministic",
                    Config::default()
                        .deterministic(true)
                        .metering(Metering::Portable)
                        .initial_fuel(1 << 52),
                ),
            };
            for engine in engines(&config) {
                let module = engine.compile(&wasm).unwrap();
                let id = BenchmarkId::new(format!("{name}/{profile}"), engine.name());
                g.bench_function(id, |b| {
                    b.iter(|| {
                        let ctx = program.context().unwrap();
                        let ctx = if deterministic {
                            ctx.deterministic(0)
                        } else {
                            ctx
                        };
                        let (exit, _) = wasi::run_command(&module, &host, ctx.build()).unwrap();
                        assert_eq!(exit, 0, "{name} on {}", engine.name());
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = compile, instantiate, noop_call, serialized_call, host_call, threads, payload,
        compute_kernels, deterministic_profile_cost, deterministic_profile_simd_cost, metering_cost,
        memory_reservation_cost, float_kernels_by_profile, interruption_cost, interrupt_latency, reset,
        wasi_call, programs
}

/// Runs the benchmarks (unless `WASMHOST_BENCH_SUMMARY_ONLY` is set), then prints the
/// summary of ratios from criterion's results and writes it beside them.
fn main() {
    if std::env::var_os("WASMHOST_BENCH_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // This binary is <target>/<profile>/deps/engines-<hash>; criterion writes to
    // <target>/criterion.
    let exe = std::env::current_exe().expect("the bench binary's path");
    let target = exe.ancestors().nth(3).expect("a target directory");
    let criterion = target.join("criterion");
    let medians = summary::read_medians(&criterion).unwrap_or_default();
    let rows = summary::rows(&medians);
    println!("\n=== summary: ratios from this run, against the targets ===");
    print!("{}", summary::render_text(&rows));
    let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
    for (path, text) in [
        (target.join("bench-summary.json"), json),
        (criterion.join("summary.html"), summary::render_html(&rows)),
    ] {
        match std::fs::write(&path, text) {
            Ok(()) => println!("written to {}", path.display()),
            Err(e) => eprintln!("error: {}: {e}", path.display()),
        }
    }
}
