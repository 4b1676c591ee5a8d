//! Typed call handles: look an export up once, then call it many times without a lookup,
//! a signature check or a `Vec`.
//!
//! Backends return their own raw handles (each wraps the engine's typed function), bounded
//! by the engine's own typed-call traits; this module holds what they share: the Rust
//! types a handle may take and give ([`WasmTypes`]), and the serialized handle built on a
//! raw one ([`SerializedFunc`]).

use std::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

use crate::abi::{self, Borrowable};
use crate::{FuncSig, Guest, ValType, WasmError};

/// A Rust type that is one wasm value: `i32`, `i64`, `f32`, `f64`.
pub trait WasmType: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The wasm type.
    const TYPE: ValType;
}

impl WasmType for i32 {
    const TYPE: ValType = ValType::I32;
}
impl WasmType for i64 {
    const TYPE: ValType = ValType::I64;
}
impl WasmType for f32 {
    const TYPE: ValType = ValType::F32;
}
impl WasmType for f64 {
    const TYPE: ValType = ValType::F64;
}

/// The parameters or results of a typed handle: `()`, one [`WasmType`], or a tuple of up
/// to eight.
pub trait WasmTypes: sealed::Sealed + Send + Sync + 'static {
    /// The wasm types, in order.
    fn types() -> Vec<ValType>;
}

impl WasmTypes for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
}

impl<A: WasmType> WasmTypes for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
}

macro_rules! tuples {
    ($($t:ident)+) => {
        impl<$($t: WasmType),+> sealed::Sealed for ($($t,)+) {}
        impl<$($t: WasmType),+> WasmTypes for ($($t,)+) {
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),+]
            }
        }
    };
}

tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);
tuples!(A B C D E F G H);

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The signature of a typed handle taking `P` and giving `R`.
pub fn typed_sig<P: WasmTypes, R: WasmTypes>() -> FuncSig {
    FuncSig {
        params: P::types(),
        results: R::types(),
    }
}

/// The error for a typed handle used on an instance that did not make it (a handle is only
/// valid on its own instance: engines would otherwise panic, or worse).
pub fn foreign_handle() -> WasmError {
    WasmError::Engine(
        "a typed handle was used on an instance other than the one that made it".into(),
    )
}

/// Checks that a handle made by the instance with id `owner` is used on that instance (id
/// `instance`).
///
/// # Errors
/// [`foreign_handle`] when it is not.
#[inline]
pub fn check_owner(owner: u64, instance: u64) -> Result<(), WasmError> {
    if owner == instance {
        Ok(())
    } else {
        Err(foreign_handle())
    }
}

/// A raw handle to a serialized export, `(ptr, len) -> packed`, called on a guest of type
/// `G`. Backends implement it for their typed handle of that shape.
pub trait PackedFunc<G: ?Sized> {
    /// Fails unless the handle was made by `guest`: a handle is only valid on its instance.
    ///
    /// # Errors
    /// [`WasmError::Engine`] for a handle of another instance.
    fn check_owner(&self, guest: &G) -> Result<(), WasmError>;

    /// Calls the export with the input at `ptr..ptr+len`; returns its packed output.
    ///
    /// # Errors
    /// Whatever the call fails with.
    fn call_packed(&self, guest: &mut G, ptr: u32, len: u32) -> Result<u64, WasmError>;

    /// A whole serialized call through this handle: [`SerializedFunc::call`]'s work.
    ///
    /// A handle over several engines' guests overrides it to choose the engine once and
    /// run the call on that engine's guest, so that none of the call's dozen guest
    /// operations (allocate, copy in, call, read, free) chooses again.
    ///
    /// # Errors
    /// As [`SerializedFunc::call`].
    #[inline]
    fn call_serialized<I, O>(&self, guest: &mut G, input: &I) -> Result<O, WasmError>
    where
        G: Guest,
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        self.check_owner(guest)?;
        abi::call_via(guest, |g, ptr, len| self.call_packed(g, ptr, len), input)
    }

    /// [`SerializedFunc::call_borrowed`]'s work; overridden as [`PackedFunc::call_serialized`].
    ///
    /// # Errors
    /// As [`SerializedFunc::call`].
    #[inline]
    fn call_serialized_borrowed<I, O, R>(
        &self,
        guest: &mut G,
        input: &I,
        read: impl for<'a> FnOnce(O::Borrowed<'a>) -> R,
    ) -> Result<R, WasmError>
    where
        G: Guest,
        I: Serialize + ?Sized,
        O: Borrowable,
    {
        self.check_owner(guest)?;
        abi::call_borrowed_via(
            guest,
            |g, ptr, len| self.call_packed(g, ptr, len),
            input,
            read,
        )
    }
}

/// A typed handle to a serialized export taking `I` and giving `O`: made once by an
/// instance's `serialized` method, then called many times with no lookup.
pub struct SerializedFunc<H, I: ?Sized, O> {
    packed: H,
    types: PhantomData<fn(&I) -> O>,
}

impl<H: Clone, I: ?Sized, O> Clone for SerializedFunc<H, I, O> {
    fn clone(&self) -> Self {
        SerializedFunc {
            packed: self.packed.clone(),
            types: PhantomData,
        }
    }
}

impl<H, I: Serialize + ?Sized, O: DeserializeOwned> SerializedFunc<H, I, O> {
    /// Wraps a backend's raw handle to the export (checked to be of the packed shape).
    pub fn new(packed: H) -> Self {
        SerializedFunc {
            packed,
            types: PhantomData,
        }
    }

    /// Calls the export on `guest`, the instance the handle was made by.
    ///
    /// # Errors
    /// As [`crate::Instance::call`]; [`WasmError::Engine`] for an instance the handle does
    /// not belong to.
    pub fn call<G>(&self, guest: &mut G, input: &I) -> Result<O, WasmError>
    where
        G: Guest,
        H: PackedFunc<G>,
    {
        self.packed.call_serialized(guest, input)
    }

    /// Calls the export on `guest` and lends its output to `read` in its borrowed form
    /// (`&ByteSlice` for `Bytes`, `&str` for `String`) where the guest wrote it: a large
    /// output the host only reads (hashes, writes to a socket) is never copied out.
    ///
    /// # Errors
    /// As [`SerializedFunc::call`].
    pub fn call_borrowed<G, R>(
        &self,
        guest: &mut G,
        input: &I,
        read: impl for<'a> FnOnce(O::Borrowed<'a>) -> R,
    ) -> Result<R, WasmError>
    where
        G: Guest,
        H: PackedFunc<G>,
        O: Borrowable,
    {
        self.packed
            .call_serialized_borrowed::<I, O, R>(guest, input, read)
    }
}
