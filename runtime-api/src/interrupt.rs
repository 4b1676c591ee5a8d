//! Stopping a running guest from outside it: a cancel handle any thread may fire, and
//! per-call deadlines, which one timer thread fires the same way.
//!
//! An instance of an engine built with [`crate::Config::interruptible`] shares one
//! [`Interrupt`] with the handles given out for it. Firing it records why, once, and pokes
//! the guest: its code checks a one-byte flag at every loop head and at the entry of every
//! recursive function (the instrumentation adds the checks, on every engine), and host
//! functions check before they run. The guest then
//! stops with [`crate::WasmError::Interrupted`], and the instance is spent, as after running
//! out of fuel: whatever it was doing was cut short anywhere, so it is never run again.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Why a guest was interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interruption {
    /// An [`InterruptHandle`] was fired.
    Cancelled,
    /// The call ran past its deadline ([`crate::Config::call_timeout`]).
    Deadline,
}

impl Interruption {
    const fn code(self) -> u8 {
        match self {
            Interruption::Cancelled => 1,
            Interruption::Deadline => 2,
        }
    }

    const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Interruption::Cancelled),
            2 => Some(Interruption::Deadline),
            _ => None,
        }
    }
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interruption::Cancelled => "cancelled",
            Interruption::Deadline => "deadline passed",
        })
    }
}

/// A handle that stops one instance's guest from any thread: see
/// [`crate::Instance::interrupt_handle`].
///
/// [`InterruptHandle::cancel`] stops the call running on the instance, or, when none is,
/// the next one, within microseconds: at the guest's next loop head, call or host function.
/// The call fails with [`crate::WasmError::Interrupted`] and the instance is spent. A handle
/// that outlives its instance does nothing.
#[derive(Clone, Debug)]
pub struct InterruptHandle(Arc<Interrupt>);

impl InterruptHandle {
    /// The handle of `interrupt`.
    pub fn new(interrupt: Arc<Interrupt>) -> Self {
        InterruptHandle(interrupt)
    }

    /// Stops the instance's guest: see the type's docs. Firing it again, or after a
    /// deadline, changes nothing.
    pub fn cancel(&self) {
        self.0.fire(Interruption::Cancelled);
    }

    /// Why the instance was interrupted, if it was.
    pub fn interrupted(&self) -> Option<Interruption> {
        self.0.reason()
    }

    /// Completes when the instance is interrupted, with why: for a host function that
    /// awaits on the guest's behalf, to stop waiting when the call is cancelled or runs
    /// past its deadline (the pool's async host functions race their future with it).
    pub fn fired(&self) -> Fired<'_> {
        Fired {
            interrupt: &self.0,
            key: 0,
        }
    }
}

/// A future that completes when an instance is interrupted: see
/// [`InterruptHandle::fired`]. Its waker is held by the interrupt only while it waits.
#[derive(Debug)]
pub struct Fired<'a> {
    interrupt: &'a Interrupt,
    /// Its waker's key among the interrupt's waiters; 0 before its first wait.
    key: u64,
}

impl Future for Fired<'_> {
    type Output = Interruption;

    /// The reason is read again once the waker is in: a fire signalled between the two
    /// reads recorded its reason before it woke the waiters.
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Interruption> {
        let this = self.get_mut();
        let interrupt = this.interrupt;
        if let Some(why) = interrupt.reason() {
            return Poll::Ready(why);
        }
        {
            let mut waiters = interrupt
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if this.key == 0 {
                waiters.next_key += 1;
                this.key = waiters.next_key;
            }
            match waiters.wakers.iter_mut().find(|(key, _)| *key == this.key) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => waiters.wakers.push((this.key, cx.waker().clone())),
            }
        }
        match interrupt.reason() {
            Some(why) => Poll::Ready(why),
            None => Poll::Pending,
        }
    }
}

impl Drop for Fired<'_> {
    fn drop(&mut self) {
        if self.key != 0 {
            let mut waiters = self
                .interrupt
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiters.wakers.retain(|(key, _)| *key != self.key);
        }
    }
}

/// The tasks awaiting an interrupt's fire, by key.
#[derive(Default)]
struct Waiters {
    wakers: Vec<(u64, Waker)>,
    next_key: u64,
}

