//! Interruption checks, for engines with no interruption of their own (wasmer, wasmi).
//!
//! The pass adds a memory of one page that no original instruction can name (it comes after
//! the module's own memories), exports it as [`EXPORT`], and reads a byte of its first
//! [`FLAG_BYTES`] at every loop head and at the entry of every function on a cycle of the call graph: a guest that
//! runs long runs loops or recursion, so it reaches a check within one pass through a loop
//! body or one round of its recursion. The host writes a non-zero byte there from any
//! thread to stop the guest, which traps with `unreachable`; the host knows why, since it
//! wrote the byte. Any other call chain ends within as many calls as the module has
//! functions (each of which checks in its loops), and a call to the host is checked by the
//! host, so those functions get no check at their entry.
//!
//! A counted inner loop without calls (see the [`fuel`](crate::fuel) module) whose number of
//! iterations, proved at its entry, keeps it under about a million instructions runs in a
//! copy without the check: it ends soon, and whatever runs it is checked.

use wasm_encoder::{BlockType, Function, Instruction, MemArg, MemArgTarget};
use wasmparser::{ElementItems, ExternalKind, Operator, Parser, Payload, TypeRef};

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

/// Per defined function of `wasm`, whether it needs a check at its entry: it is on a cycle
/// of the call graph (it may call itself, directly or through others). A `call_indirect`
/// may reach any function the module lets out: those in its element segments, named by a
/// `ref.func`, or exported (a host may place those in a table).
pub(crate) fn on_call_cycles(wasm: &[u8]) -> wasmparser::Result<Vec<bool>> {
    let mut imported = 0u32;
    let mut escaping = Vec::new();
    let mut callees: Vec<Vec<u32>> = Vec::new();
    let mut indirect = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.kind == ExternalKind::Func {
                        escaping.push(export.index);
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    escaping.extend(referenced(global?.init_expr.get_operators_reader())?);
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader {
                    match element?.items {
                        ElementItems::Functions(functions) => {
                            for function in functions {
                                escaping.push(function?);
                            }
                        }
                        ElementItems::Expressions(_, exprs) => {
                            for expr in exprs {
                                escaping.extend(referenced(expr?.get_operators_reader())?);
                            }
                        }
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut calls = Vec::new();
                let mut calls_indirectly = false;
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    match ops.read()? {
                        Operator::Call { function_index }
                        | Operator::ReturnCall { function_index } => calls.push(function_index),
                        Operator::CallIndirect { .. } | Operator::ReturnCallIndirect { .. } => {
                            calls_indirectly = true
                        }
                        Operator::RefFunc { function_index } => escaping.push(function_index),
                        _ => {}
                    }
                }
                callees.push(calls);
                indirect.push(calls_indirectly);
            }
            _ => {}
        }
    }
    // The graph over defined functions: calls to imports go to the host, which checks.
    let defined = |f: u32| {
        f.checked_sub(imported)
            .filter(|d| (*d as usize) < callees.len())
    };
    let escaping: Vec<u32> = escaping.into_iter().filter_map(defined).collect();
    let edges: Vec<Vec<u32>> = callees
        .iter()
        .zip(&indirect)
        .map(|(calls, indirect)| {
            let mut out: Vec<u32> = calls.iter().copied().filter_map(defined).collect();
            if *indirect {
                out.extend(&escaping);
            }
            out.sort_unstable();
            out.dedup();
            out
        })
        .collect();
    Ok(cyclic(&edges))
}

/// The functions a constant expression names with `ref.func`.
fn referenced(mut ops: wasmparser::OperatorsReader<'_>) -> wasmparser::Result<Vec<u32>> {
    let mut named = Vec::new();
    while !ops.eof() {
        if let Operator::RefFunc { function_index } = ops.read()? {
            named.push(function_index);
        }
    }
    Ok(named)
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
}
