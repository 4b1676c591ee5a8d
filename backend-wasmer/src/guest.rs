//! The contract's [`Guest`] and [`Caller`] on a wasmer store, shared by instances and by
//! host functions: both reach the store and the instance's [`Env`] through a
//! `FunctionEnvMut`.

use std::sync::Arc;

use wasmer::{
    AsStoreMut, AsStoreRef, Exports, Function, FunctionEnvMut, Global as WasmerGlobal, Memory,
    TypedFunction,
};
use wasmhost_api::{
    Caller, Config, FuncSig, Guest, Metering, Trap, ValType, Value, WasmError, abi,
};
use wasmhost_instrument::meter::{self, FuelCell, Ledger};
use wasmhost_instrument::{Global, GlobalsAfterTrap, classify};

use crate::convert::{func_sig, map_runtime_error, params_match, to_value, to_wasmer};

/// A serialized export: `(ptr, len) -> packed (ptr, len)`.
type PackedFunc = TypedFunction<(i32, i32), i64>;

/// The globals wasmer's metering middleware exports: the points left, and whether they ran
/// out (the middleware then traps with `unreachable`).
const NATIVE_REMAINING: &str = "wasmer_metering_remaining_points";
const NATIVE_EXHAUSTED: &str = "wasmer_metering_points_exhausted";

const GLOBALS: [Global; 3] = [Global::Fuel, Global::Depth, Global::Limit];

/// What a wasmhost instance keeps in its wasmer function environment: the host state, and
/// the guest's ABI exports, looked up once.
pub struct Env<T> {
    pub(crate) state: T,
    pub(crate) config: Arc<Config>,
    ledger: Ledger,
    exports: Option<Exports>,
    /// The globals the instrumentation passes added, by [`Global`].
    globals: [Option<WasmerGlobal>; 3],
    /// The native meter's globals: points left, exhausted flag.
    native: Option<(WasmerGlobal, WasmerGlobal)>,
    memory: Option<Memory>,
    alloc: Option<TypedFunction<i32, i32>>,
    dealloc: Option<TypedFunction<(i32, i32), ()>>,
    /// The serialized export called last, so that repeated calls skip the lookup and the
    /// signature check.
    last_packed: Option<(Box<str>, PackedFunc)>,
    /// The raw export called last, with its parameter types, so that repeated calls skip
    /// the lookup and the type's copy.
    last_raw: Option<(Box<str>, Function, Box<[wasmer::Type]>)>,
}

impl<T> Env<T> {
    pub(crate) fn new(state: T, config: Arc<Config>) -> Self {
        Env {
            state,
            ledger: Ledger {
                budget: config.initial_fuel,
                spent: false,
            },
            config,
            exports: None,
            globals: [None, None, None],
            native: None,
            memory: None,
            alloc: None,
            dealloc: None,
            last_packed: None,
            last_raw: None,
        }
    }

    /// Records the exports once the instance exists. Host functions called from a start
    /// function the engine runs see no exports; one the instrumentation moved to an export
    /// runs after this, and sees them.
    pub(crate) fn set_exports(&mut self, exports: Exports) {
        let global = |name: &str| exports.get_global(name).ok().cloned();
        self.globals = GLOBALS.map(|g| global(g.export_name()));
        self.native = global(NATIVE_REMAINING).zip(global(NATIVE_EXHAUSTED));
        self.exports = Some(exports);
    }
}

