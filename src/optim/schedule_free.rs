//! Schedule-free SGD and AdamW: no learning-rate schedule, an averaged
//! point to evaluate at, and the switch between it and the training point.

use super::engine::{Core, MAX_SLOTS, Rule, Slots};
use super::groups::{check_non_negative, check_unit};
use super::optimizer_common;
use crate::nn::Module;
use crate::tensor::Float;
use std::collections::BTreeMap;

/// Schedule-free SGD (Defazio et al., 2024, "The Road Less Scheduled"), as
/// the authors' PyTorch `schedulefree.SGDScheduleFree`: SGD whose
/// iterates are averaged on the fly, so that no decaying schedule (and no
/// training horizon) is needed.
///
/// Three sequences per parameter: `z` takes plain SGD steps, `x` is a
/// weighted average of the `z`s (the point to **evaluate and save**), and
/// gradients are taken at `y`, between the two, which is where the model's
/// parameters are while training. With base rate `γ`, momentum `β`, weight
/// decay `λ`, warm-up `w` steps, averaging powers `r` and `p`, and step
/// `k + 1` (counted from 1 over the whole model):
///
/// ```text
/// γ_k  = γ · min(1, (k+1)/w)                    linear warm-up (none if w = 0)
/// γ_max ← max(γ_max, γ_k)
/// c_k  = (k+1)^r γ_max^p / Σ_{j≤k} (j+1)^r γ_max,j^p     (0 if the sum is 0)
/// g_k ← g_k + λ y_k                             if λ ≠ 0
/// z_{k+1} = z_k − γ_k g_k
/// x_{k+1} = (1 − c_k) x_k + c_k z_{k+1}
/// y_{k+1} = β x_{k+1} + (1 − β) z_{k+1}         the parameters after the step
/// ```
///
/// `z₀ = x₀ = y₀` is each parameter's value at its first step. `γ_max`
/// starts at −1 (so the first step sets it), and `c_k` is shared by all
/// parameters, computed from the base rate: a group whose rate is a fixed
/// multiple of it (`lr_scale`) takes the same averaging weights the
/// reference gives it, and only its steps scale.
///
/// [`to_eval_point`](super::Optimizer::to_eval_point) puts `x` in the
/// parameters, [`to_train_point`](super::Optimizer::to_train_point) puts
/// `y` back. Unlike the reference, which keeps only `y` and `z` and
/// recovers `x` from them (inexactly in floating point), `x` is kept as
/// state, one more tensor per parameter, so that both switches are exact:
/// `y` comes back with the bits it had, and a checkpoint saved at `x`
/// resumes bit for bit. A step at the evaluation point panics (as the
/// reference raises). Unlike the reference, a new optimiser starts at the
/// training point. Models with batch norm need their running statistics
/// recomputed at `x` before evaluating (as the reference notes).
///
/// Defaults (`schedulefree`'s): `lr` 1, momentum 0.9, weight decay 0, no
/// warm-up, `r` 0, `weight_lr_power` 2. Scalars for the whole model
/// (saved in the state): `lr_max`, `weight_sum`, `train_mode` (1 at the
/// training point, 0 at the evaluation point). State per parameter: `z`,
/// `x`.
///
/// ```
/// use tapegrad::optim::SgdScheduleFree;
/// let opt = SgdScheduleFree::<f32>::new(0.5).momentum(0.95).warmup_steps(100);
/// # let _ = opt;
/// ```
#[derive(Clone, Debug)]
pub struct SgdScheduleFree<T: Float = f32> {
    rule: ScheduleFreeRule<false>,
    core: Core<T>,
}

