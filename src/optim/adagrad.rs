//! Adagrad: per-element rates from the sum of squared gradients.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::check_non_negative;
use super::optimizer_common;
use crate::tensor::Float;

/// Adagrad (Duchi, Hazan and Singer, 2011), as PyTorch's
/// [`torch.optim.Adagrad`](https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html).
///
/// With rate `γ`, rate decay `η`, weight decay `λ` (L2) and gradient `g_t`,
/// step `t` (counted per parameter from 1) is:
///
/// ```text
/// g_t ← g_t + λ θ_{t-1}                     if λ ≠ 0
/// γ_t = γ / (1 + (t − 1) η)
/// s_t = s_{t-1} + g_t²
/// θ_t = θ_{t-1} − γ_t g_t / (√s_t + ε)
/// ```
///
/// `s₀` is the initial accumulator value (0 by default).
///
/// Defaults (PyTorch's): `lr` 1e-2, `lr_decay` 0, no weight decay,
/// `initial_accumulator_value` 0, `eps` 1e-10. State per parameter: `sum`
/// (`s`).
///
/// ```
/// use tapegrad::optim::Adagrad;
/// let opt = Adagrad::<f32>::new(0.1).lr_decay(1e-3).initial_accumulator_value(0.1);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad<T: Float = f32> {
    rule: AdagradRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct AdagradRule {
    lr_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
}

impl<T: Float> Adagrad<T> {
    /// Adagrad with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Adagrad {
            rule: AdagradRule {
                lr_decay: 0.0,
                initial_accumulator_value: 0.0,
                eps: 1e-10,
            },
            core: Core::new("Adagrad", lr, 0.0),
        }
    }

    /// Sets the rate decay `η`: step `t` uses `γ / (1 + (t − 1) η)`.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        check_non_negative("Adagrad", "lr_decay", lr_decay);
        self.rule.lr_decay = lr_decay;
        self
    }

    /// Sets the value the sum of squares starts from.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        check_non_negative("Adagrad", "initial_accumulator_value", value);
        self.rule.initial_accumulator_value = value;
        self
    }

    /// Sets `ε`, the term added to the denominator.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        check_non_negative("Adagrad", "eps", eps);
        self.rule.eps = eps;
        self
    }
}

impl<T: Float> Default for Adagrad<T> {
    /// PyTorch's defaults: `lr` 1e-2, `eps` 1e-10.
    fn default() -> Self {
        Self::new(1e-2)
    }
}

optimizer_common!(Adagrad, "added to the gradient (L2)");

#[derive(Clone, Copy)]
struct AdagradCoeffs<T> {
    /// `γ_t`, the decayed rate of this step.
    lr: T,
    weight_decay: T,
    eps: T,
}

impl<T: Float> Rule<T> for AdagradRule {
    type Coeffs = AdagradCoeffs<T>;
    const NAME: &'static str = "Adagrad";

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("sum"), None, None, None]
    }

    fn slot_init(&self, _slot: usize) -> T {
        T::from_f64(self.initial_accumulator_value)
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr_decay", self.lr_decay),
            ("initial_accumulator_value", self.initial_accumulator_value),
            ("eps", self.eps),
        ]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, step: u64) -> AdagradCoeffs<T> {
        AdagradCoeffs {
            lr: T::from_f64(lr / (1.0 + (step - 1) as f64 * self.lr_decay)),
            weight_decay: T::from_f64(weight_decay),
            eps: T::from_f64(self.eps),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &AdagradCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [sum, _, _, _] = s;
        let decay = c.weight_decay != T::ZERO;
        for ((p, &g), s) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
            // Decay is skipped, not multiplied by 0, when off: 0 · ∞ is NaN.
            let g = if decay { g + c.weight_decay * *p } else { g };
            *s += g * g;
            *p -= c.lr * (g / (s.sqrt() + c.eps));
        }
    }
}
