//! Counted loops: innermost loops whose number of iterations is known when they are entered.
//!
//! A tight loop pays for its portable fuel charge and its interruption check on every
//! iteration, and in a loop of four instructions (a sieve's inner loop) that doubles its
//! cost. Compiled code ends most inner loops the same way: it steps a counter local by an
//! amount the loop never changes and branches back while the counter has not reached a bound
//! the loop never changes either:
//!
//! ```text
//! loop
//!   ...                                      ;; no other way back, no write to i or n
//!   local.get $i  i32.const 8  i32.add  local.tee $i
//!   local.get $n  i32.ne       br_if 0
//! end
//! ```
//!
//! or, as Rust's code does, `... i32.eq  br_if $out  br 0` with no way to fall out of the
//! loop's `end`; or with the step earlier in the body, straight in it (so once per
//! iteration), and the tail only reading the counter, as LLVM leaves a loop whose body uses
//! the stepped value. Branches that leave the loop otherwise land on a trap (a bounds check's
//! panic). [`find`] recognises such a loop. The rewrite then emits it twice: at its entry,
//! [`trips`] computes the number of iterations from the counter, the step and the bound,
//! and when it can prove that number (no wrap-around, a bound that will be met), the whole
//! loop's fuel is charged at once and a copy without per-iteration charge or check runs.
//! Otherwise, and when the fuel left cannot pay for every iteration, the loop runs as
//! before. So a guest that can pay for the loop pays exactly what it paid before, and one
//! that cannot still stops before the iteration it cannot pay for; a trap inside the loop
//! leaves its remaining iterations paid and not run.
//!
//! A loop that may also leave early, for anywhere but a trap (a search's `break`, a
//! `return`, mandelbrot's escape), runs at most that number of iterations
//! ([`Counted::early_exits`]). That is enough to leave out its interruption check; its
//! charge is paid in advance and paid back on the way out for the iterations not run
//! ([`Counted::refundable`]; see the [`fuel`](crate::fuel) module).
//!
//! With interruption checks, a loop of more iterations than run in about a million
//! instructions runs its copy in chunks of that many, checked between chunks: the copy
//! compares its counter with each chunk's bound instead of its own ([`Chunking`]). A count by
//! one to a bound compared with `!=` is proved from any start (from the bound itself, a whole
//! turn of 2^32 iterations: [`trips`] emits no way out for it), so without portable fuel such
//! a loop that can run in chunks is emitted without the loop as it was.

use wasm_encoder::{Function, Instruction};
use wasmparser::Operator;

/// An `i32` the loop reads and never writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    /// A constant.
    Const(i32),
    /// A local the loop never writes.
    Local(u32),
}

/// How the back edge compares the stepped counter with the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Go on while `counter != bound`, the step a non-zero constant (a count down to zero is
    /// this with a bound of 0).
    NotEqual,
    /// Go on while `counter < bound` (`<=` when `inclusive`): the counter rises.
    Below {
        /// Signed rather than unsigned comparison.
        signed: bool,
        /// `<=` rather than `<`.
        inclusive: bool,
    },
    /// Go on while `counter > bound` (`>=` when `inclusive`): the counter falls.
    Above {
        /// Signed rather than unsigned comparison.
        signed: bool,
        /// `>=` rather than `>`.
        inclusive: bool,
    },
}

/// A counted loop found by [`find`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    /// The index of the loop's `end`.
    pub(crate) end: usize,
    /// The local stepped at the end of each iteration.
    pub(crate) counter: u32,
    /// What is added to the counter each iteration (`i32.add`, wrapping).
    pub(crate) step: Operand,
    /// What the stepped counter is compared with.
    pub(crate) bound: Operand,
    /// The comparison.
    pub(crate) exit: Exit,
    /// Whether a branch or a `return` may leave the loop early, for anywhere but a trap (a
    /// search's `break`): then the loop runs at most, not exactly, the number of iterations
    /// [`trips`] computes. That still bounds it for interruption; a charge paid in advance
    /// is paid back on the way out ([`Counted::refundable`]).
    pub(crate) early_exits: bool,
    /// Whether every early way out can be paid back what it leaves unrun: a `br`, a
    /// `return`, or a `br_if` to a construct without results (a refund before a `br_if`
    /// carrying values would need a block typed like its target).
    pub(crate) refundable: bool,
    /// The branch that leaves the loop when the count is done, if it does not fall out of its
    /// `end`: the last iteration's, which leaves nothing unrun.
    pub(crate) way_out: Option<usize>,
    /// How a copy that runs the loop in chunks of iterations stops at each chunk's end
    /// ([`Chunking`]), when it can.
    pub(crate) chunking: Option<Chunking>,
}

/// Where a copy of a counted loop is edited to run a chunk of its iterations at a time, an
/// interruption check between chunks: its bound replaced by the chunk's, and its way out when
/// the count is done sent to where the next chunk starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunking {
    /// The instruction that reads the bound: `None` for a count down to 0, whose branch
    /// tests the counter itself.
    pub(crate) bound_at: Option<usize>,
    /// The branch that decides whether the loop goes on.
    pub(crate) decides: usize,
    /// Whether that branch leaves the loop when the count is done (`br_if $out  br 0`)
    /// rather than going back while it is not (`br_if 0`).
    pub(crate) leaves: bool,
    /// The branch that leaves the loop when the count is done, and how many labels past the
    /// loop's own it targets: `None` when the loop falls out of its `end` instead.
    pub(crate) exit: Option<(usize, u32)>,
}

/// Where each construct of a body ends and what encloses each instruction: enough to follow
/// a branch out of a loop to where it lands.
pub(crate) struct Shape {
    /// For a `block`, `loop` or `if`, the index of its `end`.
    ends: Vec<usize>,
    /// The `block`, `loop` or `if` each instruction is directly in (`None`: the body).
    parents: Vec<Option<usize>>,
}

