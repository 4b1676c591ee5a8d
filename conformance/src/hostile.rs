//! Hostile guests, many threads and long runs, as data: what each engine does with guests
//! that lie, trap, grow without end or call back without end (each case must end in the
//! typed error it names, and a fresh instance must work after it); calls per second with
//! threads sharing one module (every result accounted for exactly once); and resident memory
//! over 10 000 traps, instantiations and failed calls. `conformance/tests` asserts every
//! case on every engine; the report shows the same runs with their figures.

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmhost::prelude::*;
use wasmhost::{
    AnyEngine, AnyInstance, AnyModule, Bytes, Config, DEFAULT_MAX_HOST_NESTING, HostFunctions,
    Metering, Trap, Value, WasmError,
};

/// One hostile case: what it does, and a run that says how it ended or what went wrong.
pub struct Case {
    /// Its name, as its test is named.
    pub name: &'static str,
    /// What the guest does.
    pub what: &'static str,
    /// `Ok(how it ended)` when it ended as it must, `Err(what happened instead)`.
    run: fn(&AnyEngine) -> Result<String, String>,
}

/// Every hostile case.
pub const CASES: &[Case] = &[
    Case {
        name: "a_lying_or_trapping_allocator_is_a_typed_error_for_inputs",
        what: "the allocator points outside memory, returns 0, or traps, for the host's input",
        run: lying_allocator_for_inputs,
    },
    Case {
        name: "a_lying_or_trapping_allocator_is_a_typed_error_for_host_answers",
        what: "the same, for a host function's answer",
        run: lying_allocator_for_host_answers,
    },
    Case {
        name: "an_answer_allocated_over_its_own_input_arrives_intact",
        what: "the allocator hands out the input's own region for the answer",
        run: answer_over_its_input,
    },
    Case {
        name: "an_allocator_growing_memory_by_gigabytes_meets_the_memory_limit",
        what: "the allocator grows memory by 3.75 GiB (limit 16 MiB)",
        run: allocator_grows_gigabytes,
    },
    Case {
        name: "a_panic_message_outside_memory_leaves_the_trap",
        what: "the panic message points outside memory",
        run: panic_message_out_of_bounds,
    },
    Case {
        name: "a_panic_message_that_never_returns_is_bounded_by_fuel",
        what: "the panic-message export loops forever (portable fuel, 1 000 000)",
        run: panic_message_never_returns,
    },
    Case {
        name: "a_guest_and_host_calling_each_other_without_end_stop_at_the_nesting_limit",
        what: "guest -> host -> guest … without end (nesting limits 32 and 5)",
        run: endless_reentry,
    },
    Case {
        name: "a_memory_under_another_name_is_a_missing_export",
        what: "the memory is exported as `mem`",
        run: memory_under_another_name,
    },
];

/// The case called `name`.
pub fn case(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// How one case went on one engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRun {
    /// The case's name.
    pub case: String,
    /// What the guest does.
    pub what: String,
    /// The engine.
    pub engine: String,
    /// Whether it ended in the error it must, and a fresh instance then worked.
    pub passed: bool,
    /// How it ended, or what happened instead.
    pub outcome: String,
}

/// Runs `case` on `engine`; a panic is a failure, not the end of the run.
pub fn run_case(engine: &AnyEngine, case: &Case) -> CaseRun {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(engine)))
        .unwrap_or_else(|panic| {
            Err(format!(
                "panicked: {}",
                crate::malformed::panic_message(&*panic)
            ))
        });
    CaseRun {
        case: case.name.into(),
        what: case.what.into(),
        engine: engine.name().into(),
        passed: outcome.is_ok(),
        outcome: outcome.unwrap_or_else(|e| e),
    }
}

/// `Err(message())` unless `ok`.
fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
}

/// The allocator's hostile modes (see `test-wasms/wat/hostile.wat`).
const OUT_OF_BOUNDS: i32 = 1;
const NULL: i32 = 2;
const SAME_REGION: i32 = 3;
const TRAPS: i32 = 4;
const GROWS_GIGABYTES: i32 = 5;
/// The panic-message export's hostile modes.
const MESSAGE_OUT_OF_BOUNDS: i32 = 6;
const MESSAGE_NEVER_RETURNS: i32 = 7;

/// The hostile guest's host: `host_echo` answers with its input; `reenter` calls the guest's
/// `reenter` export again, counting the levels in the host state.
fn host() -> HostFunctions<u32> {
    let mut host = HostFunctions::new();
    host.func("host_echo", |_, bytes: Bytes| Ok(bytes));
    host.func("reenter", |ctx, bytes: Bytes| {
        *ctx.state_mut() += 1;
        ctx.call::<_, Bytes>("reenter", &bytes)
    });
    host
}

