//! The two products of multi-head attention, over heads kept in place in
//! `[N, L, E]` tensors (`E = H * d`, head `h` the features `h*d..(h+1)*d`):
//!
//! - `head_scores(q, k)`: `s[n, h] = q_h k_h^T`, `[N, Lq, E] x [N, Lk, E] ->
//!   [N, H, Lq, Lk]`;
//! - `head_mix(p, v)`: `o_h = p[n, h] v_h`, `[N, H, Lq, Lk] x [N, Lk, E] ->
//!   [N, Lq, E]`.
//!
//! They equal splitting the heads out with `reshape` + `permute`, a batched
//! `matmul`, and merging them back, without the copies: the kernels
//! (`tensor/heads.rs`) read each head through its row stride.
//!
//! Each op is one section: its `Var` method, its forward, then its rules:
//! backward, on the tape, forward mode. The two products close under
//! differentiation: each one's gradients are the other product (or itself)
//! of the gradient and an operand, with the weights' last two axes swapped
//! by `transpose`, so the recorded rules (for
//! [`Tape::grad`](crate::Tape::grad)) are two calls each. Both are
//! bilinear, so a tangent is the product with one operand's tangent plus
//! the product with the other's.

use super::Op;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::heads::{HeadOperand, head_products};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The attention-head products. The head count is stored as a small
/// integer, so the op stays `Copy` and small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadsOp {
    /// `head_scores`: per-head `q k^T` of `[N, L, E]` queries and keys;
    /// inputs `[q, k]`.
    HeadScores {
        /// Heads the features split into.
        heads: u32,
    },
    /// `head_mix`: per-head attention weights times values, heads merged;
    /// inputs `[p, v]`.
    HeadMix {
        /// Heads the features split into.
        heads: u32,
    },
}

impl HeadsOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            HeadsOp::HeadScores { heads } => head_scores_backward(heads as usize, ctx),
            HeadsOp::HeadMix { heads } => head_mix_backward(heads as usize, ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            HeadsOp::HeadScores { heads } => head_scores_backward_on_tape(heads as usize, ctx),
            HeadsOp::HeadMix { heads } => head_mix_backward_on_tape(heads as usize, ctx),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            HeadsOp::HeadScores { heads } => head_scores_jvp(heads as usize, ctx),
            HeadsOp::HeadMix { heads } => head_mix_jvp(heads as usize, ctx),
        }
    }
}

impl fmt::Display for HeadsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadsOp::HeadScores { heads } => write!(f, "head_scores[heads={heads}]"),
            HeadsOp::HeadMix { heads } => write!(f, "head_mix[heads={heads}]"),
        }
    }
}

/// `(n, l, e, d)` of a `[N, L, E]` operand split into `heads`.
fn merged_dims(op: &str, x: &[usize], heads: usize) -> (usize, usize, usize, usize) {
    assert!(
        x.len() == 3 && heads > 0 && x[2].is_multiple_of(heads),
        "{op}: expects [N, L, E] with E divisible into {heads} heads: got {x:?}"
    );
    (x[0], x[1], x[2], x[2] / heads)
}

// ---- head_scores --------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Attention scores of every head: `self` the queries `[N, Lq, E]`,
    /// `k` the keys `[N, Lk, E]`, `E` split into `heads` heads of `d`;
    /// `s[n, h, i, j] = sum_c q[n, i, h*d + c] k[n, j, h*d + c]`, shape
    /// `[N, H, Lq, Lk]`. The same as
    /// `q.reshape([N, Lq, H, d]).permute([0, 2, 1, 3]).matmul(k split
    /// likewise and transposed)`, without copying the heads out.
    ///
    /// Derivatives per head: `dq = g k`, `dk = g^T q`.
    ///
    /// # Panics
    /// If the operands are not `[N, L, E]` with the same `N` and `E`, or
    /// `heads` does not divide `E`.
    pub fn head_scores(self, k: Var<'t, T>, heads: usize) -> Var<'t, T> {
        let (qs, ks) = (self.shape(), k.shape());
        let (n, _, e, _) = merged_dims("head_scores", &qs, heads);
        assert!(
            ks.len() == 3 && ks[0] == n && ks[2] == e,
            "head_scores: expects q [N, Lq, E] and k [N, Lk, E]: got {qs:?} and {ks:?}"
        );
        let op = HeadsOp::HeadScores {
            heads: heads as u32,
        };
        self.tape
            .apply(Op::Heads(op), &[self, k], |v| scores(v[0], v[1], heads))
    }
}

