//! Adadelta: RMSprop with its units fixed by a moving average of updates.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::check_non_negative;
use super::optimizer_common;
use crate::tensor::Float;

/// Adadelta (Zeiler, 2012), as PyTorch's
/// [`torch.optim.Adadelta`](https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html).
///
/// With rate `γ`, smoothing `ρ`, weight decay `λ` (L2) and gradient `g_t`,
/// step `t` is:
///
/// ```text
/// g_t ← g_t + λ θ_{t-1}                     if λ ≠ 0
/// v_t = ρ v_{t-1} + (1 − ρ) g_t²
/// Δ_t = √(u_{t-1} + ε) / √(v_t + ε) · g_t
/// u_t = ρ u_{t-1} + (1 − ρ) Δ_t²
/// θ_t = θ_{t-1} − γ Δ_t
/// ```
///
/// `v₀ = u₀ = 0`. The ratio of the two root mean squares gives the update
/// the parameter's units, so the rate `γ` is a plain multiplier (1 in the
/// paper).
///
/// Defaults (PyTorch's): `lr` **1.0**, `rho` 0.9, `eps` 1e-6, no weight
/// decay. State per parameter: `square_avg` (`v`) and `acc_delta` (`u`).
///
/// ```
/// use tapegrad::optim::Adadelta;
/// let opt = Adadelta::<f32>::default().rho(0.95);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Adadelta<T: Float = f32> {
    rule: AdadeltaRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct AdadeltaRule {
    rho: f64,
    eps: f64,
}

impl<T: Float> Adadelta<T> {
    /// Adadelta with learning rate `lr` (PyTorch's default is 1.0) and
    /// PyTorch's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Adadelta {
            rule: AdadeltaRule {
                rho: 0.9,
                eps: 1e-6,
            },
            core: Core::new("Adadelta", lr, 0.0),
        }
    }

    /// Sets the smoothing constant `ρ` of both moving averages.
    ///
    /// # Panics
    /// If it is outside `[0, 1]`.
    pub fn rho(mut self, rho: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&rho),
            "Adadelta: rho must be in [0, 1], got {rho}"
        );
        self.rule.rho = rho;
        self
    }

    /// Sets `ε`, added inside both square roots.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        check_non_negative("Adadelta", "eps", eps);
        self.rule.eps = eps;
        self
    }
}

impl<T: Float> Default for Adadelta<T> {
    /// PyTorch's defaults: `lr` 1.0, `rho` 0.9, `eps` 1e-6.
    fn default() -> Self {
        Self::new(1.0)
    }
}

optimizer_common!(Adadelta, "added to the gradient (L2)");

#[derive(Clone, Copy)]
struct AdadeltaCoeffs<T> {
    lr: T,
    weight_decay: T,
    rho: T,
    one_minus_rho: T,
    eps: T,
}

impl<T: Float> Rule<T> for AdadeltaRule {
    type Coeffs = AdadeltaCoeffs<T>;
    const NAME: &'static str = "Adadelta";

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("square_avg"), Some("acc_delta"), None, None]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![("rho", self.rho), ("eps", self.eps)]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> AdadeltaCoeffs<T> {
        AdadeltaCoeffs {
            lr: T::from_f64(lr),
            weight_decay: T::from_f64(weight_decay),
            rho: T::from_f64(self.rho),
            one_minus_rho: T::from_f64(1.0 - self.rho),
            eps: T::from_f64(self.eps),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &AdadeltaCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [v, u, _, _] = s;
        let decay = c.weight_decay != T::ZERO;
        for (((p, &g), v), u) in p.iter_mut().zip(g).zip(v.iter_mut()).zip(u.iter_mut()) {
            // Decay is skipped, not multiplied by 0, when off: 0 · ∞ is NaN.
            let g = if decay { g + c.weight_decay * *p } else { g };
            *v = c.rho * *v + c.one_minus_rho * g * g;
            let delta = (*u + c.eps).sqrt() / (*v + c.eps).sqrt() * g;
            *u = c.rho * *u + c.one_minus_rho * delta * delta;
            *p -= c.lr * delta;
        }
    }
}
