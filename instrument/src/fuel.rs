//! Portable fuel metering: the module counts its own work in a global, in the units of a
//! [`CostTable`], charged at the same points whatever engine runs it.
//!
//! # Where fuel is charged
//!
//! A function body is cut into regions, one per way control enters code: the function's
//! entry, each iteration of a `loop`, the `then` arm of an `if`, its `else` arm. A region
//! holds its own instructions, including those after the `end` of a `block`, `if` or
//! `loop` nested in it, but not the instructions of the `loop`s and `if` arms nested in it
//! (they are regions of their own). At the start of each region its whole cost is charged,
//! before any of its instructions run, and where the region may lead the guest on (see
//! "Where the fuel is tested") the fuel is tested:
//!
//! ```text
//! local.get $fuel  i64.const cost  i64.sub  local.tee $fuel  global.set $fuel
//! local.get $fuel  i64.const 0  i64.lt_s  if  unreachable  end      ;; the test
//! ```
//!
//! Each function keeps the fuel in a local, loaded from the global at entry and after every
//! call (the callee, or a host function, spends from the global), and stores every new
//! value to the global. So the global is never stale, and a charge never waits for the
//! previous charge's store: the dependency from one charge to the next runs through a
//! register, not through memory. A function that only the module's direct calls reach
//! takes the fuel as an added parameter instead of loading it at entry
//! (`passed_as_parameter`): its caller's local, equal to the global at every call.
//!
//! Calls do not end a region: a callee that runs out stops inside the callee.
//!
//! # Where the fuel is tested
//!
//! A guest runs on without bound only by a loop's next iteration or by a call that may
//! recurse or run long: so the charge of a loop's iteration tests the fuel, and so does the
//! charge of a region that holds, outside any loop, an indirect call or a call to a
//! function on a cycle of calls or that may run more than `UNTESTED_OPERATORS` (1 000)
//! outside loops. A call to the host is preceded by the test alone, so that no host
//! function runs once the fuel is out. The other charges (an `if` arm, a function's entry,
//! code that calls only small helpers) only subtract: a run that cannot pay for such a
//! region runs it and goes on to the next test, in whichever function it has reached by
//! then (a region tested at its start may go on after the arm that ran the fuel out). What
//! it runs meanwhile is code outside loops, with no recursion and calls of at most
//! `UNTESTED_OPERATORS` each: a stretch bounded by the module's code, whatever the input.
//! A function that may return to the host (exported, in a table, named by a `ref.func`,
//! the start function, or reached by a tail call of one) tests the fuel on each way out
//! (`return`, a branch to its body, its last `end`: `ops::ways_out`), so a guest that ran
//! out in a charge that does not test never returns to the host, nor to a host function
//! that called back into it; one that traps while the fuel global is negative is reported
//! out of fuel by the host. Either way the host sees [`wasmhost_api::WasmError::OutOfFuel`],
//! fuel left 0, as after any other test. (The host read the global after every call
//! instead, in rules version 10 as first landed: some 120 to 220 instructions a call, 5–8 %
//! of a raw call; the test is three to five.) The units are the same; only where a run that
//! runs out stops moves. wasmtime's own fuel tests at function entries and loop heads; ours
//! tests before the calls that need it rather than at entries, so a leaf function tests
//! nothing. An `if` arm's test was half its charge: tinygo-json's hosted run went from
//! 1.37 to 1.28 times the default profile's instructions on wasmtime, richards from 1.57 to
//! 1.51 (rules version 10).
//!
//! A region is paid in full when it is entered: a branch out of it (`br_if`, or a `br`,
//! `br_table` or `return` in a nested `block` or `if`) leaves part of it paid for and not
//! run. Code after an unconditional branch (`br`, `br_table`, `return`, `unreachable`), up
//! to the `end` or `else` of the construct it is in, can never run and is not charged. The
//! units stay a pure function of the path the guest took, the same on every engine.
//!
//! Compiled code wraps its `br_if`s in `block ... end`; rules version 2 started a new
//! charge after every `end`, and on wasmi the charges cost as much as the work on some real
//! programs (hosted / default up to 1.76, geometric mean 1.45 over the benches' eight
//! programs; 1.30 with regions). A loop now pays once per iteration, plus once per `if`
//! arm it enters.
//!
//! # Counted loops
//!
//! An innermost loop that steps a counter by an invariant amount towards an invariant bound,
//! left only by its back edge or a branch right after it (compiled code's usual inner loop,
//! vectorized or not), and calls nothing but a
//! bounds check's panic, is emitted twice (a call costs far more than the charge saved, and
//! the proof of the trip count costs some 15 instructions at each entry). At its
//! entry the rewrite computes its number of iterations; when that number is proved (no
//! wrap-around, a bound met exactly) and the fuel left pays for every iteration, all of them
//! are charged there at once and a copy without the per-iteration charge runs. Otherwise
//! the loop runs charged per iteration, as above, and stops before the iteration it cannot
//! pay for. A guest pays the same units either way; only a trap inside such a loop leaves
//! its remaining iterations paid and not run (rules version 4; 5 since loops that call are
//! charged per iteration; 6 since loops that leave by a branch after their back edge are
//! counted). shootout-sieve's inner loop is four instructions, and its charge
//! was as many again.
//!
//! A counted loop that may also leave early (a search's `break`, a `return`) is paid for in
//! advance the same way, and its copy counts down the iterations it has not begun: each way
//! out of it (a panic handler's call included) first adds that many iterations' charge back,
//! so a run pays what it paid per iteration; only a trap by the engine inside the loop leaves
//! the rest paid (rules version 8). A way out that carries values (a `br_if` to a block with
//! results) leaves no room for the refund: such a loop is charged per iteration.
//!
//! # Prepaid `if` arms
//!
//! A table that sets [`CostTable::prepaid_if_arm`] trades exact units for fewer charges: an
//! `if` that can run, whose arms each cost at most that much and hold no call, is paid with
//! the region around it, its dearer arm's cost, and its arms charge nothing. The `if`s
//! inside an arm are decided first (their `end` comes first), so a prepaid one counts
//! towards its arm's cost. Calls stay out so that which calls run whenever their region is
//! entered, and which callees' entries their callers pay, is the same with the table as
//! without. A run then pays for each prepaid arm it skips; the units are still a pure
//! function of the path the guest took. The default, 0, prepays nothing but empty arms.
//!
//! # Asyncify's state checks
//!
//! Binaryen's asyncify (TinyGo's output, Emscripten's with `ASYNCIFY`) wraps a function's
//! code in `if` arms that test its state global for zero, `global.get $state  i32.eqz  if`:
//! an arm runs unless the program is unwinding or rewinding its stack, so nearly always, and
//! each was a region with its own charge. Such an `if` without `else`, holding no call and
//! reached whenever the region around it is entered (no branch since that region's start
//! leads past it), is paid with that region, and skipping it pays its arm back: the `if`
//! gains an `else` arm that adds the arm's charge to the fuel again. A run pays the same
//! units; one that cannot pay for the region and the arm together runs out at the region's
//! start, where it ran out at the arm before (rules version 9). tinygo-json's hosted run
//! went from 1.50 to 1.37 times the default profile's instructions on wasmtime.
//!
//! # Calls
//!
//! A call costs its caller the code around it and the callee its entry region's charge, one
//! more store of the fuel and one more test. Where the callee is reached only by direct
//! calls that run whenever the region they are in is entered (no branch or `return`
//! before them in it leads past them; not a tail call, nor a panic handler's call before
//! `unreachable`, which a counted loop may hold), and is not exported, in a table or named
//! by a `ref.func` (the host or an indirect call may enter it), its callers pay its entry
//! with the region around each call, and its own entry charges nothing (rules version 7).
//! A run pays the same units; one that traps between the start of the caller's region and
//! the call has paid the callee's entry too. A recursive call in a loop, as compilers emit
//! `fib(n - 1) + fib(n - 2)`, then costs one charge instead of two. A function whose own
//! entry region calls another keeps its charge, so that what a caller pays is one body's.
//!
//! A callee that then charges nothing (it calls nothing, and has no region but its entry:
//! a leaf helper such as `isalnum`) leaves the global as it found it: its caller does not
//! load the fuel again after the call, and the callee does not load it at all. The units
//! are the same; an interpreter runs two instructions fewer per such call.
//!
//! # What things cost ([`CostTable`])
//!
//! - every instruction `instruction` units, except `block`, `loop`, `else`, `end` and `nop`,
//!   which only give the code its structure and cost nothing;
//! - `call` and `call_indirect` `call` more, and a `call` of an imported (host) function
//!   `host_call` more again; loads and stores `memory_access` more; integer division and
//!   remainder, float division and square root `division` more;
//! - SIMD the same way: one instruction each (a relaxed operation before the deterministic
//!   profile rewrites it), v128 loads and stores `memory_access` more, vector division and
//!   square root `division` more;
//! - `memory.fill`, `memory.copy`, `memory.init`, `table.fill`, `table.copy`, `table.init`:
//!   their length divided by `bulk_bytes_per_unit`, charged just before the operation runs
//!   (on top of their instruction cost), so that a 4 GiB fill is not one unit;
//! - `memory.grow`: `memory_grow_page` per page requested, charged before it runs, whether
//!   or not the memory can grow.

