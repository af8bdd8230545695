//! Gradient checking: backward against central finite differences, in f64.
//!
//! ```
//! use tapegrad::{check::gradcheck, Tensor};
//! let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
//! // d/dx x^2 sin x = 2x sin x + x^2 cos x
//! gradcheck(|v| v[0].square() * v[0].sin(), &[x]).unwrap();
//! ```

use crate::nn::Module;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use rand::SeedableRng;
use std::fmt;

/// Step and tolerances of [`gradcheck_with`].
///
/// An element passes when `|analytic - numeric| <= atol + rtol * |numeric|`.
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-6,
            rtol: 1e-4,
        }
    }
}

/// The element where backward and finite differences disagree most.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    /// Which input (position in the `inputs` slice).
    pub input: usize,
    /// The element's index in that input.
    pub index: Vec<usize>,
    /// The gradient backward computed.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
}

/// The outcome of a gradient check.
#[derive(Clone, PartialEq)]
pub struct GradcheckReport {
    /// Whether every element passed.
    pub passed: bool,
    /// Elements compared.
    pub checked: usize,
    /// The largest `|analytic - numeric| / (atol + rtol |numeric|)`; at most 1 when passing.
    pub worst_ratio: f64,
    /// The element behind `worst_ratio` (none if no element was compared).
    pub worst: Option<Worst>,
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        write!(f, "gradcheck {verdict} over {} elements", self.checked)?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst: input {} at {:?}: analytic {:.10e}, numeric {:.10e} ({:.3}x tolerance)",
                w.input, w.index, w.analytic, w.numeric, self.worst_ratio
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Checks the gradients of `f` at `inputs` with default step and tolerances.
///
/// A non-scalar output is contracted with fixed random weights `w` (the
/// check compares `d(sum(w * f))/dx`), so errors in any output element show.
///
/// # Errors
/// The report, if any element disagrees beyond tolerance.
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>]) -> Result<GradcheckReport, GradcheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    gradcheck_with(f, inputs, GradcheckOptions::default())
}

/// [`gradcheck`] with a chosen step and tolerances.
///
/// # Errors
/// The report, if any element disagrees beyond tolerance.
pub fn gradcheck_with<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<GradcheckReport, GradcheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    // Analytic gradients, and the weights that contract the output.
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let out = f(&vars);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a09e667);
    let weights = Tensor::<f64>::rand_uniform(&out.shape(), 0.5, 1.5, &mut rng);
    let grads = out.backward_with(weights.clone());
    let analytic: Vec<Tensor<f64>> = vars.iter().map(|&v| grads.wrt(v).clone()).collect();

    let objective = |xs: &[Tensor<f64>]| -> f64 {
        let tape = Tape::<f64>::new();
        let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        contract(&f(&vars).value(), &weights)
    };

    let mut report = GradcheckReport::empty();
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    for (j, input) in inputs.iter().enumerate() {
        for e in 0..input.numel() {
            let x0 = input.as_slice()[e];
            xs[j].as_mut_slice()[e] = x0 + opts.eps;
            let plus = objective(&xs);
            xs[j].as_mut_slice()[e] = x0 - opts.eps;
            let minus = objective(&xs);
            xs[j].as_mut_slice()[e] = x0;
            let numeric = (plus - minus) / (2.0 * opts.eps);
            report.record(
                &opts,
                j,
                e,
                input.shape(),
                analytic[j].as_slice()[e],
                numeric,
            );
        }
    }
    report.finish()
}

