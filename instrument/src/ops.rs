//! Facts about operators that several passes need.

use wasmparser::Operator;

/// Whether `op` loads from linear memory at one address operand, and pushes what it read:
/// every scalar load and every vector load but the lane loads (which take a vector too).
pub(crate) fn is_load(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        I32Load { .. }
            | I64Load { .. }
            | F32Load { .. }
            | F64Load { .. }
            | I32Load8S { .. }
            | I32Load8U { .. }
            | I32Load16S { .. }
            | I32Load16U { .. }
            | I64Load8S { .. }
            | I64Load8U { .. }
            | I64Load16S { .. }
            | I64Load16U { .. }
            | I64Load32S { .. }
            | I64Load32U { .. }
            | V128Load { .. }
            | V128Load8x8S { .. }
            | V128Load8x8U { .. }
            | V128Load16x4S { .. }
            | V128Load16x4U { .. }
            | V128Load32x2S { .. }
            | V128Load32x2U { .. }
            | V128Load8Splat { .. }
            | V128Load16Splat { .. }
            | V128Load32Splat { .. }
            | V128Load64Splat { .. }
            | V128Load32Zero { .. }
            | V128Load64Zero { .. }
    )
}

/// Per operator of a function body, whether it leaves the function to its caller: `return`,
/// a branch to the body's own label, and the body's final `end` (a tail call hands the
/// return on to its callee).
pub(crate) fn ways_out(ops: &[Operator<'_>]) -> Vec<bool> {
    use Operator::*;
    // Constructs open inside the body.
    let mut open = 0u32;
    ops.iter()
        .map(|op| match op {
            Block { .. } | Loop { .. } | If { .. } | TryTable { .. } | Try { .. } => {
                open += 1;
                false
            }
            End if open == 0 => true,
            End => {
                open -= 1;
                false
            }
            Return => true,
            Br { relative_depth }
            | BrIf { relative_depth }
            | BrOnNull { relative_depth }
            | BrOnNonNull { relative_depth } => *relative_depth == open,
            BrTable { targets } => {
                targets.default() == open || targets.targets().any(|t| t.is_ok_and(|t| t == open))
            }
            _ => false,
        })
        .collect()
}

/// The operators of the first function body of the module `wasm`, its final `end` included:
/// for the passes' unit tests.
#[cfg(test)]
pub(crate) fn first_body(wasm: &[u8]) -> Vec<Operator<'_>> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let reader = body.get_operators_reader().unwrap();
            return reader.into_iter().map(Result::unwrap).collect();
        }
    }
    unreachable!("the module has a function body")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ways_out_of(body: &str) -> Vec<bool> {
        let wasm = wat::parse_str(format!("(module (func (param i32) {body}))")).unwrap();
        ways_out(&first_body(&wasm))
    }

    #[test]
    fn a_way_out_is_a_return_a_branch_to_the_body_or_its_last_end() {
        assert_eq!(ways_out_of("nop"), [false, true]);
        // Inside a block, `br 1` leaves the function and `br 0` the block.
        assert_eq!(
            ways_out_of("block local.get 0 br_if 1 br 0 end"),
            [false, false, true, false, false, true]
        );
        // A loop's label is its head; a table that may lead out is a way out.
        assert_eq!(
            ways_out_of("loop local.get 0 br_table 0 1 end"),
            [false, false, true, false, true]
        );
        assert_eq!(
            ways_out_of("loop local.get 0 br_table 0 0 end"),
            [false, false, false, false, true]
        );
        // A `return` however deep, not a tail call.
        assert_eq!(
            ways_out_of("local.get 0 if return end local.get 0 return_call 0"),
            [false, false, true, false, false, false, true]
        );
    }
}