fn hostile(engine: &AnyEngine, config: Config) -> Result<AnyModule, String> {
    AnyEngine::from_name(engine.name(), config)
        .and_then(|e| e.compile(wasmhost_test_wasms::guest("hostile")))
        .map_err(|e| format!("the hostile guest does not compile: {e}"))
}

/// A fresh instance of `module`, in `mode` now and `armed` once it runs `via_host`.
fn instance(module: &AnyModule, mode: i32, armed: i32) -> Result<AnyInstance<u32>, String> {
    let mut guest = module
        .instantiate(&host(), 0)
        .map_err(|e| format!("instantiate: {e}"))?;
    guest
        .call_raw("arm", &[Value::I32(armed)])
        .and_then(|_| guest.call_raw("set_mode", &[Value::I32(mode)]))
        .map_err(|e| format!("arming the guest: {e}"))?;
    Ok(guest)
}

/// The same module, on a fresh instance, answers as a well-behaved guest: nothing the hostile
/// call did outlived its instance, and this thread goes on serving.
fn fresh_instance_works(module: &AnyModule) -> Result<(), String> {
    let mut guest = instance(module, 0, 0)?;
    let ok = guest.call::<_, ()>("ok", "input");
    ensure(ok.is_ok(), || {
        format!("a fresh instance then failed: {ok:?}")
    })?;
    let back = guest.call::<_, Bytes>("via_host", &Bytes::from(vec![1, 2, 3]));
    ensure(
        back.as_ref().is_ok_and(|b| b.as_slice() == [1, 2, 3]),
        || format!("a fresh instance's host call then failed: {back:?}"),
    )
}

/// Whether `e` is what a lying or trapping allocator in `mode` must come to.
fn expected(mode: i32, e: &WasmError) -> bool {
    match mode {
        OUT_OF_BOUNDS => matches!(
            e,
            WasmError::BadGuestPointer {
                ptr: 0xffff_0000,
                memory_size: 65536,
                ..
            }
        ),
        NULL => matches!(e, WasmError::BadGuestPointer { ptr: 0, .. }),
        TRAPS => *e == WasmError::Trap(Trap::Unreachable),
        _ => false,
    }
}

/// Runs the three lying or trapping modes through `call`; names the errors they ended in.
fn lying_allocator(
    engine: &AnyEngine,
    call: impl Fn(&AnyModule, i32) -> Result<Result<(), WasmError>, String>,
) -> Result<String, String> {
    let module = hostile(engine, engine.config().clone())?;
    let mut seen = Vec::new();
    for mode in [OUT_OF_BOUNDS, NULL, TRAPS] {
        let result = call(&module, mode)?;
        ensure(result.as_ref().is_err_and(|e| expected(mode, e)), || {
            format!("mode {mode}: {result:?}")
        })?;
        fresh_instance_works(&module)?;
        seen.push(result.err().map(|e| e.to_string()).unwrap_or_default());
    }
    Ok(seen.join("; "))
}

fn lying_allocator_for_inputs(engine: &AnyEngine) -> Result<String, String> {
    lying_allocator(engine, |module, mode| {
        Ok(instance(module, mode, 0)?.call::<_, ()>("ok", "input"))
    })
}

fn lying_allocator_for_host_answers(engine: &AnyEngine) -> Result<String, String> {
    // The host function's error reaches the caller through the guest that called it.
    lying_allocator(engine, |module, mode| {
        Ok(instance(module, 0, mode)?
            .call::<_, Bytes>("via_host", &Bytes::from(vec![9]))
            .map(drop))
    })
}

fn answer_over_its_input(engine: &AnyEngine) -> Result<String, String> {
    // The host decodes an import's input before it allocates the answer, so an allocator
    // that hands out the input's own region cannot change what the host read.
    let module = hostile(engine, engine.config().clone())?;
    let input = Bytes::from((0..=255).collect::<Vec<u8>>());
    let back = instance(&module, 0, SAME_REGION)?.call::<_, Bytes>("via_host", &input);
    ensure(back.as_ref() == Ok(&input), || format!("{back:?}"))?;
    fresh_instance_works(&module)?;
    Ok("the answer arrived intact".into())
}

