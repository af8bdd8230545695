//! Masks: the comparisons that make them (`eq`, `lt`, ..., 1 where they
//! hold and 0 elsewhere), `where_`, which selects by one, and `dropout`,
//! which multiplies by a random one.
//!
//! A mask carries no gradient: comparisons are recorded without one, and
//! `where_` passes its gradient to the branch each element came from, never
//! to the mask. Each op is one section: its `Var` method, then its rules.
//! On the tape (`Tape::grad`) a comparison passes nothing back either, and
//! in forward mode its tangent is 0: a mask is piecewise constant.

use super::Op;
use super::binary::Operand;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::{Shape, broadcast_shapes};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The mask ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskOp {
    /// A comparison giving 1 where it holds and 0 elsewhere (no gradient).
    Cmp(CmpOp),
    /// `where_(cond, a, b)`: `a` where `cond != 0`, else `b`; inputs are
    /// `[cond, a, b]`, and no gradient flows to `cond`.
    Where,
}

impl MaskOp {
    /// The op's name in messages, printed tapes and profiles.
    pub fn name(self) -> &'static str {
        match self {
            MaskOp::Cmp(c) => c.name(),
            MaskOp::Where => "where",
        }
    }

    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            // Recorded without gradient, so never reached.
            MaskOp::Cmp(_) => {}
            MaskOp::Where => where_backward(ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            // A mask is a constant of the graph: nothing flows through it,
            // even when a recorded rule (maximum's) multiplies by one.
            MaskOp::Cmp(_) => {}
            MaskOp::Where => where_backward_on_tape(ctx),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            MaskOp::Cmp(_) => Tensor::zeros(ctx.output().shape()),
            MaskOp::Where => where_jvp(ctx),
        }
    }
}

impl fmt::Display for MaskOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The comparison in [`MaskOp::Cmp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
}

impl CmpOp {
    /// The comparison's name, as its method's (`lt`).
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    fn holds<T: Float>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

fn indicator<T: Float>(b: bool) -> T {
    if b { T::ONE } else { T::ZERO }
}

// ---- comparisons --------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Records comparison `c`: 1 where it holds, elementwise with
    /// broadcasting; no gradient (the result is a constant of the graph).
    fn compare(self, c: CmpOp, other: Operand<'t, T>) -> Var<'t, T> {
        let o = self.operand(other);
        self.tape
            .apply(Op::Mask(MaskOp::Cmp(c)), &[self, o], |v| {
                v[0].zip_map(v[1], c.name(), |a, b| indicator(c.holds(a, b)))
            })
            .without_grad()
    }

    /// 1 where `self == other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn eq(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Eq, other.into())
    }
    /// 1 where `self != other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn ne(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Ne, other.into())
    }
    /// 1 where `self < other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn lt(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Lt, other.into())
    }
    /// 1 where `self <= other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn le(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Le, other.into())
    }
    /// 1 where `self > other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn gt(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Gt, other.into())
    }
    /// 1 where `self >= other`, else 0. No gradient.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn ge(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        self.compare(CmpOp::Ge, other.into())
    }
}

// ---- where_ -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Mask select: where `self` (the condition) is non-zero take
    /// `on_true`, else `on_false`; all three broadcast. The gradient flows
    /// to the branch that was taken, never to the mask.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![-1.0, 2.0]);
    /// let y = x.gt(0.0).where_(x, x * 3.0); // x if x > 0, else 3x
    /// assert_eq!(y.value().to_vec(), vec![-3.0, 2.0]);
    /// assert_eq!(y.sum().backward().wrt(x).to_vec(), vec![3.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If the three shapes do not broadcast together (naming `where` and
    /// the shapes), or if the vars are on different tapes.
    pub fn where_(self, on_true: Var<'t, T>, on_false: Var<'t, T>) -> Var<'t, T> {
        self.tape.apply(
            Op::Mask(MaskOp::Where),
            &[self, on_true, on_false],
            where_forward,
        )
    }
}

