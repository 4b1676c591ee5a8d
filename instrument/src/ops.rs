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
