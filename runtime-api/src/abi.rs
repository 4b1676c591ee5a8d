//! The one calling convention between host and guest. Both sides use this module: the
//! host through [`crate::Instance::call`] and host functions, the guest through
//! `wasmhost-guest`.
//!
//! # The convention
//!
//! - The guest exports its linear memory as [`MEMORY`], an allocator [`ALLOC`]
//!   `(len: i32) -> ptr: i32` and a deallocator [`DEALLOC`] `(ptr: i32, len: i32)`.
//!   Allocations have alignment 1; a zero-length allocation may return any pointer, and a
//!   non-zero one at 0 is a failed one (a null pointer): the host refuses it.
//! - A serialized export has the signature `(ptr: i32, len: i32) -> i64`. The host
//!   allocates `len` bytes with [`ALLOC`], writes the MessagePack encoding of the input
//!   there, and calls the export; the guest owns (and frees) the input from then on.
//!   The export returns [`pack`]`(ptr, len)` of the MessagePack encoding of a
//!   `Result<Out, WasmError>` it allocated; the host copies it out and frees it with
//!   [`DEALLOC`].
//! - A host import (module [`HOST_MODULE`]) has the same shape the other way round: the
//!   guest passes `(ptr, len)` of its encoded input and keeps ownership of it; the host
//!   answers with a packed `(ptr, len)` it allocated with [`ALLOC`], which the guest owns.
//! - Every `(ptr, len)` the guest hands over is bounds-checked against its memory before
//!   it is read, and every payload is checked against the payload limit.
//! - With metering on, payload bytes are charged at
//!   [`crate::CostTable::payload_bytes_per_unit`] as they cross, in either direction.
//! - MessagePack is written with named struct fields ([`encode`]) so that guests in other
//!   languages can read it.
//! - When a call traps with `unreachable` and the guest exports [`PANIC_MESSAGE`]
//!   `() -> i64`, the host calls it; a non-empty packed message turns the trap into
//!   [`WasmError::GuestPanic`].

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Guest, Trap, Value, WasmError};

/// Name of the exported linear memory.
pub const MEMORY: &str = "memory";
/// Name of the guest's allocator export, `(len: i32) -> i32`.
pub const ALLOC: &str = "wasmhost_alloc";
/// Name of the guest's deallocator export, `(ptr: i32, len: i32)`.
pub const DEALLOC: &str = "wasmhost_dealloc";
/// Name of the guest's optional export `() -> i64` giving the packed message of its last panic.
pub const PANIC_MESSAGE: &str = "wasmhost_panic_message";
/// Import module of serialized host functions.
pub const HOST_MODULE: &str = "wasmhost";

/// Packs a guest pointer and length into the one `i64` an export returns: pointer in the
/// high 32 bits, length in the low 32 bits.
#[inline]
pub const fn pack(ptr: u32, len: u32) -> u64 {
    ((ptr as u64) << 32) | len as u64
}

/// Splits a packed `i64` into `(ptr, len)`.
#[inline]
pub const fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

/// Encodes `value` as MessagePack with named fields, into a `Vec` of exactly its length
/// (measured first, so a large payload is never copied to grow the `Vec`).
///
/// # Errors
/// [`WasmError::Serialize`] when `value`'s `Serialize` impl fails.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WasmError> {
    let mut bytes = Vec::with_capacity(encoded_len(value)? as usize);
    rmp_serde::encode::write_named(&mut bytes, value)
        .map_err(|e| WasmError::Serialize(e.to_string()))?;
    Ok(bytes)
}

/// Decodes MessagePack into `T`.
///
/// # Errors
/// [`WasmError::Deserialize`] when `bytes` are not an encoding of `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WasmError> {
    decode_borrowed(bytes)
}

/// Decodes MessagePack into `T`, which may borrow from `bytes` (`&str`, `&ByteSlice`, or
/// a struct of them): nothing is copied for what it borrows.
///
/// # Errors
/// [`WasmError::Deserialize`] when `bytes` are not an encoding of `T`.
pub fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WasmError> {
    rmp_serde::from_slice(bytes).map_err(|e| WasmError::Deserialize(e.to_string()))
}

/// How an encoded `Ok(..)` starts: a map of one entry whose key is the string `"Ok"`.
const OK_TAG: [u8; 4] = [0x81, 0xa2, b'O', b'k'];

