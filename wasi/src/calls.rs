//! The 46 functions of `wasi_snapshot_preview1`, each a raw host function over the
//! contract, so they behave the same on every engine. Arguments are read as the witx
//! signatures give them; every pointer and length goes through [`crate::memory`].

use std::io::SeekFrom;

use wasmhost_api::{HostContext, HostFunctions, Interruption, ValType, Value, WasmError};

use crate::WasiView;
use crate::ctx::WasiCtx;
use crate::errno::{self, Errno};
use crate::fd::{Descriptor, RIGHT_FD_READ, RIGHT_FD_READDIR, RIGHT_FD_WRITE, Stat, filetype};
use crate::handle::{DirHandle, FileHandle, OpenFlags, Opened, Times};
use crate::memory::{self as mem, Answer, Fail, fail};

/// The import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The most bytes one read or write moves: a larger request is served in part, as POSIX
/// allows, so no call makes the host allocate more than this.
pub const MOST_BYTES_PER_CALL: usize = 1 << 20;

type Cx<'a, 'b, T> = &'a mut HostContext<'b, T>;
type Call<T> = fn(Cx<'_, '_, T>, &Args) -> Answer;

/// A call's arguments, as the signature declares them.
pub(crate) struct Args<'a>(&'a [Value]);

impl Args<'_> {
    fn u32(&self, i: usize) -> u32 {
        match self.0.get(i) {
            Some(Value::I32(v)) => *v as u32,
            _ => 0,
        }
    }

    fn u64(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Value::I64(v)) => *v as u64,
            _ => 0,
        }
    }
}

fn wasi<'a, T: WasiView>(cx: &'a mut HostContext<'_, T>) -> &'a mut WasiCtx {
    cx.state_mut().wasi()
}

/// Charges the fuel for `bytes` moved ([`wasmhost_api::CostTable::io_bytes_per_unit`]).
fn charge<T>(cx: Cx<'_, '_, T>, bytes: usize) -> Answer {
    let per_unit = cx.guest().config().costs.io_bytes_per_unit;
    if per_unit > 0 {
        cx.charge(bytes as u64 / u64::from(per_unit))?;
    }
    Ok(())
}

/// Links every function of `wasi_snapshot_preview1` into `host`.
pub(crate) fn link<T: WasiView + 'static>(host: &mut HostFunctions<T>) {
    // (name, parameters: `i` for i32, `I` for i64, the body); every one returns an errno
    // but `proc_exit`.
    let calls: [(&str, &str, Call<T>); 45] = [
        ("args_get", "ii", args_get),
        ("args_sizes_get", "ii", args_sizes_get),
        ("environ_get", "ii", environ_get),
        ("environ_sizes_get", "ii", environ_sizes_get),
        ("clock_res_get", "ii", clock_res_get),
        ("clock_time_get", "iIi", clock_time_get),
        ("fd_advise", "iIIi", fd_advise),
        ("fd_allocate", "iII", fd_allocate),
        ("fd_close", "i", fd_close),
        ("fd_datasync", "i", fd_sync),
        ("fd_fdstat_get", "ii", fd_fdstat_get),
        ("fd_fdstat_set_flags", "ii", fd_fdstat_set_flags),
        ("fd_fdstat_set_rights", "iII", not_supported),
        ("fd_filestat_get", "ii", fd_filestat_get),
        ("fd_filestat_set_size", "iI", fd_filestat_set_size),
        ("fd_filestat_set_times", "iIIi", fd_filestat_set_times),
        ("fd_pread", "iiiIi", fd_pread),
        ("fd_prestat_get", "ii", fd_prestat_get),
        ("fd_prestat_dir_name", "iii", fd_prestat_dir_name),
        ("fd_pwrite", "iiiIi", fd_pwrite),
        ("fd_read", "iiii", fd_read),
        ("fd_readdir", "iiiIi", fd_readdir),
        ("fd_renumber", "ii", fd_renumber),
        ("fd_seek", "iIii", fd_seek),
        ("fd_sync", "i", fd_sync),
        ("fd_tell", "ii", fd_tell),
        ("fd_write", "iiii", fd_write),
        ("path_create_directory", "iii", path_create_directory),
        ("path_filestat_get", "iiiii", path_filestat_get),
        (
            "path_filestat_set_times",
            "iiiiIIi",
            path_filestat_set_times,
        ),
        ("path_link", "iiiiiii", path_link),
        ("path_open", "iiiiiIIii", path_open),
        ("path_readlink", "iiiiii", path_readlink),
        ("path_remove_directory", "iii", path_remove_directory),
        ("path_rename", "iiiiii", path_rename),
        ("path_symlink", "iiiii", path_symlink),
        ("path_unlink_file", "iii", path_unlink_file),
        ("poll_oneoff", "iiii", poll_oneoff),
        ("proc_raise", "i", not_implemented),
        ("sched_yield", "", sched_yield),
        ("random_get", "ii", random_get),
        ("sock_accept", "iii", not_supported),
        ("sock_recv", "iiiiii", not_supported),
        ("sock_send", "iiiii", not_supported),
        ("sock_shutdown", "ii", not_supported),
    ];
    for (name, params, body) in calls {
        let params: Vec<ValType> = params
            .chars()
            .map(|c| if c == 'I' { ValType::I64 } else { ValType::I32 })
            .collect();
        host.raw(MODULE, name, &params, &[ValType::I32], move |cx, args| {
            let errno: Errno = match body(cx, &Args(args)) {
                Ok(()) => errno::SUCCESS,
                Err(Fail::Errno(errno)) => errno,
                Err(Fail::Stop(error)) => return Err(error),
            };
            Ok(vec![Value::I32(i32::from(errno))])
        });
    }
    host.raw(MODULE, "proc_exit", &[ValType::I32], &[], |_, args| {
        Err(WasmError::Exit(Args(args).u32(0) as i32))
    });
}

