//! Growth through the host: every `memory.grow` and `table.grow` becomes a call to a
//! function the module imports from [`MODULE`], which the backend implements with its
//! engine's own API, and the memory and tables are exported under reserved names so that
//! those functions reach them.
//!
//! For wasmi 2.0, whose tail-call dispatch grows the host's native stack on every
//! `memory.grow` and `table.grow` it executes, until a guest that grows in a loop overflows
//! the host thread; host calls do not. The rewrite keeps the module's behaviour: the
//! imports have the instructions' own types, and the functions return what the
//! instructions would, `-1` on failure.

use std::convert::Infallible;

use wasm_encoder::reencode::{Error, Reencode, utils};
use wasm_encoder::{
    CodeSection, Encode, EntityType, ExportKind, ExportSection, ImportSection, Instruction,
    SectionId, TypeSection, ValType,
};
use wasmhost_api::WasmError;
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// The import module of the growth functions.
pub const MODULE: &str = "__wasmhost";

/// The import name of `memory.grow`'s replacement: `(i32 delta) -> (i32 old size or -1)`.
pub const MEMORY_GROW: &str = "memory.grow";

/// The export name of memory 0, for [`MEMORY_GROW`].
pub const MEMORY_EXPORT: &str = "__wasmhost_memory";

/// The import name of `table.grow`'s replacement for table `index`:
/// `(ref init, i32 delta) -> (i32 old size or -1)`.
pub fn table_grow(index: u32) -> String {
    format!("table.grow.{index}")
}

/// The table `index` of a [`table_grow`] import name.
pub fn table_grow_index(name: &str) -> Option<u32> {
    name.strip_prefix("table.grow.")?.parse().ok()
}

/// The export name of table `index`, for its [`table_grow`].
pub fn table_export(index: u32) -> String {
    format!("__wasmhost_table_{index}")
}

/// `wasm` with its growth going through the host, or `None` when it never grows anything.
///
/// # Errors
/// [`WasmError::Compile`] when the module does not parse.
pub fn through_host(wasm: &[u8]) -> Result<Option<Vec<u8>>, WasmError> {
    let layout = Layout::of(wasm)?;
    if !layout.grows {
        return Ok(None);
    }
    let memory = layout.memories > 0;
    let first = layout.imported_functions;
    let mut rewriter = Grow {
        memory_grow: memory.then_some(first),
        table_grow_base: first + u32::from(memory),
        added: u32::from(memory) + layout.tables.len() as u32,
        tables: layout.tables,
        imported_functions: first,
        types: layout.types,
        memory,
        imports_written: false,
        exports_written: false,
    };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| WasmError::Compile(format!("instrumentation failed: {e}")))?;
    if !rewriter.exports_written {
        rewriter.write_exports(&mut module, ExportSection::new());
    }
    Ok(Some(module.finish()))
}

/// What the rewrite must know of the module first.
struct Layout {
    types: u32,
    imported_functions: u32,
    memories: u32,
    tables: Vec<wasmparser::RefType>,
    grows: bool,
}

impl Layout {
    fn of(wasm: &[u8]) -> Result<Self, WasmError> {
        let err = |e: wasmparser::BinaryReaderError| WasmError::Compile(e.to_string());
        let mut layout = Layout {
            types: 0,
            imported_functions: 0,
            memories: 0,
            tables: Vec::new(),
            grows: false,
        };
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(err)? {
                Payload::TypeSection(reader) => layout.types = reader.count(),
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import.map_err(err)?.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                                layout.imported_functions += 1
                            }
                            TypeRef::Memory(_) => layout.memories += 1,
                            TypeRef::Table(t) => layout.tables.push(t.element_type),
                            _ => {}
                        }
                    }
                }
                Payload::MemorySection(reader) => layout.memories += reader.count(),
                Payload::TableSection(reader) => {
                    for table in reader {
                        layout.tables.push(table.map_err(err)?.ty.element_type);
                    }
                }
                // Nothing to grow, or already known to grow: the bodies need no reading.
                Payload::CodeSectionEntry(_)
                    if layout.grows || (layout.memories == 0 && layout.tables.is_empty()) => {}
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().map_err(err)?;
                    while !ops.eof() {
                        let op = ops.read().map_err(err)?;
                        if matches!(op, Operator::MemoryGrow { .. } | Operator::TableGrow { .. }) {
                            layout.grows = true;
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(layout)
    }
}

struct Grow {
    /// The function index of the `memory.grow` import, when there is a memory.
    memory_grow: Option<u32>,
    /// The function index of table 0's `table.grow` import; the others follow.
    table_grow_base: u32,
    tables: Vec<wasmparser::RefType>,
    imported_functions: u32,
    /// The functions imported here: defined functions move up by this many.
    added: u32,
    /// The module's type count: the imports' types go after.
    types: u32,
    memory: bool,
    imports_written: bool,
    exports_written: bool,
}

impl Grow {
    fn append_types(&mut self, types: &mut TypeSection) -> Result<(), Error<Infallible>> {
        if self.memory {
            types.ty().function([ValType::I32], [ValType::I32]);
        }
        for element in self.tables.clone() {
            let element = self.ref_type(element)?;
            types
                .ty()
                .function([ValType::Ref(element), ValType::I32], [ValType::I32]);
        }
        Ok(())
    }

