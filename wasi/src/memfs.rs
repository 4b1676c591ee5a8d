//! The in-memory directory tree: a preopen whose files live in host memory, never on disk.
//!
//! Nodes are shared handles, as inodes are: an open file keeps its bytes after it is
//! unlinked or renamed, and a hard link is a second name for the same bytes. Paths are
//! resolved one component at a time from the descriptor's directory; an absolute path or a
//! `..` above that directory is `NOTCAPABLE`, as cap-std answers for host directories. The
//! bytes of every file in a tree count against the tree's capacity, so a guest cannot grow
//! host memory past it (`NOSPC`).

use std::collections::BTreeMap;
use std::io::{self, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::{self, Errno};
use crate::fd::{Stat, filetype};
use crate::handle::OpenFlags;

/// The default capacity of a [`MemoryDir`]: the bytes of all its files together.
pub const DEFAULT_CAPACITY: u64 = 64 << 20;

/// An in-memory directory tree, handed to guests with
/// [`WasiCtxBuilder::preopen_memory`](crate::WasiCtxBuilder::preopen_memory).
///
/// A handle: clones share the tree, so the host keeps one to fill the tree before a run and
/// read what the guest wrote after it. Files have no clock: their times are zero until the
/// guest sets them. Symbolic links are not offered (`NOTSUP`); hard links are.
///
/// ```
/// use wasmhost_wasi::{DirPerms, MemoryDir, WasiCtx};
///
/// let tree = MemoryDir::new();
/// tree.write("in/data.txt", "1 2 3").unwrap();
/// let ctx = WasiCtx::builder().preopen_memory(&tree, ".", DirPerms::ReadWrite).build();
/// // ... instantiate a program with `ctx` and run it; then read what it wrote ...
/// # drop(ctx);
/// assert_eq!(tree.read("in/data.txt").unwrap(), b"1 2 3");
/// assert_eq!(tree.files(), ["in/data.txt"]);
/// ```
#[derive(Clone)]
pub struct MemoryDir {
    root: Arc<Mutex<DirNode>>,
    space: Arc<Space>,
}

impl Default for MemoryDir {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDir")
            .field("files", &self.files())
            .field("used_bytes", &self.used_bytes())
            .finish()
    }
}

/// The bytes a tree may hold, and those it holds.
struct Space {
    used: AtomicU64,
    most: u64,
}

impl Space {
    /// Takes `n` more bytes, or `NOSPC` when that would pass the capacity.
    fn reserve(&self, n: u64) -> Result<(), Errno> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= self.most)
            })
            .map(drop)
            .map_err(|_| errno::NOSPC)
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A file's bytes and times; its bytes are returned to the tree's space when the last name
/// and the last open descriptor are gone.
pub(crate) struct FileNode {
    bytes: Vec<u8>,
    atim: u64,
    mtim: u64,
    space: Arc<Space>,
}

impl Drop for FileNode {
    fn drop(&mut self) {
        self.space.release(self.bytes.len() as u64);
    }
}

impl FileNode {
    /// Resizes to `len`, zero-filled, within the tree's capacity; an allocation the host
    /// cannot make is `NOSPC` too, never an abort (a host may set a capacity past its RAM).
    fn resize(&mut self, len: u64) -> Result<(), Errno> {
        let now = self.bytes.len() as u64;
        if len > now {
            let extra = usize::try_from(len - now).map_err(|_| errno::NOSPC)?;
            self.space.reserve(len - now)?;
            if self.bytes.try_reserve_exact(extra).is_err() {
                self.space.release(len - now);
                return Err(errno::NOSPC);
            }
        } else {
            self.space.release(now - len);
        }
        self.bytes.resize(len as usize, 0);
        Ok(())
    }
}

/// A directory's entries, in name order, and its times.
#[derive(Default)]
pub(crate) struct DirNode {
    entries: BTreeMap<String, Node>,
    atim: u64,
    mtim: u64,
}