use wasm_encoder::{BlockType, Function, Instruction};
use wasmhost_api::CostTable;
use wasmparser::Operator;

use crate::calls::{Branches, CallGraph, Callee};

/// The fixed cost of one instruction (bulk lengths and grown pages come on top), in a
/// module that imports `imported_functions` functions.
pub fn instruction_cost(op: &Operator<'_>, costs: &CostTable, imported_functions: u32) -> u64 {
    use Operator::*;
    let base = costs.instruction as u64;
    match op {
        Block { .. } | Loop { .. } | Else | End | Nop => 0,
        Call { function_index } if *function_index < imported_functions => {
            base + costs.call as u64 + costs.host_call as u64
        }
        Call { .. } | CallIndirect { .. } => base + costs.call as u64,
        I32DivS | I32DivU | I32RemS | I32RemU | I64DivS | I64DivU | I64RemS | I64RemU | F32Div
        | F64Div | F32Sqrt | F64Sqrt | F32x4Div | F64x2Div | F32x4Sqrt | F64x2Sqrt => {
            base + costs.division as u64
        }
        op if crate::ops::is_load(op) => base + costs.memory_access as u64,
        I32Store { .. }
        | I64Store { .. }
        | F32Store { .. }
        | F64Store { .. }
        | I32Store8 { .. }
        | I32Store16 { .. }
        | I64Store8 { .. }
        | I64Store16 { .. }
        | I64Store32 { .. }
        | V128Load8Lane { .. }
        | V128Load16Lane { .. }
        | V128Load32Lane { .. }
        | V128Load64Lane { .. }
        | V128Store { .. }
        | V128Store8Lane { .. }
        | V128Store16Lane { .. }
        | V128Store32Lane { .. }
        | V128Store64Lane { .. } => base + costs.memory_access as u64,
        _ => base,
    }
}

