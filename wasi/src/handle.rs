//! What an open file or directory stands on: the host's file system, reached only through
//! cap-std, or an in-memory tree ([`crate::MemoryDir`]). The calls see one interface and
//! one set of errnos for both.

use std::fs::FileTimes;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, UNIX_EPOCH};

use crate::errno;
use crate::fd::{Stat, filetype};
use crate::memfs;
use crate::memory::{Answer, Fail, fail};

/// How a path is opened: `path_open`'s flags, as this crate reads them.
pub(crate) struct OpenFlags {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    /// It must be a directory.
    pub directory: bool,
    /// A symlink as the last component is followed.
    pub follow: bool,
}

/// Access and modification times to set, in nanoseconds since the epoch.
pub(crate) struct Times {
    pub atim: Option<u64>,
    pub mtim: Option<u64>,
}

impl Times {
    fn host(&self) -> FileTimes {
        let at = |nanos: u64| UNIX_EPOCH + Duration::from_nanos(nanos);
        let mut times = FileTimes::new();
        if let Some(t) = self.atim {
            times = times.set_accessed(at(t));
        }
        if let Some(t) = self.mtim {
            times = times.set_modified(at(t));
        }
        times
    }
}

fn mem<T>(result: Result<T, errno::Errno>) -> Answer<T> {
    result.map_err(Fail::Errno)
}

/// Without host times when `deterministic`, as every stat in that mode.
fn masked(mut stat: Stat, deterministic: bool) -> Stat {
    if deterministic {
        (stat.atim, stat.mtim, stat.ctim) = (0, 0, 0);
    }
    stat
}

/// `op` on host file `file` at `offset`, its position kept (pread/pwrite, portably).
fn at(
    file: &mut std::fs::File,
    offset: u64,
    op: impl FnOnce(&mut std::fs::File) -> std::io::Result<usize>,
) -> Answer<usize> {
    let kept = file.stream_position()?;
    file.seek(SeekFrom::Start(offset))?;
    let n = op(file);
    file.seek(SeekFrom::Start(kept))?;
    Ok(n?)
}

/// An open file.
pub(crate) enum FileHandle {
    Host(std::fs::File),
    Memory(memfs::File),
}

impl FileHandle {
    /// Reads into `buf` from the position, or from `offset` (the position kept).
    pub(crate) fn read(&mut self, buf: &mut [u8], offset: Option<u64>) -> Answer<usize> {
        match (self, offset) {
            (FileHandle::Host(file), None) => Ok(file.read(buf)?),
            (FileHandle::Host(file), Some(offset)) => at(file, offset, |f| f.read(buf)),
            (FileHandle::Memory(file), None) => mem(file.read(buf)),
            (FileHandle::Memory(file), Some(offset)) => mem(file.read_at(buf, offset)),
        }
    }

    /// Writes `bytes` at the position (moved to the end first when `append`), or at
    /// `offset` (the position kept).
    pub(crate) fn write(
        &mut self,
        bytes: &[u8],
        offset: Option<u64>,
        append: bool,
    ) -> Answer<usize> {
        if append && offset.is_none() {
            self.seek(SeekFrom::End(0))?;
        }
        match (self, offset) {
            (FileHandle::Host(file), None) => Ok(file.write(bytes)?),
            (FileHandle::Host(file), Some(offset)) => at(file, offset, |f| f.write(bytes)),
            (FileHandle::Memory(file), None) => mem(file.write(bytes)),
            (FileHandle::Memory(file), Some(offset)) => mem(file.write_at(bytes, offset)),
        }
    }

    /// Moves the position; the new one.
    pub(crate) fn seek(&mut self, to: SeekFrom) -> Answer<u64> {
        match self {
            FileHandle::Host(file) => Ok(file.seek(to)?),
            FileHandle::Memory(file) => mem(file.seek(to)),
        }
    }