/// A file or a directory of the tree.
#[derive(Clone)]
pub(crate) enum Node {
    File(Arc<Mutex<FileNode>>),
    Dir(Arc<Mutex<DirNode>>),
}

/// Locks `m`; a lock poisoned by a panic elsewhere still holds consistent data here (every
/// change is a single assignment), so it is taken as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    fn stat(&self) -> Stat {
        match self {
            Node::File(file) => {
                let file = lock(file);
                Stat {
                    filetype: filetype::REGULAR_FILE,
                    nlink: 1,
                    size: file.bytes.len() as u64,
                    atim: file.atim,
                    mtim: file.mtim,
                    ctim: file.mtim,
                    ..Stat::default()
                }
            }
            Node::Dir(dir) => {
                let dir = lock(dir);
                Stat {
                    filetype: filetype::DIRECTORY,
                    nlink: 1,
                    atim: dir.atim,
                    mtim: dir.mtim,
                    ctim: dir.mtim,
                    ..Stat::default()
                }
            }
        }
    }

    fn set_times(&self, atim: Option<u64>, mtim: Option<u64>) {
        let apply = |a: &mut u64, m: &mut u64| {
            if let Some(t) = atim {
                *a = t;
            }
            if let Some(t) = mtim {
                *m = t;
            }
        };
        match self {
            Node::File(file) => {
                let file = &mut *lock(file);
                apply(&mut file.atim, &mut file.mtim);
            }
            Node::Dir(dir) => {
                let dir = &mut *lock(dir);
                apply(&mut dir.atim, &mut dir.mtim);
            }
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Node::Dir(_))
    }
}

/// What [`Dir::open`] opened.
pub(crate) enum Opened {
    File(File),
    Dir(Dir),
}

/// An open directory of a tree: where its descriptor's paths start, and the floor `..`
/// cannot go below.
#[derive(Clone)]
pub(crate) struct Dir {
    node: Arc<Mutex<DirNode>>,
    space: Arc<Space>,
}

/// An open file of a tree, with its own position.
pub(crate) struct File {
    node: Arc<Mutex<FileNode>>,
    position: u64,
}

impl MemoryDir {
    /// An empty tree holding at most [`DEFAULT_CAPACITY`] bytes of files.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty tree holding at most `bytes` bytes of files; a guest write past it gets
    /// `NOSPC`.
    pub fn with_capacity(bytes: u64) -> Self {
        MemoryDir {
            root: Arc::default(),
            space: Arc::new(Space {
                used: AtomicU64::new(0),
                most: bytes,
            }),
        }
    }

    /// The bytes its files hold now (an unlinked file still open counts until closed).
    pub fn used_bytes(&self) -> u64 {
        self.space.used.load(Ordering::Relaxed)
    }