    fn append_imports(&mut self, imports: &mut ImportSection) {
        let mut ty = self.types;
        if self.memory {
            imports.import(MODULE, MEMORY_GROW, EntityType::Function(ty));
            ty += 1;
        }
        for index in 0..self.tables.len() as u32 {
            imports.import(MODULE, &table_grow(index), EntityType::Function(ty));
            ty += 1;
        }
        self.imports_written = true;
    }

    fn append_exports(&self, exports: &mut ExportSection) {
        if self.memory {
            exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
        }
        for index in 0..self.tables.len() as u32 {
            exports.export(&table_export(index), ExportKind::Table, index);
        }
    }

    fn write_exports(&mut self, module: &mut wasm_encoder::Module, mut section: ExportSection) {
        self.append_exports(&mut section);
        module.section(&section);
        self.exports_written = true;
    }
}

impl Reencode for Grow {
    type Error = Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, Error<Infallible>> {
        Ok(if func >= self.imported_functions {
            func + self.added
        } else {
            func
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_type_section(self, types, section)?;
        self.append_types(types)
    }

    fn parse_import_section(
        &mut self,
        imports: &mut ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), Error<Infallible>> {
        utils::parse_import_section(self, imports, section)?;
        self.append_imports(imports);
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
        // A module that grows has code, so a type section; it may lack imports and exports.
        use crate::rewrite::position;
        let past = |id: SectionId| before.is_none_or(|b| position(b) > position(id));
        if !self.imports_written && past(SectionId::Import) {
            let mut imports = ImportSection::new();
            self.append_imports(&mut imports);
            module.section(&imports);
        }
        if !self.exports_written && past(SectionId::Export) {
            self.write_exports(module, ExportSection::new());
        }
        Ok(())
    }

    // Copies each body's bytes and re-encodes only the instructions that change: calls and
    // function references move up, grows become calls. Re-encoding every instruction made
    // compiling a large module that grows 3.4 times as slow on wasmi.
    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error<Infallible>> {
        let body = func.as_bytes();
        let start = func.range().start;
        let mut out = Vec::with_capacity(body.len() + 16);
        let mut copied = 0;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let (op, at) = reader.read_with_offset()?;
            let moved = |f: u32| f + self.added;
            let replacement = match op {
                Operator::Call { function_index } if function_index >= self.imported_functions => {
                    Instruction::Call(moved(function_index))
                }
                Operator::RefFunc { function_index }
                    if function_index >= self.imported_functions =>
                {
                    Instruction::RefFunc(moved(function_index))
                }
                Operator::MemoryGrow { .. } | Operator::TableGrow { .. } => self.instruction(op)?,
                _ => continue,
            };
            let at = (at - start) as usize;
            out.extend_from_slice(&body[copied..at]);
            replacement.encode(&mut out);
            copied = (reader.original_position() - start) as usize;
        }
        out.extend_from_slice(&body[copied..]);
        code.raw(&out);
        Ok(())
    }

    fn instruction<'a>(&mut self, op: Operator<'a>) -> Result<Instruction<'a>, Error<Infallible>> {
        Ok(match op {
            Operator::MemoryGrow { mem: 0 } if self.memory_grow.is_some() => {
                Instruction::Call(self.memory_grow.unwrap_or_default())
            }
            Operator::TableGrow { table } if (table as usize) < self.tables.len() => {
                Instruction::Call(self.table_grow_base + table)
            }
            other => utils::instruction(self, other)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn a_module_that_never_grows_is_left_alone() {
        let wasm = wat("(module (memory 1) (func (export \"f\") (result i32) memory.size))");
        assert_eq!(through_host(&wasm).unwrap(), None);
    }

    #[test]
    fn every_grow_becomes_a_call_and_every_other_function_moves_up() {
        // Functions: 0 the import, 1 `g`, 2 the start; after: 1-3 the growth imports.
        let wasm = wat(r#"(module
            (import "env" "h" (func))
            (memory 1) (table 1 funcref) (table 1 externref)
            (elem (table 0) (i32.const 0) func 1)
            (func (export "g") (param i32) (result i32)
              local.get 0 memory.grow drop
              ref.null func local.get 0 table.grow 0 drop
              ref.null extern local.get 0 table.grow 1 drop
              call 0
              local.get 0 call 1)
            (start 2)
            (func))"#);
        let out = through_host(&wasm).unwrap().expect("rewritten");
        wasmparser::Validator::new().validate_all(&out).unwrap();
        let text = wasmprinter::print_bytes(&out).unwrap();
        for needle in [
            r#"(import "__wasmhost" "memory.grow" (func"#,
            r#"(import "__wasmhost" "table.grow.0" (func"#,
            r#"(import "__wasmhost" "table.grow.1" (func"#,
            r#"(export "__wasmhost_memory" (memory 0))"#,
            r#"(export "__wasmhost_table_1" (table 1))"#,
            r#"(export "g" (func 4))"#,
            "(start 5)",
            "call 1\n",
            "call 2\n",
            "call 3\n",
            "call 0\n",
            "call 4\n",
            "func 4",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
        assert!(
            !text.contains("memory.grow\n") && !text.contains("table.grow "),
            "{text}"
        );
    }

    #[test]
    fn sections_the_module_lacks_are_added_in_order() {
        let wasm = wat("(module (memory 1) (func (param i32) local.get 0 memory.grow drop))");
        let out = through_host(&wasm).unwrap().expect("rewritten");
        wasmparser::Validator::new().validate_all(&out).unwrap();
    }
}
