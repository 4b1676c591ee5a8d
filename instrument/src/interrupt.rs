//! Interruption checks, for engines with no interruption of their own (wasmer, wasmi).
//!
//! The pass adds a memory of one page that no original instruction can name (it comes after
//! the module's own memories), exports it as [`EXPORT`], and reads a byte of its first
//! [`FLAG_BYTES`] at every loop head and at the entry of the functions that need it
//! (`checked_at_entry`): a guest that runs long runs loops, recursion or a large call tree,
//! so it reaches a check within one pass through a loop body, one round of its recursion or
//! a bounded number of operators. The host writes a non-zero byte there from any thread to
//! stop the guest, which traps with `unreachable`; the host knows why, since it wrote the
//! byte. A call to the host is checked by the host. A loop each round of which calls a
//! function checked at its entry (recursion, as compilers emit it) goes without a check of
//! its own (`covered_by_a_call`).
//!
//! A counted inner loop without calls (see the [`fuel`](crate::fuel) module) whose number of
//! iterations, proved at its entry, keeps it under about a million instructions runs in a
//! copy without the check: it ends soon, and whatever runs it is checked. A longer one runs
//! in chunks of that many iterations, checked between chunks. A loop of a few iterations,
//! counted before it starts, around such loops (n-body's loop over its bodies) goes without
//! its own check, its inner loops running a share of that between checks.

use wasm_encoder::{BlockType, Function, Instruction, MemArg, MemArgTarget};
use wasmparser::Operator;

use crate::calls::{CallGraph, CallSite};

/// The name the added memory is exported under. A module that already exports this name
/// is refused ([`crate::instrument`]).
pub const EXPORT: &str = "wasmhost_interrupt";

/// How many bytes of the memory are flags: the host sets them all to stop the guest, and
/// each check of a function reads its own (the `site`-th check, modulo this). A compiler
/// may take a load for the value of an earlier load of the same address with no store
/// between: cranelift did, for an inner loop's check after the outer loop's, and ran the
/// inner loop to its end unchecked.
pub const FLAG_BYTES: usize = 4096;

/// Emits the `site`-th check of a function: traps when its flag byte in memory `memory` is
/// not 0.
pub(crate) fn check(f: &mut Function, memory: u32, site: u32) {
    f.instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::I32Load8U(MemArg {
            offset: u64::from(site) % FLAG_BYTES as u64,
            align: 0,
            target: MemArgTarget::Memory(memory),
            ordering: None,
        }))
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End);
}

/// The most operators a function may run, with the functions it calls outside loops, before
/// it reaches a check or returns, and still go without a check at its entry: far under the
/// 10 ms a deadline promises, even interpreted. The bound counts operators in the code, each
/// run at most once between two checks (a loop's back edge passes its check; a counted
/// loop's copy without checks is bounded by its trip count), so it holds whatever the
/// arguments.
const UNCHECKED_OPERATORS: u64 = 100_000;

/// Per defined function of the module `graph` describes, whether it needs a check at its
/// entry.
///
/// - A function on a cycle of calls: each round of the recursion passes its check, on the
///   way down. Recursion through a call inside a loop (how compilers emit `fib(n - 1) +
///   fib(n - 2)`: one call in a loop over `n`) is checked there too, and the loop goes
///   without its own check ([`covered_by_a_call`]): a recursive call pays one check, not
///   two. At the entry rather than in the loop, the loop stays one block: with the check at
///   its head, cranelift moved the `fib` kernel's counter between registers and left the
///   loop by a branch and a jump on every round (armed / off in instructions, `fib 30`,
///   1.18 against 1.12 on wasmtime, 1.17 against 1.13 on wasmer; the same on wasmi).
/// - A function that may run more than [`UNCHECKED_OPERATORS`] before a check: a call tree
///   without loops or recursion, each of 40 functions calling the next twice, runs 2^40
///   calls; the functions high in such a tree check. Calls inside loops are left out of
///   that sum: each iteration passes a check (the loop's, or its callee's entry).
///
/// A call to an import goes to the host, which checks.
pub(crate) fn checked_at_entry(graph: &CallGraph) -> Vec<bool> {
    unbounded(graph, UNCHECKED_OPERATORS)
}