    /// The position.
    pub(crate) fn position(&mut self) -> Answer<u64> {
        match self {
            FileHandle::Host(file) => Ok(file.stream_position()?),
            FileHandle::Memory(file) => Ok(file.position()),
        }
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> Answer<u64> {
        match self {
            FileHandle::Host(file) => Ok(file.metadata()?.len()),
            FileHandle::Memory(file) => Ok(file.len()),
        }
    }

    /// Truncates or zero-extends it to `len` bytes.
    pub(crate) fn set_len(&self, len: u64) -> Answer {
        match self {
            FileHandle::Host(file) => Ok(file.set_len(len)?),
            FileHandle::Memory(file) => mem(file.set_len(len)),
        }
    }

    /// Flushes it to its storage.
    pub(crate) fn sync(&self) -> Answer {
        match self {
            FileHandle::Host(file) => Ok(file.sync_all()?),
            FileHandle::Memory(_) => Ok(()),
        }
    }

    /// Its stat.
    pub(crate) fn stat(&self, deterministic: bool) -> Answer<Stat> {
        match self {
            FileHandle::Host(file) => Ok(Stat::of(&file.metadata()?, deterministic)),
            FileHandle::Memory(file) => Ok(masked(file.stat(), deterministic)),
        }
    }

    /// Sets its times.
    pub(crate) fn set_times(&self, times: &Times) -> Answer {
        match self {
            FileHandle::Host(file) => Ok(file.set_times(times.host())?),
            FileHandle::Memory(file) => {
                file.set_times(times.atim, times.mtim);
                Ok(())
            }
        }
    }
}

/// What [`DirHandle::open`] opened.
pub(crate) enum Opened {
    File(FileHandle),
    Dir(DirHandle),
}

/// An open directory.
pub(crate) enum DirHandle {
    Host(cap_std::fs::Dir),
    Memory(memfs::Dir),
}

impl DirHandle {
    /// A second handle to the same directory.
    pub(crate) fn try_clone(&self) -> Answer<DirHandle> {
        match self {
            DirHandle::Host(dir) => Ok(DirHandle::Host(dir.try_clone()?)),
            DirHandle::Memory(dir) => Ok(DirHandle::Memory(dir.clone())),
        }
    }

    /// Its own stat.
    pub(crate) fn stat(&self, deterministic: bool) -> Answer<Stat> {
        match self {
            DirHandle::Host(dir) => Ok(Stat::of_path(&dir.dir_metadata()?, deterministic)),
            DirHandle::Memory(dir) => Ok(masked(dir.stat(), deterministic)),
        }
    }

    /// The stat of what `path` names, through a last symlink when `follow`.
    pub(crate) fn stat_at(&self, path: &str, follow: bool, deterministic: bool) -> Answer<Stat> {
        match self {
            DirHandle::Host(dir) => {
                let meta = match follow {
                    true => dir.metadata(path)?,
                    false => dir.symlink_metadata(path)?,
                };
                Ok(Stat::of_path(&meta, deterministic))
            }
            DirHandle::Memory(dir) => Ok(masked(mem(dir.stat_at(path))?, deterministic)),
        }
    }

    /// Sets the times of what `path` names; of a symlink itself (`!follow`) is `NOTSUP`.
    pub(crate) fn set_times_at(&self, path: &str, follow: bool, times: &Times) -> Answer {
        match self {
            DirHandle::Host(dir) => {
                if !follow && dir.symlink_metadata(path)?.is_symlink() {
                    return fail(errno::NOTSUP);
                }
                // Through an open descriptor: cap-std resolves the path, std sets the times.
                Ok(dir.open(path)?.into_std().set_times(times.host())?)
            }
            DirHandle::Memory(dir) => mem(dir.set_times_at(path, times.atim, times.mtim)),
        }
    }

    /// Its entries (without `.` and `..`): name, file type and inode (0 when
    /// `deterministic`), in no particular order.
    pub(crate) fn entries(&self, deterministic: bool) -> Answer<Vec<(String, u8, u64)>> {
        let dir = match self {
            DirHandle::Host(dir) => dir,
            DirHandle::Memory(dir) => {
                let entries = dir.entries().into_iter();
                return Ok(entries.map(|(name, kind)| (name, kind, 0)).collect());
            }
        };
        let mut found = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let kind = filetype::of(kind.is_dir(), kind.is_file(), kind.is_symlink());
            #[cfg(unix)]
            let ino = match deterministic {
                true => 0,
                false => cap_std::fs::MetadataExt::ino(&entry.metadata()?),
            };
            #[cfg(not(unix))]
            let ino = 0u64;
            found.push((entry.file_name().to_string_lossy().into_owned(), kind, ino));
        }
        Ok(found)
    }

