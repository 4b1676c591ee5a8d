//! Host functions: plain Rust closures, declared once and installed on every backend.

use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Config, ExternKind, FuncSig, Guest, HostExtern, ImportType, Limits, ValType, Value, WasmError,
    abi,
};

/// What a backend hands a host function while the guest is calling it: the guest (memory,
/// allocator, exports) and the host state of the calling instance.
pub trait Caller<T>: Guest {
    /// The host state.
    fn state(&self) -> &T;
    /// The host state, mutably.
    fn state_mut(&mut self) -> &mut T;

    /// Waits `duration` on the guest's behalf: see [`HostContext::sleep`]. A backend whose
    /// instances can be interrupted ends the wait when they are.
    ///
    /// # Errors
    /// [`WasmError::Interrupted`] when the call was interrupted before the time was up.
    fn sleep(&mut self, duration: std::time::Duration) -> Result<(), WasmError> {
        std::thread::sleep(duration);
        Ok(())
    }

    /// The calling instance's interrupt handle, when it can be interrupted: see
    /// [`HostContext::interrupt_handle`].
    fn interrupt_handle(&self) -> Option<crate::InterruptHandle> {
        None
    }
}

/// The context a host function runs in: host state, guest memory, and calls back into the
/// guest. Memory views are never held across a call back, so the guest may grow memory.
pub struct HostContext<'a, T> {
    caller: &'a mut dyn Caller<T>,
}

impl<'a, T> HostContext<'a, T> {
    /// Wraps a backend's caller. Backends call this; host functions receive the result.
    pub fn new(caller: &'a mut dyn Caller<T>) -> Self {
        HostContext { caller }
    }

    /// The host state of the calling instance.
    pub fn state(&self) -> &T {
        self.caller.state()
    }

    /// The host state of the calling instance, mutably.
    pub fn state_mut(&mut self) -> &mut T {
        self.caller.state_mut()
    }

    /// The calling guest: raw memory access, its allocator, raw calls.
    pub fn guest(&mut self) -> &mut dyn Caller<T> {
        self.caller
    }

    /// Charges `units` of fuel for work done on the guest's behalf. Free when metering is
    /// off. Return its error with `?`: it stops the guest.
    ///
    /// # Errors
    /// [`WasmError::OutOfFuel`] when the units do not fit in the fuel left.
    pub fn charge(&mut self, units: u64) -> Result<(), WasmError> {
        self.caller.charge(units)
    }

    /// Waits `duration` on the guest's behalf (a sleep the guest asked for): on an
    /// interruptible instance ([`crate::Config::interruptible`]) a cancel or the call's
    /// deadline ends the wait at once. A host function that blocks otherwise is waited for.
    ///
    /// # Errors
    /// [`WasmError::Interrupted`] when the call was interrupted before the time was up:
    /// return it with `?`, it stops the guest.
    pub fn sleep(&mut self, duration: std::time::Duration) -> Result<(), WasmError> {
        self.caller.sleep(duration)
    }

    /// The calling instance's interrupt handle, on an interruptible instance: a host function
    /// that awaits on the guest's behalf races its future with
    /// [`crate::InterruptHandle::fired`], so that a cancel or the call's deadline stops the
    /// wait (the pool's async host functions do).
    pub fn interrupt_handle(&self) -> Option<crate::InterruptHandle> {
        self.caller.interrupt_handle()
    }

    /// Calls back into a serialized export of the calling guest.
    ///
    /// # Errors
    /// As [`crate::Instance::call`].
    pub fn call<I, O>(&mut self, export: &str, input: &I) -> Result<O, WasmError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        abi::call(self.caller, export, input)
    }
}

