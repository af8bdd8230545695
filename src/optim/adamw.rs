//! AdamW: Adam with decoupled weight decay.

use super::adam::AdamRule;
use super::engine::Core;
use super::optimizer_common;
use crate::tensor::Float;

/// AdamW (Loshchilov and Hutter, 2019, "Decoupled Weight Decay
/// Regularization"), as PyTorch's
/// [`torch.optim.AdamW`](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html).
///
/// The weight decay shrinks the parameter directly instead of entering the
/// gradient, so it is not rescaled by the adaptive denominator. With rate
/// `γ`, betas `β₁, β₂`, weight decay `λ` and gradient `g_t`, step `t`
/// (counted per parameter from 1) is:
///
/// ```text
/// θ_{t-1} ← θ_{t-1} − γ λ θ_{t-1}
/// m_t = β₁ m_{t-1} + (1 − β₁) g_t
/// v_t = β₂ v_{t-1} + (1 − β₂) g_t²
/// v̂_t = max(v̂_{t-1}, v_t)   with AMSGrad,   v̂_t = v_t   without
/// θ_t = θ_{t-1} − γ / (1 − β₁ᵗ) · m_t / (√v̂_t / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Everything but the decay is [`Adam`](super::Adam)'s rule.
///
/// Defaults (PyTorch's): `lr` 1e-3, betas (0.9, 0.999), `eps` 1e-8,
/// weight decay **0.01**, no AMSGrad. State per parameter: `exp_avg`,
/// `exp_avg_sq` and, with AMSGrad, `max_exp_avg_sq`.
///
/// ```
/// use tapegrad::optim::{AdamW, GroupOptions};
/// let no_decay = GroupOptions { weight_decay: Some(0.0), ..GroupOptions::default() };
/// let opt = AdamW::<f32>::new(3e-4)
///     .betas(0.9, 0.95)
///     .weight_decay(0.1)
///     .group(|name| name.ends_with("bias"), no_decay);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<T: Float = f32> {
    rule: AdamRule<true>,
    core: Core<T>,
}

impl<T: Float> AdamW<T> {
    /// AdamW with learning rate `lr` and PyTorch's other defaults (weight
    /// decay 0.01).
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        AdamW {
            rule: AdamRule::new(),
            core: Core::new("AdamW", lr, 1e-2),
        }
    }

    /// Sets the decay rates `β₁` (first moment) and `β₂` (second moment).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.rule.set_betas("AdamW", beta1, beta2);
        self
    }

    /// Sets `ε`, the term added to the denominator.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        self.rule.set_eps("AdamW", eps);
        self
    }

    /// Switches the AMSGrad variant on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.rule.amsgrad = amsgrad;
        self
    }
}

impl<T: Float> Default for AdamW<T> {
    /// PyTorch's defaults: `lr` 1e-3, betas (0.9, 0.999), `eps` 1e-8, weight
    /// decay 0.01.
    fn default() -> Self {
        Self::new(1e-3)
    }
}

optimizer_common!(AdamW, "decoupled (the parameter shrinks by `γλθ`)");
