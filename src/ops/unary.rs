//! Elementwise functions of one var: `exp`, `tanh`, `relu`, `gelu`, ...
//!
//! The family is one table (see `elementwise.rs` for the entry format):
//! each entry is an op's `Var` method with its docs, its printed name, its
//! formula per element and its backward rule. Rules that can use the output
//! instead of the input do (`exp`, `tanh`, `sigmoid`, `sqrt`), so nothing
//! beyond the node's own value is kept. In the rules, `g` is the incoming
//! gradient, `x` the input and `out` the output (all `&Tensor`), and
//! [`chain`]`(g, v, f)` is `g ⊙ f(v)`.
//!
//! Arithmetic with a plain scalar (`x + 1.0`, `2.0 / x`, `powf`) is the
//! `scalar.rs` family.

use super::elementwise::{chain, unary_ops};
use crate::tape::Var;
use crate::tensor::Float;
use std::ops::Neg;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;

/// The logistic function, `1 / (1 + e^-x)`, without overflow.
#[inline(always)]
pub(super) fn sigmoid<T: Float>(x: T) -> T {
    // With e = e^-|x| (never overflows): 1 / (1 + e) for x >= 0, and
    // e / (1 + e) for x < 0. Both sides are computed and one selected, so
    // a loop over this has no branch and vectorises.
    let e = (-x.abs()).exp();
    let r = T::ONE / (T::ONE + e);
    if x >= T::ZERO { r } else { e * r }
}

fn softplus<T: Float>(x: T) -> T {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), stable for large |x|.
    x.max(T::ZERO) + (-x.abs()).exp().ln_1p()
}

fn normal_cdf<T: Float>(x: T) -> T {
    T::from_f64(0.5) * (T::ONE + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

fn normal_pdf<T: Float>(x: T) -> T {
    T::from_f64(0.398_942_280_401_432_7) * (T::from_f64(-0.5) * x * x).exp()
}

/// `φ(x) = e^(-x²/2) / √(2π)` on the tape.
fn normal_pdf_var<'t, T: Float>(x: Var<'t, T>) -> Var<'t, T> {
    (x.square() * T::from_f64(-0.5)).exp() * T::from_f64(0.398_942_280_401_432_7)
}

/// `d|x|/dx = sign(x)`, taken as 0 at 0 (as PyTorch).
fn sign<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

/// The Heaviside step, 0 at 0 (as PyTorch): ReLU's derivative.
fn step<T: Float>(x: T) -> T {
    if x > T::ZERO { T::ONE } else { T::ZERO }
}

