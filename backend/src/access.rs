//! A store in use seen as the contract's [`Guest`] and [`Caller`]: what an instance's calls
//! and a host function's calls back into the guest go through.

use wasmhost_api::typed::typed_sig;
use wasmhost_api::{
    Caller, Config, FuncSig, Guest, HostContext, HostFunc, Metering, Value, WasmError, WasmTypes,
    abi,
};
use wasmhost_instrument::meter::{self, FuelCell, Ledger};
use wasmhost_instrument::{Global, GlobalsAfterTrap, classify};

use crate::{AbiCalls, Backend, CallError, StoreData, TypedCall};

/// Where the store data keeps one of the ABI's typed handles.
type Slot<B, T, P, R> = fn(&mut StoreData<B, T>) -> &mut Option<<B as Backend>::Typed<P, R>>;

/// A store in use, seen as a [`Guest`] (and, to host functions, a [`Caller`]).
pub struct Access<'a, B: Backend, T: 'static>(pub B::Cx<'a, T>);

impl<B: Backend, T: Send + 'static> Access<'_, B, T> {
    /// Fails while the engine runs the start function: the exports are recorded after it.
    fn exports_ready(&self) -> Result<(), WasmError> {
        match B::data(&self.0).exports {
            Some(_) => Ok(()),
            None => Err(WasmError::host(
                "the instance is still starting: no exports yet",
            )),
        }
    }

    pub(crate) fn func(&mut self, name: &str) -> Result<B::Func, WasmError> {
        self.exports_ready()?;
        B::func(&mut self.0, name).ok_or_else(|| WasmError::MissingExport(name.to_string()))
    }

    /// The export `name` checked against `P -> R`, for the engine's typed call.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`], or [`WasmError::ExportSignature`] when the export's
    /// signature is not `P -> R`.
    pub fn typed<P: WasmTypes, R: WasmTypes>(
        &mut self,
        name: &str,
    ) -> Result<B::Typed<P, R>, WasmError>
    where
        B: TypedCall<P, R>,
    {
        let func = self.func(name)?;
        B::typed(&mut self.0, &func)
            .ok_or_else(|| self.signature_error(name, &typed_sig::<P, R>(), &func))
    }

    fn signature_error(&mut self, name: &str, expected: &FuncSig, func: &B::Func) -> WasmError {
        let ty = B::func_type(&mut self.0, func);
        WasmError::ExportSignature {
            name: name.to_string(),
            expected: expected.to_string(),
            found: B::func_sig(&ty).map_or_else(|| "non-numeric".into(), |s| s.to_string()),
        }
    }

    /// The guest's memory, looked up once.
    ///
    /// # Errors
    /// [`WasmError::MissingExport`] for a guest without one; [`WasmError::Host`] while the
    /// start function runs.
    pub fn memory(&mut self) -> Result<B::Memory, WasmError> {
        if let Some(m) = &B::data(&self.0).handles.memory {
            return Ok(m.clone());
        }
        self.exports_ready()?;
        let m = B::memory(&mut self.0, abi::MEMORY)
            .ok_or_else(|| WasmError::MissingExport(abi::MEMORY.to_string()))?;
        B::data_mut(&mut self.0).handles.memory = Some(m.clone());
        Ok(m)
    }

    fn pass_global(&self, g: Global) -> Option<B::Global> {
        B::data(&self.0).globals[g as usize].clone()
    }

    fn read_global(&mut self, g: Global) -> Option<i64> {
        let global = self.pass_global(g)?;
        match B::get_global(&mut self.0, &global) {
            Ok(Value::I32(v)) => Some(v as i64),
            Ok(Value::I64(v)) => Some(v),
            _ => None,
        }
    }

    fn write_global(&mut self, g: Global, value: i64) {
        if let Some(global) = self.pass_global(g) {
            let value = match g {
                Global::Fuel => Value::I64(value),
                Global::Depth | Global::Limit => Value::I32(value as i32),
            };
            B::set_global(&mut self.0, &global, value);
        }
    }

    /// Puts fuel, the limits' and the interruption's state back as a new instance has them:
    /// the last step of a reset.
    pub(crate) fn reset_accounts(&mut self) {
        let config = std::sync::Arc::clone(&B::data(&self.0).config);
        let fuel = config.initial_fuel.min(i64::MAX as u64) as i64;
        *self.ledger() = Ledger {
            budget: config.initial_fuel,
            ..Ledger::default()
        };
        match config.metering {
            Metering::Portable => self.write_global(Global::Fuel, fuel),
            Metering::Native => B::set_native_fuel(&mut self.0, fuel),
            Metering::Off => {}
        }
        self.write_global(Global::Depth, 0);
        self.write_global(Global::Limit, 0);
        if let Some(interrupt) = B::data(&self.0).interrupt.clone() {
            interrupt.reset(|| self.lower_interrupt_flag());
        }
    }

    /// Puts down the flag the interruption checks read, which the interrupt's signal raises.
    fn lower_interrupt_flag(&mut self) {
        if let Some(memory) = B::memory(&mut self.0, wasmhost_instrument::interrupt::EXPORT) {
            let flags = wasmhost_instrument::interrupt::FLAG_BYTES;
            let data = B::memory_data(B::reborrow(&mut self.0), &memory);
            data.iter_mut().take(flags).for_each(|b| *b = 0);
        }
    }

    /// Runs one call the host makes into the guest: the limit flag starts down, and after a
    /// failure the call depth goes back to 0 (a trap leaves it raised).
    pub fn entry<R>(
        &mut self,
        call: impl FnOnce(&mut Self) -> Result<R, WasmError>,
    ) -> Result<R, WasmError> {
        // The store's data is read once: on some engines each read is a lookup (wasmer
        // downcasts it from the store's objects), and this runs on every call.
        let data = B::data(&self.0);
        let limit = data.globals[Global::Limit as usize].is_some();
        let interruptible = data.interrupt.is_some();
        if limit {
            self.write_global(Global::Limit, 0);
        }
        let mut armed = false;
        if interruptible {
            let data = B::data(&self.0);
            if let (Some(interrupt), Some(timeout)) = (&data.interrupt, data.timeout) {
                interrupt.arm(timeout);
                armed = true;
            }
        }
        let result = call(self);
        if armed
            && let Some(interrupt) = &B::data(&self.0).interrupt
            && interrupt.disarm()
            && !matches!(result, Err(WasmError::Interrupted(_)))
        {
            // The deadline passed after the guest's last check: the call ended as if it
            // had not, and the deadline was its alone.
            let interrupt = std::sync::Arc::clone(interrupt);
            interrupt.forgive_deadline(|| self.lower_interrupt_flag());
        }
        if result.is_err() && B::data(&self.0).globals[Global::Depth as usize].is_some() {
            self.write_global(Global::Depth, 0);
        }
        result
    }

    /// Runs a typed call, as every call into the guest runs: refused on a spent instance,
    /// its failure classified.
    ///
    /// # Errors
    /// [`WasmError::OutOfFuel`] on a spent instance; the call's failure, classified.
    pub fn call_typed<P, R>(&mut self, func: &B::Typed<P, R>, args: P) -> Result<R, WasmError>
    where
        B: TypedCall<P, R>,
    {
        self.check_live()?;
        B::call_typed(&mut self.0, func, args).map_err(|e| self.fail(e))
    }

    /// Fails on a spent instance: one that ran out of fuel, exited or was interrupted.
    fn check_live(&mut self) -> Result<(), WasmError> {
        let data = B::data(&self.0);
        if let Some(why) = data.interrupted() {
            return Err(WasmError::Interrupted(why));
        }
        meter::live(&data.ledger)
    }

    /// The contract's error for a failed guest call, with the meters' and the passes' traps
    /// told apart; running out of fuel spends the instance. Once the instance's interrupt
    /// fired, whatever stopped the guest is reported as the interruption: the interruption
    /// checks stop it with `unreachable`, a host function with an error.
    pub fn fail(&mut self, e: B::Error) -> WasmError {
        let mut error = B::map_error(&mut self.0, e);
        if let Some(why) = B::data(&self.0).interrupted()
            && !matches!(error, WasmError::Exit(_))
        {
            return WasmError::Interrupted(why);
        }
        if let WasmError::Trap(_) = error {
            let globals = GlobalsAfterTrap {
                fuel: self.read_global(Global::Fuel),
                depth: self.read_global(Global::Depth).map(|d| d as i32),
                limit: self.read_global(Global::Limit).map(|l| l as i32),
            };
            error = classify(error, globals, B::data(&self.0).config.stack_limit());
        }
        meter::note_failure(self, &error);
        error
    }

    /// Calls `func`, of type `ty`, with `args`: the body of [`Guest::call_raw`].
    pub(crate) fn call_func(
        &mut self,
        name: &str,
        func: &B::Func,
        ty: &B::FuncType,
        args: &[Value],
    ) -> Result<Vec<Value>, WasmError> {
        // Compared in place: this is the hot path of every raw call.
        if !B::params_match(ty, args) {
            let wanted = FuncSig {
                params: args.iter().map(Value::ty).collect(),
                results: B::func_sig(ty).map(|s| s.results).unwrap_or_default(),
            };
            return Err(self.signature_error(name, &wanted, func));
        }
        match B::call(&mut self.0, func, ty, args) {
            Ok(results) => Ok(results),
            Err(CallError::Trap(e)) => Err(self.fail(e)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    /// A typed ABI call: `slot` of the store data holds the handle, looked up on first use.
    /// The handle is taken out for the call and put back after: cloning one costs atomic
    /// reference counts on some engines. (A nested call by the guest, through a host
    /// function, finds none and looks its own up.)
    fn abi_call<P: WasmTypes, R: WasmTypes>(
        &mut self,
        slot: Slot<B, T, P, R>,
        name: &str,
        args: P,
    ) -> Result<R, WasmError>
    where
        B: TypedCall<P, R>,
    {
        self.check_live()?;
        let f = match slot(B::data_mut(&mut self.0)).take() {
            Some(f) => f,
            None => self.typed::<P, R>(name)?,
        };
        let result = B::call_typed(&mut self.0, &f, args);
        *slot(B::data_mut(&mut self.0)) = Some(f);
        result.map_err(|e| self.fail(e))
    }
}

impl<'a, B: AbiCalls, T: Send + 'static> Access<'a, B, T> {
    /// Runs host function `func` on the store in use with `args`, and hands each of its
    /// results to `put` with the store (to convert into the engine's value): the body of
    /// every host function an engine calls.
    ///
    /// # Errors
    /// The host function's error, or `put`'s.
    pub fn host_call(
        cx: B::Cx<'a, T>,
        func: &HostFunc<T>,
        args: &[Value],
        mut put: impl FnMut(&mut B::Cx<'a, T>, Value) -> Result<(), WasmError>,
    ) -> Result<(), WasmError> {
        let mut access = Access::<B, T>(cx);
        if let Some(why) = B::data(&access.0).interrupted() {
            return Err(WasmError::Interrupted(why));
        }
        let out = func.invoke(&mut HostContext::new(&mut access), args)?;
        out.into_iter().try_for_each(|v| put(&mut access.0, v))
    }
}

impl<B: Backend, T: Send + 'static> FuelCell for Access<'_, B, T> {
    fn metering(&self) -> Metering {
        B::data(&self.0).config.metering
    }

    fn cell(&mut self) -> i64 {
        match self.metering() {
            Metering::Portable => self.read_global(Global::Fuel).unwrap_or(0),
            _ => B::native_fuel(&mut self.0),
        }
    }

    fn set_cell(&mut self, fuel: i64) {
        match self.metering() {
            Metering::Portable => self.write_global(Global::Fuel, fuel),
            _ => B::set_native_fuel(&mut self.0, fuel),
        }
    }

    fn ledger(&mut self) -> &mut Ledger {
        &mut B::data_mut(&mut self.0).ledger
    }
}

impl<B: AbiCalls, T: Send + 'static> Guest for Access<'_, B, T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        self.check_live()?;
        // Taken out for the call and put back after, as the ABI's handles are.
        let (last, func, ty) = match B::data_mut(&mut self.0).handles.raw.take() {
            Some(entry) if *entry.0 == *name => entry,
            _ => {
                let func = self.func(name)?;
                let ty = B::func_type(&mut self.0, &func);
                (name.into(), func, ty)
            }
        };
        let results = self.call_func(name, &func, &ty, args);
        B::data_mut(&mut self.0).handles.raw = Some((last, func, ty));
        results
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        self.check_live()?;
        let (last, f) = match B::data_mut(&mut self.0).handles.packed.take() {
            Some(entry) if *entry.0 == *name => entry,
            _ => (name.into(), self.typed::<(i32, i32), i64>(name)?),
        };
        let packed = B::call_typed(&mut self.0, &f, (ptr as i32, len as i32));
        B::data_mut(&mut self.0).handles.packed = Some((last, f));
        packed.map(|p| p as u64).map_err(|e| self.fail(e))
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        self.abi_call(|d| &mut d.handles.alloc, abi::ALLOC, len as i32)
            .map(|p| p as u32)
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        self.abi_call(
            |d| &mut d.handles.dealloc,
            abi::DEALLOC,
            (ptr as i32, len as i32),
        )
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        self.memory_slice_mut(ptr, len).map(|s| &*s)
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        let memory = self.memory()?;
        memory_slice(B::memory_data(B::reborrow(&mut self.0), &memory), ptr, len)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        let memory = self.memory()?;
        Ok(B::memory_data(B::reborrow(&mut self.0), &memory).len() as u64)
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        self.exports_ready()?;
        let global = B::global(&mut self.0, name)
            .ok_or_else(|| WasmError::MissingExport(name.to_string()))?;
        B::get_global(&mut self.0, &global).map_err(|ty| WasmError::ExportSignature {
            name: name.to_string(),
            expected: "a global of a numeric or reference type".into(),
            found: format!("a global of type {ty}"),
        })
    }

    fn config(&self) -> &Config {
        &B::data(&self.0).config
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

impl<B: AbiCalls, T: Send + 'static> Caller<T> for Access<'_, B, T> {
    fn state(&self) -> &T {
        &B::data(&self.0).state
    }

    fn state_mut(&mut self) -> &mut T {
        &mut B::data_mut(&mut self.0).state
    }

    fn interrupt_handle(&self) -> Option<wasmhost_api::InterruptHandle> {
        let interrupt = B::data(&self.0).interrupt.as_ref()?;
        Some(wasmhost_api::InterruptHandle::new(std::sync::Arc::clone(
            interrupt,
        )))
    }

    fn sleep(&mut self, duration: std::time::Duration) -> Result<(), WasmError> {
        let Some(interrupt) = B::data(&self.0).interrupt.clone() else {
            std::thread::sleep(duration);
            return Ok(());
        };
        interrupt
            .sleep(duration)
            .map_or(Ok(()), |why| Err(WasmError::Interrupted(why)))
    }
}

/// `ptr..ptr+len` of a memory's bytes, checked.
pub(crate) fn memory_slice(data: &mut [u8], ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
    let range = abi::checked_range(ptr, len, data.len() as u64)?;
    Ok(&mut data[range])
}