impl Shape {
    /// The shape of a body (its instructions, its final `end` included).
    pub(crate) fn of(ops: &[Operator<'_>]) -> Shape {
        let mut ends = vec![usize::MAX; ops.len()];
        let mut parents = vec![None; ops.len()];
        let mut open: Vec<usize> = Vec::new();
        for (k, op) in ops.iter().enumerate() {
            parents[k] = open.last().copied();
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    open.push(k)
                }
                Operator::End => {
                    if let Some(start) = open.pop() {
                        ends[start] = k;
                    }
                }
                _ => {}
            }
        }
        Shape { ends, parents }
    }

    /// The construct a branch from inside the loop at `at`, `beyond` labels past the loop's
    /// own, targets: `None` for the body's label.
    fn target(&self, at: usize, beyond: u32) -> Option<usize> {
        let mut target = self.parents[at];
        for _ in 0..beyond {
            target = target.and_then(|t| self.parents[t]);
        }
        target
    }

    /// The index of the `end` of the `block`, `loop` or `if` at `at`.
    pub(crate) fn end(&self, at: usize) -> usize {
        self.ends[at]
    }

    /// Whether a branch from inside the loop at `at`, `beyond` labels past the loop's own,
    /// lands on a trap: at the end of a `block` or `if` followed by straight code (calls
    /// allowed: a panic handler's) that ends in `unreachable`. Such a branch only stops
    /// the guest, which leaves the loop's remaining iterations paid for and not run.
    fn lands_on_a_trap(&self, ops: &[Operator<'_>], at: usize, beyond: u32) -> bool {
        use Operator::*;
        let Some(target) = self.target(at, beyond) else {
            return false; // the body's label: a return
        };
        !matches!(ops[target], Loop { .. }) && traps_after(ops, self.ends[target])
    }
}

/// Whether `op` opens or closes a construct or sends control anywhere but to the next
/// instruction (`unreachable` and calls aside).
fn transfers_control(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        Block { .. }
            | Loop { .. }
            | If { .. }
            | Else
            | End
            | Br { .. }
            | BrIf { .. }
            | BrTable { .. }
            | Return
            | ReturnCall { .. }
            | ReturnCallIndirect { .. }
            | ReturnCallRef { .. }
            | Try { .. }
            | TryTable { .. }
            | Catch { .. }
            | CatchAll
            | Delegate { .. }
            | Throw { .. }
            | ThrowRef
            | Rethrow { .. }
            | BrOnNull { .. }
            | BrOnNonNull { .. }
            | BrOnCast { .. }
            | BrOnCastFail { .. }
    )
}

