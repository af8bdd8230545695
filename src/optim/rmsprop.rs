//! RMSprop, plain or centred, with optional momentum.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::{check_non_negative, check_unit};
use super::optimizer_common;
use crate::tensor::Float;

/// RMSprop (Hinton's lecture 6e; centred as Graves, 2013), as PyTorch's
/// [`torch.optim.RMSprop`](https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html).
///
/// With rate `γ`, smoothing `α`, weight decay `λ` (L2), momentum `μ` and
/// gradient `g_t`, step `t` is:
///
/// ```text
/// g_t ← g_t + λ θ_{t-1}                     if λ ≠ 0
/// v_t = α v_{t-1} + (1 − α) g_t²
/// centred:  a_t = α a_{t-1} + (1 − α) g_t,   d_t = √(v_t − a_t²) + ε
/// else:     d_t = √v_t + ε
/// with μ > 0:  b_t = μ b_{t-1} + g_t / d_t,   θ_t = θ_{t-1} − γ b_t
/// else:        θ_t = θ_{t-1} − γ g_t / d_t
/// ```
///
/// `v₀ = a₀ = b₀ = 0`; there is no bias correction.
///
/// Defaults (PyTorch's): `lr` 1e-2, `alpha` 0.99, `eps` 1e-8, no weight
/// decay, no momentum, not centred. State per parameter: `square_avg`
/// (`v`), `momentum_buffer` (`b`, with momentum) and `grad_avg` (`a`,
/// centred).
///
/// ```
/// use tapegrad::optim::RmsProp;
/// let opt = RmsProp::<f32>::new(1e-3).alpha(0.9).centered(true).momentum(0.9);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp<T: Float = f32> {
    rule: RmsPropRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct RmsPropRule {
    alpha: f64,
    eps: f64,
    momentum: f64,
    centered: bool,
}

impl<T: Float> RmsProp<T> {
    /// RMSprop with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        RmsProp {
            rule: RmsPropRule {
                alpha: 0.99,
                eps: 1e-8,
                momentum: 0.0,
                centered: false,
            },
            core: Core::new("RmsProp", lr, 0.0),
        }
    }

    /// Sets the smoothing constant `α` of the moving averages.
    ///
    /// # Panics
    /// If it is outside `[0, 1)`.
    pub fn alpha(mut self, alpha: f64) -> Self {
        check_unit("RmsProp", "alpha", alpha);
        self.rule.alpha = alpha;
        self
    }

    /// Sets `ε`, the term added to the denominator.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        check_non_negative("RmsProp", "eps", eps);
        self.rule.eps = eps;
        self
    }

    /// Sets the momentum factor `μ` (0 turns momentum off).
    ///
    /// # Panics
    /// If it is outside `[0, 1)`.
    pub fn momentum(mut self, momentum: f64) -> Self {
        check_unit("RmsProp", "momentum", momentum);
        self.rule.momentum = momentum;
        self
    }

    /// Centres the second moment: divides by an estimate of the gradient's
    /// standard deviation instead of its root mean square.
    pub fn centered(mut self, centered: bool) -> Self {
        self.rule.centered = centered;
        self
    }
}

impl<T: Float> Default for RmsProp<T> {
    /// PyTorch's defaults: `lr` 1e-2, `alpha` 0.99, `eps` 1e-8.
    fn default() -> Self {
        Self::new(1e-2)
    }
}

optimizer_common!(RmsProp, "added to the gradient (L2)");

#[derive(Clone, Copy)]
struct RmsPropCoeffs<T> {
    lr: T,
    weight_decay: T,
    alpha: T,
    one_minus_alpha: T,
    eps: T,
    momentum: T,
}

impl<T: Float> Rule<T> for RmsPropRule {
    type Coeffs = RmsPropCoeffs<T>;
    const NAME: &'static str = "RmsProp";

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [
            Some("square_avg"),
            (self.momentum > 0.0).then_some("momentum_buffer"),
            self.centered.then_some("grad_avg"),
            None,
        ]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("alpha", self.alpha),
            ("eps", self.eps),
            ("momentum", self.momentum),
            ("centered", f64::from(u8::from(self.centered))),
        ]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> RmsPropCoeffs<T> {
        RmsPropCoeffs {
            lr: T::from_f64(lr),
            weight_decay: T::from_f64(weight_decay),
            alpha: T::from_f64(self.alpha),
            one_minus_alpha: T::from_f64(1.0 - self.alpha),
            eps: T::from_f64(self.eps),
            momentum: T::from_f64(self.momentum),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &RmsPropCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [v, buf, avg, _] = s;
        let n = p.len();
        let (g, v) = (&g[..n], &mut v[..n]);
        let (decay, momentum, centered) =
            (c.weight_decay != T::ZERO, !buf.is_empty(), self.centered);
        for i in 0..n {
            // Decay is skipped, not multiplied by 0, when off: 0 · ∞ is NaN.
            let gi = if decay {
                g[i] + c.weight_decay * p[i]
            } else {
                g[i]
            };
            v[i] = c.alpha * v[i] + c.one_minus_alpha * gi * gi;
            let d = if centered {
                avg[i] = c.alpha * avg[i] + c.one_minus_alpha * gi;
                (v[i] - avg[i] * avg[i]).sqrt() + c.eps
            } else {
                v[i].sqrt() + c.eps
            };
            if momentum {
                buf[i] = c.momentum * buf[i] + gi / d;
                p[i] -= c.lr * buf[i];
            } else {
                p[i] -= c.lr * (gi / d);
            }
        }
    }
}
