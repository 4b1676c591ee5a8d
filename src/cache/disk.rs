//! The disk layer: one file per compiled module, written atomically and checked before
//! anything in it is loaded.
//!
//! # File format
//!
//! All integers little-endian:
//!
//! | bytes | what |
//! | --- | --- |
//! | 16 | [`MAGIC`] |
//! | 4 | [`FORMAT`] |
//! | 32 | the [`CacheKey`] the file was written under |
//! | 32 | blake3 digest of everything after this field |
//! | 4 | length of the fingerprint |
//! | n | the engine's fingerprint ([`crate::Engine::fingerprint`]), UTF-8 |
//! | 0-15 | zeros, so that the body starts at a multiple of [`BODY_ALIGN`] |
//! | rest | the engine's serialized module ([`crate::Engine::serialize`]) |
//!
//! A file is loaded only when its magic, format, key, fingerprint and digest all match; any
//! other file under the name is removed and the module rebuilt. The digest catches
//! truncation and corruption; the key and fingerprint catch a file from another
//! configuration, engine, engine version or processor. It is not a signature: whoever can
//! write the cache directory can write code the host will run, so keep the directory as
//! private as the host's executable.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::CacheKey;

/// The first bytes of every cache file.
pub const MAGIC: &[u8; 16] = b"wasmhost-module\n";
/// The version of the file format.
pub const FORMAT: u32 = 2;
/// The alignment of the body within the file (and so within a buffer the allocator
/// aligned): an engine can then load an archive that needs it where it lies, not in a copy.
pub const BODY_ALIGN: usize = 16;
/// The extension of cache files.
const EXTENSION: &str = "module";

const HEADER: usize = 16 + 4 + 32 + 32 + 4;

/// A directory of compiled modules.
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
}

/// One file in a [`DiskCache`], as [`DiskCache::entries`] lists it.
#[derive(Clone, Debug)]
pub struct DiskEntry {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The fingerprint of the engine that wrote it, or `None` when the file is not a
    /// readable cache file (it will be replaced when its module is next compiled).
    pub fingerprint: Option<String>,
}

/// A file [`DiskCache::load`] checked: the engine's serialized module is its body.
#[derive(Debug)]
pub struct Loaded {
    file: Vec<u8>,
    start: usize,
}

impl Loaded {
    /// The serialized module, as the engine wrote it.
    pub fn body(&self) -> &[u8] {
        &self.file[self.start..]
    }

    /// The whole file and where the body starts in it: for
    /// [`crate::Engine::deserialize_owned`].
    pub fn into_parts(self) -> (Vec<u8>, usize) {
        (self.file, self.start)
    }
}

/// Why [`DiskCache::load`] loaded nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// No file under the key.
    Missing,
    /// A file that failed a check; it has been removed.
    Invalid,
}