unary_ops! {
    /// The elementwise functions of one input. Scalar arguments are kept as
    /// `f64`, so that the op value is the same for `f32` and `f64` tapes.
    pub enum UnaryOp: Op::Unary, recorded by Var::unary;
    let c = T::from_f64;

    /// `-x`, recorded by the `-` operator. Derivative: -1.
    fn negate() -> Neg {
        name: "neg",
        forward: |x| -x,
        backward: |g, _x, _out| -g,
        on_tape: |g, x, out| -g,
    }

    /// `e^x`. Derivative: `e^x` (the output itself).
    ///
    /// ```
    /// # use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.exp().backward().wrt(x).item(), 1.0);
    /// ```
    pub fn exp() -> Exp {
        name: "exp",
        forward: |x| x.exp(),
        backward: |g, _x, out| g * out,
        on_tape: |g, x, out| g * out,
    }

    /// Natural logarithm, `ln x` (the name follows Rust's `f64::ln`).
    /// Derivative: `1 / x`.
    pub fn ln() -> Ln {
        name: "ln",
        forward: |x| x.ln(),
        backward: |g, x, _out| g / x,
        on_tape: |g, x, out| g / x,
    }

    /// `sqrt x`. Derivative: `1 / (2 sqrt x)`.
    pub fn sqrt() -> Sqrt {
        name: "sqrt",
        forward: |x| x.sqrt(),
        // with y = sqrt x: 0.5 / y
        backward: |g, _x, out| chain(g, out, |y| c(0.5) / y),
        on_tape: |g, x, out| g / out * c(0.5),
    }

    /// `x^2`. Derivative: `2x`.
    pub fn square() -> Square {
        name: "square",
        forward: |x| x * x,
        backward: |g, x, _out| chain(g, x, |x| c(2.0) * x),
        on_tape: |g, x, out| g * x * c(2.0),
    }

    /// `1 / x`. Derivative: `-1 / x^2`.
    pub fn recip() -> Recip {
        name: "recip",
        forward: |x| T::ONE / x,
        // with y = 1 / x: -y^2
        backward: |g, _x, out| chain(g, out, |y| -y * y),
        on_tape: |g, x, out| -(g * out.square()),
    }

    /// `|x|`. Derivative: `sign(x)`, 0 at 0.
    pub fn abs() -> Abs {
        name: "abs",
        forward: |x| x.abs(),
        backward: |g, x, _out| chain(g, x, sign),
        on_tape: |g, x, out| g * (x.gt(0.0) - x.lt(0.0)),
    }

    /// `sin x`. Derivative: `cos x`.
    pub fn sin() -> Sin {
        name: "sin",
        forward: |x| x.sin(),
        backward: |g, x, _out| chain(g, x, |x| x.cos()),
        on_tape: |g, x, out| g * x.cos(),
    }

    /// `cos x`. Derivative: `-sin x`.
    pub fn cos() -> Cos {
        name: "cos",
        forward: |x| x.cos(),
        backward: |g, x, _out| chain(g, x, |x| -x.sin()),
        on_tape: |g, x, out| -(g * x.sin()),
    }

    /// `tanh x`. Derivative: `1 - tanh^2 x`.
    pub fn tanh() -> Tanh {
        name: "tanh",
        forward: |x| x.tanh(),
        backward: |g, _x, out| chain(g, out, |y| T::ONE - y * y),
        on_tape: |g, x, out| g * (-out.square() + T::ONE),
    }

    /// `sigmoid(x) = 1 / (1 + e^-x)`. Derivative: `s (1 - s)`.
    pub fn sigmoid() -> Sigmoid {
        name: "sigmoid",
        forward: |x| sigmoid(x),
        backward: |g, _x, out| chain(g, out, |s| s * (T::ONE - s)),
        on_tape: |g, x, out| g * out * (-out + T::ONE),
    }

    /// `max(x, 0)`. Derivative: the Heaviside step (0 at 0).
    pub fn relu() -> Relu {
        name: "relu",
        forward: |x| if x > T::ZERO { x } else { T::ZERO },
        backward: |g, x, _out| chain(g, x, step),
        on_tape: |g, x, out| g * x.gt(0.0),
    }

    /// `x` where positive, else `slope * x`. Derivative: 1 or `slope`.
    pub fn leaky_relu(slope: f64) -> LeakyRelu {
        name: "leaky_relu",
        forward: |x| if x > T::ZERO { x } else { c(slope) * x },
        backward: |g, x, _out| chain(g, x, |x| if x > T::ZERO { T::ONE } else { c(slope) }),
        on_tape: |g, x, out| g * (x.gt(0.0) * c(1.0 - slope) + c(slope)),
    }

    /// `x` where positive, else `alpha (e^x - 1)`. Derivative: 1 or `alpha e^x`.
    pub fn elu(alpha: f64) -> Elu {
        name: "elu",
        forward: |x| if x > T::ZERO { x } else { c(alpha) * (x.exp() - T::ONE) },
        // For x <= 0, y = a(e^x - 1), so dy/dx = a e^x = y + a.
        backward: |g, _x, out| g.zip_map(out, "backward", |g, y| {
            if y > T::ZERO { g } else { g * (y + c(alpha)) }
        }),
        on_tape: |g, x, out| {
            let m = x.gt(0.0);
            g * (m + (-m + T::ONE) * (out + c(alpha)))
        },
    }

    /// `Φ(x)`, the standard normal's distribution function: recorded only
    /// by the recorded gradient of `gelu`. Derivative: `φ(x)`.
    fn normal_cdf() -> NormalCdf {
        name: "normal_cdf",
        forward: |x| normal_cdf(x),
        backward: |g, x, _out| chain(g, x, normal_pdf),
        on_tape: |g, x, out| g * normal_pdf_var(x),
    }

    /// `x Phi(x)` with the exact normal CDF (erf form), recorded by
    /// [`gelu`](Var::gelu). Derivative: `Phi(x) + x phi(x)`.
    fn gelu_erf() -> Gelu {
        name: "gelu",
        forward: |x| x * normal_cdf(x),
        backward: |g, x, _out| chain(g, x, |x| normal_cdf(x) + x * normal_pdf(x)),
        on_tape: |g, x, out| g * (x.normal_cdf() + x * normal_pdf_var(x)),
    }

    /// GELU's tanh approximation, `0.5 x (1 + tanh u)` with
    /// `u = sqrt(2/pi) (x + 0.044715 x^3)`, recorded by
    /// [`gelu_with`](Var::gelu_with). Derivative:
    /// `0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx`.
    fn gelu_tanh() -> GeluTanh {
        name: "gelu_tanh",
        forward: |x| {
            let u = c(SQRT_2_OVER_PI) * (x + c(GELU_TANH_C) * x * x * x);
            c(0.5) * x * (T::ONE + u.tanh())
        },
        backward: |g, x, _out| chain(g, x, |x| {
            let u = c(SQRT_2_OVER_PI) * (x + c(GELU_TANH_C) * x * x * x);
            let t = u.tanh();
            let du = c(SQRT_2_OVER_PI) * (T::ONE + c(3.0 * GELU_TANH_C) * x * x);
            c(0.5) * (T::ONE + t) + c(0.5) * x * (T::ONE - t * t) * du
        }),
        on_tape: |g, x, out| {
            let u = (x + x.square() * x * c(GELU_TANH_C)) * c(SQRT_2_OVER_PI);
            let t = u.tanh();
            let du = (x.square() * c(3.0 * GELU_TANH_C) + T::ONE) * c(SQRT_2_OVER_PI);
            g * ((t + T::ONE) * c(0.5) + x * (-t.square() + T::ONE) * du * c(0.5))
        },
    }

    /// SiLU (swish), `x sigmoid(x)`. Derivative: `s (1 + x (1 - s))`.
    pub fn silu() -> Silu {
        name: "silu",
        forward: |x| x * sigmoid(x),
        backward: |g, x, _out| chain(g, x, |x| {
            let s = sigmoid(x);
            s * (T::ONE + x * (T::ONE - s))
        }),
        on_tape: |g, x, out| {
            let s = x.sigmoid();
            g * s * (x * (-s + T::ONE) + T::ONE)
        },
    }

    /// `ln(1 + e^x)`, computed without overflow. Derivative: `sigmoid(x)`.
    pub fn softplus() -> Softplus {
        name: "softplus",
        forward: |x| softplus(x),
        backward: |g, x, _out| chain(g, x, sigmoid),
        on_tape: |g, x, out| g * x.sigmoid(),
    }

    /// `x` limited to `[min, max]`. Derivative: 1 inside (ends included, as
    /// PyTorch), 0 outside.
    pub fn clamp(min: f64, max: f64) -> Clamp {
        name: "clamp",
        forward: |x| x.max(c(min)).min(c(max)),
        backward: |g, x, _out| chain(g, x, |x| {
            if x >= c(min) && x <= c(max) { T::ONE } else { T::ZERO }
        }),
        on_tape: |g, x, out| g * (x.ge(min) * x.le(max)),
    }
}

impl<'t, T: Float> Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    fn neg(self) -> Var<'t, T> {
        self.negate()
    }
}

/// Which formula [`Var::gelu_with`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GeluApprox {
    /// `x * Phi(x)` with the exact normal CDF (PyTorch's default).
    #[default]
    None,
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (PyTorch's `approximate="tanh"`).
    Tanh,
}

impl<'t, T: Float> Var<'t, T> {
    /// GELU, `x Phi(x)`, exact (erf) form as PyTorch's default.
    /// Derivative: `Phi(x) + x phi(x)`.
    pub fn gelu(self) -> Var<'t, T> {
        self.gelu_with(GeluApprox::None)
    }

    /// GELU with a chosen formula (exact, or the tanh approximation).
    pub fn gelu_with(self, approx: GeluApprox) -> Var<'t, T> {
        match approx {
            GeluApprox::None => self.gelu_erf(),
            GeluApprox::Tanh => self.gelu_tanh(),
        }
    }
}
