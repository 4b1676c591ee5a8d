//! The import plan the linker-based backends share.

use wasmhost_api::{ExternKind, HostFunctions, HostImport};

use crate::Import;

/// The globals, memories and tables `host` provides for a module that imports `imports`
/// (module name, field name): one entry per name, in import order, since a linker defines
/// each name once and a module importing one twice gets the same one twice. The host's
/// functions are not listed: they are linked once, for every instance.
pub fn provided_externs<'a, T: Send + 'static>(
    host: &HostFunctions<T>,
    imports: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String, ExternKind)> {
    let mut externs: Vec<(String, String, ExternKind)> = Vec::new();
    for (module, name) in imports {
        if externs.iter().any(|(m, n, _)| m == module && n == name) {
            continue;
        }
        if let Some(HostImport::Extern(kind)) = host.resolve(module, name) {
            externs.push((module.to_string(), name.to_string(), kind));
        }
    }
    externs
}

/// For each of `imports`, the index of the first import of the same name: an engine that
/// links by index gives a module importing one name twice the same extern twice.
pub fn first_of_each(imports: &[Import]) -> Vec<usize> {
    imports
        .iter()
        .enumerate()
        .map(|(i, (module, name, _))| {
            let same = |(m, n, _): &Import| m == module && n == name;
            imports[..i].iter().position(same).unwrap_or(i)
        })
        .collect()
}
