//! The one place for knobs.

use std::time::Duration;

/// How an engine is set up. Every backend honours every field.
///
/// The wasm feature set is fixed, the same on every backend, so that one module is valid or
/// invalid on all of them: WebAssembly 2.0 (mutable globals, sign extension, saturating
/// float-to-int, multi-value, bulk memory, reference types, fixed-width SIMD) and relaxed
/// SIMD. SIMD on wasmi needs this crate's `simd` cargo feature (on by default). Off:
/// threads, tail calls, memory64, multi-memory, extended constants, exceptions.
///
/// Every field but the payload, module size and host nesting limits and the call timeout
/// changes how a module is
/// compiled (the rewriting passes of `wasmhost-instrument`, or the engine's own settings),
/// so a module compiled under one `Config` belongs to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Largest serialized payload, in bytes, accepted in either direction of a call
    /// (host to guest input, guest to host output, and the same for host functions).
    /// Exceeding it is [`crate::WasmError::PayloadTooLarge`].
    /// Default: 1 GiB + 1 MiB, so a 1 GiB byte payload with its encoding overhead fits.
    pub max_payload_bytes: u32,
    /// The deterministic profile: every float operation that may produce a NaN (add, sub,
    /// mul, div, sqrt, min, max, ceil, floor, trunc, nearest, promote, demote) produces the
    /// positive canonical NaN (`0x7fc00000` / `0x7ff8000000000000`), so the same guest gives
    /// the same bits on every engine and every processor. Bit operations (neg, abs,
    /// copysign, reinterpret, load, store) keep their NaN bits, as the spec requires.
    /// It also turns on the stack limit ([`Config::max_stack_bytes`], default
    /// [`DEFAULT_MAX_STACK_BYTES`]) so that recursion stops at the same depth everywhere.
    /// Default: off (NaN bits follow the engine and the hardware).
    pub deterministic: bool,
    /// Fuel metering: off, the engine's own, or wasmhost's portable pass. See [`Metering`].
    /// Default: [`Metering::Off`].
    pub metering: Metering,
    /// What each kind of work costs in [`Metering::Portable`] mode, and what payload bytes
    /// cost in every metering mode.
    pub costs: CostTable,
    /// The fuel a new instance starts with (its start function runs on it). Refill it
    /// before each call with [`crate::Guest::set_fuel`]. Ignored when metering is off.
    /// Default: 10 000 000 000 units.
    pub initial_fuel: u64,
    /// Largest linear memory, in bytes (rounded down to whole 64 KiB pages). A module whose
    /// memory starts larger fails to instantiate with [`crate::WasmError::MemoryLimit`];
    /// `memory.grow` past it returns `-1` (as the spec allows when growth fails), and a call
    /// that then traps reports [`crate::WasmError::MemoryLimit`] rather than the trap.
    /// Default: no limit beyond wasm32's 4 GiB.
    pub max_memory_bytes: Option<u64>,
    /// Largest number of elements of any table. A module whose table starts larger fails to
    /// instantiate, and `table.grow` past it traps; both are
    /// [`crate::WasmError::TableLimit`]. Default: no limit.
    pub max_table_elements: Option<u32>,
    /// Deepest nesting of calls (each `call`/`call_indirect` executed and not yet returned,
    /// host imports included) below an export called by the host. One more traps with
    /// [`crate::Trap::StackOverflow`], at exactly that depth on every engine. `None` leaves
    /// only the engines' own stack limits, which differ (wasmi counts frames, wasmer uses a
    /// native stack), unless [`Config::deterministic`] is on. Set, it takes the place of
    /// [`Config::max_stack_bytes`].
    pub max_call_depth: Option<u32>,
    /// Deepest stack, in bytes as wasmhost counts them for every engine and processor alike:
    /// each call executed and not yet returned (host imports included) costs its callee's
    /// frame, [`FRAME_OVERHEAD_BYTES`] plus 8 bytes per parameter and local (16 per `v128`)
    /// plus 8 per value of the callee's deepest operand stack (16 per `v128`); a
    /// `call_indirect` costs the largest frame among the module's functions of its
    /// type. The call that would pass the limit traps with [`crate::Trap::StackOverflow`],
    /// at the same call on every engine, so a frame that holds much counts for much, as it
    /// does on a native stack. `None`: no such limit, unless [`Config::deterministic`] is on
    /// (then [`DEFAULT_MAX_STACK_BYTES`]).
    pub max_stack_bytes: Option<u32>,
    /// Deepest nesting of host functions on one thread: a host function that calls into a
    /// guest, which calls a host function, and so on. Each level costs native stack that no
    /// engine counts, so a guest and a host that call each other without end would crash the
    /// process; instead the host function one past this fails with
    /// [`crate::Trap::StackOverflow`], and that error unwinds every level to the host.
    /// Default: [`DEFAULT_MAX_HOST_NESTING`].
    pub max_host_nesting: u32,
    /// Largest module, in bytes of wasm, that `Engine::compile` accepts: a larger one is
    /// refused with [`crate::WasmError::ModuleTooLarge`] before any parsing, so a host that
    /// compiles what others send bounds the time and memory compiling may take.
    /// Default: no limit.
    pub max_module_bytes: Option<u64>,
    /// How the compiling engines lay out a linear memory in the host's address space. See
    /// [`MemoryReservation`]. Default: [`MemoryReservation::Guarded`].
    pub memory_reservation: MemoryReservation,
    /// Whether a running guest can be stopped from outside it: by an
    /// [`crate::InterruptHandle`] fired from any thread, or by a call's deadline
    /// ([`Config::call_timeout`]). The instrumentation adds a memory of one page to the
    /// module, which no instruction of the module can name, and reads a flag byte in it at
    /// every loop head and at the entry of every function on a cycle of the call graph (a
    /// recursive one); host functions check the flag before they run. (On the compiling
    /// engines with [`MemoryReservation::Guarded`] that memory reserves address space like
    /// any other.) The interrupted call fails with [`crate::WasmError::Interrupted`] and
    /// the instance is spent. A host function that
    /// blocks is not interrupted until it returns. Default: off (no checks compiled in).
    pub interruptible: bool,
    /// The longest any one call into a guest may run, by the wall clock, before it is
    /// interrupted with [`crate::Interruption::Deadline`]; per instance, replaced by
    /// [`crate::Instance::set_call_timeout`]. Counted from the host's call to the end of
    /// the guest's, host functions' time included; a call the host function makes back
    /// into the guest runs within its caller's deadline. A timeout turns
    /// [`Config::interruptible`] on, whether set by the builder or in this field. Default:
    /// none.
    pub call_timeout: Option<Duration>,
    /// Whether instances can be reset to their state right after instantiation
    /// ([`crate::Instance::reset`]): the instrumentation exports what a reset writes, the
    /// memory and the mutable globals, of a module that qualifies (no start function, no
    /// imports but functions, no instruction that writes a table or uses a passive segment).
    /// Default: off.
    pub resettable: bool,
}

