//! Stochastic gradient descent with momentum, dampening, Nesterov momentum
//! and weight decay.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::check_unit;
use super::optimizer_common;
use crate::tensor::Float;

/// Stochastic gradient descent, as PyTorch's
/// [`torch.optim.SGD`](https://pytorch.org/docs/stable/generated/torch.optim.SGD.html).
///
/// With rate `γ`, weight decay `λ`, momentum `μ`, dampening `τ`, gradient
/// `g_t` and momentum buffer `b_t`, step `t` is:
///
/// ```text
/// g_t ← g_t + λ θ_{t-1}                     if λ ≠ 0
/// if μ ≠ 0:
///     b_t = g_t                             if t = 1
///     b_t = μ b_{t-1} + (1 − τ) g_t         otherwise
///     g_t ← g_t + μ b_t                     with Nesterov
///     g_t ← b_t                             without
/// θ_t = θ_{t-1} − γ g_t
/// ```
///
/// As in PyTorch, the buffer starts as the first gradient itself, not as
/// zero, and dampening does not apply to that first step.
///
/// Defaults (PyTorch's): `lr` 1e-3, no momentum, no dampening, no weight
/// decay, no Nesterov. State per parameter: `momentum_buffer` (only with
/// momentum).
///
/// ```
/// use tapegrad::optim::Sgd;
/// let opt = Sgd::<f32>::new(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Float = f32> {
    rule: SgdRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct SgdRule {
    momentum: f64,
    dampening: f64,
    nesterov: bool,
}

impl<T: Float> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Sgd {
            rule: SgdRule {
                momentum: 0.0,
                dampening: 0.0,
                nesterov: false,
            },
            core: Core::new("Sgd", lr, 0.0),
        }
    }

    /// Sets the momentum factor `μ` (0 turns momentum off).
    ///
    /// # Panics
    /// If it is outside `[0, 1)`.
    pub fn momentum(mut self, momentum: f64) -> Self {
        check_unit("Sgd", "momentum", momentum);
        self.rule.momentum = momentum;
        self
    }

    /// Sets the dampening `τ`: the momentum buffer takes `(1 − τ)` of each
    /// new gradient.
    ///
    /// # Panics
    /// If it is outside `[0, 1]`.
    pub fn dampening(mut self, dampening: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&dampening),
            "Sgd: dampening must be in [0, 1], got {dampening}"
        );
        self.rule.dampening = dampening;
        self
    }

    /// Switches Nesterov momentum on or off. It needs momentum above 0 and
    /// no dampening, which the first step checks (so the builder methods
    /// can come in any order).
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.rule.nesterov = nesterov;
        self
    }
}

impl<T: Float> Default for Sgd<T> {
    /// PyTorch's defaults: `lr` 1e-3, no momentum.
    fn default() -> Self {
        Self::new(1e-3)
    }
}

optimizer_common!(Sgd, "added to the gradient (L2)");

#[derive(Clone, Copy)]
struct SgdCoeffs<T> {
    lr: T,
    weight_decay: T,
    momentum: T,
    one_minus_dampening: T,
    first: bool,
    nesterov: bool,
}

impl<T: Float> Rule<T> for SgdRule {
    type Coeffs = SgdCoeffs<T>;
    const NAME: &'static str = "Sgd";

    fn check(&self) {
        assert!(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            "Sgd: Nesterov momentum needs momentum > 0 and dampening 0, got momentum {} and \
             dampening {}",
            self.momentum,
            self.dampening
        );
    }

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        let buffer = (self.momentum != 0.0).then_some("momentum_buffer");
        [buffer, None, None, None]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("momentum", self.momentum),
            ("dampening", self.dampening),
            ("nesterov", f64::from(u8::from(self.nesterov))),
        ]
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, step: u64) -> SgdCoeffs<T> {
        SgdCoeffs {
            lr: T::from_f64(lr),
            weight_decay: T::from_f64(weight_decay),
            momentum: T::from_f64(self.momentum),
            one_minus_dampening: T::from_f64(1.0 - self.dampening),
            first: step == 1,
            nesterov: self.nesterov,
        }
    }

    #[inline(always)]
    fn apply(&self, c: &SgdCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [buf, _, _, _] = s;
        // Decay is skipped, not multiplied by 0, when off: 0 · ∞ would be NaN.
        if c.weight_decay != T::ZERO {
            sgd::<T, true>(c, p, g, buf)
        } else {
            sgd::<T, false>(c, p, g, buf)
        }
    }
}

/// The update over one chunk; `buf` is empty without momentum.
#[inline(always)]
fn sgd<T: Float, const DECAY: bool>(c: &SgdCoeffs<T>, p: &mut [T], g: &[T], buf: &mut [T]) {
    let decayed = |p: T, g: T| if DECAY { g + c.weight_decay * p } else { g };
    if buf.is_empty() {
        for (p, &g) in p.iter_mut().zip(g) {
            *p -= c.lr * decayed(*p, g);
        }
        return;
    }
    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
        let g = decayed(*p, g);
        *b = if c.first {
            g
        } else {
            c.momentum * *b + c.one_minus_dampening * g
        };
        let d = if c.nesterov { g + c.momentum * *b } else { *b };
        *p -= c.lr * d;
    }
}