/// What pokes a running guest so that it looks at its [`Interrupt`].
pub type Signal = Box<dyn Fn() + Send>;

/// The state one instance shares with its [`InterruptHandle`]s and with the deadline timer.
/// Backends make one per instance and attach the [`Signal`] that reaches their guest.
pub struct Interrupt {
    /// [`Interruption::code`], 0 while the guest may run.
    reason: AtomicU8,
    /// A cancel came while a deadline was recorded: it stands if the deadline is forgiven.
    /// Read and written under the signal's lock.
    cancelled_too: AtomicBool,
    /// The running call's deadline, in [`now`]'s nanoseconds; 0 for none.
    deadline: AtomicU64,
    /// The deadline of this interrupt's live entry in the timer's queue; 0 for none.
    scheduled: AtomicU64,
    /// What pokes the guest; `None` before the instance exists and after it is dropped, so
    /// that no handle reaches a guest that is gone.
    signal: Mutex<Option<Signal>>,
    /// Notified, under the signal's lock, whenever a fire is signalled: wakes a host
    /// function waiting on the guest's behalf ([`Interrupt::sleep`]).
    woken: Condvar,
    /// The tasks awaiting a fire ([`InterruptHandle::fired`]), woken with `woken`.
    waiters: Mutex<Waiters>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("reason", &self.reason())
            .finish_non_exhaustive()
    }
}

