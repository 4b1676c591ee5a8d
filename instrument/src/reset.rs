//! What a host needs to reset an instance to its state right after instantiation
//! ([`crate::Passes::resettable`]).
//!
//! A reset rewrites the instance's memory and mutable globals with a snapshot of a pristine
//! instance of the same module; it cannot reach tables, dropped segments or what a start
//! function or a host-provided import made. So a module is resettable only when none of that
//! can change or differ between instances: no start function, no imports but functions, and
//! no instruction that writes a table or uses a passive segment (`table.set`, `table.grow`,
//! `table.fill`, `table.copy`, `table.init`, `elem.drop`, `memory.init`, `data.drop`).
//!
//! For a resettable module the pass exports what the host must write and may not otherwise
//! see: the mutable globals the module defines as `wasmhost_global0`, `wasmhost_global1`,
//! … in index order, its memory as [`MEMORY_EXPORT`], and the constant [`MARKER_EXPORT`],
//! the number of those globals, which says the module qualified (a module loaded from its
//! compiled form no longer has the instructions to look at).

use wasmparser::{Operator, Parser, Payload, TypeRef};

/// The export of a constant global that marks a module the pass found resettable.
pub const MARKER_EXPORT: &str = "wasmhost_resettable";

/// The export of a resettable module's memory.
pub const MEMORY_EXPORT: &str = "wasmhost_reset_memory";

/// The prefix of the exports of a resettable module's mutable globals.
pub const GLOBAL_EXPORT_PREFIX: &str = "wasmhost_global";

/// The export name of the `k`th mutable global.
pub fn global_export(k: u32) -> String {
    format!("{GLOBAL_EXPORT_PREFIX}{k}")
}

/// Whether the valid module `wasm` can be reset (see the module docs).
pub(crate) fn resettable(wasm: &[u8]) -> bool {
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            return false;
        };
        match payload {
            Payload::StartSection { .. } => return false,
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import.map(|i| i.ty) {
                        Ok(TypeRef::Func(_) | TypeRef::FuncExact(_)) => {}
                        _ => return false,
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let Ok(mut reader) = body.get_operators_reader() else {
                    return false;
                };
                while !reader.eof() {
                    match reader.read() {
                        Ok(op) if !changes_unresettable_state(&op) => {}
                        _ => return false,
                    }
                }
            }
            _ => {}
        }
    }
    true
}

fn changes_unresettable_state(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. }
    )
}
