//! # wasmhost-guest
//!
//! Write wasmhost guests in Rust. Build the crate as a `cdylib` for
//! `wasm32-unknown-unknown`; depending on this crate exports the allocator pair the
//! host needs ([`abi::ALLOC`], [`abi::DEALLOC`]) and a panic-message export, so a guest
//! panic reaches the host as [`WasmError::GuestPanic`] with its message.
//!
//! ```ignore
//! // Builds for wasm32 only (its imports do not link on the host): not a host doc test.
//! use wasmhost_guest::{WasmError, export, host_imports};
//!
//! host_imports! {
//!     fn add(pair: (i64, i64)) -> Result<i64, WasmError>;
//! }
//!
//! export! {
//!     fn sum_three(input: (i64, i64, i64)) -> Result<i64, WasmError> {
//!         let ab = add(&(input.0, input.1))?;
//!         add(&(ab, input.2))
//!     }
//! }
//! ```
//!
//! The convention itself is documented once, in [`abi`].
//!
//! ## Memory, and instances a host can reset
//!
//! With the default `allocator` feature the SDK installs [dlmalloc] as the global allocator,
//! taking the heap from the memory the guest was linked with (from `__heap_base` to
//! `__heap_end`) before it grows the memory. Rust's own allocator grows the memory for its
//! first allocation, and a memory that grew cannot be reset, because wasm memory cannot
//! shrink. So a guest that a host runs with `Config::resettable` should link a few MiB of
//! initial memory, enough for the calls it serves, with a build script of one line:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     println!("cargo:rustc-link-arg-cdylib=--initial-memory=4194304");
//! }
//! ```
//!
//! A call that needs more still grows the memory, and then that instance is not reset but
//! replaced (the pool's `Reuse::Reset` does so by itself). Without the feature, bring your
//! own `#[global_allocator]`; turn it off too for a guest built with wasm threads (the
//! allocator takes no lock: it is for single-threaded wasm).
//!
//! [dlmalloc]: https://crates.io/crates/dlmalloc

#![warn(missing_docs)]

use std::alloc::{Layout, alloc, dealloc};
use std::sync::{Mutex, Once};

pub use serde;
pub use wasmhost_api::{ByteSlice, Bytes, WasmError, abi};

#[cfg(all(feature = "allocator", target_arch = "wasm32"))]
#[global_allocator]
static HEAP: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The guest's allocator, exported as [`abi::ALLOC`]: `len` bytes with alignment 1.
///
/// A failed allocation panics (and so traps with a message) rather than handing the host a
/// pointer it would write through.
#[unsafe(no_mangle)]
pub extern "C" fn wasmhost_alloc(len: u32) -> u32 {
    if len == 0 {
        return std::ptr::NonNull::<u8>::dangling().as_ptr() as usize as u32;
    }
    let layout = Layout::from_size_align(len as usize, 1).expect("alignment 1 is valid");
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc(layout) };
    if ptr.is_null() {
        panic!("wasmhost_alloc: out of memory allocating {len} bytes");
    }
    ptr as usize as u32
}

/// The guest's deallocator, exported as [`abi::DEALLOC`]: frees what [`wasmhost_alloc`]
/// returned for the same `len`.
///
/// # Safety
/// `ptr` must come from `wasmhost_alloc(len)` (or an output this SDK handed out with that
/// length) and not have been freed; the host's ABI code guarantees it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasmhost_dealloc(ptr: u32, len: u32) {
    if len == 0 {
        return;
    }
    let layout = Layout::from_size_align(len as usize, 1).expect("alignment 1 is valid");
    // SAFETY: per the contract above.
    unsafe { dealloc(ptr as usize as *mut u8, layout) }
}

static PANIC_MESSAGE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static TAKEN_MESSAGE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Exported as [`abi::PANIC_MESSAGE`]: the packed `(ptr, len)` of the last panic's message,
/// empty if none. Taking it clears it, so a later plain trap is not mistaken for a panic;
/// the bytes stay valid until the next take.
#[unsafe(no_mangle)]
pub extern "C" fn wasmhost_panic_message() -> u64 {
    let message = std::mem::take(&mut *lock(&PANIC_MESSAGE));
    let mut taken = lock(&TAKEN_MESSAGE);
    *taken = message;
    abi::pack(taken.as_ptr() as usize as u32, taken.len() as u32)
}

fn lock(m: &'static Mutex<Vec<u8>>) -> std::sync::MutexGuard<'static, Vec<u8>> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            *lock(&PANIC_MESSAGE) = info.to_string().into_bytes();
        }))
    });
}

/// Takes ownership of bytes the host wrote with [`wasmhost_alloc`].
///
/// # Safety
/// `(ptr, len)` must be an allocation of `wasmhost_alloc(len)` that nobody else frees.
unsafe fn take_input(ptr: u32, len: u32) -> Box<[u8]> {
    if len == 0 {
        return Box::default();
    }
    let slice = std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, len as usize);
    // SAFETY: allocated with Layout(len, 1), which is the layout of a Box<[u8]> of len.
    unsafe { Box::from_raw(slice) }
}

