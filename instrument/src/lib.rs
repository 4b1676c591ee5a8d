//! # wasmhost-instrument
//!
//! Engine-free rewrites of a wasm module, applied before an engine sees it, so that every
//! engine runs the same instructions: NaN canonicalization, portable fuel metering, a
//! call-depth limit, and memory and table limits. Backends take the passes a [`Config`]
//! needs from [`Passes::for_config`]; native fuel metering is the one thing left to them.
//!
//! All passes run in one walk over each function body, and each original instruction is
//! rewritten in this fixed order:
//!
//! 1. [`fuel`]: at the start of each region, the region's whole cost is charged (the costs
//!    come from the *original* instructions only, never from code added here); a counted
//!    inner loop is charged for all its iterations at its entry when it can be, in a copy of
//!    the loop without per-iteration charge or interruption check;
//! 2. [`fuel`]: before a bulk memory or table operation, or `memory.grow`, its length-based
//!    cost;
//! 3. [`limits`]: `memory.grow` and `table.grow` checked against the limits;
//! 4. [`depth`]: before a `call` or `call_indirect`, the depth is raised and checked (and
//!    passed as an added argument to a function only direct calls reach, the fuel after it);
//! 5. the instruction itself;
//! 6. [`depth`]: after the call, the depth is lowered, and [`fuel`]: the function's copy of
//!    the fuel is reloaded from the global the callee spent from;
//! 7. [`interrupt`]: after a `loop`, and at the entry of a function on a cycle of the call
//!    graph, the interruption check;
//! 8. [`canonicalize`]: after a NaN-producing float instruction, a NaN result is replaced by
//!    the canonical NaN (in each lane of a vector), unless the next instruction is blind to
//!    NaN bits. A relaxed SIMD instruction is replaced in step 5 by its deterministic
//!    semantics ([`relaxed`]), then canonicalized.
//!
//! The passes talk to the host through mutable globals they add and export ([`Global`]).
//! They stop a guest with `unreachable` and leave the reason in those globals;
//! [`classify`] turns such a trap into the typed error the host reports.
//!
//! [`grow`] is apart from them: a rewrite for one engine's sake (wasmi's), applied to the
//! passes' output, that routes `memory.grow` and `table.grow` through host functions.
//!
//! The input must be a valid module: backends validate it with their engine first. The
//! rewrite re-encodes the module, which would repair some malformed encodings, and adds
//! locals, which would make some out-of-range local indices valid.

#![warn(missing_docs)]

mod calls;
pub mod canonicalize;
mod counted;
pub mod depth;
pub mod fuel;
pub mod grow;
pub mod interrupt;
pub mod limits;
pub mod meter;
mod ops;
pub mod relaxed;
pub mod reset;
mod rewrite;

use wasmhost_api::{Config, CostTable, Metering, StackLimit, Trap, WasmError};

/// Which rewrites to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passes {
    /// Replace every NaN a float operation produces by the positive canonical NaN (in every
    /// lane of a vector), and every relaxed SIMD operation by the spec's deterministic
    /// semantics of it: the deterministic profile.
    pub canonicalize_nans: bool,
    /// Portable fuel metering with this cost table, the module's fuel starting at
    /// `initial_fuel`.
    pub fuel: Option<(CostTable, u64)>,
    /// Trap with a stack overflow past this limit of nested calls or of their frames' bytes.
    pub stack_limit: Option<StackLimit>,
    /// `memory.grow` past this many 64 KiB pages fails (returns `-1`).
    pub memory_limit_pages: Option<u64>,
    /// `table.grow` past this many elements traps.
    pub max_table_elements: Option<u32>,
    /// Move the start function to the export [`START_EXPORT`] for the host to call after
    /// instantiation, so that running out of fuel or stack in it is reported like in any
    /// call (the engines run a start section inside instantiation, where no meter or global
    /// can be read yet). Implied by every other pass; needed alone for native metering.
    pub host_start: bool,
    /// Check a flag the host may set from another thread at every loop head and call
    /// entry, and stop the guest when it is set ([`interrupt`]): for an engine without an
    /// interruption of its own.
    pub interrupt: bool,
    /// Export what a reset writes (the mutable globals, the memory) and mark the module
    /// resettable, when it is ([`reset`]).
    pub resettable: bool,
}

impl Passes {
    /// The passes a backend needs for `config` (native fuel metering needs none).
    pub fn for_config(config: &Config) -> Self {
        Passes {
            canonicalize_nans: config.deterministic,
            fuel: (config.metering == Metering::Portable)
                .then(|| (config.costs.clone(), config.initial_fuel)),
            stack_limit: config.stack_limit(),
            memory_limit_pages: config.memory_limit_pages(),
            max_table_elements: config.max_table_elements,
            host_start: config.metering != Metering::Off,
            interrupt: config.interruptible,
            resettable: config.resettable,
        }
    }