/// Whether the code after `ops[end]` is straight code (calls allowed: a panic handler's)
/// that ends in `unreachable`.
fn traps_after(ops: &[Operator<'_>], end: usize) -> bool {
    use Operator::*;
    for op in ops.iter().skip(end + 1).take(64) {
        match op {
            Unreachable => return true,
            op if transfers_control(op) => return false,
            _ => {}
        }
    }
    false
}

/// The counted loop that starts at `ops[at]`, if it is one: a `loop` with no parameters or
/// results and no loop nested in it, that steps a counter by an invariant amount and
/// compares it with an invariant bound, and that runs on while the comparison holds in
/// one of compiled code's two shapes:
///
/// - `... compare  br_if 0  end`: the back edge at the loop's end, falling out of it after,
///   or leaving by a `br` between the two (`br_if 0  br $out  end`);
/// - `... compare  br_if $out  br 0`: out of the loop when the comparison holds (the
///   opposite one), back otherwise; falling out of the loop's `end`, if it can, lands on
///   a trap.
///
/// Any other branch or `return` out of the loop is an early exit, unless it lands on a trap
/// (a bounds check's panic). The counter, step and bound are written only by the step (in
/// the tail, or straight in the body before it), or right before leaving the loop. The loop
/// calls nothing but a panic handler right before `unreachable`: a call may run long, and
/// costs far more than the charge saved, where the trip count's proof costs some 15
/// instructions at each entry (shootout-ackermann, which enters a loop of a trip or two in
/// every call, ran 11-25 % more instructions hosted with its loop counted).
pub(crate) fn find(ops: &[Operator<'_>], shape: &Shape, at: usize) -> Option<Counted> {
    find_in(ops, shape, at, false)
}

/// How many times the loop that starts at `ops[at]` runs, when that number is a constant
/// of the code and the loop holds loops, none of which holds another: a loop over a few
/// rows, bodies or dimensions around an inner loop. Its counter is set to a constant right
/// before it, stepped by a constant towards a constant bound as in a counted loop ([`find`],
/// inner loops allowed), and written nowhere else; it calls nothing but a panic handler.
/// A loop that may leave early runs at most that many times.
pub(crate) fn constant_trips(ops: &[Operator<'_>], shape: &Shape, at: usize) -> Option<u64> {
    let counted = find_in(ops, shape, at, true)?;
    let (Operand::Const(step), Operand::Const(bound)) = (counted.step, counted.bound) else {
        return None;
    };
    let start = constant_before(ops, at, counted.counter)?;
    trips_between(start, step, bound, counted.exit)
}

/// The constant the local `counter` holds when control reaches `ops[at]`: written by
/// `i32.const c  local.set` (or `local.tee`) in the straight code right before it.
fn constant_before(ops: &[Operator<'_>], at: usize, counter: u32) -> Option<i32> {
    use Operator::*;
    for k in (1..at).rev() {
        match &ops[k] {
            LocalSet { local_index } | LocalTee { local_index } if *local_index == counter => {
                return match ops[k - 1] {
                    I32Const { value } => Some(value),
                    _ => None,
                };
            }
            op if transfers_control(op) => return None,
            Call { .. } | CallIndirect { .. } | CallRef { .. } => return None,
            _ => {}
        }
    }
    None
}

/// How many iterations a loop runs from a counter of `start`, stepped by `step` before each
/// comparison with `bound` by `exit`: `None` when it would wrap around or never meet the
/// bound exactly.
fn trips_between(start: i32, step: i32, bound: i32, exit: Exit) -> Option<u64> {
    match exit {
        Exit::NotEqual => {
            // The first k with start + k * step == bound (mod 2^32): the distance over the
            // step, when it divides exactly (no smaller k can wrap onto the bound, since
            // k * |step| stays under 2^32).
            let distance = match step {
                0 => return None,
                1.. => (bound as u32).wrapping_sub(start as u32),
                _ => (start as u32).wrapping_sub(bound as u32),
            };
            let by = step.unsigned_abs();
            (distance != 0 && distance % by == 0).then_some(u64::from(distance / by))
        }
        Exit::Below { signed, inclusive } | Exit::Above { signed, inclusive } => {
            let widen = |v: i32| {
                if signed {
                    i64::from(v)
                } else {
                    i64::from(v as u32)
                }
            };
            let (lowest, highest) = match signed {
                true => (i64::from(i32::MIN), i64::from(i32::MAX)),
                false => (0, i64::from(u32::MAX)),
            };
            let (start, step) = (widen(start), i64::from(step));
            let rises = matches!(exit, Exit::Below { .. });
            // Going on while the counter is below `limit` (rising) or above it (falling).
            let limit = match (rises, inclusive) {
                (true, true) => widen(bound) + 1,
                (false, true) => widen(bound) - 1,
                _ => widen(bound),
            };
            let trips = match rises {
                true if step >= 1 => ((limit - start).max(1) + step - 1) / step,
                false if step <= -1 => ((start - limit).max(1) + (-step) - 1) / (-step),
                _ => return None,
            };
            // The counter the last comparison sees must not have wrapped around.
            let last = start + trips * step;
            (lowest..=highest).contains(&last).then_some(trips as u64)
        }
    }
}

/// [`find`], or with `nested`, the same for a loop holding loops that hold none.
fn find_in(ops: &[Operator<'_>], shape: &Shape, at: usize, nested: bool) -> Option<Counted> {
    use Operator::*;
    if !matches!(
        ops.get(at)?,
        Loop {
            blockty: wasmparser::BlockType::Empty
        }
    ) {
        return None;
    }
    let end = *shape.ends.get(at)?;
    if end >= ops.len() {
        return None;
    }
    // Constructs open inside the loop: a branch by `depth` labels targets the loop itself,
    // by more it leaves the loop.
    let mut depth = 0u32;
    let mut back_edge = None;
    // Branches out of the loop, and by how many labels past the loop's.
    let mut leaving = Vec::new();
    let mut returns = false;
    // The constructs open inside the loop at each instruction, by its index from the loop's
    // start (not from the body's: a large function has many loops).
    let mut depths = vec![0u32; end - at + 1];
    // With `nested`, the end of the inner loop being read, if any.
    let mut inner_end: Option<usize> = None;
    for (k, op) in ops.iter().enumerate().take(end).skip(at + 1) {
        depths[k - at] = depth;
        if inner_end.is_some_and(|e| k > e) {
            inner_end = None;
        }
        let fine = match op {
            Block { .. } | If { .. } => {
                depth += 1;
                true
            }
            Loop { .. } if nested && inner_end.is_none() => {
                inner_end = Some(shape.ends[k]);
                depth += 1;
                true
            }
            End => {
                depth = depth.saturating_sub(1);
                true
            }
            Br { relative_depth } | BrIf { relative_depth } => {
                if *relative_depth > depth {
                    leaving.push((k, *relative_depth - depth - 1));
                }
                // A second way back to the loop's head is refused.
                *relative_depth != depth || back_edge.replace(k).is_none()
            }
            BrTable { targets } => targets
                .targets()
                .chain([Ok(targets.default())])
                .all(|t| t.is_ok_and(|t| t < depth)),
            // A call right before `unreachable` (a bounds check's panic) runs once, not
            // each iteration.
            Call { .. } | CallIndirect { .. } | CallRef { .. } => {
                matches!(ops.get(k + 1), Some(Unreachable))
            }
            Else => true,
            Return => {
                returns = true;
                true
            }
            // Another loop (only innermost loops are copied), and every other way out.
            op if transfers_control(op) => false,
            _ => true,
        };
        if !fine {
            return None;
        }
    }
    let back_edge = back_edge?;
    // The first shape may leave by a `br` right after its back edge, the loop's last
    // instruction (LLVM's vectorized loops do): run once, on the way out.
    let br_out = (back_edge + 2 == end
        && matches!(ops[back_edge + 1], Br { .. })
        && leaving.iter().any(|&(k, _)| k == back_edge + 1))
    .then_some(back_edge + 1);
    // The branch whose condition decides whether the loop goes on, and whether it leaves
    // the loop (the second shape) or goes back (the first).
    let (decides, leaves) = match ops[back_edge] {
        BrIf { .. } if back_edge + 1 == end || br_out.is_some() => (back_edge, false),
        // The branch before the back edge leaves the loop, and falling out of the loop's
        // end, if it can, traps.
        Br { .. }
            if matches!(ops[back_edge - 1], BrIf { .. })
                && leaving.iter().any(|&(k, _)| k == back_edge - 1)
                && (!falls_out(ops, end) || traps_after(ops, end)) =>
        {
            (back_edge - 1, true)
        }
        _ => return None,
    };
    let exit_branch = if leaves { Some(decides) } else { br_out };
    // Whether a branch `beyond` labels past the loop's own targets a construct without
    // results (its label takes no values).
    let plain_target = |beyond: u32| {
        shape.target(at, beyond).is_some_and(|t| {
            matches!(
                ops[t],
                Block {
                    blockty: wasmparser::BlockType::Empty
                } | Loop {
                    blockty: wasmparser::BlockType::Empty
                } | If {
                    blockty: wasmparser::BlockType::Empty
                }
            )
        })
    };
    let refundable = leaving
        .iter()
        .all(|&(k, beyond)| matches!(ops[k], Br { .. }) || plain_target(beyond));
    let early_exits = returns
        || !leaving
            .iter()
            .all(|&(k, beyond)| Some(k) == exit_branch || shape.lands_on_a_trap(ops, at, beyond));
    // The step of a counter stepped before the tail: the one write to it that goes on
    // looping, straight in the loop's body (in no construct, so every iteration runs it once).
    let step_of = |local: u32| {
        let writes_local = |op: &Operator<'_>| match op {
            LocalSet { local_index } | LocalTee { local_index } => *local_index == local,
            _ => false,
        };
        let mut writes = (at + 1..end)
            .filter(|&k| writes_local(&ops[k]) && !leaves_straight_after(ops, k, depths[k - at]));
        let k = writes.next()?;
        if writes.next().is_some() || depths[k - at] != 0 {
            return None;
        }
        stepped(ops, k).map(|(_, _, by)| Step { at: k, by })
    };
    let Tail {
        start: tail,
        counter,
        step: Step {
            at: stepped_at,
            by: step,
        },
        bound,
        bound_at,
        exit,
    } = tail(ops, decides, leaves, &step_of)?;
    if tail <= at || stepped_at <= at {
        return None;
    }
    let invariant = |operand: Operand| match operand {
        Operand::Const(_) => true,
        Operand::Local(local) => local != counter,
    };
    if !invariant(step) || !invariant(bound) {
        return None;
    }
    // Nothing but the tail writes the counter, the step or the bound, on the way to another
    // iteration: a write on the way out (Rust's `break` keeping the counter) changes nothing.
    let read = |local: u32| {
        local == counter || step == Operand::Local(local) || bound == Operand::Local(local)
    };
    let written = |k: usize, op: &Operator<'_>| {
        let in_tail = (tail..decides).contains(&k) || k == stepped_at;
        !in_tail
            && matches!(op, LocalSet { local_index } | LocalTee { local_index } if read(*local_index))
            && !leaves_straight_after(ops, k, depths[k - at])
    };
    if ops[at + 1..end]
        .iter()
        .enumerate()
        .any(|(k, op)| written(at + 1 + k, op))
    {
        return None;
    }
    let step_fits = match (exit, step) {
        (Exit::NotEqual, Operand::Const(c)) => c != 0,
        (Exit::NotEqual, Operand::Local(_)) => false,
        (Exit::Below { .. }, Operand::Const(c)) => c >= 1,
        (Exit::Above { .. }, Operand::Const(c)) => c <= -1,
        (_, Operand::Local(_)) => true,
    };
    // The way out when the count is done, unless the loop falls out of its end.
    let exit_at = exit_branch.map(|k| {
        let beyond = leaving
            .iter()
            .find(|&&(j, _)| j == k)
            .map_or(0, |&(_, b)| b);
        (k, beyond)
    });
    // Run in chunks, the copy leaves by that way to where the next chunk starts: a block
    // without results, and the loop must not fall out of its end (onto a trap) instead.
    let empty = |(_, beyond): (usize, u32)| plain_target(beyond);
    let chunkable = match exit_at {
        None => true,
        Some(exit) => empty(exit) && !(leaves && falls_out(ops, end)),
    };
    let chunking = chunkable.then_some(Chunking {
        bound_at,
        decides,
        leaves,
        exit: exit_at,
    });
    step_fits.then_some(Counted {
        end,
        counter,
        step,
        bound,
        exit,
        early_exits,
        refundable,
        way_out: exit_branch,
        chunking,
    })
}

/// Whether the code after `ops[k]`, inside a loop with `depth` constructs open around it,
/// runs straight (no call, no branch, no construct) to a `br` or `return` out of the loop.
fn leaves_straight_after(ops: &[Operator<'_>], k: usize, depth: u32) -> bool {
    use Operator::*;
    for op in ops.iter().skip(k + 1) {
        match op {
            Br { relative_depth } => return *relative_depth > depth,
            Return | Unreachable => return true,
            Call { .. } | CallIndirect { .. } | CallRef { .. } => return false,
            op if transfers_control(op) => return false,
            _ => {}
        }
    }
    false
}

/// Whether control can fall out of the `end` at `ops[end]` of a loop: not when the
/// instruction before it is an unconditional branch, `return` or `unreachable`.
fn falls_out(ops: &[Operator<'_>], end: usize) -> bool {
    !matches!(
        ops[end - 1],
        Operator::Br { .. } | Operator::BrTable { .. } | Operator::Return | Operator::Unreachable
    )
}

/// The end of a counted loop's body that steps its counter and compares it with the bound.
struct Tail {
    /// Where it starts.
    start: usize,
    counter: u32,
    /// How the counter is stepped: in the tail, or before it.
    step: Step,
    bound: Operand,
    /// The instruction that reads the bound: `None` for a count down to 0, whose branch
    /// tests the counter itself.
    bound_at: Option<usize>,
    /// The condition to go on.
    exit: Exit,
}

/// Where a counter is stepped (its `local.tee` or `local.set`), and by what.
struct Step {
    at: usize,
    by: Operand,
}

/// The loop's tail that ends at the conditional branch `ops[branch]` deciding whether it goes
/// on, the condition to go on being the branch's own, or its opposite when it `leaves` the
/// loop.
///
/// The counter is stepped in the tail, or read there and stepped earlier in the body, where
/// `step_of` finds its step (LLVM moves the step up when the body reads the stepped value).
fn tail(
    ops: &[Operator<'_>],
    branch: usize,
    leaves: bool,
    step_of: &dyn Fn(u32) -> Option<Step>,
) -> Option<Tail> {
    let (start, counter, step, bound_at, exit) = tail_parts(ops, branch, leaves, step_of)?;
    let bound = match bound_at {
        Some(at) => operand(&ops[at])?,
        None => Operand::Const(0),
    };
    Some(Tail {
        start,
        counter,
        step,
        bound,
        bound_at,
        exit,
    })
}

/// [`tail`]'s parts: where it starts, the counter, where it is stepped and by what, where the
/// bound is read (none for a count down to 0) and the condition to go on.
fn tail_parts(
    ops: &[Operator<'_>],
    branch: usize,
    leaves: bool,
    step_of: &dyn Fn(u32) -> Option<Step>,
) -> Option<(usize, u32, Step, Option<usize>, Exit)> {
    use Operator::*;
    // The counter stepped by the `local.tee` at `k`, in the tail.
    let teed = |k: usize| {
        let (start, counter, step) =
            stepped(ops, k).filter(|_| matches!(ops[k], LocalTee { .. }))?;
        Some((start, counter, Step { at: k, by: step }))
    };
    // The counter read at `k`, stepped before the tail.
    let read = |k: usize| match ops[k] {
        LocalGet { local_index } => Some((k, local_index, step_of(local_index)?)),
        _ => None,
    };
    let before = branch.checked_sub(1)?;
    // A count down: `... local.tee $i  br_if 0`, going on while the counter is not 0, or
    // `... local.tee $i  i32.eqz  br_if $out`.
    let tested = match (leaves, &ops[before]) {
        (false, _) => Some(before),
        (true, I32Eqz) => before.checked_sub(1),
        _ => None,
    };
    if let Some((start, counter, step)) = tested.and_then(|k| teed(k).or_else(|| read(k))) {
        return Some((start, counter, step, None, Exit::NotEqual));
    }
    let below = |signed, inclusive| Some(Exit::Below { signed, inclusive });
    let above = |signed, inclusive| Some(Exit::Above { signed, inclusive });
    let exit = match (leaves, &ops[before]) {
        (false, I32Ne) | (true, I32Eq) => Some(Exit::NotEqual),
        (false, I32LtU) | (true, I32GeU) => below(false, false),
        (false, I32LtS) | (true, I32GeS) => below(true, false),
        (false, I32LeU) | (true, I32GtU) => below(false, true),
        (false, I32LeS) | (true, I32GtS) => below(true, true),
        (false, I32GtU) | (true, I32LeU) => above(false, false),
        (false, I32GtS) | (true, I32LeS) => above(true, false),
        (false, I32GeU) | (true, I32LtU) => above(false, true),
        (false, I32GeS) | (true, I32LtS) => above(true, true),
        _ => None,
    }?;
    let swapped = match exit {
        Exit::NotEqual => Exit::NotEqual,
        Exit::Below { signed, inclusive } => Exit::Above { signed, inclusive },
        Exit::Above { signed, inclusive } => Exit::Below { signed, inclusive },
    };
    let operand_at = before.checked_sub(1)?;
    // `counter, bound, compare`, the counter stepped in the tail or read.
    if let (Some(_), Some((start, counter, step))) = (
        operand(&ops[operand_at]),
        operand_at
            .checked_sub(1)
            .and_then(|first| teed(first).or_else(|| read(first))),
    ) {
        return Some((start, counter, step, Some(operand_at), exit));
    }
    // `bound, counter, compare`: the comparison read the other way round.
    let (start, counter, step) = teed(operand_at).or_else(|| read(operand_at))?;
    let bound_at = start.checked_sub(1)?;
    Some((bound_at, counter, step, Some(bound_at), swapped))
}

/// The counter stepped by `local.get $i  step  i32.add  local.tee $i` (or `local.set $i`, or
/// the `i32.add`'s operands the other way round, or `i32.sub` of a constant) that ends at
/// `ops[write]`: where it starts, the counter and the step.
fn stepped(ops: &[Operator<'_>], write: usize) -> Option<(usize, u32, Operand)> {
    use Operator::*;
    let (LocalTee {
        local_index: counter,
    }
    | LocalSet {
        local_index: counter,
    }) = ops[write]
    else {
        return None;
    };
    let start = write.checked_sub(3)?;
    let is_counter =
        |op: &Operator<'_>| matches!(op, LocalGet { local_index } if *local_index == counter);
    let step = match (&ops[start], &ops[start + 1], &ops[start + 2]) {
        (a, b, I32Add) if is_counter(a) => operand(b)?,
        (a, b, I32Add) if is_counter(b) => operand(a)?,
        (a, I32Const { value }, I32Sub) if is_counter(a) => Operand::Const(value.wrapping_neg()),
        _ => return None,
    };
    Some((start, counter, step))
}

fn operand(op: &Operator<'_>) -> Option<Operand> {
    match op {
        Operator::I32Const { value } => Some(Operand::Const(*value)),
        Operator::LocalGet { local_index } => Some(Operand::Local(*local_index)),
        _ => None,
    }
}

/// Emits, at the loop's entry, the computation of its number of iterations into the `i64`
/// local `trips`, and a `br_if 0` (to a block the caller opened) wherever that number cannot
/// be proved: the counter would wrap around, or the bound would never be met exactly.
/// Returns whether it emitted any: none for a count by one, up or down, to a bound compared
/// with `!=`, which meets it within one turn of the `i32` range from any start.
///
/// The proof is in `i32`s. The number of iterations is `⌈d / step⌉` for a distance `d` of 1
/// to 2^32, so `d − 1` fits a u32 and the count is `(d − 1) / step + 1`; each test compares
/// the operands as the loop does, against a threshold that also fits. An `i32` division
/// where the step is not a power of two, not an `i64` one: on the entry of sieve's inner
/// loop (`k += i`, entered 564 times a pass for one to a few thousand stores), the `i64`
/// division was most of the hosted profile's cost on wasmtime (its module instrumented and
/// run as a plain one, whole process, best of five on a Zen 3: 0.38 s with it, 0.30 s with
/// the `i32` one, 0.29 s with none, 0.24 s uninstrumented), and the proof's `i64` tests most
/// of what was left of it on wasmer.
pub(crate) fn trips(f: &mut Function, counted: &Counted, trips: u32) -> bool {
    use Instruction::*;
    let push = |f: &mut Function, operand: Operand| {
        match operand {
            Operand::Const(c) => f.instruction(&I32Const(c)),
            Operand::Local(local) => f.instruction(&LocalGet(local)),
        };
    };
    let counter = Operand::Local(counted.counter);
    let (bound, step) = (counted.bound, counted.step);
    // Picks the signed or unsigned form of a comparison.
    let compare = |signed: bool, (s, u): (Instruction<'static>, Instruction<'static>)| {
        if signed { s } else { u }
    };
    match counted.exit {
        Exit::NotEqual => {
            let Operand::Const(step) = step else {
                unreachable!("`find` keeps only constant steps with `!=`")
            };
            // The distance to go, in the direction of the step, modulo 2^32: the bound is
            // met exactly when the step divides it.
            let (from, to) = match step > 0 {
                true => (counter, bound),
                false => (bound, counter),
            };
            push(f, to);
            push(f, from);
            // A distance of 0 is a whole turn, 2^32 steps of the counter (which `!=` stops at
            // 2^32 / |step| iterations when the step divides it): the distance taken in 1..=2^32
            // as one less, wrapped, plus one, without a branch. Taking 0 for unprovable kept a
            // path to the loop as it was, and with it values alive around n-body's copies (its
            // rows' counter and the flags' base in stack slots: armed / off in instructions
            // 1.068 with that path, 1.047 without, on raw wasmtime); testing for 0 at all cost
            // Mandelbrot's inner loop, entered once per pixel, 1.5 % more instructions.
            f.instruction(&I32Sub)
                .instruction(&I32Const(1))
                .instruction(&I32Sub)
                .instruction(&I64ExtendI32U)
                .instruction(&I64Const(1))
                .instruction(&I64Add)
                .instruction(&LocalSet(trips));
            divide_exactly(f, trips, step.unsigned_abs() as u64)
        }
        Exit::Below { signed, inclusive } => {
            // i_k = i_0 + k·s, going on while i_k < n (n + 1 when inclusive): k = ⌈(n − i_0) /
            // s⌉ when i_0 < n and no i_k wraps (n − 1 + s fits the type).
            if let Operand::Local(local) = step {
                // As the comparison reads it, the step must be positive.
                f.instruction(&LocalGet(local));
                if signed {
                    f.instruction(&I32Const(1)).instruction(&I32LtS);
                } else {
                    f.instruction(&I32Eqz);
                }
                f.instruction(&BrIf(0));
            }
            // At least one iteration: i_0 < n (<= when inclusive).
            push(f, counter);
            push(f, bound);
            let first = match inclusive {
                false => compare(signed, (I32GeS, I32GeU)),
                true => compare(signed, (I32GtS, I32GtU)),
            };
            f.instruction(&first).instruction(&BrIf(0));
            // No wrap-around: the bound (plus one when inclusive) at most (max + 1) − s, which
            // is in 1..=max for a positive step.
            push(f, bound);
            f.instruction(&I32Const(if signed { i32::MIN } else { 0 }));
            push(f, step);
            f.instruction(&I32Sub);
            let wraps = match inclusive {
                false => compare(signed, (I32GtS, I32GtU)),
                true => compare(signed, (I32GeS, I32GeU)),
            };
            f.instruction(&wraps).instruction(&BrIf(0));
            // The distance less one: n − i_0 − 1 (n − i_0 when inclusive).
            push(f, bound);
            push(f, counter);
            f.instruction(&I32Sub);
            if !inclusive {
                f.instruction(&I32Const(1)).instruction(&I32Sub);
            }
            let rise = match step {
                // `find` keeps constant steps of at least 1.
                Operand::Const(c) => Divisor::Const(c as u32 as u64),
                Operand::Local(local) => Divisor::I32(local),
            };
            count_from_less_one(f, rise);
            f.instruction(&LocalSet(trips));
            true
        }
        Exit::Above { signed, inclusive } => {
            // i_k = i_0 − k·t with t = −s, going on while i_k > n (n − 1 when inclusive):
            // k = ⌈(i_0 − n) / t⌉ when i_0 > n and no i_k wraps (n + 1 − t fits the type).
            if let Operand::Local(local) = step {
                // The step must be negative, read signed: the fall t in 1..=2^31.
                f.instruction(&LocalGet(local))
                    .instruction(&I32Const(0))
                    .instruction(&I32GeS)
                    .instruction(&BrIf(0));
            }
            // At least one iteration: i_0 > n (>= when inclusive).
            push(f, counter);
            push(f, bound);
            let first = match inclusive {
                false => compare(signed, (I32LeS, I32LeU)),
                true => compare(signed, (I32LtS, I32LtU)),
            };
            f.instruction(&first).instruction(&BrIf(0));
            // No wrap-around: the bound (less one when inclusive) at least (min − 1) + t:
            // max − s signed, −1 − s unsigned, wrapping to the value for a negative step.
            push(f, bound);
            f.instruction(&I32Const(if signed { i32::MAX } else { -1 }));
            push(f, step);
            f.instruction(&I32Sub);
            let wraps = match inclusive {
                false => compare(signed, (I32LtS, I32LtU)),
                true => compare(signed, (I32LeS, I32LeU)),
            };
            f.instruction(&wraps).instruction(&BrIf(0));
            // The distance less one: i_0 − n − 1 (i_0 − n when inclusive).
            push(f, counter);
            push(f, bound);
            f.instruction(&I32Sub);
            if !inclusive {
                f.instruction(&I32Const(1)).instruction(&I32Sub);
            }
            let fall = match step {
                // `find` keeps constant steps of at most −1.
                Operand::Const(c) => Divisor::Const((c as i64).unsigned_abs()),
                Operand::Local(local) => Divisor::NegatedI32(local),
            };
            count_from_less_one(f, fall);
            f.instruction(&LocalSet(trips));
            true
        }
    }
}

/// What a distance is divided by: a step's magnitude, 1 to 2^32 − 1.
#[derive(Clone, Copy)]
enum Divisor {
    Const(u64),
    /// An `i32` local, read unsigned.
    I32(u32),
    /// An `i32` local negated (a negative step: the fall).
    NegatedI32(u32),
}

impl Divisor {
    /// Pushes the divisor as an `i32`, read unsigned.
    fn push_u32(self, f: &mut Function) {
        use Instruction::*;
        match self {
            Divisor::Const(c) => f.instruction(&I32Const(c as u32 as i32)),
            Divisor::I32(local) => f.instruction(&LocalGet(local)),
            Divisor::NegatedI32(local) => f
                .instruction(&I32Const(0))
                .instruction(&LocalGet(local))
                .instruction(&I32Sub),
        };
    }
}

/// Divides the distance in `trips` (in 1..=2^32) by `step`, branching out when it does not
/// divide it. Returns whether it emitted that branch (not for a step of 1).
fn divide_exactly(f: &mut Function, trips: u32, step: u64) -> bool {
    use Instruction::*;
    if step == 1 {
        return false;
    }
    if step.is_power_of_two() {
        f.instruction(&LocalGet(trips))
            .instruction(&I64Const(step as i64 - 1))
            .instruction(&I64And)
            .instruction(&I64Const(0))
            .instruction(&I64Ne)
            .instruction(&BrIf(0))
            .instruction(&LocalGet(trips))
            .instruction(&I64Const(step.trailing_zeros() as i64))
            .instruction(&I64ShrU);
    } else {
        // In `i32`s, as in `trips`: with `m` the distance less one, the step divides the
        // distance when `m` leaves a remainder of `step − 1`.
        let less_one = |f: &mut Function| {
            f.instruction(&LocalGet(trips))
                .instruction(&I64Const(1))
                .instruction(&I64Sub)
                .instruction(&I32WrapI64);
        };
        less_one(f);
        f.instruction(&I32Const(step as i32))
            .instruction(&I32RemU)
            .instruction(&I32Const(step as i32 - 1))
            .instruction(&I32Ne)
            .instruction(&BrIf(0));
        less_one(f);
        count_from_less_one(f, Divisor::Const(step));
    }
    f.instruction(&LocalSet(trips));
    true
}

/// Replaces `m` (an `i32` read unsigned) on the stack with the `i64` `m / divisor + 1`: the
/// number of iterations, `⌈(m + 1) / divisor⌉`, of a count whose distance is `m + 1`.
fn count_from_less_one(f: &mut Function, divisor: Divisor) {
    use Instruction::*;
    match divisor {
        Divisor::Const(1) => {}
        Divisor::Const(c) if c.is_power_of_two() => {
            f.instruction(&I32Const(c.trailing_zeros() as i32))
                .instruction(&I32ShrU);
        }
        _ => {
            divisor.push_u32(f);
            f.instruction(&I32DivU);
        }
    }
    f.instruction(&I64ExtendI32U)
        .instruction(&I64Const(1))
        .instruction(&I64Add);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `find` on the first loop of the one function in `body`.
    fn found(locals: &str, body: &str) -> Option<Counted> {
        with_first_loop(locals, body, find)
    }

    /// `what` of the one function in `body`, its shape and the index of its first loop.
    fn with_first_loop<T>(
        locals: &str,
        body: &str,
        what: fn(&[Operator<'_>], &Shape, usize) -> Option<T>,
    ) -> Option<T> {
        let wat = format!("(module (func (param $a i32) (param $b i32) {locals} {body}))");
        let wasm = wat::parse_str(wat).unwrap();
        let ops = crate::ops::first_body(&wasm);
        let at = ops
            .iter()
            .position(|op| matches!(op, Operator::Loop { .. }));
        what(&ops, &Shape::of(&ops), at.unwrap())
    }

    const I: &str = "(local $i i32) (local $x i32)";

    #[test]
    fn the_shapes_compiled_code_ends_loops_with_are_counted() {
        let exit = |body: &str| found(I, body).map(|c| (c.step, c.bound, c.exit));
        let below = Exit::Below {
            signed: false,
            inclusive: false,
        };
        // Stepped by a constant up to a local, with `!=`.
        assert_eq!(
            exit(
                "loop $l local.get $i i32.const 4 i32.add local.tee $i local.get $b i32.ne br_if $l end"
            ),
            Some((Operand::Const(4), Operand::Local(1), Exit::NotEqual))
        );
        // Stepped by a local (a sieve), the step first, below a constant.
        assert_eq!(
            exit(
                "loop $l local.get $a local.get $i i32.add local.tee $i i32.const 99 i32.lt_u br_if $l end"
            ),
            Some((Operand::Local(0), Operand::Const(99), below))
        );
        // The bound first: `b > i` is `i < b`.
        assert_eq!(
            exit(
                "loop $l local.get $b local.get $i i32.const 1 i32.add local.tee $i i32.gt_s br_if $l end"
            ),
            Some((
                Operand::Const(1),
                Operand::Local(1),
                Exit::Below {
                    signed: true,
                    inclusive: false
                }
            ))
        );
        // A count down to 0, and a constant subtracted.
        assert_eq!(
            exit("loop $l local.get $i i32.const -1 i32.add local.tee $i br_if $l end"),
            Some((Operand::Const(-1), Operand::Const(0), Exit::NotEqual))
        );
        assert_eq!(
            exit(
                "loop $l local.get $i i32.const 2 i32.sub local.tee $i local.get $b i32.ge_u br_if $l end"
            ),
            Some((
                Operand::Const(-2),
                Operand::Local(1),
                Exit::Above {
                    signed: false,
                    inclusive: true
                }
            ))
        );
        // Out by a branch right after the back edge, as vectorized loops leave.
        assert_eq!(
            exit(
                "block $out loop $l local.get $i i32.const -2 i32.add local.tee $i br_if $l \
                 br $out end end"
            ),
            Some((Operand::Const(-2), Operand::Const(0), Exit::NotEqual))
        );
        // Not when anything comes between them.
        assert!(
            found(
                I,
                "block $out loop $l local.get $i i32.const -2 i32.add local.tee $i br_if $l \
                 nop br $out end end"
            )
            .is_none()
        );
        // Branches inside the body are fine; a call is not.
        let inside = "loop $l block local.get $x br_if 0 end local.get $x if nop else nop end \
                      local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.ne br_if $l end";
        assert!(found(I, inside).is_some());
        let calling = inside.replace("nop else", "call 0 else");
        assert!(found(I, &calling).is_none());
    }

    #[test]
    fn rust_s_shape_out_when_done_back_otherwise_with_bounds_checks_is_counted() {
        // A bounds check branching to a panic, out when `i == b`, back otherwise.
        let rust = |landing: &str| {
            format!(
                "block $done block $panic loop $l \
                   local.get $i i32.const 64 i32.ge_u br_if $panic \
                   local.get $b local.get $i i32.const 1 i32.add local.tee $i i32.eq br_if $done \
                   br $l \
                 end end {landing} end"
            )
        };
        assert_eq!(
            found(I, &rust("i32.const 1 call 0 unreachable")).map(|c| (c.bound, c.exit)),
            Some((Operand::Local(1), Exit::NotEqual))
        );
        // A bounds check inside a block whose end falls out of the loop's end, onto a trap.
        let falling = "block $done loop $l block $check \
                         local.get $i i32.const 64 i32.ge_u br_if $check \
                         local.get $b local.get $i i32.const 1 i32.add local.tee $i i32.eq \
                         br_if $done br $l \
                       end end i32.const 1 call 0 unreachable end";
        assert!(found(I, falling).is_some());
        assert_eq!(
            found(I, &falling.replace("call 0 unreachable", "drop")),
            None
        );
        // The back edge must follow the branch out directly; and that branch must leave.
        for other in ["drop", "br_if $check"] {
            let wat = falling.replace("br_if $done br $l", &format!("{other} br $l"));
            assert_eq!(found(I, &wat), None, "{other}");
        }
        // Counted, the bounds check included, with no early way out.
        assert_eq!(
            found(I, &rust("i32.const 1 call 0 unreachable")).map(|c| c.early_exits),
            Some(false)
        );
        // A branch out that lands anywhere but on a trap is an early way out.
        for landing in ["i32.const 1 drop", "i32.const 1 br_if 0 unreachable"] {
            let counted = found(I, &rust(landing));
            assert_eq!(counted.map(|c| c.early_exits), Some(true), "{landing}");
        }
    }

    #[test]
    fn loops_that_may_leave_early_are_bounded_by_their_count() {
        let tail = "local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.ne br_if $l";
        let early = |body: &str| {
            let wat = format!("(block $out loop $l {body} {tail} end)");
            found(I, &wat).map(|c| c.early_exits)
        };
        for body in [
            // A search's `break`, from the loop and from a block in it, and a `return`.
            "local.get $x br_if $out",
            "block local.get $x br_if $out end",
            "local.get $x if return end",
            // Mandelbrot's escape: the counter written on the way out only.
            "block local.get $x br_if 0 i32.const 7 local.set $i br $out end",
            "local.get $x if local.get $i local.tee $b drop return end",
        ] {
            assert_eq!(early(body), Some(true), "{body}");
        }
        for body in [
            // The counter written on a way that goes on looping.
            "block local.get $x br_if 0 i32.const 7 local.set $i end",
            "local.get $x if i32.const 7 local.set $i end",
            // Or on the way out through a call, which may run long.
            "block local.get $x br_if 0 i32.const 7 local.set $i call 0 br $out end",
            // Another way back.
            "local.get $x br_if $l",
        ] {
            assert_eq!(early(body), None, "{body}");
        }
    }

    #[test]
    fn loops_that_step_their_counter_before_the_tail_are_counted() {
        let exit = |body: &str| found(I, body).map(|c| (c.counter, c.step, c.bound, c.exit));
        // Spectral norm's inner loop: `i += 1` first, the body reading it, then `b != i`.
        assert_eq!(
            exit(
                "loop $l local.get $i i32.const 1 i32.add local.tee $i local.get $x i32.add drop \
                 local.get $b local.get $i i32.ne br_if $l end"
            ),
            Some((2, Operand::Const(1), Operand::Local(1), Exit::NotEqual))
        );
        // By a `local.set`, a block between the step and the tail, `i < 99` signed.
        assert_eq!(
            exit(
                "loop $l local.get $i local.get $a i32.add local.set $i \
                 block local.get $x br_if 0 end local.get $i i32.const 99 i32.lt_s br_if $l end"
            ),
            Some((
                2,
                Operand::Local(0),
                Operand::Const(99),
                Exit::Below {
                    signed: true,
                    inclusive: false
                }
            ))
        );
        // A count down to 0 that tests the counter itself.
        assert_eq!(
            exit(
                "loop $l local.get $i i32.const -1 i32.add local.set $i local.get $i br_if $l end"
            ),
            Some((2, Operand::Const(-1), Operand::Const(0), Exit::NotEqual))
        );
        let tail = "local.get $b local.get $i i32.ne br_if $l";
        for body in [
            // Stepped only on some iterations: in a block or an `if`.
            "block local.get $x br_if 0 local.get $i i32.const 1 i32.add local.set $i end",
            "local.get $x if local.get $i i32.const 1 i32.add local.set $i end",
            // Stepped twice, or stepped and written.
            "local.get $i i32.const 1 i32.add local.set $i local.get $i i32.const 1 i32.add local.set $i",
            "local.get $i i32.const 1 i32.add local.set $i local.get $x local.set $i",
            // Not a step.
            "local.get $i i32.const 1 i32.mul local.set $i",
            // Never stepped.
            "",
        ] {
            let wat = format!("loop $l {body} {tail} end");
            assert_eq!(found(I, &wat), None, "{body}");
        }
        // A write on the way out is not a step.
        let wat = format!(
            "block $out loop $l local.get $i i32.const 1 i32.add local.set $i \
             block local.get $x br_if 0 i32.const 7 local.set $i br $out end {tail} end end"
        );
        assert!(found(I, &wat).is_some_and(|c| c.early_exits));
    }

    #[test]
    fn loops_whose_count_cannot_be_known_at_entry_are_not_counted() {
        let tail = "local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.ne br_if $l";
        for body in [
            // The counter, or the bound, written in the body.
            "local.get $x local.set $i",
            "local.get $x local.set $b",
            // Another way back.
            "local.get $x br_if $l",
            // A nested loop.
            "loop end",
        ] {
            let wat = format!("(block loop $l {body} {tail} end)");
            assert_eq!(found(I, &wat), None, "{body}");
        }
        for loop_ in [
            // A bound that is computed, not read.
            "loop $l local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.const 1 i32.add i32.ne br_if $l end",
            // `!=` with a step of 0 never meets the bound, and with a step in a local may not.
            "loop $l local.get $i i32.const 0 i32.add local.tee $i local.get $b i32.ne br_if $l end",
            "loop $l local.get $i local.get $a i32.add local.tee $i local.get $b i32.ne br_if $l end",
            // A rising counter compared with `>`, and a falling one with `<`.
            "loop $l local.get $i i32.const 1 i32.add local.tee $i local.get $b i32.gt_u br_if $l end",
            "loop $l local.get $i i32.const -1 i32.add local.tee $i local.get $b i32.lt_u br_if $l end",
            // The counter compared with itself.
            "loop $l local.get $i i32.const 1 i32.add local.tee $i local.get $i i32.ne br_if $l end",
        ] {
            assert_eq!(found(I, loop_), None, "{loop_}");
        }
    }

    #[test]
    fn trip_counts_between_constants_are_exact_or_refused() {
        let below = |signed, inclusive| Exit::Below { signed, inclusive };
        let above = |signed, inclusive| Exit::Above { signed, inclusive };
        for (start, step, bound, exit, trips) in [
            (0, 1, 5, Exit::NotEqual, Some(5)),
            (5, -1, 0, Exit::NotEqual, Some(5)),
            (0, 2, 5, Exit::NotEqual, None), // steps over the bound
            (0, 1, 0, Exit::NotEqual, None), // 2^32 iterations
            (-2, 1, 1, Exit::NotEqual, Some(3)),
            (0, 3, 10, below(false, false), Some(4)), // 3 6 9 12
            (0, 3, 9, below(false, true), Some(4)),   // 3 6 9 12
            (10, 1, 5, below(true, false), Some(1)),  // the first test fails
            (0, 1, i32::MAX, below(true, true), None), // wraps before it fails
            (-5, 1, 0, below(false, false), Some(1)), // unsigned: already past the bound
            (-2, 3, 5, below(false, false), None),    // unsigned: wraps to 1, goes on
            (-5, 1, 0, below(true, false), Some(5)),
            (10, -3, 0, above(true, false), Some(4)), // 7 4 1 -2
            (2, -1, 0, above(false, false), Some(2)),
            (0, -1, 0, above(false, false), None), // unsigned 0 - 1 wraps to the top
            (0, 1, 5, above(true, false), None),   // rising where it must fall
        ] {
            assert_eq!(
                trips_between(start, step, bound, exit),
                trips,
                "{start} {step} {bound} {exit:?}"
            );
        }
    }

    #[test]
    fn loops_of_constant_counts_around_inner_loops_are_found() {
        let trips = |body: &str| with_first_loop(I, body, constant_trips);
        let inner = "i32.const 0 local.set $x \
            loop $j local.get $x i32.const 1 i32.add local.tee $x local.get $a i32.lt_u br_if $j end";
        let outer = |init: &str, inner: &str| {
            format!(
                "{init} local.set $i loop $l {inner} \
                 local.get $i i32.const 1 i32.add local.tee $i i32.const 5 i32.ne br_if $l end"
            )
        };
        assert_eq!(trips(&outer("i32.const 0", inner)), Some(5));
        assert_eq!(trips(&outer("i32.const 3", inner)), Some(2));
        // Two inner loops, one after the other.
        assert_eq!(
            trips(&outer("i32.const 0", &format!("{inner} {inner}"))),
            Some(5)
        );
        for (init, body) in [
            // Not a constant at the entry.
            ("local.get $a", inner.to_string()),
            // A loop in the inner loop.
            ("i32.const 0", format!("loop {inner} end")),
            // The counter written in the inner loop.
            (
                "i32.const 0",
                "loop $k i32.const 0 local.set $i local.get $a br_if $k end".to_string(),
            ),
            // A call that may run long.
            ("i32.const 0", format!("{inner} i32.const 0 call 0 drop")),
        ] {
            assert_eq!(trips(&outer(init, &body)), None, "{init} {body}");
        }
        // The constant set before a branch target is not known at the loop.
        let joined = format!(
            "i32.const 0 local.set $i block local.get $a br_if 0 end {}",
            outer("", inner).trim_start_matches(" local.set $i")
        );
        assert_eq!(trips(&joined), None, "{joined}");
    }
}
