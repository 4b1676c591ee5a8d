//! Imports that are not functions: globals, memories and tables the host provides.
//!
//! Every instance lives in a store of its own, so a host-provided global, memory or table is
//! made afresh for each instance when it is instantiated: two instances never share one.
//! A host that wants guests to share data passes it through host functions.

use crate::{FuncSig, ValType, Value};

/// Size limits: of a memory in 64 KiB pages, of a table in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The initial size.
    pub minimum: u64,
    /// The size it may grow to, if bounded.
    pub maximum: Option<u64>,
}

impl Limits {
    /// Limits from a minimum and an optional maximum.
    pub fn new(minimum: u64, maximum: Option<u64>) -> Self {
        Limits { minimum, maximum }
    }

    /// Whether something with these limits may be imported where `declared` is: at least
    /// the declared minimum, and bounded by at most the declared maximum (the spec's import
    /// matching).
    pub fn satisfy(&self, declared: &Limits) -> bool {
        self.minimum >= declared.minimum
            && match (self.maximum, declared.maximum) {
                (_, None) => true,
                (Some(mine), Some(declared)) => mine <= declared,
                (None, Some(_)) => false,
            }
    }
}

/// What a module declares one of its imports to be, as the contract sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportType {
    /// A function; `None` when its signature uses a type outside [`ValType`] (vectors).
    Func(Option<FuncSig>),
    /// A global; `ty` is `None` for a type outside [`ValType`].
    Global {
        /// Its value type.
        ty: Option<ValType>,
        /// Whether the module may set it.
        mutable: bool,
    },
    /// A linear memory.
    Memory(Limits),
    /// A table; `element` is `None` for a type outside [`ValType`].
    Table {
        /// Its element type.
        element: Option<ValType>,
        /// Its size limits.
        limits: Limits,
    },
    /// Anything else (a tag, a shared memory): the contract provides none.
    Other,
}

/// A global, memory or table the host provides for modules to import: see the module docs
/// for why each instance gets its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// A global holding `value` at instantiation.
    Global {
        /// Its initial value (and so its type).
        value: Value,
        /// Whether the module may set it.
        mutable: bool,
    },
    /// A zeroed linear memory of `Limits` pages.
    Memory(Limits),
    /// A table of null references.
    Table {
        /// [`ValType::FuncRef`] or [`ValType::ExternRef`].
        element: ValType,
        /// Its size limits, in elements.
        limits: Limits,
    },
}

impl ExternKind {
    /// What the import of a module must declare to be linked with this.
    pub(crate) fn matches(&self, import: &ImportType) -> bool {
        match (self, import) {
            (ExternKind::Global { value, mutable }, ImportType::Global { ty, mutable: m }) => {
                Some(value.ty()) == *ty && mutable == m
            }
            (ExternKind::Memory(limits), ImportType::Memory(declared)) => limits.satisfy(declared),
            (
                ExternKind::Table { element, limits },
                ImportType::Table {
                    element: e,
                    limits: declared,
                },
            ) => Some(*element) == *e && limits.satisfy(declared),
            _ => false,
        }
    }
}

impl std::fmt::Display for ExternKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExternKind::Global { value, mutable } => {
                let m = if *mutable { "mutable " } else { "" };
                write!(f, "a {m}global of {value}")
            }
            ExternKind::Memory(l) => write!(f, "a memory of {}", limits(l, "pages")),
            ExternKind::Table { element, limits: l } => {
                write!(f, "a {element} table of {}", limits(l, "elements"))
            }
        }
    }
}

impl std::fmt::Display for ImportType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ty = |t: &Option<ValType>| t.map_or_else(|| "v128".to_string(), |t| t.to_string());
        match self {
            ImportType::Func(Some(sig)) => write!(f, "a function {sig}"),
            ImportType::Func(None) => f.write_str("a function with vector types"),
            ImportType::Global { ty: t, mutable } => {
                let m = if *mutable { "mutable " } else { "" };
                write!(f, "a {m}global of {}", ty(t))
            }
            ImportType::Memory(l) => write!(f, "a memory of {}", limits(l, "pages")),
            ImportType::Table { element, limits: l } => {
                write!(f, "a {} table of {}", ty(element), limits(l, "elements"))
            }
            ImportType::Other => f.write_str("a kind of import the contract does not provide"),
        }
    }
}

fn limits(l: &Limits, unit: &str) -> String {
    match l.maximum {
        Some(max) => format!("{}..={max} {unit}", l.minimum),
        None => format!("{}.. {unit}", l.minimum),
    }
}

/// A global, memory or table the host provides, and the name modules import it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostExtern {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// What it is.
    pub kind: ExternKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_as_the_spec_says() {
        let declared = Limits::new(1, Some(4));
        assert!(Limits::new(1, Some(4)).satisfy(&declared));
        assert!(Limits::new(2, Some(3)).satisfy(&declared));
        assert!(!Limits::new(0, Some(4)).satisfy(&declared));
        assert!(!Limits::new(1, None).satisfy(&declared));
        assert!(!Limits::new(1, Some(5)).satisfy(&declared));
        assert!(Limits::new(1, None).satisfy(&Limits::new(1, None)));
    }
}
