//! The one walk over a module that applies every pass: adds the passes' globals and their
//! exports, and rewrites each function body instruction by instruction in the order the
//! crate docs give.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use wasm_encoder::reencode::{Error, Reencode, utils};
use wasm_encoder::{
    ConstExpr, ExportKind, ExportSection, Function, GlobalSection, GlobalType, Instruction,
    MemorySection, MemoryType, SectionId, ValType,
};
use wasmhost_api::WasmError;
use wasmparser::{Operator, Parser, Payload, TypeRef};

use crate::calls::CallGraph;
use crate::fuel::{Fuel, Rate};
use crate::{
    Global, Passes, START_EXPORT, canonicalize, counted, depth, fuel, interrupt, limits, relaxed,
    reset,
};

/// Rewrites the valid module `wasm` with `passes`. Returns the new module and whether its
/// start function was moved to the export [`START_EXPORT`].
pub(crate) fn rewrite(wasm: &[u8], passes: &Passes) -> Result<(Vec<u8>, bool), WasmError> {
    let layout = Layout::of(wasm)?;
    let reserved = [Global::Fuel, Global::Depth, Global::Limit].map(Global::export_name);
    for name in reserved.into_iter().chain([
        START_EXPORT,
        interrupt::EXPORT,
        reset::MARKER_EXPORT,
        reset::MEMORY_EXPORT,
    ]) {
        if layout.export_names.iter().any(|n| n == name) {
            return Err(WasmError::Compile(format!(
                "the module exports `{name}`, a name wasmhost reserves for its own instrumentation"
            )));
        }
    }
    if let Some(name) = layout
        .export_names
        .iter()
        .find(|n| n.starts_with(reset::GLOBAL_EXPORT_PREFIX))
    {
        return Err(WasmError::Compile(format!(
            "the module exports `{name}`, a name wasmhost reserves for its own instrumentation"
        )));
    }
    let resettable = passes.resettable && reset::resettable(wasm);
    // Read before the start section goes: the host calls the start function too.
    let graph = match passes.interrupt || passes.fuel.is_some() || passes.stack_limit.is_some() {
        true => Some(
            CallGraph::of(wasm, passes.fuel.as_ref().map(|(costs, _)| costs))
                .map_err(|e| WasmError::Compile(format!("instrumentation failed: {e}")))?,
        ),
        false => None,
    };
    // Every pass reads or writes its globals from the host, which needs the instance: a
    // start function runs before there is one.
    let (wasm, start) = without_start(wasm)?;
    let mut next = layout.imported_globals + layout.defined_globals;
    let mut added = |on: bool| {
        on.then(|| {
            next += 1;
            next - 1
        })
    };
    let globals = AddedGlobals {
        fuel: added(passes.fuel.is_some()),
        depth: added(passes.stack_limit.is_some()),
        limit: added(passes.memory_limit_pages.is_some() || passes.max_table_elements.is_some()),
    };
    let reset = resettable.then(|| Reset {
        marker: next,
        mutable_globals: layout.mutable_globals.clone(),
        memory: layout.defined_memories > 0,
    });
    let frames = match passes.stack_limit {
        Some(limit) => Some(depth::FrameCosts::of(&wasm, limit)?),
        None => None,
    };
    let checked_at_entry = match (&graph, passes.interrupt) {
        (Some(graph), true) => interrupt::checked_at_entry(graph),
        _ => Vec::new(),
    };
    let paid_by_callers = match (&graph, passes.fuel.is_some()) {
        (Some(graph), true) => fuel::paid_by_callers(graph),
        _ => Vec::new(),
    };
    let tested_callees = match (&graph, passes.fuel.is_some()) {
        (Some(graph), true) => fuel::tested_callees(graph),
        _ => Vec::new(),
    };
    let may_spend = match (&graph, passes.fuel.is_some()) {
        (Some(graph), true) => fuel::may_spend(graph, &paid_by_callers),
        _ => Vec::new(),
    };
    let returning_to_host = match (&graph, passes.fuel.is_some()) {
        (Some(graph), true) => graph.returning_to_host(),
        _ => Vec::new(),
    };
    // A function that calls nothing never reads the depth ([`depth::save`]).
    let bodies = graph.iter().flat_map(|g| &g.bodies);
    let reads_depth = bodies.map(|body| !body.sites.is_empty()).collect();
    let mut host_reachable = vec![false; graph.as_ref().map_or(0, |g| g.bodies.len())];
    for &f in graph.iter().flat_map(|g| &g.escaping) {
        host_reachable[f as usize] = true;
    }
    let direct = graph
        .as_ref()
        .map(CallGraph::direct_only)
        .unwrap_or_default();
    let depth_passed = match (&graph, passes.stack_limit) {
        (Some(graph), Some(_)) => depth::passed_as_parameter(graph, &direct),
        _ => Vec::new(),
    };
    let fuel_passed = match passes.fuel {
        Some(_) => fuel::passed_as_parameter(&direct, &may_spend),
        None => Vec::new(),
    };
    let added_params: Vec<AddedParams> = (0..layout.function_types.len())
        .map(|f| AddedParams {
            depth: depth_passed.get(f) == Some(&true),
            fuel: fuel_passed.get(f) == Some(&true),
        })
        .collect();
    // Each signature of such a function gets a copy with what it takes appended, after the
    // module's own types.
    let mut passed_types = BTreeMap::new();
    for (f, added) in added_params.iter().enumerate() {
        if let (Some(&ty), true) = (layout.function_types.get(f), added.count() > 0) {
            let next = (layout.types.len() + passed_types.len()) as u32;
            passed_types.entry((ty, *added)).or_insert(next);
        }
    }
    let mut rewriter = Rewriter {
        passes,
        frames,
        globals,
        types: layout.types,
        function_types: layout.function_types,
        added_params,
        passed_types,
        imported_functions: layout.imported_functions,
        next_function: 0,
        reset,
        interrupt_memory: passes
            .interrupt
            .then_some(layout.imported_memories + layout.defined_memories),
        checked_at_entry,
        paid_by_callers,
        tested_callees,
        may_spend,
        returning_to_host,
        tests_on_leaving: false,
        reads_depth,
        host_reachable,
        restores_depth: true,
        fuel_read: true,
        interrupt_sites: 0,
        unchecked_loop: false,
        memories_written: false,
        globals_written: false,
        exports_written: false,
        start,
    };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), &wasm)
        .map_err(|e| WasmError::Compile(format!("instrumentation failed: {e}")))?;
    // A module without any section: the hook never ran.
    if !rewriter.memories_written {
        rewriter.write_memories(&mut module);
    }
    if !rewriter.globals_written {
        rewriter.write_globals(&mut module);
    }
    if !rewriter.exports_written {
        rewriter.write_exports(&mut module, ExportSection::new());
    }
    Ok((module.finish(), start.is_some()))
}

/// The module without its start section, and the start function's index. The host calls
/// the start function itself, right after instantiation, so that a start function that runs
/// out of fuel or stack is reported like any call: the engines run a start section inside
/// instantiation, where the passes' globals cannot be read yet.
fn without_start(wasm: &[u8]) -> Result<(Vec<u8>, Option<u32>), WasmError> {
    let mut section_end = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| WasmError::Compile(e.to_string()))?;
        if let Payload::StartSection { func, range } = &payload {
            let mut out = wasm[..section_end].to_vec();
            out.extend_from_slice(&wasm[range.end as usize..]);
            return Ok((out, Some(*func)));
        }
        match &payload {
            Payload::Version { range, .. } => section_end = range.end as usize,
            // The start section comes before the code section: nothing after it matters.
            Payload::CodeSectionStart { .. } => break,
            other => {
                if let Some((_, range)) = other.as_section() {
                    section_end = range.end as usize;
                }
            }
        }
    }
    Ok((wasm.to_vec(), None))
}

/// What the rewrite must know of the module before it starts.
struct Layout {
    imported_functions: u32,
    imported_globals: u32,
    defined_globals: u32,
    imported_memories: u32,
    defined_memories: u32,
    /// The indices of the mutable globals the module defines.
    mutable_globals: Vec<u32>,
    /// The module's types (a module with types beyond functions' is refused here).
    types: Vec<wasmparser::FuncType>,
    /// The type index of each function defined (not imported), in order.
    function_types: Vec<u32>,
    export_names: Vec<String>,
}

