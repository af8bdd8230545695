//! Function transforms: derivatives of a function of one tensor, as JAX's
//! `jax.grad`, `jvp`, `vjp`, `jacfwd`/`jacrev` and `hessian` and PyTorch's
//! `torch.func` give them.
//!
//! Each takes the function as a closure from a var to a var (it records
//! on the var's tape; `x.tape()` reaches the tape for constants) and the
//! point as a tensor, makes its own tape, and returns tensors:
//!
//! | transform | returns | how | cost |
//! | --- | --- | --- | --- |
//! | [`value_and_grad`] | `f(x)`, `∇f(x)` | reverse | one forward, one backward |
//! | [`vjp`] | `f(x)`, `uᵀ J` | reverse | one forward, one backward |
//! | [`jvp`] | `f(x)`, `J v` | forward mode | one forward with tangents |
//! | [`hvp`] | `H v` | reverse over reverse | about two gradients |
//! | [`jacobian`] | `J` (`out ++ in` shape) | reverse, a row per output | one forward, `m` backwards |
//! | [`jacobian_fwd`] | `J` | forward, a column per input | `n` forwards |
//! | [`hessian`] | `H` (`in ++ in` shape) | reverse over reverse, a row per input | one forward, one recorded backward, `n` backwards |
//!
//! Reverse mode costs one sweep per output, forward mode one pass per
//! input: `jacobian` for functions with fewer outputs than inputs,
//! `jacobian_fwd` for the others.
//!
//! Pass the function as a closure written at the call (`func::jvp(|x|
//! x.exp(), ..)`) or as a `fn` item (`fn f<'t>(x: Var<'t, f64>) -> Var<'t,
//! f64>`): Rust gives a closure the lifetime-generic signature these
//! transforms need only when it is written where it is passed, not when it
//! is first kept in a `let`.

use crate::tape::{Tape, Var};
use crate::tensor::{Float, Tensor};

/// The value of a scalar function and its gradient at `x`.
///
/// ```
/// use tapegrad::{func, tensor};
/// // f(x) = sum(x^2): gradient 2x.
/// let (y, g) = func::value_and_grad(|x| x.square().sum(), &tensor![1.0f64, -2.0]);
/// assert_eq!((y.item(), g.to_vec()), (5.0, vec![2.0, -4.0]));
/// ```
///
/// # Panics
/// If `f`'s result is not a scalar.
pub fn value_and_grad<T, F>(f: F, x: &Tensor<T>) -> (Tensor<T>, Tensor<T>)
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    let value = y.value();
    let g = y.backward().wrt(xv).clone();
    (value, g)
}

/// The value of `f` at `x` and the vector-Jacobian product `uᵀ J_f(x)`
/// (the gradient of `<u, f(x)>`), of `x`'s shape.
///
/// # Panics
/// If `u`'s shape differs from `f(x)`'s.
pub fn vjp<T, F>(f: F, x: &Tensor<T>, u: &Tensor<T>) -> (Tensor<T>, Tensor<T>)
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    let value = y.value();
    let g = y.backward_with(u.clone()).wrt(xv).clone();
    (value, g)
}

/// The value of `f` at `x` and the Jacobian-vector product `J_f(x) v`, of
/// `f(x)`'s shape, in one forward pass with tangents (no backward sweep).
///
/// ```
/// use tapegrad::{func, tensor};
/// // f(x) = x * x elementwise: J = diag(2x), so J v = 2 x v.
/// let (y, jv) = func::jvp(|x| x * x, &tensor![1.0f64, 3.0], &tensor![1.0, 1.0]);
/// assert_eq!((y.to_vec(), jv.to_vec()), (vec![1.0, 9.0], vec![2.0, 6.0]));
/// ```
///
/// # Panics
/// If `v`'s shape differs from `x`'s, or an op of `f` has no forward-mode
/// rule (the message names it).
pub fn jvp<T, F>(f: F, x: &Tensor<T>, v: &Tensor<T>) -> (Tensor<T>, Tensor<T>)
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.dual(x.clone(), v.clone());
    let y = f(xv);
    (y.value(), y.tangent())
}