    /// Whether any pass is on (when none is, the module needs no rewriting).
    pub fn any(&self) -> bool {
        *self != Passes::default()
    }

    /// Whether any pass but [`Passes::host_start`] is on.
    fn rewrites_code(&self) -> bool {
        Passes {
            host_start: false,
            ..self.clone()
        }
        .any()
    }
}

/// A global added by a pass, exported under [`Global::export_name`] so that the host can
/// read and set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// `i64`: the fuel left. Negative once a charge did not fit: the guest is out of fuel.
    Fuel,
    /// `i32`: the call depth, as the host's calls and the functions it may call read it,
    /// and as it stood when the limit stopped the guest. Functions that only the module's
    /// direct calls reach take their depth as a parameter instead and leave it as it was.
    Depth,
    /// `i32`: which limit stopped the guest: 0 none, [`limits::MEMORY_HIT`] or
    /// [`limits::TABLE_HIT`].
    Limit,
}

impl Global {
    /// The name the global is exported under. A module that already exports this name is
    /// refused ([`instrument`]).
    pub const fn export_name(self) -> &'static str {
        match self {
            Global::Fuel => "wasmhost_fuel",
            Global::Depth => "wasmhost_depth",
            Global::Limit => "wasmhost_limit",
        }
    }
}

/// A digest of this crate's source, taken at build time: part of every engine's fingerprint,
/// so that a module compiled and cached on disk by another revision of the passes (their
/// code is in it) is compiled anew instead of run.
pub const SOURCE_DIGEST: &str = env!("WASMHOST_INSTRUMENT_DIGEST");

/// The export a rewritten module's start function is moved to; the host calls it right
/// after instantiation ([`Instrumented::start`]).
pub const START_EXPORT: &str = "wasmhost_start";

/// What the host must know of a module to enforce the limits at instantiation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// The initial size of each memory the module defines, in 64 KiB pages.
    pub memory_pages: Vec<u64>,
    /// The initial size of each table the module defines, in elements.
    pub table_elements: Vec<u64>,
    /// Whether the module has a start function.
    pub has_start: bool,
}

