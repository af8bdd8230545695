//! The loop every target runs: configuration from the environment, one
//! seeded generator per case, the checks common to all targets (no panic,
//! the allocation caps), failures with what reruns them, and the summary.
//!
//! ## Environment
//! - `TAPEGRAD_FUZZ_CASES`: cases per target (default [`DEFAULT_CASES`]).
//! - `TAPEGRAD_FUZZ_SEED`: the run's seed (default [`DEFAULT_SEED`]),
//!   decimal or `0x` hex.
//! - `TAPEGRAD_FUZZ_ONLY`: run only the target of this name.
//! - `TAPEGRAD_FUZZ_CASE`: run only the case of this index (a failure
//!   prints it), with its mutations printed.
//!
//! Case `i` of target `name` draws from a generator seeded with
//! `mix(seed, name, i)` alone, so any case reruns by itself.
//!
//! ## The allocation caps
//! A target states, for each case, how many bytes the input could justify
//! (the file's length, or for gzip the decompressed bytes the reader may
//! consume) and a [`Cap`]: the largest single allocation and the peak of
//! live bytes during the load must each stay within `per_byte * bytes +
//! constant`. The constants cover fixed costs (paths in error messages, a
//! decoder's buffers); they are far below what a forged header asks for.

use crate::alloc::Usage;
use std::fmt::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// Cases per target when `TAPEGRAD_FUZZ_CASES` is unset: the CI run.
pub const DEFAULT_CASES: u64 = 20_000;

/// The run's seed when `TAPEGRAD_FUZZ_SEED` is unset.
pub const DEFAULT_SEED: u64 = 0x7461_7065_6772_6164;

/// Inputs at least this long count in the summary's ratios.
const RATIO_FROM: usize = 4096;

/// How many failures of one target are reported before it stops.
const MAX_FAILURES: usize = 5;

/// A bound `per_byte * bytes + constant` on a load's allocations.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// Bytes allowed per byte the input justifies.
    pub per_byte: usize,
    /// Bytes allowed whatever the input.
    pub constant: usize,
}

impl Cap {
    fn allows(&self, bytes: usize, used: usize) -> bool {
        used as u128 <= self.per_byte as u128 * bytes as u128 + self.constant as u128
    }
}

/// The caps of one target: on the largest allocation and on the peak.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Bound on the largest single allocation.
    pub largest: Cap,
    /// Bound on the peak of live bytes.
    pub peak: Cap,
}

/// The run's settings, from the environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub cases: u64,
    pub seed: u64,
    pub only: Option<String>,
    pub case: Option<u64>,
}

fn number(var: &str) -> Option<u64> {
    let v = std::env::var(var).ok()?;
    let v = v.trim().replace('_', "");
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{var}={v} is not a number")))
}

impl Config {
    pub fn from_env() -> Config {
        Config {
            cases: number("TAPEGRAD_FUZZ_CASES").unwrap_or(DEFAULT_CASES),
            seed: number("TAPEGRAD_FUZZ_SEED").unwrap_or(DEFAULT_SEED),
            only: std::env::var("TAPEGRAD_FUZZ_ONLY").ok(),
            case: number("TAPEGRAD_FUZZ_CASE"),
        }
    }
}

/// SplitMix64: small, fast, and enough to pick mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// One case: its generator and the log of what was done to its input.
pub struct Case {
    pub rng: Rng,
    log: Vec<String>,
    verbose: bool,
}

impl Case {
    /// Notes one mutation (printed when the case fails, or when it was
    /// asked for by `TAPEGRAD_FUZZ_CASE`).
    pub fn note(&mut self, what: impl Into<String>) {
        let what = what.into();
        if self.verbose {
            println!("  mutation: {what}");
        }
        if self.log.len() < 64 {
            self.log.push(what);
        }
    }
}

/// What a target found in one case that passed its own checks.
pub struct Verdict {
    /// Whether the loader accepted the input.
    pub accepted: bool,
    /// The bytes the input justifies (see the module docs).
    pub bytes: usize,
    /// What the load allocated.
    pub usage: Usage,
}

/// Runs `f` and turns a panic into `Err` with its message.
pub fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        format!("panicked: {message}")
    })
}

