//! Inputs shared by the training-step benches (W2, W4, W6).
//!
//! The peer scripts (`../shared/peers/py/make_data.py`) write every input
//! and weight once, as raw little-endian arrays listed in `manifest.txt`,
//! and every peer reads the same numbers. Point `PEER_DATA` at that folder
//! and the benches read them too, so that their first-step loss (printed
//! as `check: ... loss0 = ...`) can be compared with the peers'
//! `check:loss0` lines. Without it, each array is drawn here from a fixed
//! seed with the distribution `make_data.py` uses, which is all the timing
//! needs.

#![allow(dead_code)] // each bench uses part of this

use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tapegrad::Tensor;
use tapegrad::nn::init;

/// How `make_data.py` draws an array.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// `U(-b, b)`.
    Uniform(f64),
    /// `N(0, s^2)`.
    Normal(f64),
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
}

/// The source of a bench's arrays: the peers' files or a seeded generator.
pub struct Inputs {
    dir: Option<PathBuf>,
    manifest: HashMap<String, (String, Vec<usize>)>,
    rng: StdRng,
}

impl Inputs {
    /// Reads `PEER_DATA` if set (panicking with the reason if its files are
    /// not readable), else generates from `seed`.
    pub fn new(seed: u64) -> Self {
        let rng = StdRng::seed_from_u64(seed);
        let Some(dir) = std::env::var_os("PEER_DATA").map(PathBuf::from) else {
            return Inputs {
                dir: None,
                manifest: HashMap::new(),
                rng,
            };
        };
        let path = dir.join("manifest.txt");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("PEER_DATA: cannot read {}: {e}", path.display()));
        let mut manifest = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            let (Some(name), Some(dtype)) = (words.next(), words.next()) else {
                panic!("{}: bad line {line:?}", path.display());
            };
            let dims = words
                .map(|w| {
                    w.parse()
                        .unwrap_or_else(|_| panic!("{}: bad line {line:?}", path.display()))
                })
                .collect();
            manifest.insert(name.to_string(), (dtype.to_string(), dims));
        }
        eprintln!("inputs: reading the peers' arrays from {}", dir.display());
        Inputs {
            dir: Some(dir),
            manifest,
            rng,
        }
    }

    /// The raw bytes of `name`, after checking its dtype and shape.
    fn read(&self, dir: &Path, name: &str, dtype: &str, dims: &[usize]) -> Vec<[u8; 4]> {
        let (want_dtype, want_dims) = self
            .manifest
            .get(name)
            .unwrap_or_else(|| panic!("PEER_DATA: no array {name} in manifest.txt"));
        assert!(
            want_dtype == dtype && want_dims == dims,
            "PEER_DATA: {name} is {want_dtype} {want_dims:?}, the bench expects {dtype} {dims:?}"
        );
        let path = dir.join(format!("{name}.bin"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("PEER_DATA: cannot read {}: {e}", path.display()));
        let n: usize = dims.iter().product();
        assert!(
            bytes.len() == 4 * n,
            "PEER_DATA: {} holds {} bytes, not {} for {dims:?}",
            path.display(),
            bytes.len(),
            4 * n
        );
        bytes
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect()
    }

    /// The f32 array `name` of shape `dims`, drawn as `init` when not read.
    pub fn f32(&mut self, name: &str, dims: &[usize], how: Init) -> Tensor<f32> {
        if let Some(dir) = self.dir.clone() {
            let data = self
                .read(&dir, name, "f32", dims)
                .into_iter()
                .map(f32::from_le_bytes)
                .collect();
            return Tensor::from_vec(data, dims).unwrap();
        }
        match how {
            Init::Uniform(b) => init::uniform(dims, -b, b, &mut self.rng),
            Init::Normal(s) => Tensor::randn(dims, &mut self.rng).scale(s as f32),
            Init::Zeros => Tensor::zeros(dims),
            Init::Ones => Tensor::ones(dims),
        }
    }

    /// `len` class indices below `classes` (an i32 array in the files).
    pub fn labels(&mut self, name: &str, dims: &[usize], classes: usize) -> Vec<usize> {
        if let Some(dir) = self.dir.clone() {
            return self
                .read(&dir, name, "i32", dims)
                .into_iter()
                .map(|b| {
                    let v = i32::from_le_bytes(b);
                    assert!(
                        (0..classes as i32).contains(&v),
                        "PEER_DATA: {name} holds {v}"
                    );
                    v as usize
                })
                .collect();
        }
        let n: usize = dims.iter().product();
        (0..n).map(|_| self.rng.random_range(0..classes)).collect()
    }

    /// A `Linear`/`Conv` weight and bias as `make_data.py`'s `lin`: both
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, named `{name}_w`, `{name}_b`.
    pub fn layer(
        &mut self,
        name: &str,
        w_dims: &[usize],
        fan_in: usize,
    ) -> (Tensor<f32>, Tensor<f32>) {
        let b = 1.0 / (fan_in as f64).sqrt();
        let w = self.f32(&format!("{name}_w"), w_dims, Init::Uniform(b));
        let bias = self.f32(&format!("{name}_b"), &[w_dims[0]], Init::Uniform(b));
        (w, bias)
    }
}

/// With `TAPEGRAD_PROFILE=n` set, runs `n` steps with the tape's profiler
/// on before the timing and prints the table (time per op kind, the last
/// column each kind's share) to stderr; otherwise does nothing. The
/// profiler is off again for the timed steps.
pub fn profile_steps(
    name: &str,
    tape: &mut tapegrad::Tape<f32>,
    mut step: impl FnMut(&mut tapegrad::Tape<f32>),
) {
    let Some(n) = std::env::var("TAPEGRAD_PROFILE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return;
    };
    tape.set_profiling(true);
    let start = std::time::Instant::now();
    for _ in 0..n {
        step(tape);
    }
    let wall = start.elapsed();
    let profile = tape.profile();
    eprintln!(
        "{name}: {n} profiled steps, {:.3} ms per step, of which ops (forward + backward) {:.3} ms:\n{profile}",
        wall.as_secs_f64() * 1e3 / n as f64,
        profile.total().as_secs_f64() * 1e3 / n as f64
    );
    tape.set_profiling(false);
    tape.clear_profile();
}