/// What this implementation does not offer on any descriptor: sockets, changing rights.
fn not_supported<T>(_: Cx<'_, '_, T>, _: &Args) -> Answer {
    fail(errno::NOTSUP)
}

/// What this implementation does not offer at all: `proc_raise`.
fn not_implemented<T>(_: Cx<'_, '_, T>, _: &Args) -> Answer {
    fail(errno::NOSYS)
}

/// Writes a list of strings the C way: pointers at `ptrs`, NUL-terminated bytes at `buf`.
fn put_strings<T>(cx: Cx<'_, '_, T>, list: &[Vec<u8>], ptrs: u32, buf: u32) -> Answer {
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        mem::put_u32(cx.guest(), ptrs.wrapping_add(4 * i as u32), at)?;
        mem::write(cx.guest(), at, s)?;
        mem::write(cx.guest(), at.wrapping_add(s.len() as u32), &[0])?;
        at = at.wrapping_add(s.len() as u32 + 1);
    }
    Ok(())
}

fn put_sizes<T>(cx: Cx<'_, '_, T>, list: &[Vec<u8>], count: u32, size: u32) -> Answer {
    let bytes: usize = list.iter().map(|s| s.len() + 1).sum();
    mem::put_u32(cx.guest(), count, list.len() as u32)?;
    mem::put_u32(cx.guest(), size, bytes as u32)
}

fn args_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let list = wasi(cx).args.clone();
    put_strings(cx, &list, a.u32(0), a.u32(1))
}

fn args_sizes_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let list = wasi(cx).args.clone();
    put_sizes(cx, &list, a.u32(0), a.u32(1))
}

fn environ_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let list = wasi(cx).env.clone();
    put_strings(cx, &list, a.u32(0), a.u32(1))
}

fn environ_sizes_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let list = wasi(cx).env.clone();
    put_sizes(cx, &list, a.u32(0), a.u32(1))
}

fn clock_res_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let res = wasi(cx).clocks.resolution(a.u32(0)).map_err(Fail::Errno)?;
    mem::put_u64(cx.guest(), a.u32(1), res)
}

fn clock_time_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    // Checked before the clock is read: a failing call leaves virtual time where it was.
    cx.guest().memory_slice(a.u32(2), 8)?;
    let now = wasi(cx).clocks.now(a.u32(0)).map_err(Fail::Errno)?;
    mem::put_u64(cx.guest(), a.u32(2), now)
}