/// Checks second derivatives of `f` at `inputs`: the gradients that
/// [`Tape::grad`] records on the tape, and their own derivatives.
///
/// With `s = sum(w * f(x))` for fixed random weights `w` (as in
/// [`gradcheck`]), it checks, in f64:
/// 1. that the recorded gradients `∇s` equal the plain backward pass's,
///    element by element (`|a - b| <= 1e-10 (1 + |b|)`): a wrong recorded
///    rule shows here;
/// 2. by [`gradcheck_with`] on `q(x) = sum_j <v_j, ∇_j s(x)>` for fixed
///    random `v`: that backward through the recorded gradients (the
///    Hessian-vector product `H v`) matches central finite differences of
///    `q`.
///
/// ```
/// use tapegrad::{check::gradgradcheck, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
/// gradgradcheck(|v| v[0].square() * v[0].sin(), &[x]).unwrap();
/// ```
///
/// # Errors
/// The report, if any element disagrees beyond tolerance (for check 1,
/// the report's worst element compares the recorded gradient, `analytic`,
/// with the plain one, `numeric`).
///
/// # Panics
/// If an op of `f` has no recorded gradient rule (the message names it).
pub fn gradgradcheck<F>(f: F, inputs: &[Tensor<f64>]) -> Result<GradcheckReport, GradcheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let out = f(&vars);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xbb67ae85);
    let weights = Tensor::<f64>::rand_uniform(&out.shape(), 0.5, 1.5, &mut rng);
    let directions: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| Tensor::<f64>::rand_uniform(x.shape(), -1.0, 1.0, &mut rng))
        .collect();

    // 1. The recorded gradients against the plain ones.
    let s = (out * tape.constant(weights.clone())).sum();
    let recorded = tape.grad(s, &vars);
    let plain = s.backward();
    let mut report = GradcheckReport::empty();
    let exact = GradcheckOptions {
        atol: 1e-10,
        rtol: 1e-10,
        ..opts
    };
    for (j, (r, &v)) in recorded.iter().zip(&vars).enumerate() {
        let (r, p) = (r.value(), plain.wrt(v));
        for e in 0..p.numel() {
            report.record(&exact, j, e, p.shape(), r.as_slice()[e], p.as_slice()[e]);
        }
    }
    let report = report.finish()?;

    // 2. Backward through the recorded gradients, by finite differences.
    let second = gradcheck_with(
        |v| {
            let tape = v[0].tape();
            let s = (f(v) * tape.constant(weights.clone())).sum();
            let grads = tape.grad(s, v);
            let mut q = (grads[0] * tape.constant(directions[0].clone())).sum();
            for (g, d) in grads.iter().zip(&directions).skip(1) {
                q = q + (*g * tape.constant(d.clone())).sum();
            }
            q
        },
        inputs,
        opts,
    )?;
    Ok(GradcheckReport {
        checked: report.checked + second.checked,
        ..second
    })
}

/// Checks forward mode ([`Tape::dual`]) for `f` at `inputs`, with fixed
/// random tangents `v` (one per input) and output weights `u`, in f64:
/// 1. the tangent `J v` against central finite differences of `f` along
///    `v`, element by element, with [`GradcheckOptions`]' default step and
///    tolerances;
/// 2. the dot-product identity `<J v, u> = <v, Jᵀ u>`, reverse mode's
///    vector-Jacobian product on the right, to `1e-9 (1 + |rhs|)`.
///
/// ```
/// use tapegrad::{check::jvpcheck, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
/// jvpcheck(|v| v[0].square() * v[0].sin(), &[x]).unwrap();
/// ```
///
/// # Errors
/// The report, if an element or the identity disagrees beyond tolerance
/// (for the identity, the worst element is `input` 0 at index `[]`,
/// `analytic` the left side and `numeric` the right).
///
/// # Panics
/// If an op of `f` has no forward-mode rule (the message names it).
pub fn jvpcheck<F>(f: F, inputs: &[Tensor<f64>]) -> Result<GradcheckReport, GradcheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x3c6ef372);
    let tangents: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| Tensor::<f64>::rand_uniform(x.shape(), -1.0, 1.0, &mut rng))
        .collect();
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = inputs
        .iter()
        .zip(&tangents)
        .map(|(x, v)| tape.dual(x.clone(), v.clone()))
        .collect();
    let out = f(&vars);
    let jv = out.tangent();

    // 1. Central differences of f along v.
    let along = |h: f64| -> Tensor<f64> {
        let tape = Tape::<f64>::new();
        let vars: Vec<Var<'_, f64>> = inputs
            .iter()
            .zip(&tangents)
            .map(|(x, v)| {
                let moved = x.zip_map(v, "jvpcheck", |x, v| x + h * v);
                tape.constant(moved)
            })
            .collect();
        f(&vars).value()
    };
    let (plus, minus) = (along(opts.eps), along(-opts.eps));
    let mut report = GradcheckReport::empty();
    for e in 0..jv.numel() {
        let numeric = (plus.as_slice()[e] - minus.as_slice()[e]) / (2.0 * opts.eps);
        report.record(&opts, 0, e, jv.shape(), jv.as_slice()[e], numeric);
    }
    let report = report.finish()?;

    // 2. <J v, u> against <v, J^T u>.
    let u = Tensor::<f64>::rand_uniform(jv.shape(), -1.0, 1.0, &mut rng);
    let lhs = contract(&jv, &u);
    let grads = out.backward_with(u);
    let rhs: f64 = vars
        .iter()
        .zip(&tangents)
        .map(|(&x, v)| contract(grads.wrt(x), v))
        .sum();
    let exact = GradcheckOptions {
        atol: 1e-9,
        rtol: 1e-9,
        ..opts
    };
    let mut identity = GradcheckReport::empty();
    identity.record(&exact, 0, 0, &[], lhs, rhs);
    let identity = identity.finish()?;
    Ok(GradcheckReport {
        checked: report.checked + identity.checked,
        ..report
    })
}