/// A frame count for [`Config::max_call_depth`]: the deterministic profile's limit before it
/// counted bytes ([`DEFAULT_MAX_STACK_BYTES`]).
pub const DEFAULT_MAX_CALL_DEPTH: u32 = 1_000;

/// The stack limit of the deterministic profile when neither [`Config::max_call_depth`] nor
/// [`Config::max_stack_bytes`] is set: 256 KiB counted, which every one of the suite's 36
/// real programs fits in (shootout-ackermann recurses about 1 030 frames deep, past the
/// 1 000 frames the profile allowed before), and which the engines' own stacks always hold
/// more than, on a thread of 1 MiB (tested on every engine).
pub const DEFAULT_MAX_STACK_BYTES: u32 = 256 << 10;

/// What every frame costs in [`Config::max_stack_bytes`] before its values: a return address,
/// a frame pointer and the bookkeeping an engine keeps per call.
pub const FRAME_OVERHEAD_BYTES: u32 = 32;

/// The stack limit in force ([`Config::stack_limit`]), in the unit it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackLimit {
    /// At most this many nested calls ([`Config::max_call_depth`]).
    Frames(u32),
    /// At most this many bytes of frames ([`Config::max_stack_bytes`]).
    Bytes(u32),
}

impl StackLimit {
    /// The limit in its unit.
    pub fn value(self) -> u32 {
        match self {
            StackLimit::Frames(n) | StackLimit::Bytes(n) => n,
        }
    }