impl ModuleFacts {
    /// Reads the facts of a valid module.
    ///
    /// # Errors
    /// [`WasmError::Compile`] when the bytes do not parse.
    pub fn of(wasm: &[u8]) -> Result<Self, WasmError> {
        let mut facts = ModuleFacts::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(compile_error)? {
                wasmparser::Payload::MemorySection(reader) => {
                    for memory in reader {
                        facts
                            .memory_pages
                            .push(memory.map_err(compile_error)?.initial);
                    }
                }
                wasmparser::Payload::StartSection { .. } => facts.has_start = true,
                wasmparser::Payload::TableSection(reader) => {
                    for table in reader {
                        facts
                            .table_elements
                            .push(table.map_err(compile_error)?.ty.initial);
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// Checks the initial sizes against `config`'s limits.
    ///
    /// # Errors
    /// [`WasmError::MemoryLimit`] or [`WasmError::TableLimit`].
    pub fn check_limits(&self, config: &Config) -> Result<(), WasmError> {
        if let Some(limit) = config.memory_limit_pages()
            && self.memory_pages.iter().any(|&pages| pages > limit)
        {
            return Err(WasmError::MemoryLimit);
        }
        if let Some(limit) = config.max_table_elements
            && self.table_elements.iter().any(|&n| n > limit as u64)
        {
            return Err(WasmError::TableLimit);
        }
        Ok(())
    }

    /// Appends the facts to `out`, for a backend that stores compiled modules: they must
    /// come back with the code, since the rewritten module no longer says them.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for sizes in [&self.memory_pages, &self.table_elements] {
            out.extend_from_slice(&(sizes.len() as u32).to_le_bytes());
            for size in sizes {
                out.extend_from_slice(&size.to_le_bytes());
            }
        }
        out.push(self.has_start as u8);
    }

    /// Reads facts [`ModuleFacts::write_to`] wrote at the start of `bytes`; returns them
    /// and the bytes after them, or `None` when `bytes` do not start with facts.
    pub fn read_from(bytes: &[u8]) -> Option<(Self, &[u8])> {
        fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = bytes.split_first_chunk::<N>()?;
            *bytes = rest;
            Some(*head)
        }
        let mut rest = bytes;
        let mut sizes = || -> Option<Vec<u64>> {
            let n = u32::from_le_bytes(take(&mut rest)?) as usize;
            // Bounded by what is there, so a corrupt count cannot ask for a huge allocation.
            (0..n.min(rest.len() / 8 + 1))
                .map(|_| take(&mut rest).map(u64::from_le_bytes))
                .collect::<Option<Vec<_>>>()
                .filter(|v| v.len() == n)
        };
        let memory_pages = sizes()?;
        let table_elements = sizes()?;
        let [has_start] = take(&mut rest)?;
        let facts = ModuleFacts {
            memory_pages,
            table_elements,
            has_start: has_start != 0,
        };
        Some((facts, rest))
    }
}

/// A rewritten module.
#[derive(Clone, Debug)]
pub struct Instrumented {
    /// The rewritten module, or the original when no pass was on.
    pub wasm: Vec<u8>,
    /// Its initial memory and table sizes.
    pub facts: ModuleFacts,
    /// Whether the module's start function was moved to the export [`START_EXPORT`], to
    /// be called by the host right after instantiation.
    pub start: bool,
}

/// Validates `wasm` with wasmparser against the contract's wasm feature set (Wasm 2.0 with
/// relaxed SIMD), as strictly as the spec reads it: for a backend whose engine validates
/// more leniently than it compiles. wasmtime 48's `Module::validate` accepts an overlong
/// LEB128 in a memory's limits that its compiler refuses, and the rewrite would re-encode
/// it well-formed.
///
/// # Errors
/// [`WasmError::Compile`] with wasmparser's message.
pub fn validate(wasm: &[u8]) -> Result<(), WasmError> {
    let features = wasmparser::WasmFeatures::WASM2 | wasmparser::WasmFeatures::RELAXED_SIMD;
    wasmparser::Validator::new_with_features(features)
        .validate_all(wasm)
        .map(drop)
        .map_err(|e| WasmError::Compile(e.to_string()))
}

/// Applies `passes` to the valid module `wasm`.
///
/// # Errors
/// [`WasmError::Compile`] when the module does not parse, or already exports one of the
/// names the passes add ([`Global::export_name`], [`START_EXPORT`]).
pub fn instrument(wasm: &[u8], passes: &Passes) -> Result<Instrumented, WasmError> {
    let facts = ModuleFacts::of(wasm)?;
    let needed = passes.rewrites_code() || (passes.host_start && facts.has_start);
    let (wasm, start) = if needed {
        rewrite::rewrite(wasm, passes)?
    } else {
        (wasm.to_vec(), false)
    };
    Ok(Instrumented { wasm, facts, start })
}

/// The state of the added globals after a guest call failed; `None` for a global the module
/// does not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalsAfterTrap {
    /// [`Global::Fuel`].
    pub fuel: Option<i64>,
    /// [`Global::Depth`].
    pub depth: Option<i32>,
    /// [`Global::Limit`].
    pub limit: Option<i32>,
}

/// Turns the error of a failed guest call into the one the host reports: the passes stop a
/// guest with `unreachable`, and the globals say why. A trap after `memory.grow` was refused
/// by the memory limit is reported as [`WasmError::MemoryLimit`], since the refusal is the
/// likely cause (a Rust guest aborts when its allocator gets no memory).
pub fn classify(
    error: WasmError,
    globals: GlobalsAfterTrap,
    stack_limit: Option<StackLimit>,
) -> WasmError {
    let WasmError::Trap(trap) = &error else {
        return error;
    };
    // The fuel ran out before whatever trapped: a charge that does not test the fuel may
    // leave it negative for a few more operators (see the `fuel` module).
    if globals.fuel.is_some_and(|fuel| fuel < 0) {
        return WasmError::OutOfFuel;
    }
    if *trap == Trap::Unreachable {
        if let (Some(depth), Some(limit)) = (globals.depth, stack_limit)
            && depth as u32 > limit.value()
        {
            return WasmError::Trap(Trap::StackOverflow);
        }
        if globals.limit == Some(limits::TABLE_HIT) {
            return WasmError::TableLimit;
        }
    }
    if globals.limit == Some(limits::MEMORY_HIT) {
        return WasmError::MemoryLimit;
    }
    error
}

fn compile_error(e: impl std::fmt::Display) -> WasmError {
    WasmError::Compile(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_read_back_what_was_written_and_refuse_less() {
        let facts = ModuleFacts {
            memory_pages: vec![1, 65536],
            table_elements: vec![],
            has_start: true,
        };
        let mut bytes = Vec::new();
        facts.write_to(&mut bytes);
        bytes.extend_from_slice(b"code");
        assert_eq!(ModuleFacts::read_from(&bytes), Some((facts, &b"code"[..])));
        for len in 0..bytes.len() - 4 {
            assert_eq!(ModuleFacts::read_from(&bytes[..len]), None, "cut at {len}");
        }
        // A count far beyond the bytes there is refused without allocating for it.
        assert_eq!(ModuleFacts::read_from(&[0xff, 0xff, 0xff, 0xff]), None);
    }
}