impl DiskCache {
    /// A cache in `dir`, created if missing.
    ///
    /// # Errors
    /// The I/O error when the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(DiskCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a module with `key` is stored in.
    pub fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{key}.{EXTENSION}"))
    }

    /// Reads the serialized module stored under `key` if the file passes every check;
    /// removes a file that does not.
    ///
    /// # Errors
    /// [`Rejected::Missing`] when there is no file, [`Rejected::Invalid`] when there was
    /// one that failed a check.
    pub fn load(&self, key: &CacheKey, fingerprint: &str) -> Result<Loaded, Rejected> {
        let path = self.path(key);
        let file = match fs::read(&path) {
            Ok(file) => file,
            Err(_) => return Err(Rejected::Missing),
        };
        match check(&file, key, fingerprint) {
            // The body stays where it is: a compiled module runs to tens of MB, and every
            // copy costs page faults.
            Ok(body) => Ok(Loaded {
                start: file.len() - body.len(),
                file,
            }),
            Err(_) => {
                let _ = fs::remove_file(&path);
                Err(Rejected::Invalid)
            }
        }
    }

    /// Removes the file stored under `key`, after the engine refused what it held.
    pub(crate) fn remove(&self, key: &CacheKey) {
        let _ = fs::remove_file(self.path(key));
    }

    /// Stores `body`, the module `fingerprint`'s engine serialized, under `key`: written to a temporary file in the same directory, then
    /// renamed over the final name, so a reader sees the whole file or none.
    ///
    /// # Errors
    /// The I/O error when the file cannot be written; no partial file is left.
    pub fn store(&self, key: &CacheKey, fingerprint: &str, body: &[u8]) -> std::io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        let temp = self.dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(&encode(key, fingerprint, body))?;
            file.sync_data()?;
            fs::rename(&temp, self.path(key))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// The cache files in the directory.
    ///
    /// # Errors
    /// The I/O error when the directory cannot be read.
    pub fn entries(&self) -> std::io::Result<Vec<DiskEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != EXTENSION) {
                continue;
            }
            let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let fingerprint = fs::read(&path).ok().and_then(|file| {
                let (_, fingerprint, _) = split(&file)?;
                Some(fingerprint.to_string())
            });
            entries.push(DiskEntry {
                path,
                bytes,
                fingerprint,
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Removes every cache file and leftover temporary file; returns how many.
    ///
    /// # Errors
    /// The I/O error when the directory cannot be read or a file not removed.
    pub fn clear(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let ours = path
                .extension()
                .is_some_and(|e| e == EXTENSION || e == "tmp");
            if ours && path.is_file() {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The zeros after a fingerprint of `len` bytes that align the body.
fn padding(len: usize) -> usize {
    (BODY_ALIGN - (HEADER + len) % BODY_ALIGN) % BODY_ALIGN
}

fn encode(key: &CacheKey, fingerprint: &str, body: &[u8]) -> Vec<u8> {
    let pad = padding(fingerprint.len());
    let mut signed = Vec::with_capacity(4 + fingerprint.len() + pad + body.len());
    signed.extend_from_slice(&(fingerprint.len() as u32).to_le_bytes());
    signed.extend_from_slice(fingerprint.as_bytes());
    signed.resize(signed.len() + pad, 0);
    signed.extend_from_slice(body);
    let mut file = Vec::with_capacity(HEADER + signed.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT.to_le_bytes());
    file.extend_from_slice(&key.0);
    file.extend_from_slice(blake3::hash(&signed).as_bytes());
    file.extend_from_slice(&signed);
    file
}

/// The key, fingerprint and body of a well-formed file whose digest matches.
fn split(file: &[u8]) -> Option<([u8; 32], &str, &[u8])> {
    let rest = file.strip_prefix(MAGIC)?;
    let (format, rest) = rest.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*format) != FORMAT {
        return None;
    }
    let (key, rest) = rest.split_first_chunk::<32>()?;
    let (digest, signed) = rest.split_first_chunk::<32>()?;
    if blake3::hash(signed).as_bytes() != digest {
        return None;
    }
    let (len, rest) = signed.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    let (fingerprint, rest) = rest.split_at_checked(len)?;
    let (_zeros, body) = rest.split_at_checked(padding(len))?;
    Some((*key, std::str::from_utf8(fingerprint).ok()?, body))
}

/// The body of `file` if it is the entry for `key` written under `fingerprint`.
fn check<'f>(file: &'f [u8], key: &CacheKey, fingerprint: &str) -> Result<&'f [u8], &'static str> {
    let (found_key, found_fingerprint, body) =
        split(file).ok_or("truncated, corrupt or of another format")?;
    if found_key != key.0 {
        return Err("written under another key");
    }
    if found_fingerprint != fingerprint {
        return Err("written by another engine, version, processor or configuration");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CacheKey {
        CacheKey([byte; 32])
    }

    #[test]
    fn a_file_loads_back_only_under_its_own_key_and_fingerprint() {
        let file = encode(&key(1), "engine a", b"compiled");
        assert_eq!(check(&file, &key(1), "engine a"), Ok(&b"compiled"[..]));
        assert!(check(&file, &key(2), "engine a").is_err());
        assert!(check(&file, &key(1), "engine b").is_err());
    }

    #[test]
    fn the_body_starts_aligned_whatever_the_fingerprint() {
        for len in 0..40 {
            let fingerprint = "f".repeat(len);
            let file = encode(&key(3), &fingerprint, b"body");
            let body = check(&file, &key(3), &fingerprint).unwrap();
            assert_eq!(body, b"body");
            let at = file.len() - body.len();
            assert_eq!(at % BODY_ALIGN, 0, "fingerprint of {len} bytes");
        }
    }

    #[test]
    fn every_truncation_and_every_flipped_bit_is_caught() {
        let file = encode(&key(7), "fp", b"some compiled code");
        for len in 0..file.len() {
            assert!(
                check(&file[..len], &key(7), "fp").is_err(),
                "truncated to {len}"
            );
        }
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[i] ^= 1 << bit;
                assert!(check(&bad, &key(7), "fp").is_err(), "bit {bit} of byte {i}");
            }
        }
    }
}
