//! The async face, for hosts on tokio (cargo feature `tokio`): guest calls run on tokio's
//! blocking pool, never on a runtime worker, through a pool of instances per module; and
//! host functions may be `async`.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), wasmhost::WasmError> {
//! use wasmhost::pool::{AsyncHostFunctions, GuestPool, Reuse};
//! use wasmhost::prelude::*;
//! use wasmhost::{AnyEngine, Config, HostFunctions, WasmError};
//!
//! let engine = AnyEngine::from_name("wasmi", Config::default())?;
//! let module = engine.compile(wasmhost_test_wasms::guest("host-calls"))?;
//! let mut host = wasmhost_test_wasms::host::host_functions();
//! // An async host function: the guest waits while it awaits.
//! host.func_async("host_add", |(a, b): (i64, i64)| async move {
//!     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
//!     Ok::<i64, WasmError>(a + b)
//! });
//! let pool = GuestPool::new(&module, &host, || 0u64)?.reuse(Reuse::UpTo(100));
//! let sum: i64 = pool.call("sum3", (1i64, 2i64, 3i64)).await?;
//! assert_eq!(sum, 6);
//! # Ok(())
//! # }
//! ```
//!
//! # Where guest code runs
//! [`GuestPool::call`] takes an instance (an idle one, or a fresh one made on the blocking
//! pool) and runs the call with `tokio::task::spawn_blocking`: the runtime's workers go on
//! serving other tasks while guests compute. An async host function runs on that same
//! blocking thread: its future is driven to completion there (`Handle::block_on`) while the
//! guest waits for its answer.
//!
//! # Reuse
//! [`Reuse::Fresh`] gives every call a fresh instance with fresh host state: nothing one
//! call leaves in guest memory reaches the next. [`Reuse::UpTo`]`(n)` gives an instance back
//! to the pool after a call that returned `Ok` or the guest's own error, for at most `n`
//! calls: instantiating is skipped, but guest memory and host state carry over, and wasm
//! memory never shrinks, so `n` bounds how long one instance's growth lives. An instance
//! whose call trapped, ran out of fuel or failed otherwise is dropped, never reused.
//! [`Reuse::Reset`] resets an instance after every call, whatever its outcome, and gives it
//! back with fresh host state: nothing carries over, as with fresh instances, at a fraction of
//! the cost; one that cannot be reset is dropped. At most [`GuestPool::max_idle`] instances
//! wait in the pool.
//!
//! # Concurrency
//! At most [`GuestPool::max_concurrent`] calls of a pool run at once (16 unless set); the
//! others wait for a turn without holding a thread. wasmi 2.0 takes spin locks of its engine
//! around each call: with far more threads than cores they spin against each other. 200
//! concurrent calls, each awaiting a host function twice, took 105 ms with 16 at a time and
//! 2.3 s with tokio's default of up to 512 blocking threads (wasmer: 91 ms and 37 ms).
//!
//! # Cancellation and deadlines
//! On an engine with [`crate::Config::interruptible`] on, dropping the future of a call
//! stops its guest: the guest fails with [`WasmError::Interrupted`] at its next loop head,
//! call or host function, its blocking thread and its turn are freed, and its instance is
//! dropped, not given back (reset, under [`Reuse::Reset`]), even when the guest returned
//! before it met the cancel. [`GuestPool::timeout`] gives every call a wall-clock deadline
//! (or [`crate::Config::call_timeout`] every call of the engine). Without interruption,
//! a dropped call runs on until it returns, traps or runs out of fuel; to bound it, bound it
//! in work with [`GuestPool::fuel_per_call`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use wasmhost_api::{Guest, HostFunctions, Instance, InterruptHandle, Module, Prelinked, WasmError};

use crate::{AnyInstance, AnyModule, AnyPrelinked};

/// When an instance is used again: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// A fresh instance for every call.
    Fresh,
    /// The same instance for up to this many calls.
    UpTo(u32),
    /// The same instance for every call, reset between calls to its state right after
    /// instantiation ([`Instance::reset`]), with fresh host state: what a fresh instance
    /// gives, for a fraction of its cost. The engine must have
    /// [`crate::Config::resettable`] on; an instance that cannot be reset (its memory grew,
    /// or its module does not qualify) is dropped instead.
    Reset,
}

/// An instance waiting in the pool, and the calls it has served.
struct Idle<T: Send + 'static> {
    instance: AnyInstance<T>,
    calls: u32,
}

/// Instances of one module, linked once, called from async code: see the module docs.
pub struct GuestPool<T: Send + 'static> {
    prelinked: AnyPrelinked<T>,
    state: Arc<dyn Fn() -> T + Send + Sync>,
    reuse: Reuse,
    fuel_per_call: Option<u64>,
    timeout: Option<Duration>,
    max_idle: usize,
    idle: Arc<Mutex<Vec<Idle<T>>>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl<T: Send + 'static> Clone for GuestPool<T> {
    /// Another handle on the same pool: its idle instances are shared.
    fn clone(&self) -> Self {
        GuestPool {
            prelinked: self.prelinked.clone(),
            state: Arc::clone(&self.state),
            reuse: self.reuse,
            fuel_per_call: self.fuel_per_call,
            timeout: self.timeout,
            max_idle: self.max_idle,
            idle: Arc::clone(&self.idle),
            turns: Arc::clone(&self.turns),
        }
    }
}