/// A host function as the backends install it: raw values in, raw values out.
pub type HostFn<T> =
    Arc<dyn Fn(&mut HostContext<'_, T>, &[Value]) -> Result<Vec<Value>, WasmError> + Send + Sync>;

/// One host function: where the guest imports it from, its signature, and the closure.
pub struct HostFunc<T> {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// Its wasm signature.
    pub sig: FuncSig,
    /// The closure. An `Err` stops the guest and reaches the host's caller as that error.
    pub callback: HostFn<T>,
}

impl<T> HostFunc<T> {
    /// Runs the closure as a backend must: a panic in it becomes [`WasmError::Host`] instead
    /// of unwinding through guest frames, and results that do not fit the signature are an
    /// error, not a silent truncation.
    ///
    /// # Errors
    /// The closure's error, or [`WasmError::Host`] for a panic or a wrong result count/type.
    pub fn invoke(
        &self,
        ctx: &mut HostContext<'_, T>,
        args: &[Value],
    ) -> Result<Vec<Value>, WasmError> {
        let _level = Nesting::enter(ctx.caller.config().max_host_nesting)?;
        let run = std::panic::AssertUnwindSafe(|| (self.callback)(ctx, args));
        let results = std::panic::catch_unwind(run).map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".into());
            WasmError::host(format!(
                "host function `{}.{}` panicked: {message}",
                self.module, self.name
            ))
        })??;
        if !results
            .iter()
            .map(Value::ty)
            .eq(self.sig.results.iter().copied())
        {
            return Err(WasmError::host(format!(
                "host function `{}.{}` returned {results:?}, its signature is {}",
                self.module, self.name, self.sig
            )));
        }
        Ok(results)
    }
}

/// The host functions running on this thread, one inside another: a level is held while one
/// runs, so that a guest and a host calling each other without end stop at a limit instead of
/// at the end of the native stack.
struct Nesting;

