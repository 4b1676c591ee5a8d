//! Guest memory as WASI's calls see it: little-endian fields at guest addresses, each access
//! bounds-checked by the contract (a pointer outside memory is [`errno::FAULT`]).

use wasmhost_api::{Guest, WasmError};

use crate::errno::{self, Errno};

/// Why a WASI call did not succeed: an errno the guest receives, or an error that stops the
/// guest (its exit, running out of fuel, a missing memory).
pub(crate) enum Fail {
    /// Returned to the guest.
    Errno(Errno),
    /// Stops the guest; the host's caller gets it.
    Stop(WasmError),
}

impl From<WasmError> for Fail {
    fn from(error: WasmError) -> Self {
        match error {
            WasmError::BadGuestPointer { .. } => Fail::Errno(errno::FAULT),
            other => Fail::Stop(other),
        }
    }
}

impl From<std::io::Error> for Fail {
    fn from(error: std::io::Error) -> Self {
        Fail::Errno(errno::from_io(&error))
    }
}

/// What a WASI call returns inside this crate.
pub(crate) type Answer<R = ()> = Result<R, Fail>;

/// Fails with `errno`.
pub(crate) fn fail<R>(errno: Errno) -> Answer<R> {
    Err(Fail::Errno(errno))
}

/// `len` bytes at `ptr`, copied out.
pub(crate) fn read<G: Guest + ?Sized>(guest: &mut G, ptr: u32, len: u32) -> Answer<Vec<u8>> {
    Ok(guest.memory_slice(ptr, len)?.to_vec())
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write<G: Guest + ?Sized>(guest: &mut G, ptr: u32, bytes: &[u8]) -> Answer {
    let len = u32::try_from(bytes.len()).map_err(|_| Fail::Errno(errno::FAULT))?;
    guest.memory_slice_mut(ptr, len)?.copy_from_slice(bytes);
    Ok(())
}

/// Writes a `u32` at `ptr`.
pub(crate) fn put_u32<G: Guest + ?Sized>(guest: &mut G, ptr: u32, value: u32) -> Answer {
    write(guest, ptr, &value.to_le_bytes())
}

/// Writes a `u64` at `ptr`.
pub(crate) fn put_u64<G: Guest + ?Sized>(guest: &mut G, ptr: u32, value: u64) -> Answer {
    write(guest, ptr, &value.to_le_bytes())
}

/// The `(buf, len)` pairs of an iovec list of `count` entries at `ptr`.
pub(crate) fn iovecs<G: Guest + ?Sized>(
    guest: &mut G,
    ptr: u32,
    count: u32,
) -> Answer<Vec<(u32, u32)>> {
    let bytes = u32::try_from(u64::from(count) * 8).map_err(|_| Fail::Errno(errno::FAULT))?;
    let list = guest.memory_slice(ptr, bytes)?;
    Ok(list
        .chunks_exact(8)
        .map(|v| {
            let word = |i: usize| u32::from_le_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
            (word(0), word(4))
        })
        .collect())
}

/// The bytes an iovec list at `ptr` points to, at most `most` of them, copied out in order.
pub(crate) fn gather<G: Guest + ?Sized>(
    guest: &mut G,
    ptr: u32,
    count: u32,
    most: usize,
) -> Answer<Vec<u8>> {
    let mut out = Vec::new();
    for (buf, len) in iovecs(guest, ptr, count)? {
        let take = (len as usize).min(most - out.len());
        out.extend_from_slice(guest.memory_slice(buf, take as u32)?);
        if out.len() == most {
            break;
        }
    }
    Ok(out)
}

/// The room an iovec list at `ptr` offers, checked in full before anything is written, so a
/// read never consumes input it cannot store.
pub(crate) fn room<G: Guest + ?Sized>(
    guest: &mut G,
    ptr: u32,
    count: u32,
) -> Answer<Vec<(u32, u32)>> {
    let list = iovecs(guest, ptr, count)?;
    for &(buf, len) in &list {
        guest.memory_slice(buf, len)?;
    }
    Ok(list)
}

/// Spreads `bytes` over the iovec list `list`, in order.
pub(crate) fn scatter<G: Guest + ?Sized>(
    guest: &mut G,
    list: &[(u32, u32)],
    mut bytes: &[u8],
) -> Answer {
    for &(buf, len) in list {
        let take = (len as usize).min(bytes.len());
        write(guest, buf, &bytes[..take])?;
        bytes = &bytes[take..];
        if bytes.is_empty() {
            break;
        }
    }
    Ok(())
}

/// A path argument: UTF-8 ([`errno::ILSEQ`] otherwise), at most 4 096 bytes.
pub(crate) fn path<G: Guest + ?Sized>(guest: &mut G, ptr: u32, len: u32) -> Answer<String> {
    if len > 4096 {
        return fail(errno::NAMETOOLONG);
    }
    String::from_utf8(read(guest, ptr, len)?).map_err(|_| Fail::Errno(errno::ILSEQ))
}