    /// The deepest nesting of calls it allows: for a byte limit, of the smallest frames.
    /// What an engine's own stack must hold for the limit to stop a guest first.
    pub fn max_frames(self) -> u32 {
        match self {
            StackLimit::Frames(n) => n,
            StackLimit::Bytes(bytes) => bytes / FRAME_OVERHEAD_BYTES,
        }
    }
}

/// The default of [`Config::max_host_nesting`]: deep enough for any host that calls back on
/// purpose, shallow enough that the levels fit a 2 MiB thread stack on every engine.
pub const DEFAULT_MAX_HOST_NESTING: u32 = 32;

impl Default for Config {
    fn default() -> Self {
        Config {
            max_payload_bytes: (1 << 30) + (1 << 20),
            deterministic: false,
            metering: Metering::Off,
            costs: CostTable::default(),
            initial_fuel: 10_000_000_000,
            max_memory_bytes: None,
            max_table_elements: None,
            max_call_depth: None,
            max_stack_bytes: None,
            max_host_nesting: DEFAULT_MAX_HOST_NESTING,
            max_module_bytes: None,
            memory_reservation: MemoryReservation::Guarded,
            interruptible: false,
            call_timeout: None,
            resettable: false,
        }
    }
}

impl Config {
    /// Sets [`Config::max_payload_bytes`].
    pub fn max_payload_bytes(mut self, bytes: u32) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Sets [`Config::deterministic`].
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Sets [`Config::metering`].
    pub fn metering(mut self, metering: Metering) -> Self {
        self.metering = metering;
        self
    }

    /// Sets [`Config::costs`].
    pub fn costs(mut self, costs: CostTable) -> Self {
        self.costs = costs;
        self
    }

    /// Sets [`Config::initial_fuel`].
    pub fn initial_fuel(mut self, fuel: u64) -> Self {
        self.initial_fuel = fuel;
        self
    }

    /// Sets [`Config::max_memory_bytes`].
    pub fn max_memory_bytes(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = Some(bytes);
        self
    }

    /// Sets [`Config::max_table_elements`].
    pub fn max_table_elements(mut self, elements: u32) -> Self {
        self.max_table_elements = Some(elements);
        self
    }

    /// Sets [`Config::max_host_nesting`].
    pub fn max_host_nesting(mut self, levels: u32) -> Self {
        self.max_host_nesting = levels;
        self
    }

    /// Sets [`Config::max_module_bytes`].
    pub fn max_module_bytes(mut self, bytes: u64) -> Self {
        self.max_module_bytes = Some(bytes);
        self
    }

    /// Refuses a module of `len` bytes over [`Config::max_module_bytes`]: every engine's
    /// `compile` asks this first.
    ///
    /// # Errors
    /// [`crate::WasmError::ModuleTooLarge`].
    pub fn check_module_size(&self, len: usize) -> Result<(), crate::WasmError> {
        match self.max_module_bytes {
            Some(limit) if len as u64 > limit => Err(crate::WasmError::ModuleTooLarge {
                len: len as u64,
                limit,
            }),
            _ => Ok(()),
        }
    }

    /// Sets [`Config::memory_reservation`].
    pub fn memory_reservation(mut self, reservation: MemoryReservation) -> Self {
        self.memory_reservation = reservation;
        self
    }

    /// Sets [`Config::interruptible`].
    pub fn interruptible(mut self, on: bool) -> Self {
        self.interruptible = on;
        self
    }