thread_local! {
    static NESTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Nesting {
    fn enter(limit: u32) -> Result<Nesting, WasmError> {
        NESTING.with(|levels| {
            if levels.get() >= limit {
                return Err(crate::Trap::StackOverflow.into());
            }
            levels.set(levels.get() + 1);
            Ok(Nesting)
        })
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        NESTING.with(|levels| levels.set(levels.get() - 1));
    }
}

impl<T> Clone for HostFunc<T> {
    fn clone(&self) -> Self {
        HostFunc {
            module: self.module.clone(),
            name: self.name.clone(),
            sig: self.sig.clone(),
            callback: Arc::clone(&self.callback),
        }
    }
}

/// What the host provides for one import: a function, or a global, memory or table.
pub enum HostImport<T> {
    /// A host function.
    Func(HostFunc<T>),
    /// A global, memory or table, made afresh for each instance.
    Extern(ExternKind),
}

impl<T> Clone for HostImport<T> {
    fn clone(&self) -> Self {
        match self {
            HostImport::Func(f) => HostImport::Func(f.clone()),
            HostImport::Extern(kind) => HostImport::Extern(kind.clone()),
        }
    }
}

/// The host functions an instance is linked with, for host state `T`, and the globals,
/// memories and tables the host provides beside them (see [`HostFunctions::global`]).
///
/// ```
/// use wasmhost_api::{HostFunctions, WasmError};
/// let mut host = HostFunctions::<u64>::new();
/// host.func("add", |_ctx, (a, b): (i64, i64)| -> Result<i64, WasmError> { Ok(a + b) });
/// host.func("count", |ctx, (): ()| -> Result<u64, WasmError> {
///     *ctx.state_mut() += 1;
///     Ok(*ctx.state())
/// });
/// assert_eq!(host.iter().count(), 2);
/// ```
pub struct HostFunctions<T> {
    funcs: Vec<HostFunc<T>>,
    externs: Vec<HostExtern>,
}

impl<T> Default for HostFunctions<T> {
    fn default() -> Self {
        HostFunctions {
            funcs: Vec::new(),
            externs: Vec::new(),
        }
    }
}

impl<T> Clone for HostFunctions<T> {
    fn clone(&self) -> Self {
        HostFunctions {
            funcs: self.funcs.clone(),
            externs: self.externs.clone(),
        }
    }
}

impl<T: 'static> HostFunctions<T> {
    /// No host functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a serialized host function, imported by guests as `wasmhost.<name>` with the
    /// ABI's `(ptr, len) -> i64` shape (the guest SDK's `host_imports!` declares it). It
    /// replaces a function added earlier under the same name.
    ///
    /// The closure's `Err` is not a trap: it is returned to the guest as the `Err` of its
    /// `Result`, and the guest decides what to do with it. The one exception is
    /// [`WasmError::OutOfFuel`] (from [`HostContext::charge`]), which stops the guest. An input that does not
    /// deserialize into `I` is returned to the guest as [`WasmError::Deserialize`].
    pub fn func<I, O, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&mut HostContext<'_, T>, I) -> Result<O, WasmError> + Send + Sync + 'static,
    {
        let callback = move |ctx: &mut HostContext<'_, T>, args: &[Value]| {
            let (ptr, len) = abi::packed_args(args)?;
            let input = abi::read_payload_with(ctx.caller, ptr, len, abi::decode::<I>)?;
            let result = input.and_then(|input| f(ctx, input));
            // Running out of fuel stops the guest; it is not an answer the guest may handle.
            if let Err(WasmError::OutOfFuel) = result {
                return Err(WasmError::OutOfFuel);
            }
            let out = abi::write_encoded(ctx.caller, &result)?;
            Ok(vec![Value::I64(out as i64)])
        };
        self.define(HostFunc {
            module: abi::HOST_MODULE.to_string(),
            name: name.to_string(),
            sig: FuncSig::packed(),
            callback: Arc::new(callback),
        })
    }

    /// Adds a raw host function with an explicit wasm signature: raw values in and out. It
    /// replaces a function added earlier under the same module and name.
    /// An `Err` traps the guest, and the caller of the export gets that error.
    pub fn raw<F>(
        &mut self,
        module: &str,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        f: F,
    ) -> &mut Self
    where
        F: Fn(&mut HostContext<'_, T>, &[Value]) -> Result<Vec<Value>, WasmError>
            + Send
            + Sync
            + 'static,
    {
        self.define(HostFunc {
            module: module.to_string(),
            name: name.to_string(),
            sig: FuncSig::new(params, results),
            callback: Arc::new(f),
        })
    }

    /// Provides a global, imported as `module.name`: each instance gets its own, holding
    /// `value` at instantiation. It replaces anything added earlier under the same name.
    ///
    /// ```
    /// use wasmhost_api::{HostFunctions, Value};
    /// let mut host = HostFunctions::<()>::new();
    /// host.global("env", "answer", Value::I32(42), false);
    /// assert_eq!(host.externs().count(), 1);
    /// ```
    pub fn global(&mut self, module: &str, name: &str, value: Value, mutable: bool) -> &mut Self {
        self.define_extern(module, name, ExternKind::Global { value, mutable })
    }

    /// Provides a zeroed linear memory of `limits` pages, imported as `module.name`: each
    /// instance gets its own. It replaces anything added earlier under the same name.
    pub fn memory(&mut self, module: &str, name: &str, limits: Limits) -> &mut Self {
        self.define_extern(module, name, ExternKind::Memory(limits))
    }

    /// Provides a table of `limits` null references of type `element` ([`ValType::FuncRef`]
    /// or [`ValType::ExternRef`]), imported as `module.name`: each instance gets its own. It
    /// replaces anything added earlier under the same name.
    pub fn table(
        &mut self,
        module: &str,
        name: &str,
        element: ValType,
        limits: Limits,
    ) -> &mut Self {
        self.define_extern(module, name, ExternKind::Table { element, limits })
    }

    fn define_extern(&mut self, module: &str, name: &str, kind: ExternKind) -> &mut Self {
        self.funcs.retain(|f| f.module != module || f.name != name);
        self.externs
            .retain(|e| e.module != module || e.name != name);
        self.externs.push(HostExtern {
            module: module.to_string(),
            name: name.to_string(),
            kind,
        });
        self
    }

    /// Adds `func`, replacing anything of the same module and name.
    fn define(&mut self, func: HostFunc<T>) -> &mut Self {
        self.externs
            .retain(|e| e.module != func.module || e.name != func.name);
        match self
            .funcs
            .iter_mut()
            .find(|f| f.module == func.module && f.name == func.name)
        {
            Some(existing) => *existing = func,
            None => self.funcs.push(func),
        }
        self
    }

    /// Checks a module's imports against what the host provides before an engine links
    /// them, so that every backend tells a missing import from a mistyped one the same way,
    /// and a provided memory or table over `config`'s limits is refused before it is made.
    /// `imports` yields `(module, name, what the module declares)`. Where several imports
    /// fail, the error is about the first by module and name: engines list imports in
    /// different orders, and every engine must report the same one.
    ///
    /// # Errors
    /// [`WasmError::MissingImport`] for an import nothing here provides,
    /// [`WasmError::Link`] for one of another type (or limits that do not match),
    /// [`WasmError::MemoryLimit`] / [`WasmError::TableLimit`] for a provided memory or table
    /// that starts over the limit.
    pub fn check_imports<'a>(
        &self,
        imports: impl IntoIterator<Item = (&'a str, &'a str, ImportType)>,
        config: &Config,
    ) -> Result<(), WasmError> {
        let mut first: Option<((&str, &str), WasmError)> = None;
        for (module, name, ty) in imports {
            if let Err(e) = self.check_import(module, name, &ty, config)
                && first.as_ref().is_none_or(|(at, _)| (module, name) < *at)
            {
                first = Some(((module, name), e));
            }
        }
        first.map_or(Ok(()), |(_, e)| Err(e))
    }

    fn check_import(
        &self,
        module: &str,
        name: &str,
        ty: &ImportType,
        config: &Config,
    ) -> Result<(), WasmError> {
        let provided = match self.resolve(module, name) {
            None => {
                return Err(WasmError::MissingImport {
                    module: module.to_string(),
                    name: name.to_string(),
                });
            }
            Some(HostImport::Func(f)) if *ty == ImportType::Func(Some(f.sig.clone())) => {
                return Ok(());
            }
            Some(HostImport::Func(f)) => format!("the host function is {}", f.sig),
            Some(HostImport::Extern(kind)) if kind.matches(ty) => {
                return check_extern_limits(&kind, config);
            }
            Some(HostImport::Extern(kind)) => format!("the host provides {kind}"),
        };
        Err(WasmError::Link(format!(
            "import `{module}.{name}` is {ty}, {provided}"
        )))
    }

    /// What the host provides as `module.name`, if anything.
    pub fn resolve(&self, module: &str, name: &str) -> Option<HostImport<T>> {
        if let Some(f) = self
            .funcs
            .iter()
            .find(|f| f.module == module && f.name == name)
        {
            return Some(HostImport::Func(f.clone()));
        }
        self.externs
            .iter()
            .find(|e| e.module == module && e.name == name)
            .map(|e| HostImport::Extern(e.kind.clone()))
    }

    /// The functions, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &HostFunc<T>> {
        self.funcs.iter()
    }

    /// The globals, memories and tables, in the order they were added.
    pub fn externs(&self) -> impl Iterator<Item = &HostExtern> {
        self.externs.iter()
    }
}