/// Open file `fd`.
fn file(ctx: &mut WasiCtx, fd: u32) -> Answer<&mut FileHandle> {
    match ctx.fds.get(fd).map_err(Fail::Errno)? {
        Descriptor::File { file, .. } => Ok(file),
        Descriptor::Dir { .. } => fail(errno::ISDIR),
        _ => fail(errno::SPIPE),
    }
}

/// Open file `fd`, which must have been opened for writing.
fn writable_file(ctx: &mut WasiCtx, fd: u32) -> Answer<&mut FileHandle> {
    match ctx.fds.get(fd).map_err(Fail::Errno)? {
        Descriptor::File {
            file, write: true, ..
        } => Ok(file),
        Descriptor::Dir { .. } => fail(errno::ISDIR),
        _ => fail(errno::BADF),
    }
}

fn fd_advise<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    file(wasi(cx), a.u32(0))?;
    // Advice is advice: taken as read for the six kinds there are.
    match a.u32(3) {
        0..=5 => Ok(()),
        _ => fail(errno::INVAL),
    }
}

fn fd_allocate<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let end = a
        .u64(1)
        .checked_add(a.u64(2))
        .ok_or(Fail::Errno(errno::FBIG))?;
    let file = writable_file(wasi(cx), a.u32(0))?;
    if file.len()? < end {
        file.set_len(end)?;
    }
    Ok(())
}

fn fd_close<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    wasi(cx).fds.take(a.u32(0)).map_err(Fail::Errno)?;
    Ok(())
}

fn fd_sync<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    match wasi(cx).fds.get(a.u32(0)).map_err(Fail::Errno)? {
        Descriptor::File { file, .. } => file.sync()?,
        Descriptor::Out(out, stderr) => out.flush(*stderr).map_err(Fail::Errno)?,
        Descriptor::In(_) | Descriptor::Dir { .. } => {}
    }
    Ok(())
}

fn fd_fdstat_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (kind, flags, base, inheriting) = wasi(cx).fds.get(a.u32(0)).map_err(Fail::Errno)?.fdstat();
    let mut out = [0u8; 24];
    out[0] = kind;
    out[2..4].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&base.to_le_bytes());
    out[16..24].copy_from_slice(&inheriting.to_le_bytes());
    mem::write(cx.guest(), a.u32(1), &out)
}

fn fd_fdstat_set_flags<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let flags = a.u32(1);
    match wasi(cx).fds.get(a.u32(0)).map_err(Fail::Errno)? {
        // Only `append` can change; the other flags (sync modes, non-blocking) would need
        // the host file reopened, and mean nothing for files that block anyway.
        Descriptor::File { append, .. } if flags & !1 == 0 => {
            *append = flags == 1;
            Ok(())
        }
        _ if flags == 0 => Ok(()),
        _ => fail(errno::NOTSUP),
    }
}

fn fd_filestat_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let ctx = wasi(cx);
    let deterministic = ctx.deterministic;
    let stat = match ctx.fds.get(a.u32(0)).map_err(Fail::Errno)? {
        Descriptor::File { file, .. } => file.stat(deterministic)?,
        Descriptor::Dir { dir, .. } => dir.stat(deterministic)?,
        Descriptor::In(_) | Descriptor::Out(..) => Stat {
            filetype: filetype::CHARACTER_DEVICE,
            nlink: 1,
            ..Stat::default()
        },
    };
    mem::write(cx.guest(), a.u32(1), &stat.bytes())
}

fn fd_filestat_set_size<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    writable_file(wasi(cx), a.u32(0))?.set_len(a.u64(1))
}

/// The access and modification times `fst_flags` asks for (bits: atim, atim_now, mtim,
/// mtim_now).
fn file_times(atim: u64, mtim: u64, fst_flags: u32) -> Answer<Times> {
    if fst_flags & 0b11 == 0b11 || fst_flags & 0b1100 == 0b1100 || fst_flags > 0b1111 {
        return fail(errno::INVAL);
    }
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    let pick = |given: u64, set: bool, set_now: bool| match (set, set_now) {
        (true, _) => Some(given),
        (_, true) => Some(now()),
        _ => None,
    };
    Ok(Times {
        atim: pick(atim, fst_flags & 1 != 0, fst_flags & 2 != 0),
        mtim: pick(mtim, fst_flags & 4 != 0, fst_flags & 8 != 0),
    })
}

