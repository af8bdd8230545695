//! Elementwise functions of one var, and arithmetic with a plain scalar.
//!
//! Each op's derivative sits in [`UnaryOp::backward`], one arm per op. Rules
//! that can use the output instead of the input do (`exp`, `tanh`,
//! `sigmoid`, `sqrt`), so nothing beyond the node's own value is kept.

use crate::tape::{BackwardCtx, Var};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The elementwise unary ops. Scalar arguments are kept as `f64` so that the
/// op value is the same for `f32` and `f64` tapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// `ln x`
    Ln,
    /// `sqrt x`
    Sqrt,
    /// `x^2`
    Square,
    /// `1 / x`
    Recip,
    /// `|x|`
    Abs,
    /// `sin x`
    Sin,
    /// `cos x`
    Cos,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `x` if positive, else `slope * x`
    LeakyRelu(f64),
    /// `x` if positive, else `alpha * (e^x - 1)`
    Elu(f64),
    /// `x * Phi(x)` with the exact normal CDF (erf form)
    Gelu,
    /// GELU's tanh approximation
    GeluTanh,
    /// `x * sigmoid(x)`
    Silu,
    /// `ln(1 + e^x)`
    Softplus,
    /// `x` limited to `[min, max]`
    Clamp(f64, f64),
    /// `x + s`
    AddScalar(f64),
    /// `x * s`
    MulScalar(f64),
    /// `s - x`
    ScalarSub(f64),
    /// `s / x`
    ScalarDiv(f64),
    /// `x^p` for a constant exponent
    PowScalar(f64),
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;

#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
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

/// Fixes a closure's argument type, for the `dx!` and `dy!` macros of
/// [`UnaryOp::backward`].
fn typed<T: Float, F: Fn(T) -> T + Sync>(f: F) -> F {
    f
}

impl UnaryOp {
    /// Computes the op on a tensor.
    pub fn forward<T: Float>(self, x: &Tensor<T>) -> Tensor<T> {
        let c = T::from_f64;
        match self {
            UnaryOp::Neg => x.map(|x| -x),
            UnaryOp::Exp => x.map(T::exp),
            UnaryOp::Ln => x.map(T::ln),
            UnaryOp::Sqrt => x.map(T::sqrt),
            UnaryOp::Square => x.map(|x| x * x),
            UnaryOp::Recip => x.map(|x| T::ONE / x),
            UnaryOp::Abs => x.map(T::abs),
            UnaryOp::Sin => x.map(T::sin),
            UnaryOp::Cos => x.map(T::cos),
            UnaryOp::Tanh => x.map(T::tanh),
            UnaryOp::Sigmoid => x.map(sigmoid),
            UnaryOp::Relu => x.map(|x| if x > T::ZERO { x } else { T::ZERO }),
            UnaryOp::LeakyRelu(s) => x.map(|x| if x > T::ZERO { x } else { c(s) * x }),
            UnaryOp::Elu(a) => x.map(|x| {
                if x > T::ZERO {
                    x
                } else {
                    c(a) * (x.exp() - T::ONE)
                }
            }),
            UnaryOp::Gelu => x.map(|x| x * normal_cdf(x)),
            UnaryOp::GeluTanh => x.map(|x| {
                let u = c(SQRT_2_OVER_PI) * (x + c(GELU_TANH_C) * x * x * x);
                c(0.5) * x * (T::ONE + u.tanh())
            }),
            UnaryOp::Silu => x.map(|x| x * sigmoid(x)),
            UnaryOp::Softplus => x.map(softplus),
            UnaryOp::Clamp(lo, hi) => x.map(|x| x.max(c(lo)).min(c(hi))),
            UnaryOp::AddScalar(s) => x.map(|x| x + c(s)),
            UnaryOp::MulScalar(s) => x.map(|x| x * c(s)),
            UnaryOp::ScalarSub(s) => x.map(|x| c(s) - x),
            UnaryOp::ScalarDiv(s) => x.map(|x| c(s) / x),
            UnaryOp::PowScalar(p) => x.map(|x| x.powf(c(p))),
        }
    }

