//! The contract's [`Guest`] and [`Caller`] on a wasmer store, shared by instances and by
//! host functions: both reach the store and the instance's [`Env`] through a
//! `FunctionEnvMut`.

use wasmer::{AsStoreRef, Exports, Function, FunctionEnvMut, Memory, TypedFunction};
use wasmhost_api::{Caller, FuncSig, Guest, ValType, Value, WasmError, abi};

use crate::convert::{func_sig, map_runtime_error, params_match, to_value, to_wasmer};

/// A serialized export: `(ptr, len) -> packed (ptr, len)`.
type PackedFunc = TypedFunction<(i32, i32), i64>;

/// What a wasmhost instance keeps in its wasmer function environment: the host state, and
/// the guest's ABI exports, looked up once.
pub struct Env<T> {
    pub(crate) state: T,
    pub(crate) max_payload_bytes: u32,
    exports: Option<Exports>,
    memory: Option<Memory>,
    alloc: Option<TypedFunction<i32, i32>>,
    dealloc: Option<TypedFunction<(i32, i32), ()>>,
    /// The serialized export called last, so that repeated calls skip the lookup and the
    /// signature check.
    last_packed: Option<(Box<str>, PackedFunc)>,
}

impl<T> Env<T> {
    pub(crate) fn new(state: T, max_payload_bytes: u32) -> Self {
        Env {
            state,
            max_payload_bytes,
            exports: None,
            memory: None,
            alloc: None,
            dealloc: None,
            last_packed: None,
        }
    }

    /// Records the exports once the instance exists; host functions called from its start
    /// function see no exports, as in every engine.
    pub(crate) fn set_exports(&mut self, exports: Exports) {
        self.exports = Some(exports);
    }
}

/// A store and its instance's [`Env`] seen as a [`Guest`].
pub(crate) struct Access<'a, T: 'static>(pub(crate) FunctionEnvMut<'a, Env<T>>);

impl<T: Send + 'static> Access<'_, T> {
    fn func(&self, name: &str) -> Result<Function, WasmError> {
        let exports = self
            .0
            .data()
            .exports
            .as_ref()
            .ok_or_else(|| WasmError::host("the instance is still starting: no exports yet"))?;
        exports
            .get_function(name)
            .cloned()
            .map_err(|_| WasmError::MissingExport(name.to_string()))
    }

    fn typed<P, R>(&self, name: &str, expected: &FuncSig) -> Result<TypedFunction<P, R>, WasmError>
    where
        P: wasmer::WasmTypeList,
        R: wasmer::WasmTypeList,
    {
        let func = self.func(name)?;
        func.typed::<P, R>(&self.0)
            .map_err(|_| signature_error(name, expected, &func, &self.0))
    }

    fn memory(&mut self) -> Result<Memory, WasmError> {
        if let Some(m) = &self.0.data().memory {
            return Ok(m.clone());
        }
        let m = self
            .0
            .data()
            .exports
            .as_ref()
            .and_then(|e| e.get_memory(abi::MEMORY).ok())
            .cloned()
            .ok_or_else(|| WasmError::MissingExport(abi::MEMORY.to_string()))?;
        self.0.data_mut().memory = Some(m.clone());
        Ok(m)
    }
}

fn signature_error(
    name: &str,
    expected: &FuncSig,
    func: &Function,
    store: &impl AsStoreRef,
) -> WasmError {
    WasmError::ExportSignature {
        name: name.to_string(),
        expected: expected.to_string(),
        found: func_sig(&func.ty(store)).map_or_else(|| "non-numeric".into(), |s| s.to_string()),
    }
}

impl<T: Send + 'static> Guest for Access<'_, T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        let func = self.func(name)?;
        let ty = func.ty(&self.0);
        // Compared in place: this is the hot path of every raw call.
        if !params_match(ty.params(), args) {
            let wanted = FuncSig {
                params: args.iter().map(Value::ty).collect(),
                results: func_sig(&ty).map(|s| s.results).unwrap_or_default(),
            };
            return Err(signature_error(name, &wanted, &func, &self.0));
        }
        let args: Vec<_> = args.iter().copied().map(to_wasmer).collect();
        let results = func.call(&mut self.0, &args).map_err(map_runtime_error)?;
        results
            .iter()
            .map(to_value)
            .collect::<Result<_, _>>()
            .map_err(map_runtime_error)
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        let f = match &self.0.data().last_packed {
            Some((last, f)) if **last == *name => f.clone(),
            _ => {
                let f = self.typed::<(i32, i32), i64>(name, &FuncSig::packed())?;
                self.0.data_mut().last_packed = Some((name.into(), f.clone()));
                f
            }
        };
        f.call(&mut self.0, ptr as i32, len as i32)
            .map(|p| p as u64)
            .map_err(map_runtime_error)
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        let f = match &self.0.data().alloc {
            Some(f) => f.clone(),
            None => {
                let sig = FuncSig::new(&[ValType::I32], &[ValType::I32]);
                let f = self.typed::<i32, i32>(abi::ALLOC, &sig)?;
                self.0.data_mut().alloc = Some(f.clone());
                f
            }
        };
        f.call(&mut self.0, len as i32)
            .map(|p| p as u32)
            .map_err(map_runtime_error)
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        let f = match &self.0.data().dealloc {
            Some(f) => f.clone(),
            None => {
                let sig = FuncSig::new(&[ValType::I32, ValType::I32], &[]);
                let f = self.typed::<(i32, i32), ()>(abi::DEALLOC, &sig)?;
                self.0.data_mut().dealloc = Some(f.clone());
                f
            }
        };
        f.call(&mut self.0, ptr as i32, len as i32)
            .map_err(map_runtime_error)
    }

    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, WasmError> {
        let memory = self.memory()?;
        let view = memory.view(&self.0);
        let range = abi::checked_range(ptr, len, view.data_size())?;
        // SAFETY: the range is inside memory (checked above); without the threads proposal
        // nothing else can touch this memory while we hold the store mutably. A plain
        // memcpy instead of `MemoryView::read`'s volatile loop is 2-3x faster here.
        Ok(unsafe { view.data_unchecked() }[range].to_vec())
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), WasmError> {
        let memory = self.memory()?;
        let view = memory.view(&self.0);
        let range = abi::checked_range(ptr, bytes.len() as u32, view.data_size())?;
        // SAFETY: as in `read`.
        let memory_bytes = unsafe { view.data_unchecked_mut() };
        memory_bytes[range].copy_from_slice(bytes);
        Ok(())
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        let memory = self.memory()?;
        Ok(memory.view(&self.0).data_size())
    }

    fn max_payload_bytes(&self) -> u32 {
        self.0.data().max_payload_bytes
    }
}

impl<T: Send + 'static> Caller<T> for Access<'_, T> {
    fn state(&self) -> &T {
        &self.0.data().state
    }

    fn state_mut(&mut self) -> &mut T {
        &mut self.0.data_mut().state
    }
}
