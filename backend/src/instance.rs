//! A live instance in its own store: where the host's calls enter.

use std::sync::Arc;
use std::time::Duration;

use wasmhost_api::{Config, Guest, InterruptHandle, Value, WasmError, abi};
use wasmhost_instrument::START_EXPORT;

use crate::access::memory_slice;
use crate::reset::{Pristine, not_resettable};
use crate::store::Handles;
use crate::{AbiCalls, Access, Backend, TypedCall};

/// A live instance of a backend's module, in its own store.
pub struct Instance<B: Backend, T: Send + 'static> {
    pub(crate) store: B::Store<T>,
    /// Tells this instance's typed handles from another's.
    pub(crate) id: u64,
    /// Whether calls need the meters' and the passes' bookkeeping; without it they go
    /// straight to the engine.
    pub(crate) guarded: bool,
    /// The configuration, read on every serialized call, kept outside the store (a lookup
    /// per read on wasmer).
    config: Arc<Config>,
    /// The handles the host's own calls use, looked up once and kept outside the store: on
    /// an unguarded instance those calls go straight to the engine, with no lookup in the
    /// store's data. Host functions calling back use the store data's own caches.
    handles: Handles<B>,
    /// What a reset writes back, for a resettable module.
    pub(crate) pristine: Option<Arc<Pristine>>,
}

impl<B: AbiCalls, T: Send + 'static> Instance<B, T> {
    /// The instance whose store is `store`, once the engine instantiated it and
    /// [`crate::StoreData::attach`] recorded its exports. `guarded` when the meters or the
    /// passes keep accounts; `start` when the instrumentation moved the start function to
    /// an export, which runs now.
    ///
    /// # Errors
    /// Whatever the start function fails with.
    pub(crate) fn new(store: B::Store<T>, guarded: bool, start: bool) -> Result<Self, WasmError> {
        let mut instance = Instance {
            config: Arc::clone(&B::store_data(&store).config),
            store,
            id: crate::next_instance_id(),
            guarded,
            handles: Handles::new(),
            pristine: None,
        };
        if start {
            instance.call_raw(START_EXPORT, &[])?;
        }
        Ok(instance)
    }

    pub(crate) fn access(&mut self) -> Access<'_, B, T> {
        Access(B::cx(&mut self.store))
    }

    /// `f`'s typed call straight to the engine, as on an unguarded instance: nothing to
    /// account for, and our error on failure.
    #[inline]
    pub(crate) fn direct<P, R>(
        store: &mut B::Store<T>,
        f: &B::Typed<P, R>,
        args: P,
    ) -> Result<R, WasmError>
    where
        B: TypedCall<P, R>,
    {
        let mut cx = B::cx(store);
        B::call_typed(&mut cx, f, args).map_err(|e| Access::<B, T>(cx).fail(e))
    }

    /// `result` of a call that went straight to the engine. A guest that exited (WASI's
    /// `proc_exit`, from a host function) spent the instance: from now on its calls go
    /// through the bookkeeping, which refuses them. Only the failure path pays for this.
    #[inline]
    pub(crate) fn settle<R>(&mut self, result: Result<R, WasmError>) -> Result<R, WasmError> {
        if let Err(WasmError::Exit(_)) = result {
            self.guarded = true;
        }
        result
    }

    /// The guest's memory's bytes; the memory looked up once.
    fn memory_bytes(&mut self) -> Result<&mut [u8], WasmError> {
        if self.handles.memory.is_none() {
            let memory = self.access().memory()?;
            self.handles.memory = Some(memory);
        }
        match &self.handles.memory {
            Some(memory) => Ok(B::memory_data(B::cx(&mut self.store), memory)),
            None => Err(WasmError::MissingExport(abi::MEMORY.into())),
        }
    }

    /// Runs a call the host makes into the guest: through [`Access::entry`] when the
    /// instance is guarded, straight through otherwise.
    fn enter<R>(
        &mut self,
        call: impl FnOnce(&mut Access<'_, B, T>) -> Result<R, WasmError>,
    ) -> Result<R, WasmError> {
        let guarded = self.guarded;
        let mut access = self.access();
        if guarded {
            access.entry(call)
        } else {
            call(&mut access)
        }
    }
}