    /// Sets [`Config::call_timeout`], and turns [`Config::interruptible`] on.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self.interruptible = true;
        self
    }

    /// Sets [`Config::resettable`].
    pub fn resettable(mut self, on: bool) -> Self {
        self.resettable = on;
        self
    }

    /// Sets [`Config::max_call_depth`].
    pub fn max_call_depth(mut self, depth: u32) -> Self {
        self.max_call_depth = Some(depth);
        self
    }

    /// Sets [`Config::max_stack_bytes`].
    pub fn max_stack_bytes(mut self, bytes: u32) -> Self {
        self.max_stack_bytes = Some(bytes);
        self
    }

    /// The stack limit in force: [`Config::max_call_depth`] in frames, else
    /// [`Config::max_stack_bytes`], else [`DEFAULT_MAX_STACK_BYTES`] in the deterministic
    /// profile, else none.
    pub fn stack_limit(&self) -> Option<StackLimit> {
        let bytes = self
            .max_stack_bytes
            .or(self.deterministic.then_some(DEFAULT_MAX_STACK_BYTES));
        self.max_call_depth
            .map(StackLimit::Frames)
            .or(bytes.map(StackLimit::Bytes))
    }

    /// The deepest nesting of calls the stack limit in force allows
    /// ([`StackLimit::max_frames`]), if there is one.
    pub fn call_depth_limit(&self) -> Option<u32> {
        self.stack_limit().map(StackLimit::max_frames)
    }

    /// The memory limit in whole 64 KiB pages, if there is one.
    pub fn memory_limit_pages(&self) -> Option<u64> {
        self.max_memory_bytes.map(|bytes| bytes / 65_536)
    }
}

/// How wasmer and wasmtime reserve address space for a linear memory. wasmi checks every
/// access in its interpreter whatever this says, and results never depend on it: an access
/// out of bounds traps the same way under both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MemoryReservation {
    /// Each memory reserves wasm32's whole 4 GiB plus a guard region (8 GiB of virtual
    /// address space on wasmer, 4 GiB + 32 MiB on wasmtime), so compiled code needs no
    /// bounds checks: the processor's page protection catches what is out of bounds. The
    /// fastest code, and the engines' own default; only the pages used become resident.
    #[default]
    Guarded,
    /// Each memory reserves only what it uses, with no guard region, and compiled code
    /// checks every access against the memory's current size; a memory that grows may
    /// move. For hosts where address space is scarce or costly: thousands of live
    /// instances, platforms that limit virtual memory (iOS), and emulators such as
    /// `qemu-user`, which keep bookkeeping per reserved page (there a guarded instance
    /// costs hundreds of MB of resident memory). The cost is the checks: measured in the
    /// benches' `memory_reservation` group.
    Compact,
}

impl MemoryReservation {
    /// The style's name: `"guarded"`, `"compact"`.
    pub fn name(self) -> &'static str {
        match self {
            MemoryReservation::Guarded => "guarded",
            MemoryReservation::Compact => "compact",
        }
    }

    /// The style called `name` (as [`MemoryReservation::name`] gives it).
    pub fn from_name(name: &str) -> Option<Self> {
        [MemoryReservation::Guarded, MemoryReservation::Compact]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// Which fuel meter counts a guest's work. Every mode but [`Metering::Off`] stops a guest
/// whose budget runs out with [`crate::WasmError::OutOfFuel`], on every engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Metering {
    /// No meter: a guest runs until it returns or traps.
    #[default]
    Off,
    /// The engine's own meter: wasmi's fuel, wasmer's metering middleware (one unit per
    /// operator). Cheap, but each engine counts in its own units at its own points, so the
    /// same guest burns different amounts on different engines.
    Native,
    /// wasmhost's portable meter: the module is rewritten to count [`CostTable`] units in a
    /// global, charged at the start of each region (function entry, loop iteration, `if`
    /// arm) for the whole region. The same guest and input burn exactly the same units,
    /// and stop at exactly the same instruction, on every engine and processor.
    Portable,
}

