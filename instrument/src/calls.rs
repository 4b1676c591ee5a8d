//! The module's calls, read once for the passes that reason across functions: the
//! interruption checks (which calls a loop's check covers), portable fuel (which calls run
//! whenever the code around them is paid for, so that the callers can pay the callee's
//! entry) and the stack limit (which functions the host may call, the only ones that put
//! the depth back after a call).

use wasmhost_api::CostTable;
use wasmparser::{ElementItems, ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::fuel;

/// Every defined function's calls, and the functions the module lets out.
pub(crate) struct CallGraph {
    /// Per defined function.
    pub(crate) bodies: Vec<Calls>,
    /// The defined functions a caller outside the module's direct calls may reach, sorted:
    /// exported, in an element segment, named by a `ref.func`, or the start function. A
    /// `call_indirect` may reach any of them (a host may place an exported one in a table).
    pub(crate) escaping: Vec<u32>,
}

/// What the passes need of one function body.
pub(crate) struct Calls {
    /// How many operators the body has.
    pub(crate) operators: u64,
    /// Its calls, in order.
    pub(crate) sites: Vec<CallSite>,
    /// The fuel its entry region costs ([`fuel::block_charges`]), when fuel is charged.
    pub(crate) entry_charge: u64,
    /// Whether it charges fuel anywhere but in its entry region, its calls aside: another
    /// region, or an operator charged by its operand ([`fuel::charged_at_run_time`]).
    pub(crate) charged_beyond_entry: bool,
}

/// A call in a function body.
pub(crate) struct CallSite {
    pub(crate) callee: Callee,
    /// Whether the call is inside a `loop`, each iteration of which passes an interruption
    /// check (the loop's own, or a callee's entry).
    pub(crate) in_loop: bool,
    /// Whether `unreachable` follows it: a panic handler's call, which a counted loop may
    /// hold (see the [`fuel`](crate::fuel) module).
    pub(crate) before_unreachable: bool,
    /// Whether it runs every time the fuel region it is in is entered, unless something
    /// before it traps: no branch and no `return` between the region's start and the call
    /// leads past it.
    pub(crate) certain: bool,
    /// Whether it is in the function's entry region.
    pub(crate) at_entry: bool,
    /// Whether it is a tail call (`return_call`, `return_call_indirect`).
    pub(crate) tail: bool,
}

/// What a call reaches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callee {
    /// The defined function of this index (among defined functions).
    Defined(u32),
    /// An imported function: the host.
    Imported,
    /// A `call_indirect`: any of [`CallGraph::escaping`].
    Indirect,
}

