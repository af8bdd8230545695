//! Prodigy: Adam whose step size is estimated from the distance the
//! parameters have travelled from where they started.

use super::engine::{Core, MAX_SLOTS, Rule, Slots, Sums};
use super::groups::{check_growth, check_positive, check_unit};
use super::optimizer_common;
use crate::tensor::Float;
use std::collections::BTreeMap;

/// Prodigy (Mishchenko and Defazio, 2023, "Prodigy: An Expeditiously
/// Adaptive Parameter-Free Learner"), as the authors' PyTorch
/// implementation, `prodigyopt.Prodigy`: Adam with a step size `d` that it
/// estimates itself, so that the learning rate can stay at 1.
///
/// `d` starts tiny (`d₀`) and grows towards the distance from the starting
/// point `θ₀` to a solution, estimated from how well past gradients point
/// back along the path travelled. With base rate `γ` (a multiplier of the
/// estimate, 1 by default), betas `β₁, β₂, β₃`, `ε`, weight decay `λ`,
/// gradient `g_k` and step `k + 1` (counted from 1 over the whole model):
///
/// ```text
/// ρ_k  = √(1 − β₂^(k+1)) / (1 − β₁^(k+1))    with bias correction, else 1
/// η_k  = d_k γ ρ_k                              the step's rate ("dlr")
/// g_k ← g_k + λ θ_k                             if λ ≠ 0 and not decoupled
/// r_{k+1} = β₃ r_k + (d_k/d₀) η_k ⟨g_k, θ₀ − θ_k⟩     (sum over all parameters)
/// m_{k+1} = β₁ m_k + d_k (1 − β₁) g_k
/// v_{k+1} = β₂ v_k + d_k² (1 − β₂) g_k²
/// s_{k+1} = β₃ s_k + (d_k/d₀) η_k g_k           (d_k/d₀) d_k g_k with safeguard warm-up
/// d̂ = d_coef · r_{k+1} / ‖s_{k+1}‖₁             (‖·‖₁ summed over all parameters)
/// d  ← max(d_k, d̂)                              on the first growth only (d_k = d₀)
/// d_max ← max(d_max, d̂),   d_{k+1} = min(d_max, d · growth_rate)
/// θ_k ← θ_k − λ η_k θ_k                         if λ ≠ 0 and decoupled
/// θ_{k+1} = θ_k − η_k m_{k+1} / (√v_{k+1} + d_{k+1} ε)
/// ```
///
/// `m₀ = v₀ = s₀ = 0`, `r₀ = 0`, `d₀ = d_max = 1e-6`, and `θ₀` is each
/// parameter's value at its first step. The two sums over all parameters
/// are taken in a pass of their own before the update, in a fixed order
/// (bit-identical at any thread count). While every gradient so far has
/// been zero (`‖s‖₁ = 0`) nothing moves and `d` stays.
///
/// Defaults (`prodigyopt`'s): `lr` 1, betas (0.9, 0.999), `β₃ = √β₂`,
/// `eps` 1e-8, weight decay 0 and decoupled (AdamW-style) when set, no
/// bias correction, no safeguard warm-up, `d0` 1e-6, `d_coef` 1, no limit
/// on growth. The authors recommend leaving `lr` at 1 (change `d_coef` to
/// get a larger or smaller estimate) and using a cosine schedule.
///
/// Scalars for the whole model (saved in the state): `d`, `d_max`,
/// `d_numerator` (`r`). State per parameter: `s`, `p0` (`θ₀`), `exp_avg`
/// (`m`), `exp_avg_sq` (`v`).
///
/// Parameter groups may change the weight decay; their rate must be the
/// base rate or 0 (as in `prodigyopt`, one step size serves all
/// parameters): a group at rate 0 is left untouched, any other rate panics
/// at the step.
///
/// ```
/// use tapegrad::optim::Prodigy;
/// let opt = Prodigy::<f32>::default().weight_decay(0.01).d_coef(0.5);
/// assert_eq!(opt.d(), 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Prodigy<T: Float = f32> {
    rule: ProdigyRule,
    core: Core<T>,
}

#[derive(Clone, Copy, Debug)]
struct ProdigyRule {
    beta1: f64,
    beta2: f64,
    /// `None`: `√β₂`.
    beta3: Option<f64>,
    eps: f64,
    decouple: bool,
    bias_correction: bool,
    safeguard_warmup: bool,
    d0: f64,
    d_coef: f64,
    growth_rate: f64,
    /// The estimate: before a step's reduction, `d_k`; after it, `d_{k+1}`.
    d: f64,
    d_max: f64,
    d_numerator: f64,
    /// This step's base rate and `η_k` (set by `begin`).
    lr: f64,
    dlr: f64,
}

impl ProdigyRule {
    fn beta3(&self) -> f64 {
        self.beta3.unwrap_or_else(|| self.beta2.sqrt())
    }
}