impl Metering {
    /// The mode's name: `"off"`, `"native"`, `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Metering::Off => "off",
            Metering::Native => "native",
            Metering::Portable => "portable",
        }
    }

    /// The mode called `name` (as [`Metering::name`] gives it).
    pub fn from_name(name: &str) -> Option<Self> {
        [Metering::Off, Metering::Native, Metering::Portable]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// What work costs, in fuel units. Instruction costs apply to [`Metering::Portable`] (the
/// engines' native meters have their own tables); payload costs apply whenever metering is
/// on. Documented in full in `wasmhost-instrument`'s `fuel` module.
///
/// The defaults come from `wasmhost meter` on x86_64: each weight brings its kind of work
/// near the nanoseconds per unit of plain integer code. No one table fits every engine (a
/// memcpy runs as fast under an interpreter as compiled; an add does not), so the weights
/// sit between wasmer's and wasmi's. Hosts that bill by time on one engine can tune them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CostTable {
    /// Every instruction, except the purely structural `block`, `loop`, `else`, `end` and
    /// `nop`, which cost nothing. Default 1.
    pub instruction: u32,
    /// Added for `call` and `call_indirect` (a frame to set up). Default 4.
    pub call: u32,
    /// Added for each load and store. Default 1.
    pub memory_access: u32,
    /// Added for integer division and remainder, float division and square root: they
    /// take tens of cycles where an add takes one. Default 16.
    pub division: u32,
    /// Added for a `call` of an imported (host) function, on top of `call`: crossing into
    /// the host costs hundreds of simple instructions. Host functions charge for their own
    /// work with `HostContext::charge`. Default 300.
    pub host_call: u32,
    /// Bytes (or table elements) per unit for `memory.fill`, `memory.copy`, `memory.init`,
    /// `table.fill`, `table.copy` and `table.init`, charged on the length just before the
    /// operation runs, so a 4 GiB fill is not one unit. Default 16; 0 means free.
    pub bulk_bytes_per_unit: u32,
    /// Per 64 KiB page requested by `memory.grow`, charged whether or not growth succeeds.
    /// Default 4096 (a page is 65 536 bytes, at the bulk rate).
    pub memory_grow_page: u32,
    /// Bytes per unit for payloads crossing the boundary (call inputs and outputs, host
    /// function inputs and outputs). Default 0: payloads are free.
    pub payload_bytes_per_unit: u32,
    /// Bytes per unit for what a system interface's call moves (WASI's reads, writes,
    /// directory listings and random bytes), charged by the call on top of `host_call`.
    /// Default 16 (the bulk rate); 0 means free.
    pub io_bytes_per_unit: u32,
    /// The dearest `if` arm paid in advance, in units: an `if` whose arms each cost at most
    /// this much (their own code, with the `if`s paid in advance inside them) is paid for
    /// with the code around it, its dearer arm's cost whether an arm runs or not, and its
    /// arms charge nothing. A charge is a subtraction, a store, a test and a branch, as
    /// much work as a short arm's: branchy code (parsers, interpreters, TinyGo's
    /// asyncified functions) runs faster metered, and pays up to this much for each arm it
    /// skips. Default 0: an arm is paid when it runs, so a run pays for exactly the
    /// instructions it ran.
    pub prepaid_if_arm: u32,
}

impl Default for CostTable {
    fn default() -> Self {
        CostTable {
            instruction: 1,
            call: 4,
            memory_access: 1,
            division: 16,
            host_call: 300,
            bulk_bytes_per_unit: 16,
            memory_grow_page: 4096,
            payload_bytes_per_unit: 0,
            io_bytes_per_unit: 16,
            prepaid_if_arm: 0,
        }
    }
}