/// Schedule-free AdamW (Defazio et al., 2024, "The Road Less Scheduled"),
/// as the authors' PyTorch `schedulefree.AdamWScheduleFree`: the
/// schedule-free averaging of [`SgdScheduleFree`] around an Adam-normalised
/// step, with no learning-rate schedule.
///
/// With base rate `γ`, betas `β₁` (the interpolation between `x` and `z`)
/// and `β₂`, `ε`, weight decay `λ`, and `γ_k`, `c_k` as for
/// [`SgdScheduleFree`], step `k + 1` is:
///
/// ```text
/// v_{k+1} = β₂ v_k + (1 − β₂) g_k²
/// u_k     = g_k / (√(v_{k+1} / (1 − β₂^(k+1))) + ε) + λ y_k    (decay at y, not normalised)
/// z_{k+1} = z_k − γ_k u_k
/// x_{k+1} = (1 − c_k) x_k + c_k z_{k+1}
/// y_{k+1} = β₁ x_{k+1} + (1 − β₁) z_{k+1}       the parameters after the step
/// ```
///
/// with `v₀ = 0`. Everything else (the evaluation point, exact switching,
/// groups) is as for [`SgdScheduleFree`].
///
/// Defaults (`schedulefree`'s): `lr` 0.0025, betas (0.9, 0.999), `eps`
/// 1e-8, weight decay 0, no warm-up, `r` 0, `weight_lr_power` 2 (the
/// reference's optional inner momentum is not offered). Scalars: `lr_max`,
/// `weight_sum`, `train_mode`. State per parameter: `z`, `x`, `exp_avg_sq`
/// (`v`).
///
/// ```
/// use tapegrad::optim::{AdamWScheduleFree, Optimizer};
/// use tapegrad::{Param, Tape, tensor};
///
/// let mut w = Param::new("w", tensor![0.0f32, 0.0]);
/// let mut opt = AdamWScheduleFree::new(0.05).warmup_steps(10);
/// for _ in 0..300 {
///     let tape = Tape::new();
///     let err = (tape.param(&w) * tape.constant(tensor![1.0, 2.0])).sum() - 3.0;
///     let grads = (err * err).backward_and_reset();
///     opt.step(&mut w, &grads);
/// }
/// opt.to_eval_point(&mut w); // evaluate (or save) at x
/// let v = w.value();
/// assert!((v.get(&[0]) + 2.0 * v.get(&[1]) - 3.0).abs() < 1e-2);
/// opt.to_train_point(&mut w); // and continue from y
/// ```
#[derive(Clone, Debug)]
pub struct AdamWScheduleFree<T: Float = f32> {
    rule: ScheduleFreeRule<true>,
    core: Core<T>,
}

/// The slots: `z`, `x`, and for AdamW `v`.
const Z: usize = 0;
const X: usize = 1;

/// The rule of both (`ADAM` false: SGD, `beta1` is the momentum).
#[derive(Clone, Copy, Debug)]
struct ScheduleFreeRule<const ADAM: bool> {
    beta1: f64,
    beta2: f64,
    eps: f64,
    warmup_steps: u64,
    r: f64,
    weight_lr_power: f64,
    lr_max: f64,
    weight_sum: f64,
    train_mode: bool,
    /// This step's warm-up factor, `c_k` and `1 − β₂^(k+1)` (set by `begin`).
    sched: f64,
    ckp1: f64,
    bc2: f64,
}

impl<const ADAM: bool> ScheduleFreeRule<ADAM> {
    fn new(beta1: f64) -> Self {
        ScheduleFreeRule {
            beta1,
            beta2: 0.999,
            eps: 1e-8,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
            lr_max: -1.0,
            weight_sum: 0.0,
            train_mode: true,
            sched: 1.0,
            ckp1: 0.0,
            bc2: 1.0,
        }
    }

    fn name() -> &'static str {
        if ADAM {
            "AdamWScheduleFree"
        } else {
            "SgdScheduleFree"
        }
    }
}

/// `y = β x + (1 − β) z`: the one expression for the training point, used
/// by the step and by [`to_train_point`](super::Optimizer::to_train_point),
/// so that both give the same bits.
#[inline(always)]
fn y_of<T: Float>(beta: T, one_minus_beta: T, x: T, z: T) -> T {
    beta * x + one_minus_beta * z
}

/// Puts `x` into every parameter that has state.
fn eval_point<T: Float, const ADAM: bool>(
    core: &Core<T>,
    rule: &mut ScheduleFreeRule<ADAM>,
    model: &mut dyn Module<T>,
) {
    if !rule.train_mode {
        return;
    }
    let what = ScheduleFreeRule::<ADAM>::name();
    core.each_state(what, model, &mut |p, slots| p.copy_from_slice(&slots[X]));
    rule.train_mode = false;
}

/// Puts `y`, computed from `x` and `z`, into every parameter that has state.
fn train_point<T: Float, const ADAM: bool>(
    core: &Core<T>,
    rule: &mut ScheduleFreeRule<ADAM>,
    model: &mut dyn Module<T>,
) {
    if rule.train_mode {
        return;
    }
    let (b, ob) = (T::from_f64(rule.beta1), T::from_f64(1.0 - rule.beta1));
    let what = ScheduleFreeRule::<ADAM>::name();
    core.each_state(what, model, &mut |p, slots| {
        for ((p, &x), &z) in p.iter_mut().zip(&slots[X]).zip(&slots[Z]) {
            *p = y_of(b, ob, x, z);
        }
    });
    rule.train_mode = true;
}