impl<T: Send + 'static> GuestPool<T> {
    /// A pool of `module` linked with `host`, each new instance holding `state()`. Fresh
    /// instances per call ([`Reuse::Fresh`]) until [`GuestPool::reuse`] says otherwise; at
    /// most 16 idle.
    ///
    /// # Errors
    /// As [`Module::prelink`]: a missing or mistyped import, a memory over the limits.
    pub fn new(
        module: &AnyModule,
        host: &HostFunctions<T>,
        state: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Self, WasmError> {
        Ok(GuestPool {
            prelinked: module.prelink(host)?,
            state: Arc::new(state),
            reuse: Reuse::Fresh,
            fuel_per_call: None,
            timeout: None,
            max_idle: 16,
            idle: Arc::new(Mutex::new(Vec::new())),
            turns: Arc::new(tokio::sync::Semaphore::new(16)),
        })
    }

    /// Sets the reuse policy.
    pub fn reuse(mut self, reuse: Reuse) -> Self {
        self.reuse = reuse;
        self
    }

    /// Gives every call a fuel budget of `budget` units (the engine must meter:
    /// [`crate::Config::metering`]); a call that spends it ends in
    /// [`WasmError::OutOfFuel`].
    pub fn fuel_per_call(mut self, budget: u64) -> Self {
        self.fuel_per_call = Some(budget);
        self
    }

    /// Gives every call a deadline `timeout` after it starts on its instance; a call still
    /// running then fails with [`WasmError::Interrupted`]. The engine must be
    /// interruptible ([`crate::Config::interruptible`]): on another, every call fails with
    /// [`WasmError::Engine`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets how many instances may wait in the pool (16 unless set).
    pub fn max_idle(mut self, instances: usize) -> Self {
        self.max_idle = instances;
        self
    }

    /// Sets how many calls may run at once (at least 1); see the module docs.
    pub fn max_concurrent(mut self, calls: usize) -> Self {
        self.turns = Arc::new(tokio::sync::Semaphore::new(calls.max(1)));
        self
    }

    /// How many instances wait in the pool now.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Calls serialized export `export` with `input` on an instance of the pool, on tokio's
    /// blocking pool. Must be awaited inside a tokio runtime.
    ///
    /// Dropping the returned future stops the guest on an interruptible engine: see the
    /// module docs.
    ///
    /// # Errors
    /// As [`Instance::call`], and [`WasmError::Engine`] when the blocking task could not
    /// run or panicked.
    pub async fn call<I, O>(&self, export: &str, input: I) -> Result<O, WasmError>
    where
        I: Serialize + Send + 'static,
        O: DeserializeOwned + Send + 'static,
    {
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| WasmError::Engine("the pool's turns were closed".into()))?;
        let waiting = self.take();
        let (prelinked, state) = (self.prelinked.clone(), Arc::clone(&self.state));
        let (export, fuel, timeout) = (export.to_string(), self.fuel_per_call, self.timeout);
        let resets = self.reuse == Reuse::Reset;
        let running = CancelOnDrop::default();
        let slot = Arc::clone(&running.0);
        let task = tokio::task::spawn_blocking(move || {
            let mut idle = match waiting {
                Some(idle) => idle,
                None => Idle {
                    instance: prelinked.instantiate(state())?,
                    calls: 0,
                },
            };
            if let Some(budget) = fuel {
                idle.instance.set_fuel(budget)?;
            }
            if timeout.is_some() {
                idle.instance.set_call_timeout(timeout)?;
            }
            if let Some(handle) = idle.instance.interrupt_handle() {
                CancelOnDrop::running(&slot, handle);
            }
            let result = idle.instance.call::<I, O>(&export, &input);
            // From here a dropped future stops nothing: the guest is done.
            CancelOnDrop::done(&slot);
            idle.calls += 1;
            // A future dropped as the guest returned fired a cancel it no longer met: the
            // instance is spent all the same, and only a reset brings it back.
            let cancelled = idle
                .instance
                .interrupt_handle()
                .is_some_and(|handle| handle.interrupted().is_some());
            // Reset here, on the blocking thread, and with fresh host state.
            let reset = resets && idle.instance.reset().is_ok();
            if reset {
                *idle.instance.state_mut() = state();
            }
            // The turn ends with the call, even when nobody awaits it any more.
            drop(turn);
            Ok::<_, WasmError>((result, idle, reset, cancelled))
        });
        // `running` lives to here: a future dropped while the guest runs stops it.
        let (result, idle, reset, cancelled) = task
            .await
            .map_err(|e| WasmError::Engine(format!("the guest call's blocking task: {e}")))??;
        self.give_back(idle, &result, reset, cancelled);
        result
    }

    /// An idle instance, if the policy reuses them and one is waiting.
    fn take(&self) -> Option<Idle<T>> {
        match self.reuse {
            Reuse::Fresh => None,
            Reuse::UpTo(_) | Reuse::Reset => self.idle.lock().ok()?.pop(),
        }
    }

    /// Puts `idle` back after a call that left it sound (`reset`: after a reset that
    /// worked; `cancelled`: interrupted before any reset, whatever the call returned),
    /// while the policy allows.
    fn give_back<O>(
        &self,
        idle: Idle<T>,
        result: &Result<O, WasmError>,
        reset: bool,
        cancelled: bool,
    ) {
        let (sound, again) = match self.reuse {
            Reuse::Fresh => (false, false),
            Reuse::UpTo(n) => (
                !cancelled && matches!(result, Ok(_) | Err(WasmError::Guest(_))),
                idle.calls < n,
            ),
            Reuse::Reset => (reset, true),
        };
        if sound
            && again
            && let Ok(mut waiting) = self.idle.lock()
            && waiting.len() < self.max_idle
        {
            waiting.push(idle);
        }
    }
}

