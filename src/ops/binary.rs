//! Elementwise ops of two vars (with NumPy broadcasting), comparisons, and
//! the mask select `where_`. The operators `+ - * /` between vars and with
//! scalars on either side are defined here as well.
//!
//! Rules compute gradients at the broadcast output shape; the tape sums each
//! back to its input's shape, so no rule here mentions broadcasting.

use super::Op;
use super::unary::UnaryOp;
use crate::tape::{BackwardCtx, Var};
use crate::tensor::shape::broadcast_shapes;
use crate::tensor::{Float, Tensor};
use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The elementwise binary ops (and `Where`, which takes three inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
    /// `max(a, b)`
    Maximum,
    /// `min(a, b)`
    Minimum,
    /// A comparison giving 1 where it holds and 0 elsewhere (no gradient).
    Cmp(CmpOp),
    /// `where_(cond, a, b)`: `a` where `cond != 0`, else `b`; inputs are
    /// `[cond, a, b]`, and no gradient flows to `cond`.
    Where,
}

/// The comparison in [`BinaryOp::Cmp`].
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

impl BinaryOp {
    /// The op's name in messages and printed tapes.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Cmp(CmpOp::Eq) => "eq",
            BinaryOp::Cmp(CmpOp::Ne) => "ne",
            BinaryOp::Cmp(CmpOp::Lt) => "lt",
            BinaryOp::Cmp(CmpOp::Le) => "le",
            BinaryOp::Cmp(CmpOp::Gt) => "gt",
            BinaryOp::Cmp(CmpOp::Ge) => "ge",
            BinaryOp::Where => "where",
        }
    }

    /// Computes the op on two tensors (three for `Where`), broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn forward<T: Float>(self, v: &[&Tensor<T>]) -> Tensor<T> {
        let (a, b, name) = (v[0], v[1], self.name());
        match self {
            BinaryOp::Add => a.zip_map(b, name, |a, b| a + b),
            BinaryOp::Sub => a.zip_map(b, name, |a, b| a - b),
            BinaryOp::Mul => a.zip_map(b, name, |a, b| a * b),
            BinaryOp::Div => a.zip_map(b, name, |a, b| a / b),
            BinaryOp::Pow => a.zip_map(b, name, |a, b| a.powf(b)),
            BinaryOp::Maximum => a.zip_map(b, name, |a, b| if b > a { b } else { a }),
            BinaryOp::Minimum => a.zip_map(b, name, |a, b| if b < a { b } else { a }),
            BinaryOp::Cmp(c) => a.zip_map(b, name, |a, b| indicator(c.holds(a, b))),
            BinaryOp::Where => {
                let (cond, x, y) = (v[0], v[1], v[2]);
                let xy = broadcast_shapes(name, x.shape(), y.shape());
                let out = broadcast_shapes(name, cond.shape(), &xy);
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
        }
    }

    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        let g = ctx.grad_out();
        match self {
            BinaryOp::Add => {
                ctx.add(0, g.clone());
                ctx.add(1, g.clone());
            }
            BinaryOp::Sub => {
                ctx.add(0, g.clone());
                if ctx.needs(1) {
                    ctx.add(1, -g);
                }
            }
            BinaryOp::Mul => {
                let (a, b) = (ctx.input(0), ctx.input(1));
                if ctx.needs(0) {
                    ctx.add(0, g * b);
                }
                if ctx.needs(1) {
                    ctx.add(1, g * a);
                }
            }
            BinaryOp::Div => {
                // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -out/b
                let (b, out) = (ctx.input(1), ctx.output());
                if ctx.needs(0) {
                    ctx.add(0, g / b);
                }
                if ctx.needs(1) {
                    ctx.add(1, &(g * out) / &(-b));
                }
            }
            BinaryOp::Pow => {
                // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b ln a
                let (a, b, out) = (ctx.input(0), ctx.input(1), ctx.output());
                if ctx.needs(0) {
                    let d = a.zip_map(b, "pow", |a, b| b * a.powf(b - T::ONE));
                    ctx.add(0, g * &d);
                }
                if ctx.needs(1) {
                    let d = out.zip_map(a, "pow", |y, a| y * a.ln());
                    ctx.add(1, g * &d);
                }
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                // The gradient goes to the chosen input; ties split it evenly
                // (as PyTorch).
                let (a, b) = (ctx.input(0), ctx.input(1));
                let wins = |x: T, y: T| {
                    let beats = if self == BinaryOp::Maximum {
                        x > y
                    } else {
                        x < y
                    };
                    if beats {
                        T::ONE
                    } else if x == y {
                        T::from_f64(0.5)
                    } else {
                        T::ZERO
                    }
                };
                if ctx.needs(0) {
                    ctx.add(0, g * &a.zip_map(b, self.name(), wins));
                }
                if ctx.needs(1) {
                    ctx.add(1, g * &b.zip_map(a, self.name(), wins));
                }
            }
            BinaryOp::Cmp(_) => {}
            BinaryOp::Where => {
                let cond = ctx.input(0);
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
        }
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The second operand of [`Var::pow`], [`Var::maximum`] and
/// [`Var::minimum`]: another var or a plain number.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'t, T: Float> {
    /// A var on the same tape.
    Var(Var<'t, T>),
    /// A constant.
    Scalar(f64),
}

impl<'t, T: Float> From<Var<'t, T>> for Operand<'t, T> {
    fn from(v: Var<'t, T>) -> Self {
        Operand::Var(v)
    }
}
impl<T: Float> From<f64> for Operand<'_, T> {
    fn from(s: f64) -> Self {
        Operand::Scalar(s)
    }
}
impl<T: Float> From<f32> for Operand<'_, T> {
    fn from(s: f32) -> Self {
        Operand::Scalar(s as f64)
    }
}

