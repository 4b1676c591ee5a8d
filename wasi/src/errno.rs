//! The errno values of `wasi_snapshot_preview1` that this implementation answers, by their
//! spec names (`legacy/preview1/witx/typenames.witx`), and the mapping from host I/O errors.

use std::io;

/// A WASI errno, as the guest receives it.
pub type Errno = u16;

/// No error.
pub const SUCCESS: Errno = 0;
/// Permission denied.
pub const ACCES: Errno = 2;
/// Resource unavailable, try again.
pub const AGAIN: Errno = 6;
/// Bad file descriptor.
pub const BADF: Errno = 8;
/// Device or resource busy.
pub const BUSY: Errno = 10;
/// File exists.
pub const EXIST: Errno = 20;
/// Bad address: a pointer or length outside the guest's memory.
pub const FAULT: Errno = 21;
/// File too large.
pub const FBIG: Errno = 22;
/// Illegal byte sequence: a path that is not UTF-8.
pub const ILSEQ: Errno = 25;
/// Interrupted function.
pub const INTR: Errno = 27;
/// Invalid argument.
pub const INVAL: Errno = 28;
/// I/O error.
pub const IO: Errno = 29;
/// Is a directory.
pub const ISDIR: Errno = 31;
/// Too many levels of symbolic links.
pub const LOOP: Errno = 32;
/// Too many open descriptors: [`crate::WasiCtxBuilder::max_open_files`].
pub const MFILE: Errno = 33;
/// Too many links.
pub const MLINK: Errno = 34;
/// Filename too long.
pub const NAMETOOLONG: Errno = 37;
/// No such file or directory.
pub const NOENT: Errno = 44;
/// No space left on device, or a captured output is full.
pub const NOSPC: Errno = 51;
/// Function not supported: the answer of every call this implementation does not offer.
pub const NOSYS: Errno = 52;
/// Not a directory.
pub const NOTDIR: Errno = 54;
/// Directory not empty.
pub const NOTEMPTY: Errno = 55;
/// Not supported on this descriptor or by this implementation.
pub const NOTSUP: Errno = 58;
/// No such device or address.
pub const NXIO: Errno = 60;
/// Operation not permitted.
pub const PERM: Errno = 63;
/// Broken pipe.
pub const PIPE: Errno = 64;
/// Read-only file system: a write through a read-only preopen.
pub const ROFS: Errno = 69;
/// Invalid seek: seeking a stream.
pub const SPIPE: Errno = 70;
/// Cross-device link.
pub const XDEV: Errno = 75;
/// Capabilities insufficient: a path leading outside its preopen.
pub const NOTCAPABLE: Errno = 76;

/// The errno for a host I/O error: by the operating system's code where there is one, else
/// by its kind. An attempt to leave a preopen (cap-std's refusal) is [`NOTCAPABLE`].
pub fn from_io(error: &io::Error) -> Errno {
    #[cfg(unix)]
    if let Some(code) = error.raw_os_error() {
        return match code {
            1 => PERM,
            2 => NOENT,
            4 => INTR,
            5 => IO,
            6 => NXIO,
            9 => BADF,
            11 => AGAIN,
            13 => ACCES,
            16 => BUSY,
            17 => EXIST,
            18 => XDEV,
            20 => NOTDIR,
            21 => ISDIR,
            22 => INVAL,
            27 => FBIG,
            28 => NOSPC,
            29 => SPIPE,
            30 => ROFS,
            31 => MLINK,
            32 => PIPE,
            36 => NAMETOOLONG,
            39 => NOTEMPTY,
            40 => LOOP,
            95 => NOTSUP,
            _ => IO,
        };
    }
    match error.kind() {
        io::ErrorKind::NotFound => NOENT,
        io::ErrorKind::PermissionDenied => NOTCAPABLE,
        io::ErrorKind::AlreadyExists => EXIST,
        io::ErrorKind::InvalidInput => INVAL,
        io::ErrorKind::NotADirectory => NOTDIR,
        io::ErrorKind::IsADirectory => ISDIR,
        io::ErrorKind::DirectoryNotEmpty => NOTEMPTY,
        io::ErrorKind::Unsupported => NOTSUP,
        io::ErrorKind::BrokenPipe => PIPE,
        io::ErrorKind::WouldBlock => AGAIN,
        io::ErrorKind::Interrupted => INTR,
        _ => IO,
    }
}
