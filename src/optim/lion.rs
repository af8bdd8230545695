//! Lion: the sign of a blend of momentum and gradient.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::check_unit;
use super::optimizer_common;
use crate::tensor::Float;

/// Lion, "EvoLved Sign Momentum" (Chen et al., 2023, "Symbolic Discovery of
/// Optimization Algorithms", Algorithm 2). PyTorch has no Lion class; this
/// follows the paper.
///
/// Every element moves by exactly `γ` (plus decay) in the direction of the
/// sign of a blend of the momentum and the gradient, so Lion wants a rate
/// 3 to 10 times smaller than AdamW's, and a weight decay as much larger.
/// With rate `γ`, betas `β₁, β₂`, weight decay `λ` (decoupled) and gradient
/// `g_t`, step `t` is:
///
/// ```text
/// c_t = β₁ m_{t-1} + (1 − β₁) g_t
/// θ_t = θ_{t-1} − γ (sign(c_t) + λ θ_{t-1})
/// m_t = β₂ m_{t-1} + (1 − β₂) g_t
/// ```
///
/// `m₀ = 0` and `sign(0) = 0`.
///
/// Defaults (the paper's): `lr` 1e-4, betas (0.9, 0.99), no weight decay.
/// State per parameter: `exp_avg` (`m`).
///
/// ```
/// use tapegrad::optim::Lion;
/// let opt = Lion::<f32>::new(3e-5).betas(0.95, 0.98).weight_decay(1.0);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Lion<T: Float = f32> {
    rule: LionRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct LionRule {
    beta1: f64,
    beta2: f64,
}

impl<T: Float> Lion<T> {
    /// Lion with learning rate `lr` and the paper's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Lion {
            rule: LionRule {
                beta1: 0.9,
                beta2: 0.99,
            },
            core: Core::new("Lion", lr, 0.0),
        }
    }

    /// Sets `β₁` (the blend that is signed) and `β₂` (the momentum's decay).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        check_unit("Lion", "beta1", beta1);
        check_unit("Lion", "beta2", beta2);
        (self.rule.beta1, self.rule.beta2) = (beta1, beta2);
        self
    }
}

impl<T: Float> Default for Lion<T> {
    /// The paper's defaults: `lr` 1e-4, betas (0.9, 0.99).
    fn default() -> Self {
        Self::new(1e-4)
    }
}

optimizer_common!(Lion, "decoupled (the parameter shrinks by `γλθ`)");

#[derive(Clone, Copy)]
struct LionCoeffs<T> {
    lr: T,
    /// `1 − γλ`.
    keep: T,
    beta1: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
}

impl<T: Float> Rule<T> for LionRule {
    type Coeffs = LionCoeffs<T>;
    const NAME: &'static str = "Lion";

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("exp_avg"), None, None, None]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![("beta1", self.beta1), ("beta2", self.beta2)]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> LionCoeffs<T> {
        LionCoeffs {
            lr: T::from_f64(lr),
            keep: T::from_f64(1.0 - lr * weight_decay),
            beta1: T::from_f64(self.beta1),
            one_minus_beta1: T::from_f64(1.0 - self.beta1),
            beta2: T::from_f64(self.beta2),
            one_minus_beta2: T::from_f64(1.0 - self.beta2),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &LionCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [m, _, _, _] = s;
        for ((p, &g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
            let blend = c.beta1 * *m + c.one_minus_beta1 * g;
            // sign, keeping 0 as 0 and NaN as NaN
            let sign = if blend > T::ZERO {
                T::ONE
            } else if blend < T::ZERO {
                -T::ONE
            } else {
                blend
            };
            *p = *p * c.keep - c.lr * sign;
            *m = c.beta2 * *m + c.one_minus_beta2 * g;
        }
    }
}