/// `q_h k_h^T` for every sample and head: `[N, H, Lq, Lk]`.
fn scores<T: Float>(q: &Tensor<T>, k: &Tensor<T>, heads: usize) -> Tensor<T> {
    let (n, lq, e, d) = merged_dims("head_scores", q.shape(), heads);
    let lk = k.shape()[1];
    let mut out = Tensor::pooled_zeros([n, heads, lq, lk].into_iter().collect());
    let a = HeadOperand::merged(q.as_slice(), lq, e, d, false);
    let b = HeadOperand::merged(k.as_slice(), lk, e, d, true);
    head_products(out.as_mut_slice(), heads, (lq, lk, d), a, b, false);
    out
}

/// `head_scores`' rule, `s = q k^T` per head: `dq = g k`, `dk = g^T q`.
fn head_scores_backward<T: Float>(heads: usize, ctx: &mut BackwardCtx<'_, T>) {
    let (q, k, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let (_, lq, e, d) = merged_dims("head_scores", q.shape(), heads);
    let lk = k.shape()[1];
    let gs = |t| HeadOperand::split(g.as_slice(), heads, lq, lk, t);
    let dq = ctx.needs(0).then(|| {
        let mut dq = Tensor::pooled_zeros(q.shape().into());
        let b = HeadOperand::merged(k.as_slice(), lk, e, d, false);
        head_products(dq.as_mut_slice(), heads, (lq, d, lk), gs(false), b, true);
        dq
    });
    let dk = ctx.needs(1).then(|| {
        let mut dk = Tensor::pooled_zeros(k.shape().into());
        let b = HeadOperand::merged(q.as_slice(), lq, e, d, false);
        head_products(dk.as_mut_slice(), heads, (lk, d, lq), gs(true), b, true);
        dk
    });
    if let Some(dq) = dq {
        ctx.add(0, dq);
    }
    if let Some(dk) = dk {
        ctx.add(1, dk);
    }
}

/// On the tape: `dq = head_mix(g, k)` and `dk = head_mix(g^T, q)`, `g^T`
/// the scores' gradient with its last two axes swapped.
fn head_scores_backward_on_tape<T: Float>(heads: usize, ctx: &mut GraphCtx<'_, '_, T>) {
    let (q, k, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        ctx.add(0, g.head_mix(k, heads));
    }
    if ctx.needs(1) {
        ctx.add(1, g.transpose(-1, -2).head_mix(q, heads));
    }
}

/// Forward mode: `ds = scores(dq, k) + scores(q, dk)`.
fn head_scores_jvp<T: Float>(heads: usize, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (q, k) = (ctx.input(0), ctx.input(1));
    bilinear_jvp(ctx, |a, b| scores(a.unwrap_or(q), b.unwrap_or(k), heads))
}

// ---- head_mix -----------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The heads' weighted values, merged: `self` the weights
    /// `[N, H, Lq, Lk]`, `v` the values `[N, Lk, E]` (`E = H * d`);
    /// `o[n, i, h*d + c] = sum_j p[n, h, i, j] v[n, j, h*d + c]`, shape
    /// `[N, Lq, E]`. The same as a batched `matmul` with the values' heads
    /// split out, then the result's heads merged back, without the copies.
    ///
    /// Derivatives per head: `dp = g v^T`, `dv = p^T g`.
    ///
    /// # Panics
    /// If `v` is not `[N, Lk, E]` with `E` divisible into `heads`, or the
    /// weights are not `[N, heads, Lq, Lk]`.
    pub fn head_mix(self, v: Var<'t, T>, heads: usize) -> Var<'t, T> {
        let (ps, vs) = (self.shape(), v.shape());
        let (n, lk, _, _) = merged_dims("head_mix", &vs, heads);
        assert!(
            ps.len() == 4 && ps[0] == n && ps[1] == heads && ps[3] == lk,
            "head_mix: expects weights [{n}, {heads}, Lq, {lk}] for values {vs:?}: got {ps:?}"
        );
        let op = HeadsOp::HeadMix {
            heads: heads as u32,
        };
        self.tape
            .apply(Op::Heads(op), &[self, v], |x| mix(x[0], x[1], heads))
    }
}

/// `p[n, h] v_h` for every sample and head, heads merged: `[N, Lq, E]`.
fn mix<T: Float>(p: &Tensor<T>, v: &Tensor<T>, heads: usize) -> Tensor<T> {
    let (n, lk, e, d) = merged_dims("head_mix", v.shape(), heads);
    let lq = p.shape()[2];
    let mut out = Tensor::pooled_zeros([n, lq, e].into_iter().collect());
    let a = HeadOperand::split(p.as_slice(), heads, lq, lk, false);
    let b = HeadOperand::merged(v.as_slice(), lk, e, d, false);
    head_products(out.as_mut_slice(), heads, (lq, d, lk), a, b, true);
    out
}

/// `head_mix`'s rule, `o = p v` per head: `dp = g v^T`, `dv = p^T g`.
fn head_mix_backward<T: Float>(heads: usize, ctx: &mut BackwardCtx<'_, T>) {
    let (p, v, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let (_, lk, e, d) = merged_dims("head_mix", v.shape(), heads);
    let lq = p.shape()[2];
    let gm = HeadOperand::merged(g.as_slice(), lq, e, d, false);
    let dp = ctx.needs(0).then(|| {
        let mut dp = Tensor::pooled_zeros(p.shape().into());
        let b = HeadOperand::merged(v.as_slice(), lk, e, d, true);
        head_products(dp.as_mut_slice(), heads, (lq, lk, d), gm, b, false);
        dp
    });
    let dv = ctx.needs(1).then(|| {
        let mut dv = Tensor::pooled_zeros(v.shape().into());
        let a = HeadOperand::split(p.as_slice(), heads, lq, lk, true);
        head_products(dv.as_mut_slice(), heads, (lk, d, lq), a, gm, true);
        dv
    });
    if let Some(dp) = dp {
        ctx.add(0, dp);
    }
    if let Some(dv) = dv {
        ctx.add(1, dv);
    }
}

/// On the tape: `dp = head_scores(g, v)` and `dv = head_mix(p^T, g)`.
fn head_mix_backward_on_tape<T: Float>(heads: usize, ctx: &mut GraphCtx<'_, '_, T>) {
    let (p, v, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        ctx.add(0, g.head_scores(v, heads));
    }
    if ctx.needs(1) {
        ctx.add(1, p.transpose(-1, -2).head_mix(g, heads));
    }
}

/// Forward mode: `do = mix(dp, v) + mix(p, dv)`.
fn head_mix_jvp<T: Float>(heads: usize, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (p, v) = (ctx.input(0), ctx.input(1));
    bilinear_jvp(ctx, |a, b| mix(a.unwrap_or(p), b.unwrap_or(v), heads))
}

/// The tangent of a bilinear `f(a, b)`: `f(da, b) + f(a, db)`, the terms
/// whose tangent is zero skipped. `f(Some(da), None)` stands for
/// `f(da, b)` and `f(None, Some(db))` for `f(a, db)`.
fn bilinear_jvp<'a, T: Float>(
    ctx: &JvpCtx<'a, T>,
    f: impl Fn(Option<&'a Tensor<T>>, Option<&'a Tensor<T>>) -> Tensor<T>,
) -> Tensor<T> {
    match (ctx.tangent(0), ctx.tangent(1)) {
        (Some(ta), Some(tb)) => &f(Some(ta), None) + &f(None, Some(tb)),
        (Some(ta), None) => f(Some(ta), None),
        (None, Some(tb)) => f(None, Some(tb)),
        (None, None) => Tensor::zeros(ctx.output().shape()),
    }
}