/// The version of the charging rules a [`CostTable`]'s weights apply under: which
/// instruction is which kind of work, and where the charges fall (`wasmhost-instrument`'s
/// `fuel` module). Raised whenever the rules or the default weights change, so that a
/// bill names the rules it was computed with. 2: SIMD charged (v128 loads and stores as
/// memory accesses, vector division and square root as divisions). 3: charged once per
/// region (function entry, loop iteration, `if` arm), not after every `end`. 4: a counted
/// loop whose every iteration the fuel left can pay for is charged for all of them at its
/// entry (the same units unless the loop traps part-way). 5: only a loop without calls (a
/// bounds check's panic aside) is charged at its entry. 6: so is a loop that leaves by a
/// branch right after its back edge. 7: the entry of a function that only certain direct
/// calls reach is paid by its callers, with the code around the call (the same units unless
/// a run traps between the two). 8: a counted loop that may leave early is charged for all
/// its iterations at its entry too, and each way out pays back those it leaves unrun (the
/// same units unless the engine traps inside it). 9: an `if` without `else` testing a global
/// for zero (asyncify's state check), holding no call and reached whenever the code around
/// it runs, is paid with that code and pays its arm back when it skips it (the same units;
/// a run that cannot pay for both stops before the code around it). 10: only the charges
/// of a loop's iteration and of code that calls a function that may recurse or run long
/// test the fuel, and a call to the host tests it first; the others only subtract (the same units; a run that runs out in such code
/// stops at the next test, or with [`crate::WasmError::OutOfFuel`] when it returns to the
/// host). A table that sets
/// [`CostTable::prepaid_if_arm`] (added under 8) changes where charges fall by its own
/// weight, which its digest holds.
pub const COST_RULES_VERSION: u32 = 10;

impl CostTable {
    /// The version of the charging rules these weights apply under
    /// ([`COST_RULES_VERSION`]).
    pub fn version(&self) -> u32 {
        COST_RULES_VERSION
    }

    /// A digest of the rules' version and every weight (FNV-1a, 64 bits): the same table
    /// gives the same digest on every machine and in every release that keeps the rules.
    pub fn digest(&self) -> u64 {
        let mut fields = vec![
            self.version(),
            self.instruction,
            self.call,
            self.memory_access,
            self.division,
            self.host_call,
            self.bulk_bytes_per_unit,
            self.memory_grow_page,
            self.payload_bytes_per_unit,
            self.io_bytes_per_unit,
        ];
        // A weight added under rules version 8 is hashed only when set, so that the
        // tables bills named then kept their digests.
        if self.prepaid_if_arm != 0 {
            fields.push(self.prepaid_if_arm);
        }
        fields
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }

    /// The table's name for a bill or a report: `v{version}-{digest in hex}`, say
    /// `v9-…`.
    pub fn id(&self) -> String {
        format!("v{}-{:016x}", self.version(), self.digest())
    }

    /// Sets [`CostTable::payload_bytes_per_unit`].
    pub fn payload_bytes_per_unit(mut self, bytes: u32) -> Self {
        self.payload_bytes_per_unit = bytes;
        self
    }

    /// Sets [`CostTable::bulk_bytes_per_unit`].
    pub fn bulk_bytes_per_unit(mut self, bytes: u32) -> Self {
        self.bulk_bytes_per_unit = bytes;
        self
    }

    /// Sets [`CostTable::prepaid_if_arm`].
    pub fn prepaid_if_arm(mut self, units: u32) -> Self {
        self.prepaid_if_arm = units;
        self
    }

    /// What a payload of `len` bytes costs.
    pub fn payload(&self, len: u64) -> u64 {
        match self.payload_bytes_per_unit {
            0 => 0,
            per => len / per as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cost_table_is_named_by_its_rules_and_every_weight() {
        let default = CostTable::default();
        assert_eq!(default.id(), CostTable::default().id());
        assert!(default.id().starts_with(&format!("v{COST_RULES_VERSION}-")));
        // Pinned: the digest is the same on every machine and build.
        assert_eq!(default.digest(), DEFAULT_DIGEST);
        let tuned = [
            CostTable::default().bulk_bytes_per_unit(8),
            CostTable::default().payload_bytes_per_unit(1),
            CostTable {
                division: 17,
                ..CostTable::default()
            },
            CostTable::default().prepaid_if_arm(8),
        ];
        for table in tuned {
            assert_ne!(table.digest(), default.digest(), "{table:?}");
        }
    }

    /// The default table's digest under rules version 9.
    const DEFAULT_DIGEST: u64 = 10_792_765_449_405_035_612;
}
