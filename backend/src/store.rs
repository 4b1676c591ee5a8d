//! What a wasmhost instance keeps in its engine's store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use wasmhost_api::{Config, Interrupt, Interruption, Signal};
use wasmhost_instrument::Global;
use wasmhost_instrument::meter::Ledger;

use crate::Backend;

/// A serialized export's handle: `(ptr, len) -> packed (ptr, len)`.
pub(crate) type Packed<B> = <B as Backend>::Typed<(i32, i32), i64>;

/// The globals the instrumentation passes may add, in [`StoreData`]'s order.
pub(crate) const PASS_GLOBALS: [Global; 3] = [Global::Fuel, Global::Depth, Global::Limit];

/// What a wasmhost instance keeps in its engine's store: the host state, the fuel ledger,
/// and the guest's exports the host calls, looked up once.
pub struct StoreData<B: Backend, T> {
    /// The host state.
    pub state: T,
    /// The configuration the instance runs under.
    pub config: Arc<Config>,
    /// What else the engine keeps per store.
    pub native: B::Native,
    pub(crate) ledger: Ledger,
    pub(crate) exports: Option<B::Exports>,
    /// The globals the instrumentation passes added, by [`Global`].
    pub(crate) globals: [Option<B::Global>; 3],
    /// The handles host functions' calls back into the guest use.
    pub(crate) handles: Handles<B>,
    /// What stops a running guest from outside, with [`Config::interruptible`].
    pub(crate) interrupt: Option<Arc<Interrupt>>,
    /// The deadline each call gets, counted from its start.
    pub(crate) timeout: Option<Duration>,
}

/// The guest's memory and exports a caller uses, each looked up on first use, so that
/// repeated calls skip the lookup and the signature check.
pub(crate) struct Handles<B: Backend> {
    pub(crate) memory: Option<B::Memory>,
    pub(crate) alloc: Option<B::Typed<i32, i32>>,
    pub(crate) dealloc: Option<B::Typed<(i32, i32), ()>>,
    /// The serialized export called last, by name.
    pub(crate) packed: Option<(Box<str>, Packed<B>)>,
    /// The export called raw last, by name, with its type.
    pub(crate) raw: Option<(Box<str>, B::Func, B::FuncType)>,
}

impl<B: Backend> Handles<B> {
    /// None looked up yet.
    pub(crate) fn new() -> Self {
        Handles {
            memory: None,
            alloc: None,
            dealloc: None,
            packed: None,
            raw: None,
        }
    }
}

impl<B: Backend, T: Send + 'static> StoreData<B, T> {
    /// The data of a new store, for host state `state`, before the instance exists.
    pub fn new(state: T, config: Arc<Config>) -> Self {
        StoreData {
            state,
            ledger: Ledger {
                budget: config.initial_fuel,
                ..Ledger::default()
            },
            native: B::Native::default(),
            exports: None,
            globals: [None, None, None],
            handles: Handles::new(),
            interrupt: config.interruptible.then(Interrupt::new),
            timeout: config.call_timeout,
            config,
        }
    }

    /// Why the guest was interrupted, if it was ([`Config::interruptible`]).
    #[inline]
    pub fn interrupted(&self) -> Option<Interruption> {
        self.interrupt.as_ref().and_then(|i| i.reason())
    }

    /// The exports, once the instance exists.
    pub fn exports(&self) -> Option<&B::Exports> {
        self.exports.as_ref()
    }

    /// Records the instance's exports once it exists, and finds the passes' globals among
    /// them. Host functions called from a start function the engine runs see no exports;
    /// one the instrumentation moved to an export runs after this, and sees them.
    pub(crate) fn attach(cx: &mut B::Cx<'_, T>, exports: B::Exports) {
        B::data_mut(cx).exports = Some(exports);
        let globals = PASS_GLOBALS.map(|g| B::global(cx, g.export_name()));
        B::data_mut(cx).globals = globals;
        B::attach_native(cx);
        // The signal that stops the guest sets the flag the instrumentation's interruption
        // checks read ([`wasmhost_instrument::interrupt`]).
        if B::data(cx).interrupt.is_some()
            && let Some(memory) = B::memory(cx, wasmhost_instrument::interrupt::EXPORT)
        {
            let flag = B::memory_data(B::reborrow(cx), &memory).as_mut_ptr();
            if let Some(interrupt) = &B::data(cx).interrupt {
                interrupt.attach(flag_signal(flag));
            }
        }
    }
}

/// The flag bytes of the instrumentation's interruption checks, set from another thread.
struct Flag(*mut u8);

// SAFETY: the pointer is only written through by `Flag::raise`, atomically, while the
// instance that owns the memory lives: `Instance`'s drop detaches the signal first.
unsafe impl Send for Flag {}

impl Flag {
    fn raise(&self) {
        for k in 0..wasmhost_instrument::interrupt::FLAG_BYTES {
            // SAFETY: within the first `FLAG_BYTES` of the checks' memory of one page, which
            // never grows or moves while the instance lives (no instruction of the module
            // can name it). Compiled code reads the bytes with plain loads; a read that
            // misses the store sees it at the next check.
            unsafe { AtomicU8::from_ptr(self.0.add(k)) }.store(1, Ordering::Relaxed);
        }
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// The signal that sets the interruption checks' flag at `flag`.
fn flag_signal(flag: *mut u8) -> Signal {
    let flag = Flag(flag);
    Box::new(move || flag.raise())
}