/// Per defined function of the module `graph` describes, whether a call to it may recurse,
/// or run more than `bound` operators with the functions it calls outside loops, before it
/// returns or reaches a check: one in a loop, or one before entering a function this marks
/// (see [`checked_at_entry`]). The fuel's tests use it too ([`crate::fuel::tested_callees`]).
pub(crate) fn unbounded(graph: &CallGraph, bound: u64) -> Vec<bool> {
    // A call in a loop runs between two checks, unless it is a panic handler's call, which
    // may sit in a counted loop's copy without the check.
    let covered = |site: &CallSite| site.in_loop && !site.before_unreachable;
    let edges = |keep: &dyn Fn(&CallSite) -> bool| -> Vec<Vec<u32>> {
        graph
            .bodies
            .iter()
            .map(|body| {
                let mut out: Vec<u32> = body
                    .sites
                    .iter()
                    .filter(|site| keep(site))
                    .flat_map(|site| graph.callees(site).iter().copied())
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect()
    };
    let mut checked = cyclic(&edges(&|_| true));
    let uncovered = edges(&|site| !covered(site));
    // With every cycle cut at its checks, the uncovered calls make an acyclic graph:
    // the work before a check, summed from the leaves up.
    let mut unchecked_work: Vec<Option<u64>> = checked.iter().map(|c| c.then_some(0)).collect();
    for root in 0..graph.bodies.len() {
        let mut work = vec![root];
        while let Some(&node) = work.last() {
            if unchecked_work[node].is_some() {
                work.pop();
                continue;
            }
            let pending: Vec<usize> = uncovered[node]
                .iter()
                .map(|&to| to as usize)
                .filter(|&to| unchecked_work[to].is_none())
                .collect();
            if !pending.is_empty() {
                work.extend(pending);
                continue;
            }
            work.pop();
            let done = |f: &u32| unchecked_work[*f as usize].unwrap_or(0);
            let body = &graph.bodies[node];
            let mut total = body.operators;
            for site in body.sites.iter().filter(|site| !covered(site)) {
                // One callee runs per call: the costliest of those it may reach.
                let callee = graph.callees(site).iter().map(done).max().unwrap_or(0);
                total = total.saturating_add(callee);
            }
            checked[node] = total > bound;
            unchecked_work[node] = Some(if checked[node] { 0 } else { total });
        }
    }
    checked
}

/// Whether the loop at `ops[at]`, ending at `ops[end]`, goes without its own check because
/// every iteration that goes round calls a function checked at its entry (`checked`, by
/// function index): a call directly in the loop's body (not in a block or `if` inside it),
/// with no way back to the loop's head before it.
pub(crate) fn covered_by_a_call(
    ops: &[Operator<'_>],
    at: usize,
    end: usize,
    checked: impl Fn(u32) -> bool,
) -> bool {
    use Operator::*;
    // Constructs open inside the loop: a branch by this many labels goes back to its head.
    let mut depth = 0u32;
    for k in at + 1..end.min(ops.len()) {
        match &ops[k] {
            Block { .. } | Loop { .. } | If { .. } => depth += 1,
            End => depth = depth.saturating_sub(1),
            Br { relative_depth } | BrIf { relative_depth } if *relative_depth == depth => {
                return false;
            }
            BrTable { targets } => {
                let all = targets.targets().chain([Ok(targets.default())]);
                if all.flatten().any(|t| t == depth) {
                    return false;
                }
            }
            Call { function_index }
                if depth == 0
                    && checked(*function_index)
                    && !matches!(ops.get(k + 1), Some(Unreachable)) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// Per node of the graph `edges`, whether it is on a cycle: in a strongly connected
/// component of more than one node, or with an edge to itself. Tarjan's algorithm, with an
/// explicit stack (a module may have tens of thousands of functions).
fn cyclic(edges: &[Vec<u32>]) -> Vec<bool> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let (mut index, mut low) = (vec![UNSEEN; n], vec![0; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let mut on_cycle = vec![false; n];
    let mut next = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, how many of its edges were followed)
        let mut work = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut followed)) = work.last_mut() {
            if let Some(&to) = edges[node].get(*followed) {
                *followed += 1;
                let to = to as usize;
                if to == node {
                    on_cycle[node] = true;
                } else if index[to] == UNSEEN {
                    index[to] = next;
                    low[to] = next;
                    next += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    work.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(index[to]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    for member in component {
                        on_cycle[member] = true;
                    }
                }
            }
        }
    }
    on_cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_functions_on_a_cycle_are_found() {
        // 0 -> 1 -> 2 -> 1 (a cycle of two), 3 -> 3 (itself), 4 -> 0 (no cycle).
        let edges = vec![vec![1], vec![2], vec![1], vec![3], vec![0]];
        assert_eq!(cyclic(&edges), [false, true, true, true, false]);
        // A long chain without a cycle, deeper than any native stack would take.
        let chain: Vec<Vec<u32>> = (1..=100_000).map(|i| vec![i]).chain([vec![]]).collect();
        assert!(cyclic(&chain).iter().all(|c| !c));
    }

    fn checked(wat: &str) -> Vec<bool> {
        let wasm = wat::parse_str(wat).unwrap();
        checked_at_entry(&CallGraph::of(&wasm, None).unwrap())
    }

    #[test]
    fn recursion_checks_at_entry_in_or_out_of_loops() {
        let fib_if = "(func $f (param i32) (result i32)
            (if (result i32) (local.get 0) (then (call $f (i32.const 0))) (else (i32.const 1))))";
        let fib_loop =
            "(func $f (param i32) (loop $l (call $f (i32.const 0)) (br_if $l (local.get 0))))";
        let panics_in_loop = "(func $f (loop $l (call $f) unreachable))";
        let through_table = "(table 1 funcref) (elem (i32.const 0) $f)
            (func $f (call_indirect (i32.const 0)))";
        let no_cycle = "(func $f (loop $l (call $g) (br_if $l (i32.const 0)))) (func $g)";
        for (body, expected) in [
            (fib_if, vec![true]),
            (fib_loop, vec![true]),
            (panics_in_loop, vec![true]),
            (through_table, vec![true]),
            (no_cycle, vec![false, false]),
        ] {
            assert_eq!(checked(&format!("(module {body})")), expected, "{body}");
        }
    }

    /// Whether the first loop of the only function of the module `wat` goes without its
    /// check, its callees checked at their entry as [`checked_at_entry`] finds.
    fn covered(wat: &str) -> bool {
        let wasm = wat::parse_str(wat).unwrap();
        let checked = checked_at_entry(&CallGraph::of(&wasm, None).unwrap());
        let ops = crate::ops::first_body(&wasm);
        let at = ops
            .iter()
            .position(|op| matches!(op, Operator::Loop { .. }))
            .unwrap();
        let shape = crate::counted::Shape::of(&ops);
        covered_by_a_call(&ops, at, shape.end(at), |f| checked[f as usize])
    }

    #[test]
    fn a_loop_goes_without_its_check_only_when_each_round_calls_a_checked_function() {
        let module = |body: &str| format!("(module (func $f (param i32) {body}))");
        // fib's shape: the recursive call, then the way back.
        let fib = "(loop $l (call $f (i32.const 0)) (br_if $l (local.get 0)))";
        assert!(covered(&module(fib)));
        for body in [
            // A way back before the call.
            "(loop $l (br_if $l (local.get 0)) (call $f (i32.const 0)) (br $l))",
            // The call in an `if`: a round may skip it.
            "(loop $l (if (local.get 0) (then (call $f (i32.const 0)))) (br_if $l (local.get 0)))",
            // A way back from a block before the call.
            "(loop $l (block (br_if 1 (local.get 0))) (call $f (i32.const 0)) (br $l))",
            // A panic handler's call, before `unreachable`.
            "(loop $l (call $f (i32.const 0)) unreachable)",
        ] {
            assert!(!covered(&module(body)), "{body}");
        }
        // A callee that does not check at its entry (on no cycle).
        let no_cycle = "(module (func (loop $l (call $g) (br_if $l (i32.const 0)))) (func $g))";
        assert!(!covered(no_cycle));
    }

    #[test]
    fn a_large_call_tree_checks_high_up_and_not_at_its_leaves() {
        // Each of 41 functions calls the next twice: 2^40 calls from the first.
        let mut wat = String::from("(module");
        for next in 1..=40 {
            wat += &format!(" (func call {next} call {next})");
        }
        let checks = checked(&(wat + " (func))"));
        // Function k runs its 3 operators and twice what k + 1 runs before a check: 2^15
        // times the leaves' work passes the bound at function 25, which checks, and the
        // count starts again above it, up to function 9.
        let at: Vec<usize> = (0..checks.len()).filter(|&k| checks[k]).collect();
        assert_eq!(at, [9, 25]);
        // The same functions in a chain, each calling the next once, need no check.
        let mut chain = String::from("(module");
        for next in 1..=40 {
            chain += &format!(" (func call {next})");
        }
        assert!(checked(&(chain + " (func))")).iter().all(|c| !c));
    }
}