impl<'t, T: Float> Var<'t, T> {
    pub(crate) fn binary(self, op: BinaryOp, other: Var<'t, T>) -> Var<'t, T> {
        self.tape
            .apply(Op::Binary(op), &[self, other], |v| op.forward(v))
    }

    fn operand(self, o: Operand<'t, T>) -> Var<'t, T> {
        match o {
            Operand::Var(v) => v,
            Operand::Scalar(s) => self.tape.constant(Tensor::scalar(T::from_f64(s))),
        }
    }

    /// `self ^ e` for a var or a constant exponent.
    ///
    /// Derivatives: `d/da a^b = b a^(b-1)`, `d/db a^b = a^b ln a` (NaN for
    /// `a <= 0`, as in PyTorch). A constant exponent records the cheaper
    /// scalar op.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn pow(self, e: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        match e.into() {
            Operand::Scalar(p) => self.powf(p),
            Operand::Var(e) => self.binary(BinaryOp::Pow, e),
        }
    }

    /// Elementwise maximum. The gradient goes to the larger input; ties
    /// share it evenly.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn maximum(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        let o = self.operand(other.into());
        self.binary(BinaryOp::Maximum, o)
    }

    /// Elementwise minimum. The gradient goes to the smaller input; ties
    /// share it evenly.
    ///
    /// # Panics
    /// If the shapes do not broadcast (the message names the op and both
    /// shapes), or if the vars are on two different tapes.
    pub fn minimum(self, other: impl Into<Operand<'t, T>>) -> Var<'t, T> {
        let o = self.operand(other.into());
        self.binary(BinaryOp::Minimum, o)
    }

    fn compare(self, c: CmpOp, other: Operand<'t, T>) -> Var<'t, T> {
        let o = self.operand(other);
        self.binary(BinaryOp::Cmp(c), o).without_grad()
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
            Op::Binary(BinaryOp::Where),
            &[self, on_true, on_false],
            |v| BinaryOp::Where.forward(v),
        )
    }
}

macro_rules! var_operator {
    ($trait:ident, $method:ident, $op:ident, $scalar_rhs:expr, $scalar_lhs:expr) => {
        impl<'t, T: Float> $trait<Var<'t, T>> for Var<'t, T> {
            type Output = Var<'t, T>;
            /// The elementwise op, with NumPy broadcasting.
            ///
            /// # Panics
            /// If the shapes do not broadcast (the message names the op and
            /// both shapes), or if the vars are on two different tapes.
            fn $method(self, rhs: Var<'t, T>) -> Var<'t, T> {
                self.binary(BinaryOp::$op, rhs)
            }
        }
        impl<'t, T: Float> $trait<T> for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, s: T) -> Var<'t, T> {
                let s = s.to_f64();
                self.unary($scalar_rhs(s))
            }
        }
        var_operator!(@lhs f32, $trait, $method, $scalar_lhs);
        var_operator!(@lhs f64, $trait, $method, $scalar_lhs);
    };
    (@lhs $t:ty, $trait:ident, $method:ident, $scalar_lhs:expr) => {
        impl<'t> $trait<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn $method(self, x: Var<'t, $t>) -> Var<'t, $t> {
                x.unary($scalar_lhs(self as f64))
            }
        }
    };
}

var_operator!(Add, add, Add, UnaryOp::AddScalar, UnaryOp::AddScalar);
var_operator!(
    Sub,
    sub,
    Sub,
    |s: f64| UnaryOp::AddScalar(-s),
    UnaryOp::ScalarSub
);
var_operator!(Mul, mul, Mul, UnaryOp::MulScalar, UnaryOp::MulScalar);
var_operator!(
    Div,
    div,
    Div,
    |s: f64| UnaryOp::MulScalar(1.0 / s),
    UnaryOp::ScalarDiv
);

impl<'t, T: Float> Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    fn neg(self) -> Var<'t, T> {
        self.unary(UnaryOp::Neg)
    }
}