fn fd_filestat_set_times<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let times = file_times(a.u64(1), a.u64(2), a.u32(3))?;
    writable_file(wasi(cx), a.u32(0))?.set_times(&times)
}

/// Reads at most `most` bytes from `fd`, at `offset` when given (the position is kept).
fn read_from(
    ctx: &mut WasiCtx,
    fd: u32,
    most: usize,
    offset: Option<u64>,
    stopped: &dyn Fn() -> Option<Interruption>,
) -> Answer<Vec<u8>> {
    match ctx.fds.get(fd).map_err(Fail::Errno)? {
        Descriptor::In(input) if offset.is_none() => input.read(most, stopped),
        Descriptor::File {
            file, read: true, ..
        } => {
            let mut buf = vec![0; most];
            let n = file.read(&mut buf, offset)?;
            buf.truncate(n);
            Ok(buf)
        }
        Descriptor::In(_) => fail(errno::SPIPE),
        Descriptor::Dir { .. } => fail(errno::ISDIR),
        _ => fail(errno::BADF),
    }
}

/// Writes `bytes` to `fd`, at `offset` when given (the position is kept).
fn write_to(ctx: &mut WasiCtx, fd: u32, bytes: &[u8], offset: Option<u64>) -> Answer<usize> {
    match ctx.fds.get(fd).map_err(Fail::Errno)? {
        Descriptor::Out(out, stderr) if offset.is_none() => {
            out.write(bytes, *stderr).map_err(Fail::Errno)?;
            Ok(bytes.len())
        }
        Descriptor::File {
            file,
            write: true,
            append,
            ..
        } => file.write(bytes, offset, *append),
        Descriptor::Out(..) => fail(errno::SPIPE),
        Descriptor::Dir { .. } => fail(errno::ISDIR),
        _ => fail(errno::BADF),
    }
}

/// `fd_read` and `fd_pread`: into the iovecs at `iovs`, the count stored at `out`.
fn read_call<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args, offset: Option<u64>, out: u32) -> Answer {
    let list = mem::room(cx.guest(), a.u32(1), a.u32(2))?;
    cx.guest().memory_slice(out, 4)?;
    let wanted: usize = list.iter().map(|&(_, len)| len as usize).sum();
    // A wait for the host's input stops when the call is interrupted.
    let handle = cx.interrupt_handle();
    let stopped = || handle.as_ref().and_then(|h| h.interrupted());
    let most = wanted.min(MOST_BYTES_PER_CALL);
    let bytes = read_from(wasi(cx), a.u32(0), most, offset, &stopped)?;
    charge(cx, bytes.len())?;
    mem::scatter(cx.guest(), &list, &bytes)?;
    mem::put_u32(cx.guest(), out, bytes.len() as u32)
}

/// `fd_write` and `fd_pwrite`: from the iovecs at `iovs`, the count stored at `out`.
fn write_call<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args, offset: Option<u64>, out: u32) -> Answer {
    cx.guest().memory_slice(out, 4)?;
    let bytes = mem::gather(cx.guest(), a.u32(1), a.u32(2), MOST_BYTES_PER_CALL)?;
    charge(cx, bytes.len())?;
    let n = write_to(wasi(cx), a.u32(0), &bytes, offset)?;
    mem::put_u32(cx.guest(), out, n as u32)
}

fn fd_read<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    read_call(cx, a, None, a.u32(3))
}

fn fd_pread<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    read_call(cx, a, Some(a.u64(3)), a.u32(4))
}

fn fd_write<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    write_call(cx, a, None, a.u32(3))
}

fn fd_pwrite<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    write_call(cx, a, Some(a.u64(3)), a.u32(4))
}

