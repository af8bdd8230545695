//! Adam, with the AMSGrad variant; its rule also serves [`AdamW`](super::AdamW).

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::{check_non_negative, check_unit};
use super::optimizer_common;
use crate::tensor::Float;

/// Adam (Kingma and Ba, 2015), as PyTorch's
/// [`torch.optim.Adam`](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html),
/// with its AMSGrad option (Reddi et al., 2018).
///
/// With rate `γ`, betas `β₁, β₂`, weight decay `λ` (L2: added to the
/// gradient) and gradient `g_t`, step `t` (counted per parameter from 1) is:
///
/// ```text
/// g_t ← g_t + λ θ_{t-1}                            if λ ≠ 0
/// m_t = β₁ m_{t-1} + (1 − β₁) g_t
/// v_t = β₂ v_{t-1} + (1 − β₂) g_t²
/// v̂_t = max(v̂_{t-1}, v_t)   with AMSGrad,   v̂_t = v_t   without
/// θ_t = θ_{t-1} − γ / (1 − β₁ᵗ) · m_t / (√v̂_t / √(1 − β₂ᵗ) + ε)
/// ```
///
/// `m₀ = v₀ = v̂₀ = 0`. `ε` is added outside the square root, after the
/// bias correction. AMSGrad keeps the running maximum of the raw `v_t` and
/// bias-corrects it with the current step, as PyTorch's implementation does.
///
/// Defaults (PyTorch's): `lr` 1e-3, betas (0.9, 0.999), `eps` 1e-8, no
/// weight decay, no AMSGrad. State per parameter: `exp_avg` (`m`),
/// `exp_avg_sq` (`v`) and, with AMSGrad, `max_exp_avg_sq` (`v̂`).
///
/// ```
/// use tapegrad::optim::Adam;
/// let opt = Adam::<f32>::new(3e-4).betas(0.9, 0.98).eps(1e-9).amsgrad(true);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Adam<T: Float = f32> {
    rule: AdamRule<false>,
    core: Core<T>,
}

/// The rule of Adam (`DECOUPLED` false: decay added to the gradient) and of
/// AdamW (true: the parameter shrinks by `γλ` before the update).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamRule<const DECOUPLED: bool> {
    pub(crate) beta1: f64,
    pub(crate) beta2: f64,
    pub(crate) eps: f64,
    pub(crate) amsgrad: bool,
}

impl<const DECOUPLED: bool> AdamRule<DECOUPLED> {
    /// PyTorch's defaults.
    pub(crate) fn new() -> Self {
        AdamRule {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            amsgrad: false,
        }
    }

    /// Sets the betas, checking them for `optimizer`.
    pub(crate) fn set_betas(&mut self, optimizer: &str, beta1: f64, beta2: f64) {
        check_unit(optimizer, "beta1", beta1);
        check_unit(optimizer, "beta2", beta2);
        (self.beta1, self.beta2) = (beta1, beta2);
    }

    /// Sets eps, checking it for `optimizer`.
    pub(crate) fn set_eps(&mut self, optimizer: &str, eps: f64) {
        check_non_negative(optimizer, "eps", eps);
        self.eps = eps;
    }
}

impl<T: Float> Adam<T> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Adam {
            rule: AdamRule::new(),
            core: Core::new("Adam", lr, 0.0),
        }
    }

    /// Sets the decay rates `β₁` (first moment) and `β₂` (second moment).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.rule.set_betas("Adam", beta1, beta2);
        self
    }

    /// Sets `ε`, the term added to the denominator.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        self.rule.set_eps("Adam", eps);
        self
    }

    /// Switches the AMSGrad variant on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.rule.amsgrad = amsgrad;
        self
    }
}

impl<T: Float> Default for Adam<T> {
    /// PyTorch's defaults: `lr` 1e-3, betas (0.9, 0.999), `eps` 1e-8.
    fn default() -> Self {
        Self::new(1e-3)
    }
}

optimizer_common!(Adam, "added to the gradient (L2)");

#[derive(Clone, Copy)]
pub(crate) struct AdamCoeffs<T> {
    beta1: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    /// `γ / (1 − β₁ᵗ)`.
    step_size: T,
    /// `1 / √(1 − β₂ᵗ)`.
    inv_sqrt_bc2: T,
    eps: T,
    /// `λ` for Adam's L2 decay; unused by AdamW.
    l2: T,
    /// `1 − γλ` for AdamW's decoupled decay; 1 for Adam.
    keep: T,
}

impl<T: Float, const DECOUPLED: bool> Rule<T> for AdamRule<DECOUPLED> {
    type Coeffs = AdamCoeffs<T>;
    const NAME: &'static str = if DECOUPLED { "AdamW" } else { "Adam" };

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        let max = self.amsgrad.then_some("max_exp_avg_sq");
        [Some("exp_avg"), Some("exp_avg_sq"), max, None]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("eps", self.eps),
            ("amsgrad", f64::from(u8::from(self.amsgrad))),
        ]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, step: u64) -> AdamCoeffs<T> {
        let t = step as f64;
        let bc1 = 1.0 - self.beta1.powf(t);
        let bc2 = 1.0 - self.beta2.powf(t);
        AdamCoeffs {
            beta1: T::from_f64(self.beta1),
            one_minus_beta1: T::from_f64(1.0 - self.beta1),
            beta2: T::from_f64(self.beta2),
            one_minus_beta2: T::from_f64(1.0 - self.beta2),
            step_size: T::from_f64(lr / bc1),
            inv_sqrt_bc2: T::from_f64(1.0 / bc2.sqrt()),
            eps: T::from_f64(self.eps),
            l2: T::from_f64(if DECOUPLED { 0.0 } else { weight_decay }),
            keep: T::from_f64(if DECOUPLED {
                1.0 - lr * weight_decay
            } else {
                1.0
            }),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &AdamCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [m, v, v_max, _] = s;
        // Each combination gets its own loop with no branch inside. L2 decay
        // is skipped, not multiplied by 0, when off: 0 · ∞ would be NaN.
        match (self.amsgrad, c.l2 != T::ZERO) {
            (false, false) => adam::<T, false, false>(c, p, g, m, v, v_max),
            (false, true) => adam::<T, false, true>(c, p, g, m, v, v_max),
            (true, false) => adam::<T, true, false>(c, p, g, m, v, v_max),
            (true, true) => adam::<T, true, true>(c, p, g, m, v, v_max),
        }
    }
}

/// The fused update over one chunk: each element's parameter, gradient and
/// moments are read once and written once. `v_max` is empty without
/// AMSGrad.
#[inline(always)]
fn adam<T: Float, const AMSGRAD: bool, const L2: bool>(
    c: &AdamCoeffs<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    v_max: &mut [T],
) {
    let n = p.len();
    // Equal lengths, stated up front, let the loop run without bounds checks.
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let v_max = if AMSGRAD { &mut v_max[..n] } else { v_max };
    for i in 0..n {
        let gi = if L2 { g[i] + c.l2 * p[i] } else { g[i] };
        let mi = c.beta1 * m[i] + c.one_minus_beta1 * gi;
        let vi = c.beta2 * v[i] + c.one_minus_beta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        let v_hat = if AMSGRAD {
            let top = if vi > v_max[i] { vi } else { v_max[i] };
            v_max[i] = top;
            top
        } else {
            vi
        };
        let denom = v_hat.sqrt() * c.inv_sqrt_bc2 + c.eps;
        p[i] = p[i] * c.keep - c.step_size * (mi / denom);
    }
}