/// Decodes a guest's or a host function's answer, a `Result<T, WasmError>`.
///
/// An `Ok` (nearly every answer) skips serde's enum machinery, a fifth of an empty call's
/// decoding: its value is decoded from where it starts. Anything else goes the general way,
/// so the two accept exactly the same encodings.
///
/// # Errors
/// [`WasmError::Deserialize`] when `bytes` are not an encoding of `Result<T, WasmError>`.
pub fn decode_result<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<Result<T, WasmError>, WasmError> {
    match bytes.strip_prefix(&OK_TAG) {
        Some(value) => decode_borrowed(value).map(Ok),
        None => decode_borrowed(bytes),
    }
}

/// Checks that `ptr..ptr+len` lies inside a memory of `memory_size` bytes and returns it as
/// a `usize` range.
///
/// # Errors
/// [`WasmError::BadGuestPointer`] when it does not.
#[inline]
pub fn checked_range(
    ptr: u32,
    len: u32,
    memory_size: u64,
) -> Result<std::ops::Range<usize>, WasmError> {
    let end = ptr as u64 + len as u64;
    if end > memory_size {
        return Err(WasmError::BadGuestPointer {
            ptr: ptr as u64,
            len: len as u64,
            memory_size,
        });
    }
    Ok(ptr as usize..end as usize)
}

/// Calls serialized export `export` of `guest` with `input`, and decodes its
/// `Result<O, WasmError>`.
///
/// The input is encoded straight into guest memory and the output decoded straight out of
/// it: no payload is copied on the host besides into its final place.
///
/// # Errors
/// The guest's own `Err`, or any failure of [`call_bytes`] or of decoding.
pub fn call<G, I, O>(guest: &mut G, export: &str, input: &I) -> Result<O, WasmError>
where
    G: Guest + ?Sized,
    I: Serialize + ?Sized,
    O: DeserializeOwned,
{
    call_in_place(
        guest,
        export,
        |g, ptr, len| g.call_packed(export, ptr, len),
        |g| write_encoded(g, input),
        |bytes| decode_result::<O>(bytes),
    )??
}

/// Calls serialized export `export` with encoded `input` and returns the encoded result.
///
/// # Errors
/// [`WasmError::PayloadTooLarge`] for input or output over the limit,
/// [`WasmError::BadGuestPointer`] when the guest's allocator or result points outside its
/// memory, [`WasmError::GuestPanic`] when the guest panicked, or the call's own failure.
pub fn call_bytes<G: Guest + ?Sized>(
    guest: &mut G,
    export: &str,
    input: &[u8],
) -> Result<Vec<u8>, WasmError> {
    call_in_place(
        guest,
        export,
        |g, ptr, len| g.call_packed(export, ptr, len),
        |g| write_payload(g, input),
        <[u8]>::to_vec,
    )
}

/// [`call`] through `export`, a function that calls the export: a typed handle's, where
/// [`call`] looks the export up by name.
///
/// # Errors
/// As [`call`].
pub fn call_via<G, F, I, O>(guest: &mut G, export: F, input: &I) -> Result<O, WasmError>
where
    G: Guest + ?Sized,
    F: FnOnce(&mut G, u32, u32) -> Result<u64, WasmError>,
    I: Serialize + ?Sized,
    O: DeserializeOwned,
{
    call_in_place(
        guest,
        TYPED,
        export,
        |g| write_encoded(g, input),
        |bytes| decode_result::<O>(bytes),
    )??
}

/// [`call_via`], with the output lent to `read` in its borrowed form ([`Borrowable`]) where
/// the guest wrote it, instead of copied out: for large outputs the host only reads.
///
/// # Errors
/// As [`call`].
pub fn call_borrowed_via<G, F, I, O, R>(
    guest: &mut G,
    export: F,
    input: &I,
    read: impl for<'a> FnOnce(O::Borrowed<'a>) -> R,
) -> Result<R, WasmError>
where
    G: Guest + ?Sized,
    F: FnOnce(&mut G, u32, u32) -> Result<u64, WasmError>,
    I: Serialize + ?Sized,
    O: Borrowable,
{
    call_in_place(
        guest,
        TYPED,
        export,
        |g| write_encoded(g, input),
        |bytes| decode_result::<O::Borrowed<'_>>(bytes).map(|r| r.map(read)),
    )??
}

/// An output type with a borrowed form, which decodes from the guest's output where it lies
/// ([`call_borrowed_via`], `SerializedFunc::call_borrowed`) instead of being copied out.
pub trait Borrowable: DeserializeOwned {
    /// The borrowed form: `&ByteSlice` for `Bytes`, `&str` for `String`.
    type Borrowed<'a>: Deserialize<'a>;
}

impl Borrowable for crate::Bytes {
    type Borrowed<'a> = &'a crate::ByteSlice;
}