/// The builder methods both share.
macro_rules! schedule_free_common {
    ($name:ident) => {
        impl<T: Float> $name<T> {
            /// Warms the rate up linearly over the first `steps` steps
            /// (`γ (k+1)/w`; 0, the default, for none). Use this rather
            /// than a schedule.
            pub fn warmup_steps(mut self, steps: u64) -> Self {
                self.rule.warmup_steps = steps;
                self
            }

            /// Sets `r`: step `k + 1` weighs `(k+1)^r` in the average
            /// (default 0: equal weights after warm-up).
            ///
            /// # Panics
            /// If it is negative or not finite.
            pub fn r(mut self, r: f64) -> Self {
                check_non_negative(stringify!($name), "r", r);
                self.rule.r = r;
                self
            }

            /// Sets `p`: each step weighs `γ_max^p` in the average, so that
            /// warm-up steps count less (default 2; 0 for no weighting).
            ///
            /// # Panics
            /// If it is negative or not finite.
            pub fn weight_lr_power(mut self, power: f64) -> Self {
                check_non_negative(stringify!($name), "weight_lr_power", power);
                self.rule.weight_lr_power = power;
                self
            }
        }
    };
}

impl<T: Float> SgdScheduleFree<T> {
    /// Schedule-free SGD with base rate `lr` and the authors' other
    /// defaults (momentum 0.9).
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        SgdScheduleFree {
            rule: ScheduleFreeRule::new(0.9),
            core: Core::new("SgdScheduleFree", lr, 0.0),
        }
    }

    /// Sets the momentum `β`, the interpolation between `x` and `z` that
    /// gives `y` (0: gradients at `z`, plain SGD with averaging).
    ///
    /// # Panics
    /// If it is outside `[0, 1)`.
    pub fn momentum(mut self, momentum: f64) -> Self {
        check_unit("SgdScheduleFree", "momentum", momentum);
        self.rule.beta1 = momentum;
        self
    }
}

impl<T: Float> Default for SgdScheduleFree<T> {
    /// The authors' defaults: `lr` 1, momentum 0.9.
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl<T: Float> AdamWScheduleFree<T> {
    /// Schedule-free AdamW with base rate `lr` and the authors' other
    /// defaults.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f64) -> Self {
        AdamWScheduleFree {
            rule: ScheduleFreeRule::new(0.9),
            core: Core::new("AdamWScheduleFree", lr, 0.0),
        }
    }

    /// Sets `β₁` (the interpolation between `x` and `z` that gives `y`) and
    /// `β₂` (the second moment's decay).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        check_unit("AdamWScheduleFree", "beta1", beta1);
        check_unit("AdamWScheduleFree", "beta2", beta2);
        (self.rule.beta1, self.rule.beta2) = (beta1, beta2);
        self
    }

    /// Sets `ε`, added to the denominator.
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn eps(mut self, eps: f64) -> Self {
        check_non_negative("AdamWScheduleFree", "eps", eps);
        self.rule.eps = eps;
        self
    }
}

impl<T: Float> Default for AdamWScheduleFree<T> {
    /// The authors' defaults: `lr` 0.0025, betas (0.9, 0.999), `eps` 1e-8.
    fn default() -> Self {
        Self::new(0.0025)
    }
}

schedule_free_common!(SgdScheduleFree);
schedule_free_common!(AdamWScheduleFree);

/// The `Optimizer` items both add to the shared ones.
macro_rules! eval_point_items {
    () => {
        fn to_eval_point(&mut self, model: &mut dyn Module<T>) {
            eval_point(&self.core, &mut self.rule, model)
        }

        fn to_train_point(&mut self, model: &mut dyn Module<T>) {
            train_point(&self.core, &mut self.rule, model)
        }

        fn at_eval_point(&self) -> bool {
            !self.rule.train_mode
        }
    };
}

optimizer_common!(
    SgdScheduleFree,
    "added to the gradient at `y` (L2)",
    eval_point_items!();
);
optimizer_common!(
    AdamWScheduleFree,
    "added at `y` to the normalised step (not divided by the denominator)",
    eval_point_items!();
);

#[derive(Clone, Copy)]
struct ScheduleFreeCoeffs<T> {
    /// `γ_k` for this parameter's group.
    lr: T,
    ckp1: T,
    one_minus_ckp1: T,
    beta1: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    bc2: T,
    eps: T,
    weight_decay: T,
}

