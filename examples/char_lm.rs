//! A character-level language model: a small causal transformer (or a GRU)
//! learns to continue Shakespeare, and must beat a bigram baseline.
//!
//! Run: `cargo run --release --example char_lm`. Flags: `--gru` for the
//! recurrent variant, `--data FILE` for any text file (`names.txt`, in
//! `examples/data/`, learns and invents first names), `--preset
//! shakespeare|names` (chosen by the file's name unless given), `--prompt
//! TEXT` where the samples start, `--context N` characters per window,
//! `--shuffle-lines true|false`, `--steps N`, `--out DIR` for the loss plot
//! (default `target/`); `-- --help` lists them with their defaults.
//!
//! Every check of the text and the flags runs before training: a file
//! that cannot be read or is too short for the context, or a prompt with
//! characters the text lacks (each one named), stops the run with a
//! one-line error and exit status 1.
//!
//! Measured on a 2-core machine shared with three other builds (load
//! about 10): the default 600 steps took 534 s of wall time but only about
//! 20 s of CPU time per 100 steps, so expect about two minutes on an idle
//! 2-core machine. It reached 2.97 bits per character on validation
//! against the bigram's 3.66. `--data names.txt` (600 steps, windows of
//! 16): 50 s wall, 21 s CPU, 2.96 bits against the bigram's 3.37.
//! `--gru` on Shakespeare: 83 s wall, 26 s CPU, 3.05 bits.
//!
//! The text is cut into a training part (the first 90%) and a validation
//! part (the rest). Each step takes 32 random windows of 64 characters and
//! asks the model to predict every next character at once; a causal mask
//! keeps each position from seeing the ones after it. AdamW's rate warms up
//! linearly for 100 steps, then follows a cosine down to a tenth.
//!
//! Validation loss is reported in bits per character: the cross-entropy
//! in nats divided by ln 2, so 1 bit is one fair coin flip per character
//! and `log2(vocabulary)` is a uniform guess. The baseline is the bigram
//! model: the next character's probability given only the one before,
//! counted on the training part (that count, with add-one smoothing, is
//! the maximum-likelihood bigram that a trained `V x V` table would reach).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use tapegrad::nn::{Embedding, Forward, Gru, LayerNorm, Linear, TransformerBlock};
use tapegrad::optim::{AdamW, Optimizer};
use tapegrad::plot::LineChart;
use tapegrad::schedule::{CosineAnnealingLr, LinearWarmup, LrSchedule};
use tapegrad::{Module, Tape, Var, train};

/// Which network reads the characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Token + position embeddings, causal pre-norm transformer blocks.
    Transformer,
    /// Token embeddings into a one-layer GRU.
    Gru,
}

/// What to run: start from a preset ([`Config::shakespeare`],
/// [`Config::names`]) and change what you need.
#[derive(Clone, Debug)]
pub struct Config {
    /// The text file (ASCII).
    pub data: PathBuf,
    /// Shuffle the lines before splitting (for lists such as names.txt,
    /// which are sorted).
    pub shuffle_lines: bool,
    /// The network.
    pub kind: Kind,
    /// Optimiser steps.
    pub steps: usize,
    /// Windows per step.
    pub batch: usize,
    /// Characters per window (the context).
    pub context: usize,
    /// Width of the embeddings and the residual stream (GRU: its state).
    pub width: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Evaluate every this many steps.
    pub eval_every: usize,
    /// Characters to generate at the end (0: none).
    pub sample_len: usize,
    /// Where the samples start.
    pub prompt: String,
    /// Print progress and samples.
    pub verbose: bool,
    /// Where to write `char_lm_loss.svg`, if anywhere.
    pub out: Option<PathBuf>,
}

impl Config {
    /// The default run on `shakespeare.txt`.
    pub fn shakespeare() -> Self {
        Config {
            data: data_path("shakespeare.txt"),
            shuffle_lines: false,
            kind: Kind::Transformer,
            steps: 600,
            batch: 32,
            context: 64,
            width: 64,
            layers: 2,
            lr: 3e-3,
            eval_every: 100,
            sample_len: 400,
            prompt: "HAMLET.\n".to_string(),
            verbose: true,
            out: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target"
            ))),
        }
    }

    /// The run on `names.txt`: shorter windows, samples start at a newline.
    pub fn names() -> Self {
        Config {
            data: data_path("names.txt"),
            shuffle_lines: true,
            steps: 600,
            context: 16,
            prompt: "\n".to_string(),
            sample_len: 200,
            ..Config::shakespeare()
        }
    }
}

