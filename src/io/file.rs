//! Files on disk for [`io`](super): the atomic write every save goes
//! through ([`write_atomic`]) and the bounded read every load goes through
//! ([`read_safetensors`]).
//!
//! ## Temporary files
//! A save writes `.NAME.PID-SALT-SEQ.tmp` next to the target `NAME`: this
//! process's id, a random 64-bit salt drawn once per process (16 hex
//! digits) and a per-process sequence number. The salt is what keeps a
//! name from repeating when the process id does (in a container every run
//! may be PID 1), so a temporary file left by a killed save never stands in
//! the way of a later one; the file is created exclusively all the same,
//! with a fresh sequence number if the name is somehow taken.
//!
//! The writer holds an exclusive advisory lock ([`File::lock`]) on its
//! temporary file until the rename is done. Before writing, a save removes
//! the temporary files of the same target that no one holds a lock on and
//! that were last modified more than [`STALE_AFTER`] ago: those of killed
//! saves (the operating system drops a dead process's locks), in this
//! scheme or the earlier `.NAME.PID.tmp` one. Files held by a live writer,
//! other processes' or ours, and anything that is not a regular file, are
//! left alone; on a filesystem without locks nothing is removed.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// How long an unlocked temporary file must have been left untouched before
/// a save removes it: long enough to cover a writer between creating its
/// file and locking it (microseconds), short enough that a run killed and
/// restarted cleans up after itself at its next save.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(2);

/// The largest header the safetensors crate accepts (100 MB).
pub(crate) const MAX_HEADER: u64 = 100_000_000;

/// The process's salt for temporary names: random (std's `RandomState`
/// keys come from the operating system), mixed with the time.
fn salt() -> u64 {
    static SALT: OnceLock<u64> = OnceLock::new();
    *SALT.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    })
}

/// The temporary file for the `seq`-th save attempt of `name`.
fn temp_name(name: &OsStr, seq: u64) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}-{:016x}-{seq}.tmp", std::process::id(), salt()));
    tmp
}

