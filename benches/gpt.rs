//! W6: one training step of a character transformer: vocabulary 65,
//! context 64, batch 32, embedding 128, 2 pre-norm blocks of 4 causal
//! heads with a 4x MLP (GELU, tanh form), a final LayerNorm and an untied
//! head without bias; mean next-token cross-entropy; backward; AdamW
//! (lr 3e-4, weight decay 0.01). ms per step. Same definition as the
//! peers' `gpt_step` (`../shared/peers/py/bench_torch.py`, explicit
//! attention), with weights as `make_data.py` draws them (`N(0, 0.02)`,
//! zero biases, unit norms) or reads them with `PEER_DATA`.
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench --bench gpt` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench gpt`.

mod common;

use common::{Init, Inputs};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tapegrad::nn::{Embedding, Forward, LayerNorm, Linear, TransformerBlock};
use tapegrad::ops::GeluApprox;
use tapegrad::optim::AdamW;
use tapegrad::{Module, Param, Tape, Var, train};

const VOCAB: usize = 65;
const CTX: usize = 64;
const BATCH: usize = 32;
const EMBED: usize = 128;
const LAYERS: usize = 2;
const HEADS: usize = 4;

#[derive(Module)]
struct Gpt {
    tok: Embedding<f32>,
    pos: Param<f32>,
    blocks: Vec<TransformerBlock<f32>>,
    ln_f: LayerNorm<f32>,
    head: Linear<f32>,
}

impl Gpt {
    /// The model with every weight from `inputs`, named as `make_data.py`.
    fn new(inputs: &mut Inputs) -> Self {
        let mut rng = rand::SeedableRng::seed_from_u64(0);
        let rng: &mut rand::rngs::StdRng = &mut rng;
        let mut model = Gpt {
            tok: Embedding::new(VOCAB, EMBED, rng),
            pos: Param::new("pos", tapegrad::Tensor::zeros(&[CTX, EMBED])),
            blocks: (0..LAYERS)
                .map(|_| {
                    TransformerBlock::new(EMBED, HEADS, rng)
                        .causal(true)
                        .gelu(GeluApprox::Tanh)
                })
                .collect(),
            ln_f: LayerNorm::new(&[EMBED]),
            head: Linear::new(EMBED, VOCAB, rng).without_bias(),
        };
        // Overwrite the default init in make_data.py's order of draws.
        let (d, small) = (EMBED, Init::Normal(0.02));
        let mut set = |model: &mut Gpt, ours: &str, theirs: &str, dims: &[usize], how: Init| {
            let value = inputs.f32(theirs, dims, how);
            *model
                .param_by_name_mut(ours)
                .unwrap_or_else(|| panic!("no parameter {ours}"))
                .value_mut() = value;
        };
        set(&mut model, "tok.weight", "gpt_tok", &[VOCAB, d], small);
        set(&mut model, "pos", "gpt_pos", &[CTX, d], small);
        for l in 0..LAYERS {
            let (o, t) = (format!("blocks.{l}."), format!("gpt_h{l}_"));
            let parts: [(&str, &str, [usize; 2], Init); 12] = [
                ("ln1.weight", "ln1_w", [d, 0], Init::Ones),
                ("ln1.bias", "ln1_b", [d, 0], Init::Zeros),
                ("attn.in_proj_weight", "qkv_w", [3 * d, d], small),
                ("attn.in_proj_bias", "qkv_b", [3 * d, 0], Init::Zeros),
                ("attn.out_proj.weight", "proj_w", [d, d], small),
                ("attn.out_proj.bias", "proj_b", [d, 0], Init::Zeros),
                ("ln2.weight", "ln2_w", [d, 0], Init::Ones),
                ("ln2.bias", "ln2_b", [d, 0], Init::Zeros),
                ("fc1.weight", "fc_w", [4 * d, d], small),
                ("fc1.bias", "fc_b", [4 * d, 0], Init::Zeros),
                ("fc2.weight", "fc2_w", [d, 4 * d], small),
                ("fc2.bias", "fc2_b", [d, 0], Init::Zeros),
            ];
            for (ours, theirs, dims, how) in parts {
                let dims: &[usize] = if dims[1] == 0 { &dims[..1] } else { &dims };
                set(
                    &mut model,
                    &(o.clone() + ours),
                    &(t.clone() + theirs),
                    dims,
                    how,
                );
            }
        }
        set(&mut model, "ln_f.weight", "gpt_lnf_w", &[d], Init::Ones);
        set(&mut model, "ln_f.bias", "gpt_lnf_b", &[d], Init::Zeros);
        set(&mut model, "head.weight", "gpt_head_w", &[VOCAB, d], small);
        model
    }

    /// Mean next-token cross-entropy of `ids` (`[BATCH, CTX]`) against `targets`.
    fn loss<'t>(&self, tape: &'t Tape<f32>, ids: &[usize], targets: &[usize]) -> Var<'t, f32> {
        let mut x = self.tok.forward_indices(tape, ids, &[BATCH, CTX]) + tape.param(&self.pos);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let logits = self.head.forward(self.ln_f.forward(x));
        logits.reshape(&[BATCH * CTX, VOCAB]).cross_entropy(targets)
    }
}

/// One step through [`train::step`] (the tape, reused, is reset before the
/// update, so the update writes in place); returns the loss before the
/// update.
fn step(
    tape: &mut Tape<f32>,
    model: &mut Gpt,
    ids: &[usize],
    targets: &[usize],
    opt: &mut AdamW<f32>,
) -> f32 {
    let tape = &*tape;
    train::step(model, opt, |model| model.loss(tape, ids, targets))
}

fn gpt_step(c: &mut Criterion) {
    let mut inputs = Inputs::new(1234);
    let mut model = Gpt::new(&mut inputs);
    // Rows of CTX + 1 tokens: inputs are the first CTX, targets the last CTX.
    let tokens = inputs.labels("gpt_tokens", &[BATCH, CTX + 1], VOCAB);
    let (mut ids, mut targets) = (Vec::new(), Vec::new());
    for row in tokens.chunks(CTX + 1) {
        ids.extend_from_slice(&row[..CTX]);
        targets.extend_from_slice(&row[1..]);
    }
    let mut opt = AdamW::new(3e-4).weight_decay(0.01);
    let mut tape = Tape::new();
    let loss0 = step(&mut tape, &mut model, &ids, &targets, &mut opt);
    eprintln!("check: W6 loss0 = {loss0}");
    common::profile_steps("W6", &mut tape, |t| {
        step(t, &mut model, &ids, &targets, &mut opt);
    });

    let mut group = c.benchmark_group("gpt");
    group.sample_size(10);
    group.bench_function("step_v65_ctx64_b32_e128_l2_h4", |b| {
        b.iter(|| black_box(step(&mut tape, &mut model, &ids, &targets, &mut opt)))
    });
    group.finish();
}

criterion_group!(benches, gpt_step);
criterion_main!(benches);