fn allocator_grows_gigabytes(engine: &AnyEngine) -> Result<String, String> {
    let module = hostile(engine, engine.config().clone().max_memory_bytes(16 << 20))?;
    let for_input = instance(&module, GROWS_GIGABYTES, 0)?.call::<_, ()>("ok", "input");
    ensure(for_input == Err(WasmError::MemoryLimit), || {
        format!("for an input: {for_input:?}")
    })?;
    let for_answer = instance(&module, 0, GROWS_GIGABYTES)?
        .call::<_, Bytes>("via_host", &Bytes::from(vec![1]))
        .map(drop);
    ensure(for_answer == Err(WasmError::MemoryLimit), || {
        format!("for an answer: {for_answer:?}")
    })?;
    fresh_instance_works(&module)?;
    Ok(WasmError::MemoryLimit.to_string())
}

fn panic_message_out_of_bounds(engine: &AnyEngine) -> Result<String, String> {
    let module = hostile(engine, engine.config().clone())?;
    let result = instance(&module, MESSAGE_OUT_OF_BOUNDS, 0)?.call::<_, ()>("trap", "input");
    let want = Err(WasmError::Trap(Trap::Unreachable));
    ensure(result == want, || format!("{result:?}"))?;
    fresh_instance_works(&module)?;
    Ok(WasmError::Trap(Trap::Unreachable).to_string())
}

fn panic_message_never_returns(engine: &AnyEngine) -> Result<String, String> {
    // Without metering a guest can loop anywhere, its panic-message export included: a host
    // that runs guests it does not trust gives them a budget.
    let module = hostile(engine, engine.config().clone().metering(Metering::Portable))?;
    let mut guest = instance(&module, MESSAGE_NEVER_RETURNS, 0)?;
    guest.set_fuel(1_000_000).map_err(|e| e.to_string())?;
    // The call reports what the guest did (it trapped); looking for its message spent the
    // rest of the budget, so the instance is spent.
    let result = guest.call::<_, ()>("trap", "input");
    ensure(result == Err(WasmError::Trap(Trap::Unreachable)), || {
        format!("{result:?}")
    })?;
    let left = guest.fuel_remaining();
    ensure(left == Some(0), || format!("fuel left: {left:?}"))?;
    let next = guest.call::<_, ()>("ok", "input");
    ensure(next == Err(WasmError::OutOfFuel), || {
        format!("the spent instance then: {next:?}")
    })?;
    fresh_instance_works(&module)?;
    Ok(format!(
        "{}, then {}",
        WasmError::Trap(Trap::Unreachable),
        WasmError::OutOfFuel
    ))
}

fn endless_reentry(engine: &AnyEngine) -> Result<String, String> {
    for (config, limit) in [
        (engine.config().clone(), DEFAULT_MAX_HOST_NESTING),
        (engine.config().clone().max_host_nesting(5), 5),
    ] {
        let module = hostile(engine, config)?;
        for _ in 0..2 {
            // Twice: a failed descent gives every level back.
            let mut guest = instance(&module, 0, 0)?;
            let result = guest.call::<_, Bytes>("reenter", &Bytes::from(vec![7; 100]));
            ensure(result == Err(WasmError::Trap(Trap::StackOverflow)), || {
                format!("limit {limit}: {result:?}")
            })?;
            ensure(*guest.state() == limit, || {
                format!("limit {limit}: {} host levels entered", guest.state())
            })?;
        }
        fresh_instance_works(&module)?;
    }
    Ok(format!(
        "{} at the limit",
        WasmError::Trap(Trap::StackOverflow)
    ))
}

