//! Recurrent layers: [`GruCell`] and [`LstmCell`] (one step), and [`Gru`]
//! and [`Lstm`], which unroll a stack of cells over a batch-first sequence.
//!
//! Both stacks are one type, [`RecurrentStack`], over the cell trait
//! [`RecurrentCell`]: the stack owns what GRU and LSTM share (the layers,
//! dropout between them, the sequence and initial-state checks, the layer
//! loop, the parameter names), and the cell owns its step and the shape
//! of its [`RecurrentState`] (`h`, or `(h, c)`). A cell of your own gets
//! the same stack by implementing the trait.
//!
//! Parameters follow PyTorch's layout and names, so weights move between the
//! two unchanged: a cell holds `weight_ih` `[G*H, in]`, `weight_hh`
//! `[G*H, H]`, `bias_ih` and `bias_hh` `[G*H]`, with `G` gates stacked along
//! the rows (GRU: `r, z, n`; LSTM: `i, f, g, o`). A stack names layer
//! `k`'s tensors `weight_ih_l{k}` and so on, as `nn.GRU` and `nn.LSTM` do.
//!
//! - `mod.rs`: what the gated cells share (init, binding, sequence plumbing);
//! - `cell.rs`: [`RecurrentCell`], [`RecurrentState`];
//! - `stack.rs`: [`RecurrentStack`];
//! - `gru.rs`: [`GruCell`], [`Gru`];
//! - `lstm.rs`: [`LstmCell`], [`Lstm`].

mod cell;
mod gru;
mod lstm;
mod stack;

pub use cell::{RecurrentCell, RecurrentState};
pub use gru::{Gru, GruCell};
pub use lstm::{Lstm, LstmCell};
pub use stack::RecurrentStack;

use super::{Param, init};
use crate::tape::{Tape, Var};
use crate::tensor::Float;
use rand::Rng;
use smallvec::SmallVec;

/// The four tensors of a cell with `gates` gates, drawn as PyTorch draws
/// them: every one from `U(-1/sqrt(H), 1/sqrt(H))`.
fn cell_params<T: Float, R: Rng + ?Sized>(
    input_size: usize,
    hidden_size: usize,
    gates: usize,
    rng: &mut R,
) -> [Param<T>; 4] {
    let k = 1.0 / (hidden_size.max(1) as f64).sqrt();
    let rows = gates * hidden_size;
    [
        Param::new("weight_ih", init::uniform(&[rows, input_size], -k, k, rng)),
        Param::new("weight_hh", init::uniform(&[rows, hidden_size], -k, k, rng)),
        Param::new("bias_ih", init::uniform(&[rows], -k, k, rng)),
        Param::new("bias_hh", init::uniform(&[rows], -k, k, rng)),
    ]
}

/// A gated cell's parameters bound to a tape once, so that unrolling over
/// `L` steps records each parameter once rather than `L` times.
#[derive(Clone, Copy)]
struct Bound<'t, T: Float> {
    w_ih: Var<'t, T>,
    w_hh: Var<'t, T>,
    b_ih: Option<Var<'t, T>>,
    b_hh: Option<Var<'t, T>>,
}

impl<'t, T: Float> Bound<'t, T> {
    fn new(
        tape: &'t Tape<T>,
        w_ih: &Param<T>,
        w_hh: &Param<T>,
        b_ih: &Option<Param<T>>,
        b_hh: &Option<Param<T>>,
    ) -> Self {
        Bound {
            w_ih: tape.param(w_ih),
            w_hh: tape.param(w_hh),
            b_ih: b_ih.as_ref().map(|p| tape.param(p)),
            b_hh: b_hh.as_ref().map(|p| tape.param(p)),
        }
    }

