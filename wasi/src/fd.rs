//! The descriptor table: what each of the guest's file descriptors stands for.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ctx::{Input, Output};
use crate::errno::{self, Errno};
use crate::handle::{DirHandle, FileHandle};

/// What a descriptor stands for.
pub(crate) enum Descriptor {
    /// Standard input.
    In(Input),
    /// Standard output (`false`) or error (`true`).
    Out(Output, bool),
    /// An open file.
    File {
        file: FileHandle,
        read: bool,
        write: bool,
        append: bool,
    },
    /// An open directory; `preopen` names a preopened one as the guest sees it.
    Dir {
        dir: DirHandle,
        preopen: Option<String>,
        writable: bool,
        /// Its sorted entries as `fd_readdir` last read them from the start (cookie 0);
        /// later cookies page through this, so listing a directory is not quadratic.
        listing: Option<Vec<Entry>>,
    },
}

/// A directory entry as `fd_readdir` gives it: name, file type, inode.
pub(crate) type Entry = (String, u8, u64);

/// An open directory's descriptor, never read yet.
pub(crate) fn dir(dir: DirHandle, preopen: Option<String>, writable: bool) -> Descriptor {
    Descriptor::Dir {
        dir,
        preopen,
        writable,
        listing: None,
    }
}

/// `filetype` values.
pub(crate) mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SYMBOLIC_LINK: u8 = 7;

    /// The file type of a host file, from what its type says it is.
    pub fn of(dir: bool, file: bool, symlink: bool) -> u8 {
        match (dir, file, symlink) {
            (true, ..) => DIRECTORY,
            (_, true, _) => REGULAR_FILE,
            (.., true) => SYMBOLIC_LINK,
            _ => UNKNOWN,
        }
    }
}

/// Every right of preview 1 (bits 0 to 28).
pub(crate) const RIGHTS_ALL: u64 = (1 << 29) - 1;
/// `fd_read`.
pub(crate) const RIGHT_FD_READ: u64 = 1 << 1;
/// `fd_write`.
pub(crate) const RIGHT_FD_WRITE: u64 = 1 << 6;
/// `fd_readdir`.
pub(crate) const RIGHT_FD_READDIR: u64 = 1 << 14;

impl Descriptor {
    /// Its `fdstat`: file type, flags, rights and inherited rights.
    pub(crate) fn fdstat(&self) -> (u8, u16, u64, u64) {
        match self {
            Descriptor::In(_) => (filetype::CHARACTER_DEVICE, 0, RIGHT_FD_READ, 0),
            Descriptor::Out(..) => (filetype::CHARACTER_DEVICE, 0, RIGHT_FD_WRITE, 0),
            Descriptor::File {
                read,
                write,
                append,
                ..
            } => {
                let mut rights = RIGHTS_ALL & !RIGHT_FD_READDIR;
                if !read {
                    rights &= !RIGHT_FD_READ;
                }
                if !write {
                    rights &= !RIGHT_FD_WRITE;
                }
                (filetype::REGULAR_FILE, u16::from(*append), rights, 0)
            }
            Descriptor::Dir { .. } => (filetype::DIRECTORY, 0, RIGHTS_ALL, RIGHTS_ALL),
        }
    }
}

/// The descriptors, by number; a closed one leaves a hole the next open fills.
pub(crate) struct Table {
    slots: Vec<Option<Descriptor>>,
    most: usize,
}

impl Table {
    /// A table of `first` (numbered from 0), which holds at most `most` open descriptors
    /// (never fewer than `first`).
    pub(crate) fn new(first: Vec<Descriptor>, most: usize) -> Self {
        Table {
            most: most.max(first.len()),
            slots: first.into_iter().map(Some).collect(),
        }
    }

    /// Adds `d` under the lowest free number.
    pub(crate) fn push(&mut self, d: Descriptor) -> Result<u32, Errno> {
        if let Some(free) = self.slots.iter().position(Option::is_none) {
            self.slots[free] = Some(d);
            return Ok(free as u32);
        }
        if self.slots.len() >= self.most {
            return Err(errno::MFILE);
        }
        self.slots.push(Some(d));
        Ok(self.slots.len() as u32 - 1)
    }

    /// Descriptor `fd`.
    pub(crate) fn get(&mut self, fd: u32) -> Result<&mut Descriptor, Errno> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(errno::BADF)
    }

    /// Closes `fd`, handing back what it stood for.
    pub(crate) fn take(&mut self, fd: u32) -> Result<Descriptor, Errno> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(errno::BADF)
    }

    /// Puts `d` under number `fd`, which must be open (its descriptor is closed).
    pub(crate) fn replace(&mut self, fd: u32, d: Descriptor) -> Result<(), Errno> {
        *self.get(fd)? = d;
        Ok(())
    }

    /// Directory `fd`, and whether it may be written through.
    pub(crate) fn dir(&mut self, fd: u32) -> Result<(&DirHandle, bool), Errno> {
        match self.get(fd)? {
            Descriptor::Dir { dir, writable, .. } => Ok((dir, *writable)),
            _ => Err(errno::NOTDIR),
        }
    }

    /// Directory `fd`, which must be writable through.
    pub(crate) fn writable_dir(&mut self, fd: u32) -> Result<&DirHandle, Errno> {
        match self.dir(fd)? {
            (dir, true) => Ok(dir),
            (_, false) => Err(errno::ROFS),
        }
    }
}

/// A `filestat`, in the spec's field order.
#[derive(Default)]
pub(crate) struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

fn nanos(time: std::io::Result<SystemTime>) -> u64 {
    time.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The [`Stat`] of `$meta` (std's or cap-std's metadata, whose methods share names), its
/// times read through `$time`; without host facts (device, inode, times) when `$det`.
macro_rules! stat_of {
    ($meta:expr, $det:expr, $time:expr) => {{
        let meta = $meta;
        let kind = meta.file_type();
        let filetype = filetype::of(kind.is_dir(), kind.is_file(), kind.is_symlink());
        let mut stat = Stat {
            filetype,
            nlink: 1,
            size: meta.len(),
            ..Stat::default()
        };
        if !$det {
            stat.atim = nanos(meta.accessed().map($time));
            stat.mtim = nanos(meta.modified().map($time));
            stat.ctim = stat.mtim;
            #[cfg(unix)]
            {
                stat.dev = meta.dev();
                stat.ino = meta.ino();
                stat.nlink = meta.nlink();
                stat.ctim = (meta.ctime() as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(meta.ctime_nsec() as u64);
            }
        }
        stat
    }};
}

impl Stat {
    /// The stat of an open host file's metadata.
    pub(crate) fn of(meta: &std::fs::Metadata, deterministic: bool) -> Stat {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        stat_of!(meta, deterministic, |t| t)
    }

    /// The stat of a path's metadata, as cap-std gives it.
    pub(crate) fn of_path(meta: &cap_std::fs::Metadata, deterministic: bool) -> Stat {
        #[cfg(unix)]
        use cap_std::fs::MetadataExt;
        stat_of!(meta, deterministic, |t: cap_std::time::SystemTime| t
            .into_std())
    }

    /// Its 64 bytes, as the guest reads them.
    pub(crate) fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[0..8].copy_from_slice(&self.dev.to_le_bytes());
        out[8..16].copy_from_slice(&self.ino.to_le_bytes());
        out[16] = self.filetype;
        out[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        out[32..40].copy_from_slice(&self.size.to_le_bytes());
        out[40..48].copy_from_slice(&self.atim.to_le_bytes());
        out[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        out[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        out
    }
}