/// `examples/data/<name>`.
fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name)
}

/// What one run reached.
pub struct Outcome {
    /// Training loss (nats) of the first step.
    pub first_loss: f64,
    /// Mean training loss over the last `eval_every` steps.
    pub last_loss: f64,
    /// The model's validation loss in bits per character.
    pub val_bpc: f64,
    /// The bigram baseline's, on the same characters.
    pub bigram_bpc: f64,
    /// The generated text.
    pub sample: String,
}

/// The characters of a text, numbered in sorted order.
struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    fn new(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// The ids of `text`'s characters.
    ///
    /// # Errors
    /// Every distinct character of `text` the vocabulary lacks, in order
    /// of first appearance.
    fn encode(&self, text: &str) -> Result<Vec<usize>, Vec<char>> {
        let mut ids = Vec::with_capacity(text.len());
        let mut unknown = Vec::new();
        for c in text.chars() {
            match self.chars.binary_search(&c) {
                Ok(id) => ids.push(id),
                Err(_) if !unknown.contains(&c) => unknown.push(c),
                Err(_) => {}
            }
        }
        if unknown.is_empty() {
            Ok(ids)
        } else {
            Err(unknown)
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }
}

/// Either network, with the embeddings and output layer they share.
#[derive(Module)]
struct CharModel {
    tokens: Embedding,
    positions: Option<Embedding>,
    blocks: Vec<TransformerBlock>,
    gru: Option<Gru>,
    norm: LayerNorm,
    head: Linear,
}

impl CharModel {
    fn new(config: &Config, vocab: usize, rng: &mut StdRng) -> Self {
        let d = config.width;
        // GPT-2's scale for embeddings: small, so that the blocks' first
        // updates are not drowned by the embedding noise.
        let small = |e: Embedding, rng: &mut StdRng| {
            let mut e = e;
            let shape = e.weight.shape().to_vec();
            *e.weight.value_mut() = tapegrad::nn::init::normal(&shape, 0.0, 0.02, rng);
            e
        };
        let tokens = Embedding::new(vocab, d, rng);
        let tokens = small(tokens, rng);
        let (positions, blocks, gru) = match config.kind {
            Kind::Transformer => {
                let p = Embedding::new(config.context, d, rng);
                let blocks = (0..config.layers)
                    .map(|_| TransformerBlock::new(d, 4, rng).causal(true))
                    .collect();
                (Some(small(p, rng)), blocks, None)
            }
            Kind::Gru => (None, Vec::new(), Some(Gru::new(d, d, 1, rng))),
        };
        CharModel {
            tokens,
            positions,
            blocks,
            gru,
            norm: LayerNorm::new(&[d]),
            head: Linear::new(d, vocab, rng),
        }
    }

    /// Token ids `[n, len]` (row-major) to logits `[n * len, vocab]`.
    fn forward<'t>(&self, tape: &'t Tape, ids: &[usize], n: usize, len: usize) -> Var<'t> {
        let mut x = self.tokens.forward_indices(tape, ids, &[n, len]);
        if let Some(p) = &self.positions {
            let at: Vec<usize> = (0..len).collect();
            // [len, d] broadcasts over the batch.
            x = x + p.forward_indices(tape, &at, &[len]);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        if let Some(gru) = &self.gru {
            x = gru.forward(x);
        }
        let d = x.shape()[2];
        self.head
            .forward(self.norm.forward(x.reshape(&[n * len, d])))
    }
}

/// Windows of `len + 1` ids starting at `starts`: inputs and next-char
/// targets, both `[starts.len() * len]`.
fn batch(ids: &[usize], starts: &[usize], len: usize) -> (Vec<usize>, Vec<usize>) {
    let mut x = Vec::with_capacity(starts.len() * len);
    let mut y = Vec::with_capacity(starts.len() * len);
    for &s in starts {
        x.extend_from_slice(&ids[s..s + len]);
        y.extend_from_slice(&ids[s + 1..s + len + 1]);
    }
    (x, y)
}

