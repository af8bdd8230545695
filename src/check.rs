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