/// Where a call's future and its blocking task meet: the task puts its instance's interrupt
/// handle here once it has the instance; a future dropped before the call finished fires
/// it (or, when the task has no instance yet, leaves word to fire it at once).
#[derive(Default)]
struct CancelOnDrop(Arc<Mutex<Running>>);

#[derive(Default)]
enum Running {
    /// No instance yet.
    #[default]
    Starting,
    /// The guest runs; this stops it.
    Guest(InterruptHandle),
    /// The future was dropped: the call is to be stopped.
    Abandoned,
    /// The guest's call returned.
    Finished,
}

impl CancelOnDrop {
    /// From the blocking task: the guest is about to run.
    fn running(slot: &Mutex<Running>, handle: InterruptHandle) {
        let mut running = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *running {
            Running::Abandoned => handle.cancel(),
            _ => *running = Running::Guest(handle),
        }
    }

    /// From the blocking task: the guest's call returned; dropping the future now stops
    /// nothing (the instance may go back to the pool).
    fn done(slot: &Mutex<Running>) {
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Running::Finished;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let mut running = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match std::mem::replace(&mut *running, Running::Abandoned) {
            Running::Guest(handle) => handle.cancel(),
            Running::Finished => *running = Running::Finished,
            Running::Starting | Running::Abandoned => {}
        }
    }
}

/// Async host functions, for [`HostFunctions`] (cargo feature `tokio`).
pub trait AsyncHostFunctions {
    /// Adds a serialized host function whose body is async, imported by guests as
    /// `wasmhost.<name>` like [`HostFunctions::func`]'s. The future runs to completion on
    /// the blocking thread of the calling guest while the guest waits (see the module docs),
    /// or, on an interruptible engine, until the call is cancelled or passes its deadline:
    /// then it is dropped and the guest stops with [`WasmError::Interrupted`];
    /// it cannot borrow the call's context, so state it needs is captured (an `Arc`, a
    /// channel's sender).
    ///
    /// It needs a tokio runtime around the call: through [`GuestPool`] it has one. Called
    /// elsewhere it fails the call with [`WasmError::Host`]: from a thread outside any
    /// runtime, or from a runtime worker, which must not block.
    fn func_async<I, O, F, Fut>(&mut self, name: &str, f: F) -> &mut Self
    where
        I: DeserializeOwned + 'static,
        O: Serialize + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, WasmError>> + 'static;
}

impl<T: 'static> AsyncHostFunctions for HostFunctions<T> {
    fn func_async<I, O, F, Fut>(&mut self, name: &str, f: F) -> &mut Self
    where
        I: DeserializeOwned + 'static,
        O: Serialize + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, WasmError>> + 'static,
    {
        let function = name.to_string();
        self.func(name, move |ctx, input: I| {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                WasmError::host(format!(
                    "async host function `{function}` was called outside a tokio runtime: \
                     call the guest through wasmhost::pool::GuestPool"
                ))
            })?;
            let handle = ctx.interrupt_handle();
            let mut work = std::pin::pin!(f(input));
            let mut fired = handle.as_ref().map(InterruptHandle::fired);
            // The future, unless the call is interrupted first: a cancel or the deadline
            // stops the wait, and the future is dropped.
            let raced = std::future::poll_fn(|cx| {
                if let Some(fired) = &mut fired
                    && let std::task::Poll::Ready(why) = std::pin::Pin::new(fired).poll(cx)
                {
                    return std::task::Poll::Ready(Err(WasmError::Interrupted(why)));
                }
                work.as_mut().poll(cx)
            });
            // On a runtime worker this panics (a worker must not block), and the panic
            // becomes the call's `WasmError::Host`.
            runtime.block_on(raced)
        })
    }
}