    /// Writes `contents` to file `path` (`/`-separated, from the tree's root), creating it
    /// and its parent directories, replacing what it held.
    ///
    /// # Errors
    /// `NotFound`-like errors for a path that is empty, absolute or climbs with `..`;
    /// `NotADirectory` when a parent is a file; `IsADirectory` when `path` is one;
    /// `StorageFull` past the capacity.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> io::Result<()> {
        let (parent, name) = self.host_parent(path, true)?;
        let flags = OpenFlags {
            read: false,
            write: true,
            create: true,
            exclusive: false,
            truncate: true,
            directory: false,
            append: false,
            follow: true,
        };
        match parent.open(&name, &flags).map_err(host_error)? {
            Opened::File(mut file) => file.write(contents.as_ref()).map(drop).map_err(host_error),
            Opened::Dir(_) => Err(host_error(errno::ISDIR)),
        }
    }

    /// Creates directory `path` and its parents; one that exists already is fine.
    ///
    /// # Errors
    /// As [`MemoryDir::write`].
    pub fn create_dir_all(&self, path: &str) -> io::Result<()> {
        let (parent, name) = self.host_parent(path, true)?;
        match parent.lookup(&name) {
            Ok(node) if node.is_dir() => Ok(()),
            Ok(_) => Err(host_error(errno::EXIST)),
            Err(_) => parent.create_dir(&name).map_err(host_error),
        }
    }

    /// The bytes of file `path`.
    ///
    /// # Errors
    /// `NotFound` when there is no such file, `IsADirectory` when it is a directory.
    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let (parent, name) = self.host_parent(path, false)?;
        match parent.lookup(&name).map_err(host_error)? {
            Node::File(file) => Ok(lock(&file).bytes.clone()),
            Node::Dir(_) => Err(host_error(errno::ISDIR)),
        }
    }

    /// The paths of every file in the tree, as a depth-first walk of its entries in name
    /// order gives them.
    pub fn files(&self) -> Vec<String> {
        fn walk(dir: &Arc<Mutex<DirNode>>, prefix: &str, out: &mut Vec<String>) {
            let entries: Vec<(String, Node)> = lock(dir)
                .entries
                .iter()
                .map(|(name, node)| (name.clone(), node.clone()))
                .collect();
            for (name, node) in entries {
                let path = format!("{prefix}{name}");
                match node {
                    Node::File(_) => out.push(path),
                    Node::Dir(sub) => walk(&sub, &format!("{path}/"), out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }

    /// The root, as a guest descriptor opens it.
    pub(crate) fn root(&self) -> Dir {
        Dir {
            node: self.root.clone(),
            space: self.space.clone(),
        }
    }

    /// The parent directory of `path` and its last name, creating the parents when asked.
    fn host_parent(&self, path: &str, create: bool) -> io::Result<(Dir, String)> {
        let root = self.root();
        let (parents, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((parents, name)) => (parents, name),
            None => ("", path.trim_end_matches('/')),
        };
        let mut dir = root;
        for part in parents.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if create && dir.lookup(part).is_err() {
                dir.create_dir(part).map_err(host_error)?;
            }
            dir = match dir.resolve(part).map_err(host_error)? {
                Node::Dir(node) => Dir {
                    node,
                    space: self.space.clone(),
                },
                Node::File(_) => return Err(host_error(errno::NOTDIR)),
            };
        }
        if name.is_empty() || name == "." || name == ".." || path.starts_with('/') {
            return Err(host_error(errno::INVAL));
        }
        Ok((dir, name.to_string()))
    }
}

/// A host-side error for a tree operation that failed with `errno`.
fn host_error(errno: Errno) -> io::Error {
    let kind = match errno {
        errno::NOENT => io::ErrorKind::NotFound,
        errno::EXIST => io::ErrorKind::AlreadyExists,
        errno::NOTDIR => io::ErrorKind::NotADirectory,
        errno::ISDIR => io::ErrorKind::IsADirectory,
        errno::NOSPC => io::ErrorKind::StorageFull,
        errno::NOTCAPABLE => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::InvalidInput,
    };
    io::Error::new(kind, format!("in-memory tree: errno {errno}"))
}

impl Dir {
    /// The entry `name` of this directory itself.
    fn lookup(&self, name: &str) -> Result<Node, Errno> {
        lock(&self.node)
            .entries
            .get(name)
            .cloned()
            .ok_or(errno::NOENT)
    }

    /// Walks `path` from here: the directory that holds its last component, and that
    /// component (`.` when the path names a directory through `.` or `..`).
    fn walk(&self, path: &str) -> Result<(Arc<Mutex<DirNode>>, String), Errno> {
        if path.is_empty() {
            return Err(errno::NOENT);
        }
        if path.starts_with('/') {
            return Err(errno::NOTCAPABLE);
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        // The directories walked through, so that `..` can step back without parent links.
        let mut stack = vec![self.node.clone()];
        let mut last = ".".to_string();
        for (i, part) in parts.iter().enumerate() {
            let final_part = i + 1 == parts.len();
            match *part {
                "." => {}
                ".." => {
                    if stack.len() == 1 {
                        return Err(errno::NOTCAPABLE);
                    }
                    stack.pop();
                }
                name if final_part => last = name.to_string(),
                name => {
                    let here = stack.last().cloned().ok_or(errno::NOTCAPABLE)?;
                    let next = lock(&here).entries.get(name).cloned();
                    match next {
                        Some(Node::Dir(dir)) => stack.push(dir),
                        Some(Node::File(_)) => return Err(errno::NOTDIR),
                        None => return Err(errno::NOENT),
                    }
                }
            }
        }
        let parent = stack.pop().ok_or(errno::NOTCAPABLE)?;
        Ok((parent, last))
    }

    /// The node `path` names.
    fn resolve(&self, path: &str) -> Result<Node, Errno> {
        let (parent, name) = self.walk(path)?;
        if name == "." {
            return Ok(Node::Dir(parent));
        }
        let node = lock(&parent).entries.get(&name).cloned();
        // A trailing slash asks for a directory.
        match node {
            Some(Node::File(_)) if path.ends_with('/') => Err(errno::NOTDIR),
            Some(node) => Ok(node),
            None => Err(errno::NOENT),
        }
    }

    /// The directory holding `path`'s last component and that name, which must be an
    /// ordinary name (not `.` or `..`): what creating or removing it needs.
    fn parent(&self, path: &str) -> Result<(Arc<Mutex<DirNode>>, String), Errno> {
        match self.walk(path)? {
            (_, name) if name == "." => Err(errno::INVAL),
            found => Ok(found),
        }
    }

    fn dir(&self, node: Arc<Mutex<DirNode>>) -> Dir {
        Dir {
            node,
            space: self.space.clone(),
        }
    }

    /// This directory's stat.
    pub(crate) fn stat(&self) -> Stat {
        Node::Dir(self.node.clone()).stat()
    }

    /// The stat of what `path` names (there are no links to follow or not).
    pub(crate) fn stat_at(&self, path: &str) -> Result<Stat, Errno> {
        Ok(self.resolve(path)?.stat())
    }

    /// Sets the times of what `path` names, in nanoseconds since the epoch.
    pub(crate) fn set_times_at(
        &self,
        path: &str,
        atim: Option<u64>,
        mtim: Option<u64>,
    ) -> Result<(), Errno> {
        self.resolve(path)?.set_times(atim, mtim);
        Ok(())
    }

    /// The entries, in name order, with their file types.
    pub(crate) fn entries(&self) -> Vec<(String, u8)> {
        lock(&self.node)
            .entries
            .iter()
            .map(|(name, node)| {
                let kind = match node {
                    Node::File(_) => filetype::REGULAR_FILE,
                    Node::Dir(_) => filetype::DIRECTORY,
                };
                (name.clone(), kind)
            })
            .collect()
    }

    /// Opens (or creates) `path`.
    pub(crate) fn open(&self, path: &str, flags: &OpenFlags) -> Result<Opened, Errno> {
        let found = match self.resolve(path) {
            Ok(node) => Some(node),
            Err(errno::NOENT) if flags.create => None,
            Err(e) => return Err(e),
        };
        let node = match found {
            Some(_) if flags.create && flags.exclusive => return Err(errno::EXIST),
            Some(Node::Dir(dir)) => {
                return match flags.write || flags.truncate {
                    true => Err(errno::ISDIR),
                    false => Ok(Opened::Dir(self.dir(dir))),
                };
            }
            Some(Node::File(_)) if flags.directory => return Err(errno::NOTDIR),
            Some(Node::File(file)) => {
                if flags.truncate {
                    lock(&file).resize(0)?;
                }
                file
            }
            None if flags.directory => return Err(errno::NOENT),
            None => {
                let (parent, name) = self.parent(path)?;
                let file = Arc::new(Mutex::new(FileNode {
                    bytes: Vec::new(),
                    atim: 0,
                    mtim: 0,
                    space: self.space.clone(),
                }));
                lock(&parent).entries.insert(name, Node::File(file.clone()));
                file
            }
        };
        Ok(Opened::File(File { node, position: 0 }))
    }

    /// Creates directory `path`.
    pub(crate) fn create_dir(&self, path: &str) -> Result<(), Errno> {
        let (parent, name) = match self.parent(path) {
            Err(errno::INVAL) => return Err(errno::EXIST),
            other => other?,
        };
        let mut parent = lock(&parent);
        if parent.entries.contains_key(&name) {
            return Err(errno::EXIST);
        }
        parent.entries.insert(name, Node::Dir(Arc::default()));
        Ok(())
    }

    /// Removes `path`, which must be an empty directory (`dir`) or a file (`!dir`).
    pub(crate) fn remove(&self, path: &str, dir: bool) -> Result<(), Errno> {
        let (parent, name) = self.parent(path)?;
        let mut parent = lock(&parent);
        match (parent.entries.get(&name), dir) {
            (None, _) => return Err(errno::NOENT),
            (Some(Node::File(_)), true) => return Err(errno::NOTDIR),
            (Some(Node::Dir(_)), false) => return Err(errno::ISDIR),
            (Some(Node::Dir(sub)), true) if !lock(sub).entries.is_empty() => {
                return Err(errno::NOTEMPTY);
            }
            _ => {}
        }
        parent.entries.remove(&name);
        Ok(())
    }

    /// Moves `from` (here) to `to` (under `target`), replacing what `to` names as POSIX's
    /// `rename` does: a file over a file, a directory over an empty directory.
    pub(crate) fn rename(&self, from: &str, target: &Dir, to: &str) -> Result<(), Errno> {
        let (old_parent, old_name) = self.parent(from)?;
        let (new_parent, new_name) = target.parent(to)?;
        let moving = lock(&old_parent)
            .entries
            .get(&old_name)
            .cloned()
            .ok_or(errno::NOENT)?;
        let replaced = lock(&new_parent).entries.get(&new_name).cloned();
        match (&moving, &replaced) {
            (Node::File(_), Some(Node::Dir(_))) => return Err(errno::ISDIR),
            (Node::Dir(_), Some(Node::File(_))) => return Err(errno::NOTDIR),
            (Node::Dir(_), Some(Node::Dir(d))) if !lock(d).entries.is_empty() => {
                return Err(errno::NOTEMPTY);
            }
            _ => {}
        }
        // A directory cannot move into itself or below itself.
        if let Node::Dir(moved) = &moving
            && (Arc::ptr_eq(moved, &new_parent) || contains(moved, &new_parent))
        {
            return Err(errno::INVAL);
        }
        lock(&old_parent).entries.remove(&old_name);
        lock(&new_parent).entries.insert(new_name, moving);
        Ok(())
    }

    /// Gives file `from` (here) a second name, `to` (under `target`).
    pub(crate) fn hard_link(&self, from: &str, target: &Dir, to: &str) -> Result<(), Errno> {
        let file = match self.resolve(from)? {
            Node::File(file) => file,
            Node::Dir(_) => return Err(errno::PERM),
        };
        let (new_parent, new_name) = target.parent(to)?;
        let mut new_parent = lock(&new_parent);
        if new_parent.entries.contains_key(&new_name) {
            return Err(errno::EXIST);
        }
        new_parent.entries.insert(new_name, Node::File(file));
        Ok(())
    }

    /// Whether `other` is this same tree (links and renames cannot cross trees).
    pub(crate) fn same_tree(&self, other: &Dir) -> bool {
        Arc::ptr_eq(&self.space, &other.space)
    }
}

/// Whether directory `inside` lies somewhere below `dir`.
fn contains(dir: &Arc<Mutex<DirNode>>, inside: &Arc<Mutex<DirNode>>) -> bool {
    let subdirs: Vec<Arc<Mutex<DirNode>>> = lock(dir)
        .entries
        .values()
        .filter_map(|node| match node {
            Node::Dir(sub) => Some(sub.clone()),
            Node::File(_) => None,
        })
        .collect();
    subdirs
        .iter()
        .any(|sub| Arc::ptr_eq(sub, inside) || contains(sub, inside))
}

impl File {
    /// Reads from the position into `buf`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = self.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }

    /// Reads from `offset` into `buf`; the position stays.
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let file = lock(&self.node);
        let start = (offset.min(file.bytes.len() as u64)) as usize;
        let n = buf.len().min(file.bytes.len() - start);
        buf[..n].copy_from_slice(&file.bytes[start..start + n]);
        Ok(n)
    }

    /// Writes `bytes` at the position (at the end first when `append`).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<usize, Errno> {
        self.write_at(bytes, self.position)?;
        self.position += bytes.len() as u64;
        Ok(bytes.len())
    }

    /// Writes `bytes` at `offset`, zero-filling any gap; the position stays.
    pub(crate) fn write_at(&self, bytes: &[u8], offset: u64) -> Result<usize, Errno> {
        let end = offset.checked_add(bytes.len() as u64).ok_or(errno::FBIG)?;
        let mut file = lock(&self.node);
        if end > file.bytes.len() as u64 {
            file.resize(end)?;
        }
        file.bytes[offset as usize..end as usize].copy_from_slice(bytes);
        Ok(bytes.len())
    }

    /// Moves the position; the new position.
    pub(crate) fn seek(&mut self, to: SeekFrom) -> Result<u64, Errno> {
        let (base, delta) = match to {
            SeekFrom::Start(at) => (0, i128::from(at)),
            SeekFrom::Current(delta) => (self.position, i128::from(delta)),
            SeekFrom::End(delta) => (self.len(), i128::from(delta)),
        };
        let at = i128::from(base) + delta;
        self.position = u64::try_from(at).map_err(|_| errno::INVAL)?;
        Ok(self.position)
    }

    /// The position.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> u64 {
        lock(&self.node).bytes.len() as u64
    }

    /// Truncates or zero-extends to `len` bytes.
    pub(crate) fn set_len(&self, len: u64) -> Result<(), Errno> {
        lock(&self.node).resize(len)
    }

    /// Its stat.
    pub(crate) fn stat(&self) -> Stat {
        Node::File(self.node.clone()).stat()
    }

    /// Sets its times, in nanoseconds since the epoch.
    pub(crate) fn set_times(&self, atim: Option<u64>, mtim: Option<u64>) {
        Node::File(self.node.clone()).set_times(atim, mtim);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(write: bool, create: bool) -> OpenFlags {
        OpenFlags {
            read: true,
            write,
            append: false,
            create,
            exclusive: false,
            truncate: false,
            directory: false,
            follow: true,
        }
    }

    fn open_file(dir: &Dir, path: &str, write: bool, create: bool) -> Result<File, Errno> {
        match dir.open(path, &flags(write, create))? {
            Opened::File(file) => Ok(file),
            Opened::Dir(_) => Err(errno::ISDIR),
        }
    }

    #[test]
    fn the_capacity_bounds_every_write_and_is_given_back() {
        let tree = MemoryDir::with_capacity(10);
        let root = tree.root();
        let mut file = open_file(&root, "f", true, true).unwrap();
        assert_eq!(file.write(b"0123456789"), Ok(10));
        assert_eq!(file.write(b"x"), Err(errno::NOSPC));
        // A far offset or a huge length is refused before anything is allocated.
        assert_eq!(file.write_at(b"x", 1 << 40), Err(errno::NOSPC));
        assert_eq!(file.set_len(u64::MAX), Err(errno::NOSPC));
        assert_eq!(file.write_at(b"x", u64::MAX), Err(errno::FBIG));
        // A capacity past what the host can allocate: refused, not an abort.
        let vast = MemoryDir::with_capacity(u64::MAX).root();
        let huge = open_file(&vast, "h", true, true).unwrap();
        assert_eq!(huge.set_len(u64::MAX / 2), Err(errno::NOSPC));
        assert_eq!(huge.len(), 0);
        assert_eq!(tree.used_bytes(), 10);
        assert_eq!(
            tree.write("g", "y").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        // Unlinked, the bytes stay while the file is open and come back when it closes.
        root.remove("f", false).unwrap();
        assert_eq!(tree.used_bytes(), 10);
        drop(file);
        assert_eq!(tree.used_bytes(), 0);
        tree.write("g", "y").unwrap();
    }

    #[test]
    fn open_files_and_links_share_bytes_as_inodes_do() {
        let tree = MemoryDir::new();
        tree.write("a", "hello").unwrap();
        let root = tree.root();
        let mut open = open_file(&root, "a", false, false).unwrap();
        root.hard_link("a", &root, "b").unwrap();
        root.rename("a", &root, "c").unwrap();
        assert_eq!(tree.files(), ["b", "c"]);
        root.remove("c", false).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(open.read(&mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        tree.write("b", "bye").unwrap();
        assert_eq!(open.read_at(&mut buf, 0), Ok(3));
        assert_eq!(&buf[..3], b"bye");
        assert_eq!(root.hard_link("b", &root, "b"), Err(errno::EXIST));
        root.create_dir("d").unwrap();
        assert_eq!(root.hard_link("d", &root, "e"), Err(errno::PERM));
        // Another tree is another device.
        let other = MemoryDir::new().root();
        assert!(!root.same_tree(&other));
    }

    #[test]
    fn paths_stay_inside_the_directory_they_start_from() {
        let tree = MemoryDir::new();
        tree.write("sub/inner/f", "x").unwrap();
        let root = tree.root();
        assert!(root.stat_at("sub/../sub/./inner//f").is_ok());
        assert_eq!(root.stat_at("..").err(), Some(errno::NOTCAPABLE));
        assert_eq!(root.stat_at("sub/../../x").err(), Some(errno::NOTCAPABLE));
        assert_eq!(root.stat_at("/sub").err(), Some(errno::NOTCAPABLE));
        assert_eq!(root.stat_at("").err(), Some(errno::NOENT));
        assert_eq!(root.stat_at("sub/inner/f/").err(), Some(errno::NOTDIR));
        assert_eq!(root.stat_at("sub/inner/f/x").err(), Some(errno::NOTDIR));
        // A subdirectory opened is a floor of its own.
        let Ok(Opened::Dir(sub)) = root.open("sub", &flags(false, false)) else {
            panic!("sub opens as a directory");
        };
        assert!(sub.stat_at("inner/f").is_ok());
        assert_eq!(sub.stat_at("../sub").err(), Some(errno::NOTCAPABLE));
    }

    #[test]
    fn directories_follow_posix_rules() {
        let tree = MemoryDir::new();
        tree.write("d/f", "x").unwrap();
        tree.create_dir_all("d/e").unwrap();
        tree.create_dir_all("d/e").unwrap();
        let root = tree.root();
        assert_eq!(root.create_dir("d"), Err(errno::EXIST));
        assert_eq!(root.create_dir("."), Err(errno::EXIST));
        assert_eq!(root.remove("d", true), Err(errno::NOTEMPTY));
        assert_eq!(root.remove("d", false), Err(errno::ISDIR));
        assert_eq!(root.remove("d/f", true), Err(errno::NOTDIR));
        assert_eq!(root.rename("d", &root, "d/e/inside"), Err(errno::INVAL));
        assert_eq!(root.rename("d/f", &root, "d/e"), Err(errno::ISDIR));
        assert_eq!(root.rename("d/e", &root, "d/f"), Err(errno::NOTDIR));
        assert_eq!(
            root.open("d", &flags(true, false)).err(),
            Some(errno::ISDIR)
        );
        let mut exclusive = flags(true, true);
        exclusive.exclusive = true;
        assert_eq!(root.open("d/f", &exclusive).err(), Some(errno::EXIST));
        root.rename("d/e", &root, "moved").unwrap();
        assert_eq!(tree.files(), ["d/f"]);
        assert_eq!(
            root.entries(),
            [
                ("d".to_string(), filetype::DIRECTORY),
                ("moved".to_string(), filetype::DIRECTORY)
            ]
        );
        assert_eq!(
            tree.read("d").unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        assert_eq!(
            tree.read("../d/f").unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
    }
}