    /// Adds `grad_out * f'(x)` into the input's gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        let (x, y, g) = (ctx.input(0), ctx.output(), ctx.grad_out());
        let c = T::from_f64;
        // `dx(f)`: g * f(x); `dy(f)`: g * f(y), for rules that use the output.
        // Macros rather than closures taking `&dyn Fn`, so that each `f` is
        // inlined into the loop (which then vectorises) instead of being
        // called once per element.
        macro_rules! dx {
            ($f:expr) => {{
                let f = typed::<T, _>($f);
                g.zip_map(x, "backward", |g, x| g * f(x))
            }};
        }
        macro_rules! dy {
            ($f:expr) => {{
                let f = typed::<T, _>($f);
                g.zip_map(y, "backward", |g, y| g * f(y))
            }};
        }
        let gx = match self {
            UnaryOp::Neg => -g,
            UnaryOp::Exp => g * y,
            UnaryOp::Ln => g / x,
            UnaryOp::Sqrt => dy!(|y| c(0.5) / y),
            UnaryOp::Square => dx!(|x| c(2.0) * x),
            UnaryOp::Recip => dy!(|y| -y * y),
            // d|x|/dx = sign(x), taken as 0 at 0 (as PyTorch).
            UnaryOp::Abs => dx!(|x| {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            }),
            UnaryOp::Sin => dx!(|x| x.cos()),
            UnaryOp::Cos => dx!(|x| -x.sin()),
            UnaryOp::Tanh => dy!(|y| T::ONE - y * y),
            UnaryOp::Sigmoid => dy!(|y| y * (T::ONE - y)),
            // Heaviside step; 0 at 0 (as PyTorch).
            UnaryOp::Relu => dx!(|x| if x > T::ZERO { T::ONE } else { T::ZERO }),
            UnaryOp::LeakyRelu(s) => dx!(|x| if x > T::ZERO { T::ONE } else { c(s) }),
            // For x <= 0, y = a(e^x - 1), so dy/dx = a e^x = y + a.
            UnaryOp::Elu(a) => {
                g.zip_map(
                    y,
                    "backward",
                    |g, y| if y > T::ZERO { g } else { g * (y + c(a)) },
                )
            }
            // d/dx x Phi(x) = Phi(x) + x phi(x)
            UnaryOp::Gelu => dx!(|x| normal_cdf(x) + x * normal_pdf(x)),
            UnaryOp::GeluTanh => dx!(|x| {
                let u = c(SQRT_2_OVER_PI) * (x + c(GELU_TANH_C) * x * x * x);
                let t = u.tanh();
                let du = c(SQRT_2_OVER_PI) * (T::ONE + c(3.0 * GELU_TANH_C) * x * x);
                c(0.5) * (T::ONE + t) + c(0.5) * x * (T::ONE - t * t) * du
            }),
            // d/dx x s(x) = s(x) (1 + x (1 - s(x)))
            UnaryOp::Silu => dx!(|x| {
                let s = sigmoid(x);
                s * (T::ONE + x * (T::ONE - s))
            }),
            UnaryOp::Softplus => dx!(sigmoid),
            // Gradient passes where the input is inside the range (ends included, as PyTorch).
            UnaryOp::Clamp(lo, hi) => dx!(|x| {
                if x >= c(lo) && x <= c(hi) {
                    T::ONE
                } else {
                    T::ZERO
                }
            }),
            UnaryOp::AddScalar(_) => g.clone(),
            UnaryOp::MulScalar(s) => g * c(s),
            UnaryOp::ScalarSub(_) => -g,
            // d/dx s/x = -s/x^2 = -y/x
            UnaryOp::ScalarDiv(_) => g.zip_map(
                &y.zip_map(x, "backward", |y, x| -y / x),
                "backward",
                |g, d| g * d,
            ),
            UnaryOp::PowScalar(p) => dx!(|x| c(p) * x.powf(c(p - 1.0))),
        };
        ctx.add(0, gx);
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnaryOp::LeakyRelu(s) => write!(f, "leaky_relu[{s}]"),
            UnaryOp::Elu(a) => write!(f, "elu[{a}]"),
            UnaryOp::Clamp(lo, hi) => write!(f, "clamp[{lo}, {hi}]"),
            UnaryOp::AddScalar(s) => write!(f, "add[{s}]"),
            UnaryOp::MulScalar(s) => write!(f, "mul[{s}]"),
            UnaryOp::ScalarSub(s) => write!(f, "rsub[{s}]"),
            UnaryOp::ScalarDiv(s) => write!(f, "rdiv[{s}]"),
            UnaryOp::PowScalar(p) => write!(f, "pow[{p}]"),
            UnaryOp::GeluTanh => write!(f, "gelu_tanh"),
            other => {
                let name = format!("{other:?}").to_lowercase();
                f.write_str(&name)
            }
        }
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
    pub(crate) fn unary(self, op: UnaryOp) -> Var<'t, T> {
        self.tape
            .apply(super::Op::Unary(op), &[self], |v| op.forward(v[0]))
    }

    /// `e^x`. Derivative: `e^x` (the output itself).
    ///
    /// ```
    /// # use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.exp().backward().wrt(x).item(), 1.0);
    /// ```
    pub fn exp(self) -> Var<'t, T> {
        self.unary(UnaryOp::Exp)
    }

    /// Natural logarithm, `ln x` (the name follows Rust's `f64::ln`).
    /// Derivative: `1 / x`.
    pub fn ln(self) -> Var<'t, T> {
        self.unary(UnaryOp::Ln)
    }

    /// `sqrt x`. Derivative: `1 / (2 sqrt x)`.
    pub fn sqrt(self) -> Var<'t, T> {
        self.unary(UnaryOp::Sqrt)
    }

    /// `x^2`. Derivative: `2x`.
    pub fn square(self) -> Var<'t, T> {
        self.unary(UnaryOp::Square)
    }

    /// `1 / x`. Derivative: `-1 / x^2`.
    pub fn recip(self) -> Var<'t, T> {
        self.unary(UnaryOp::Recip)
    }

    /// `|x|`. Derivative: `sign(x)`, 0 at 0.
    pub fn abs(self) -> Var<'t, T> {
        self.unary(UnaryOp::Abs)
    }

    /// `sin x`. Derivative: `cos x`.
    pub fn sin(self) -> Var<'t, T> {
        self.unary(UnaryOp::Sin)
    }

    /// `cos x`. Derivative: `-sin x`.
    pub fn cos(self) -> Var<'t, T> {
        self.unary(UnaryOp::Cos)
    }

    /// `tanh x`. Derivative: `1 - tanh^2 x`.
    pub fn tanh(self) -> Var<'t, T> {
        self.unary(UnaryOp::Tanh)
    }

    /// `sigmoid(x) = 1 / (1 + e^-x)`. Derivative: `s (1 - s)`.
    pub fn sigmoid(self) -> Var<'t, T> {
        self.unary(UnaryOp::Sigmoid)
    }

    /// `max(x, 0)`. Derivative: the Heaviside step (0 at 0).
    pub fn relu(self) -> Var<'t, T> {
        self.unary(UnaryOp::Relu)
    }

    /// `x` where positive, else `slope * x`. Derivative: 1 or `slope`.
    pub fn leaky_relu(self, slope: f64) -> Var<'t, T> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }

    /// `x` where positive, else `alpha (e^x - 1)`. Derivative: 1 or `alpha e^x`.
    pub fn elu(self, alpha: f64) -> Var<'t, T> {
        self.unary(UnaryOp::Elu(alpha))
    }

    /// GELU, `x Phi(x)`, exact (erf) form as PyTorch's default.
    /// Derivative: `Phi(x) + x phi(x)`.
    pub fn gelu(self) -> Var<'t, T> {
        self.gelu_with(GeluApprox::None)
    }

    /// GELU with a chosen formula (exact, or the tanh approximation).
    pub fn gelu_with(self, approx: GeluApprox) -> Var<'t, T> {
        match approx {
            GeluApprox::None => self.unary(UnaryOp::Gelu),
            GeluApprox::Tanh => self.unary(UnaryOp::GeluTanh),
        }
    }

    /// SiLU (swish), `x sigmoid(x)`. Derivative: `s (1 + x (1 - s))`.
    pub fn silu(self) -> Var<'t, T> {
        self.unary(UnaryOp::Silu)
    }

    /// `ln(1 + e^x)`, computed without overflow. Derivative: `sigmoid(x)`.
    pub fn softplus(self) -> Var<'t, T> {
        self.unary(UnaryOp::Softplus)
    }

    /// `x` limited to `[min, max]`. Derivative: 1 inside (ends included), 0 outside.
    pub fn clamp(self, min: f64, max: f64) -> Var<'t, T> {
        self.unary(UnaryOp::Clamp(min, max))
    }

    /// `x^p` for a constant `p`. Derivative: `p x^(p-1)`.
    /// For a var exponent use [`pow`](Var::pow).
    pub fn powf(self, p: f64) -> Var<'t, T> {
        self.unary(UnaryOp::PowScalar(p))
    }
}
