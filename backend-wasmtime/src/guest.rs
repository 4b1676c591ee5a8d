//! The contract's [`Guest`] and [`Caller`] on a wasmtime store, shared by instances and by
//! host functions (both reach the store through `AsContextMut`).

use std::sync::Arc;

use wasmhost_api::{Caller, Config, Guest, Metering, Value, WasmError, abi};
use wasmhost_instrument::meter::{self, FuelCell, Ledger};
use wasmhost_instrument::{Global, GlobalsAfterTrap, classify};
use wasmtime::{AsContext, AsContextMut, Func, FuncType, Memory, RootScope, TypedFunc, Val};

use crate::convert::{func_sig, map_error, params_match, to_val, to_value};

/// A serialized export: `(ptr, len) -> packed (ptr, len)`.
type PackedFunc = TypedFunc<(i32, i32), i64>;

/// What a wasmhost instance keeps in its wasmtime store: the host state, and the guest's
/// ABI exports, looked up once.
pub struct StoreData<T> {
    pub(crate) state: T,
    pub(crate) config: Arc<Config>,
    ledger: Ledger,
    instance: Option<wasmtime::Instance>,
    /// The globals the instrumentation passes added, by [`Global`].
    globals: [Option<wasmtime::Global>; 3],
    memory: Option<Memory>,
    alloc: Option<TypedFunc<i32, i32>>,
    dealloc: Option<TypedFunc<(i32, i32), ()>>,
    /// The serialized export called last, so that repeated calls skip the lookup and the
    /// signature check.
    last_packed: Option<(Box<str>, PackedFunc)>,
    /// The raw export called last, with its type, so that repeated calls skip the lookup.
    last_raw: Option<(Box<str>, Func, FuncType)>,
}

const GLOBALS: [Global; 3] = [Global::Fuel, Global::Depth, Global::Limit];

impl<T: 'static> StoreData<T> {
    pub(crate) fn new(state: T, config: Arc<Config>) -> Self {
        StoreData {
            state,
            ledger: Ledger {
                budget: config.initial_fuel,
                spent: false,
            },
            config,
            instance: None,
            globals: [None; 3],
            memory: None,
            alloc: None,
            dealloc: None,
            last_packed: None,
            last_raw: None,
        }
    }

    /// Records the instance once it exists. Host functions called from a start function the
    /// engine runs see no exports; one the instrumentation moved to an export runs after
    /// this, and sees them.
    pub(crate) fn set_instance(store: &mut wasmtime::Store<Self>, instance: wasmtime::Instance) {
        let globals = GLOBALS.map(|g| instance.get_global(&mut *store, g.export_name()));
        let data = store.data_mut();
        data.instance = Some(instance);
        data.globals = globals;
    }
}

/// A wasmtime store holding [`StoreData`]: an instance's own store, or a host function's
/// `Caller`.
pub(crate) trait StoreLike: AsContextMut<Data = StoreData<Self::State>> {
    type State: 'static;
    fn data(&self) -> &StoreData<Self::State>;
    fn data_mut(&mut self) -> &mut StoreData<Self::State>;
}

impl<T: 'static> StoreLike for &mut wasmtime::Store<StoreData<T>> {
    type State = T;
    fn data(&self) -> &StoreData<T> {
        wasmtime::Store::data(self)
    }
    fn data_mut(&mut self) -> &mut StoreData<T> {
        wasmtime::Store::data_mut(self)
    }
}

impl<T: 'static> StoreLike for wasmtime::Caller<'_, StoreData<T>> {
    type State = T;
    fn data(&self) -> &StoreData<T> {
        wasmtime::Caller::data(self)
    }
    fn data_mut(&mut self) -> &mut StoreData<T> {
        wasmtime::Caller::data_mut(self)
    }
}

/// A new instance's identity, which its typed handles carry.
pub(crate) fn next_instance_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A store seen as a [`Guest`].
pub(crate) struct Access<C>(pub(crate) C);

impl<C: StoreLike> Access<C> {
    fn instance(&self) -> Result<wasmtime::Instance, WasmError> {
        self.0
            .data()
            .instance
            .ok_or_else(|| WasmError::host("the instance is still starting: no exports yet"))
    }

    fn func(&mut self, name: &str) -> Result<Func, WasmError> {
        self.instance()?
            .get_func(self.0.as_context_mut(), name)
            .ok_or_else(|| WasmError::MissingExport(name.to_string()))
    }