impl Layout {
    fn of(wasm: &[u8]) -> Result<Self, WasmError> {
        let err = |e: wasmparser::BinaryReaderError| WasmError::Compile(e.to_string());
        let mut layout = Layout {
            imported_functions: 0,
            imported_globals: 0,
            defined_globals: 0,
            imported_memories: 0,
            defined_memories: 0,
            mutable_globals: Vec::new(),
            types: Vec::new(),
            function_types: Vec::new(),
            export_names: Vec::new(),
        };
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(err)? {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        layout.types.push(ty.map_err(err)?);
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import.map_err(err)?.ty {
                            TypeRef::Global(_) => layout.imported_globals += 1,
                            TypeRef::Memory(_) => layout.imported_memories += 1,
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                                layout.imported_functions += 1
                            }
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for index in reader {
                        layout.function_types.push(index.map_err(err)?);
                    }
                }
                Payload::GlobalSection(reader) => {
                    layout.defined_globals = reader.count();
                    for (i, global) in reader.into_iter().enumerate() {
                        if global.map_err(err)?.ty.mutable {
                            let index = layout.imported_globals + i as u32;
                            layout.mutable_globals.push(index);
                        }
                    }
                }
                Payload::MemorySection(reader) => layout.defined_memories = reader.count(),
                Payload::ExportSection(reader) => {
                    for export in reader {
                        layout
                            .export_names
                            .push(export.map_err(err)?.name.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(layout)
    }
}

/// What the rewrite of a resettable module exports ([`reset`]).
struct Reset {
    /// The index of the marker global, added after the passes' globals.
    marker: u32,
    mutable_globals: Vec<u32>,
    /// Whether the module defines a memory (index 0: a resettable module imports none).
    memory: bool,
}

/// The indices of the globals the passes add.
#[derive(Clone, Copy)]
struct AddedGlobals {
    fuel: Option<u32>,
    depth: Option<u32>,
    limit: Option<u32>,
}

impl AddedGlobals {
    fn each(self) -> impl Iterator<Item = (Global, u32)> {
        [
            (Global::Fuel, self.fuel),
            (Global::Depth, self.depth),
            (Global::Limit, self.limit),
        ]
        .into_iter()
        .filter_map(|(g, index)| Some((g, index?)))
    }
}

/// What a function only the module's direct calls reach takes after its own parameters, in
/// this order: the call depth ([`depth::passed_as_parameter`], an `i32`) and the fuel
/// ([`fuel::passed_as_parameter`], an `i64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct AddedParams {
    depth: bool,
    fuel: bool,
}

impl AddedParams {
    fn count(self) -> u32 {
        u32::from(self.depth) + u32::from(self.fuel)
    }
}

struct Rewriter<'p> {
    /// What each call costs under the stack limit, when there is one.
    frames: Option<depth::FrameCosts>,
    passes: &'p Passes,
    globals: AddedGlobals,
    /// The module's types, and the type index of each defined function.
    types: Vec<wasmparser::FuncType>,
    function_types: Vec<u32>,
    /// Per defined function, the parameters it takes after its own.
    added_params: Vec<AddedParams>,
    /// The signatures of such functions, with what each takes, to the copy with those
    /// parameters appended.
    passed_types: BTreeMap<(u32, AddedParams), u32>,
    imported_functions: u32,
    next_function: usize,
    /// The index of the memory the interruption checks read, when they are on.
    interrupt_memory: Option<u32>,
    /// Per defined function, whether it gets an interruption check at its entry.
    checked_at_entry: Vec<bool>,
    /// Per defined function, its entry charge when its callers pay it
    /// ([`fuel::paid_by_callers`]).
    paid_by_callers: Vec<Option<u64>>,
    /// Per defined function, whether a call to it outside a loop needs the fuel tested in
    /// the region it is in ([`fuel::tested_callees`]).
    tested_callees: Vec<bool>,
    /// Per defined function, whether a call to it may change the fuel global
    /// ([`fuel::may_spend`]): after one that cannot, the caller's fuel local is not read
    /// again.
    may_spend: Vec<bool>,
    /// Per defined function, whether it reads the call depth: whether it calls. A call to
    /// one that does not raises the depth only on its way to the trap, for the host to tell
    /// a stack overflow ([`depth::enter`]).
    reads_depth: Vec<bool>,
    /// Per defined function, whether the host may call it ([`CallGraph::escaping`]).
    host_reachable: Vec<bool>,
    /// Per defined function, whether it may return to the host
    /// ([`CallGraph::returning_to_host`]), under fuel.
    returning_to_host: Vec<bool>,
    /// Whether the function being rewritten tests the fuel on its ways out
    /// ([`crate::ops::ways_out`]): one that may return to the host, so that a guest that ran
    /// out in a charge that does not test (see the `fuel` module) stops before the host sees
    /// its results.
    tests_on_leaving: bool,
    /// Whether the function being rewritten puts the call depth back after each call
    /// ([`depth::leave`]): only one the host may call.
    restores_depth: bool,
    /// Whether the function being rewritten charges fuel, and so keeps the fuel global's
    /// value in its fuel local: one that charges nothing (a leaf whose callers pay its
    /// entry) neither loads it at entry nor after its calls.
    fuel_read: bool,
    /// The interruption checks emitted so far in the function being rewritten: each reads
    /// its own flag byte ([`interrupt::FLAG_BYTES`]).
    interrupt_sites: u32,
    /// Whether the next `loop` goes without its interruption check ([`unchecked_loops`]).
    unchecked_loop: bool,
    /// What a reset needs exported, for a resettable module.
    reset: Option<Reset>,
    memories_written: bool,
    globals_written: bool,
    exports_written: bool,
    /// The start function, exported as [`START_EXPORT`].
    start: Option<u32>,
}

/// Where a section goes in a module (section ids are not in module order).
pub(crate) fn position(id: SectionId) -> u8 {
    match id {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

impl Rewriter<'_> {
    fn append_memories(&self, section: &mut MemorySection) {
        if self.interrupt_memory.is_some() {
            section.memory(MemoryType {
                minimum: 1,
                maximum: Some(1),
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
    }

    fn write_memories(&mut self, module: &mut wasm_encoder::Module) {
        let mut section = MemorySection::new();
        self.append_memories(&mut section);
        if !section.is_empty() {
            module.section(&section);
        }
        self.memories_written = true;
    }

    fn append_globals(&self, section: &mut GlobalSection) {
        for (global, _) in self.globals.each() {
            let (val_type, init) = match global {
                Global::Fuel => {
                    let initial = self.passes.fuel.as_ref().map_or(0, |(_, fuel)| *fuel);
                    (
                        ValType::I64,
                        ConstExpr::i64_const(initial.min(i64::MAX as u64) as i64),
                    )
                }
                Global::Depth | Global::Limit => (ValType::I32, ConstExpr::i32_const(0)),
            };
            let ty = GlobalType {
                val_type,
                mutable: true,
                shared: false,
            };
            section.global(ty, &init);
        }
        if let Some(reset) = &self.reset {
            let ty = GlobalType {
                val_type: ValType::I32,
                mutable: false,
                shared: false,
            };
            let count = reset.mutable_globals.len() as i32;
            section.global(ty, &ConstExpr::i32_const(count));
        }
    }

    fn write_globals(&mut self, module: &mut wasm_encoder::Module) {
        let mut section = GlobalSection::new();
        self.append_globals(&mut section);
        module.section(&section);
        self.globals_written = true;
    }

    fn write_exports(&mut self, module: &mut wasm_encoder::Module, mut section: ExportSection) {
        self.append_exports(&mut section);
        module.section(&section);
        self.exports_written = true;
    }

    fn append_exports(&self, section: &mut ExportSection) {
        for (global, index) in self.globals.each() {
            section.export(global.export_name(), ExportKind::Global, index);
        }
        if let Some(start) = self.start {
            section.export(START_EXPORT, ExportKind::Func, start);
        }
        if let Some(memory) = self.interrupt_memory {
            section.export(interrupt::EXPORT, ExportKind::Memory, memory);
        }
        if let Some(reset) = &self.reset {
            for (k, &global) in reset.mutable_globals.iter().enumerate() {
                section.export(&reset::global_export(k as u32), ExportKind::Global, global);
            }
            if reset.memory {
                section.export(reset::MEMORY_EXPORT, ExportKind::Memory, 0);
            }
            section.export(reset::MARKER_EXPORT, ExportKind::Global, reset.marker);
        }
    }

    /// Rewrites one instruction with every pass around it.
    fn instruction(
        &mut self,
        f: &mut Function,
        op: Operator<'_>,
        due: Due,
        canonical: bool,
        scratch: Scratch,
    ) -> Result<(), Error<Infallible>> {
        let passes = self.passes;
        let g = self.globals;
        let fuel = g.fuel.map(|global| Fuel {
            global,
            local: scratch.fuel,
        });
        let Due {
            charge,
            refund,
            tested,
            leaving,
        } = due;
        // 0. an `if` whose arm was paid with the code around it pays it back when skipped
        if let (Some(fuel), true) = (fuel, refund > 0) {
            f.instruction(&Instruction::Else);
            fuel::refund(f, fuel, refund);
        }
        // 1. the block's charge
        if let (Some(fuel), true) = (fuel, charge > 0) {
            fuel::charge(f, fuel, charge, tested);
        }
        // 2. length-based charges
        if let (Some(fuel), Some((costs, _))) = (fuel, &passes.fuel) {
            if fuel::charged_by_length(&op) && costs.bulk_bytes_per_unit > 0 {
                let rate = Rate::PerUnit(costs.bulk_bytes_per_unit);
                fuel::charge_length(f, fuel, scratch.i32, rate);
            }
            if matches!(op, Operator::MemoryGrow { .. }) && costs.memory_grow_page > 0 {
                let rate = Rate::Times(costs.memory_grow_page);
                fuel::charge_length(f, fuel, scratch.i32, rate);
            }
        }
        // 2b. a way back to the host: the fuel tested once more
        if leaving {
            self.test_on_leaving(f, scratch);
        }
        // 3. limits (a guarded `memory.grow` replaces the instruction)
        match (&op, g.limit) {
            (Operator::MemoryGrow { mem }, Some(limit)) => {
                if let Some(max_pages) = passes.memory_limit_pages {
                    limits::memory_grow(f, *mem, max_pages, limit, scratch.i32);
                    return Ok(());
                }
            }
            (Operator::TableGrow { table }, Some(limit)) => {
                if let Some(max) = passes.max_table_elements {
                    limits::table_grow_check(f, *table, max, limit, scratch.i32);
                }
            }
            _ => {}
        }
        // 3b. a call to the host runs only with fuel left: an arm charged without the test
        // may have spent the last of it
        if let (
            Some(fuel),
            Operator::Call { function_index } | Operator::ReturnCall { function_index },
        ) = (fuel, &op)
            && *function_index < self.imported_functions
        {
            fuel::test(f, fuel);
        }
        // 4.-6. the call depth around the instruction itself
        let frame = match (&op, &self.frames) {
            (Operator::Call { function_index }, Some(frames)) => Some(frames.call(*function_index)),
            (Operator::CallIndirect { type_index, .. }, Some(frames)) => {
                Some(frames.call_indirect(*type_index))
            }
            _ => None,
        };
        let is_call = matches!(op, Operator::Call { .. } | Operator::CallIndirect { .. });
        let depth_global = g.depth.filter(|_| is_call);
        // What the callee does, when the call names it: a host import or a `call_indirect`
        // may do anything.
        let callee = match &op {
            Operator::Call { function_index } => function_index
                .checked_sub(self.imported_functions)
                .map(|defined| defined as usize),
            _ => None,
        };
        // The depth is raised before the call only for a callee that may read it, and
        // passed to one that takes it.
        let added = callee.and_then(|c| self.added_params.get(c)).copied();
        let added = added.unwrap_or_default();
        let depth_callee = match callee {
            _ if added.depth => depth::Callee::Passed,
            Some(c) if self.reads_depth.get(c) == Some(&false) => depth::Callee::Blind,
            _ => depth::Callee::Global,
        };
        let callee_may_spend = callee.is_none_or(|c| self.may_spend.get(c) != Some(&false));
        if let (Some(depth_global), Some(limit), Some(frame)) =
            (depth_global, passes.stack_limit, frame)
        {
            let depth = depth::Call {
                global: depth_global,
                base: scratch.depth,
                frame,
                callee: depth_callee,
            };
            depth::enter(f, depth, limit.value());
        }
        // The fuel, to a callee that takes it: the local, which equals the global, in a
        // function that keeps it there.
        if let (Some(fuel), true) = (fuel, added.fuel) {
            match self.fuel_read {
                true => f.instruction(&Instruction::LocalGet(fuel.local)),
                false => f.instruction(&Instruction::GlobalGet(fuel.global)),
            };
        }
        // The deterministic profile's relaxed SIMD: the spec's deterministic semantics,
        // canonicalized.
        if let (Some(v128), true) = (
            scratch.v128,
            passes.canonicalize_nans && relaxed::is_relaxed(&op),
        ) {
            let vectors = [v128, v128 + 1, v128 + 2, v128 + 3];
            if let Some(shape) = relaxed::deterministic(&op, f, vectors) {
                canonicalize::check(shape, f, scratch.checks());
            }
            return Ok(());
        }
        f.instruction(&self.instruction_of(op.clone())?);
        if let (Some(depth_global), Some(_), true) = (
            depth_global,
            frame,
            self.restores_depth && depth_callee != depth::Callee::Blind,
        ) {
            depth::leave(f, depth_global, scratch.depth);
        }
        // 6. the callee spent from the global
        if let (Some(fuel), true) = (fuel, is_call && self.fuel_read && callee_may_spend) {
            fuel::reload(f, fuel);
        }
        // 7. the interruption check at a loop head
        let unchecked = std::mem::take(&mut self.unchecked_loop);
        if let (Some(memory), Operator::Loop { .. }, false) =
            (self.interrupt_memory, &op, unchecked)
        {
            interrupt::check(f, memory, self.interrupt_sites);
            self.interrupt_sites = self.interrupt_sites.wrapping_add(1);
        }
        // 8. canonical NaNs
        if canonical {
            canonicalize::after(&op, f, scratch.checks());
        }
        Ok(())
    }

    /// The counted loop starting at `body.ops[at]` worth two versions: one that saves a
    /// per-iteration charge or interruption check.
    fn counted_loop(&self, body: Body<'_, '_>, at: usize) -> Option<counted::Counted> {
        let interrupt = self.interrupt_memory.is_some();
        let fuel = self.globals.fuel.is_some();
        if !interrupt && !fuel {
            return None;
        }
        let counted = *body.counted.get(&at)?;
        // A loop that may leave early where no refund fits keeps its charge: only its check
        // can go.
        if counted.early_exits && !counted.refundable && !interrupt {
            return None;
        }
        // The loop's whole charge, trips (at most 2^32) times this, must fit an i64.
        let charge = body.charges[at + 1];
        (charge < 1 << 31 && (interrupt || charge > 0)).then_some(counted)
    }

    /// Emits a counted loop twice: a version without its per-iteration charge and
    /// interruption check, taken when [`counted::trips`] proves how many iterations it will
    /// run and all of them are paid for at once; and the loop as it was, taken otherwise. A
    /// loop that may leave early (`early_exits`) is only bounded by that count: its copy
    /// counts the iterations it has not begun, and each way out but the last iteration's pays
    /// them back ([`Refunds`]); where a refund does not fit (`refundable`), the copy pays each
    /// iteration as it runs, and leaves out the check alone.
    ///
    /// With interruption checks, a loop of more iterations than run in about a million
    /// instructions runs in chunks of that many, checked between chunks ([`Self::chunked`]);
    /// where its shape does not allow that, it runs as it was.
    fn versioned_loop(
        &mut self,
        f: &mut Function,
        body: Body<'_, '_>,
        at: usize,
        counted: counted::Counted,
        scratch: Scratch,
    ) -> Result<(), Error<Infallible>> {
        use Instruction::{Block, Br, BrIf, End, GlobalSet, I64Const, I64GtU, I64LtS, I64Mul};
        use Instruction::{I64Sub, LocalGet, LocalSet, LocalTee, Loop};
        let fuel = self.globals.fuel.map(|global| Fuel {
            global,
            local: scratch.fuel,
        });
        // The region the loop is in may start at the loop: its charge comes first, once.
        if let (Some(fuel), true) = (fuel, body.charges[at] > 0) {
            fuel::charge(f, fuel, body.charges[at], body.tested[at]);
        }
        let empty = wasm_encoder::BlockType::Empty;
        f.instruction(&Block(empty)).instruction(&Block(empty));
        // Whether any branch leads to the loop as it was, at the inner block's end.
        let mut falls_back = counted::trips(f, &counted, scratch.trips);
        let per_chunk = per_chunk(&counted, at, body.shares.get(&at).copied().unwrap_or(1));
        let chunking = counted.chunking.filter(|_| self.interrupt_memory.is_some());
        if let (None, true) = (chunking, self.interrupt_memory.is_some()) {
            f.instruction(&LocalGet(scratch.trips))
                .instruction(&I64Const(per_chunk))
                .instruction(&I64GtU)
                .instruction(&BrIf(0));
            falls_back = true;
        }
        let per_iteration = body.charges[at + 1];
        let paid_in_advance = per_iteration > 0 && (!counted.early_exits || counted.refundable);
        let refunds = (paid_in_advance && counted.early_exits).then_some(Refunds {
            per_iteration,
            way_out: counted.way_out,
        });
        if let (Some(fuel), true) = (fuel, paid_in_advance) {
            // At most 2^32 iterations times a cost under 2^31 ([`Self::counted_loop`]). The
            // fuel left goes through `fuel_left`: chunks count `trips` down.
            f.instruction(&LocalGet(fuel.local))
                .instruction(&LocalGet(scratch.trips))
                .instruction(&I64Const(per_iteration as i64))
                .instruction(&I64Mul)
                .instruction(&I64Sub)
                .instruction(&LocalTee(scratch.fuel_left))
                .instruction(&I64Const(0))
                .instruction(&I64LtS)
                .instruction(&BrIf(0))
                .instruction(&LocalGet(scratch.fuel_left))
                .instruction(&LocalTee(fuel.local))
                .instruction(&GlobalSet(fuel.global));
            falls_back = true;
            if refunds.is_some() {
                // Every iteration paid for and none begun.
                f.instruction(&LocalGet(scratch.trips))
                    .instruction(&LocalSet(scratch.fuel_left));
            }
        }
        let charged = counted.early_exits && !paid_in_advance;
        let copy = at + 1..=counted.end;
        match chunking {
            None => {
                f.instruction(&Loop(empty));
                let copy = LoopCopy {
                    range: copy,
                    deeper: 2,
                    charged,
                    refunds,
                    chunk: None,
                };
                self.loop_copy(f, body, copy, scratch)?;
                f.instruction(&Br(1));
            }
            Some(chunking) => {
                // One chunk's worth: the copy straight through.
                f.instruction(&Block(empty))
                    .instruction(&LocalGet(scratch.trips))
                    .instruction(&I64Const(per_chunk))
                    .instruction(&I64GtU)
                    .instruction(&BrIf(0))
                    .instruction(&Loop(empty));
                let plain = LoopCopy {
                    range: copy.clone(),
                    deeper: 3,
                    charged,
                    refunds,
                    chunk: None,
                };
                self.loop_copy(f, body, plain, scratch)?;
                f.instruction(&Br(2)).instruction(&End);
                let chunks = (chunking, per_chunk);
                let copy = LoopCopy {
                    range: copy,
                    deeper: 4,
                    charged,
                    refunds,
                    chunk: None,
                };
                self.chunked(f, body, &counted, chunks, copy, scratch)?;
            }
        }
        f.instruction(&End);
        if falls_back {
            // The loop as it was, charges and check included.
            self.instruction(f, body.ops[at].clone(), Due::default(), false, scratch)?;
            let original = LoopCopy {
                range: at + 1..=counted.end,
                deeper: 1,
                charged: true,
                refunds: None,
                chunk: None,
            };
            self.loop_copy(f, body, original, scratch)?;
        } else {
            // Nothing leads there (a count always proved, taken whole or in chunks, and no
            // budget to check): left out, a smaller module; a trap says so if it ever is not.
            f.instruction(&Instruction::Unreachable);
        }
        f.instruction(&End);
        Ok(())
    }

    /// Emits a counted loop's copy that runs `per_chunk` iterations at a time (the last chunk
    /// what is left, counted down in `trips`), with an interruption check between chunks:
    /// the copy compares its counter with the chunk's bound instead of its own, and its way
    /// out when the count is done leads to the next chunk, or out of the loop after the last.
    fn chunked(
        &mut self,
        f: &mut Function,
        body: Body<'_, '_>,
        counted: &counted::Counted,
        (chunking, per_chunk): (counted::Chunking, i64),
        copy: LoopCopy,
        scratch: Scratch,
    ) -> Result<(), Error<Infallible>> {
        use Instruction::{Block, Br, Else, End, I32Add, I32Const, I32Mul, I32Sub, I64Const};
        use Instruction::{I64Eqz, I64GtU, I64Sub, If, LocalGet, LocalSet, Loop};
        use counted::{Exit, Operand};
        let empty = wasm_encoder::BlockType::Empty;
        f.instruction(&Loop(empty)).instruction(&Block(empty));
        // This chunk's bound: the counter after `per_chunk` steps (where the comparison first
        // fails: one short of it for `<=`, one past it for `>=`), or the loop's own.
        f.instruction(&LocalGet(scratch.trips))
            .instruction(&I64Const(per_chunk))
            .instruction(&I64GtU)
            .instruction(&If(empty))
            .instruction(&LocalGet(counted.counter));
        // `per_chunk` steps stay within the loop's count, proved free of wrap-around.
        match counted.step {
            Operand::Const(step) => f.instruction(&I32Const(step.wrapping_mul(per_chunk as i32))),
            Operand::Local(step) => f
                .instruction(&LocalGet(step))
                .instruction(&I32Const(per_chunk as i32))
                .instruction(&I32Mul),
        };
        f.instruction(&I32Add);
        match counted.exit {
            Exit::Below {
                inclusive: true, ..
            } => f.instruction(&I32Const(1)).instruction(&I32Sub),
            Exit::Above {
                inclusive: true, ..
            } => f.instruction(&I32Const(1)).instruction(&I32Add),
            _ => f,
        };
        f.instruction(&LocalSet(scratch.chunk_bound))
            .instruction(&LocalGet(scratch.trips))
            .instruction(&I64Const(per_chunk))
            .instruction(&I64Sub)
            .instruction(&LocalSet(scratch.trips))
            .instruction(&Else)
            .instruction(&match counted.bound {
                Operand::Const(c) => I32Const(c),
                Operand::Local(local) => LocalGet(local),
            })
            .instruction(&LocalSet(scratch.chunk_bound))
            .instruction(&I64Const(0))
            .instruction(&LocalSet(scratch.trips))
            .instruction(&End)
            .instruction(&Loop(empty));
        let copy = LoopCopy {
            deeper: 4,
            chunk: Some((chunking, scratch.chunk_bound)),
            ..copy
        };
        self.loop_copy(f, body, copy, scratch)?;
        // The chunk is done: the loop too when nothing is left, the next chunk otherwise.
        f.instruction(&End)
            .instruction(&LocalGet(scratch.trips))
            .instruction(&I64Eqz)
            .instruction(&If(empty));
        match chunking.exit {
            // Out of the loop, as from the end it fell out of.
            None => f.instruction(&Br(3)),
            // Where its way out led: past the if, the chunks' loop and the two blocks.
            Some((at, beyond)) => {
                if body.leaving[at] {
                    self.test_on_leaving(f, scratch);
                }
                f.instruction(&Br(4 + beyond))
            }
        };
        f.instruction(&End);
        if let Some(memory) = self.interrupt_memory {
            interrupt::check(f, memory, self.interrupt_sites);
            self.interrupt_sites = self.interrupt_sites.wrapping_add(1);
        }
        f.instruction(&Br(0)).instruction(&End);
        Ok(())
    }

    /// Emits a copy of a loop's body ([`LoopCopy`]).
    fn loop_copy(
        &mut self,
        f: &mut Function,
        body: Body<'_, '_>,
        copy: LoopCopy,
        scratch: Scratch,
    ) -> Result<(), Error<Infallible>> {
        use Instruction::{End, GlobalSet, I64Add, I64Const, I64Mul, I64Sub, If};
        use Instruction::{LocalGet, LocalSet, LocalTee};
        let LoopCopy {
            range,
            deeper,
            charged,
            refunds,
            chunk,
        } = copy;
        let first = *range.start();
        let fuel = self.globals.fuel.map(|global| Fuel {
            global,
            local: scratch.fuel,
        });
        let not_begun = scratch.fuel_left;
        // Adds the iterations not begun back to the fuel, the stack as it was.
        let pay_back = |f: &mut Function, per_iteration: u64, fuel: Fuel| {
            f.instruction(&LocalGet(fuel.local))
                .instruction(&LocalGet(not_begun))
                .instruction(&I64Const(per_iteration as i64))
                .instruction(&I64Mul)
                .instruction(&I64Add)
                .instruction(&LocalTee(fuel.local))
                .instruction(&GlobalSet(fuel.global));
        };
        // Constructs open inside the loop.
        let mut depth = 0u32;
        for k in range {
            let charge = if k == first && !charged {
                0
            } else {
                body.charges[k]
            };
            if let (Some(_), true) = (refunds, k == first) {
                // One more iteration begun.
                f.instruction(&LocalGet(not_begun))
                    .instruction(&I64Const(1))
                    .instruction(&I64Sub)
                    .instruction(&LocalSet(not_begun));
            }
            // Run in chunks: the chunk's bound (the local `bound`) read instead of the loop's,
            // and the way out when the count is done leading to the next chunk (a block
            // right around the copy).
            if let Some((chunking, bound)) = chunk {
                let read_bound = Operator::LocalGet { local_index: bound };
                let edit = match (chunking.bound_at, chunking.leaves) {
                    (Some(at), _) if at == k => Some((vec![], read_bound)),
                    // A count down to 0 tests the counter itself.
                    (None, true) if k + 1 == chunking.decides => {
                        Some((vec![read_bound], Operator::I32Eq))
                    }
                    (None, false) if k == chunking.decides => {
                        Some((vec![read_bound, Operator::I32Ne], body.ops[k].clone()))
                    }
                    _ => None,
                };
                let exit = chunking.exit.is_some_and(|(at, _)| at == k);
                let edit = match (edit, &body.ops[k]) {
                    (None, Operator::Br { .. }) if exit => Some((
                        vec![],
                        Operator::Br {
                            relative_depth: depth + 1,
                        },
                    )),
                    (None, Operator::BrIf { .. }) if exit => Some((
                        vec![],
                        Operator::BrIf {
                            relative_depth: depth + 1,
                        },
                    )),
                    (edit, _) => edit,
                };
                if let Some((before, op)) = edit {
                    let mut charge = charge;
                    for op in before.into_iter().chain([op]) {
                        let due = Due {
                            charge: std::mem::take(&mut charge),
                            refund: 0,
                            tested: body.tested[k],
                            // None of them leaves the function: a way out edited to end
                            // the chunk is tested where the chunk's end leads on
                            // ([`Rewriter::chunked`]).
                            leaving: false,
                        };
                        self.instruction(f, op, due, false, scratch)?;
                    }
                    continue;
                }
            }
            // A way out of a loop paid in advance pays back what it leaves unrun first.
            if let (Some(refunds), Some(fuel)) = (refunds.filter(|r| r.way_out != Some(k)), fuel) {
                let per_iteration = refunds.per_iteration;
                match body.ops[k] {
                    Operator::Br { relative_depth } if relative_depth > depth => {
                        pay_back(f, per_iteration, fuel)
                    }
                    Operator::Return => pay_back(f, per_iteration, fuel),
                    Operator::Call { .. } | Operator::CallIndirect { .. }
                        if matches!(body.ops.get(k + 1), Some(Operator::Unreachable)) =>
                    {
                        pay_back(f, per_iteration, fuel)
                    }
                    Operator::BrIf { relative_depth } if relative_depth > depth => {
                        if charge > 0 {
                            fuel::charge(f, fuel, charge, body.tested[k]);
                        }
                        f.instruction(&If(wasm_encoder::BlockType::Empty));
                        pay_back(f, per_iteration, fuel);
                        if body.leaving[k] {
                            self.test_on_leaving(f, scratch);
                        }
                        f.instruction(&Instruction::Br(relative_depth + deeper + 1))
                            .instruction(&End);
                        continue;
                    }
                    _ => {}
                }
            }
            let op = match body.ops[k] {
                Operator::Br { relative_depth } if relative_depth > depth => Operator::Br {
                    relative_depth: relative_depth + deeper,
                },
                Operator::BrIf { relative_depth } if relative_depth > depth => Operator::BrIf {
                    relative_depth: relative_depth + deeper,
                },
                Operator::Block { .. } | Operator::If { .. } => {
                    depth += 1;
                    body.ops[k].clone()
                }
                Operator::End => {
                    depth = depth.saturating_sub(1);
                    body.ops[k].clone()
                }
                ref op => op.clone(),
            };
            let due = Due {
                charge,
                refund: body.refunds[k],
                tested: body.tested[k],
                leaving: body.leaving[k],
            };
            self.instruction(f, op, due, body.canonical[k], scratch)?;
        }
        Ok(())
    }

    /// The parameter count of the defined function `defined` as the module declared it,
    /// and what it takes after them.
    fn params_of(&self, defined: usize) -> (u32, AddedParams) {
        let ty = self.function_types.get(defined);
        let params = ty
            .and_then(|ty| self.types.get(*ty as usize))
            .map_or(0, |ty| ty.params().len() as u32);
        let added = self.added_params.get(defined).copied();
        (params, added.unwrap_or_default())
    }

    /// Emits the fuel's test on a way out of a function that may return to the host.
    fn test_on_leaving(&self, f: &mut Function, scratch: Scratch) {
        if let Some(global) = self.globals.fuel {
            let fuel = Fuel {
                global,
                local: scratch.fuel,
            };
            fuel::test_on_leaving(f, fuel, self.fuel_read);
        }
    }

    fn instruction_of<'a>(
        &mut self,
        op: Operator<'a>,
    ) -> Result<Instruction<'a>, Error<Infallible>> {
        Reencode::instruction(self, op)
    }
}

/// A copy of a loop's body that [`Rewriter::loop_copy`] emits.
struct LoopCopy {
    /// The body's instructions, its `end` last.
    range: std::ops::RangeInclusive<usize>,
    /// How many labels deeper than the loop the copy sits: a branch out of the loop reaches
    /// that much further.
    deeper: u32,
    /// Whether the first instruction keeps its charge, the iteration's.
    charged: bool,
    /// Paid in advance, a loop that may leave early: what each way out pays back.
    refunds: Option<Refunds>,
    /// Run in chunks: where the copy is edited, and the local holding the chunk's bound.
    chunk: Option<(counted::Chunking, u32)>,
}

/// What a copy of a counted loop that may leave early, paid for in advance, pays back: it
/// counts down the iterations it has not begun (in [`Scratch::fuel_left`]), and a way out
/// of it (a `br`, `br_if` or `return`, and a panic handler's call) adds that many times the
/// iteration's charge back to the fuel first. So a guest pays exactly what the loop charged
/// per iteration pays (a trap by the engine inside it aside, which leaves the rest paid),
/// for a decrement per iteration instead of a charge.
#[derive(Clone, Copy)]
struct Refunds {
    per_iteration: u64,
    /// The last iteration's way out (`counted::Counted::way_out`), which has nothing to pay
    /// back.
    way_out: Option<usize>,
}

/// How many iterations of the counted loop starting at `at` run between two interruption
/// checks: about a million instructions' worth, well under a millisecond compiled and a few
/// on an interpreter; or a `share` of that, inside a loop that goes without its check
/// ([`Body::shares`]).
fn per_chunk(counted: &counted::Counted, at: usize, share: i64) -> i64 {
    let ops_per_iteration = (counted.end - at) as i64;
    ((1 << 20) / ops_per_iteration / share).max(1)
}

/// The most iterations of a loop that goes without its check ([`unchecked_loops`]): its
/// inner counted loops run this many times fewer iterations between checks.
const UNCHECKED_TRIPS: u64 = 64;

/// The loops of a body that go without their interruption check, by where they start, and
/// the shares of the loops inside them ([`Body::shares`]).
///
/// Such a loop runs a constant number of iterations around loops that hold none
/// ([`counted::constant_trips`]): its own code runs a bounded number of times, and each run
/// of a loop inside it either checks at its head or is a counted loop, which runs unchecked
/// only a share of what it would alone: one over the outer loop's iterations times its inner
/// loops, so that all of them together run no longer between checks than one counted loop
/// does. n-body's loop over its five bodies checked on each of them, which with the count's
/// proof at its inner loop's entry cost 8 % of the instructions.
fn unchecked_loops(
    ops: &[Operator<'_>],
    shape: &counted::Shape,
) -> (BTreeSet<usize>, BTreeMap<usize, i64>) {
    let (mut unchecked, mut shares) = (BTreeSet::new(), BTreeMap::new());
    for at in 0..ops.len() {
        let Some(trips) = counted::constant_trips(ops, shape, at) else {
            continue;
        };
        let end = shape.end(at);
        let inner: Vec<usize> = (at + 1..end)
            .filter(|&k| matches!(ops[k], Operator::Loop { .. }))
            .collect();
        // Its own code runs `trips` times unchecked too.
        let own = trips.saturating_mul((end - at) as u64);
        if trips > UNCHECKED_TRIPS || inner.is_empty() || own > 1 << 20 {
            continue;
        }
        unchecked.insert(at);
        let share = (trips * inner.len() as u64) as i64;
        shares.extend(inner.into_iter().map(|k| (k, share)));
    }
    (unchecked, shares)
}

/// A function body being rewritten: its instructions, and what each is due.
#[derive(Clone, Copy)]
struct Body<'a, 'b> {
    ops: &'a [Operator<'b>],
    /// Its counted loops ([`counted::find`]), by where they start: found only when the
    /// passes on save anything in them (fuel, interruption).
    counted: &'a BTreeMap<usize, counted::Counted>,
    /// The fuel to charge before each instruction ([`fuel::block_charges`]).
    charges: &'a [u64],
    /// The fuel to pay back where each instruction is skipped ([`fuel::Charges`]).
    refunds: &'a [u64],
    /// Whether the charge before each instruction tests the fuel ([`fuel::Charges`]).
    tested: &'a [bool],
    /// Whether each instruction leaves the function ([`crate::ops::ways_out`]).
    leaving: &'a [bool],
    /// Whether each instruction's result is canonicalized.
    canonical: &'a [bool],
    /// For each loop inside one that goes without its interruption check
    /// ([`unchecked_loops`]), what share of a counted loop's run between checks
    /// ([`per_chunk`]) one of its runs may take.
    shares: &'a BTreeMap<usize, i64>,
}

/// What the fuel is due at one instruction.
#[derive(Clone, Copy, Default)]
struct Due {
    /// Charged before it: the region it starts.
    charge: u64,
    /// Paid back by an `else` arm added before it (an `end`): an arm paid in advance.
    refund: u64,
    /// Whether the charge tests the fuel and stops the guest when it is out.
    tested: bool,
    /// Whether the instruction leaves the function ([`crate::ops::ways_out`]).
    leaving: bool,
}

/// The locals every rewritten body gets: scratch space, and the function's copy of the fuel.
#[derive(Clone, Copy)]
struct Scratch {
    i32: u32,
    fuel: u32,
    f32: u32,
    f64: u32,
    /// The function's call depth, in a function that calls under a stack limit: its added
    /// parameter ([`depth::passed_as_parameter`]) or a local copy of the global
    /// ([`depth::save`]); in one that calls nothing, never read.
    depth: u32,
    /// An `i64`: a counted loop's number of iterations ([`counted::trips`]). This and the
    /// next two only in functions with a counted loop.
    trips: u32,
    /// An `i64`: the fuel left once a counted loop is paid for in advance; then, in a loop
    /// that may leave early, the iterations not begun ([`Refunds`]).
    fuel_left: u32,
    /// An `i32`: the bound this chunk of a counted loop's iterations runs to.
    chunk_bound: u32,
    /// The first of six v128 locals, in functions whose vector results the deterministic
    /// profile checks or whose relaxed operations it rewrites: four scratch vectors, then
    /// the canonical NaNs of f32x4 and f64x2 lanes.
    v128: Option<u32>,
}

impl Scratch {
    fn checks(self) -> canonicalize::Scratch {
        canonicalize::Scratch {
            f32: self.f32,
            f64: self.f64,
            v128: self.v128,
            canonical: self.v128.map(|v| canonicalize::VectorCanonical {
                f32x4: v + 4,
                f64x2: v + 5,
            }),
        }
    }
}

impl Reencode for Rewriter<'_> {
    type Error = Infallible;

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_type_section(self, types, section)?;
        // In the order of their indices.
        let mut passed: Vec<_> = self.passed_types.iter().map(|(&t, &p)| (p, t)).collect();
        passed.sort_unstable();
        for (_, (ty, added)) in passed {
            let Some(ty) = self.types.get(ty as usize).cloned() else {
                continue;
            };
            let params = ty.params().iter().map(|&p| self.val_type(p));
            let depth = added.depth.then_some(Ok(ValType::I32));
            let fuel = added.fuel.then_some(Ok(ValType::I64));
            let params = params
                .chain(depth)
                .chain(fuel)
                .collect::<Result<Vec<_>, _>>()?;
            let results = ty.results().iter().map(|&r| self.val_type(r));
            let results = results.collect::<Result<Vec<_>, _>>()?;
            types.ty().function(params, results);
        }
        Ok(())
    }

    fn parse_custom_name_subsection(
        &mut self,
        names: &mut wasm_encoder::NameSection,
        section: wasmparser::Name<'_>,
    ) -> Result<(), Error<Infallible>> {
        let wasmparser::Name::Local(functions) = section else {
            return utils::parse_custom_name_subsection(self, names, section);
        };
        // The locals of a function that takes added parameters moved up past them.
        let mut out = wasm_encoder::IndirectNameMap::new();
        for function in functions {
            let function = function?;
            let (params, added) = match function.index.checked_sub(self.imported_functions) {
                Some(defined) => self.params_of(defined as usize),
                None => (0, AddedParams::default()),
            };
            let mut locals = wasm_encoder::NameMap::new();
            for local in function.names {
                let local = local?;
                let index = match local.index >= params {
                    true => local.index + added.count(),
                    false => local.index,
                };
                locals.append(index, local.name);
            }
            out.append(function.index, &locals);
        }
        names.locals(&out);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        for (f, ty) in section.into_iter().enumerate() {
            let ty = ty?;
            let added = self.added_params.get(f).copied().unwrap_or_default();
            let ty = self.passed_types.get(&(ty, added)).copied().unwrap_or(ty);
            functions.function(ty);
        }
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_memory_section(self, memories, section)?;
        self.append_memories(memories);
        self.memories_written = true;
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_global_section(self, globals, section)?;
        self.append_globals(globals);
        self.globals_written = true;
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_export_section(self, exports, section)?;
        self.append_exports(exports);
        self.exports_written = true;
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), Error<Infallible>> {
        // Insert the sections the module lacks where they belong.
        let past = |id: SectionId| before.is_none_or(|b| position(b) > position(id));
        if !self.memories_written && past(SectionId::Memory) {
            self.write_memories(module);
        }
        if !self.globals_written && past(SectionId::Global) {
            self.write_globals(module);
        }
        if !self.exports_written && past(SectionId::Export) {
            self.write_exports(module, ExportSection::new());
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error<Infallible>> {
        let (params, added) = self.params_of(self.next_function);
        let entry_check = self.checked_at_entry.get(self.next_function) == Some(&true);
        let entry_paid = matches!(self.paid_by_callers.get(self.next_function), Some(Some(_)));
        self.restores_depth = self.host_reachable.get(self.next_function) != Some(&false);
        self.tests_on_leaving = self.returning_to_host.get(self.next_function) == Some(&true);
        self.next_function += 1;
        self.interrupt_sites = 0;
        let mut locals = Vec::new();
        let mut declared = 0u32;
        for pair in func.get_locals_reader()? {
            let (count, ty) = pair?;
            declared = declared.saturating_add(count);
            locals.push((count, self.val_type(ty)?));
        }
        let mut ops = Vec::new();
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        // The added parameters come after the function's own: its locals move up past them.
        if added.count() > 0 {
            for op in &mut ops {
                match op {
                    Operator::LocalGet { local_index }
                    | Operator::LocalSet { local_index }
                    | Operator::LocalTee { local_index }
                        if *local_index >= params =>
                    {
                        *local_index += added.count()
                    }
                    _ => {}
                }
            }
        }
        // Only a function with such operators gets v128 locals: a module without SIMD
        // stays valid on an engine built without it.
        let vector_scratch = self.passes.canonicalize_nans
            && ops.iter().any(|op| {
                relaxed::is_relaxed(op)
                    || canonicalize::nan_producing(op).is_some_and(canonicalize::Shape::is_vector)
            });
        // Only the passes counted loops save anything for look for them.
        let shape = (self.interrupt_memory.is_some() || self.globals.fuel.is_some())
            .then(|| counted::Shape::of(&ops));
        let counted: BTreeMap<usize, counted::Counted> = match &shape {
            Some(shape) => (0..ops.len())
                .filter_map(|at| Some((at, counted::find(&ops, shape, at)?)))
                .collect(),
            None => Default::default(),
        };
        let (mut unchecked, shares) = match (&shape, self.interrupt_memory) {
            (Some(shape), Some(_)) => unchecked_loops(&ops, shape),
            _ => Default::default(),
        };
        // Loops whose every round calls a function that checks at its entry.
        if let (Some(shape), Some(_)) = (&shape, self.interrupt_memory) {
            let checked = |index: u32| {
                index
                    .checked_sub(self.imported_functions)
                    .is_some_and(|f| self.checked_at_entry.get(f as usize) == Some(&true))
            };
            unchecked.extend((0..ops.len()).filter(|&at| {
                matches!(ops[at], Operator::Loop { .. })
                    && interrupt::covered_by_a_call(&ops, at, shape.end(at), checked)
            }));
        }
        // Only a function with a counted loop gets the locals its versions use: an
        // interpreter zeroes every local at each call (wasmi's `fib` kernel hosted ran 3 %
        // more instructions with two locals more).
        let counted_loops = !counted.is_empty();
        let calls = ops
            .iter()
            .any(|op| matches!(op, Operator::Call { .. } | Operator::CallIndirect { .. }));
        let saves_depth = self.globals.depth.is_some() && self.frames.is_some() && calls;
        let mut next = params + added.count() + declared;
        let mut local = |ty: ValType| {
            locals.push((1, ty));
            next += 1;
            next - 1
        };
        let i32_scratch = local(ValType::I32);
        // The fuel: the parameter, or a local.
        let fuel = match added.fuel {
            true => params + u32::from(added.depth),
            false => local(ValType::I64),
        };
        let (f32_scratch, f64_scratch) = (local(ValType::F32), local(ValType::F64));
        // The depth a function that calls runs at: its parameter, or a local it copies the
        // global into. A function that calls nothing never reads it.
        let depth = match (added.depth, saves_depth) {
            (true, _) => params,
            (false, true) => local(ValType::I32),
            (false, false) => u32::MAX,
        };
        let mut scratch = Scratch {
            i32: i32_scratch,
            fuel,
            f32: f32_scratch,
            f64: f64_scratch,
            depth,
            trips: next,
            fuel_left: next + 1,
            chunk_bound: next + 2,
            v128: None,
        };
        if counted_loops {
            locals.extend([(2, ValType::I64), (1, ValType::I32)]);
            next += 3;
        }
        if vector_scratch {
            scratch.v128 = Some(next);
            locals.push((6, ValType::V128));
        }
        let mut body_charges = match &self.passes.fuel {
            Some((costs, _)) => {
                let paid = &self.paid_by_callers;
                let tested = &self.tested_callees;
                fuel::charges(&ops, costs, self.imported_functions, paid, tested)
            }
            None => fuel::Charges {
                charges: vec![0; ops.len()],
                refunds: vec![0; ops.len()],
                tested: vec![false; ops.len()],
            },
        };
        if let (true, Some(entry)) = (entry_paid, body_charges.charges.first_mut()) {
            *entry = 0;
        }
        // Beyond the entry a refund too: an entry its callers pay may hold a state check's
        // arm. And a call to the host, which tests the fuel first.
        let imported = self.imported_functions;
        self.fuel_read = body_charges.charges.first().is_some_and(|c| *c > 0)
            || body_charges.beyond_entry(&ops)
            || ops.iter().any(|op| match op {
                Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                    *function_index < imported
                }
                _ => false,
            });
        let fuel::Charges {
            charges,
            refunds,
            tested,
        } = body_charges;
        let mut f = Function::new(locals);
        if let Some(canonical) = scratch.checks().canonical {
            canonicalize::set_canonical(&mut f, canonical);
        }
        if let (Some(global), true) = (self.globals.fuel, self.fuel_read && !added.fuel) {
            let local = scratch.fuel;
            fuel::reload(&mut f, Fuel { global, local });
        }
        if let (Some(memory), true) = (self.interrupt_memory, entry_check) {
            interrupt::check(&mut f, memory, 0);
            self.interrupt_sites = 1;
        }
        if let (Some(depth), true) = (self.globals.depth, saves_depth && !added.depth) {
            depth::save(&mut f, depth, scratch.depth);
        }
        let blind = if self.passes.canonicalize_nans {
            canonicalize::BlindLocals::of(&ops)
        } else {
            canonicalize::BlindLocals::default()
        };
        let leaving = if self.tests_on_leaving {
            crate::ops::ways_out(&ops)
        } else {
            vec![false; ops.len()]
        };
        let canonical: Vec<bool> = (0..ops.len())
            .map(|i| {
                self.passes.canonicalize_nans
                    && canonicalize::needed(&ops[i], &ops[i + 1..], &blind)
            })
            .collect();
        let mut at = 0;
        while at < ops.len() {
            let body = Body {
                ops: &ops,
                counted: &counted,
                charges: &charges,
                refunds: &refunds,
                tested: &tested,
                leaving: &leaving,
                canonical: &canonical,
                shares: &shares,
            };
            if let Some(counted) = self.counted_loop(body, at) {
                self.versioned_loop(&mut f, body, at, counted, scratch)?;
                at = counted.end + 1;
            } else {
                let op = ops[at].clone();
                self.unchecked_loop = unchecked.contains(&at);
                let due = Due {
                    charge: charges[at],
                    refund: refunds[at],
                    tested: tested[at],
                    leaving: leaving[at],
                };
                self.instruction(&mut f, op, due, canonical[at], scratch)?;
                at += 1;
            }
        }
        code.function(&f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmhost_api::{CostTable, StackLimit};

    fn all_passes() -> Passes {
        Passes {
            canonicalize_nans: true,
            fuel: Some((CostTable::default(), 1000)),
            stack_limit: Some(StackLimit::Frames(10)),
            memory_limit_pages: Some(2),
            max_table_elements: Some(4),
            host_start: true,
            interrupt: true,
            resettable: true,
        }
    }

    fn print(wasm: &[u8]) -> String {
        wasmprinter::print_bytes(wasm).unwrap()
    }

    #[test]
    fn nans_are_canonicalized_only_where_their_bits_can_be_seen() {
        let canonicalizations = |body: &str| {
            let wat = format!("(module (func (param f32 f32) (result f32) {body}))");
            let passes = Passes {
                canonicalize_nans: true,
                ..Passes::default()
            };
            let (out, _) = rewrite(&wat::parse_str(&wat).unwrap(), &passes).unwrap();
            print(&out).matches("f32.ge\n").count()
        };
        let ab = "local.get 0 local.get 1";
        // A chain of arithmetic is canonicalized once, at its end.
        assert_eq!(
            canonicalizations(&format!("local.get 0 {ab} f32.add f32.mul f32.sqrt")),
            1
        );
        // A comparison or a conversion sees no bits: nothing to canonicalize.
        assert_eq!(
            canonicalizations(&format!("local.get 0 {ab} f32.add f32.lt drop local.get 0")),
            0
        );
        assert_eq!(
            canonicalizations(&format!(
                "{ab} f32.div i32.trunc_sat_f32_s drop local.get 0"
            )),
            0
        );
        // Bit operations pass the bits on: the result before them is canonicalized.
        assert_eq!(canonicalizations(&format!("{ab} f32.add f32.neg")), 1);
        assert_eq!(
            canonicalizations(&format!("local.get 0 {ab} f32.add f32.copysign")),
            1
        );
        // A local only arithmetic reads is blind: an accumulator is stored unchecked, and
        // the result computed from it is checked where it is observed (returned).
        assert_eq!(
            canonicalizations(&format!(
                "(local f32) local.get 2 {ab} f32.mul f32.add local.set 2 \
                 local.get 2 f32.const 1 f32.add"
            )),
            1
        );
        // Through another blind local too.
        assert_eq!(
            canonicalizations(&format!(
                "(local f32 f32) {ab} f32.add local.set 2 local.get 2 local.set 3 \
                 local.get 3 local.get 0 f32.mul"
            )),
            1
        );
        // A local read by a bit operation, or returned, is not: what is stored in it is
        // checked first.
        assert_eq!(
            canonicalizations(&format!(
                "(local f32) {ab} f32.add local.set 2 local.get 2 f32.neg"
            )),
            1
        );
        assert_eq!(
            canonicalizations(&format!(
                "(local f32) {ab} f32.add local.tee 2 local.get 2 f32.add"
            )),
            1
        );
    }

    /// Each pass alone, and all of them together.
    fn pass_sets() -> Vec<Passes> {
        let all = all_passes();
        let none = Passes::default();
        vec![
            Passes {
                canonicalize_nans: true,
                ..none.clone()
            },
            Passes {
                fuel: all.fuel.clone(),
                ..none.clone()
            },
            Passes {
                stack_limit: all.stack_limit,
                ..none.clone()
            },
            Passes {
                memory_limit_pages: all.memory_limit_pages,
                max_table_elements: all.max_table_elements,
                ..none.clone()
            },
            Passes {
                host_start: true,
                ..none.clone()
            },
            Passes {
                interrupt: true,
                ..none
            },
            all,
        ]
    }

    #[test]
    fn each_pass_alone_keeps_the_module_valid() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "f" (func $host (param i32)))
                 (memory 1) (table 1 funcref)
                 (func $f (export "f") (param f64) (result f64)
                   local.get 0 f64.sqrt
                   i32.const 1 memory.grow drop
                   ref.null func i32.const 1 table.grow 0 drop
                   i32.const 0 i32.const 0 i32.const 10 memory.copy
                   i32.const 3 call $host)
                 (start $s) (func $s))"#,
        )
        .unwrap();
        for passes in pass_sets() {
            let (out, _) = rewrite(&wasm, &passes).unwrap();
            wasmparser::validate(&out).unwrap_or_else(|e| panic!("{passes:?}: {e}"));
        }
    }

