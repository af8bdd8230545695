//! D-Adaptation Adam: Adam whose step size is a lower bound on the
//! distance to a solution, estimated as it trains.

use super::engine::{Core, MAX_SLOTS, Rule, Slots, Sums};
use super::groups::{check_growth, check_positive, check_unit};
use super::optimizer_common;
use super::prodigy::check_estimates;
use crate::tensor::Float;
use std::collections::BTreeMap;

/// D-Adaptation Adam (Defazio and Mishchenko, 2023, "Learning-Rate-Free
/// Learning by D-Adaptation"), as the authors' PyTorch implementation,
/// `dadaptation.DAdaptAdam`: Adam with a step size `d` that it estimates
/// itself, so that the learning rate can stay at 1.
///
/// With base rate `γ` (a multiplier of the estimate, 1 by default), betas
/// `β₁, β₂`, `ε`, weight decay `λ`, a parameter's layer scale `ℓ` (its
/// group's rate over the base rate, 1 outside groups), gradient `g_k` and
/// step `k + 1` (counted from 1 over the whole model):
///
/// ```text
/// ρ_k  = √(1 − β₂^(k+1)) / (1 − β₁^(k+1))     with bias correction, else 1
/// η_k  = d_k γ ρ_k                               the step's rate ("dlr")
/// g_k ← g_k + λ θ_k                              if λ ≠ 0 and not decoupled
/// u_k  = Σ ℓ η_k ⟨g_k, s_k / (√v_k + ε)⟩         (sum over all parameters)
/// r_{k+1} = √β₂ r_k + (1 − √β₂) u_k
/// m_{k+1} = β₁ m_k + ℓ η_k (1 − β₁) g_k
/// v_{k+1} = β₂ v_k + (1 − β₂) g_k²
/// s_{k+1} = √β₂ s_k + η_k (1 − √β₂) g_k
/// d̂ = r_{k+1} / ((1 − √β₂) Σ ℓ ‖s_{k+1}‖₁)
/// d_{k+1} = max(d_k, min(d̂, d_k · growth_rate))
/// θ_k ← θ_k − λ η_k θ_k                          if λ ≠ 0 and decoupled
/// θ_{k+1} = θ_k − m_{k+1} / (√v_{k+1} + ε)
/// ```
///
/// `m₀ = v₀ = s₀ = 0`, `r₀ = 0`, `d₀ = 1e-6`. The rate is inside `m`, so
/// the update divides `m` alone; `d_{k+1}` first acts on the next step. The
/// two sums over all parameters are taken in a pass of their own before
/// the update, in a fixed order (bit-identical at any thread count). While
/// every gradient so far has been zero (`Σ ‖s‖₁ = 0`) nothing moves and
/// `d` stays.
///
/// Defaults (`dadaptation`'s): `lr` 1, betas (0.9, 0.999), `eps` 1e-8,
/// weight decay 0 and, when set, added to the gradient (L2; `decouple(true)`
/// for AdamW-style), no bias correction, `d0` 1e-6, no limit on growth.
///
/// Scalars for the whole model (saved in the state): `d`,
/// `numerator_weighted` (`r`). State per parameter: `s`, `exp_avg` (`m`),
/// `exp_avg_sq` (`v`).
///
/// Parameter groups may change the weight decay, and scale the rate (the
/// reference's `layer_scale`: a group at half the base rate takes half
/// steps and counts half in the estimate); a group at rate 0 is left
/// untouched.
///
/// ```
/// use tapegrad::optim::DAdaptAdam;
/// let opt = DAdaptAdam::<f32>::default().decouple(true).weight_decay(0.01);
/// assert_eq!(opt.d(), 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct DAdaptAdam<T: Float = f32> {
    rule: DAdaptAdamRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct DAdaptAdamRule {
    beta1: f64,
    beta2: f64,
    eps: f64,
    decouple: bool,
    bias_correction: bool,
    d0: f64,
    growth_rate: f64,
    /// The estimate: before a step's reduction `d_k`, after it `d_{k+1}`.
    d: f64,
    numerator_weighted: f64,
    /// This step's base rate and `η_k` (set by `begin`).
    lr: f64,
    dlr: f64,
}