/// `where_`'s forward: inputs `[cond, on_true, on_false]`, broadcast together.
fn where_forward<T: Float>(v: &[&Tensor<T>]) -> Tensor<T> {
    let (cond, x, y) = (v[0], v[1], v[2]);
    let xy = broadcast_shapes("where", x.shape(), y.shape());
    let out = broadcast_shapes("where", cond.shape(), &xy);
    let (c, x, y) = (
        cond.broadcast_to(&out),
        x.broadcast_to(&out),
        y.broadcast_to(&out),
    );
    let picked = c
        .as_slice()
        .iter()
        .zip(x.as_slice().iter().zip(y.as_slice()));
    let data = picked
        .map(|(&c, (&x, &y))| if c != T::ZERO { x } else { y })
        .collect();
    Tensor::from_vec(data, &out).expect("tapegrad bug: where output length")
}

/// `where_`'s rule: each branch gets the gradient where it was taken, 0
/// elsewhere; the mask gets none.
fn where_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let (g, cond) = (ctx.grad_out(), ctx.input(0));
    if ctx.needs(1) {
        ctx.add(
            1,
            g.zip_map(cond, "where", |g, c| if c != T::ZERO { g } else { T::ZERO }),
        );
    }
    if ctx.needs(2) {
        ctx.add(
            2,
            g.zip_map(cond, "where", |g, c| if c != T::ZERO { T::ZERO } else { g }),
        );
    }
}

/// On the tape: the same selection of the gradient, by `where_` itself
/// (linear in `g`, so it can be differentiated again); the mask is read as
/// a constant.
fn where_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (g, cond) = (ctx.grad_out(), ctx.input(0));
    let zero = ctx.constant(Tensor::scalar(T::ZERO));
    if ctx.needs(1) {
        ctx.add(1, cond.where_(g, zero));
    }
    if ctx.needs(2) {
        ctx.add(2, cond.where_(zero, g));
    }
}

/// Forward mode: each element's tangent is that of the branch it was taken
/// from (a missing tangent counts as 0).
fn where_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (ta, tb) = (ctx.tangent_or_zeros(1), ctx.tangent_or_zeros(2));
    where_forward(&[ctx.input(0), &ta, &tb])
}

// ---- dropout ------------------------------------------------------------

// No op of its own: dropout is the product of the input with a constant
// random mask, so the product's rule is its rule.
impl<'t, T: Float> Var<'t, T> {
    /// Dropout (training mode): each element is zeroed with probability `p`
    /// and the survivors are scaled by `1 / (1 - p)`, so the expected value
    /// is unchanged. The mask is drawn from `rng`, so a seeded generator
    /// gives the same mask every run.
    ///
    /// Recorded as `x * mask` with a constant mask, so the derivative is the
    /// mask (`1 / (1 - p)` where kept, 0 where dropped) through the product's
    /// own rule. `p == 0` returns `self` unchanged (no node, no draw);
    /// `p == 1` zeroes everything. Shape: unchanged.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    ///
    /// ```
    /// # use tapegrad::{Tape, Tensor};
    /// use rand::SeedableRng;
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::ones(&[1000]));
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let y = x.dropout(0.5, &mut rng).value();
    /// // survivors are scaled to 1 / (1 - 0.5) = 2
    /// assert!(y.as_slice().iter().all(|&v| v == 0.0 || v == 2.0));
    /// ```
    pub fn dropout<R: rand::Rng + ?Sized>(self, p: f64, rng: &mut R) -> Var<'t, T> {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout: p must be in [0, 1]: got {p}"
        );
        if p == 0.0 {
            return self;
        }
        let shape: Shape = self.shape();
        let scale = if p < 1.0 {
            T::from_f64(1.0 / (1.0 - p))
        } else {
            T::ZERO
        };
        // Draw in f64 so that `u < p` is exact for either element type.
        let draws = Tensor::<f64>::rand_uniform(&shape, 0.0, 1.0, rng);
        let mask = draws
            .as_slice()
            .iter()
            .map(|&u| if u < p { T::ZERO } else { scale })
            .collect();
        self * self.tape.constant(Tensor::from_parts(shape, mask))
    }
}