/// A provided memory or table must start within the limits, as a module's own must.
fn check_extern_limits(kind: &ExternKind, config: &Config) -> Result<(), WasmError> {
    match kind {
        ExternKind::Memory(limits)
            if config
                .memory_limit_pages()
                .is_some_and(|max| limits.minimum > max) =>
        {
            Err(WasmError::MemoryLimit)
        }
        ExternKind::Table { limits, .. }
            if config
                .max_table_elements
                .is_some_and(|max| limits.minimum > u64::from(max)) =>
        {
            Err(WasmError::TableLimit)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_function_of_the_same_name_replaces_the_earlier() {
        let mut host = HostFunctions::<()>::new();
        host.func("f", |_, (): ()| Ok(1u8))
            .raw("env", "f", &[], &[], |_, _| Ok(vec![]))
            .func("f", |_, (): ()| Ok(2u8));
        let names: Vec<_> = host
            .iter()
            .map(|f| (f.module.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(names, [(abi::HOST_MODULE, "f"), ("env", "f")]);
        host.global("env", "f", Value::I32(1), false);
        assert_eq!(host.iter().count(), 1);
        assert!(matches!(
            host.resolve("env", "f"),
            Some(HostImport::Extern(ExternKind::Global { .. }))
        ));
    }

    #[test]
    fn imports_are_checked_by_kind_type_and_limits() {
        let mut host = HostFunctions::<()>::new();
        host.global("env", "g", Value::I64(7), false)
            .memory("env", "m", Limits::new(2, Some(4)));
        let config = Config::default();
        let check = |name: &str, ty: ImportType| host.check_imports([("env", name, ty)], &config);
        let global = |ty, mutable| ImportType::Global {
            ty: Some(ty),
            mutable,
        };
        assert!(check("g", global(ValType::I64, false)).is_ok());
        assert!(matches!(
            check("g", global(ValType::I32, false)),
            Err(WasmError::Link(_))
        ));
        assert!(matches!(
            check("g", global(ValType::I64, true)),
            Err(WasmError::Link(_))
        ));
        assert!(check("m", ImportType::Memory(Limits::new(1, None))).is_ok());
        assert!(matches!(
            check("m", ImportType::Memory(Limits::new(3, None))),
            Err(WasmError::Link(_))
        ));
        assert!(matches!(
            check("x", ImportType::Memory(Limits::new(1, None))),
            Err(WasmError::MissingImport { .. })
        ));
        let small = Config::default().max_memory_bytes(65536);
        assert!(matches!(
            host.check_imports(
                [("env", "m", ImportType::Memory(Limits::new(1, None)))],
                &small
            ),
            Err(WasmError::MemoryLimit)
        ));
    }
}