impl<T: Float> DAdaptAdam<T> {
    /// D-Adaptation Adam with rate multiplier `lr` (1 is the recommended
    /// value) and the authors' other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        DAdaptAdam {
            rule: DAdaptAdamRule {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                decouple: false,
                bias_correction: false,
                d0: 1e-6,
                growth_rate: f64::INFINITY,
                d: 1e-6,
                numerator_weighted: 0.0,
                lr,
                dlr: 0.0,
            },
            core: Core::new("DAdaptAdam", lr, 0.0),
        }
    }

    /// Sets `β₁` (first moment) and `β₂` (second moment, and with `√β₂`
    /// the running sums behind the estimate).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        check_unit("DAdaptAdam", "beta1", beta1);
        check_unit("DAdaptAdam", "beta2", beta2);
        (self.rule.beta1, self.rule.beta2) = (beta1, beta2);
        self
    }

    /// Sets `ε`, added to the denominator.
    ///
    /// # Panics
    /// If it is not a finite number > 0.
    pub fn eps(mut self, eps: f64) -> Self {
        check_positive("DAdaptAdam", "eps", eps);
        self.rule.eps = eps;
        self
    }

    /// Decoupled weight decay (AdamW-style) with `true`; L2 decay added to
    /// the gradient with `false` (the default).
    pub fn decouple(mut self, decouple: bool) -> Self {
        self.rule.decouple = decouple;
        self
    }

    /// Switches Adam's bias correction `ρ_k` on or off (off by default).
    pub fn bias_correction(mut self, on: bool) -> Self {
        self.rule.bias_correction = on;
        self
    }

    /// Sets the starting estimate `d₀` (default 1e-6; rarely needs
    /// changing).
    ///
    /// # Panics
    /// If it is not a finite number > 0.
    pub fn d0(mut self, d0: f64) -> Self {
        check_positive("DAdaptAdam", "d0", d0);
        (self.rule.d0, self.rule.d) = (d0, d0);
        self
    }

    /// Limits the growth of `d` to this factor per step (default infinite:
    /// no limit; 1.02 acts like a warm-up).
    ///
    /// # Panics
    /// If it is below 1 or NaN.
    pub fn growth_rate(mut self, growth_rate: f64) -> Self {
        check_growth("DAdaptAdam", "growth_rate", growth_rate);
        self.rule.growth_rate = growth_rate;
        self
    }

    /// The current step-size estimate `d` (the step's rate is `d · lr`,
    /// times the bias correction when it is on).
    pub fn d(&self) -> f64 {
        self.rule.d
    }
}

impl<T: Float> Default for DAdaptAdam<T> {
    /// The authors' defaults, with `lr` 1.
    fn default() -> Self {
        Self::new(1.0)
    }
}

optimizer_common!(
    DAdaptAdam,
    "added to the gradient (L2) by default, or decoupled with `decouple(true)` (the parameter shrinks by `λ η θ`)"
);

#[derive(Clone, Copy)]
struct DAdaptAdamCoeffs<T> {
    /// False for a group at rate 0: nothing changes.
    active: bool,
    beta1: T,
    beta2: T,
    sqrt_beta2: T,
    /// `ℓ η (1 − β₁)`, `1 − β₂`, `η (1 − √β₂)`: the factors of `g` in `m`,
    /// `g²` in `v` and `g` in `s`.
    m_in: T,
    v_in: T,
    s_in: T,
    eps: T,
    /// `ℓ η` and `ℓ`, the factors of the two sums.
    num_scale: f64,
    layer: f64,
    /// `λ` for L2 decay (0 when decoupled).
    l2: T,
    /// `λ η` for decoupled decay (0 for L2).
    shrink: T,
}

