//! Gradient checkpointing (`Tape::checkpoint`, `Var::checkpoint`): the same
//! values and gradients, bit for bit, as the same code unchecked, on a
//! stack of transformer blocks and on inputs used inside and outside a
//! block; second derivatives and forward mode through a block; a rerun
//! that draws the dropout masks of its forward; the memory estimate
//! (`Tape::memory_report`) against sizes counted by hand; and the memory
//! budget's choice of blocks.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::nn::{Forward, TransformerBlock};
use tapegrad::{Module, Tape, Tensor, Var, tensor};

const EMBED: usize = 16;
const LEN: usize = 6;

fn blocks(n: usize, dropout: f64) -> Vec<TransformerBlock<f32>> {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    (0..n)
        .map(|_| {
            TransformerBlock::new(EMBED, 4, &mut rng)
                .causal(true)
                .dropout(dropout)
        })
        .collect()
}

fn input() -> Tensor<f32> {
    let values = (0..2 * LEN * EMBED)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    Tensor::from_vec(values, &[2, LEN, EMBED]).unwrap()
}

/// Every gradient of a run: the input's, then each block's parameters'.
fn gradients(
    tape: &Tape<f32>,
    stack: &[TransformerBlock<f32>],
    checkpointed: bool,
) -> Vec<Vec<f32>> {
    let x = tape.var(input());
    let mut h = x;
    for block in stack {
        h = if checkpointed {
            let inner = block.clone();
            h.checkpoint(move |v| inner.forward(v))
        } else {
            block.forward(h)
        };
    }
    let loss = h.square().mean();
    let grads = loss.backward();
    let mut out = vec![grads.wrt(x).to_vec()];
    for block in stack {
        for p in block.parameters() {
            out.push(grads.of(p).to_vec());
        }
    }
    out
}

#[test]
fn a_checkpointed_transformer_gives_the_same_gradients_bit_for_bit() {
    let stack = blocks(3, 0.0);
    let plain = gradients(&Tape::new(), &stack, false);
    let tape = Tape::new();
    let checkpointed = gradients(&tape, &stack, true);
    // Each block is one node: the input, three blocks, the square and the mean.
    assert_eq!(tape.len(), 6);
    assert_eq!(plain.len(), checkpointed.len());
    for (k, (a, b)) in plain.iter().zip(&checkpointed).enumerate() {
        let (a, b): (Vec<u32>, Vec<u32>) = (
            a.iter().map(|v| v.to_bits()).collect(),
            b.iter().map(|v| v.to_bits()).collect(),
        );
        assert_eq!(a, b, "gradient {k} differs");
    }
}

#[test]
fn inputs_used_inside_and_outside_a_block_are_summed_in_the_same_order() {
    // x feeds the block twice (two arguments, and twice inside) and the
    // rest of the program twice: four contributions to its gradient.
    fn program<'t>(tape: &'t Tape<f32>, checkpointed: bool) -> (Var<'t, f32>, Var<'t, f32>) {
        let x = tape.var(tensor![0.3f32, -1.7, 2.9, 0.11]);
        let w = tape.var(tensor![1.3f32, 0.7, -0.2, 5.0]);
        let before = x.sin();
        fn block<'s>(v: &[Var<'s, f32>]) -> Var<'s, f32> {
            (v[0] * v[1]).exp() + v[0].cos() * v[2]
        }
        let y = if checkpointed {
            tape.checkpoint(&[x, x, w], block)
        } else {
            block(&[x, x, w])
        };
        ((y * before + x.square()).sum(), x)
    }
    let tape = Tape::new();
    let (loss, x) = program(&tape, false);
    let plain = loss.backward().wrt(x).clone();
    let tape = Tape::new();
    let (loss, x) = program(&tape, true);
    let checkpointed = loss.backward().wrt(x).clone();
    let bits = |t: &Tensor<f32>| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&plain), bits(&checkpointed));
}