impl CallGraph {
    /// Reads the valid module `wasm`; with `costs`, each body's entry charge too.
    pub(crate) fn of(wasm: &[u8], costs: Option<&CostTable>) -> wasmparser::Result<CallGraph> {
        let mut imported = 0u32;
        let mut escaping = Vec::new();
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if matches!(import?.ty, TypeRef::Func(_)) {
                            imported += 1;
                        }
                    }
                }
                Payload::StartSection { func, .. } => escaping.push(func),
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
                    let mut reader = body.get_operators_reader()?;
                    let mut ops = Vec::new();
                    while !reader.eof() {
                        ops.push(reader.read()?);
                    }
                    escaping.extend(ops.iter().filter_map(|op| match op {
                        Operator::RefFunc { function_index } => Some(*function_index),
                        _ => None,
                    }));
                    let charges = costs.map(|costs| fuel::charges(&ops, costs, imported, &[], &[]));
                    bodies.push(Calls {
                        operators: ops.len() as u64,
                        sites: sites(&ops, imported),
                        entry_charge: charges.as_ref().map_or(0, |c| c.charges[0]),
                        charged_beyond_entry: charges
                            .as_ref()
                            .is_some_and(|c| c.beyond_entry(&ops)),
                    });
                }
                _ => {}
            }
        }
        let defined = bodies.len() as u32;
        let mut escaping: Vec<u32> = escaping
            .into_iter()
            .filter_map(|f| f.checked_sub(imported).filter(|d| *d < defined))
            .collect();
        escaping.sort_unstable();
        escaping.dedup();
        Ok(CallGraph { bodies, escaping })
    }

    /// Per defined function, whether it may return to the host: it is one of
    /// [`CallGraph::escaping`], or a tail call of such a function reaches it (it returns in
    /// its caller's place).
    pub(crate) fn returning_to_host(&self) -> Vec<bool> {
        let mut returns = vec![false; self.bodies.len()];
        let mut next = self.escaping.clone();
        while let Some(f) = next.pop() {
            if std::mem::replace(&mut returns[f as usize], true) {
                continue;
            }
            for site in self.bodies[f as usize].sites.iter().filter(|s| s.tail) {
                next.extend_from_slice(self.callees(site));
            }
        }
        returns
    }

    /// Per defined function, whether only the module's own direct calls reach it: not
    /// [`CallGraph::escaping`], and not the target of a tail call. Such a function may take
    /// added parameters: every call to it is a `call` the rewrite emits.
    pub(crate) fn direct_only(&self) -> Vec<bool> {
        let mut direct = vec![true; self.bodies.len()];
        for &f in &self.escaping {
            direct[f as usize] = false;
        }
        for site in self.bodies.iter().flat_map(|body| &body.sites) {
            if let (true, Callee::Defined(f)) = (site.tail, site.callee) {
                direct[f as usize] = false;
            }
        }
        direct
    }

    /// The defined functions `site` may reach.
    pub(crate) fn callees<'a>(&'a self, site: &'a CallSite) -> &'a [u32] {
        match site.callee {
            Callee::Defined(ref f) => std::slice::from_ref(f),
            Callee::Imported => &[],
            Callee::Indirect => &self.escaping,
        }
    }
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

/// Where the last branch to each open construct of a body was, as the body is walked in
/// order: a branch to a `block` or `if` lands past everything up to its `end`, one to a
/// `loop` starts it again, so code after the start of a region runs whenever the region is
/// entered unless some branch since that start went to a construct still open.
pub(crate) struct Branches {
    /// One per open construct, the body first.
    last: Vec<Option<usize>>,
}

impl Branches {
    /// Before the body's first operator: the body is open.
    pub(crate) fn new() -> Self {
        Branches { last: vec![None] }
    }

    /// Follows the operator at `at`: opens and closes constructs, records branches.
    pub(crate) fn walk(&mut self, at: usize, op: &Operator<'_>) {
        match op {
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                self.branch_to(*relative_depth, at)
            }
            Operator::BrTable { targets } => {
                self.branch_to(targets.default(), at);
                for target in targets.targets().flatten() {
                    self.branch_to(target, at);
                }
            }
            Operator::Return => self.branch_to(self.last.len() as u32 - 1, at),
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.last.push(None)
            }
            Operator::End => {
                self.last.pop();
            }
            _ => {}
        }
    }

    /// Records a branch at `at` to the construct `depth` out.
    fn branch_to(&mut self, depth: u32, at: usize) {
        let target = self.last.len().checked_sub(1 + depth as usize);
        if let Some(target) = target.and_then(|t| self.last.get_mut(t)) {
            *target = Some(at);
        }
    }

    /// Whether no branch since `start` (an operator's index) went to a construct still
    /// open: code from `start` to here runs whenever `start` is reached, unless it traps.
    pub(crate) fn none_since(&self, start: usize) -> bool {
        self.last.iter().all(|b| b.is_none_or(|b| b < start))
    }
}