/// The Hessian-vector product `H v = ∇(∇f(x) · v)` of a scalar function,
/// by reverse over reverse: the gradient is recorded on the tape
/// ([`Tape::grad`]), dotted with `v`, and differentiated again by a plain
/// backward pass. Costs about two gradients, and never forms `H`.
///
/// ```
/// use tapegrad::{Var, func, tensor};
/// // f(x) = sum(x^3) + (sum x)^2: H = diag(6 x) + 2.
/// fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
///     (x.square() * x).sum() + x.sum().square()
/// }
/// let hv = func::hvp(f, &tensor![3.0, 2.0], &tensor![1.0, 0.0]);
/// assert_eq!(hv.to_vec(), vec![20.0, 2.0]);
/// ```
///
/// # Panics
/// If `f`'s result is not a scalar, `v`'s shape differs from `x`'s, or an
/// op of `f` has no recorded gradient rule (the message names it).
pub fn hvp<T, F>(f: F, x: &Tensor<T>, v: &Tensor<T>) -> Tensor<T>
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    crate::tensor::shape::assert_same_shape("hvp", v.shape(), x.shape());
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(xv);
    let g = tape.grad(y, &[xv])[0];
    let gv = (g * tape.constant(v.clone())).sum();
    gv.backward().wrt(xv).clone()
}

/// The Jacobian of `f` at `x` by reverse mode: one forward pass, then one
/// backward pass per element of `f(x)`. Shape: `f(x)`'s dims followed by
/// `x`'s (`J[i.., j..] = d f(x)[i..] / d x[j..]`).
///
/// ```
/// use tapegrad::{Var, func, tensor};
/// // f(x) = x sum(x): J[i][j] = sum(x) [i == j] + x[i].
/// fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
///     x * x.sum()
/// }
/// let j = func::jacobian(f, &tensor![2.0, 5.0]);
/// assert_eq!(j.shape(), &[2, 2]);
/// assert_eq!(j.to_vec(), vec![9.0, 2.0, 5.0, 12.0]);
/// assert_eq!(func::jacobian_fwd(f, &tensor![2.0, 5.0]).to_vec(), j.to_vec());
/// ```
pub fn jacobian<T, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    jacobian_by_rows(f(xv), xv)
}

/// The Jacobian of `y` with respect to `x` (both on one tape), one plain
/// backward pass per element of `y`: `y`'s dims followed by `x`'s.
fn jacobian_by_rows<T: Float>(y: Var<'_, T>, x: Var<'_, T>) -> Tensor<T> {
    let (out, dx) = (y.shape(), x.shape());
    let m = out.iter().product::<usize>();
    let mut rows = Vec::with_capacity(m * dx.iter().product::<usize>());
    for i in 0..m {
        let mut seed = Tensor::zeros(&out);
        seed.as_mut_slice()[i] = T::ONE;
        rows.extend_from_slice(y.backward_with(seed).wrt(x).as_slice());
    }
    let dims: Vec<usize> = out.iter().chain(dx.iter()).copied().collect();
    Tensor::from_vec(rows, &dims).expect("the rows fill the Jacobian")
}

/// The Jacobian of `f` at `x` by forward mode: one forward pass with
/// tangents per element of `x`. The same result as [`jacobian`], cheaper
/// when `x` has fewer elements than `f(x)`.
///
/// # Panics
/// If an op of `f` has no forward-mode rule (the message names it).
pub fn jacobian_fwd<T, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    T: Float,
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    let n = x.numel();
    let mut columns: Vec<Tensor<T>> = Vec::with_capacity(n);
    let mut out = Vec::new();
    for j in 0..n {
        let mut e = Tensor::zeros(x.shape());
        e.as_mut_slice()[j] = T::ONE;
        let (y, col) = jvp(&f, x, &e);
        out = y.shape().to_vec();
        columns.push(col);
    }
    let m: usize = out.iter().product();
    // Column j holds J[.., j]: interleave them into rows.
    let mut data = vec![T::ZERO; m * n];
    for (j, col) in columns.iter().enumerate() {
        for (i, &v) in col.as_slice().iter().enumerate() {
            data[i * n + j] = v;
        }
    }
    let dims: Vec<usize> = out.iter().chain(x.shape()).copied().collect();
    Tensor::from_vec(data, &dims).expect("the columns fill the Jacobian")
}

/// The Hessian of a scalar function at `x`, of shape `x`'s dims twice: the
/// gradient is recorded once on the tape ([`Tape::grad`]), then each row
/// is one plain backward pass from one of its elements.
///
/// ```
/// use tapegrad::{Var, func, tensor};
/// // f(x) = sum(x^3) + (sum x)^2: H = diag(6 x) + 2.
/// fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
///     (x.square() * x).sum() + x.sum().square()
/// }
/// let h = func::hessian(f, &tensor![3.0, 2.0]);
/// assert_eq!(h.to_vec(), vec![20.0, 2.0, 2.0, 14.0]);
/// ```
///
/// # Panics
/// If `f`'s result is not a scalar, or an op of `f` has no recorded
/// gradient rule (the message names it).
pub fn hessian<T, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    T: Float,
    F: for<'t> FnOnce(Var<'t, T>) -> Var<'t, T>,
{
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let g = tape.grad(f(xv), &[xv])[0];
    // The Hessian is the Jacobian of the recorded gradient.
    jacobian_by_rows(g, xv)
}