impl Borrowable for String {
    type Borrowed<'a> = &'a str;
}

/// [`call_bytes`] through `export`, a function that calls the export with `(ptr, len)`.
///
/// # Errors
/// As [`call_bytes`].
pub fn call_bytes_via<G, F>(guest: &mut G, export: F, input: &[u8]) -> Result<Vec<u8>, WasmError>
where
    G: Guest + ?Sized,
    F: FnOnce(&mut G, u32, u32) -> Result<u64, WasmError>,
{
    call_in_place(
        guest,
        TYPED,
        export,
        |g| write_payload(g, input),
        <[u8]>::to_vec,
    )
}

/// The export name spans give a call through a typed handle, which holds no name.
const TYPED: &str = "(typed handle)";

/// One serialized call: `write_input` puts the input into the guest and returns its packed
/// `(ptr, len)`, `export` calls the export, and `read_output` sees the guest's output where
/// it lies, before it is handed back to the guest's deallocator.
///
/// With the `tracing` feature each call is a `call` span (level debug) with the export, the
/// bytes in and out, the fuel used (when metering is on) and the outcome.
fn call_in_place<G, F, R>(
    guest: &mut G,
    name: &str,
    export: F,
    write_input: impl FnOnce(&mut G) -> Result<u64, WasmError>,
    read_output: impl FnOnce(&[u8]) -> R,
) -> Result<R, WasmError>
where
    G: Guest + ?Sized,
    F: FnOnce(&mut G, u32, u32) -> Result<u64, WasmError>,
{
    // Without a subscriber at debug level, one atomic load.
    #[cfg(feature = "tracing")]
    if tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG {
        use tracing::field::Empty;
        let span = tracing::debug_span!(
            "call",
            export = name,
            bytes_in = Empty,
            bytes_out = Empty,
            fuel = Empty,
            outcome = Empty
        );
        if !span.is_disabled() {
            let _entered = span.enter();
            let mut sizes = (0, 0);
            let result = call_measured(guest, export, write_input, read_output, &mut sizes);
            span.record("bytes_in", sizes.0);
            span.record("bytes_out", sizes.1);
            if let Some(fuel) = guest.fuel_consumed() {
                span.record("fuel", fuel);
            }
            match &result {
                Ok(_) => span.record("outcome", "ok"),
                Err(e) => span.record("outcome", tracing::field::display(e)),
            };
            return result;
        }
    }
    let _ = name;
    call_measured(guest, export, write_input, read_output, &mut (0, 0))
}