    /// Opens (or creates) `path`: a directory when it is one and is not to be written (or
    /// when `flags.directory` asks for one), else a file.
    pub(crate) fn open(&self, path: &str, flags: &OpenFlags) -> Answer<Opened> {
        let dir = match self {
            DirHandle::Host(dir) => dir,
            DirHandle::Memory(dir) => {
                return Ok(match mem(dir.open(path, flags))? {
                    memfs::Opened::File(file) => Opened::File(FileHandle::Memory(file)),
                    memfs::Opened::Dir(dir) => Opened::Dir(DirHandle::Memory(dir)),
                });
            }
        };
        let is_dir = dir.metadata(path).is_ok_and(|meta| meta.is_dir());
        if flags.directory || (is_dir && !flags.write) {
            if !flags.follow && dir.symlink_metadata(path)?.is_symlink() {
                return fail(errno::LOOP);
            }
            return Ok(Opened::Dir(DirHandle::Host(dir.open_dir(path)?)));
        }
        let mut options = cap_std::fs::OpenOptions::new();
        options
            .read(flags.read)
            .write(flags.write && !flags.append)
            .append(flags.append)
            .create(flags.create && !flags.exclusive)
            .create_new(flags.create && flags.exclusive)
            .truncate(flags.truncate);
        #[cfg(unix)]
        if !flags.follow {
            use cap_std::fs::OpenOptionsExt;
            options.custom_flags(0o400000); // O_NOFOLLOW
        }
        let file = dir.open_with(path, &options)?.into_std();
        Ok(Opened::File(FileHandle::Host(file)))
    }

    /// Creates directory `path`.
    pub(crate) fn create_dir(&self, path: &str) -> Answer {
        match self {
            DirHandle::Host(dir) => Ok(dir.create_dir(path)?),
            DirHandle::Memory(dir) => mem(dir.create_dir(path)),
        }
    }

    /// Removes the empty directory `path`.
    pub(crate) fn remove_dir(&self, path: &str) -> Answer {
        match self {
            DirHandle::Host(dir) => Ok(dir.remove_dir(path)?),
            DirHandle::Memory(dir) => mem(dir.remove(path, true)),
        }
    }

    /// Removes the file (or symlink) `path`.
    pub(crate) fn remove_file(&self, path: &str) -> Answer {
        match self {
            DirHandle::Host(dir) => Ok(dir.remove_file(path)?),
            DirHandle::Memory(dir) => mem(dir.remove(path, false)),
        }
    }

    /// Moves `from` (here) to `to` under `target`; across a host directory and a tree, or
    /// two trees, `XDEV`.
    pub(crate) fn rename(&self, from: &str, target: &DirHandle, to: &str) -> Answer {
        match (self, target) {
            (DirHandle::Host(a), DirHandle::Host(b)) => Ok(a.rename(from, b, to)?),
            (DirHandle::Memory(a), DirHandle::Memory(b)) if a.same_tree(b) => {
                mem(a.rename(from, b, to))
            }
            _ => fail(errno::XDEV),
        }
    }

    /// Gives file `from` (here) a second name, `to` under `target`.
    pub(crate) fn hard_link(&self, from: &str, target: &DirHandle, to: &str) -> Answer {
        match (self, target) {
            (DirHandle::Host(a), DirHandle::Host(b)) => Ok(a.hard_link(from, b, to)?),
            (DirHandle::Memory(a), DirHandle::Memory(b)) if a.same_tree(b) => {
                mem(a.hard_link(from, b, to))
            }
            _ => fail(errno::XDEV),
        }
    }

    /// The target of symlink `path`; a tree has none, so there it is `INVAL` (not a link)
    /// or the lookup's errno.
    pub(crate) fn read_link(&self, path: &str) -> Answer<String> {
        match self {
            DirHandle::Host(dir) => Ok(dir.read_link_contents(path)?.to_string_lossy().into()),
            DirHandle::Memory(dir) => {
                mem(dir.stat_at(path))?;
                fail(errno::INVAL)
            }
        }
    }

    /// Creates symlink `link` pointing at `target`: on unix hosts; `NOTSUP` elsewhere and in
    /// a tree.
    pub(crate) fn symlink(&self, target: &str, link: &str) -> Answer {
        match self {
            #[cfg(unix)]
            DirHandle::Host(dir) => Ok(dir.symlink(target, link)?),
            _ => {
                let _ = (target, link);
                fail(errno::NOTSUP)
            }
        }
    }
}
