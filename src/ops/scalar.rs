//! Arithmetic of a var with a plain number: `x + 1.0`, `x * 2.0`, `1.0 - x`,
//! `2.0 / x` (the scalar on either side, as `f32` or `f64`), and `powf`.
//!
//! One table, as `unary.rs` (see `elementwise.rs` for the entry format):
//! the number is an argument of the op, stored in the node, so no constant
//! node is made for it. `x - s` records `add[-s]` and `x / s` records
//! `mul[1/s]`; `s - x` and `s / x` are ops of their own (`rsub`, `rdiv`).

use super::elementwise::{chain, unary_ops};
use crate::tape::Var;
use crate::tensor::Float;
use std::ops::{Add, Div, Mul, Sub};

unary_ops! {
    /// Arithmetic with a constant. The constant is kept as `f64`, so that
    /// the op value is the same for `f32` and `f64` tapes.
    pub enum ScalarOp: Op::Scalar, recorded by Var::scalar;
    let c = T::from_f64;

    /// `x + s`, recorded by `x + s`, `s + x` and `x - s` (as `x + (-s)`).
    /// Derivative: 1 (the gradient passes unchanged, sharing its storage).
    fn add_scalar(s: f64) -> Add {
        name: "add",
        forward: |x| x + c(s),
        backward: |g, _x, _out| g.clone(),
        on_tape: |g, x, out| g,
    }

    /// `x * s`, recorded by `x * s`, `s * x` and `x / s` (as `x * (1/s)`).
    /// Derivative: `s`.
    fn mul_scalar(s: f64) -> Mul {
        name: "mul",
        forward: |x| x * c(s),
        backward: |g, _x, _out| g * c(s),
        on_tape: |g, x, out| g * c(s),
    }

    /// `s - x`, recorded by `s - x`. Derivative: -1.
    fn rsub_scalar(s: f64) -> RSub {
        name: "rsub",
        forward: |x| c(s) - x,
        backward: |g, _x, _out| -g,
        on_tape: |g, x, out| -g,
    }

    /// `s / x`, recorded by `s / x`. Derivative: `-s / x^2 = -y / x`.
    fn rdiv_scalar(s: f64) -> RDiv {
        name: "rdiv",
        forward: |x| c(s) / x,
        backward: |g, x, out| g.zip_map(
            &out.zip_map(x, "backward", |y, x| -y / x),
            "backward",
            |g, d| g * d,
        ),
        on_tape: |g, x, out| -(g * out / x),
    }

    /// `x^p` for a constant `p`. Derivative: `p x^(p-1)`.
    /// For a var exponent use [`pow`](Var::pow).
    pub fn powf(p: f64) -> Pow {
        name: "pow",
        forward: |x| x.powf(c(p)),
        backward: |g, x, _out| chain(g, x, |x| c(p) * x.powf(c(p - 1.0))),
        on_tape: |g, x, out| g * x.powf(p - 1.0) * c(p),
    }
}

/// The operator `$Trait` between a var and a scalar on either side: `rhs`
/// records `var op s`, `lhs` records `s op var` (for `f32` and `f64`).
macro_rules! scalar_operator {
    ($Trait:ident::$method:ident, |$x:ident, $s:ident| $rhs:expr, |$x2:ident, $s2:ident| $lhs:expr) => {
        impl<'t, T: Float> $Trait<T> for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, s: T) -> Var<'t, T> {
                let ($x, $s) = (self, s.to_f64());
                $rhs
            }
        }
        scalar_operator!(@lhs f32, $Trait::$method, |$x2, $s2| $lhs);
        scalar_operator!(@lhs f64, $Trait::$method, |$x2, $s2| $lhs);
    };
    (@lhs $t:ty, $Trait:ident::$method:ident, |$x:ident, $s:ident| $lhs:expr) => {
        impl<'t> $Trait<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            fn $method(self, x: Var<'t, $t>) -> Var<'t, $t> {
                let ($x, $s) = (x, self as f64);
                $lhs
            }
        }
    };
}

scalar_operator!(Add::add, |x, s| x.add_scalar(s), |x, s| x.add_scalar(s));
scalar_operator!(Sub::sub, |x, s| x.add_scalar(-s), |x, s| x.rsub_scalar(s));
scalar_operator!(Mul::mul, |x, s| x.mul_scalar(s), |x, s| x.mul_scalar(s));
scalar_operator!(Div::div, |x, s| x.mul_scalar(1.0 / s), |x, s| x
    .rdiv_scalar(s));