/// Preopen `fd`'s guest name.
fn preopen_name(ctx: &mut WasiCtx, fd: u32) -> Answer<Vec<u8>> {
    match ctx.fds.get(fd).map_err(Fail::Errno)? {
        Descriptor::Dir {
            preopen: Some(name),
            ..
        } => Ok(name.as_bytes().to_vec()),
        _ => fail(errno::BADF),
    }
}

fn fd_prestat_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let name = preopen_name(wasi(cx), a.u32(0))?;
    let mut out = [0u8; 8];
    out[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
    mem::write(cx.guest(), a.u32(1), &out)
}

fn fd_prestat_dir_name<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let name = preopen_name(wasi(cx), a.u32(0))?;
    if (a.u32(2) as usize) < name.len() {
        return fail(errno::NAMETOOLONG);
    }
    mem::write(cx.guest(), a.u32(1), &name)
}

fn fd_readdir<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (buf, buf_len, cookie, used) = (a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    cx.guest().memory_slice(buf, buf_len)?;
    cx.guest().memory_slice(used, 4)?;
    let ctx = wasi(cx);
    let deterministic = ctx.deterministic;
    let Descriptor::Dir { dir, listing, .. } = ctx.fds.get(a.u32(0)).map_err(Fail::Errno)? else {
        return fail(errno::NOTDIR);
    };
    // Read afresh from the start, in name order after `.` and `..` (the same listing on
    // every host); a later cookie continues that reading.
    if cookie == 0 || listing.is_none() {
        let mut found = dir.entries(deterministic)?;
        found.sort();
        let mut entries = vec![
            (".".to_string(), filetype::DIRECTORY, 0),
            ("..".into(), filetype::DIRECTORY, 0),
        ];
        entries.extend(found);
        *listing = Some(entries);
    }
    let entries = listing.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for (i, (name, kind, ino)) in entries
        .iter()
        .enumerate()
        .skip(cookie.min(usize::MAX as u64) as usize)
    {
        if out.len() >= buf_len as usize {
            break;
        }
        out.extend_from_slice(&(i as u64 + 1).to_le_bytes());
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&[*kind, 0, 0, 0]);
        out.extend_from_slice(name.as_bytes());
    }
    // A full buffer tells the guest there may be more: it calls again from the last cookie.
    out.truncate(buf_len as usize);
    charge(cx, out.len())?;
    mem::write(cx.guest(), buf, &out)?;
    mem::put_u32(cx.guest(), used, out.len() as u32)
}

fn fd_renumber<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let fds = &mut wasi(cx).fds;
    let (from, to) = (a.u32(0), a.u32(1));
    fds.get(to).map_err(Fail::Errno)?;
    fds.get(from).map_err(Fail::Errno)?;
    if from == to {
        return Ok(());
    }
    let moved = fds.take(from).map_err(Fail::Errno)?;
    fds.replace(to, moved).map_err(Fail::Errno)
}

fn fd_seek<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (offset, whence, out) = (a.u64(1) as i64, a.u32(2), a.u32(3));
    cx.guest().memory_slice(out, 8)?;
    let to = match whence {
        0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| Fail::Errno(errno::INVAL))?),
        1 => SeekFrom::Current(offset),
        2 => SeekFrom::End(offset),
        _ => return fail(errno::INVAL),
    };
    let position = file(wasi(cx), a.u32(0))?.seek(to)?;
    mem::put_u64(cx.guest(), out, position)
}

fn fd_tell<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    cx.guest().memory_slice(a.u32(1), 8)?;
    let position = file(wasi(cx), a.u32(0))?.position()?;
    mem::put_u64(cx.guest(), a.u32(1), position)
}

/// The path argument at `(ptr, len)`.
fn path_arg<T>(cx: Cx<'_, '_, T>, ptr: u32, len: u32) -> Answer<String> {
    mem::path(cx.guest(), ptr, len)
}

fn path_create_directory<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(1), a.u32(2))?;
    wasi(cx)
        .fds
        .writable_dir(a.u32(0))
        .map_err(Fail::Errno)?
        .create_dir(&path)
}

