//! The state of one instance's WASI: arguments, environment, descriptors, clocks and the
//! random source, and the builder that makes it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

use crate::errno::{self, Errno};
use crate::fd::{Descriptor, Table};
use crate::handle::DirHandle;
use crate::memfs::MemoryDir;
use crate::memory::{Answer, Fail};
use wasmhost_api::{Interruption, WasmError};

/// Where a guest's standard output or error goes.
pub enum Output {
    /// Nowhere: writes succeed and are dropped.
    Null,
    /// The host process's own stream.
    Inherit,
    /// A buffer the host reads afterwards.
    Capture(Captured),
    /// Any writer.
    Writer(Box<dyn Write + Send>),
}

impl Output {
    /// Writes all of `bytes`, or fails with the errno the guest receives.
    pub(crate) fn write(&mut self, bytes: &[u8], stderr: bool) -> Result<(), Errno> {
        let result = match self {
            Output::Null => Ok(()),
            Output::Inherit if stderr => io::stderr().write_all(bytes),
            Output::Inherit => io::stdout().write_all(bytes),
            Output::Capture(captured) => return captured.append(bytes),
            Output::Writer(writer) => writer.write_all(bytes),
        };
        result.map_err(|e| errno::from_io(&e))
    }

    /// Flushes what the stream buffers.
    pub(crate) fn flush(&mut self, stderr: bool) -> Result<(), Errno> {
        let result = match self {
            Output::Inherit if stderr => io::stderr().flush(),
            Output::Inherit => io::stdout().flush(),
            Output::Writer(writer) => writer.flush(),
            Output::Null | Output::Capture(_) => Ok(()),
        };
        result.map_err(|e| errno::from_io(&e))
    }
}

/// A buffer that captures a guest's output, bounded: a write that would pass the bound
/// fails with `NOSPC` and the guest sees a full device, the host's memory no growth.
/// Clones share the buffer.
#[derive(Clone)]
pub struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Captured {
    /// The default bound: 64 MiB.
    pub const DEFAULT_LIMIT: usize = 64 << 20;

    /// An empty buffer of [`Captured::DEFAULT_LIMIT`].
    pub fn new() -> Self {
        Captured::with_limit(Captured::DEFAULT_LIMIT)
    }

    /// An empty buffer that holds at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Captured {
            bytes: Arc::default(),
            limit,
        }
    }

    /// What was written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// What was written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    /// An [`Output`] into this buffer.
    pub fn output(&self) -> Output {
        Output::Capture(self.clone())
    }

    fn append(&self, bytes: &[u8]) -> Result<(), Errno> {
        let mut held = self.lock();
        if held.len() + bytes.len() > self.limit {
            return Err(errno::NOSPC);
        }
        held.extend_from_slice(bytes);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic elsewhere while holding the lock leaves whole writes only: keep going.
        self.bytes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for Captured {
    fn default() -> Self {
        Captured::new()
    }
}

/// Where a guest's standard input comes from.
pub enum Input {
    /// Nothing: reads give end of file.
    Empty,
    /// These bytes, then end of file.
    Bytes(io::Cursor<Vec<u8>>),
    /// The host process's own standard input ([`WasiCtxBuilder::inherit_stdin`]).
    Inherit,
}

impl Input {
    /// Reads at most `most` bytes. A read of the host's input that has to wait asks
    /// `stopped` every few milliseconds whether the call was interrupted, and stops with it.
    pub(crate) fn read(
        &mut self,
        most: usize,
        stopped: &dyn Fn() -> Option<Interruption>,
    ) -> Answer<Vec<u8>> {
        let mut buf = vec![0; most];
        let n = match self {
            Input::Empty => 0,
            Input::Bytes(cursor) => cursor.read(&mut buf).unwrap_or(0),
            Input::Inherit => return pump().read(most, stopped),
        };
        buf.truncate(n);
        Ok(buf)
    }
}

/// The most bytes of the host's input read ahead of the guest.
const PUMPED_AT_MOST: usize = 1 << 20;

/// How often a guest waiting on the host's input looks for an interruption: well within the
/// 10 ms a deadline promises.
const PUMP_POLL: Duration = Duration::from_millis(2);

/// The host process's standard input, read by a thread of its own into a bounded buffer:
/// a read blocked on a terminal or a pipe cannot be interrupted, a wait on the buffer can.
/// One per process, as the input is; started by the first guest that reads it.
struct Pump {
    state: Mutex<Pumped>,
    /// Notified when bytes come in, the input ends, or the guest takes bytes.
    changed: Condvar,
}

#[derive(Default)]
struct Pumped {
    bytes: VecDeque<u8>,
    /// End of input: `Some(None)` at its end, `Some(Some(kind))` after an error.
    ended: Option<Option<io::ErrorKind>>,
}

fn pump() -> &'static Pump {
    static PUMP: OnceLock<&'static Pump> = OnceLock::new();
    PUMP.get_or_init(|| {
        let pump: &'static Pump = Box::leak(Box::new(Pump {
            state: Mutex::new(Pumped::default()),
            changed: Condvar::new(),
        }));
        let started = std::thread::Builder::new()
            .name("wasmhost-stdin".into())
            .spawn(move || pump.run());
        if let Err(e) = started {
            pump.lock().ended = Some(Some(e.kind()));
        }
        pump
    })
}

