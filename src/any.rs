//! An engine chosen at run time by name, behind the same traits as the static ones.

use serde::{Serialize, de::DeserializeOwned};

use crate::typed::{AnySerialized, AnyTyped, Params, Results};
use crate::{
    Config, Engine, ExportInfo, Guest, HostFunctions, Instance, Module, Prelinked, Value, WasmError,
};

with_engines!(any_enums! {});

impl AnyEngine {
    /// Every compiled-in engine, in [`crate::ENGINES`] order.
    pub fn all(config: &Config) -> Vec<Self> {
        crate::ENGINES
            .iter()
            .map(|name| Self::from_name(name, config.clone()).expect("listed engines exist"))
            .collect()
    }
}

impl Engine for AnyEngine {
    type Module = AnyModule;

    fn name(&self) -> &'static str {
        dispatch!(AnyEngine, self, e => e.name())
    }

    fn config(&self) -> &Config {
        dispatch!(AnyEngine, self, e => e.config())
    }

    fn compile(&self, wasm: &[u8]) -> Result<AnyModule, WasmError> {
        let span = tracing::debug_span!(
            "compile",
            engine = self.name(),
            bytes = wasm.len(),
            outcome = tracing::field::Empty
        );
        let _entered = span.enter();
        let module = dispatch!(AnyEngine, self, e => e.compile(wasm).map(Into::into));
        record_outcome(&span, &module);
        module
    }

    fn fingerprint(&self) -> String {
        dispatch!(AnyEngine, self, e => e.fingerprint())
    }

    fn interprets(&self) -> bool {
        dispatch!(AnyEngine, self, e => e.interprets())
    }

    fn can_serialize(&self) -> bool {
        dispatch!(AnyEngine, self, e => e.can_serialize())
    }

    fn serialize(&self, module: &AnyModule) -> Option<Result<Vec<u8>, WasmError>> {
        dispatch_pair!(AnyEngine(self), AnyModule(module), |e, m| e.serialize(m), _ => {
            Some(Err(WasmError::Engine(format!(
                "a module compiled by another engine cannot be serialized by {}",
                self.name()
            ))))
        })
    }

    unsafe fn deserialize(&self, bytes: &[u8]) -> Result<AnyModule, WasmError> {
        // SAFETY: passed on from the caller.
        dispatch!(AnyEngine, self, e => unsafe { e.deserialize(bytes) }.map(Into::into))
    }

    unsafe fn deserialize_owned(
        &self,
        buffer: Vec<u8>,
        start: usize,
    ) -> Result<AnyModule, WasmError> {
        // SAFETY: passed on from the caller.
        dispatch!(AnyEngine, self, e => unsafe { e.deserialize_owned(buffer, start) }.map(Into::into))
    }
}

impl Module for AnyModule {
    type Instance<T: Send + 'static> = AnyInstance<T>;
    type Prelinked<T: Send + 'static> = AnyPrelinked<T>;

    fn exports(&self) -> Vec<ExportInfo> {
        dispatch!(AnyModule, self, m => m.exports())
    }

    fn prelink<T: Send + 'static>(
        &self,
        host: &HostFunctions<T>,
    ) -> Result<AnyPrelinked<T>, WasmError> {
        dispatch!(AnyModule, self, m => m.prelink(host).map(Into::into))
    }
}

impl<T: Send + 'static> Clone for AnyPrelinked<T> {
    fn clone(&self) -> Self {
        dispatch!(AnyPrelinked, self, p => p.clone().into())
    }
}

impl<T: Send + 'static> Prelinked<T> for AnyPrelinked<T> {
    type Instance = AnyInstance<T>;

    fn instantiate(&self, state: T) -> Result<AnyInstance<T>, WasmError> {
        let engine = self.engine_name();
        let span = tracing::debug_span!("instantiate", engine, outcome = tracing::field::Empty);
        let _entered = span.enter();
        let instance = dispatch!(AnyPrelinked, self, p => p.instantiate(state).map(Into::into));
        record_outcome(&span, &instance);
        instance
    }
}

/// Records how an operation inside `span` ended: `ok`, or the error.
fn record_outcome<R>(span: &tracing::Span, result: &Result<R, WasmError>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(_) => span.record("outcome", "ok"),
        Err(e) => span.record("outcome", tracing::field::display(e)),
    };
}