impl<T: Float> Prodigy<T> {
    /// Prodigy with rate multiplier `lr` (1 is the recommended value) and
    /// the authors' other defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        Prodigy {
            rule: ProdigyRule {
                beta1: 0.9,
                beta2: 0.999,
                beta3: None,
                eps: 1e-8,
                decouple: true,
                bias_correction: false,
                safeguard_warmup: false,
                d0: 1e-6,
                d_coef: 1.0,
                growth_rate: f64::INFINITY,
                d: 1e-6,
                d_max: 1e-6,
                d_numerator: 0.0,
                lr,
                dlr: 0.0,
            },
            core: Core::new("Prodigy", lr, 0.0),
        }
    }

    /// Sets `β₁` (first moment) and `β₂` (second moment; also sets the
    /// default `β₃ = √β₂`).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        check_unit("Prodigy", "beta1", beta1);
        check_unit("Prodigy", "beta2", beta2);
        (self.rule.beta1, self.rule.beta2) = (beta1, beta2);
        self
    }

    /// Sets `β₃`, the decay of the running sums behind the estimate
    /// (default `√β₂`).
    ///
    /// # Panics
    /// If it is outside `[0, 1)`.
    pub fn beta3(mut self, beta3: f64) -> Self {
        check_unit("Prodigy", "beta3", beta3);
        self.rule.beta3 = Some(beta3);
        self
    }

    /// Sets `ε`; the denominator adds `d ε`.
    ///
    /// # Panics
    /// If it is not a finite number > 0.
    pub fn eps(mut self, eps: f64) -> Self {
        check_positive("Prodigy", "eps", eps);
        self.rule.eps = eps;
        self
    }

    /// Decoupled weight decay (AdamW-style, the default) or, with `false`,
    /// L2 decay added to the gradient.
    pub fn decouple(mut self, decouple: bool) -> Self {
        self.rule.decouple = decouple;
        self
    }

    /// Switches Adam's bias correction `ρ_k` on or off (off by default).
    pub fn bias_correction(mut self, on: bool) -> Self {
        self.rule.bias_correction = on;
        self
    }

    /// Leaves the rate out of `s` (`(d/d₀) d g` instead of `(d/d₀) η g`),
    /// which the authors advise with a warm-up schedule: a small rate early
    /// on would otherwise inflate the estimate.
    pub fn safeguard_warmup(mut self, on: bool) -> Self {
        self.rule.safeguard_warmup = on;
        self
    }

    /// Sets the starting estimate `d₀` (default 1e-6; rarely needs
    /// changing).
    ///
    /// # Panics
    /// If it is not a finite number > 0.
    pub fn d0(mut self, d0: f64) -> Self {
        check_positive("Prodigy", "d0", d0);
        (self.rule.d0, self.rule.d, self.rule.d_max) = (d0, d0, d0);
        self
    }

    /// Sets `d_coef`, which scales the estimate `d̂` (default 1; the
    /// authors' preferred way to tune Prodigy: 0.5 or 2 are typical).
    ///
    /// # Panics
    /// If it is not a finite number > 0.
    pub fn d_coef(mut self, d_coef: f64) -> Self {
        check_positive("Prodigy", "d_coef", d_coef);
        self.rule.d_coef = d_coef;
        self
    }

    /// Limits the growth of `d` to this factor per step (default infinite:
    /// no limit; 1.02 acts like a warm-up).
    ///
    /// # Panics
    /// If it is below 1 or NaN.
    pub fn growth_rate(mut self, growth_rate: f64) -> Self {
        check_growth("Prodigy", "growth_rate", growth_rate);
        self.rule.growth_rate = growth_rate;
        self
    }

    /// The current step-size estimate `d` (the step's rate is `d · lr`,
    /// times the bias correction when it is on).
    pub fn d(&self) -> f64 {
        self.rule.d
    }
}

impl<T: Float> Default for Prodigy<T> {
    /// The authors' defaults, with `lr` 1.
    fn default() -> Self {
        Self::new(1.0)
    }
}

optimizer_common!(
    Prodigy,
    "decoupled by default (the parameter shrinks by `λ η θ`), or added to the gradient with `decouple(false)`"
);

#[derive(Clone, Copy)]
struct ProdigyCoeffs<T> {
    /// False for a group at rate 0: nothing changes.
    active: bool,
    beta1: T,
    beta2: T,
    beta3: T,
    /// `d (1 − β₁)`, `d² (1 − β₂)`, the factor of `g` in `s`.
    m_in: T,
    v_in: T,
    s_in: T,
    /// `(d/d₀) η`, the factor of the dot product.
    r_in: f64,
    /// `λ` for L2 decay (0 when decoupled).
    l2: T,
    /// `λ η` for decoupled decay (0 for L2).
    shrink: T,
    /// `η`.
    dlr: T,
}