/// A new instance's identity, which its typed handles carry.
pub(crate) fn next_instance_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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

    pub(crate) fn typed<P, R>(
        &self,
        name: &str,
        expected: &FuncSig,
    ) -> Result<TypedFunction<P, R>, WasmError>
    where
        P: wasmer::WasmTypeList,
        R: wasmer::WasmTypeList,
    {
        let func = self.func(name)?;
        func.typed::<P, R>(&self.0)
            .map_err(|_| signature_error(name, expected, &func, &self.0))
    }

    pub(crate) fn memory(&mut self) -> Result<Memory, WasmError> {
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

    fn read_global(&mut self, g: Global) -> Option<i64> {
        let global = self.0.data().globals[g as usize].clone()?;
        match global.get(&mut self.0) {
            wasmer::Value::I32(v) => Some(v as i64),
            wasmer::Value::I64(v) => Some(v),
            _ => None,
        }
    }

    fn write_global(&mut self, g: Global, value: i64) {
        if let Some(global) = self.0.data().globals[g as usize].clone() {
            let value = match g {
                Global::Fuel => wasmer::Value::I64(value),
                Global::Depth | Global::Limit => wasmer::Value::I32(value as i32),
            };
            // The globals are ours: mutable and of this type, so this cannot fail.
            let _ = global.set(&mut self.0, value);
        }
    }

    /// Runs one call the host makes into the guest: the limit flag starts down, and after a
    /// failure the call depth goes back to 0 (a trap leaves it raised).
    pub(crate) fn entry<R>(
        &mut self,
        call: impl FnOnce(&mut Self) -> Result<R, WasmError>,
    ) -> Result<R, WasmError> {
        if self.0.data().globals[Global::Limit as usize].is_some() {
            self.write_global(Global::Limit, 0);
        }
        let result = call(self);
        if result.is_err() && self.0.data().globals[Global::Depth as usize].is_some() {
            self.write_global(Global::Depth, 0);
        }
        result
    }

    /// Runs a typed call on the store, as every call into the guest runs: refused on a
    /// spent instance, its failure classified.
    pub(crate) fn call_typed<R>(
        &mut self,
        call: impl FnOnce(&mut FunctionEnvMut<'_, Env<T>>) -> Result<R, wasmer::RuntimeError>,
    ) -> Result<R, WasmError> {
        meter::check_live(self)?;
        call(&mut self.0).map_err(|e| self.fail(e))
    }

    /// The contract's error for a failed guest call, with the meters' and the passes'
    /// traps told apart.
    pub(crate) fn fail(&mut self, e: wasmer::RuntimeError) -> WasmError {
        let mut error = map_runtime_error(e);
        if error == WasmError::Trap(Trap::Unreachable) && self.native_exhausted() {
            error = WasmError::OutOfFuel;
        }
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

    fn native_exhausted(&mut self) -> bool {
        match self.0.data().native.clone() {
            Some((_, exhausted)) => exhausted.get(&mut self.0) == wasmer::Value::I32(1),
            None => false,
        }
    }
}

impl<T: Send + 'static> FuelCell for Access<'_, T> {
    fn metering(&self) -> Metering {
        self.0.data().config.metering
    }

    fn cell(&mut self) -> i64 {
        match self.metering() {
            Metering::Portable => self.read_global(Global::Fuel).unwrap_or(0),
            _ => match self.0.data().native.clone() {
                Some(_) if self.native_exhausted() => -1,
                Some((remaining, _)) => match remaining.get(&mut self.0) {
                    wasmer::Value::I64(points) => points,
                    _ => 0,
                },
                None => 0,
            },
        }
    }

    fn set_cell(&mut self, fuel: i64) {
        match self.metering() {
            Metering::Portable => self.write_global(Global::Fuel, fuel),
            _ => {
                if let Some((remaining, exhausted)) = self.0.data().native.clone() {
                    // The middleware's globals are mutable, of these types.
                    let _ = remaining.set(&mut self.0, wasmer::Value::I64(fuel.max(0)));
                    let _ = exhausted.set(&mut self.0, wasmer::Value::I32((fuel < 0) as i32));
                }
            }
        }
    }

    fn ledger(&mut self) -> &mut Ledger {
        &mut self.0.data_mut().ledger
    }
}

/// `ptr..ptr+len` of `memory`, lent for as long as `store` is borrowed.
pub(crate) fn memory_slice<'s>(
    memory: &Memory,
    store: &'s mut impl AsStoreMut,
    ptr: u32,
    len: u32,
) -> Result<&'s mut [u8], WasmError> {
    let view = memory.view(store);
    let range = abi::checked_range(ptr, len, view.data_size())?;
    // SAFETY: the range is inside memory (checked above). The slice lives as long as the
    // store's exclusive borrow: no guest code runs and memory cannot grow or move meanwhile,
    // and without the threads proposal nothing else touches it. A plain slice, not
    // `MemoryView::read`/`write`, because their volatile byte loop is 2-3x slower than memcpy.
    unsafe {
        let start = view.data_unchecked_mut().as_mut_ptr().add(range.start);
        Ok(std::slice::from_raw_parts_mut(start, range.len()))
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

/// A global whose type the contract's [`Value`] does not carry.
fn global_type_error(name: &str, ty: wasmer::Type) -> WasmError {
    WasmError::ExportSignature {
        name: name.to_string(),
        expected: "a global of a numeric or reference type".into(),
        found: format!("a global of type {ty:?}"),
    }
}

impl<T: Send + 'static> Guest for Access<'_, T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        meter::check_live(self)?;
        let func = match &self.0.data().last_raw {
            Some((last, func, params)) if **last == *name && params_match(params, args) => {
                func.clone()
            }
            _ => {
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
                self.0.data_mut().last_raw = Some((name.into(), func.clone(), ty.params().into()));
                func
            }
        };
        let args = args
            .iter()
            .map(|a| to_wasmer(&mut self.0, *a))
            .collect::<Result<Vec<_>, _>>()?;
        let results = match func.call(&mut self.0, &args) {
            Ok(results) => results,
            Err(e) => return Err(self.fail(e)),
        };
        results
            .iter()
            .map(|r| to_value(&self.0, r))
            .collect::<Result<_, _>>()
            .map_err(map_runtime_error)
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        meter::check_live(self)?;
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
            .map_err(|e| self.fail(e))
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        meter::check_live(self)?;
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
            .map_err(|e| self.fail(e))
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        meter::check_live(self)?;
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
            .map_err(|e| self.fail(e))
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        let memory = self.memory()?;
        memory_slice(&memory, &mut self.0, ptr, len).map(|s| &*s)
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        let memory = self.memory()?;
        memory_slice(&memory, &mut self.0, ptr, len)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        let memory = self.memory()?;
        Ok(memory.view(&self.0).data_size())
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        let global = self
            .0
            .data()
            .exports
            .as_ref()
            .and_then(|e| e.get_global(name).ok())
            .cloned()
            .ok_or_else(|| WasmError::MissingExport(name.to_string()))?;
        let value = global.get(&mut self.0);
        to_value(&self.0, &value).map_err(|_| global_type_error(name, value.ty()))
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

impl<T: Send + 'static> Caller<T> for Access<'_, T> {
    fn state(&self) -> &T {
        &self.0.data().state
    }

    fn state_mut(&mut self) -> &mut T {
        &mut self.0.data_mut().state
    }
}