/// Validation windows: up to 64 evenly spaced, non-overlapping ones.
fn val_starts(val_len: usize, len: usize) -> Vec<usize> {
    let fit = (val_len - 1) / len;
    let count = fit.min(64);
    (0..count).map(|k| k * fit / count * len).collect()
}

/// Bits per character of `model` on the validation windows.
fn val_bpc(model: &CharModel, val: &[usize], len: usize) -> f64 {
    let starts = val_starts(val.len(), len);
    let (x, y) = batch(val, &starts, len);
    let tape = Tape::eval();
    let loss = model
        .forward(&tape, &x, starts.len(), len)
        .cross_entropy(&y);
    loss.item() as f64 / std::f64::consts::LN_2
}

/// The add-one-smoothed bigram table counted on `train`, and its bits per
/// character on exactly the validation targets the model is scored on.
fn bigram_bpc(train: &[usize], val: &[usize], vocab: usize, len: usize) -> f64 {
    let mut counts = vec![1.0f64; vocab * vocab];
    for w in train.windows(2) {
        counts[w[0] * vocab + w[1]] += 1.0;
    }
    let (x, y) = batch(val, &val_starts(val.len(), len), len);
    let bits: f64 = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| {
            let row = &counts[a * vocab..(a + 1) * vocab];
            -(row[b] / row.iter().sum::<f64>()).log2()
        })
        .sum();
    bits / y.len() as f64
}

/// Generates `count` characters after `prompt`, each drawn from the
/// softmax of the model's last logits divided by `temperature`.
fn sample(
    model: &CharModel,
    vocab: &Vocab,
    prompt: Vec<usize>,
    config: &Config,
    rng: &mut StdRng,
) -> String {
    let mut ids = prompt;
    let mut out = String::new();
    let temperature = 0.8;
    for _ in 0..config.sample_len {
        let from = ids.len().saturating_sub(config.context);
        let window = &ids[from..];
        let tape = Tape::eval();
        let logits = model.forward(&tape, window, 1, window.len()).value();
        let last = &logits.as_slice()[(window.len() - 1) * vocab.len()..];
        let max = last.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let weights: Vec<f64> = last
            .iter()
            .map(|v| (((v - max) / temperature) as f64).exp())
            .collect();
        let mut r = rng.random::<f64>() * weights.iter().sum::<f64>();
        let mut next = weights.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                next = i;
                break;
            }
            r -= w;
        }
        ids.push(next);
        out.push(vocab.chars[next]);
    }
    out
}

/// Reads the text, shuffling its lines if asked.
///
/// # Errors
/// If the file cannot be read or is not UTF-8 text.
fn read_text(config: &Config, rng: &mut StdRng) -> Result<String, String> {
    let text = std::fs::read_to_string(&config.data)
        .map_err(|e| format!("{}: cannot read the text: {e}", config.data.display()))?;
    if !config.shuffle_lines {
        return Ok(text);
    }
    let mut lines: Vec<&str> = text.lines().collect();
    rand::seq::SliceRandom::shuffle(lines.as_mut_slice(), rng);
    Ok(lines.join("\n") + "\n")
}

/// A character as the error messages show it.
fn shown(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\t' => "a tab".into(),
        c => format!("{c:?}"),
    }
}

/// Checks `config`'s numbers and the prompt against the text, before any
/// training: returns the prompt's ids.
///
/// # Errors
/// One line saying what is wrong: no steps, windows or width; a text too
/// short for the context; an empty prompt; a prompt character the text
/// lacks (each such character named).
fn check(config: &Config, vocab: &Vocab, train: usize, val: usize) -> Result<Vec<usize>, String> {
    let file = config.data.display();
    for (flag, v) in [
        ("--steps", config.steps),
        ("--context", config.context),
        ("the batch", config.batch),
        ("the width", config.width),
        ("the evaluation interval", config.eval_every),
    ] {
        if v == 0 {
            return Err(format!("{flag} must be at least 1"));
        }
    }
    let len = config.context;
    if train < len + 2 || val < len + 1 {
        return Err(format!(
            "{file}: too short for windows of {len} characters: its training part (the first 90%) \
             has {train} characters and its validation part {val}; it needs at least {} and {} \
             (try a smaller --context)",
            len + 2,
            len + 1
        ));
    }
    if config.prompt.is_empty() {
        return Err("--prompt must not be empty (the samples continue it)".into());
    }
    vocab.encode(&config.prompt).map_err(|unknown| {
        let list: Vec<String> = unknown.into_iter().map(shown).collect();
        format!(
            "the prompt {:?} has {} that {file} never uses: {} (choose --prompt from the text's characters)",
            config.prompt,
            if list.len() == 1 { "a character" } else { "characters" },
            list.join(", ")
        )
    })
}