/// For each instruction of a body, the cost to charge just before it: the whole cost of
/// the region it starts, or 0 where no region starts. `paid_by_callers`, per defined
/// function, is the entry charge a call to it pays (`paid_by_callers`; empty for none).
pub fn block_charges(
    ops: &[Operator<'_>],
    costs: &CostTable,
    imported_functions: u32,
    paid_by_callers: &[Option<u64>],
) -> Vec<u64> {
    charges(ops, costs, imported_functions, paid_by_callers, &[]).charges
}

/// Where a body's fuel is charged, and paid back.
pub(crate) struct Charges {
    /// Per instruction, the cost to charge just before it ([`block_charges`]).
    pub(crate) charges: Vec<u64>,
    /// Per instruction, what an `if` whose arm is paid with the code around it pays back
    /// when it skips the arm: non-zero only at such an `if`'s `end`, which gains an `else`
    /// arm that pays it back (see "Asyncify's state checks" in the module docs).
    pub(crate) refunds: Vec<u64>,
    /// Per instruction, whether the charge before it also tests the fuel: true where a
    /// loop's iteration starts, and for a region that holds a call that may recurse or run
    /// long (see "Where the fuel is tested" in the module docs).
    pub(crate) tested: Vec<bool>,
}

impl Charges {
    /// Whether the body of `ops` changes the fuel global beyond its entry charge: another
    /// region's charge, a refund, or an operator charged by an operand at run time.
    pub(crate) fn beyond_entry(&self, ops: &[Operator<'_>]) -> bool {
        self.charges.iter().skip(1).any(|c| *c > 0)
            || self.refunds.iter().any(|r| *r > 0)
            || ops.iter().any(charged_at_run_time)
    }
}

/// [`block_charges`], and the refunds of the arms paid in advance.
///
/// `tested_callees`, per defined function, is whether a call to it needs the fuel tested
/// before it ([`tested_callees`]; an empty slice: every callee does).
pub(crate) fn charges(
    ops: &[Operator<'_>],
    costs: &CostTable,
    imported_functions: u32,
    paid_by_callers: &[Option<u64>],
    tested_callees: &[bool],
) -> Charges {
    use Operator::*;
    /// An open construct: where the code directly in it is charged, and whether that code
    /// can run (it cannot after an unconditional branch, up to the construct's `end`).
    struct Open {
        region: usize,
        live: bool,
        /// An `if` that can run: the region around it and where its `then` arm starts.
        if_in: Option<(usize, usize)>,
        /// Whether a call is inside it.
        calls: bool,
        /// An `if` without `else` (yet) that tests a global for zero ([`tests_a_global`]),
        /// reached whenever the region around it is entered.
        state_check: bool,
        /// Whether it is a `loop`.
        is_loop: bool,
    }
    let open_at = |region, live, if_in| Open {
        region,
        live,
        if_in,
        calls: false,
        state_check: false,
        is_loop: false,
    };
    // Whether a call needs the fuel tested before it: one to the host is tested right
    // before it (`test`); one in a loop runs after the loop's test, each iteration.
    let needs_test = |op: &Operator<'_>, next: Option<&Operator<'_>>, in_loop: bool| {
        let callee = match op {
            Call { function_index } | ReturnCall { function_index } => {
                match function_index.checked_sub(imported_functions) {
                    Some(defined) => Some(defined),
                    None => return false,
                }
            }
            _ => None,
        };
        // A panic handler's call may sit in a counted loop's copy, which tests nothing.
        let covered = in_loop && !matches!(next, Some(Unreachable));
        let unbounded = match callee {
            Some(defined) => tested_callees.get(defined as usize).is_none_or(|t| *t),
            None => true, // an indirect call may reach anything
        };
        unbounded && !covered
    };
    let mut branches = Branches::new();
    let prepaid = u64::from(costs.prepaid_if_arm);
    let mut charges = vec![0u64; ops.len()];
    let mut refunds = vec![0u64; ops.len()];
    let mut tested = vec![false; ops.len()];
    // The function body, then one entry per open `block`, `loop` and `if`.
    let mut open = vec![open_at(0, true, None)];
    // How many of them are loops.
    let mut loops_open = 0usize;
    for (i, op) in ops.iter().enumerate() {
        let Some(top) = open.last_mut() else {
            break; // past the body's final `end`: nothing (validation allows nothing there)
        };
        if top.live {
            let mut cost = instruction_cost(op, costs, imported_functions);
            if let Call { function_index } = op
                && let Some(defined) = function_index.checked_sub(imported_functions)
                && let Some(Some(entry)) = paid_by_callers.get(defined as usize)
            {
                cost = cost.saturating_add(*entry);
            }
            charges[top.region] = charges[top.region].saturating_add(cost);
        }
        // A new region starts after `loop`, `if` and `else`; `ops[i + 1]` exists, since an
        // `end` follows each of them.
        let next = (i + 1).min(ops.len() - 1);
        match op {
            // A `block` is entered only from the code before it: its code is that code's.
            Block { .. } => {
                let region = top.region;
                let live = top.live;
                open.push(open_at(region, live, None));
            }
            Loop { .. } => {
                tested[next] = true;
                loops_open += 1;
                open.push(Open {
                    is_loop: true,
                    ..open_at(next, true, None)
                })
            }
            If { .. } => {
                let if_in = top.live.then_some((top.region, next));
                // Paid with the region around it only if every run of that region reaches
                // it: no branch since the region's start leads past it.
                let reached = branches.none_since(top.region);
                open.push(Open {
                    state_check: reached && tests_a_global(&ops[..i]),
                    ..open_at(next, true, if_in)
                })
            }
            Else => {
                top.region = next;
                top.live = true;
                top.state_check = false;
            }
            End => {
                let Some(closed) = open.pop() else { continue };
                loops_open -= usize::from(closed.is_loop);
                if let Some(outer) = open.last_mut() {
                    outer.calls |= closed.calls;
                }
                // The arms of an `if` are complete at its `end` (`region` is its `else`
                // arm's, or the `then` arm's again), the `if`s inside them paid already.
                // Arms that call are left alone: which calls run whenever a region is
                // entered, and so which callees' entries their callers pay, is decided
                // by regions as they are without prepaid arms (`calls::sites`).
                if let Open {
                    region,
                    if_in: Some((around, then)),
                    calls: false,
                    state_check,
                    ..
                } = closed
                {
                    let dearer = charges[then].max(charges[region]);
                    if dearer <= prepaid {
                        charges[around] = charges[around].saturating_add(dearer);
                        charges[then] = 0;
                        charges[region] = 0;
                    } else if state_check {
                        charges[around] = charges[around].saturating_add(charges[then]);
                        refunds[i] = std::mem::take(&mut charges[then]);
                    }
                }
            }
            Br { .. } | BrTable { .. } | Return | Unreachable => top.live = false,
            Call { .. } | CallIndirect { .. } | ReturnCall { .. } | ReturnCallIndirect { .. } => {
                let test = needs_test(op, ops.get(i + 1), loops_open > 0);
                let Some(top) = open.last_mut() else { break };
                top.calls = true;
                tested[top.region] |= top.live && test;
            }
            _ => {}
        }
        branches.walk(i, op);
    }
    Charges {
        charges,
        refunds,
        tested,
    }
}

/// Whether the code before an `if` (`before`) ends testing a global for zero, `global.get
/// $g  i32.eqz`: the state check of a module transformed by Binaryen's asyncify (TinyGo's
/// output, Emscripten's with `ASYNCIFY`), whose arm runs unless the program is unwinding or
/// rewinding its stack, so nearly always.
fn tests_a_global(before: &[Operator<'_>]) -> bool {
    matches!(before, [.., Operator::GlobalGet { .. }, Operator::I32Eqz])
}

/// Per defined function of the module `graph` describes, the charge of its entry region
/// when its callers pay it instead (see "Calls" in the module docs), else `None`.
pub(crate) fn paid_by_callers(graph: &CallGraph) -> Vec<Option<u64>> {
    let mut eligible = vec![true; graph.bodies.len()];
    for &f in &graph.escaping {
        eligible[f as usize] = false;
    }
    for (f, body) in graph.bodies.iter().enumerate() {
        for site in &body.sites {
            // Its entry charge would then hold its callee's, and so on down the calls.
            if site.at_entry && site.callee != Callee::Imported {
                eligible[f] = false;
            }
            if let Callee::Defined(callee) = site.callee
                && (!site.certain || site.before_unreachable || site.tail)
            {
                eligible[callee as usize] = false;
            }
        }
    }
    graph
        .bodies
        .iter()
        .zip(eligible)
        .map(|(body, eligible)| eligible.then_some(body.entry_charge))
        .collect()
}

/// The most operators a call may run, with the functions it calls outside loops, and go
/// without a test of the fuel before it: what a run that ran out may still run through
/// such a call before it stops.
const UNTESTED_OPERATORS: u64 = 1_000;

/// Per defined function of the module `graph` describes, whether a call to it outside a
/// loop needs the fuel tested before it: a function on a cycle of calls (each round of the
/// recursion then passes a test), or one that may run more than [`UNTESTED_OPERATORS`]
/// before it returns or reaches a test. A call to a small helper that calls nothing of the
/// sort leaves its region untested.
pub(crate) fn tested_callees(graph: &CallGraph) -> Vec<bool> {
    crate::interrupt::unbounded(graph, UNTESTED_OPERATORS)
}

/// Whether `op` is charged by an operand at run time: by its length, or `memory.grow` by its
/// pages.
pub(crate) fn charged_at_run_time(op: &Operator<'_>) -> bool {
    charged_by_length(op) || matches!(op, Operator::MemoryGrow { .. })
}

/// Per defined function of the module `graph` describes, whether a call to it may change
/// the fuel global: unless it calls nothing and charges nothing but an entry its callers
/// pay (`paid`, [`paid_by_callers`]), in which case a caller's copy of the fuel in a local
/// is still right after the call.
pub(crate) fn may_spend(graph: &CallGraph, paid: &[Option<u64>]) -> Vec<bool> {
    graph
        .bodies
        .iter()
        .enumerate()
        .map(|(f, body)| {
            let entry_paid = matches!(paid.get(f), Some(Some(_)));
            !body.sites.is_empty()
                || body.charged_beyond_entry
                || (body.entry_charge > 0 && !entry_paid)
        })
        .collect()
}

/// Per defined function, whether it takes the fuel as an added parameter (after the call
/// depth, when it takes that too): one that only the module's direct calls reach
/// (`direct`, from [`CallGraph::direct_only`]) and that may spend (`may_spend`, from
/// [`may_spend`]). Its
/// callers pass their fuel local, which equals the global at every call (each charge
/// stores both, and each call that may spend is followed by a reload), so it loads nothing
/// at its entry. It still stores each charge to the global: the host reads it after a
/// trap, and its callers reload it after the call. A recursion's calls then read the
/// global once each, after the call, instead of twice.
pub(crate) fn passed_as_parameter(direct: &[bool], may_spend: &[bool]) -> Vec<bool> {
    direct
        .iter()
        .zip(may_spend)
        .map(|(direct, spends)| *direct && *spends)
        .collect()
}

/// Whether `op` is charged by its length (the top of the stack, an `i32`).
pub fn charged_by_length(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        MemoryFill { .. }
            | MemoryCopy { .. }
            | MemoryInit { .. }
            | TableFill { .. }
            | TableCopy { .. }
            | TableInit { .. }
    )
}

/// Emits the load of the fuel global into the function's fuel local: at entry and after a
/// call.
pub(crate) fn reload(f: &mut Function, fuel: Fuel) {
    f.instruction(&Instruction::GlobalGet(fuel.global))
        .instruction(&Instruction::LocalSet(fuel.local));
}

/// Emits the charge of a constant `cost`; with `tested`, the test that stops the guest when
/// the fuel is out.
pub(crate) fn charge(f: &mut Function, fuel: Fuel, cost: u64, tested: bool) {
    f.instruction(&Instruction::LocalGet(fuel.local))
        .instruction(&Instruction::I64Const(cost.min(i64::MAX as u64) as i64))
        .instruction(&Instruction::I64Sub);
    if tested {
        store_and_trap_if_negative(f, fuel);
    } else {
        f.instruction(&Instruction::LocalTee(fuel.local))
            .instruction(&Instruction::GlobalSet(fuel.global));
    }
}

/// Emits the test alone: before a call to the host, which never runs once the fuel is out.
pub(crate) fn test(f: &mut Function, fuel: Fuel) {
    f.instruction(&Instruction::LocalGet(fuel.local));
    trap_if_negative(f);
}

/// Emits the test of a way out of a function that may return to the host: the fuel as its
/// `local` holds it when `local_current` (the function keeps it there), else as the global
/// does.
pub(crate) fn test_on_leaving(f: &mut Function, fuel: Fuel, local_current: bool) {
    if local_current {
        test(f, fuel);
    } else {
        f.instruction(&Instruction::GlobalGet(fuel.global));
        trap_if_negative(f);
    }
}

/// Emits the payment back of `units` (an arm paid in advance and skipped): it cannot make
/// the fuel run out, so it only adds and stores.
pub(crate) fn refund(f: &mut Function, fuel: Fuel, units: u64) {
    f.instruction(&Instruction::LocalGet(fuel.local))
        .instruction(&Instruction::I64Const(units.min(i64::MAX as u64) as i64))
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::LocalTee(fuel.local))
        .instruction(&Instruction::GlobalSet(fuel.global));
}

/// Emits a charge on the `i32` at the top of the stack, which stays there: `len /
/// per_unit` units for bulk operations, `len * per_page` for `memory.grow`. `scratch` is an
/// `i32` local.
pub(crate) fn charge_length(f: &mut Function, fuel: Fuel, scratch: u32, rate: Rate) {
    f.instruction(&Instruction::LocalSet(scratch))
        .instruction(&Instruction::LocalGet(fuel.local))
        .instruction(&Instruction::LocalGet(scratch));
    match rate {
        Rate::PerUnit(per) if per.is_power_of_two() => {
            f.instruction(&Instruction::I64ExtendI32U)
                .instruction(&Instruction::I64Const(per.trailing_zeros() as i64))
                .instruction(&Instruction::I64ShrU);
        }
        Rate::PerUnit(per) => {
            // The length is a u32: an `i32` division, cheaper than an `i64` one (see
            // `counted::trips`).
            f.instruction(&Instruction::I32Const(per as i32))
                .instruction(&Instruction::I32DivU)
                .instruction(&Instruction::I64ExtendI32U);
        }
        Rate::Times(cost) => {
            f.instruction(&Instruction::I64ExtendI32U)
                .instruction(&Instruction::I64Const(cost as i64))
                .instruction(&Instruction::I64Mul);
        }
    }
    f.instruction(&Instruction::I64Sub);
    store_and_trap_if_negative(f, fuel);
    f.instruction(&Instruction::LocalGet(scratch));
}

/// Where the fuel is: the global the host reads and sets, and the function's copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fuel {
    pub(crate) global: u32,
    pub(crate) local: u32,
}

/// How a length turns into units.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rate {
    /// One unit per this many (non-zero).
    PerUnit(u32),
    /// This many units per one.
    Times(u32),
}