impl<T: Send + 'static> AnyInstance<T> {
    /// A typed handle to export `name`, on whichever engine this is:
    /// `instance.typed::<(i32, i32), i64>("f")?`, then `handle.call(&mut instance, (1, 2))?`
    /// with no lookup and no `Vec`. One parameter is the bare type (`i32`), not a 1-tuple.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: Params, R: Results>(
        &mut self,
        name: &str,
    ) -> Result<AnyTyped<P, R>, WasmError> {
        dispatch!(AnyInstance, self, i => i.typed(name).map(Into::into))
    }

    /// A typed handle to serialized export `name`, taking `I` and giving `O`:
    /// `let f = instance.serialized::<In, Out>("name")?; f.call(&mut instance, &input)?`.
    ///
    /// # Errors
    /// As [`AnyInstance::typed`] for the ABI's `(i32, i32) -> i64`.
    pub fn serialized<I: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<AnySerialized<I, O>, WasmError> {
        self.typed(name).map(crate::SerializedFunc::new)
    }
}

impl<T: Send + 'static> Instance<T> for AnyInstance<T> {
    fn state(&self) -> &T {
        dispatch!(AnyInstance, self, i => i.state())
    }

    fn state_mut(&mut self) -> &mut T {
        dispatch!(AnyInstance, self, i => i.state_mut())
    }

    fn interrupt_handle(&self) -> Option<wasmhost_api::InterruptHandle> {
        dispatch!(AnyInstance, self, i => i.interrupt_handle())
    }

    fn set_call_timeout(&mut self, timeout: Option<std::time::Duration>) -> Result<(), WasmError> {
        dispatch!(AnyInstance, self, i => i.set_call_timeout(timeout))
    }

    fn reset(&mut self) -> Result<(), WasmError> {
        dispatch!(AnyInstance, self, i => i.reset())
    }

    // Dispatch once per call rather than once per ABI step.
    fn call<I, O>(&mut self, export: &str, input: &I) -> Result<O, WasmError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        dispatch!(AnyInstance, self, i => i.call(export, input))
    }

    fn call_bytes(&mut self, export: &str, input: &[u8]) -> Result<Vec<u8>, WasmError> {
        dispatch!(AnyInstance, self, i => i.call_bytes(export, input))
    }
}

impl<T: Send + 'static> Guest for AnyInstance<T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        // Raw calls are the hot path: without a subscriber at trace level, one atomic load
        // (building even a disabled span cost about 6 ns, a tenth of a call by name).
        if tracing::level_filters::LevelFilter::current() < tracing::Level::TRACE {
            return dispatch!(AnyInstance, self, i => i.call_raw(name, args));
        }
        let span = tracing::trace_span!("call_raw", export = name, outcome = tracing::field::Empty);
        let _entered = span.enter();
        let results = dispatch!(AnyInstance, self, i => i.call_raw(name, args));
        record_outcome(&span, &results);
        results
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        dispatch!(AnyInstance, self, i => i.call_packed(name, ptr, len))
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        dispatch!(AnyInstance, self, i => i.alloc(len))
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        dispatch!(AnyInstance, self, i => i.dealloc(ptr, len))
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        dispatch!(AnyInstance, self, i => i.memory_slice(ptr, len))
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        dispatch!(AnyInstance, self, i => i.memory_slice_mut(ptr, len))
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        dispatch!(AnyInstance, self, i => i.memory_size())
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        dispatch!(AnyInstance, self, i => i.global(name))
    }

    fn config(&self) -> &Config {
        dispatch!(AnyInstance, self, i => i.config())
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        dispatch!(AnyInstance, self, i => i.fuel_remaining())
    }

    fn fuel_consumed(&mut self) -> Option<u64> {
        dispatch!(AnyInstance, self, i => i.fuel_consumed())
    }

    fn set_fuel(&mut self, budget: u64) -> Result<(), WasmError> {
        dispatch!(AnyInstance, self, i => i.set_fuel(budget))
    }

    fn charge(&mut self, units: u64) -> Result<(), WasmError> {
        dispatch!(AnyInstance, self, i => i.charge(units))
    }
}
