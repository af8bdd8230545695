//! Issue 17's checkpointing trade: a causal transformer of 8 blocks
//! (batch 16, 64 positions, width 128, 4 heads), one training step
//! (forward, mean-square loss, backward) without checkpointing, with every
//! block checkpointed, and under a memory budget half-way between the two.
//!
//! - time: `cargo bench --bench checkpoint` (criterion: `plain`,
//!   `checkpointed`, `budget`);
//! - memory: `TAPEGRAD_CHECKPOINT=plain|checkpointed|budget:<bytes> cargo
//!   bench --bench checkpoint` runs one step in a fresh process and prints
//!   its peak resident memory (VmHWM from /proc/self/status) above what it
//!   held before the step, next to the tape's own estimate
//!   (`Tape::memory_report`), then exits; `TAPEGRAD_CHECKPOINT=budget`
//!   prints the half-way budget to pass as `budget:<bytes>`.

use criterion::Criterion;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use tapegrad::nn::{Forward, TransformerBlock};
use tapegrad::tape::MemoryReport;
use tapegrad::{Tape, Tensor};

const BLOCKS: usize = 8;
const BATCH: usize = 16;
const LEN: usize = 64;
const EMBED: usize = 128;
const HEADS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    Checkpointed,
    /// Checkpointed under this budget (bytes).
    Budget(usize),
}

fn model() -> Vec<TransformerBlock<f32>> {
    let mut rng = StdRng::seed_from_u64(0);
    (0..BLOCKS)
        .map(|_| TransformerBlock::new(EMBED, HEADS, &mut rng).causal(true))
        .collect()
}

fn input() -> Tensor<f32> {
    let values = (0..BATCH * LEN * EMBED)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0)
        .collect();
    Tensor::from_vec(values, &[BATCH, LEN, EMBED]).unwrap()
}

/// One step on `tape`: the estimate before backward, and the loss.
fn step(
    tape: &Tape<f32>,
    blocks: &[TransformerBlock<f32>],
    x: &Tensor<f32>,
    mode: Mode,
) -> (MemoryReport, f32) {
    tape.set_memory_budget(match mode {
        Mode::Budget(b) => Some(b),
        _ => None,
    });
    let mut h = tape.var(x.clone());
    for block in blocks {
        h = match mode {
            Mode::Plain => block.forward(h),
            _ => {
                let inner = block.clone();
                h.checkpoint(move |v| inner.forward(v))
            }
        };
    }
    let loss = h.square().mean();
    let report = tape.memory_report(loss);
    let value = loss.item();
    let grads = loss.backward();
    black_box(&grads);
    (report, value)
}

/// The budget half-way between the two estimates.
fn half_way(blocks: &[TransformerBlock<f32>], x: &Tensor<f32>) -> usize {
    let low = step(&Tape::new(), blocks, x, Mode::Checkpointed)
        .0
        .backward_peak;
    let high = step(&Tape::new(), blocks, x, Mode::Plain).0.backward_peak;
    (low + high) / 2
}

/// A line of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn measure_memory(mode: &str) {
    let blocks = model();
    let x = input();
    let mode = match mode {
        "plain" => Mode::Plain,
        "checkpointed" => Mode::Checkpointed,
        "budget" => {
            // Measured in a process of its own: the estimating steps would
            // leave memory resident for this one to reuse.
            println!(
                "half-way budget: TAPEGRAD_CHECKPOINT=budget:{}",
                half_way(&blocks, &x)
            );
            return;
        }
        other => match other.strip_prefix("budget:").map(str::parse) {
            Some(Ok(bytes)) => Mode::Budget(bytes),
            _ => panic!(
                "TAPEGRAD_CHECKPOINT: unknown mode {other:?} (plain, checkpointed, budget, \
                 budget:<bytes>)"
            ),
        },
    };
    let before = status_bytes("VmRSS:");
    let tape = Tape::new();
    let (report, loss) = step(&tape, &blocks, &x, mode);
    let peak = status_bytes("VmHWM:");
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "{mode:?}: loss {loss:.6}, VmHWM - VmRSS before = {:.1} MiB; estimate: values {:.1} MiB, \
         backward peak {:.1} MiB, {} of {} blocks recomputed",
        mib(peak.saturating_sub(before)),
        mib(report.values),
        mib(report.backward_peak),
        report.recomputed,
        report.checkpoints
    );
}

fn bench(c: &mut Criterion) {
    let blocks = model();
    let x = input();
    let budget = half_way(&blocks, &x);
    let mut group = c.benchmark_group("checkpoint");
    group.sample_size(10);
    for (name, mode) in [
        ("plain", Mode::Plain),
        ("checkpointed", Mode::Checkpointed),
        ("budget", Mode::Budget(budget)),
    ] {
        let mut tape = Tape::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(step(&tape, &blocks, &x, mode));
                tape.reset();
            })
        });
    }
    group.finish();
}

fn main() {
    if let Ok(mode) = std::env::var("TAPEGRAD_CHECKPOINT") {
        measure_memory(&mode);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