/// Stores the new fuel (on the stack) and traps if it is negative.
fn store_and_trap_if_negative(f: &mut Function, fuel: Fuel) {
    f.instruction(&Instruction::LocalTee(fuel.local))
        .instruction(&Instruction::GlobalSet(fuel.global))
        .instruction(&Instruction::LocalGet(fuel.local));
    trap_if_negative(f);
}

/// Traps if the `i64` on the stack is negative.
fn trap_if_negative(f: &mut Function) {
    f.instruction(&Instruction::I64Const(0))
        .instruction(&Instruction::I64LtS)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(body: &str) -> Vec<Operator<'static>> {
        let wasm = wat::parse_str(format!("(module (func {body}))")).unwrap();
        crate::ops::first_body(Box::leak(wasm.into_boxed_slice()))
    }

    #[test]
    fn a_region_is_charged_at_its_start_for_all_of_it() {
        // i32.const, drop, loop | i32.const, br_if, i32.const, drop, end(loop) | end
        let body = ops("i32.const 1 drop loop i32.const 0 br_if 0 i32.const 2 drop end");
        let charges = block_charges(&body, &CostTable::default(), 0, &[]);
        assert_eq!(charges, vec![2, 0, 0, 4, 0, 0, 0, 0, 0]);
        // `if` and `else` start regions; the code after `end` is the enclosing region's.
        let body = ops(
            "i32.const 1 if nop i32.const 1 drop else i32.const 2 drop end nop i32.const 3 drop",
        );
        let charges = block_charges(&body, &CostTable::default(), 0, &[]);
        assert_eq!(charges, vec![4, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_state_check_reached_whenever_its_region_runs_is_paid_there_and_paid_back_if_skipped() {
        let charges = |body: &str| {
            let module = format!("(module (global $s (mut i32) (i32.const 0)) (func {body}))");
            let wasm = wat::parse_str(module).unwrap();
            let body = crate::ops::first_body(Box::leak(wasm.into_boxed_slice()));
            let Charges {
                charges, refunds, ..
            } = charges(&body, &CostTable::default(), 0, &[], &[]);
            let nonzero = |v: Vec<u64>| -> Vec<(usize, u64)> {
                v.into_iter().enumerate().filter(|(_, c)| *c > 0).collect()
            };
            (nonzero(charges), nonzero(refunds))
        };
        // global.get, i32.eqz, if | i32.const, drop, end | i32.const, drop: the arm's 2
        // charged at the entry with the 5 around it, and paid back at the `end` (5).
        let arm = "global.get $s i32.eqz if i32.const 1 drop end i32.const 2 drop";
        assert_eq!(charges(arm), (vec![(0, 7)], vec![(5, 2)]));
        // Not the state check: another condition, an `else`, a call in the arm.
        let other = "i32.const 0 i32.eqz if i32.const 1 drop end";
        assert_eq!(charges(other), (vec![(0, 3), (3, 2)], vec![]));
        let with_else = "global.get $s i32.eqz if i32.const 1 drop else nop end";
        assert_eq!(charges(with_else), (vec![(0, 3), (3, 2)], vec![]));
        let calling = "global.get $s i32.eqz if call 0 end";
        assert_eq!(charges(calling), (vec![(0, 3), (3, 5)], vec![]));
        // Passed by a branch before it (from the arm before it, asyncify's way out when
        // unwinding): paid in its arm, as before. The first check is reached.
        let passed = "block global.get $s i32.eqz if i32.const 0 br_if 1 end \
                      global.get $s i32.eqz if i32.const 1 drop end end";
        assert_eq!(charges(passed), (vec![(0, 8), (10, 2)], vec![(6, 2)]));
        // A branch that lands before it does not pass it.
        let before = "block i32.const 0 br_table 0 0 end global.get $s i32.eqz \
                      if i32.const 1 drop end";
        assert_eq!(charges(before), (vec![(0, 7)], vec![(9, 2)]));
    }

    #[test]
    fn only_a_loop_iteration_and_a_region_that_calls_test_the_fuel() {
        // `$f` (function 1) as a function that may recurse or run long, unless `small`.
        let tested_if = |body: &str, small: bool| -> Vec<usize> {
            let module = format!("(module (func {body}) (func $f))");
            let wasm = wat::parse_str(module).unwrap();
            let ops = crate::ops::first_body(Box::leak(wasm.into_boxed_slice()));
            let callees = [true, !small];
            let Charges { tested, .. } = charges(&ops, &CostTable::default(), 0, &[], &callees);
            tested
                .iter()
                .enumerate()
                .filter(|(_, t)| **t)
                .map(|(i, _)| i)
                .collect()
        };
        let tested = |body: &str| tested_if(body, false);
        // An entry without calls: nothing tested.
        assert_eq!(tested("i32.const 1 drop"), Vec::<usize>::new());
        // A body that calls: its entry (the call is after a `block`, in the same region).
        assert_eq!(tested("block end call $f"), vec![0]);
        // A loop's iteration starts at 1 (`loop` | `br 0`, `end`).
        assert_eq!(tested("loop br 0 end"), vec![1]);
        // `if` arms: the one that calls, not the other, nor their entry.
        // i32.const, if | nop, else | call, end, end
        assert_eq!(tested("i32.const 0 if nop else call $f end"), vec![4]);
        // A call that cannot run (after a `br`) tests nothing.
        assert_eq!(tested("block br 0 call $f end"), Vec::<usize>::new());
        // Nor does one to a small function that cannot recurse, or one in a loop (after the
        // loop's test): loop | i32.const, if | call, end, br 0 (dead from here), end
        assert_eq!(
            tested_if("i32.const 0 if call $f end", true),
            Vec::<usize>::new()
        );
        let in_loop = "loop i32.const 0 if call $f end br 0 end";
        assert_eq!(tested(in_loop), vec![1]);
        // Unless it is a panic handler's call, before `unreachable`: its arm (from 3) tests.
        let panic = "loop i32.const 0 if call $f unreachable end br 0 end";
        assert_eq!(tested(panic), vec![1, 3]);
    }

    #[test]
    fn blocks_do_not_start_regions_and_dead_code_is_free() {
        // A loop body of two `block`s around `br_if`s is one charge per iteration:
        // loop | block, block, const, br_if, end, const, br_if, end, const, drop, br 0,
        // (dead) const, drop | end(loop), end
        let body = ops(
            "loop block block i32.const 0 br_if 0 end i32.const 1 br_if 0 end \
             i32.const 2 drop br 0 i32.const 3 drop end",
        );
        let charges = block_charges(&body, &CostTable::default(), 0, &[]);
        assert_eq!(charges[1], 7, "{charges:?}");
        assert_eq!(charges.iter().sum::<u64>(), 7, "{charges:?}");
        // Code after a `return` in a nested `if` is paid for on entry, and code after the
        // `return` in the same arm is not.
        let body = ops("i32.const 1 if return i32.const 9 drop end i32.const 2 drop");
        let charges = block_charges(&body, &CostTable::default(), 0, &[]);
        assert_eq!(charges, vec![4, 0, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn an_if_whose_arms_cost_at_most_the_prepaid_arm_is_paid_with_the_code_around_it() {
        let charges = |body: &str, prepaid: u32| {
            let costs = CostTable::default().prepaid_if_arm(prepaid);
            block_charges(&ops(body), &costs, 0, &[])
        };
        // i32.const, if | i32.const, drop | else | i32.const, i32.const, drop, drop | end,
        // i32.const, drop, end: the arms cost 2 and 4.
        let body = "i32.const 1 if i32.const 1 drop else i32.const 2 i32.const 3 drop drop end \
                    i32.const 3 drop";
        let exact = vec![4, 0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(charges(body, 0), exact);
        assert_eq!(charges(body, 3), exact, "the dearer arm costs more than 3");
        let mut prepaid = vec![0; exact.len()];
        prepaid[0] = 4 + 4;
        assert_eq!(charges(body, 4), prepaid);
        // An `if` inside an arm is paid with that arm: its cost counts towards the arm's.
        // i32.const, if | i32.const, if | i32.const, drop | end | end, end
        let body = "i32.const 1 if i32.const 0 if i32.const 5 drop end end";
        assert_eq!(charges(body, 2), vec![2, 0, 4, 0, 0, 0, 0, 0, 0]);
        assert_eq!(charges(body, 4), vec![6, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Arms that call, and `if`s that cannot run, keep their charges.
        let calls = "i32.const 1 if call 0 end";
        assert_eq!(charges(calls, 100), charges(calls, 0));
        let dead = "return i32.const 1 if nop i32.const 1 drop end";
        assert_eq!(charges(dead, 100), charges(dead, 0));
    }

    fn paid(wat: &str) -> Vec<Option<u64>> {
        let wasm = wat::parse_str(wat).unwrap();
        paid_by_callers(&CallGraph::of(&wasm, Some(&CostTable::default())).unwrap())
    }

    #[test]
    fn callers_pay_an_entry_only_for_functions_that_only_certain_calls_reach() {
        // $leaf's entry: i32.const, drop (its `end` is free).
        let leaf = "(func $leaf i32.const 1 drop)";
        let certain = format!("(module {leaf} (func (export \"run\") call $leaf))");
        assert_eq!(
            paid(&certain),
            [Some(2), None],
            "exported: the host calls it"
        );
        let skippable = format!(
            "(module {leaf} (func (export \"run\") block i32.const 0 br_if 0 call $leaf end))"
        );
        assert_eq!(paid(&skippable), [None, None]);
        let panics = format!("(module {leaf} (func (export \"run\") call $leaf unreachable))");
        assert_eq!(paid(&panics), [None, None]);
        let in_table = format!(
            "(module {leaf} (table 1 funcref) (elem (i32.const 0) $leaf) (func (export \"run\") call $leaf))"
        );
        assert_eq!(paid(&in_table), [None, None]);
        // A function whose entry calls another pays at its own entry.
        let nested =
            format!("(module {leaf} (func $mid call $leaf) (func (export \"run\") call $mid))");
        assert_eq!(paid(&nested), [Some(2), None, None]);
    }

    #[test]
    fn calls_and_memory_accesses_cost_more() {
        let costs = CostTable::default();
        let body = ops("i32.const 0 i32.load drop call 0 i32.const 1 i32.const 1 i32.div_u drop");
        let expected = 1 + (1 + costs.memory_access as u64) + 1 + (1 + costs.call as u64);
        let expected = expected + 2 + (1 + costs.division as u64) + 1;
        assert_eq!(block_charges(&body, &costs, 0, &[])[0], expected);
        // The same call, to an imported function.
        let host = expected + costs.host_call as u64;
        assert_eq!(block_charges(&body, &costs, 1, &[])[0], host);
    }
}