fn path_filestat_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(2), a.u32(3))?;
    cx.guest().memory_slice(a.u32(4), 64)?;
    let ctx = wasi(cx);
    let deterministic = ctx.deterministic;
    let (dir, _) = ctx.fds.dir(a.u32(0)).map_err(Fail::Errno)?;
    let stat = dir.stat_at(&path, a.u32(1) & 1 == 1, deterministic)?;
    mem::write(cx.guest(), a.u32(4), &stat.bytes())
}

fn path_filestat_set_times<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(2), a.u32(3))?;
    let times = file_times(a.u64(4), a.u64(5), a.u32(6))?;
    let dir = wasi(cx).fds.writable_dir(a.u32(0)).map_err(Fail::Errno)?;
    dir.set_times_at(&path, a.u32(1) & 1 == 1, &times)
}

/// Directories `a` and `b` of a two-directory call (`b` a second handle to the same one
/// when the numbers are equal), both writable.
fn two_dirs(ctx: &mut WasiCtx, a: u32, b: u32) -> Answer<(DirHandle, DirHandle)> {
    let first = ctx.fds.writable_dir(a).map_err(Fail::Errno)?.try_clone()?;
    let second = ctx.fds.writable_dir(b).map_err(Fail::Errno)?.try_clone()?;
    Ok((first, second))
}

fn path_link<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let from = path_arg(cx, a.u32(2), a.u32(3))?;
    let to = path_arg(cx, a.u32(5), a.u32(6))?;
    if a.u32(1) & 1 != 0 {
        // Linking the target of a symlink: not something every host can do atomically.
        return fail(errno::NOTSUP);
    }
    let (old, new) = two_dirs(wasi(cx), a.u32(0), a.u32(4))?;
    old.hard_link(&from, &new, &to)
}

fn path_open<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (fd, lookup, oflags, rights, fdflags, out) =
        (a.u32(0), a.u32(1), a.u32(4), a.u64(5), a.u32(7), a.u32(8));
    let path = path_arg(cx, a.u32(2), a.u32(3))?;
    cx.guest().memory_slice(out, 4)?;
    let (create, directory, exclusive, truncate) = (
        oflags & 1 != 0,
        oflags & 2 != 0,
        oflags & 4 != 0,
        oflags & 8 != 0,
    );
    let append = fdflags & 1 != 0;
    let write = rights & RIGHT_FD_WRITE != 0 || create || truncate || append;
    let flags = OpenFlags {
        read: rights & (RIGHT_FD_READ | RIGHT_FD_READDIR) != 0 || !write,
        write,
        append,
        create,
        exclusive,
        truncate,
        directory,
        follow: lookup & 1 != 0,
    };
    let ctx = wasi(cx);
    let (dir, writable) = ctx.fds.dir(fd).map_err(Fail::Errno)?;
    if write && !writable {
        return fail(errno::ROFS);
    }
    let opened = match dir.open(&path, &flags)? {
        Opened::Dir(dir) => crate::fd::dir(dir, None, writable),
        Opened::File(file) => Descriptor::File {
            file,
            read: flags.read,
            write,
            append,
        },
    };
    let number = ctx.fds.push(opened).map_err(Fail::Errno)?;
    mem::put_u32(cx.guest(), out, number)
}

fn path_readlink<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(1), a.u32(2))?;
    let (buf, buf_len, used) = (a.u32(3), a.u32(4), a.u32(5));
    cx.guest().memory_slice(buf, buf_len)?;
    cx.guest().memory_slice(used, 4)?;
    let (dir, _) = wasi(cx).fds.dir(a.u32(0)).map_err(Fail::Errno)?;
    let mut bytes = dir.read_link(&path)?.into_bytes();
    bytes.truncate(buf_len as usize);
    mem::write(cx.guest(), buf, &bytes)?;
    mem::put_u32(cx.guest(), used, bytes.len() as u32)
}

fn path_remove_directory<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(1), a.u32(2))?;
    wasi(cx)
        .fds
        .writable_dir(a.u32(0))
        .map_err(Fail::Errno)?
        .remove_dir(&path)
}

fn path_rename<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let from = path_arg(cx, a.u32(1), a.u32(2))?;
    let to = path_arg(cx, a.u32(4), a.u32(5))?;
    let (old, new) = two_dirs(wasi(cx), a.u32(0), a.u32(3))?;
    old.rename(&from, &new, &to)
}

