//! Elementwise ops of two vars, with NumPy broadcasting: `+ - * /` between
//! vars, `pow`, `maximum` and `minimum`.
//!
//! The family is one table (see `elementwise.rs` for the entry format):
//! each entry is an op's printed name, its formula per element and one
//! gradient rule per input, in which `g` is the incoming gradient, `a` and
//! `b` the inputs and `out` the output (all `&Tensor`). The operators are
//! named in their entries; the methods, which also take a plain number, are
//! under the table. Comparisons and `where_` are in `mask.rs`, arithmetic
//! with a plain number in `scalar.rs`.
//!
//! Rules compute gradients at the broadcast output shape; the tape sums each
//! back to its input's shape, so no rule here mentions broadcasting.

use super::elementwise::binary_ops;
use crate::tape::Var;
use crate::tensor::{Float, Tensor};

/// The share of `max(x, y)`'s gradient that goes to `x`: all of it where
/// `x` is larger, half on ties (as PyTorch), none where it is smaller.
fn max_share<T: Float>(x: T, y: T) -> T {
    if x > y {
        T::ONE
    } else if x == y {
        T::from_f64(0.5)
    } else {
        T::ZERO
    }
}

/// As [`max_share`], for `min(x, y)`.
fn min_share<T: Float>(x: T, y: T) -> T {
    if x < y {
        T::ONE
    } else if x == y {
        T::from_f64(0.5)
    } else {
        T::ZERO
    }
}

binary_ops! {
    /// The elementwise ops of two inputs.
    pub enum BinaryOp: Op::Binary, recorded by Var::binary;

    /// `a + b`. Derivatives: 1 and 1.
    Add {
        name: "add",
        operator: Add::add,
        forward: |a, b| a + b,
        grad a: |g, _a, _b, _out| g.clone(),
        grad b: |g, _a, _b, _out| g.clone(),
        on_tape a: |g, a, b, out| g,
        on_tape b: |g, a, b, out| g,
    }

    /// `a - b`. Derivatives: 1 and -1.
    Sub {
        name: "sub",
        operator: Sub::sub,
        forward: |a, b| a - b,
        grad a: |g, _a, _b, _out| g.clone(),
        grad b: |g, _a, _b, _out| -g,
        on_tape a: |g, a, b, out| g,
        on_tape b: |g, a, b, out| -g,
    }

    /// `a * b`. Derivatives: `b` and `a`.
    Mul {
        name: "mul",
        operator: Mul::mul,
        forward: |a, b| a * b,
        grad a: |g, _a, b, _out| g * b,
        grad b: |g, a, _b, _out| g * a,
        on_tape a: |g, a, b, out| g * b,
        on_tape b: |g, a, b, out| g * a,
    }

    /// `a / b`. Derivatives: `1 / b` and `-a / b^2 = -out / b`.
    Div {
        name: "div",
        operator: Div::div,
        forward: |a, b| a / b,
        grad a: |g, _a, b, _out| g / b,
        grad b: |g, _a, b, out| &(g * out) / &(-b),
        on_tape a: |g, a, b, out| g / b,
        on_tape b: |g, a, b, out| -(g * out / b),
    }

    /// `a ^ b`. Derivatives: `b a^(b-1)` and `a^b ln a` (NaN for `a <= 0`,
    /// as in PyTorch).
    Pow {
        name: "pow",
        forward: |a, b| a.powf(b),
        grad a: |g, a, b, _out| g * &a.zip_map(b, "pow", |a, b| b * a.powf(b - T::ONE)),
        grad b: |g, a, _b, out| g * &out.zip_map(a, "pow", |y, a| y * a.ln()),
        on_tape a: |g, a, b, out| g * b * a.pow(b - T::ONE),
        on_tape b: |g, a, b, out| g * out * a.ln(),
    }

    /// `max(a, b)`. The gradient goes to the larger input; ties split it
    /// evenly (as PyTorch).
    Maximum {
        name: "maximum",
        forward: |a, b| if b > a { b } else { a },
        grad a: |g, a, b, _out| g * &a.zip_map(b, "maximum", max_share),
        grad b: |g, a, b, _out| g * &b.zip_map(a, "maximum", max_share),
        on_tape a: |g, a, b, out| g * (a.gt(b) + a.eq(b) * T::from_f64(0.5)),
        on_tape b: |g, a, b, out| g * (b.gt(a) + b.eq(a) * T::from_f64(0.5)),
    }

    /// `min(a, b)`. The gradient goes to the smaller input; ties split it
    /// evenly (as PyTorch).
    Minimum {
        name: "minimum",
        forward: |a, b| if b < a { b } else { a },
        grad a: |g, a, b, _out| g * &a.zip_map(b, "minimum", min_share),
        grad b: |g, a, b, _out| g * &b.zip_map(a, "minimum", min_share),
        on_tape a: |g, a, b, out| g * (a.lt(b) + a.eq(b) * T::from_f64(0.5)),
        on_tape b: |g, a, b, out| g * (b.lt(a) + b.eq(a) * T::from_f64(0.5)),
    }
}

/// The second operand of [`Var::pow`], [`Var::maximum`] and
/// [`Var::minimum`] (and of the comparisons): another var or a plain number.
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
    /// The operand as a var: itself, or a 0-d constant holding the number.
    pub(super) fn operand(self, o: Operand<'t, T>) -> Var<'t, T> {
        match o {
            Operand::Var(v) => v,
            Operand::Scalar(s) => self.tape.constant(Tensor::scalar(T::from_f64(s))),
        }
    }

    /// `self ^ e` for a var or a constant exponent.
    ///
    /// Derivatives: `d/da a^b = b a^(b-1)`, `d/db a^b = a^b ln a` (NaN for
    /// `a <= 0`, as in PyTorch). A constant exponent records the cheaper
    /// scalar op ([`powf`](Var::powf)).
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
}
