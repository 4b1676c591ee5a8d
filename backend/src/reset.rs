//! Resetting an instance to its state right after instantiation ([`Config::resettable`]).
//!
//! The first instance of a resettable module is snapshotted as it comes out of
//! instantiation: the 4 KiB pages of its memory that are not all zeros, and its mutable
//! globals ([`wasmhost_instrument::reset`] exports them). A reset checks the memory has not
//! grown, writes the snapshot's pages over the memory's, zeros in place the few pages that
//! border them (a guest's stack top and heap start: nearly every call touches them again,
//! and a page handed back costs a page fault at its next touch), hands every other page
//! back to the kernel (it reads as zeros at its next touch, so only pages the guest
//! touches again cost anything), writes back the globals, and puts fuel, limits and the
//! interruption back as a new instance has them.
//!
//! [`Config::resettable`]: wasmhost_api::Config::resettable

use wasmhost_api::{Value, WasmError};
use wasmhost_instrument::reset::{MARKER_EXPORT, MEMORY_EXPORT, global_export};

use crate::Backend;

/// The granularity of the snapshot, a host page.
const PAGE: usize = 4096;

/// A pristine instance of a module: what a reset writes back.
#[derive(Debug)]
pub(crate) struct Pristine {
    /// The memory's size in bytes, when the module has a memory.
    memory_len: Option<usize>,
    /// The pages that are not all zeros: (page index, contents).
    pages: Vec<(usize, Box<[u8]>)>,
    /// The mutable globals, by export name, with their values.
    globals: Vec<(String, Value)>,
}

impl Pristine {
    /// The snapshot of the instance in use, right after instantiation; `None` when the
    /// instrumentation did not mark the module resettable.
    pub(crate) fn of<B: Backend, T: Send + 'static>(cx: &mut B::Cx<'_, T>) -> Option<Self> {
        let marker = B::global(cx, MARKER_EXPORT)?;
        let Ok(Value::I32(count)) = B::get_global(cx, &marker) else {
            return None;
        };
        let mut globals = Vec::new();
        for k in 0..count as u32 {
            let name = global_export(k);
            let global = B::global(cx, &name)?;
            globals.push((name, B::get_global(cx, &global).ok()?));
        }
        let (memory_len, pages) = match B::memory(cx, MEMORY_EXPORT) {
            Some(memory) => {
                let bytes = B::memory_data(B::reborrow(cx), &memory);
                let zeros = [0u8; PAGE];
                let pages = bytes
                    .chunks(PAGE)
                    .enumerate()
                    .filter(|(_, page)| **page != zeros[..page.len()])
                    .map(|(i, page)| (i, Box::from(page)))
                    .collect();
                (Some(bytes.len()), pages)
            }
            None => (None, Vec::new()),
        };
        Some(Pristine {
            memory_len,
            pages,
            globals,
        })
    }

    /// Writes the snapshot back into the store in use: memory and globals.
    ///
    /// # Errors
    /// [`WasmError::Engine`], nothing written, when the memory grew.
    pub(crate) fn restore<B: Backend, T: Send + 'static>(
        &self,
        cx: &mut B::Cx<'_, T>,
    ) -> Result<(), WasmError> {
        if let Some(len) = self.memory_len {
            let memory = B::memory(cx, MEMORY_EXPORT)
                .ok_or_else(|| WasmError::Engine("a reset found no memory".into()))?;
            let bytes = B::memory_data(B::reborrow(cx), &memory);
            if bytes.len() != len {
                return Err(WasmError::Engine(format!(
                    "cannot reset: the memory grew from {len} to {} bytes, and wasm memory \
                     cannot shrink; instantiate anew",
                    bytes.len()
                )));
            }
            // The snapshot's pages are written over where they are (still mapped: no page
            // fault on the next touch); the runs of zero pages between them are wiped.
            let mut next = 0;
            for (i, page) in &self.pages {
                wipe_run(&mut bytes[next..i * PAGE], next > 0, true);
                bytes[i * PAGE..][..page.len()].copy_from_slice(page);
                next = i * PAGE + page.len();
            }
            wipe_run(&mut bytes[next..], next > 0, false);
        }
        for (name, value) in &self.globals {
            if let Some(global) = B::global(cx, name) {
                B::set_global(cx, &global, *value);
            }
        }
        Ok(())
    }
}

/// The error for an instance that cannot be reset at all.
pub(crate) fn not_resettable() -> WasmError {
    WasmError::Engine(
        "cannot reset: Config::resettable is off, or the module has a start function, \
         imports other than functions, or instructions that write a table or use a passive \
         segment"
            .into(),
    )
}

/// Pages next to the snapshot's that a reset zeros in place rather than handing back:
/// where a guest's stack top and heap start lie, which nearly every call touches again.
const KEPT_PAGES: usize = 8;

/// Zeros a run of pages between the snapshot's: the `KEPT_PAGES` at an end that borders a
/// snapshot page (`after_data`, `before_data`) in place, so that the next call finds them
/// mapped; the rest through [`wipe`].
fn wipe_run(run: &mut [u8], after_data: bool, before_data: bool) {
    let kept = KEPT_PAGES * PAGE;
    let head = if after_data { kept.min(run.len()) } else { 0 };
    let (head, rest) = run.split_at_mut(head);
    head.fill(0);
    let tail = if before_data { kept.min(rest.len()) } else { 0 };
    let split = rest.len() - tail;
    let (middle, tail) = rest.split_at_mut(split);
    tail.fill(0);
    wipe(middle);
}

/// Zeros `bytes`. On Linux the whole pages in it go back to the kernel instead of being
/// written: they read as zeros, and cost a page fault only when touched again.
fn wipe(bytes: &mut [u8]) {
    #[cfg(target_os = "linux")]
    {
        let start = bytes.as_mut_ptr() as usize;
        let first = start.next_multiple_of(PAGE) - start;
        let whole = (bytes.len().saturating_sub(first)) / PAGE * PAGE;
        if whole > 0 {
            let (head, rest) = bytes.split_at_mut(first);
            let (middle, tail) = rest.split_at_mut(whole);
            // SAFETY: `middle` is page-aligned, whole pages, and borrowed exclusively: the
            // memory of a private mapping (every engine's linear memory, or a heap
            // allocation), whose pages read as zeros after `MADV_DONTNEED` (or as a
            // copy-on-write image's bytes, which the snapshot's pages then overwrite).
            let dropped = unsafe {
                libc::madvise(
                    middle.as_mut_ptr().cast(),
                    middle.len(),
                    libc::MADV_DONTNEED,
                )
            };
            if dropped == 0 {
                head.fill(0);
                tail.fill(0);
                return;
            }
        }
    }
    bytes.fill(0);
}