/// The calls of the body `ops`, in a module importing `imported` functions.
fn sites(ops: &[Operator<'_>], imported: u32) -> Vec<CallSite> {
    /// An open construct: whether it is a loop, whether it starts a region (a `loop` or
    /// an `if`).
    struct Open {
        is_loop: bool,
        region: bool,
    }
    // The body, then one entry per open `block`, `loop` and `if`; and per open region (the
    // entry, each `loop` body and `if` arm), where it starts.
    let mut open = vec![Open {
        is_loop: false,
        region: true,
    }];
    let mut regions = vec![0usize];
    let mut branches = Branches::new();
    let mut sites = Vec::new();
    for (at, op) in ops.iter().enumerate() {
        let region = regions.last().copied().unwrap_or(0);
        let callee = match op {
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                Some(match function_index.checked_sub(imported) {
                    Some(defined) => Callee::Defined(defined),
                    None => Callee::Imported,
                })
            }
            Operator::CallIndirect { .. } | Operator::ReturnCallIndirect { .. } => {
                Some(Callee::Indirect)
            }
            _ => None,
        };
        if let Some(callee) = callee {
            let certain = branches.none_since(region);
            sites.push(CallSite {
                callee,
                in_loop: open.iter().any(|c| c.is_loop),
                before_unreachable: matches!(ops.get(at + 1), Some(Operator::Unreachable)),
                certain,
                at_entry: regions.len() == 1,
                tail: matches!(
                    op,
                    Operator::ReturnCall { .. } | Operator::ReturnCallIndirect { .. }
                ),
            });
        }
        match op {
            Operator::Block { .. } => open.push(Open {
                is_loop: false,
                region: false,
            }),
            Operator::Loop { .. } | Operator::If { .. } => {
                open.push(Open {
                    is_loop: matches!(op, Operator::Loop { .. }),
                    region: true,
                });
                regions.push(at + 1);
            }
            Operator::Else => {
                regions.pop();
                regions.push(at + 1);
            }
            Operator::End => {
                let closed = open.pop();
                if closed.is_some_and(|closed| closed.region) {
                    regions.pop();
                }
            }
            _ => {}
        }
        branches.walk(at, op);
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per call of the module's last function, whether it is certain.
    fn certain(body: &str) -> Vec<bool> {
        let wasm = wat::parse_str(format!("(module (func $f) {body})")).unwrap();
        let graph = CallGraph::of(&wasm, None).unwrap();
        let last = graph.bodies.last().unwrap();
        last.sites.iter().map(|site| site.certain).collect()
    }

    #[test]
    fn a_call_is_certain_unless_a_branch_before_it_in_its_region_leads_past_it() {
        // Straight code, and a branch that lands before the call.
        assert_eq!(
            certain("(func call $f block br 0 end call $f)"),
            [true, true]
        );
        // A branch past it, from the same block or from an `if` arm before it.
        assert_eq!(
            certain("(func block i32.const 0 br_if 0 call $f end)"),
            [false]
        );
        assert_eq!(
            certain("(func block i32.const 0 if br 1 end call $f end)"),
            [false]
        );
        // A `return`, and a branch back to the loop's head, before it.
        assert_eq!(certain("(func i32.const 0 if return end call $f)"), [false]);
        assert_eq!(
            certain("(func loop i32.const 0 br_if 0 call $f end)"),
            [false]
        );
        // A branch in the region before, out of the loop: the loop's own region starts
        // after it, and its call runs on every iteration.
        assert_eq!(
            certain("(func block i32.const 0 br_if 0 loop call $f i32.const 0 br_if 0 end end)"),
            [true]
        );
        // An `if` arm is a region of its own; an `else` arm starts again.
        assert_eq!(
            certain("(func i32.const 0 if br 0 call $f else call $f end)"),
            [false, true]
        );
    }

    #[test]
    fn what_may_return_to_the_host_is_what_escapes_and_what_its_tail_calls_reach() {
        let wasm = wat::parse_str(
            r#"(module
                (func $exported (export "e") return_call $tail)
                (func $tail return_call $tail_of_tail)
                (func $tail_of_tail call $inner)
                (func $inner)
                (func $in_table)
                (func $unreached return_call $inner)
                (table 1 funcref) (elem (i32.const 0) $in_table))"#,
        )
        .unwrap();
        let graph = CallGraph::of(&wasm, None).unwrap();
        assert_eq!(
            graph.returning_to_host(),
            [true, true, true, false, true, false]
        );
    }
}