impl<T: Float, const ADAM: bool> Rule<T> for ScheduleFreeRule<ADAM> {
    type Coeffs = ScheduleFreeCoeffs<T>;
    const NAME: &'static str = if ADAM {
        "AdamWScheduleFree"
    } else {
        "SgdScheduleFree"
    };

    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS] {
        [Some("z"), Some("x"), ADAM.then_some("exp_avg_sq"), None]
    }

    fn slot_copies_param(&self, slot: usize) -> bool {
        slot == Z || slot == X
    }

    fn check(&self) {
        assert!(
            self.train_mode,
            "{}: step at the evaluation point; call to_train_point(model) first \
             (the Trainer does this itself)",
            Self::name()
        );
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        let mut h = if ADAM {
            vec![
                ("beta1", self.beta1),
                ("beta2", self.beta2),
                ("eps", self.eps),
            ]
        } else {
            vec![("momentum", self.beta1)]
        };
        h.extend([
            ("warmup_steps", self.warmup_steps as f64),
            ("r", self.r),
            ("weight_lr_power", self.weight_lr_power),
        ]);
        h
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("lr_max", self.lr_max),
            ("weight_sum", self.weight_sum),
            ("train_mode", f64::from(u8::from(self.train_mode))),
        ]
    }

    fn check_scalars(&self, saved: &BTreeMap<String, f64>) -> Result<(), (String, String)> {
        let mode = saved["train_mode"];
        if mode != 0.0 && mode != 1.0 {
            return Err(("train_mode".into(), format!("is {mode}, not 0 or 1")));
        }
        let sum = saved["weight_sum"];
        if sum < 0.0 {
            return Err(("weight_sum".into(), format!("is {sum}, below 0")));
        }
        Ok(())
    }

    fn set_scalars(&mut self, saved: &BTreeMap<String, f64>) {
        self.lr_max = saved["lr_max"];
        self.weight_sum = saved["weight_sum"];
        self.train_mode = saved["train_mode"] == 1.0;
    }

    fn begin(&mut self, lr: f64, steps: u64) {
        // `steps` counts this step: k + 1.
        let k1 = steps as f64;
        self.sched = if steps <= self.warmup_steps {
            k1 / self.warmup_steps as f64
        } else {
            1.0
        };
        self.lr_max = self.lr_max.max(lr * self.sched);
        let weight = k1.powf(self.r) * self.lr_max.powf(self.weight_lr_power);
        self.weight_sum += weight;
        self.ckp1 = if self.weight_sum == 0.0 {
            0.0
        } else {
            weight / self.weight_sum
        };
        self.bc2 = 1.0 - self.beta2.powf(k1);
    }

    fn coeffs(&self, lr: f64, weight_decay: f64, _step: u64) -> ScheduleFreeCoeffs<T> {
        ScheduleFreeCoeffs {
            lr: T::from_f64(lr * self.sched),
            ckp1: T::from_f64(self.ckp1),
            one_minus_ckp1: T::from_f64(1.0 - self.ckp1),
            beta1: T::from_f64(self.beta1),
            one_minus_beta1: T::from_f64(1.0 - self.beta1),
            beta2: T::from_f64(self.beta2),
            one_minus_beta2: T::from_f64(1.0 - self.beta2),
            bc2: T::from_f64(self.bc2),
            eps: T::from_f64(self.eps),
            weight_decay: T::from_f64(weight_decay),
        }
    }

    #[inline(always)]
    fn apply(&self, c: &ScheduleFreeCoeffs<T>, p: &mut [T], g: &[T], s: Slots<'_, T>) {
        let [z, x, v, _] = s;
        // Decay is skipped, not multiplied by 0, when off: 0 · ∞ would be NaN.
        match (ADAM, c.weight_decay != T::ZERO) {
            (false, false) => schedule_free::<T, false, false>(c, p, g, z, x, v),
            (false, true) => schedule_free::<T, false, true>(c, p, g, z, x, v),
            (true, false) => schedule_free::<T, true, false>(c, p, g, z, x, v),
            (true, true) => schedule_free::<T, true, true>(c, p, g, z, x, v),
        }
    }
}

/// The fused update over one chunk; `v` is empty for SGD.
#[inline(always)]
fn schedule_free<T: Float, const ADAM: bool, const DECAY: bool>(
    c: &ScheduleFreeCoeffs<T>,
    p: &mut [T],
    g: &[T],
    z: &mut [T],
    x: &mut [T],
    v: &mut [T],
) {
    let n = p.len();
    let (g, z, x) = (&g[..n], &mut z[..n], &mut x[..n]);
    let v = if ADAM { &mut v[..n] } else { v };
    for i in 0..n {
        let mut u = if ADAM {
            let vi = c.beta2 * v[i] + c.one_minus_beta2 * g[i] * g[i];
            v[i] = vi;
            g[i] / ((vi / c.bc2).sqrt() + c.eps)
        } else {
            g[i]
        };
        if DECAY {
            u += c.weight_decay * p[i];
        }
        let zi = z[i] - c.lr * u;
        let xi = c.one_minus_ckp1 * x[i] + c.ckp1 * zi;
        z[i] = zi;
        x[i] = xi;
        p[i] = y_of(c.beta1, c.one_minus_beta1, xi, zi);
    }
}