fn memory_under_another_name(engine: &AnyEngine) -> Result<String, String> {
    let wasm = wasmhost::wat2wasm(
        r#"(module
            (memory (export "mem") 1)
            (func (export "wasmhost_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "wasmhost_dealloc") (param i32 i32))
            (func (export "ok") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .map_err(|e| e.to_string())?;
    let mut guest = engine
        .compile(&wasm)
        .and_then(|m| m.instantiate(&HostFunctions::new(), ()))
        .map_err(|e| e.to_string())?;
    let result = guest.call::<_, ()>("ok", "input");
    let want = WasmError::MissingExport("memory".into());
    ensure(result.as_ref() == Err(&want), || format!("{result:?}"))?;
    fresh_instance_works(&hostile(engine, engine.config().clone())?)?;
    Ok(want.to_string())
}

/// Threads sharing one pre-linked module, each making serialized calls through a host
/// function on instances of its own (a fresh one every 50 calls).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsRun {
    /// The engine.
    pub engine: String,
    /// How many threads.
    pub threads: u32,
    /// Calls in all.
    pub calls: u64,
    /// Calls per second, all threads together.
    pub calls_per_second: f64,
    /// Whether every call's result came back right, exactly once, with no thread stuck.
    pub every_result_once: bool,
}

/// Calls on one instance before a thread makes a fresh one.
const CALLS_PER_INSTANCE: u64 = 50;

/// `threads` threads make `calls` calls in all on `engine`, all started together.
pub fn threads(engine: &AnyEngine, threads: u32, calls: u64) -> ThreadsRun {
    let per_thread = calls / u64::from(threads.max(1));
    let run = || -> Option<(Duration, bool)> {
        let module = engine
            .compile(wasmhost_test_wasms::guest("host-calls"))
            .ok()?;
        let prelinked = module
            .prelink(&wasmhost_test_wasms::host::host_functions())
            .ok()?;
        let start = std::sync::Arc::new(std::sync::Barrier::new(threads as usize + 1));
        let (results, received) = mpsc::channel();
        for t in 0..threads {
            let (prelinked, start, results) = (prelinked.clone(), start.clone(), results.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut guest = None;
                for i in 0..per_thread {
                    if i % CALLS_PER_INSTANCE == 0 {
                        guest = prelinked.instantiate(0).ok();
                    }
                    // The host adds, so each result also crossed a host function.
                    let sum = guest.as_mut().map(|g| {
                        g.call::<_, i64>("sum3", &(i64::from(t) * 1_000_000_000, i as i64, 1))
                    });
                    if results.send((t, i, sum)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        start.wait();
        let began = Instant::now();
        let mut seen = HashSet::new();
        let mut right = true;
        for _ in 0..u64::from(threads) * per_thread {
            // A thread that never answers is a deadlock: give up rather than hang.
            let Ok((t, i, sum)) = received.recv_timeout(Duration::from_secs(120)) else {
                return Some((began.elapsed(), false));
            };
            let want = i64::from(t) * 1_000_000_000 + i as i64 + 1;
            right &= sum == Some(Ok(want)) && seen.insert((t, i));
        }
        let elapsed = began.elapsed();
        // No result beyond the calls made.
        right &= received.recv().is_err();
        Some((elapsed, right))
    };
    let (elapsed, every_result_once) = run().unwrap_or((Duration::ZERO, false));
    let calls = u64::from(threads) * per_thread;
    ThreadsRun {
        engine: engine.name().into(),
        threads,
        calls,
        calls_per_second: calls as f64 / elapsed.as_secs_f64().max(1e-9),
        every_result_once,
    }
}

/// What a long run of one kind did to the process's resident memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakRun {
    /// The engine.
    pub engine: String,
    /// What was repeated: traps, instantiations, failed calls.
    pub what: String,
    /// How many times.
    pub iterations: u64,
    /// Resident bytes after the first [`WARM_UP`].
    pub resident_after_warm_up: u64,
    /// Resident bytes after all of them.
    pub resident_after: u64,
    /// Whether every iteration did what it must (trapped, instantiated, failed).
    pub every_iteration_right: bool,
}

impl LeakRun {
    /// Resident growth between the warm-up and the end, in bytes.
    pub fn growth(&self) -> u64 {
        self.resident_after
            .saturating_sub(self.resident_after_warm_up)
    }
}

/// Iterations before the resident level that later ones are measured against.
pub const WARM_UP: u64 = 100;

/// How much resident memory may grow between the warm-up and the end of 10 000 iterations:
/// room for allocator and engine caches settling, far below what a leak of even 1 KiB per
/// iteration (10 MiB) would add.
pub const LEAK_BOUND: u64 = 8 << 20;

/// The process's resident memory in bytes, where `/proc` tells it (Linux); 0 elsewhere.
pub fn resident() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `iterations` traps, instantiations and failed calls on `engine`, each kind measured on
/// its own, then a normal call (its result in the last run's `every_iteration_right`).
/// Resident memory is the whole process's: run engines one after another, not at once.
pub fn leaks(engine: &AnyEngine, iterations: u64) -> Vec<LeakRun> {
    let compile = |guest: &str| engine.compile(wasmhost_test_wasms::guest(guest)).ok();
    let measure = |what: &str, step: &mut dyn FnMut(u64) -> bool| {
        let mut after_warm_up = resident();
        let mut right = true;
        for i in 0..iterations {
            if i == WARM_UP {
                after_warm_up = resident();
            }
            right &= step(i);
        }
        LeakRun {
            engine: engine.name().into(),
            what: what.into(),
            iterations,
            resident_after_warm_up: after_warm_up,
            resident_after: resident(),
            every_iteration_right: right,
        }
    };
    let mut runs = Vec::new();
    let instance =
        |guest: &str| compile(guest).and_then(|m| m.instantiate(&HostFunctions::new(), ()).ok());
    let mut traps = instance("traps");
    runs.push(measure("traps", &mut |_| {
        traps.as_mut().is_some_and(|t| {
            t.call_raw("unreachable", &[]) == Err(WasmError::Trap(Trap::Unreachable))
        })
    }));
    let prelinked = compile("echo").and_then(|m| m.prelink(&HostFunctions::new()).ok());
    runs.push(measure("instantiations", &mut |i| {
        let guest = prelinked.as_ref().and_then(|p| p.instantiate(()).ok());
        guest.is_some_and(|mut g| {
            i % 100 != 0
                || g.call::<_, String>("echo_string", "x")
                    .is_ok_and(|s| s == "x")
        })
    }));
    let mut echo = instance("echo");
    let mut failed_calls = measure("failed calls", &mut |i| {
        // In turn: a missing export, input the guest cannot decode, output we cannot decode.
        echo.as_mut().is_some_and(|guest| match i % 3 {
            0 => guest.call::<_, String>("no_such_export", "x").is_err(),
            1 => guest.call::<_, String>("echo_string", &42u64).is_err(),
            _ => guest.call::<_, u64>("echo_string", "forty-two").is_err(),
        })
    });
    // And then a normal call.
    failed_calls.every_iteration_right &= echo.as_mut().is_some_and(|g| {
        g.call::<_, String>("echo_string", "after")
            .is_ok_and(|s| s == "after")
    });
    runs.push(failed_calls);
    runs
}

/// Hostile cases, threads and long runs on every engine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HostileReport {
    /// Every case on every engine.
    pub cases: Vec<CaseRun>,
    /// Calls per second at 1 and 2 threads, per engine.
    pub threads: Vec<ThreadsRun>,
    /// Resident memory over long runs, per engine.
    pub leaks: Vec<LeakRun>,
}

impl HostileReport {
    /// Runs every case, `thread_calls` calls at 1 and at 2 threads (none when 0), and
    /// `leak_iterations` of each long run (none when 0), on every engine of `engines`.
    pub fn run(engines: &[AnyEngine], thread_calls: u64, leak_iterations: u64) -> Self {
        let mut report = HostileReport::default();
        for engine in engines {
            report
                .cases
                .extend(CASES.iter().map(|case| run_case(engine, case)));
            if thread_calls > 0 {
                for n in [1, 2] {
                    report.threads.push(threads(engine, n, thread_calls));
                }
            }
            if leak_iterations > 0 {
                report.leaks.extend(leaks(engine, leak_iterations));
            }
        }
        report
    }

    /// What failed: a case not ending as it must, a result lost or duplicated, an iteration
    /// that went wrong, or resident memory past [`LEAK_BOUND`].
    pub fn failures(&self) -> Vec<String> {
        let cases = self
            .cases
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} on {}: {}", c.case, c.engine, c.outcome));
        let threads = self
            .threads
            .iter()
            .filter(|t| !t.every_result_once)
            .map(|t| {
                format!(
                    "{} threads on {}: a result lost, wrong or twice",
                    t.threads, t.engine
                )
            });
        let leaks = self
            .leaks
            .iter()
            .filter(|l| !l.every_iteration_right || l.growth() > LEAK_BOUND)
            .map(|l| {
                format!(
                    "{} {} on {}: +{} KiB resident, every iteration right: {}",
                    l.iterations,
                    l.what,
                    l.engine,
                    l.growth() >> 10,
                    l.every_iteration_right
                )
            });
        cases.chain(threads).chain(leaks).collect()
    }

    /// The terminal summary.
    pub fn summary(&self) -> String {
        let passed = self.cases.iter().filter(|c| c.passed).count();
        let mut s = format!(
            "Hostile guests: {passed} of {} case runs ended in the error they must, a fresh \
             instance working after each\n",
            self.cases.len()
        );
        for c in self.cases.iter().filter(|c| !c.passed) {
            s += &format!("    FAILED {} on {}: {}\n", c.case, c.engine, c.outcome);
        }
        for t in &self.threads {
            s += &format!(
                "  {} thread(s) on {}: {} serialized calls, {:.0} calls/s, every result once: {}\n",
                t.threads, t.engine, t.calls, t.calls_per_second, t.every_result_once
            );
        }
        for l in &self.leaks {
            s += &format!(
                "  {} {} on {}: resident {} KiB after {WARM_UP}, {} KiB after all (+{} KiB; bound {} KiB)\n",
                l.iterations,
                l.what,
                l.engine,
                l.resident_after_warm_up >> 10,
                l.resident_after >> 10,
                l.growth() >> 10,
                LEAK_BOUND >> 10
            );
        }
        s
    }
}
