//! A live instance in its own store: where the host's calls enter.

use wasmhost_api::{Config, Guest, Value, WasmError};
use wasmhost_instrument::START_EXPORT;

use crate::access::memory_slice;
use crate::{AbiCalls, Access, Backend};

/// A live instance of a backend's module, in its own store.
pub struct Instance<B: Backend, T: Send + 'static> {
    pub(crate) store: B::Store<T>,
    /// Tells this instance's typed handles from another's.
    pub(crate) id: u64,
    /// Whether calls need the meters' and the passes' bookkeeping; without it they go
    /// straight to the engine.
    pub(crate) guarded: bool,
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
            store,
            id: crate::next_instance_id(),
            guarded,
        };
        if start {
            instance.call_raw(START_EXPORT, &[])?;
        }
        Ok(instance)
    }

    pub(crate) fn access(&mut self) -> Access<'_, B, T> {
        Access(B::cx(&mut self.store))
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
}

// The instance is where the host's calls enter: each one starts with the limit flag down
// and, when it fails, leaves the call depth at 0 for the next.
impl<B: AbiCalls, T: Send + 'static> Guest for Instance<B, T> {
    fn call_raw(&mut self, name: &str, args: &[Value]) -> Result<Vec<Value>, WasmError> {
        self.enter(|a| a.call_raw(name, args))
    }

    fn call_packed(&mut self, name: &str, ptr: u32, len: u32) -> Result<u64, WasmError> {
        self.enter(|a| a.call_packed(name, ptr, len))
    }

    fn alloc(&mut self, len: u32) -> Result<u32, WasmError> {
        self.enter(|a| a.alloc(len))
    }

    fn dealloc(&mut self, ptr: u32, len: u32) -> Result<(), WasmError> {
        self.enter(|a| a.dealloc(ptr, len))
    }

    fn memory_slice(&mut self, ptr: u32, len: u32) -> Result<&[u8], WasmError> {
        self.memory_slice_mut(ptr, len).map(|s| &*s)
    }

    fn memory_slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], WasmError> {
        let memory = self.access().memory()?;
        memory_slice(B::memory_data(B::cx(&mut self.store), &memory), ptr, len)
    }

    fn memory_size(&mut self) -> Result<u64, WasmError> {
        self.access().memory_size()
    }

    fn global(&mut self, name: &str) -> Result<Value, WasmError> {
        self.access().global(name)
    }

    fn config(&self) -> &Config {
        &B::store_data(&self.store).config
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