impl<B: AbiCalls, T: Send + 'static> wasmhost_api::Instance<T> for Instance<B, T> {
    fn state(&self) -> &T {
        &B::store_data(&self.store).state
    }

    fn state_mut(&mut self) -> &mut T {
        &mut B::store_data_mut(&mut self.store).state
    }

    fn interrupt_handle(&self) -> Option<InterruptHandle> {
        let interrupt = B::store_data(&self.store).interrupt.as_ref()?;
        Some(InterruptHandle::new(Arc::clone(interrupt)))
    }

    fn set_call_timeout(&mut self, timeout: Option<Duration>) -> Result<(), WasmError> {
        let data = B::store_data_mut(&mut self.store);
        if data.interrupt.is_none() {
            return Err(WasmError::Engine(
                "a call timeout needs Config::interruptible".into(),
            ));
        }
        data.timeout = timeout;
        Ok(())
    }

    fn reset(&mut self) -> Result<(), WasmError> {
        let pristine = self.pristine.clone().ok_or_else(not_resettable)?;
        pristine.restore::<B, T>(&mut B::cx(&mut self.store))?;
        self.access().reset_accounts();
        Ok(())
    }
}

impl<B: Backend, T: Send + 'static> Drop for Instance<B, T> {
    /// Handles may outlive the instance: they must not reach its memory once it is gone.
    fn drop(&mut self) {
        if let Some(interrupt) = &B::store_data(&self.store).interrupt {
            interrupt.detach();
        }
    }
}

// The instance is where the host's calls enter: each one starts with the limit flag down
// and, when it fails, leaves the call depth at 0 for the next.
impl<B: AbiCalls, T: Send + 'static> Guest for Instance<B, T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        if self.guarded {
            return self.enter(|a| a.call_raw(name, args));
        }
        if !matches!(&self.handles.raw, Some((last, ..)) if **last == *name) {
            let entry = {
                let mut access = self.access();
                let func = access.func(name)?;
                let ty = B::func_type(&mut access.0, &func);
                (name.into(), func, ty)
            };
            self.handles.raw = Some(entry);
        }
        let result = match &self.handles.raw {
            Some((_, func, ty)) => {
                Access::<B, T>(B::cx(&mut self.store)).call_func(name, func, ty, args)
            }
            None => self.enter(|a| a.call_raw(name, args)),
        };
        self.settle(result)
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        if self.guarded {
            return self.enter(|a| a.call_packed(name, ptr, len));
        }
        if !matches!(&self.handles.packed, Some((last, _)) if **last == *name) {
            let f = self.access().typed::<(i32, i32), i64>(name)?;
            self.handles.packed = Some((name.into(), f));
        }
        let result = match &self.handles.packed {
            Some((_, f)) => {
                Self::direct(&mut self.store, f, (ptr as i32, len as i32)).map(|p| p as u64)
            }
            None => self.enter(|a| a.call_packed(name, ptr, len)),
        };
        self.settle(result)
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        if self.guarded {
            return self.enter(|a| a.alloc(len));
        }
        if self.handles.alloc.is_none() {
            let f = self.access().typed(abi::ALLOC)?;
            self.handles.alloc = Some(f);
        }
        let result = match &self.handles.alloc {
            Some(f) => Self::direct(&mut self.store, f, len as i32).map(|p| p as u32),
            None => self.enter(|a| a.alloc(len)),
        };
        self.settle(result)
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        if self.guarded {
            return self.enter(|a| a.dealloc(ptr, len));
        }
        if self.handles.dealloc.is_none() {
            let f = self.access().typed(abi::DEALLOC)?;
            self.handles.dealloc = Some(f);
        }
        let result = match &self.handles.dealloc {
            Some(f) => Self::direct(&mut self.store, f, (ptr as i32, len as i32)),
            None => self.enter(|a| a.dealloc(ptr, len)),
        };
        self.settle(result)
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        self.memory_slice_mut(ptr, len).map(|s| &*s)
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        memory_slice(self.memory_bytes()?, ptr, len)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        Ok(self.memory_bytes()?.len() as u64)
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        self.access().global(name)
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        self.access().fuel_remaining()
    }

    fn fuel_consumed(&mut self) -> Option<u64> {
        self.access().fuel_consumed()
    }

    fn set_fuel(&mut self, budget: u64) -> Result<(), WasmError> {
        self.access().set_fuel(budget)
    }

    fn charge(&mut self, units: u64) -> Result<(), WasmError> {
        self.access().charge(units)
    }
}