fn path_symlink<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let target = path_arg(cx, a.u32(0), a.u32(1))?;
    let link = path_arg(cx, a.u32(3), a.u32(4))?;
    let dir = wasi(cx).fds.writable_dir(a.u32(2)).map_err(Fail::Errno)?;
    dir.symlink(&target, &link)
}

fn path_unlink_file<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let path = path_arg(cx, a.u32(1), a.u32(2))?;
    wasi(cx)
        .fds
        .writable_dir(a.u32(0))
        .map_err(Fail::Errno)?
        .remove_file(&path)
}

/// The most subscriptions one `poll_oneoff` takes.
const MOST_SUBSCRIPTIONS: u32 = 4096;

fn poll_oneoff<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (input, output, count, nevents) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if count == 0 || count > MOST_SUBSCRIPTIONS {
        return fail(errno::INVAL);
    }
    let subs = mem::read(cx.guest(), input, count * 48)?;
    cx.guest().memory_slice(output, count * 32)?;
    cx.guest().memory_slice(nevents, 4)?;
    let u64_at =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default());
    let u32_at =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or_default());
    // Streams and files never block here, so any descriptor subscription is ready now;
    // with none, the call sleeps until the earliest clock subscription is due.
    let ready_io = subs.chunks_exact(48).any(|s| s[8] != 0);
    let mut soonest: Option<u64> = None;
    let mut events = Vec::new();
    let ctx = wasi(cx);
    for s in subs.chunks_exact(48) {
        let userdata = u64_at(s, 0);
        let mut event = [0u8; 32];
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        event[10] = s[8];
        match s[8] {
            0 => {
                let (id, timeout, absolute) =
                    (u32_at(s, 16), u64_at(s, 24), u32_at(s, 40) & 1 != 0);
                let wait = match ctx.clocks.now(id) {
                    Ok(now) if absolute => timeout.saturating_sub(now),
                    Ok(_) => timeout,
                    Err(e) => {
                        event[8..10].copy_from_slice(&e.to_le_bytes());
                        events.push((None, event));
                        continue;
                    }
                };
                soonest = Some(soonest.map_or(wait, |s: u64| s.min(wait)));
                events.push((Some(wait), event));
            }
            1 | 2 => {
                let error = match ctx.fds.get(u32_at(s, 16)) {
                    Ok(_) => errno::SUCCESS,
                    Err(e) => e,
                };
                event[8..10].copy_from_slice(&error.to_le_bytes());
                events.push((None, event));
            }
            _ => return fail(errno::INVAL),
        }
    }
    let due = match (ready_io, soonest) {
        (true, _) | (false, None) => 0,
        (false, Some(wait)) => {
            if !wasi(cx).clocks.pass(wait) {
                cx.sleep(std::time::Duration::from_nanos(wait))?;
            }
            wait
        }
    };
    // Descriptor events and failed subscriptions always report; clocks once they are due.
    let ready: Vec<[u8; 32]> = events
        .into_iter()
        .filter(|(wait, _)| wait.is_none_or(|wait| wait <= due))
        .map(|(_, event)| event)
        .collect();
    for (i, event) in ready.iter().enumerate() {
        mem::write(cx.guest(), output + 32 * i as u32, event)?;
    }
    mem::put_u32(cx.guest(), nevents, ready.len() as u32)
}

fn sched_yield<T: WasiView>(cx: Cx<'_, '_, T>, _: &Args) -> Answer {
    if !wasi(cx).deterministic {
        std::thread::yield_now();
    }
    Ok(())
}

fn random_get<T: WasiView>(cx: Cx<'_, '_, T>, a: &Args) -> Answer {
    let (buf, len) = (a.u32(0), a.u32(1));
    cx.guest().memory_slice(buf, len)?;
    charge(cx, len as usize)?;
    // In pieces, so a large request allocates nothing large on the host.
    let mut chunk = [0u8; 4096];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(chunk.len() as u32);
        wasi(cx).fill_random(&mut chunk[..n as usize]);
        mem::write(cx.guest(), buf + at, &chunk[..n as usize])?;
        at += n;
    }
    Ok(())
}