impl Interrupt {
    /// A new interrupt, not fired, with no deadline and no signal yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Interrupt {
            reason: AtomicU8::new(0),
            cancelled_too: AtomicBool::new(false),
            deadline: AtomicU64::new(0),
            scheduled: AtomicU64::new(0),
            signal: Mutex::new(None),
            woken: Condvar::new(),
            waiters: Mutex::new(Waiters::default()),
        })
    }

    /// Why the guest was interrupted, if it was.
    #[inline]
    pub fn reason(&self) -> Option<Interruption> {
        Interruption::from_code(self.reason.load(SeqCst))
    }

    /// Records `why`, unless a reason is recorded already, and pokes the guest. A cancel
    /// that finds a deadline recorded is kept for when the deadline is forgiven
    /// ([`Interrupt::forgive_deadline`]).
    pub fn fire(&self, why: Interruption) {
        if self.record(why) {
            self.poke();
        } else if why == Interruption::Cancelled {
            let signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
            match self.reason() {
                Some(Interruption::Deadline) => self.cancelled_too.store(true, SeqCst),
                Some(Interruption::Cancelled) => {}
                // Forgiven or reset since the first look: recorded now, after it.
                None => {
                    if self.record(why) {
                        self.signal(&signal);
                    }
                }
            }
        }
    }

    /// Records `why` unless a reason is recorded already; whether it was.
    fn record(&self, why: Interruption) -> bool {
        self.reason
            .compare_exchange(0, why.code(), SeqCst, SeqCst)
            .is_ok()
    }

    /// Runs the signal while a reason is recorded. The reason is read under the lock a
    /// [`Interrupt::reset`] clears it under, so a poke never follows the reset that forgot
    /// its fire: it would raise the guest's flag with no reason recorded, and the next call
    /// would stop as if the guest had trapped.
    fn poke(&self) {
        let signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reason().is_some() {
            self.signal(&signal);
        }
    }

    /// Raises the guest's flag through `signal` (the signal's lock, held) and wakes what
    /// waits on the guest's behalf ([`Interrupt::sleep`], [`InterruptHandle::fired`]).
    fn signal(&self, signal: &Option<Signal>) {
        if let Some(signal) = signal {
            signal();
        }
        self.woken.notify_all();
        let wakers = std::mem::take(
            &mut self
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .wakers,
        );
        wakers.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// Waits `duration`, or less when the interrupt fires first, and says why it fired:
    /// for a host function that waits on the guest's behalf (a WASI sleep), so that a
    /// cancel or a deadline stops the wait too, within the latency it promises.
    pub fn sleep(&self, duration: Duration) -> Option<Interruption> {
        let until = Instant::now().checked_add(duration);
        let mut signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(why) = self.reason() {
                return Some(why);
            }
            let left = match until {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return None;
            }
            signal = self
                .woken
                .wait_timeout(signal, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Attaches the signal that reaches the guest, once the instance exists; pokes at once
    /// when the interrupt fired before.
    pub fn attach(&self, signal: Signal) {
        *self.signal.lock().unwrap_or_else(PoisonError::into_inner) = Some(signal);
        self.poke();
    }

    /// Detaches the signal: the instance is being dropped. Returns once no signal runs.
    pub fn detach(&self) {
        *self.signal.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Forgets that the interrupt fired, and any deadline: the instance is being reset.
    /// `lower_flag` puts down what the signal raised in the guest. Both run under the lock
    /// the signal runs under, so a fire racing the reset lands wholly before it (forgotten,
    /// its flag lowered) or wholly after it (recorded and signalled: the next call stops).
    pub fn reset(&self, lower_flag: impl FnOnce()) {
        let _signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        self.reason.store(0, SeqCst);
        self.cancelled_too.store(false, SeqCst);
        self.deadline.store(0, SeqCst);
        lower_flag();
    }

    /// Gives the call about to run a deadline `timeout` from now. Two atomic operations
    /// when the timer already holds an entry for this interrupt that is due no later.
    pub fn arm(self: &Arc<Self>, timeout: Duration) {
        let at = now().saturating_add(timeout.as_nanos().min(u64::MAX as u128) as u64);
        self.deadline.store(at, SeqCst);
        // Read after the store: the timer, which clears `scheduled` before it reads the
        // deadline, then either sees this deadline or leaves `scheduled` cleared for us.
        let scheduled = self.scheduled.load(SeqCst);
        if scheduled != 0 && scheduled <= at {
            return;
        }
        timer().schedule(self, at);
    }

    /// The call ended: its deadline no longer applies. Returns whether the timer had taken
    /// it, to fire (meaningful after [`Interrupt::arm`] only): the call may have ended
    /// without meeting a check, and then [`Interrupt::forgive_deadline`] is due.
    #[inline]
    pub fn disarm(&self) -> bool {
        self.deadline.swap(0, SeqCst) == 0
    }

    /// Undoes a deadline's fire for a call that ended without being stopped by it (it
    /// returned, or failed otherwise, between two checks): the deadline was that call's
    /// alone, and must not stop the next. `lower_flag` puts down what the signal raised.
    /// A cancel, before the deadline or after it, stands: the flag stays up and the next
    /// call stops. Waits for the timer's fire to be whole: the timer takes a deadline and
    /// fires it under the lock this takes.
    pub fn forgive_deadline(&self, lower_flag: impl FnOnce()) {
        let _signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reason() == Some(Interruption::Deadline) {
            if self.cancelled_too.swap(false, SeqCst) {
                self.reason.store(Interruption::Cancelled.code(), SeqCst);
            } else {
                self.reason.store(0, SeqCst);
                lower_flag();
            }
        }
    }

    /// The timer reached this interrupt's entry for `at`: fires when the running call's
    /// deadline passed, queues the entry again for a later deadline. Under the queue's lock.
    fn expire(self: &Arc<Self>, at: u64, queue: &mut BinaryHeap<Entry>) {
        if self.scheduled.load(SeqCst) != at {
            return; // an entry superseded by an earlier one
        }
        self.scheduled.store(0, SeqCst);
        let deadline = self.deadline.load(SeqCst);
        if deadline == 0 {
            return;
        }
        if deadline <= now() {
            // Taken and fired under the signal's lock, so that a call which ends meanwhile
            // and finds its deadline taken ([`Interrupt::disarm`]) sees the fire whole.
            let signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = self.deadline.compare_exchange(deadline, 0, SeqCst, SeqCst);
            if taken.is_ok() && self.record(Interruption::Deadline) {
                self.signal(&signal);
            }
        } else {
            self.scheduled.store(deadline, SeqCst);
            queue.push(Entry {
                at: deadline,
                target: Arc::downgrade(self),
            });
        }
    }
}

/// Nanoseconds since the first call, never 0 (which means "none" above).
fn now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    start.elapsed().as_nanos() as u64 + 1
}

/// One deadline in the timer's queue, earliest first.
struct Entry {
    at: u64,
    target: Weak<Interrupt>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at) // reversed: `BinaryHeap` is a max-heap
    }
}