/// Checks the gradients of a model's parameters: backward through `f`
/// (which binds the parameters with `tape.param` and returns the output)
/// against central finite differences, perturbing each parameter element in
/// place and restoring it. `Worst::input` is the parameter's position in
/// [`Module::named_parameters`] order.
///
/// ```
/// use tapegrad::check::gradcheck_params;
/// use tapegrad::nn::{Forward, Linear};
/// use tapegrad::Tensor;
/// use rand::SeedableRng;
/// let mut fc = Linear::<f64>::new(3, 2, &mut rand::rngs::StdRng::seed_from_u64(1));
/// let x = Tensor::<f64>::from_vec(vec![0.5, -1.0, 2.0], &[1, 3]).unwrap();
/// gradcheck_params(&mut fc, |m, tape| m.forward(tape.constant(x.clone())).tanh()).unwrap();
/// ```
///
/// # Errors
/// The report, if any element disagrees beyond tolerance.
pub fn gradcheck_params<M, F>(model: &mut M, f: F) -> Result<GradcheckReport, GradcheckReport>
where
    M: Module<f64>,
    F: for<'t> Fn(&M, &'t Tape<f64>) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    let tape = Tape::<f64>::new();
    let out = f(model, &tape);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a09e667);
    let weights = Tensor::<f64>::rand_uniform(&out.shape(), 0.5, 1.5, &mut rng);
    let grads = out.backward_with(weights.clone());
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let analytic: Vec<Option<Tensor<f64>>> = model
        .parameters()
        .iter()
        .map(|p| grads.get_param(p.id()).cloned())
        .collect();
    drop(tape);

    let objective = |m: &M| -> f64 {
        let tape = Tape::<f64>::new();
        contract(&f(m, &tape).value(), &weights)
    };
    let mut report = GradcheckReport::empty();
    for (j, name) in names.iter().enumerate() {
        let Some(analytic) = &analytic[j] else {
            continue;
        };
        let n = analytic.numel();
        for e in 0..n {
            let x0 = model
                .param_by_name(name)
                .expect("name from named_parameters")
                .value()
                .as_slice()[e];
            let set = |m: &mut M, v: f64| {
                m.param_by_name_mut(name)
                    .expect("known name")
                    .value_mut()
                    .as_mut_slice()[e] = v
            };
            set(model, x0 + opts.eps);
            let plus = objective(model);
            set(model, x0 - opts.eps);
            let minus = objective(model);
            set(model, x0);
            let numeric = (plus - minus) / (2.0 * opts.eps);
            report.record(
                &opts,
                j,
                e,
                analytic.shape(),
                analytic.as_slice()[e],
                numeric,
            );
        }
    }
    report.finish()
}

/// `sum(w * y)`: how a non-scalar output is reduced to one number.
fn contract(y: &Tensor<f64>, weights: &Tensor<f64>) -> f64 {
    y.as_slice()
        .iter()
        .zip(weights.as_slice())
        .map(|(a, b)| a * b)
        .sum()
}

impl GradcheckReport {
    /// A report before any element is compared.
    fn empty() -> Self {
        GradcheckReport {
            passed: true,
            checked: 0,
            worst_ratio: 0.0,
            worst: None,
        }
    }

    /// Compares one element and keeps it if it is the worst so far.
    fn record(
        &mut self,
        opts: &GradcheckOptions,
        input: usize,
        e: usize,
        dims: &[usize],
        analytic: f64,
        numeric: f64,
    ) {
        let ratio = (analytic - numeric).abs() / (opts.atol + opts.rtol * numeric.abs());
        let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
        self.checked += 1;
        if self.worst.is_none() || ratio > self.worst_ratio {
            self.worst_ratio = ratio;
            self.worst = Some(Worst {
                input,
                index: unravel(e, dims),
                analytic,
                numeric,
            });
        }
    }

    fn finish(mut self) -> Result<GradcheckReport, GradcheckReport> {
        self.passed = self.worst_ratio <= 1.0;
        if self.passed { Ok(self) } else { Err(self) }
    }
}

fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for ax in (0..dims.len()).rev() {
        idx[ax] = flat % dims[ax];
        flat /= dims[ax];
    }
    idx
}
