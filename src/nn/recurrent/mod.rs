//! Recurrent layers: [`GruCell`] and [`LstmCell`] (one step), and [`Gru`]
//! and [`Lstm`], which unroll a stack of cells over a batch-first sequence.
//!
//! Parameters follow PyTorch's layout and names, so weights move between the
//! two unchanged: a cell holds `weight_ih` `[G*H, in]`, `weight_hh`
//! `[G*H, H]`, `bias_ih` and `bias_hh` `[G*H]`, with `G` gates stacked along
//! the rows (GRU: `r, z, n`; LSTM: `i, f, g, o`). A stacked layer names layer
//! `k`'s tensors `weight_ih_l{k}` and so on, as `nn.GRU` and `nn.LSTM` do.
//!
//! - `mod.rs`: what the cells share (init, binding, sequence plumbing, names);
//! - `gru.rs`: [`GruCell`], [`Gru`];
//! - `lstm.rs`: [`LstmCell`], [`Lstm`].

mod gru;
mod lstm;

pub use gru::{Gru, GruCell};
pub use lstm::{Lstm, LstmCell};

use super::{Param, init, with_child_name};
use crate::tape::{Tape, Var};
use crate::tensor::{Float, Tensor};
use rand::Rng;

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

/// A cell's parameters bound to a tape once, so that unrolling over `L`
/// steps records each parameter once rather than `L` times.
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

/// Checks a sequence `[N, L, in]` and returns `(N, L)`.
fn check_sequence(op: &str, x: &[usize], input: usize) -> (usize, usize) {
    if x.len() != 3 || x[2] != input {
        panic!("{op}: expects a batch-first sequence [N, L, {input}], got {x:?}");
    }
    if x[1] == 0 {
        panic!("{op}: the sequence is empty (L = 0): {x:?}");
    }
    (x[0], x[1])
}

/// Layer `k`'s initial state from a `[layers, N, H]` var, or zeros.
fn initial_states<'t, T: Float>(
    op: &str,
    what: &str,
    tape: &'t Tape<T>,
    given: Option<Var<'t, T>>,
    layers: usize,
    batch: usize,
    hidden: usize,
) -> Vec<Var<'t, T>> {
    match given {
        None => {
            let zeros = tape.constant(Tensor::zeros(&[batch, hidden]));
            vec![zeros; layers]
        }
        Some(s) => {
            let dims = s.shape();
            if dims.as_slice() != [layers, batch, hidden] {
                panic!(
                    "{op}: expects the initial {what} as [num_layers, N, H] = \
                     [{layers}, {batch}, {hidden}], got {dims:?}"
                );
            }
            if layers == 1 {
                return vec![s.reshape(&[batch, hidden])];
            }
            (0..layers)
                .map(|k| s.narrow(0, k, 1).reshape(&[batch, hidden]))
                .collect()
        }
    }
}

/// The input's share of the gates for every step, from one product over the
/// whole sequence (`[N, L, in] -> [N, L, G*H]`), cut into `L` vars
/// `[N, G*H]`.
fn input_parts<'t, T: Float>(bound: &Bound<'t, T>, x: Var<'t, T>) -> Vec<Var<'t, T>> {
    let parts = bound.input_part(x);
    let mut steps = Vec::with_capacity(x.shape()[1]);
    split_steps(parts, &mut steps);
    steps
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

/// Dropout between stacked layers, in training mode only.
fn dropout_between<'t, T: Float>(x: Var<'t, T>, p: f64) -> Var<'t, T> {
    let tape = x.tape();
    if p > 0.0 && tape.is_training() {
        x.dropout(p, &mut *tape.rng())
    } else {
        x
    }
}

/// PyTorch's names for layer `k` of a stack: `weight_ih_l{k}`, ... (a
/// parameter's name is `{n}_l{k}` for `n` in this order).
const LAYER_NAMES: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];

/// Visits one stacked layer's parameters under PyTorch's names.
fn visit_layer<'a, T: Float>(
    prefix: &str,
    k: usize,
    params: [Option<&'a Param<T>>; 4],
    f: &mut dyn FnMut(&str, &'a Param<T>),
) {
    for (n, p) in LAYER_NAMES.iter().zip(params) {
        if let Some(p) = p {
            with_child_name(prefix, format_args!("{n}_l{k}"), |name| f(name, p));
        }
    }
}

/// [`visit_layer`] with mutable access.
fn visit_layer_mut<'a, T: Float>(
    prefix: &str,
    k: usize,
    params: [Option<&'a mut Param<T>>; 4],
    f: &mut dyn FnMut(&str, &'a mut Param<T>),
) {
    for (n, p) in LAYER_NAMES.iter().zip(params) {
        if let Some(p) = p {
            with_child_name(prefix, format_args!("{n}_l{k}"), |name| f(name, p));
        }
    }
}