    /// `x W_ih^T + b_ih`: the input's share of every gate.
    fn input_part(&self, x: Var<'t, T>) -> Var<'t, T> {
        x.linear(self.w_ih, self.b_ih)
    }

    /// `h W_hh^T + b_hh`: the state's share of every gate.
    fn hidden_part(&self, h: Var<'t, T>) -> Var<'t, T> {
        h.linear(self.w_hh, self.b_hh)
    }

    /// One step of a gated cell: `update(gi, gh, state)` with the two gate
    /// pre-activations `gi = W_i x + b_i` and `gh = W_h h + b_h`, after
    /// checking `x` and the state against the cell's sizes (the panic
    /// names `op`).
    fn step<S: RecurrentState<'t, T>>(
        &self,
        op: &str,
        (input, hidden): (usize, usize),
        x: Var<'t, T>,
        state: S,
        update: impl FnOnce(Var<'t, T>, Var<'t, T>, S) -> S,
    ) -> S {
        // At most two parts in the crate's cells: no heap for the check.
        let shapes: SmallVec<[_; 2]> = (0..S::PARTS.len()).map(|i| state.part(i).shape()).collect();
        let named: SmallVec<[(&str, &[usize]); 2]> = S::PARTS
            .iter()
            .zip(&shapes)
            .map(|((name, _), s)| (*name, s.as_slice()))
            .collect();
        check_step(op, &x.shape(), &named, input, hidden);
        update(self.input_part(x), self.hidden_part(state.output()), state)
    }

    /// A gated cell over the sequence `x [N, L, in]`: the input's share of
    /// the gates for all `L` steps comes from one product before the loop
    /// (`[N, L, in] -> [N, L, G*H]`), so only `W_h h + b_h` runs per step.
    fn unroll<S: RecurrentState<'t, T>>(
        &self,
        x: Var<'t, T>,
        state: S,
        update: impl Fn(Var<'t, T>, Var<'t, T>, S) -> S,
    ) -> (Var<'t, T>, S) {
        let mut steps = Vec::with_capacity(x.shape()[1]);
        split_steps(self.input_part(x), &mut steps);
        run_steps(steps, state, |gi, s| {
            update(gi, self.hidden_part(s.output()), s)
        })
    }
}

/// Checks a cell step's operands: `x [.., in]` and a state `[.., H]` with
/// the same leading axes.
fn check_step(op: &str, x: &[usize], state: &[(&str, &[usize])], input: usize, hidden: usize) {
    let lead = &x[..x.len().saturating_sub(1)];
    let ok = x.last() == Some(&input)
        && state
            .iter()
            .all(|(_, s)| s.last() == Some(&hidden) && &s[..s.len() - 1] == lead);
    if !ok {
        let got: Vec<String> = state.iter().map(|(n, s)| format!("{n} {s:?}")).collect();
        let want: Vec<String> = state
            .iter()
            .map(|(n, _)| format!("{n} [.., {hidden}]"))
            .collect();
        panic!(
            "{op}: expects x [.., {input}] and {} with the same leading axes, got x {x:?} and {}",
            want.join(" and "),
            got.join(" and ")
        );
    }
}

/// Runs `step` over the inputs in order from `state`; returns the outputs
/// `h` stacked along axis 1 (`L` vars `[N, H]` -> `[N, L, H]`) and the
/// last state.
fn run_steps<'t, T: Float, S: RecurrentState<'t, T>>(
    inputs: Vec<Var<'t, T>>,
    mut state: S,
    mut step: impl FnMut(Var<'t, T>, S) -> S,
) -> (Var<'t, T>, S) {
    let mut outputs = Vec::with_capacity(inputs.len());
    for x in inputs {
        state = step(x, state);
        outputs.push(state.output());
    }
    (Var::stack(&outputs, 1), state)
}

/// Cuts `x [N, L, W]` into `L` vars `[N, W]`, in order.
///
/// It halves recursively rather than narrowing once per step: the gradient
/// of a narrow is padded back to its input's full size, so `L` narrows of
/// the whole sequence would cost `O(L^2)` in the backward pass, while
/// halving costs `O(L log L)`.
fn split_steps<'t, T: Float>(x: Var<'t, T>, out: &mut Vec<Var<'t, T>>) {
    let dims = x.shape();
    let (n, l, w) = (dims[0], dims[1], dims[2]);
    if l == 1 {
        out.push(x.reshape(&[n, w]));
    } else {
        let half = l / 2;
        split_steps(x.narrow(1, 0, half), out);
        split_steps(x.narrow(1, half, l - half), out);
    }
}