impl Pump {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pumped> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut chunk = vec![0; 64 << 10];
        loop {
            {
                let mut state = self.lock();
                while state.bytes.len() >= PUMPED_AT_MOST {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            let read = io::stdin().read(&mut chunk);
            let mut state = self.lock();
            match read {
                Ok(0) => state.ended = Some(None),
                Ok(n) => state.bytes.extend(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => state.ended = Some(Some(e.kind())),
            }
            let ended = state.ended.is_some();
            drop(state);
            self.changed.notify_all();
            if ended {
                return;
            }
        }
    }

    fn read(&self, most: usize, stopped: &dyn Fn() -> Option<Interruption>) -> Answer<Vec<u8>> {
        let mut state = self.lock();
        loop {
            if most == 0 {
                return Ok(Vec::new());
            }
            if !state.bytes.is_empty() {
                let n = most.min(state.bytes.len());
                let bytes = state.bytes.drain(..n).collect();
                drop(state);
                self.changed.notify_all();
                return Ok(bytes);
            }
            match state.ended {
                Some(None) => return Ok(Vec::new()),
                Some(Some(kind)) => return Err(Fail::Errno(errno::from_io(&kind.into()))),
                None => {}
            }
            if let Some(why) = stopped() {
                return Err(Fail::Stop(WasmError::Interrupted(why)));
            }
            state = self
                .changed
                .wait_timeout(state, PUMP_POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Whether a preopened directory may be written through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirPerms {
    /// Files are opened for reading only; nothing is created, renamed or removed.
    ReadOnly,
    /// Everything the guest asks, inside the directory.
    ReadWrite,
}

/// The fixed start of virtual time in the deterministic mode: 2020-01-01T00:00:00Z, in
/// nanoseconds since the Unix epoch (the realtime clock; the monotonic and CPU-time clocks
/// start at 0).
pub const VIRTUAL_EPOCH_NANOS: u64 = 1_577_836_800_000_000_000;

/// How far virtual time advances on each clock read in the deterministic mode: 1 ms. Time
/// never stands still, so a program waiting for time to pass ends; a `poll_oneoff` sleep
/// advances it to the sleep's end at once.
pub const VIRTUAL_STEP_NANOS: u64 = 1_000_000;

/// The clocks: the host's, or virtual time.
pub(crate) enum Clocks {
    /// The host's realtime clock, and monotonic time since the context was built (for the
    /// monotonic and both CPU-time clocks).
    Host { started: Instant },
    /// Nanoseconds of virtual time since [`VIRTUAL_EPOCH_NANOS`].
    Virtual { elapsed: u64 },
}

impl Clocks {
    /// Clock `id`'s time, in nanoseconds; a read advances virtual time by a step.
    pub(crate) fn now(&mut self, id: u32) -> Result<u64, Errno> {
        let since_start = match self {
            Clocks::Host { started } => started.elapsed().as_nanos() as u64,
            Clocks::Virtual { elapsed } => {
                let now = *elapsed;
                *elapsed = elapsed.saturating_add(VIRTUAL_STEP_NANOS);
                now
            }
        };
        match (id, &*self) {
            (0, Clocks::Host { .. }) => Ok(SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)),
            (0, Clocks::Virtual { .. }) => Ok(VIRTUAL_EPOCH_NANOS.saturating_add(since_start)),
            (1..=3, _) => Ok(since_start),
            _ => Err(errno::INVAL),
        }
    }

    /// Clock `id`'s resolution, in nanoseconds.
    pub(crate) fn resolution(&self, id: u32) -> Result<u64, Errno> {
        match (id, self) {
            (0..=3, Clocks::Host { .. }) => Ok(1),
            (0..=3, Clocks::Virtual { .. }) => Ok(VIRTUAL_STEP_NANOS),
            _ => Err(errno::INVAL),
        }
    }

    /// Lets `nanos` nanoseconds of virtual time pass at once; false for host time, which the
    /// caller waits out (interruptibly: [`wasmhost_api::HostContext::sleep`]).
    pub(crate) fn pass(&mut self, nanos: u64) -> bool {
        match self {
            Clocks::Host { .. } => false,
            Clocks::Virtual { elapsed } => {
                *elapsed = elapsed.saturating_add(nanos);
                true
            }
        }
    }
}

/// One instance's WASI state. Build it with [`WasiCtx::builder`] and keep it in the host
/// state (see [`crate::WasiView`]).
pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: Table,
    pub(crate) clocks: Clocks,
    pub(crate) random: ChaCha12Rng,
    pub(crate) deterministic: bool,
}

impl WasiCtx {
    /// A builder: no arguments, no environment, empty standard input, standard output and
    /// error dropped, no directories, the host's clocks and randomness.
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::default()
    }

    /// Whether this context runs in the deterministic mode.
    pub fn is_deterministic(&self) -> bool {
        self.deterministic
    }
}

/// Builds a [`WasiCtx`]: what the guest sees of the world.
///
/// ```
/// use wasmhost_wasi::{Captured, WasiCtx};
/// let stdout = Captured::new();
/// let ctx = WasiCtx::builder()
///     .arg("prog")
///     .env("LANG", "C")
///     .stdout(stdout.output())
///     .deterministic(7)
///     .build();
/// assert!(ctx.is_deterministic());
/// ```
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    dirs: Vec<(DirHandle, String, DirPerms)>,
    inherit_env: bool,
    seed: Option<u64>,
    max_open_files: usize,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Input::Empty,
            stdout: Output::Null,
            stderr: Output::Null,
            dirs: Vec::new(),
            inherit_env: false,
            seed: None,
            max_open_files: 1024,
        }
    }
}