/// [`call_in_place`]'s work; `sizes` gets the input's and the output's lengths.
fn call_measured<G, F, R>(
    guest: &mut G,
    export: F,
    write_input: impl FnOnce(&mut G) -> Result<u64, WasmError>,
    read_output: impl FnOnce(&[u8]) -> R,
    sizes: &mut (u32, u32),
) -> Result<R, WasmError>
where
    G: Guest + ?Sized,
    F: FnOnce(&mut G, u32, u32) -> Result<u64, WasmError>,
{
    let (ptr, len) = unpack(write_input(guest)?);
    sizes.0 = len;
    let packed = match export(guest, ptr, len) {
        Ok(packed) => packed,
        Err(WasmError::Trap(Trap::Unreachable)) => return Err(panic_or_unreachable(guest)),
        // The guest never ran, so the input is still ours to free.
        Err(e @ (WasmError::MissingExport(_) | WasmError::ExportSignature { .. })) => {
            guest.dealloc(ptr, len)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (out_ptr, out_len) = unpack(packed);
    sizes.1 = out_len;
    let output = match read_payload_with(guest, out_ptr, out_len, read_output) {
        Ok(output) => output,
        Err(e @ WasmError::PayloadTooLarge { .. }) => {
            // Refused unread, but still ours to hand back; the error that matters is the size.
            let _ = guest.dealloc(out_ptr, out_len);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    guest.dealloc(out_ptr, out_len)?;
    Ok(output)
}

/// Allocates room for `bytes` in the guest with its allocator, copies them in, and returns
/// the packed `(ptr, len)`.
///
/// # Errors
/// [`WasmError::PayloadTooLarge`], [`WasmError::BadGuestPointer`] when the allocator's
/// pointer is outside memory, or the allocator's own failure.
pub fn write_payload<G: Guest + ?Sized>(guest: &mut G, bytes: &[u8]) -> Result<u64, WasmError> {
    let len = check_payload_len(guest, bytes.len() as u64)?;
    charge_payload(guest, len)?;
    let ptr = alloc(guest, len)?;
    guest.write(ptr, bytes)?;
    Ok(pack(ptr, len))
}

/// Encodes `value` straight into guest memory: its length is measured first (without
/// copying any bytes), the guest's allocator gives room for exactly that, and the encoding
/// is written there. Returns the packed `(ptr, len)`.
///
/// # Errors
/// As [`write_payload`], and [`WasmError::Serialize`] when `value` does not serialize (or
/// serializes to another length the second time).
pub fn write_encoded<G, T>(guest: &mut G, value: &T) -> Result<u64, WasmError>
where
    G: Guest + ?Sized,
    T: Serialize + ?Sized,
{
    // Small values (most inputs) are encoded once, on the stack, and copied in; larger ones
    // are measured, then encoded in place, so that no large payload is copied on the host.
    let mut small = [0u8; SMALL_ENCODING];
    let mut room = &mut small[..];
    if rmp_serde::encode::write_named(&mut room, value).is_ok() {
        let len = SMALL_ENCODING - room.len();
        return write_payload(guest, &small[..len]);
    }
    let len = check_payload_len(guest, encoded_len(value)?)?;
    charge_payload(guest, len)?;
    let ptr = alloc(guest, len)?;
    let mut room = guest.memory_slice_mut(ptr, len)?;
    let written = rmp_serde::encode::write_named(&mut room, value)
        .map_err(|e| WasmError::Serialize(e.to_string()))
        .and_then(|()| match room.len() {
            0 => Ok(()),
            left => Err(WasmError::Serialize(format!(
                "the input encoded to {} bytes, then to {}",
                len,
                len as usize - left
            ))),
        });
    if let Err(e) = written {
        let _ = guest.dealloc(ptr, len);
        return Err(e);
    }
    Ok(pack(ptr, len))
}

/// The largest encoding [`write_encoded`] makes on the stack before copying it in.
const SMALL_ENCODING: usize = 256;

/// `len` bytes from the guest's allocator; a null pointer for a non-zero length is a failed
/// allocation, refused as a bad pointer rather than written through.
fn alloc<G: Guest + ?Sized>(guest: &mut G, len: u32) -> Result<u32, WasmError> {
    match guest.alloc(len)? {
        0 if len > 0 => Err(WasmError::BadGuestPointer {
            ptr: 0,
            len: len as u64,
            memory_size: guest.memory_size()?,
        }),
        ptr => Ok(ptr),
    }
}

/// The length of `value`'s MessagePack encoding ([`encode`]), measured without copying
/// any of its bytes.
///
/// # Errors
/// [`WasmError::Serialize`] when `value`'s `Serialize` impl fails.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<u64, WasmError> {
    /// A writer that only counts.
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    rmp_serde::encode::write_named(&mut count, value)
        .map_err(|e| WasmError::Serialize(e.to_string()))?;
    Ok(count.0)
}

/// Copies a payload of `len` bytes at `ptr` out of the guest, after checking the payload
/// limit and the bounds.
///
/// # Errors
/// [`WasmError::PayloadTooLarge`] or [`WasmError::BadGuestPointer`].
pub fn read_payload<G: Guest + ?Sized>(
    guest: &mut G,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, WasmError> {
    read_payload_with(guest, ptr, len, <[u8]>::to_vec)
}

/// Lends the payload of `len` bytes at `ptr` to `read` where it lies in guest memory (to
/// decode it without a copy), after checking the payload limit and the bounds.
///
/// # Errors
/// [`WasmError::PayloadTooLarge`] or [`WasmError::BadGuestPointer`].
pub fn read_payload_with<G, R>(
    guest: &mut G,
    ptr: u32,
    len: u32,
    read: impl FnOnce(&[u8]) -> R,
) -> Result<R, WasmError>
where
    G: Guest + ?Sized,
{
    check_payload_len(guest, len as u64)?;
    let output = read(guest.memory_slice(ptr, len)?);
    charge_payload(guest, len)?;
    Ok(output)
}

/// Charges a payload's bytes at [`crate::CostTable::payload_bytes_per_unit`].
fn charge_payload<G: Guest + ?Sized>(guest: &mut G, len: u32) -> Result<(), WasmError> {
    match guest.config().costs.payload(len as u64) {
        0 => Ok(()),
        units => guest.charge(units),
    }
}

/// The `(ptr, len)` arguments of a call in the ABI's shape.
///
/// # Errors
/// [`WasmError::Host`] when `args` are not two `i32`s (backends check import signatures at
/// link time, so this means a backend bug).
pub fn packed_args(args: &[Value]) -> Result<(u32, u32), WasmError> {
    match args {
        [Value::I32(ptr), Value::I32(len)] => Ok((*ptr as u32, *len as u32)),
        _ => Err(WasmError::host(format!(
            "a serialized host function takes (i32, i32), got {args:?}"
        ))),
    }
}

fn check_payload_len<G: Guest + ?Sized>(guest: &G, len: u64) -> Result<u32, WasmError> {
    let limit = guest.config().max_payload_bytes;
    if len > limit as u64 {
        return Err(WasmError::PayloadTooLarge {
            len,
            limit: limit as u64,
        });
    }
    Ok(len as u32)
}

/// After an `unreachable` trap: the guest's panic message if it left one, else the trap.
fn panic_or_unreachable<G: Guest + ?Sized>(guest: &mut G) -> WasmError {
    let message = match guest.call_raw(PANIC_MESSAGE, &[]) {
        Ok(results) => match results.as_slice() {
            [Value::I64(packed)] => {
                let (ptr, len) = unpack(*packed as u64);
                let message = guest.memory_slice(ptr, len).ok().filter(|m| !m.is_empty());
                message.map(|m| String::from_utf8_lossy(m).into_owned())
            }
            _ => None,
        },
        Err(_) => None,
    };
    match message {
        Some(m) => WasmError::GuestPanic(m),
        None => WasmError::Trap(Trap::Unreachable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_extremes() {
        for (p, l) in [(0, 0), (1, u32::MAX), (u32::MAX, 0), (u32::MAX, u32::MAX)] {
            assert_eq!(unpack(pack(p, l)), (p, l));
        }
    }

    #[test]
    fn checked_range_rejects_past_end_and_overflow() {
        assert_eq!(checked_range(10, 6, 16), Ok(10..16));
        assert!(matches!(
            checked_range(10, 7, 16),
            Err(WasmError::BadGuestPointer {
                ptr: 10,
                len: 7,
                memory_size: 16
            })
        ));
        assert!(checked_range(u32::MAX, u32::MAX, 1 << 32).is_err());
    }

    #[test]
    fn errors_round_trip_through_messagepack() {
        let e: Result<u8, WasmError> = Err(WasmError::BadGuestPointer {
            ptr: 1,
            len: 2,
            memory_size: 3,
        });
        assert_eq!(
            decode::<Result<u8, WasmError>>(&encode(&e).unwrap()).unwrap(),
            e
        );
    }

    /// The `Ok` shortcut decodes what the general way decodes, and leaves the rest to it.
    #[test]
    fn answers_decode_the_same_with_and_without_the_ok_shortcut() {
        let ok: Result<String, WasmError> = Ok("hi".into());
        let bytes = encode(&ok).unwrap();
        assert!(
            bytes.starts_with(&OK_TAG),
            "the shortcut must apply: {bytes:x?}"
        );
        assert_eq!(decode_result::<String>(&bytes).unwrap(), ok);
        let err: Result<String, WasmError> = Err(WasmError::MissingExport("f".into()));
        assert_eq!(
            decode_result::<String>(&encode(&err).unwrap()).unwrap(),
            err
        );
        // The key "Ok" as a str8 instead of a fixstr: not the shortcut's bytes, still `Ok`.
        let long_key = [0x81, 0xd9, 2, b'O', b'k', 0xa2, b'h', b'i'];
        assert_eq!(decode_result::<String>(&long_key).unwrap(), ok);
        assert!(matches!(
            decode_result::<u32>(&bytes),
            Err(WasmError::Deserialize(_))
        ));
        assert!(matches!(
            decode_result::<String>(&OK_TAG),
            Err(WasmError::Deserialize(_))
        ));
    }

    /// Inputs encode once on the stack up to its size and are measured beyond it; both give
    /// exactly [`encode`]'s bytes.
    #[test]
    fn inputs_encode_alike_below_and_above_the_stack_buffer() {
        for len in [
            0,
            SMALL_ENCODING - 3,
            SMALL_ENCODING - 2,
            SMALL_ENCODING,
            10_000,
        ] {
            let value = "x".repeat(len);
            let mut small = [0u8; SMALL_ENCODING];
            let mut room = &mut small[..];
            let fits = rmp_serde::encode::write_named(&mut room, &value).is_ok();
            let used = SMALL_ENCODING - room.len();
            assert_eq!(
                fits,
                encode(&value).unwrap().len() <= SMALL_ENCODING,
                "{len}"
            );
            if fits {
                assert_eq!(&small[..used], &encode(&value).unwrap()[..]);
            }
        }
    }
}
