//! The contract's [`Guest`] and [`Caller`] on a wasmi store, shared by instances and by
//! host functions (both reach the store through `AsContextMut`).

use wasmhost_api::{Caller, Guest, Value, WasmError, abi};
use wasmi::{AsContext, AsContextMut, Func, Memory, TypedFunc};

use crate::convert::{func_sig, map_error, params_match, to_val, to_value};

/// A serialized export: `(ptr, len) -> packed (ptr, len)`.
type PackedFunc = TypedFunc<(i32, i32), i64>;

/// What a wasmhost instance keeps in its wasmi store: the host state, and the guest's ABI
/// exports, looked up once.
pub struct StoreData<T> {
    pub(crate) state: T,
    pub(crate) max_payload_bytes: u32,
    instance: Option<wasmi::Instance>,
    memory: Option<Memory>,
    alloc: Option<TypedFunc<i32, i32>>,
    dealloc: Option<TypedFunc<(i32, i32), ()>>,
    /// The serialized export called last, so that repeated calls skip the lookup and the
    /// signature check.
    last_packed: Option<(Box<str>, PackedFunc)>,
}

impl<T> StoreData<T> {
    pub(crate) fn new(state: T, max_payload_bytes: u32) -> Self {
        StoreData {
            state,
            max_payload_bytes,
            instance: None,
            memory: None,
            alloc: None,
            dealloc: None,
            last_packed: None,
        }
    }

    /// Records the instance once it exists; host functions called from its start function
    /// see no exports, as in every engine.
    pub(crate) fn set_instance(&mut self, instance: wasmi::Instance) {
        self.instance = Some(instance);
    }
}

/// A wasmi store holding [`StoreData`]: an instance's own store, or a host function's `Caller`.
pub(crate) trait StoreLike: AsContextMut<Data = StoreData<Self::State>> {
    type State;
    fn data(&self) -> &StoreData<Self::State>;
    fn data_mut(&mut self) -> &mut StoreData<Self::State>;
}

impl<T> StoreLike for &mut wasmi::Store<StoreData<T>> {
    type State = T;
    fn data(&self) -> &StoreData<T> {
        wasmi::Store::data(self)
    }
    fn data_mut(&mut self) -> &mut StoreData<T> {
        wasmi::Store::data_mut(self)
    }
}

impl<T> StoreLike for wasmi::Caller<'_, StoreData<T>> {
    type State = T;
    fn data(&self) -> &StoreData<T> {
        wasmi::Caller::data(self)
    }
    fn data_mut(&mut self) -> &mut StoreData<T> {
        wasmi::Caller::data_mut(self)
    }
}

/// A store seen as a [`Guest`].
pub(crate) struct Access<C>(pub(crate) C);

impl<C: StoreLike> Access<C> {
    fn instance(&self) -> Result<wasmi::Instance, WasmError> {
        self.0
            .as_context()
            .data()
            .instance
            .ok_or_else(|| WasmError::host("the instance is still starting: no exports yet"))
    }

    fn func(&self, name: &str) -> Result<Func, WasmError> {
        self.instance()?
            .get_func(self.0.as_context(), name)
            .ok_or_else(|| WasmError::MissingExport(name.to_string()))
    }

    fn typed<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &self,
        name: &str,
        expected: &wasmhost_api::FuncSig,
    ) -> Result<TypedFunc<P, R>, WasmError> {
        let func = self.func(name)?;
        func.typed::<P, R>(self.0.as_context())
            .map_err(|_| signature_error(name, expected, &func, &self.0))
    }

    fn memory(&mut self) -> Result<Memory, WasmError> {
        if let Some(m) = self.0.data().memory {
            return Ok(m);
        }
        let m = self
            .instance()?
            .get_memory(self.0.as_context(), abi::MEMORY)
            .ok_or_else(|| WasmError::MissingExport(abi::MEMORY.to_string()))?;
        self.0.data_mut().memory = Some(m);
        Ok(m)
    }
}

fn signature_error(
    name: &str,
    expected: &wasmhost_api::FuncSig,
    func: &Func,
    ctx: &impl AsContext,
) -> WasmError {
    WasmError::ExportSignature {
        name: name.to_string(),
        expected: expected.to_string(),
        found: func_sig(&func.ty(ctx)).map_or_else(|| "non-numeric".into(), |s| s.to_string()),
    }
}

impl<C: StoreLike> Guest for Access<C> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        let func = self.func(name)?;
        let ty = func.ty(self.0.as_context());
        // Compared in place: this is the hot path of every raw call.
        if !params_match(ty.params(), args) {
            let wanted = wasmhost_api::FuncSig {
                params: args.iter().map(Value::ty).collect(),
                results: func_sig(&ty).map(|s| s.results).unwrap_or_default(),
            };
            return Err(signature_error(name, &wanted, &func, &self.0));
        }
        let args: Vec<_> = args.iter().copied().map(to_val).collect();
        let mut results: Vec<_> = ty
            .results()
            .iter()
            .map(|t| wasmi::Val::default_for_ty(*t))
            .collect();
        func.call(self.0.as_context_mut(), &args, &mut results)
            .map_err(map_error)?;
        results
            .iter()
            .map(to_value)
            .collect::<Result<_, _>>()
            .map_err(map_error)
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        let f = match &self.0.data().last_packed {
            Some((last, f)) if **last == *name => *f,
            _ => {
                let f = self.typed::<(i32, i32), i64>(name, &wasmhost_api::FuncSig::packed())?;
                self.0.data_mut().last_packed = Some((name.into(), f));
                f
            }
        };
        f.call(self.0.as_context_mut(), (ptr as i32, len as i32))
            .map(|p| p as u64)
            .map_err(map_error)
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        let f = match self.0.data().alloc {
            Some(f) => f,
            None => {
                let sig = wasmhost_api::FuncSig::new(
                    &[wasmhost_api::ValType::I32],
                    &[wasmhost_api::ValType::I32],
                );
                let f = self.typed::<i32, i32>(abi::ALLOC, &sig)?;
                self.0.data_mut().alloc = Some(f);
                f
            }
        };
        f.call(self.0.as_context_mut(), len as i32)
            .map(|p| p as u32)
            .map_err(map_error)
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        let f = match self.0.data().dealloc {
            Some(f) => f,
            None => {
                let sig = wasmhost_api::FuncSig::new(
                    &[wasmhost_api::ValType::I32, wasmhost_api::ValType::I32],
                    &[],
                );
                let f = self.typed::<(i32, i32), ()>(abi::DEALLOC, &sig)?;
                self.0.data_mut().dealloc = Some(f);
                f
            }
        };
        f.call(self.0.as_context_mut(), (ptr as i32, len as i32))
            .map_err(map_error)
    }

    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, WasmError> {
        let memory = self.memory()?;
        let data = memory.data(self.0.as_context());
        let range = abi::checked_range(ptr, len, data.len() as u64)?;
        Ok(data[range].to_vec())
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), WasmError> {
        let memory = self.memory()?;
        let data = memory.data_mut(self.0.as_context_mut());
        let range = abi::checked_range(ptr, bytes.len() as u32, data.len() as u64)?;
        data[range].copy_from_slice(bytes);
        Ok(())
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        let memory = self.memory()?;
        Ok(memory.data(self.0.as_context()).len() as u64)
    }

    fn max_payload_bytes(&self) -> u32 {
        self.0.data().max_payload_bytes
    }
}

impl<C: StoreLike> Caller<C::State> for Access<C> {
    fn state(&self) -> &C::State {
        &self.0.data().state
    }

    fn state_mut(&mut self) -> &mut C::State {
        &mut self.0.data_mut().state
    }
}