    pub(crate) fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
        &mut self,
        name: &str,
        expected: &wasmhost_api::FuncSig,
    ) -> Result<TypedFunc<P, R>, WasmError> {
        let func = self.func(name)?;
        func.typed::<P, R>(self.0.as_context())
            .map_err(|_| signature_error(name, expected, &func, &self.0))
    }

    pub(crate) fn memory(&mut self) -> Result<Memory, WasmError> {
        if let Some(m) = self.0.data().memory {
            return Ok(m);
        }
        let m = self
            .instance()?
            .get_memory(self.0.as_context_mut(), abi::MEMORY)
            .ok_or_else(|| WasmError::MissingExport(abi::MEMORY.to_string()))?;
        self.0.data_mut().memory = Some(m);
        Ok(m)
    }

    fn pass_global(&self, g: Global) -> Option<wasmtime::Global> {
        self.0.data().globals[g as usize]
    }

    fn read_global(&mut self, g: Global) -> Option<i64> {
        Some(match self.pass_global(g)?.get(self.0.as_context_mut()) {
            Val::I32(v) => v as i64,
            Val::I64(v) => v,
            _ => return None,
        })
    }

    fn write_global(&mut self, g: Global, value: i64) {
        if let Some(global) = self.pass_global(g) {
            let value = match g {
                Global::Fuel => Val::I64(value),
                Global::Depth | Global::Limit => Val::I32(value as i32),
            };
            // The globals are ours: mutable and of this type, so this cannot fail.
            let _ = global.set(self.0.as_context_mut(), value);
        }
    }

    /// Runs one call the host makes into the guest: the limit flag starts down, and after a
    /// failure the call depth goes back to 0 (a trap leaves it raised).
    pub(crate) fn entry<R>(
        &mut self,
        call: impl FnOnce(&mut Self) -> Result<R, WasmError>,
    ) -> Result<R, WasmError> {
        if self.pass_global(Global::Limit).is_some() {
            self.write_global(Global::Limit, 0);
        }
        let result = call(self);
        if result.is_err() && self.pass_global(Global::Depth).is_some() {
            self.write_global(Global::Depth, 0);
        }
        result
    }

    /// Runs a typed call on the store, as every call into the guest runs: refused on a
    /// spent instance, its failure classified.
    pub(crate) fn call_typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
        &mut self,
        func: &TypedFunc<P, R>,
        args: P,
    ) -> Result<R, WasmError> {
        meter::check_live(self)?;
        func.call(self.0.as_context_mut(), args)
            .map_err(|e| self.fail(e))
    }

    /// Calls `func`, of type `ty`, with `args`: the body of [`Guest::call_raw`].
    fn call_func(
        &mut self,
        name: &str,
        func: Func,
        ty: &FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, WasmError> {
        // Compared in place: this is the hot path of every raw call.
        if !params_match(ty, args) {
            let wanted = wasmhost_api::FuncSig {
                params: args.iter().map(Value::ty).collect(),
                results: func_sig(ty).map(|s| s.results).unwrap_or_default(),
            };
            return Err(signature_error(name, &wanted, &func, &self.0));
        }
        // Host references made for this call are rooted in a scope of its own, and released
        // when it ends: without it they would live as long as the store.
        let outcome = {
            let mut scope = RootScope::new(self.0.as_context_mut());
            let args = args
                .iter()
                .map(|a| to_val(&mut scope, *a))
                .collect::<Result<Vec<_>, _>>()?;
            let mut results = vec![Val::I32(0); ty.results().len()];
            match func.call(&mut scope, &args, &mut results) {
                Ok(()) => Ok(results
                    .iter()
                    .map(|r| to_value(&scope, r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_error)),
                Err(e) => Err(e),
            }
        };
        outcome.map_err(|e| self.fail(e))?
    }

    /// The contract's error for a failed guest call, with the passes' traps told apart.
    pub(crate) fn fail(&mut self, e: wasmtime::Error) -> WasmError {
        let mut error = map_error(e);
        if let WasmError::Trap(_) = error {
            let globals = GlobalsAfterTrap {
                fuel: self.read_global(Global::Fuel),
                depth: self.read_global(Global::Depth).map(|d| d as i32),
                limit: self.read_global(Global::Limit).map(|l| l as i32),
            };
            error = classify(error, globals, self.0.data().config.call_depth_limit());
        }
        meter::note_failure(self, &error);
        error
    }
}

impl<C: StoreLike> FuelCell for Access<C> {
    fn metering(&self) -> Metering {
        self.0.data().config.metering
    }

    fn cell(&mut self) -> i64 {
        match self.metering() {
            Metering::Portable => self.read_global(Global::Fuel).unwrap_or(0),
            _ => self
                .0
                .as_context()
                .get_fuel()
                .map_or(0, |f| f.min(i64::MAX as u64) as i64),
        }
    }

    fn set_cell(&mut self, fuel: i64) {
        match self.metering() {
            Metering::Portable => self.write_global(Global::Fuel, fuel),
            // wasmtime's fuel cannot go negative: exhaustion is recorded in the ledger.
            _ => {
                let _ = self.0.as_context_mut().set_fuel(fuel.max(0) as u64);
            }
        }
    }

    fn ledger(&mut self) -> &mut Ledger {
        &mut self.0.data_mut().ledger
    }
}

/// `ptr..ptr+len` of a memory's bytes, checked.
pub(crate) fn memory_slice(data: &mut [u8], ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
    let range = abi::checked_range(ptr, len, data.len() as u64)?;
    Ok(&mut data[range])
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
        meter::check_live(self)?;
        // Taken out for the call and put back after: cloning a wasmtime function type costs
        // several atomic reference counts. (A nested call by the guest, through a host
        // function, finds none and looks its own export up.)
        let (last, func, ty) = match self.0.data_mut().last_raw.take() {
            Some(entry) if *entry.0 == *name => entry,
            _ => {
                let func = self.func(name)?;
                let ty = func.ty(self.0.as_context());
                (name.into(), func, ty)
            }
        };
        let results = self.call_func(name, func, &ty, args);
        self.0.data_mut().last_raw = Some((last, func, ty));
        results
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        meter::check_live(self)?;
        // Taken out and put back, as in `call_raw`.
        let (last, f) = match self.0.data_mut().last_packed.take() {
            Some(entry) if *entry.0 == *name => entry,
            _ => {
                let f = self.typed::<(i32, i32), i64>(name, &wasmhost_api::FuncSig::packed())?;
                (name.into(), f)
            }
        };
        let packed = f.call(self.0.as_context_mut(), (ptr as i32, len as i32));
        self.0.data_mut().last_packed = Some((last, f));
        packed.map(|p| p as u64).map_err(|e| self.fail(e))
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        meter::check_live(self)?;
        let f = match self.0.data_mut().alloc.take() {
            Some(f) => f,
            None => {
                let sig = wasmhost_api::FuncSig::new(
                    &[wasmhost_api::ValType::I32],
                    &[wasmhost_api::ValType::I32],
                );
                self.typed::<i32, i32>(abi::ALLOC, &sig)?
            }
        };
        let ptr = f.call(self.0.as_context_mut(), len as i32);
        self.0.data_mut().alloc = Some(f);
        ptr.map(|p| p as u32).map_err(|e| self.fail(e))
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        meter::check_live(self)?;
        let f = match self.0.data_mut().dealloc.take() {
            Some(f) => f,
            None => {
                let sig = wasmhost_api::FuncSig::new(
                    &[wasmhost_api::ValType::I32, wasmhost_api::ValType::I32],
                    &[],
                );
                self.typed::<(i32, i32), ()>(abi::DEALLOC, &sig)?
            }
        };
        let done = f.call(self.0.as_context_mut(), (ptr as i32, len as i32));
        self.0.data_mut().dealloc = Some(f);
        done.map_err(|e| self.fail(e))
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        let memory = self.memory()?;
        memory_slice(memory.data_mut(self.0.as_context_mut()), ptr, len).map(|s| &*s)
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        let memory = self.memory()?;
        memory_slice(memory.data_mut(self.0.as_context_mut()), ptr, len)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        let memory = self.memory()?;
        Ok(memory.data_size(self.0.as_context()) as u64)
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        let global = self
            .instance()?
            .get_global(self.0.as_context_mut(), name)
            .ok_or_else(|| WasmError::MissingExport(name.to_string()))?;
        let mut scope = RootScope::new(self.0.as_context_mut());
        let value = global.get(&mut scope);
        to_value(&scope, &value).map_err(|_| WasmError::ExportSignature {
            name: name.to_string(),
            expected: "a global of a numeric or reference type".into(),
            found: format!("a global of type {:?}", value.ty(&scope)),
        })
    }

    fn config(&self) -> &Config {
        &self.0.data().config
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        meter::remaining(self)
    }

    fn fuel_consumed(&mut self) -> Option<u64> {
        meter::consumed(self)
    }

    fn set_fuel(&mut self, budget: u64) -> Result<(), WasmError> {
        meter::set_budget(self, budget)
    }

    fn charge(&mut self, units: u64) -> Result<(), WasmError> {
        meter::charge(self, units)
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