/// Hands bytes to the host: they stay allocated, with exactly their length, until the host
/// (or the guest code receiving them) frees them with [`wasmhost_dealloc`].
fn leak_output(bytes: Vec<u8>) -> u64 {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len() as u32;
    let ptr = Box::into_raw(boxed) as *mut u8 as usize as u32;
    abi::pack(ptr, len)
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use serde::{Serialize, de::DeserializeOwned};

    /// The body of an exported function taking an owned input: decode, free the input,
    /// run, encode, hand over. The input is freed before the function runs, so a large
    /// payload is not held twice.
    pub fn run_export<I, O>(ptr: u32, len: u32, f: impl FnOnce(I) -> Result<O, WasmError>) -> u64
    where
        I: DeserializeOwned,
        O: Serialize,
    {
        install_panic_hook();
        // SAFETY: the host allocated the input with `wasmhost_alloc(len)` and handed it over.
        let input = unsafe { take_input(ptr, len) };
        let decoded = abi::decode::<I>(&input);
        drop(input);
        let result = decoded.and_then(f);
        leak_output(encode_result(&result))
    }

    /// The body of an exported function taking a borrowed input: `run` decodes it from the
    /// input's bytes (borrowing, not copying), runs and encodes; the input lives until then.
    pub fn run_export_borrowed(ptr: u32, len: u32, run: impl FnOnce(&[u8]) -> Vec<u8>) -> u64 {
        install_panic_hook();
        // SAFETY: as in `run_export`.
        let input = unsafe { take_input(ptr, len) };
        let output = run(&input);
        drop(input);
        leak_output(output)
    }

    /// The encoding of an export's result (of the encoding error, if it fails).
    pub fn encode_result<O: Serialize>(result: &Result<O, WasmError>) -> Vec<u8> {
        abi::encode(result).unwrap_or_else(|e| {
            abi::encode(&Err::<(), _>(e)).expect("a WasmError always serializes")
        })
    }

    /// The body of every host import wrapper: encode, call, take the answer, decode.
    pub fn call_host<I, O>(input: &I, import: impl FnOnce(u32, u32) -> u64) -> Result<O, WasmError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let bytes = abi::encode(input)?;
        let packed = import(bytes.as_ptr() as usize as u32, bytes.len() as u32);
        drop(bytes);
        let (ptr, len) = abi::unpack(packed);
        // SAFETY: the host allocated the answer with `wasmhost_alloc(len)` for us.
        let answer = unsafe { take_input(ptr, len) };
        abi::decode_result::<O>(&answer)?
    }
}

/// Exports a function `fn(In) -> Result<Out, WasmError>` under its own name, with the ABI's
/// `(ptr, len) -> i64` shape. `In` and `Out` are any serde types.
///
/// An input taken by reference (`&ByteSlice`, `&str`, or `&T` for a `T` that borrows
/// from its encoding) is read where the host wrote it, with no copy, and the output may
/// borrow from it: an echo of a large payload copies it once, into the output. An owned
/// input is freed as soon as it is decoded, so a large one is not held twice.
///
/// ```ignore
/// // Builds for wasm32 only: not a host doc test.
/// use wasmhost_guest::{ByteSlice, WasmError, export};
///
/// export! {
///     fn greet(name: String) -> Result<String, WasmError> {
///         Ok(format!("hello, {name}"))
///     }
/// }
///
/// export! {
///     fn echo(input: &ByteSlice) -> Result<&ByteSlice, WasmError> {
///         Ok(input)
///     }
/// }
/// ```
#[macro_export]
macro_rules! export {
    ($(#[$meta:meta])* fn $name:ident($arg:ident : &$in:ty) -> $out:ty $body:block) => {
        $(#[$meta])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(ptr: u32, len: u32) -> u64 {
            fn body($arg: &$in) -> $out $body
            $crate::__private::run_export_borrowed(ptr, len, |input| {
                let result = $crate::abi::decode_borrowed::<&$in>(input).and_then(body);
                $crate::__private::encode_result(&result)
            })
        }
    };
    ($(#[$meta:meta])* fn $name:ident($arg:ident : $in:ty) -> $out:ty $body:block) => {
        $(#[$meta])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(ptr: u32, len: u32) -> u64 {
            fn body($arg: $in) -> $out $body
            $crate::__private::run_export(ptr, len, body)
        }
    };
}

/// Declares host functions the guest imports (module [`abi::HOST_MODULE`]), each as a typed
/// wrapper taking `&In` and returning `Result<Out, WasmError>`. The host registers them with
/// `HostFunctions::func` under the same name.
///
/// ```ignore
/// // Builds for wasm32 only: not a host doc test.
/// wasmhost_guest::host_imports! {
///     /// Adds two numbers on the host.
///     pub fn add(pair: (i64, i64)) -> Result<i64, wasmhost_guest::WasmError>;
/// }
/// ```
#[macro_export]
macro_rules! host_imports {
    ($($(#[$meta:meta])* $vis:vis fn $name:ident($arg:ident : $in:ty) -> $out:ty;)*) => {$(
        $(#[$meta])*
        $vis fn $name($arg: &$in) -> $out {
            // The literal must equal `abi::HOST_MODULE`.
            #[link(wasm_import_module = "wasmhost")]
            unsafe extern "C" {
                fn $name(ptr: u32, len: u32) -> u64;
            }
            // SAFETY: the import follows the ABI; its arguments stay alive during the call.
            $crate::__private::call_host($arg, |ptr, len| unsafe { $name(ptr, len) })
        }
    )*};
}