impl<T: Float> Rule<T> for ProdigyRule {
    type Coeffs = ProdigyCoeffs<T>;
    const NAME: &'static str = "Prodigy";
    const REDUCES: bool = true;

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("s"), Some("p0"), Some("exp_avg"), Some("exp_avg_sq")]
    }

    fn slot_copies_param(&self, slot: usize) -> bool {
        slot == 1
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        let flag = |b: bool| f64::from(u8::from(b));
        let mut h = vec![
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("beta3", self.beta3()),
            ("eps", self.eps),
            ("decouple", flag(self.decouple)),
            ("use_bias_correction", flag(self.bias_correction)),
            ("safeguard_warmup", flag(self.safeguard_warmup)),
            ("d0", self.d0),
            ("d_coef", self.d_coef),
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
            ("d_max", self.d_max),
            ("d_numerator", self.d_numerator),
        ]
    }

    fn check_scalars(&self, saved: &BTreeMap<String, f64>) -> Result<(), (String, String)> {
        check_estimates(saved, &["d", "d_max"])
    }

    fn set_scalars(&mut self, saved: &BTreeMap<String, f64>) {
        (self.d, self.d_max, self.d_numerator) = (saved["d"], saved["d_max"], saved["d_numerator"]);
    }

    fn check_group_rate(&self, name: &str, group_lr: f64, lr: f64) {
        assert!(
            group_lr == lr || group_lr == 0.0,
            "Prodigy: '{name}' is in a group with rate {group_lr} but the base rate is {lr}; \
             one step size serves all parameters, so a group may only keep the base rate \
             or set 0 (left untouched)"
        );
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

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> ProdigyCoeffs<T> {
        let (d, ratio) = (self.d, self.d / self.d0);
        ProdigyCoeffs {
            active: lr > 0.0,
            beta1: T::from_f64(self.beta1),
            beta2: T::from_f64(self.beta2),
            beta3: T::from_f64(self.beta3()),
            m_in: T::from_f64(d * (1.0 - self.beta1)),
            v_in: T::from_f64(d * d * (1.0 - self.beta2)),
            s_in: T::from_f64(ratio * if self.safeguard_warmup { d } else { self.dlr }),
            r_in: ratio * self.dlr,
            l2: T::from_f64(if self.decouple { 0.0 } else { weight_decay }),
            shrink: T::from_f64(if self.decouple {
                weight_decay * self.dlr
            } else {
                0.0
            }),
            dlr: T::from_f64(self.dlr),
        }
    }

    #[inline(always)]
    fn reduce(&self, c: &ProdigyCoeffs<T>, p: &[T], g: &[T], s: Slots<'_, T>, sums: &mut Sums) {
        if !c.active {
            return;
        }
        let [s, p0, m, v] = s;
        let n = p.len();
        let (g, s, p0, m, v) = (&g[..n], &mut s[..n], &p0[..n], &mut m[..n], &mut v[..n]);
        let (mut dot, mut l1) = (0.0, 0.0);
        for i in 0..n {
            // L2 decay is skipped, not multiplied by 0, when off: 0 · ∞ is NaN.
            let gi = if c.l2 != T::ZERO {
                g[i] + c.l2 * p[i]
            } else {
                g[i]
            };
            dot += (gi * (p0[i] - p[i])).to_f64();
            m[i] = c.beta1 * m[i] + c.m_in * gi;
            v[i] = c.beta2 * v[i] + c.v_in * gi * gi;
            s[i] = c.beta3 * s[i] + c.s_in * gi;
            l1 += s[i].abs().to_f64();
        }
        sums[0] += c.r_in * dot;
        sums[1] += l1;
    }

    fn reduced(&mut self, sums: &Sums) -> bool {
        let numerator = self.beta3() * self.d_numerator + sums[0];
        if sums[1] == 0.0 {
            return false;
        }
        if self.lr > 0.0 {
            let d_hat = self.d_coef * numerator / sums[1];
            if self.d == self.d0 {
                self.d = self.d.max(d_hat);
            }
            self.d_max = self.d_max.max(d_hat);
            self.d = self.d_max.min(self.d * self.growth_rate);
        }
        self.d_numerator = numerator;
        true
    }

    #[inline(always)]
    fn apply(&self, c: &ProdigyCoeffs<T>, p: &mut [T], _g: &[T], s: Slots<'_, T>) {
        if !c.active {
            return;
        }
        let [_, _, m, v] = s;
        let n = p.len();
        let (m, v) = (&m[..n], &v[..n]);
        let d_eps = T::from_f64(self.d * self.eps);
        for i in 0..n {
            let denom = v[i].sqrt() + d_eps;
            if c.shrink != T::ZERO {
                p[i] = p[i] - c.shrink * p[i];
            }
            p[i] -= c.dlr * (m[i] / denom);
        }
    }
}

/// Checks saved step-size estimates: each of `names` must be > 0 (a `d` of
/// 0 could never grow).
pub(crate) fn check_estimates(
    saved: &BTreeMap<String, f64>,
    names: &[&str],
) -> Result<(), (String, String)> {
    for &name in names {
        let v = saved[name];
        if v <= 0.0 {
            return Err((
                name.to_owned(),
                format!("is {v}, but an estimate must be > 0"),
            ));
        }
    }
    Ok(())
}