fn mix(seed: u64, name: &str, case: u64) -> u64 {
    let mut r = Rng::new(seed);
    let mut h = r.next_u64();
    for b in name.bytes() {
        h = Rng::new(h ^ u64::from(b)).next_u64();
    }
    Rng::new(h ^ case.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

/// Runs the cases of target `name`: `case_fn` mutates an input, loads it
/// and checks what the target knows (the destination unchanged after a
/// refusal, the values after an acceptance), returning `Err` on a failure;
/// this loop adds the panic check and the caps. Panics at the end with
/// every failure (at most [`MAX_FAILURES`]) and the command that reruns it.
pub fn run(name: &str, caps: Caps, mut case_fn: impl FnMut(&mut Case) -> Result<Verdict, String>) {
    let cfg = Config::from_env();
    if cfg.only.as_deref().is_some_and(|only| only != name) {
        println!(
            "fuzz {name}: skipped (TAPEGRAD_FUZZ_ONLY={})",
            cfg.only.unwrap()
        );
        return;
    }
    let indices: Box<dyn Iterator<Item = u64>> = match cfg.case {
        Some(i) => Box::new(std::iter::once(i)),
        None => Box::new(0..cfg.cases),
    };
    let start = Instant::now();
    let (mut cases, mut accepted) = (0u64, 0u64);
    // The worst (ratio, bytes, used) among inputs of at least RATIO_FROM
    // bytes (below, the caps' constants dominate), and the largest sizes.
    let mut worst_largest = (0.0f64, 0usize, 0usize);
    let mut worst_peak = (0.0f64, 0usize, 0usize);
    let (mut most_bytes, mut most_largest, mut most_peak) = (0usize, 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    for i in indices {
        let seed = mix(cfg.seed, name, i);
        let mut case = Case {
            rng: Rng::new(seed),
            log: Vec::new(),
            verbose: cfg.case.is_some(),
        };
        cases += 1;
        let outcome = guarded(|| case_fn(&mut case)).and_then(|r| r);
        let outcome = outcome.and_then(|v| {
            let u = v.usage;
            if !caps.largest.allows(v.bytes, u.largest) {
                return Err(format!(
                    "a single allocation of {} bytes for an input justifying {} bytes (cap {:?})",
                    u.largest, v.bytes, caps.largest
                ));
            }
            if !caps.peak.allows(v.bytes, u.peak) {
                return Err(format!(
                    "a peak of {} live bytes for an input justifying {} bytes (cap {:?})",
                    u.peak, v.bytes, caps.peak
                ));
            }
            Ok(v)
        });
        match outcome {
            Ok(v) => {
                accepted += u64::from(v.accepted);
                most_bytes = most_bytes.max(v.bytes);
                most_largest = most_largest.max(v.usage.largest);
                most_peak = most_peak.max(v.usage.peak);
                let ratio = |used: usize| used as f64 / v.bytes.max(1) as f64;
                if v.bytes >= RATIO_FROM && ratio(v.usage.largest) > worst_largest.0 {
                    worst_largest = (ratio(v.usage.largest), v.bytes, v.usage.largest);
                }
                if v.bytes >= RATIO_FROM && ratio(v.usage.peak) > worst_peak.0 {
                    worst_peak = (ratio(v.usage.peak), v.bytes, v.usage.peak);
                }
            }
            Err(problem) => {
                let mut report =
                    format!("fuzz {name}, case {i} (seed {:#x}): {problem}\n", cfg.seed);
                for step in &case.log {
                    let _ = writeln!(report, "    mutation: {step}");
                }
                let _ = write!(
                    report,
                    "    rerun: TAPEGRAD_FUZZ_SEED={:#x} TAPEGRAD_FUZZ_ONLY={name} TAPEGRAD_FUZZ_CASE={i} \
                     cargo test --release --test fuzz -- --nocapture",
                    cfg.seed
                );
                eprintln!("{report}");
                failures.push(report);
                if failures.len() >= MAX_FAILURES {
                    break;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let refused = cases - accepted - failures.len() as u64;
    println!(
        "fuzz {name}: {cases} cases (seed {:#x}) in {secs:.1} s: {accepted} loads accepted, \
         {refused} refused, {} failed\n  inputs up to {most_bytes} bytes; largest allocation \
         {most_largest} bytes, peak live {most_peak} bytes\n  inputs of {RATIO_FROM} bytes or \
         more: largest allocation at most {:.2} x the input ({} bytes for {}), peak live at most \
         {:.2} x ({} bytes for {})",
        cfg.seed,
        failures.len(),
        worst_largest.0,
        worst_largest.2,
        worst_largest.1,
        worst_peak.0,
        worst_peak.2,
        worst_peak.1,
    );
    assert!(
        failures.is_empty(),
        "fuzz {name}: {} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