#[test]
fn a_block_can_be_differentiated_twice_and_pushed_forward() {
    fn f<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        let tape = v[0].tape();
        let y = tape.checkpoint(&[v[0], v[1]], |u| (u[0] * u[1]).tanh() * u[0]);
        (y.exp() + v[1]).sum()
    }
    let inputs = [tensor![0.4, -0.9, 1.2], tensor![0.8, 0.3, -0.5]];
    gradgradcheck(f, &inputs).unwrap();
    jvpcheck(f, &inputs).unwrap();
    // The second derivative by hand: y = x³ inside a block, y'' = 6x.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.5));
    let y = x.checkpoint(|x| x * x * x);
    let dy = tape.grad(y, &[x])[0];
    let d2y = tape.grad(dy, &[x])[0];
    assert_eq!((dy.item(), d2y.item()), (3.0 * 1.5 * 1.5, 6.0 * 1.5));
}

#[test]
fn the_rerun_draws_the_dropout_masks_of_the_forward() {
    // Kept (a budget large enough: no rerun) against dropped (rerun): the
    // same gradients only if the rerun drew the same masks.
    let stack = blocks(2, 0.3);
    let kept_tape = Tape::new();
    kept_tape.set_memory_budget(Some(usize::MAX / 2));
    let kept = gradients(&kept_tape, &stack, true);
    let rerun = gradients(&Tape::new(), &stack, true);
    assert_eq!(kept, rerun);
    // And dropout is on: without it, the gradients differ.
    let no_dropout = gradients(&Tape::new(), &blocks(2, 0.0), true);
    assert_ne!(kept[0], no_dropout[0]);
}

#[test]
fn the_memory_report_counts_values_and_the_sweep_by_hand() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[100]));
    let y = x.exp();
    let z = (y * x).sum();
    let report = tape.memory_report(z);
    // x, exp(x), their product: 400 bytes each; the 0-d sum is inline.
    assert_eq!(report.values, 1200);
    // The sweep: at `mul`, the gradient of the product (400) and the two
    // it creates, for exp(x) and x (400 + 400); at `exp`, its gradient,
    // x's so far and the one it adds to it: 1200 at once, the most. (z's
    // gradient, 4 bytes, is freed before `mul`'s rule runs; at x, its
    // gradient alone is handed out.)
    assert_eq!(report.backward_peak, 1200 + 1200);
    assert_eq!((report.checkpoints, report.recomputed), (0, 0));

    // The same program with exp(x) * x in a block: its inside (exp(x),
    // 400 bytes, and the product computed again) is not held.
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[100]));
    let z = x.checkpoint(|x| x.exp() * x).sum();
    let report = tape.memory_report(z);
    assert_eq!(report.values, 800);
    assert_eq!(
        (report.checkpoints, report.recomputed, report.saved),
        (1, 1, 400)
    );
}

#[test]
fn a_budget_keeps_the_first_blocks_and_recomputes_the_rest() {
    let stack = blocks(6, 0.0);
    let plain = gradients(&Tape::new(), &stack, false);
    // What each way holds: everything checkpointed, nothing checkpointed.
    let all = Tape::new();
    let low = peak(&all, &stack);
    let none = Tape::new();
    none.set_memory_budget(Some(usize::MAX / 2));
    let high = peak(&none, &stack);
    assert!(low.backward_peak < high.backward_peak, "{low:?} {high:?}");
    assert_eq!((low.recomputed, high.recomputed), (6, 0));
    // A budget half-way: some blocks kept, some recomputed, within it.
    let budget = (low.backward_peak + high.backward_peak) / 2;
    let mut tape = Tape::new();
    tape.set_memory_budget(Some(budget));
    let mid = peak(&tape, &stack);
    assert!(mid.recomputed > 0 && mid.recomputed < 6, "{mid:?}");
    assert!(mid.backward_peak <= budget, "{mid:?} over {budget}");
    // The gradients stay the same whichever blocks were kept.
    tape.reset();
    assert_eq!(gradients(&tape, &stack, true), plain);

    fn peak(tape: &Tape<f32>, stack: &[TransformerBlock<f32>]) -> tapegrad::tape::MemoryReport {
        let mut h = tape.var(input());
        for block in stack {
            let inner = block.clone();
            h = h.checkpoint(move |v| inner.forward(v));
        }
        tape.memory_report(h.square().mean())
    }
}

#[test]
#[should_panic(expected = "tape.checkpoint: the block returned a var of another tape")]
fn a_block_that_returns_a_var_of_another_tape_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0]);
    let _ = x.checkpoint(|_| {
        let other: &'static Tape<f64> = Box::leak(Box::new(Tape::new()));
        other.var(tensor![2.0])
    });
}
