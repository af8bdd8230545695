//! Fuzzing on stable Rust (issue 18): mutation-based fuzz targets for every
//! loader that reads data from outside, as one test binary with its own
//! counting global allocator, so that it runs with `cargo test`.
//!
//! Targets (one test each, same names):
//! - `safetensors`: weights into a model ([`weights`]);
//! - `checkpoint`: model, Adam and the run's state ([`checkpoint`]);
//! - `csv`: `read_csv` ([`csv`]);
//! - `idx`, `idx_gzip`: `read_idx` on plain and gzip streams ([`idx`]).
//!
//! Every case checks that the loader does not panic, that no allocation
//! and no peak of live memory exceeds what the input justifies (the caps,
//! see [`harness`] and each target), and that a refused load changes
//! nothing (each target). [`harness`] documents the environment variables
//! (`TAPEGRAD_FUZZ_CASES`, `_SEED`, `_ONLY`, `_CASE`); the README's
//! testing section has the commands and what the runs found.
//!
//! Layout: [`alloc`] the allocator, [`harness`] the loop, [`mutate`] the
//! byte mutations, [`models`] the models and snapshots, one file per target,
//! and [`regress`]: regression tests for what the targets found that only
//! the counting allocator can see.

mod alloc;
mod checkpoint;
#[path = "../io/ckpt_format.rs"]
mod ckpt_format;
mod csv;
mod harness;
mod idx;
mod models;
mod mutate;
mod regress;
mod weights;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// A directory for the files of one target, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(target: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("tapegrad-fuzz-{target}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

/// The one file a target writes its inputs to, when its loader needs a
/// path: kept open and overwritten in place (then cut to length), which on
/// ext4 is far cheaper than truncating it to zero each time (that starts a
/// write-back of the file at every close).
struct Scratch {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl Scratch {
    fn new(path: std::path::PathBuf) -> Scratch {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        Scratch { path, file }
    }

    /// Makes the file hold exactly `bytes`; its path.
    fn put(&mut self, bytes: &[u8]) -> Result<&std::path::Path, String> {
        use std::io::{Seek, Write};
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(bytes))
            .and_then(|()| self.file.set_len(bytes.len() as u64))
            .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        Ok(&self.path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn safetensors() {
    weights::fuzz(&TempDir::new("safetensors").0);
}

#[test]
fn checkpoint() {
    checkpoint::fuzz(&TempDir::new("checkpoint").0);
}

#[test]
fn csv() {
    csv::fuzz(&TempDir::new("csv").0);
}

#[test]
fn idx() {
    idx::fuzz_plain();
}

#[test]
fn idx_gzip() {
    idx::fuzz_gzip();
}