/// Whether `candidate` is a temporary file of a save of `name`, in this
/// scheme (`.NAME.PID-SALT-SEQ.tmp`) or the earlier one (`.NAME.PID.tmp`).
fn is_temp_of(name: &OsStr, candidate: &OsStr) -> bool {
    let (name, candidate) = (name.as_encoded_bytes(), candidate.as_encoded_bytes());
    let Some(middle) = candidate
        .strip_prefix(b".")
        .and_then(|c| c.strip_prefix(name))
        .and_then(|c| c.strip_prefix(b"."))
        .and_then(|c| c.strip_suffix(b".tmp"))
    else {
        return false;
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let parts: Vec<&[u8]> = middle.split(|&b| b == b'-').collect();
    match parts[..] {
        [pid] => digits(pid),
        [pid, salt, seq] => {
            digits(pid) && salt.len() == 16 && salt.iter().all(u8::is_ascii_hexdigit) && digits(seq)
        }
        _ => false,
    }
}

/// Removes the stale temporary files of saves of `path` (see the module
/// docs). Best effort: whatever cannot be checked or removed stays.
fn remove_stale_temps(path: &Path, name: &OsStr) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        if !is_temp_of(name, &entry.file_name()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let idle = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        if !meta.is_file() || idle.is_none_or(|idle| idle < STALE_AFTER) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        // No one holds it: its writer is gone. (The lock is released when
        // `file` closes, after the removal.)
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates a fresh temporary file for a save of `path` (exclusively, so
/// that it is ours to write and to remove).
fn create_temp(path: &Path, name: &OsStr) -> Result<(PathBuf, File)> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..64 {
        let tmp = path.with_file_name(temp_name(name, SEQ.fetch_add(1, Ordering::Relaxed)));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // Taken (by a file that cannot be ours): try the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(source) => return Err(Error::Io { path: tmp, source }),
        }
    }
    let (path, source) = last.expect("64 attempts were made");
    Err(Error::Io { path, source })
}

/// Writes `bytes` to `path` atomically: stale temporary files of `path`
/// removed (module docs), then a new temporary file in the same directory,
/// locked, written, flushed and synced, then renamed over `path`. On any
/// error the temporary file is removed and `path` is as it was.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| Error::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    remove_stale_temps(path, name);
    let (tmp, mut file) = create_temp(path, name)?;
    // Best effort: without locks, clean-ups only miss files to remove.
    let _ = file.lock();
    // The file stays open (and locked) until the rename is done, so that no
    // other save's clean-up takes it for a dead one's.
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    drop(file);
    if let Err(source) = written {
        // Ours to remove: we created it exclusively above.
        let _ = fs::remove_file(&tmp);
        return Err(Error::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    // Make the rename itself durable. Best effort: the new file is already
    // in place, and some filesystems cannot sync a directory.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Why [`read_safetensors`] refused a file.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The operating system's error.
    Io(io::Error),
    /// Not a safetensors file of the length its header gives: what is wrong.
    Format(String),
}

/// A safetensors file read by [`read_safetensors`].
pub(crate) struct Loaded {
    /// Every byte of the file.
    pub bytes: Vec<u8>,
    /// The header's length (the data start at `8 + header_len`).
    pub header_len: usize,
    /// The parsed header: metadata and tensor entries, their offsets
    /// checked against each other, the shapes and the dtypes, and the last
    /// one ending at the end of the file.
    pub header: ::safetensors::tensor::Metadata,
}

/// The whole of the safetensors file at `path`, read only once its header
/// has been parsed and the file's length (from its metadata) found to be
/// exactly what the header describes: 8 bytes of header length, the header
/// (at most [`MAX_HEADER`] bytes), the tensors' data. So nothing is read
/// or allocated beyond the file's own length, and a file whose header does
/// not fit it is refused after reading its header only.
///
/// The header is parsed by [`header::parse`](super::header::parse), in one
/// pass into the safetensors crate's `Metadata`, whose checks of offsets,
/// shapes and dtypes all run here; so the data are exactly the tensors the
/// header describes (and `SafeTensors::deserialize` on the bytes returned
/// succeeds).
pub(crate) fn read_safetensors(path: &Path) -> std::result::Result<Loaded, ReadError> {
    let mut file = File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len < 8 {
        return Err(ReadError::Format(format!(
            "the file is {len} bytes long, too short for the 8-byte header length"
        )));
    }
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(ReadError::Io)?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER {
        return Err(ReadError::Format(format!(
            "the header length {n} is over the limit of {MAX_HEADER} bytes"
        )));
    }
    if n > len - 8 {
        return Err(ReadError::Format(format!(
            "the header length {n} runs past the end of the {len}-byte file"
        )));
    }
    // `len` fits in memory's address space if the header's part does not
    // exceed it: checked against usize below, before any reservation.
    let total = usize::try_from(len).map_err(|_| {
        ReadError::Format(format!("the file is {len} bytes long, too large to load"))
    })?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(8 + n as usize)
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::OutOfMemory, e)))?;
    bytes.extend_from_slice(&prefix);
    read_up_to(&mut file, n, &mut bytes)?;
    let header = super::header::parse(&bytes[8..]).map_err(ReadError::Format)?;
    let described = 8 + n + header.data_len() as u64;
    if described != len {
        return Err(ReadError::Format(format!(
            "the header describes {described} bytes, the file has {len}"
        )));
    }
    bytes
        .try_reserve_exact(total - bytes.len())
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::OutOfMemory, e)))?;
    read_up_to(&mut file, len - 8 - n, &mut bytes)?;
    // Longer now than its metadata said: changed while we read it.
    if file.read(&mut [0u8; 1]).map_err(ReadError::Io)? != 0 {
        return Err(ReadError::Format("the file grew while it was read".into()));
    }
    Ok(Loaded {
        bytes,
        header_len: n as usize,
        header,
    })
}

/// Appends exactly `n` more bytes of `file` to `bytes`, or fails (the file
/// shrank under us).
fn read_up_to(file: &mut File, n: u64, bytes: &mut Vec<u8>) -> std::result::Result<(), ReadError> {
    let want = bytes.len() as u64 + n;
    file.take(n).read_to_end(bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 != want {
        return Err(ReadError::Format(format!(
            "the file ends after {} bytes, shorter than its length said",
            bytes.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_in_both_schemes_and_only_for_their_target() {
        let name = OsStr::new("run.safetensors");
        let ours = temp_name(name, 7);
        assert!(is_temp_of(name, &ours), "{ours:?}");
        assert!(is_temp_of(name, OsStr::new(".run.safetensors.1.tmp")));
        assert!(is_temp_of(
            name,
            OsStr::new(".run.safetensors.12-0123456789abcdef-0.tmp")
        ));
        for other in [
            "run.safetensors",
            ".run.safetensors.tmp",
            ".run.safetensors..tmp",
            ".run.safetensors.1x.tmp",
            ".run.safetensors.12-0123456789abcde-0.tmp",
            ".run.safetensors.12-0123456789abcdef.tmp",
            ".run.safetensors.12-0123456789abcdef-.tmp",
            ".other.safetensors.1.tmp",
            ".run.safetensors.old.1.tmp",
            ".run.safetensors.1.tmp.bak",
        ] {
            assert!(!is_temp_of(name, OsStr::new(other)), "{other}");
        }
        // Two saves never share a name.
        assert_ne!(temp_name(name, 0), temp_name(name, 1));
    }
}