impl<T: Float> Rule<T> for DAdaptAdamRule {
    type Coeffs = DAdaptAdamCoeffs<T>;
    const NAME: &'static str = "DAdaptAdam";
    const REDUCES: bool = true;

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("s"), Some("exp_avg"), Some("exp_avg_sq"), None]
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        let flag = |b: bool| f64::from(u8::from(b));
        let mut h = vec![
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("eps", self.eps),
            ("decouple", flag(self.decouple)),
            ("use_bias_correction", flag(self.bias_correction)),
            ("d0", self.d0),
        ];
        // Unlimited growth is recorded by leaving the entry out (saved
        // hyperparameters are finite).
        if self.growth_rate.is_finite() {
            h.push(("growth_rate", self.growth_rate));
        }
        h
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("d", self.d),
            ("numerator_weighted", self.numerator_weighted),
        ]
    }

    fn check_scalars(&self, saved: &BTreeMap<String, f64>) -> Result<(), (String, String)> {
        check_estimates(saved, &["d"])
    }

    fn set_scalars(&mut self, saved: &BTreeMap<String, f64>) {
        (self.d, self.numerator_weighted) = (saved["d"], saved["numerator_weighted"]);
    }

    fn begin(&mut self, lr: f64, steps: u64) {
        let t = steps as f64;
        let rho = if self.bias_correction {
            (1.0 - self.beta2.powf(t)).sqrt() / (1.0 - self.beta1.powf(t))
        } else {
            1.0
        };
        self.lr = lr;
        self.dlr = self.d * lr * rho;
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> DAdaptAdamCoeffs<T> {
        let layer = if lr > 0.0 { lr / self.lr } else { 0.0 };
        let sqrt_beta2 = self.beta2.sqrt();
        DAdaptAdamCoeffs {
            active: lr > 0.0,
            beta1: T::from_f64(self.beta1),
            beta2: T::from_f64(self.beta2),
            sqrt_beta2: T::from_f64(sqrt_beta2),
            m_in: T::from_f64(layer * self.dlr * (1.0 - self.beta1)),
            v_in: T::from_f64(1.0 - self.beta2),
            s_in: T::from_f64(self.dlr * (1.0 - sqrt_beta2)),
            eps: T::from_f64(self.eps),
            num_scale: layer * self.dlr,
            layer,
            l2: T::from_f64(if self.decouple { 0.0 } else { weight_decay }),
            shrink: T::from_f64(if self.decouple {
                weight_decay * self.dlr
            } else {
                0.0
            }),
        }
    }

    #[inline(always)]
    fn reduce(&self, c: &DAdaptAdamCoeffs<T>, p: &[T], g: &[T], s: Slots<'_, T>, sums: &mut Sums) {
        if !c.active {
            return;
        }
        let [s, m, v, _] = s;
        let n = p.len();
        let (g, s, m, v) = (&g[..n], &mut s[..n], &mut m[..n], &mut v[..n]);
        let (mut dot, mut l1) = (0.0, 0.0);
        for i in 0..n {
            // L2 decay is skipped, not multiplied by 0, when off: 0 · ∞ is NaN.
            let gi = if c.l2 != T::ZERO {
                g[i] + c.l2 * p[i]
            } else {
                g[i]
            };
            dot += (gi * (s[i] / (v[i].sqrt() + c.eps))).to_f64();
            m[i] = c.beta1 * m[i] + c.m_in * gi;
            v[i] = c.beta2 * v[i] + c.v_in * gi * gi;
            s[i] = c.sqrt_beta2 * s[i] + c.s_in * gi;
            l1 += s[i].abs().to_f64();
        }
        sums[0] += c.num_scale * dot;
        sums[1] += c.layer * l1;
    }

    fn reduced(&mut self, sums: &Sums) -> bool {
        let sqrt_beta2 = self.beta2.sqrt();
        let weighted = sqrt_beta2 * self.numerator_weighted + (1.0 - sqrt_beta2) * sums[0];
        if sums[1] == 0.0 {
            return false;
        }
        if self.lr > 0.0 {
            let d_hat = weighted / ((1.0 - sqrt_beta2) * sums[1]);
            self.d = self.d.max(d_hat.min(self.d * self.growth_rate));
        }
        self.numerator_weighted = weighted;
        true
    }

    #[inline(always)]
    fn apply(&self, c: &DAdaptAdamCoeffs<T>, p: &mut [T], _g: &[T], s: Slots<'_, T>) {
        if !c.active {
            return;
        }
        let [_, m, v, _] = s;
        let n = p.len();
        let (m, v) = (&m[..n], &v[..n]);
        for i in 0..n {
            let denom = v[i].sqrt() + c.eps;
            if c.shrink != T::ZERO {
                p[i] = p[i] - c.shrink * p[i];
            }
            p[i] -= m[i] / denom;
        }
    }
}