/// The one thread that fires deadlines, started on the first deadline. It sleeps until the
/// earliest one; an interrupt has at most one live entry, moved on when its call is
/// followed by another with a later deadline, so calls in a loop do not fill the queue.
struct Timer {
    queue: Mutex<BinaryHeap<Entry>>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(BinaryHeap::new()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("wasmhost-deadlines".into())
            .spawn(move || timer.run())
            .expect("spawning the deadline timer thread");
        timer
    })
}

impl Timer {
    fn schedule(&self, interrupt: &Arc<Interrupt>, at: u64) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let scheduled = interrupt.scheduled.load(SeqCst);
        if scheduled != 0 && scheduled <= at {
            return; // queued meanwhile
        }
        interrupt.scheduled.store(at, SeqCst);
        let first = queue.peek().is_none_or(|e| at < e.at);
        queue.push(Entry {
            at,
            target: Arc::downgrade(interrupt),
        });
        if first {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = now();
            match queue.peek().map(|e| e.at) {
                None => {
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(at) if at > now => {
                    let wait = Duration::from_nanos(at - now);
                    queue = self
                        .wake
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                Some(_) => {
                    if let Some(entry) = queue.pop()
                        && let Some(target) = entry.target.upgrade()
                    {
                        target.expire(entry.at, &mut queue);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counted() -> (Arc<Interrupt>, Arc<AtomicUsize>) {
        let interrupt = Interrupt::new();
        let pokes = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pokes);
        interrupt.attach(Box::new(move || {
            p.fetch_add(1, SeqCst);
        }));
        (interrupt, pokes)
    }

    fn wait_for(interrupt: &Interrupt) -> Option<Interruption> {
        for _ in 0..2000 {
            if let Some(why) = interrupt.reason() {
                return Some(why);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    #[test]
    fn a_passed_deadline_fires_once_and_a_disarmed_one_never() {
        let (interrupt, pokes) = counted();
        interrupt.arm(Duration::from_secs(3600));
        interrupt.disarm();
        let (quiet, quiet_pokes) = counted();
        quiet.arm(Duration::from_millis(1));
        quiet.disarm();
        interrupt.arm(Duration::from_millis(2));
        assert_eq!(wait_for(&interrupt), Some(Interruption::Deadline));
        interrupt.fire(Interruption::Cancelled);
        assert_eq!(interrupt.reason(), Some(Interruption::Deadline));
        assert_eq!(pokes.load(SeqCst), 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!((quiet.reason(), quiet_pokes.load(SeqCst)), (None, 0));
    }

    #[test]
    fn calls_in_a_loop_keep_one_entry_and_a_later_shorter_deadline_still_fires() {
        let (interrupt, _) = counted();
        for _ in 0..10_000 {
            interrupt.arm(Duration::from_secs(60));
            interrupt.disarm();
        }
        let queued = timer()
            .queue
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.target.ptr_eq(&Arc::downgrade(&interrupt)))
            .count();
        assert_eq!(queued, 1);
        interrupt.arm(Duration::from_millis(1));
        assert_eq!(wait_for(&interrupt), Some(Interruption::Deadline));
    }

    #[test]
    fn a_fire_the_reset_forgot_pokes_no_more_and_one_after_it_does() {
        let (interrupt, pokes) = counted();
        // A fire recorded just before a reset, its poke not yet run: the reset forgets it,
        // so the late poke must not raise the flag again.
        interrupt
            .reason
            .store(Interruption::Cancelled.code(), SeqCst);
        let mut lowered = false;
        interrupt.reset(|| lowered = true);
        interrupt.poke();
        assert_eq!(
            (lowered, interrupt.reason(), pokes.load(SeqCst)),
            (true, None, 0)
        );
        interrupt.fire(Interruption::Cancelled);
        assert_eq!(pokes.load(SeqCst), 1);
    }

    #[test]
    fn a_deadline_fired_for_a_call_that_ended_is_forgiven_and_a_cancel_stands() {
        let (interrupt, _) = counted();
        interrupt.arm(Duration::from_secs(3600));
        assert!(!interrupt.disarm(), "not taken by the timer");
        interrupt.arm(Duration::from_millis(1));
        assert_eq!(wait_for(&interrupt), Some(Interruption::Deadline));
        assert!(interrupt.disarm(), "taken by the timer");
        let mut lowered = false;
        interrupt.forgive_deadline(|| lowered = true);
        assert_eq!((lowered, interrupt.reason()), (true, None));
        interrupt.fire(Interruption::Cancelled);
        let mut lowered = false;
        interrupt.forgive_deadline(|| lowered = true);
        assert_eq!(
            (lowered, interrupt.reason()),
            (false, Some(Interruption::Cancelled))
        );
        // A cancel after the deadline fired stands too, once the deadline is forgiven.
        interrupt.reset(|| {});
        interrupt.arm(Duration::from_millis(1));
        assert_eq!(wait_for(&interrupt), Some(Interruption::Deadline));
        interrupt.fire(Interruption::Cancelled);
        assert!(interrupt.disarm());
        let mut lowered = false;
        interrupt.forgive_deadline(|| lowered = true);
        assert_eq!(
            (lowered, interrupt.reason()),
            (false, Some(Interruption::Cancelled))
        );
    }

    #[test]
    fn a_sleep_ends_when_its_time_is_up_or_at_once_when_the_interrupt_fires() {
        let (interrupt, _) = counted();
        let began = Instant::now();
        assert_eq!(interrupt.sleep(Duration::from_millis(20)), None);
        assert!(began.elapsed() >= Duration::from_millis(20));
        let sleeper = Arc::clone(&interrupt);
        let asleep = std::thread::spawn(move || sleeper.sleep(Duration::from_secs(3600)));
        std::thread::sleep(Duration::from_millis(20));
        let began = Instant::now();
        interrupt.fire(Interruption::Cancelled);
        assert_eq!(asleep.join().unwrap(), Some(Interruption::Cancelled));
        assert!(began.elapsed() < Duration::from_secs(10));
        // Fired already: a sleep ends at once.
        assert_eq!(
            interrupt.sleep(Duration::MAX),
            Some(Interruption::Cancelled)
        );
    }

    #[test]
    fn a_fired_future_holds_one_waker_while_it_waits_and_none_once_dropped() {
        let (interrupt, _) = counted();
        let handle = InterruptHandle::new(Arc::clone(&interrupt));
        let waiting = |i: &Interrupt| i.waiters.lock().unwrap().wakers.len();
        let mut cx = Context::from_waker(Waker::noop());
        let mut fired = Box::pin(handle.fired());
        let mut other = Box::pin(handle.fired());
        for _ in 0..3 {
            assert!(fired.as_mut().poll(&mut cx).is_pending());
            assert!(other.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(waiting(&interrupt), 2);
        drop(other);
        assert_eq!(waiting(&interrupt), 1);
        interrupt.fire(Interruption::Cancelled);
        assert_eq!(waiting(&interrupt), 0);
        assert_eq!(
            fired.as_mut().poll(&mut cx),
            Poll::Ready(Interruption::Cancelled)
        );
    }

    #[test]
    fn an_awaited_fire_wakes_its_task() {
        let (interrupt, _) = counted();
        let handle = InterruptHandle::new(Arc::clone(&interrupt));
        // The smallest executor: poll, park until woken.
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waiter = std::thread::spawn(move || {
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            let mut cx = Context::from_waker(&waker);
            let mut fired = std::pin::pin!(handle.fired());
            loop {
                if let Poll::Ready(why) = fired.as_mut().poll(&mut cx) {
                    return why;
                }
                std::thread::park();
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        interrupt.fire(Interruption::Deadline);
        assert_eq!(waiter.join().unwrap(), Interruption::Deadline);
    }

    #[test]
    fn a_signal_attached_after_firing_is_poked_and_a_detached_one_is_not() {
        let interrupt = Interrupt::new();
        interrupt.fire(Interruption::Cancelled);
        let pokes = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pokes);
        interrupt.attach(Box::new(move || {
            p.fetch_add(1, SeqCst);
        }));
        assert_eq!(pokes.load(SeqCst), 1);
        let (other, other_pokes) = counted();
        other.detach();
        InterruptHandle::new(Arc::clone(&other)).cancel();
        assert_eq!(other.reason(), Some(Interruption::Cancelled));
        assert_eq!(other_pokes.load(SeqCst), 0);
    }
}