/// Trains and reports; see the module docs.
///
/// # Errors
/// If the text cannot be read, or the text, prompt or numbers do not fit
/// (see `check`): before any step is taken.
pub fn run(config: &Config) -> Result<Outcome, String> {
    let mut rng = StdRng::seed_from_u64(1234);
    let text = read_text(config, &mut rng)?;
    let vocab = Vocab::new(&text);
    let ids = vocab.encode(&text).expect("the text's own characters");
    let split = ids.len() * 9 / 10;
    let (train, val) = (&ids[..split], &ids[split..]);
    let len = config.context;
    let prompt = check(config, &vocab, train.len(), val.len())?;

    let mut model = CharModel::new(config, vocab.len(), &mut rng);
    let bigram = bigram_bpc(train, val, vocab.len(), len);
    if config.verbose {
        println!(
            "{}: {} characters, vocabulary {} (uniform guess {:.2} bits); {:?} with {} parameters",
            config.data.display(),
            ids.len(),
            vocab.len(),
            (vocab.len() as f64).log2(),
            config.kind,
            model.num_params()
        );
        println!("bigram baseline: {bigram:.3} bits per character on validation");
    }

    // A quarter of the steps (at most 100) of warm-up, none for runs of
    // fewer than 4 steps; the cosine takes the rest (at least one step).
    let warmup = 100.min(config.steps / 4);
    let cosine =
        CosineAnnealingLr::new(config.lr, (config.steps - warmup).max(1), config.lr / 10.0)
            .map_err(|e| e.to_string())?;
    let schedule: Box<dyn LrSchedule> = if warmup == 0 {
        Box::new(cosine)
    } else {
        Box::new(LinearWarmup::new(cosine, warmup, 0.01).map_err(|e| e.to_string())?)
    };
    let mut opt = AdamW::new(config.lr).weight_decay(0.01);
    let mut train_curve = Vec::new();
    let mut val_curve = Vec::new();
    let (mut first_loss, mut recent) = (f64::NAN, Vec::new());
    let clock = std::time::Instant::now();
    let tape = Tape::new();
    for step in 0..config.steps {
        opt.set_lr(schedule.lr_at(step));
        let starts: Vec<usize> = (0..config.batch)
            .map(|_| rng.random_range(0..train.len() - len - 1))
            .collect();
        let (x, y) = batch(train, &starts, len);
        let loss = train::step(&mut model, &mut opt, |m| {
            m.forward(&tape, &x, config.batch, len).cross_entropy(&y)
        }) as f64;
        if step == 0 {
            first_loss = loss;
        }
        train_curve.push((step as f64, loss / std::f64::consts::LN_2));
        recent.push(loss);
        if recent.len() > config.eval_every {
            recent.remove(0);
        }
        if (step + 1) % config.eval_every == 0 || step + 1 == config.steps {
            let bpc = val_bpc(&model, val, len);
            val_curve.push(((step + 1) as f64, bpc));
            if config.verbose {
                let mean = recent.iter().sum::<f64>() / recent.len() as f64;
                println!(
                    "step {:>5}  lr {:.5}  train {:.3} bpc  validation {bpc:.3} bpc  ({:.0} s)",
                    step + 1,
                    opt.lr(),
                    mean / std::f64::consts::LN_2,
                    clock.elapsed().as_secs_f64()
                );
            }
        }
    }

    let val_bpc = val_curve.last().map_or(f64::NAN, |p| p.1);
    let mut sample_rng = StdRng::seed_from_u64(42);
    let sample = sample(&model, &vocab, prompt, config, &mut sample_rng);
    if config.verbose {
        println!(
            "validation: {:?} {val_bpc:.3} bits per character, bigram {bigram:.3}",
            config.kind
        );
        println!(
            "--- sample (temperature 0.8) ---\n{}{sample}\n---",
            config.prompt
        );
        if config.shuffle_lines {
            let known: std::collections::HashSet<&str> = text.lines().collect();
            let made: Vec<&str> = sample.lines().filter(|l| !l.is_empty()).collect();
            let new = made.iter().filter(|l| !known.contains(*l)).count();
            println!("{new} of {} sampled lines are not in the data", made.len());
        }
    }
    if let Some(dir) = &config.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
        let path = dir.join("char_lm_loss.svg");
        let end = config.steps as f64;
        let file = config
            .data
            .file_name()
            .map_or("text".into(), |f| f.to_string_lossy());
        LineChart::new(format!("{:?} on {file}", config.kind))
            .x_label("step")
            .y_label("bits per character")
            .series("train (per step)", train_curve)
            .series("validation", val_curve)
            .series("bigram baseline", [(0.0, bigram), (end, bigram)])
            .save_both(&path)
            .map_err(|e| e.to_string())?;
        if config.verbose {
            println!("loss curves written to {}", path.display());
        }
    }
    Ok(Outcome {
        first_loss,
        last_loss: recent.iter().sum::<f64>() / recent.len() as f64,
        val_bpc,
        bigram_bpc: bigram,
        sample,
    })
}