impl WasiCtxBuilder {
    /// Appends an argument (the first is the program's name, by convention).
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().as_bytes().to_vec());
        self
    }

    /// Appends arguments.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().as_bytes().to_vec()));
        self
    }

    /// Sets environment variable `key` to `value`.
    pub fn env(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.env
            .push(format!("{}={}", key.as_ref(), value.as_ref()).into_bytes());
        self
    }

    /// Passes on the host process's environment (the deterministic mode ignores this).
    pub fn inherit_env(mut self) -> Self {
        self.inherit_env = true;
        self
    }

    /// Standard input is `bytes`, then end of file.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Input::Bytes(io::Cursor::new(bytes.into()));
        self
    }

    /// Standard input is the host process's. The first guest to read it starts a thread
    /// that reads it ahead (up to 1 MiB), so that a guest waiting on it stops at a cancel
    /// or its call's deadline; guests of the process share what it has read.
    ///
    /// From then on the host's own reads of its standard input miss what that thread has
    /// taken and no guest read yet (up to 1 MiB): a host that reads its input itself after
    /// a guest did should give the guest its bytes with [`Self::stdin_bytes`] instead.
    pub fn inherit_stdin(mut self) -> Self {
        self.stdin = Input::Inherit;
        self
    }

    /// Where standard output goes.
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Where standard error goes.
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Standard output and error are the host process's.
    pub fn inherit_stdio(self) -> Self {
        self.stdout(Output::Inherit).stderr(Output::Inherit)
    }

    /// Preopens host directory `host` as `guest` (`.` for the guest's working directory):
    /// the guest reaches what is inside it and nothing outside, whatever path it uses.
    ///
    /// # Errors
    /// The host's error when `host` cannot be opened as a directory.
    pub fn preopen_dir(
        mut self,
        host: impl AsRef<std::path::Path>,
        guest: impl Into<String>,
        perms: DirPerms,
    ) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(host, ambient_authority())?;
        self.dirs.push((DirHandle::Host(dir), guest.into(), perms));
        Ok(self)
    }

    /// Preopens in-memory tree `tree` as `guest`: the guest's files live in host memory,
    /// within the tree's capacity, and the host reads them back through its own handle.
    pub fn preopen_memory(
        mut self,
        tree: &MemoryDir,
        guest: impl Into<String>,
        perms: DirPerms,
    ) -> Self {
        self.dirs
            .push((DirHandle::Memory(tree.root()), guest.into(), perms));
        self
    }

    /// The deterministic mode: virtual clocks ([`VIRTUAL_EPOCH_NANOS`],
    /// [`VIRTUAL_STEP_NANOS`]), random bytes from ChaCha12 seeded with `seed`, no host
    /// environment, no host times or inode numbers in file metadata, directories listed in
    /// name order. The same program and inputs then see the same world on every engine and
    /// machine.
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// At most `n` descriptors open at once, the three standard streams and the preopens
    /// included; one more open fails with `MFILE`. Default 1 024.
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.max_open_files = n;
        self
    }

    /// The context.
    pub fn build(self) -> WasiCtx {
        let deterministic = self.seed.is_some();
        let mut first = vec![
            Descriptor::In(self.stdin),
            Descriptor::Out(self.stdout, false),
            Descriptor::Out(self.stderr, true),
        ];
        first.extend(self.dirs.into_iter().map(|(dir, name, perms)| {
            crate::fd::dir(dir, Some(name), perms == DirPerms::ReadWrite)
        }));
        let fds = Table::new(first, self.max_open_files);
        let (clocks, random) = match self.seed {
            Some(seed) => (
                Clocks::Virtual { elapsed: 0 },
                ChaCha12Rng::seed_from_u64(seed),
            ),
            None => {
                let mut seed = [0u8; 32];
                // Without the system's randomness, the time and the process stand in:
                // unpredictable enough for hash seeds, which is what guests use.
                if getrandom::fill(&mut seed).is_err() {
                    let t = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0);
                    seed[..16].copy_from_slice(&t.to_le_bytes());
                    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
                }
                (
                    Clocks::Host {
                        started: Instant::now(),
                    },
                    ChaCha12Rng::from_seed(seed),
                )
            }
        };
        // The deterministic mode keeps only what the host set by name.
        let mut env = self.env;
        if self.inherit_env && !deterministic {
            env.extend(std::env::vars().map(|(key, value)| format!("{key}={value}").into_bytes()));
        }
        WasiCtx {
            args: self.args,
            env,
            fds,
            clocks,
            random,
            deterministic,
        }
    }
}

impl WasiCtx {
    /// Fills `buf` from the random source.
    pub(crate) fn fill_random(&mut self, buf: &mut [u8]) {
        self.random.fill_bytes(buf);
    }
}
