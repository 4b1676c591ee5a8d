//! NaN canonicalization by rewriting the module: after every float instruction that may
//! produce a NaN, the result is replaced by the positive canonical NaN if it is one.
//!
//! This is the deterministic profile on wasmi, whose own switch is a cargo feature (and so
//! would hold for every wasmi engine in the build). Each rewritten instruction gains:
//!
//! ```text
//! local.tee $tmp        ;; r
//! f32.const nan         ;; r, canonical
//! local.get $tmp
//! local.get $tmp
//! f32.eq                ;; r, canonical, r == r (false only for NaN)
//! select                ;; r if r == r, else canonical
//! ```
//!
//! with one scratch local per float type added to every function.

use std::convert::Infallible;

use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{Function, Instruction, ValType};
use wasmparser::{Operator, Parser, Payload};

/// The module with canonicalizing instructions added, or `None` when it cannot be parsed:
/// then the engine sees the original bytes and reports the error in its own words.
pub(crate) fn canonicalize_nans(wasm: &[u8]) -> Option<Vec<u8>> {
    let mut rewriter = Rewriter {
        param_counts: param_counts(wasm)?,
        next_function: 0,
    };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .ok()?;
    Some(module.finish())
}

/// The parameter count of each function defined (not imported) in the module, in order.
fn param_counts(wasm: &[u8]) -> Option<Vec<u32>> {
    let mut types = Vec::new();
    let mut counts = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.ok()?.params().len() as u32);
                }
            }
            Payload::FunctionSection(reader) => {
                for index in reader {
                    counts.push(*types.get(index.ok()? as usize)?);
                }
            }
            _ => {}
        }
    }
    Some(counts)
}

struct Rewriter {
    param_counts: Vec<u32>,
    next_function: usize,
}

/// The float type an instruction may produce a NaN of, for the instructions the spec lets
/// produce a non-deterministic NaN. Bit operations are not listed.
fn nan_producing(op: &Operator<'_>) -> Option<ValType> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Sqrt | F32Min | F32Max | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(ValType::F32),
        F64Add | F64Sub | F64Mul | F64Div | F64Sqrt | F64Min | F64Max | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(ValType::F64),
        _ => None,
    }
}

impl Reencode for Rewriter {
    type Error = Infallible;

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error<Infallible>> {
        let params = self
            .param_counts
            .get(self.next_function)
            .copied()
            .unwrap_or(0);
        self.next_function += 1;
        let mut locals = Vec::new();
        let mut declared = 0u32;
        for pair in func.get_locals_reader()? {
            let (count, ty) = pair?;
            declared = declared.saturating_add(count);
            locals.push((count, self.val_type(ty)?));
        }
        let f32_tmp = params + declared;
        let f64_tmp = f32_tmp + 1;
        locals.push((1, ValType::F32));
        locals.push((1, ValType::F64));
        let mut f = Function::new(locals);
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            let produces = nan_producing(&op);
            f.instruction(&self.instruction(op)?);
            match produces {
                Some(ValType::F32) => {
                    f.instruction(&Instruction::LocalTee(f32_tmp))
                        .instruction(&Instruction::F32Const(f32::from_bits(0x7fc0_0000).into()))
                        .instruction(&Instruction::LocalGet(f32_tmp))
                        .instruction(&Instruction::LocalGet(f32_tmp))
                        .instruction(&Instruction::F32Eq)
                        .instruction(&Instruction::Select);
                }
                Some(_) => {
                    f.instruction(&Instruction::LocalTee(f64_tmp))
                        .instruction(&Instruction::F64Const(
                            f64::from_bits(0x7ff8_0000_0000_0000).into(),
                        ))
                        .instruction(&Instruction::LocalGet(f64_tmp))
                        .instruction(&Instruction::LocalGet(f64_tmp))
                        .instruction(&Instruction::F64Eq)
                        .instruction(&Instruction::Select);
                }
                None => {}
            }
        }
        code.function(&f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_the_module_valid_and_adds_the_check() {
        let wasm = wat::parse_str(
            r#"(module (func (export "div") (param f32 f32) (result f32)
                 local.get 0 local.get 1 f32.div)
               (func (export "neg") (param f64) (result f64) local.get 0 f64.neg))"#,
        )
        .unwrap();
        let out = canonicalize_nans(&wasm).unwrap();
        wasmparser::validate(&out).unwrap();
        let text = wasmprinter::print_bytes(&out).unwrap();
        assert_eq!(text.matches("select").count(), 1, "{text}");
    }

    #[test]
    fn unparsable_modules_are_left_to_the_engine() {
        assert_eq!(canonicalize_nans(b"\0asm\x01\0\0\0\x01"), None);
    }
}