    #[test]
    fn interruption_checks_read_a_memory_of_their_own_at_loop_heads_and_callers_entries() {
        let passes = Passes {
            interrupt: true,
            ..Passes::default()
        };
        let check = "i32.load8_u 1\n";
        // The module's own memory is imported: the added one comes after it.
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "m" (memory 1))
                 (type $t (func (result i32)))
                 (table 1 funcref)
                 (elem (i32.const 0) $by_table)
                 (func $leaf (result i32) i32.const 1)
                 (func $caller (export "c") (result i32) call $leaf)
                 (func $looping (export "l") loop $l br $l end)
                 (func $even (param i32) (result i32) local.get 0 call $odd)
                 (func $odd (param i32) (result i32) local.get 0 call $even)
                 (func $by_table (result i32) i32.const 0 call_indirect (type $t)))"#,
        )
        .unwrap();
        let (out, _) = rewrite(&wasm, &passes).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out);
        assert!(
            text.contains("(memory (;1;) 1 1)")
                && text.contains("(export \"wasmhost_interrupt\" (memory 1))"),
            "{text}"
        );
        // The loop head, and the entries of the functions on a cycle: $even and $odd, and
        // $by_table, which reaches itself through the table.
        assert_eq!(text.matches(check).count(), 4, "{text}");
        let acyclic =
            &text[text.find("(func $leaf (").unwrap()..text.find("(func $looping (").unwrap()];
        assert!(!acyclic.contains("i32.load8_u"), "{acyclic}");
        // A module with no memory section gets one.
        let wasm = wat::parse_str("(module (func (export \"f\") loop end))").unwrap();
        let (out, _) = rewrite(&wasm, &passes).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out);
        assert!(text.contains("(memory (;0;) 1 1)"), "{text}");
        assert_eq!(text.matches("i32.load8_u\n").count(), 1, "{text}");
    }

    #[test]
    fn a_loop_of_a_few_constant_iterations_around_counted_loops_goes_unchecked() {
        let passes = Passes {
            interrupt: true,
            ..Passes::default()
        };
        // Rows of `$0` additions; the inner loop is 12 instructions with its `end`.
        let rows = |start: &str, rows: u32| {
            let wat = format!(
                r#"(module (func (export "f") (param i32) (result i32) (local i32 i32 i32)
                     {start} local.set 3
                     (loop $rows
                       i32.const 0 local.set 1
                       (loop $inner
                         local.get 2 local.get 1 i32.add local.set 2
                         local.get 1 i32.const 1 i32.add local.tee 1 local.get 0 i32.ne
                         br_if $inner)
                       local.get 3 i32.const 1 i32.add local.tee 3 i32.const {rows} i32.ne
                       br_if $rows)
                     local.get 2))"#
            );
            let (out, _) = rewrite(&wat::parse_str(wat).unwrap(), &passes).unwrap();
            wasmparser::validate(&out).unwrap();
            let text = print(&out);
            let checks = text.matches("i32.load8_u").count();
            let chunk = |rows: u32| format!("i64.const {}\n", (1 << 20) / 12 / rows);
            (
                checks,
                text.contains(&chunk(rows)),
                text.contains(&chunk(1)),
            )
        };
        // Five rows: no check at their head (the check between the inner loop's chunks
        // remains; counting by one to `!=`, it has no checked version), and the inner loop's
        // chunk a fifth of its own.
        assert_eq!(rows("i32.const 0", 5), (1, true, false));
        assert_eq!(rows("i32.const 0", 64), (1, true, false));
        // Too many rows, or a count not known before the loop: checked at every row.
        assert_eq!(rows("i32.const 0", 65), (2, false, true));
        assert_eq!(rows("local.get 0", 5), (2, false, true));
    }

    #[test]
    fn a_count_by_one_to_a_bound_it_compares_with_ne_has_no_checked_version() {
        let loop_by = |step: i32, fuel: bool| {
            let wat = format!(
                r#"(module (func (export "f") (param i32) (result i32) (local i32 i32)
                     (loop $l
                       local.get 2 local.get 1 i32.add local.set 2
                       local.get 1 i32.const {step} i32.add local.tee 1 local.get 0 i32.ne
                       br_if $l)
                     local.get 2))"#
            );
            let passes = Passes {
                interrupt: true,
                fuel: fuel.then(|| (CostTable::default(), 1000)),
                ..Passes::default()
            };
            let (out, _) = rewrite(&wat::parse_str(wat).unwrap(), &passes).unwrap();
            wasmparser::validate(&out).unwrap();
            // The check between chunks, and the checked loop's when there is one.
            print(&out).matches("i32.load8_u").count()
        };
        // Up or down by one, the count is proved from any start (a whole turn from the bound
        // itself): nothing leads to the loop as it was.
        assert_eq!((loop_by(1, false), loop_by(-1, false)), (1, 1));
        // By two, an odd distance is never met; with portable fuel, a budget that cannot pay
        // for the whole count runs the loop as it was.
        assert_eq!((loop_by(2, false), loop_by(1, true)), (2, 2));
    }

    #[test]
    fn every_pass_keeps_the_module_valid() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "g" (global i32))
                 (import "env" "f" (func $host (param i32)))
                 (memory 1) (table 1 funcref)
                 (global $own (mut i32) (i32.const 0))
                 (func $f (export "f") (param f32 f32) (result f32)
                   (local i64)
                   local.get 0 local.get 1 f32.div
                   i32.const 1 memory.grow drop
                   ref.null func i32.const 1 table.grow 0 drop
                   i32.const 0 i32.const 0 i32.const 10 memory.fill
                   i32.const 3 call $host
                   loop $l global.get $own br_if $l end)
                 (start $start)
                 (func $start))"#,
        )
        .unwrap();
        let (out, start) = rewrite(&wasm, &all_passes()).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out);
        assert!(start && !text.contains("(start"), "{text}");
        assert!(
            text.contains("(export \"wasmhost_start\" (func $start))"),
            "{text}"
        );
        for name in ["wasmhost_fuel", "wasmhost_depth", "wasmhost_limit"] {
            assert!(
                text.contains(&format!("(export \"{name}\" (global")),
                "{text}"
            );
        }
        // The added globals come after the imported and the module's own.
        assert!(
            text.contains("(global (;2;) (mut i64) i64.const 1000)"),
            "{text}"
        );
        // The one NaN check: a comparison and a branch.
        assert_eq!(text.matches("f32.ge\n").count(), 1, "{text}");
    }

    /// Every relaxed operation and vector float shape, under every pass set: valid, with
    /// no relaxed operation left in the deterministic profile, and v128 scratch locals only
    /// in the function that needs them.
    #[test]
    fn vector_checks_and_relaxed_rewrites_keep_the_module_valid() {
        let relaxed = [
            "f32x4.relaxed_madd",
            "f32x4.relaxed_nmadd",
            "f64x2.relaxed_madd",
            "f64x2.relaxed_nmadd",
            "i32x4.relaxed_dot_i8x16_i7x16_add_s",
            "i8x16.relaxed_laneselect",
            "i64x2.relaxed_laneselect",
        ]
        .map(|op| format!("local.get 0 local.get 0 local.get 0 {op} drop"));
        let binary = [
            "f32x4.relaxed_min",
            "f64x2.relaxed_max",
            "i8x16.relaxed_swizzle",
            "i16x8.relaxed_q15mulr_s",
            "i16x8.relaxed_dot_i8x16_i7x16_s",
            "f32x4.div",
        ]
        .map(|op| format!("local.get 0 local.get 0 {op} drop"));
        let unary = [
            "i32x4.relaxed_trunc_f64x2_u_zero",
            "f64x2.promote_low_f32x4",
        ]
        .map(|op| format!("local.get 0 {op} drop"));
        let body = [&relaxed[..], &binary[..], &unary[..]].concat().join(" ");
        let wasm = wat::parse_str(format!(
            "(module (func (param v128) {body}) (func (param f32) (result f32) local.get 0 f32.sqrt))"
        ))
        .unwrap();
        for passes in pass_sets() {
            let (out, _) = rewrite(&wasm, &passes).unwrap();
            wasmparser::validate(&out).unwrap_or_else(|e| panic!("{passes:?}: {e}"));
            let text = print(&out);
            assert_eq!(
                text.contains("relaxed"),
                !passes.canonicalize_nans,
                "{passes:?}: {text}"
            );
            let v128_locals = text.matches("f64 v128 v128 v128 v128 v128 v128)").count();
            assert_eq!(v128_locals, usize::from(passes.canonicalize_nans), "{text}");
        }
    }

    #[test]
    fn sections_the_module_lacks_are_added_in_order() {
        for source in [
            "(module)",
            "(module (func))",
            r#"(module (func (export "f")) (data "x"))"#,
            "(module (memory 1) (data (i32.const 0) \"x\"))",
        ] {
            let (out, _) = rewrite(&wat::parse_str(source).unwrap(), &all_passes()).unwrap();
            wasmparser::validate(&out).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert!(print(&out).contains("wasmhost_fuel"), "{source}");
        }
    }

    #[test]
    fn a_counted_loop_that_calls_is_charged_per_iteration() {
        // The loop's whole charge is prepaid as trips times its cost (an `i64.mul`) only
        // when it calls nothing: a call costs more than the charge saved.
        let prepaid = |body: &str| {
            let wat = format!(
                "(module (func $g) (func (param i32 i32) (local i32)
                   loop {body} local.get 2 i32.const 1 i32.add local.tee 2 local.get 1 i32.ne
                   br_if 0 end))"
            );
            let passes = Passes {
                fuel: Some((CostTable::default(), 1000)),
                ..Passes::default()
            };
            let (out, _) = rewrite(&wat::parse_str(&wat).unwrap(), &passes).unwrap();
            wasmparser::validate(&out).unwrap();
            print(&out).matches("i64.mul").count()
        };
        assert_eq!(prepaid("nop"), 1);
        assert_eq!(prepaid("call $g"), 0);
    }

    #[test]
    fn a_call_to_a_leaf_its_callers_pay_neither_raises_the_depth_nor_reloads_the_fuel() {
        let passes = Passes {
            fuel: Some((CostTable::default(), 1000)),
            stack_limit: Some(StackLimit::Frames(10)),
            ..Passes::default()
        };
        // $leaf's entry is paid by its callers; $mid calls, so it reads the depth (the
        // global: it is exported), and charges its own entry.
        let wasm = wat::parse_str(
            r#"(module
                 (func $leaf (result i32) i32.const 1)
                 (func $mid (export "mid") (result i32) call $leaf)
                 (func (export "run") (result i32) call $leaf call $mid i32.add))"#,
        )
        .unwrap();
        let (out, _) = rewrite(&wasm, &passes).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out).split_whitespace().collect::<Vec<_>>().join(" ");
        // Fuel is global 0, the depth global 1, the function's depth local 4.
        let leaf = &text[text.find("(func $leaf").unwrap()..text.find("(func $mid (").unwrap()];
        assert!(!leaf.contains("global."), "{leaf}");
        let run = &text[text.find("(func (;2;)").unwrap()..];
        // The leaf's call: the check alone, the raise on the way to the trap; neither the
        // fuel read again nor the depth put back after it.
        let to_leaf = "i32.gt_u if ;; label = @1 local.get 4 i32.const 1 i32.add global.set 1 \
                       unreachable end call $leaf local.get 4 i32.const 1";
        assert!(run.contains(to_leaf), "{run}");
        // $mid's: raised before, put back and the fuel read again after.
        let to_mid = "i32.add global.set 1 local.get 4 i32.const 9 i32.gt_u if ;; label = @1 \
                      unreachable end call $mid local.get 4 global.set 1 global.get 0 local.set 1";
        assert!(run.contains(to_mid), "{run}");
    }

    #[test]
    fn a_function_only_direct_calls_reach_takes_its_depth_as_a_parameter() {
        let passes = Passes {
            stack_limit: Some(StackLimit::Frames(10)),
            ..Passes::default()
        };
        // $rec recurses and has a local of its own after its parameter, named; $tail is
        // reached by a tail call and $listed through a table, which pass no depth.
        let wasm = wat::parse_str(
            r#"(module
                 (type $t (func (param i32) (result i32)))
                 (func $rec (type $t) (local $copy i32)
                   local.get 0 local.set $copy
                   local.get $copy if (result i32)
                     local.get $copy i32.const 1 i32.sub call $rec
                   else i32.const 0 end)
                 (func $tail (type $t) local.get 0 call $rec)
                 (func $listed (type $t) local.get 0 call $rec)
                 (func (export "run") (type $t) local.get 0 call $rec return_call $tail)
                 (table 1 funcref) (elem (i32.const 0) $listed))"#,
        )
        .unwrap();
        let (out, _) = rewrite(&wasm, &passes).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out).split_whitespace().collect::<Vec<_>>().join(" ");
        // The depth is the parameter after $rec's own, its local moved up to 2, its name
        // with it.
        assert!(
            text.contains("(type (;1;) (func (param i32 i32) (result i32)))"),
            "{text}"
        );
        let rec = &text[text.find("(func $rec").unwrap()..text.find("(func $tail").unwrap()];
        assert!(rec.starts_with("(func $rec (;0;) (type 1)"), "{rec}");
        assert!(rec.contains("(local $copy i32)"), "{rec}");
        assert!(
            rec.contains("local.get 0 local.set $copy local.get $copy if"),
            "{rec}"
        );
        // The call checks the parameter, raises the global only on the way to the trap,
        // and passes the raised depth as an argument after the call's own.
        let call = "local.get 1 i32.const 9 i32.gt_u if ;; label = @2 local.get 1 i32.const 1 \
                    i32.add global.set 0 unreachable end local.get 1 i32.const 1 i32.add call $rec";
        assert!(rec.contains(call), "{rec}");
        assert!(!rec.contains("global.get"), "{rec}");
        // The others read the global at their entry, and keep their signatures.
        for name in [
            "$tail (;1;) (type $t)",
            "$listed (;2;) (type $t)",
            "(;3;) (type $t)",
        ] {
            let at = text
                .find(&format!("(func {name}"))
                .unwrap_or_else(|| panic!("{text}"));
            let entry = &text[at..at + 120];
            assert!(entry.contains("global.get 0 local.set"), "{entry}");
        }
    }

    #[test]
    fn a_function_only_direct_calls_reach_takes_the_fuel_as_a_parameter() {
        let passes = Passes {
            fuel: Some((CostTable::default(), 1000)),
            ..Passes::default()
        };
        let wasm = wat::parse_str(
            r#"(module
                 (func $rec (param i32) (result i32)
                   local.get 0 if (result i32)
                     local.get 0 i32.const 1 i32.sub call $rec
                   else i32.const 0 end)
                 (func (export "run") (param i32) (result i32) local.get 0 call $rec))"#,
        )
        .unwrap();
        let (out, _) = rewrite(&wasm, &passes).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = print(&out).split_whitespace().collect::<Vec<_>>().join(" ");
        let rec = &text[text.find("(func $rec").unwrap()..text.find("(func (;1;)").unwrap()];
        assert!(rec.contains("(param i32 i64) (result i32)"), "{rec}");
        // Nothing loaded at the entry: the fuel is parameter 1, charged and stored from
        // there, passed on to the next call, and reloaded after it.
        assert!(
            !rec.contains("global.get 0 local.set 1 local.get 0 if"),
            "{rec}"
        );
        assert!(rec.contains("local.get 1 i64.const"), "{rec}");
        assert!(
            rec.contains("i32.sub local.get 1 call $rec global.get 0 local.set 1"),
            "{rec}"
        );
        assert_eq!(rec.matches("global.get 0").count(), 1, "{rec}");
        // The exported caller loads it at its entry and passes its copy.
        let run = &text[text.find("(func (;1;)").unwrap()..];
        assert!(run.contains("local.get 0 local.get 2 call $rec"), "{run}");
    }

    /// A function that takes its depth and fuel as parameters and has everything the other
    /// passes add locals for or read locals in: a counted loop, float and vector locals, a
    /// call to the host and through the table. Valid under every pass set, the depth passed
    /// whenever there is a stack limit, the fuel whenever there is fuel.
    #[test]
    fn a_function_taking_added_parameters_keeps_the_module_valid_under_every_pass() {
        let wasm = wat::parse_str(
            r#"(module
                 (import "env" "f" (func $host (param i32)))
                 (type $t (func (param i32 f64) (result f64)))
                 (memory 1) (table 1 funcref) (elem (i32.const 0) $listed)
                 (func $inner (type $t) (local $i i32) (local $acc f64) (local $v v128)
                   (local.set $i (i32.const 0))
                   (loop $l
                     (local.set $acc (f64.add (local.get $acc) (local.get 1)))
                     (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
                   (local.set $v (f64x2.splat (local.get $acc)))
                   (f64.store (i32.const 0)
                     (f64x2.extract_lane 0 (f64x2.mul (local.get $v) (local.get $v))))
                   (call $host (local.get $i))
                   (drop (call_indirect (type $t) (local.get 0) (local.get 1) (i32.const 0)))
                   (if (result f64) (local.get 0)
                     (then (call $inner (i32.sub (local.get 0) (i32.const 1)) (local.get $acc)))
                     (else (local.get $acc))))
                 (func $listed (type $t) (local.get 1))
                 (func (export "run") (type $t) (call $inner (local.get 0) (local.get 1))))"#,
        )
        .unwrap();
        for passes in pass_sets() {
            let (out, _) = rewrite(&wasm, &passes).unwrap();
            wasmparser::validate(&out).unwrap_or_else(|e| panic!("{passes:?}: {e}"));
            let text = print(&out);
            let at = text.find("(func $inner").unwrap();
            let params = &text[at..];
            let params = &params[params.find("(param ").unwrap()..];
            let params = &params[..params.find(')').unwrap()];
            let depth = if passes.stack_limit.is_some() {
                " i32"
            } else {
                ""
            };
            let fuel = if passes.fuel.is_some() { " i64" } else { "" };
            assert_eq!(params, format!("(param i32 f64{depth}{fuel}"), "{passes:?}");
            // The loop's copy without checks, paid for at once: its trip count times its cost.
            if passes.fuel.is_some() {
                assert!(text.contains("i64.mul"), "{passes:?}: {text}");
            }
        }
    }

    #[test]
    fn reserved_export_names_are_refused() {
        let wasm =
            wat::parse_str(r#"(module (global (export "wasmhost_fuel") i32 (i32.const 0)))"#)
                .unwrap();
        assert!(matches!(
            rewrite(&wasm, &all_passes()),
            Err(WasmError::Compile(m)) if m.contains("reserves")
        ));
    }

    #[test]
    fn only_the_passes_asked_for_are_applied() {
        let wasm = wat::parse_str(
            r#"(module (func (export "f") (param f64) (result f64) local.get 0 f64.sqrt call 1)
                 (func (param f64) (result f64) local.get 0))"#,
        )
        .unwrap();
        let depth_only = Passes {
            stack_limit: Some(StackLimit::Frames(5)),
            ..Passes::default()
        };
        let text = print(&rewrite(&wasm, &depth_only).unwrap().0);
        assert!(
            text.contains("wasmhost_depth") && !text.contains("wasmhost_fuel"),
            "{text}"
        );
        assert!(!text.contains("select"), "{text}");
    }
}