#[path = "common/args.rs"]
pub mod args;

/// Which preset a run starts from, as `--preset` takes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preset {
    /// [`Config::shakespeare`].
    #[default]
    Shakespeare,
    /// [`Config::names`].
    Names,
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shakespeare" => Ok(Preset::Shakespeare),
            "names" => Ok(Preset::Names),
            _ => Err("the presets are shakespeare and names".into()),
        }
    }
}

/// The flags: `--data FILE`, `--preset shakespeare|names` (by default
/// `names` for a file called `names.txt`, else `shakespeare`), `--gru`,
/// `--steps N`, `--context N`, `--prompt TEXT`, `--shuffle-lines
/// true|false`, `--out DIR`. Flags not given keep the preset's values.
pub fn config(a: &mut args::Args) -> Config {
    let data: PathBuf = a.value(
        "--data",
        "FILE",
        "shakespeare.txt",
        "the text: a path, or a file in examples/data/ (names.txt invents first names)",
    );
    let path = if data.exists() {
        data
    } else {
        data_path(&data.to_string_lossy())
    };
    let preset = a.optional(
        "--preset",
        "shakespeare|names",
        "names for a file called names.txt, else shakespeare",
        "the settings to start from (names: windows of 16, shuffled lines, prompt a newline)",
    );
    let named = path.file_name().is_some_and(|f| f == "names.txt");
    let mut config = match preset.unwrap_or(if named {
        Preset::Names
    } else {
        Preset::Shakespeare
    }) {
        Preset::Names => Config::names(),
        Preset::Shakespeare => Config::shakespeare(),
    };
    config.data = path;
    if a.switch("--gru", "a GRU instead of the transformer") {
        config.kind = Kind::Gru;
    }
    // The preset's own numbers unless given.
    if let Some(steps) = a.optional("--steps", "N", "600, both presets", "optimiser steps") {
        config.steps = steps;
    }
    if let Some(context) = a.optional(
        "--context",
        "N",
        "64; names: 16",
        "characters per training window (and what the sampler sees)",
    ) {
        config.context = context;
    }
    if let Some(prompt) = a.optional::<String>(
        "--prompt",
        "TEXT",
        "HAMLET. and a newline; names: a newline",
        "where the samples start; \\n is a newline (every character must occur in the text)",
    ) {
        config.prompt = prompt.replace("\\n", "\n");
    }
    if let Some(shuffle) = a.optional(
        "--shuffle-lines",
        "true|false",
        "false; names: true",
        "shuffle the lines before the 90/10 split (for sorted lists)",
    ) {
        config.shuffle_lines = shuffle;
    }
    if let Some(out) = a.optional("--out", "DIR", "target/", "where the loss plot goes") {
        config.out = Some(out);
    }
    config
}

#[allow(dead_code)]
fn main() {
    let config = args::parse(
        "char_lm",
        "a character-level language model (a small transformer, or a GRU) against a bigram baseline.",
        config,
    );
    let start = std::time::Instant::now();
    if let Err(message) = run(&config) {
        eprintln!("char_lm: {message}");
        std::process::exit(1);
    }
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
}
