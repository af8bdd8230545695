//! Reductions over axes: sum, mean, max, min, variance, log-sum-exp,
//! arg-extremes, and the two moves between a reduced tensor and its source
//! shape (summing a broadcast gradient back, spreading a reduced one out).
//!
//! Public methods take axes as `&[isize]` (negative counts from the end);
//! the crate-internal `*_over` forms take axes already resolved (sorted,
//! unique), which is what the differentiable ops store on the tape.

use super::shape::{Shape, numel, resolve_axes, resolve_axis, strides};
use super::strided::{broadcast_strides, for_each_row};
use super::{Float, Tensor};

/// `dims` with every axis in `axes` set to 1: the shape a reduction with
/// `keepdim` produces, and the shape a reduced gradient broadcasts from.
pub(crate) fn keepdim_shape(dims: &[usize], axes: &[usize]) -> Shape {
    let mut keep = Shape::from_slice(dims);
    for &a in axes {
        keep[a] = 1;
    }
    keep
}

/// How many elements each output of a reduction over `axes` combines.
pub(crate) fn reduced_count(dims: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| dims[a]).product()
}

/// Output shape of a reduction over `axes` with or without kept axes.
fn reduced_dims(dims: &[usize], axes: &[usize], keepdim: bool) -> Shape {
    let mut s = Shape::new();
    for (i, &d) in dims.iter().enumerate() {
        if !axes.contains(&i) {
            s.push(d);
        } else if keepdim {
            s.push(1);
        }
    }
    s
}

/// The mean of each group of a reduction, as `pivot + shifted_mean`, both
/// of the keepdim shape: the pivot is the group's first element and
/// `shifted_mean` the mean of `x - pivot`, so that the sum runs over small
/// numbers and deviations `(x - pivot) - shifted_mean` keep their digits
/// when the mean is large against the spread.
pub(crate) struct Centered<T: Float> {
    pub pivot: Tensor<T>,
    pub shifted_mean: Tensor<T>,
}

fn max_step<T: Float>(a: T, x: T) -> T {
    // NaN wins, so that a NaN anywhere shows in the result.
    if x > a || x.is_nan() { x } else { a }
}

fn min_step<T: Float>(a: T, x: T) -> T {
    if x < a || x.is_nan() { x } else { a }
}

impl<T: Float> Tensor<T> {
    /// Folds the elements along `axes` (already resolved, sorted, unique)
    /// into one value each, starting from `init`; the result keeps the
    /// reduced axes with size 1.
    pub(crate) fn fold_axes_keepdim(
        &self,
        axes: &[usize],
        init: T,
        f: impl Fn(T, T) -> T,
    ) -> Tensor<T> {
        self.fold_into_shape(&keepdim_shape(self.shape(), axes), init, f)
    }

    /// Folds `self` into `target`, a shape `self` broadcasts from
    /// (right-aligned, with 1 or a missing axis wherever it is reduced).
    fn fold_into_shape(&self, target: &[usize], init: T, f: impl Fn(T, T) -> T) -> Tensor<T> {
        self.fold_indexed(target, init, |acc, x, _| f(acc, x))
    }

    /// Sums a gradient of a broadcast result back to `target`, the shape the
    /// operand had before broadcasting. This is the one place the engine
    /// un-broadcasts.
    ///
    /// # Panics
    /// If `self` is not a broadcast of `target`.
    pub fn sum_to_shape(&self, target: &[usize]) -> Tensor<T> {
        if self.shape() == target {
            return self.clone();
        }
        let b = super::shape::broadcast_shapes("sum_to_shape", target, self.shape());
        assert!(
            b.as_slice() == self.shape(),
            "sum_to_shape: {:?} is not a broadcast of {target:?}",
            self.shape()
        );
        self.fold_into_shape(target, T::ZERO, |a, x| a + x)
    }

    /// The reverse of a reduction's shape change: `self`, the result of
    /// reducing a tensor of shape `dims` over `axes` (with or without kept
    /// axes), copied along the reduced axes back to `dims`. This is how the
    /// gradient of a sum reaches every summed element.
    pub(crate) fn expand_over(&self, axes: &[usize], dims: &[usize]) -> Tensor<T> {
        let keep = keepdim_shape(dims, axes);
        debug_assert_eq!(
            self.numel(),
            numel(&keep),
            "tapegrad bug: {:?} is not {dims:?} reduced over {axes:?}",
            self.shape()
        );
        let src = self.as_slice();
        let mut result = Tensor::pooled_zeros(Shape::from_slice(dims));
        let out = result.as_mut_slice();
        let so = strides(dims);
        let ss = broadcast_strides(&keep, dims);
        for_each_row(dims, &so, &ss, |r| {
            for j in 0..r.len {
                out[r.a + j * r.sa] = src[r.b + j * r.sb];
            }
        });
        result
    }

    /// Output shape of a reduction over `axes` with or without kept axes.
    pub(crate) fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Shape {
        reduced_dims(self.shape(), axes, keepdim)
    }

    fn fold_over(
        &self,
        axes: &[usize],
        keepdim: bool,
        init: T,
        f: impl Fn(T, T) -> T,
    ) -> Tensor<T> {
        let folded = self.fold_axes_keepdim(axes, init, f);
        folded.reshape(&self.reduced_shape(axes, keepdim))
    }

    /// Sum over resolved `axes`.
    pub(crate) fn sum_over(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        self.fold_over(axes, keepdim, T::ZERO, |a, x| a + x)
    }

    /// Mean over resolved `axes` (NaN where the axes are empty, as 0 / 0).
    pub(crate) fn mean_over(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        let n = T::from_usize(reduced_count(self.shape(), axes));
        self.sum_over(axes, keepdim).map(|s| s / n)
    }

    /// Maximum over resolved `axes`.
    pub(crate) fn max_over(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        self.assert_nonempty("max");
        self.fold_over(axes, keepdim, T::NEG_INFINITY, max_step)
    }

    /// Minimum over resolved `axes`.
    pub(crate) fn min_over(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        self.assert_nonempty("min");
        self.fold_over(axes, keepdim, T::INFINITY, min_step)
    }

    /// Variance over resolved `axes`, dividing by `N - correction` (at
    /// least 0). Two passes (the shifted mean of [`Centered`], then the
    /// squared deviations `((x - pivot) - shifted_mean)^2`), which keeps
    /// the precision that the one-pass `E[x^2] - E[x]^2` loses, and, thanks
    /// to the pivot, also the precision that `x - mean` loses when the mean
    /// is large against the spread (in f32, values near 1e4 with spread
    /// 1e-2: the rounded mean alone is off by a twentieth of the spread).
    pub(crate) fn var_over(&self, axes: &[usize], correction: usize, keepdim: bool) -> Tensor<T> {
        let n = reduced_count(self.shape(), axes);
        let c = self.centered_over(axes);
        let (p, m) = (c.pivot.as_slice(), c.shifted_mean.as_slice());
        let keep = keepdim_shape(self.shape(), axes);
        let d = T::from_usize(n.saturating_sub(correction));
        self.fold_indexed(&keep, T::ZERO, |a, x, b| {
            let dev = (x - p[b]) - m[b];
            a + dev * dev
        })
        .map(|s| s / d)
        .reshape(&self.reduced_shape(axes, keepdim))
    }

    /// The mean over resolved `axes` as a pivot and a shifted mean; see
    /// [`Centered`]. One pass over `self`.
    pub(crate) fn centered_over(&self, axes: &[usize]) -> Centered<T> {
        let keep = keepdim_shape(self.shape(), axes);
        let mut pivot = Tensor::pooled_zeros(keep.clone());
        if self.numel() > 0 {
            // The element at index 0 along every reduced axis: walk the
            // kept shape (reduced axes have size 1 there) with the input's
            // strides.
            let (src, dst) = (self.as_slice(), pivot.as_mut_slice());
            for_each_row(&keep, &strides(&keep), &strides(self.shape()), |r| {
                for j in 0..r.len {
                    dst[r.a + j * r.sa] = src[r.b + j * r.sb];
                }
            });
        }
        let n = T::from_usize(reduced_count(self.shape(), axes));
        let p = pivot.as_slice();
        let shifted_mean = self
            .fold_indexed(&keep, T::ZERO, |a, x, b| a + (x - p[b]))
            .map(|s| s / n);
        Centered {
            pivot,
            shifted_mean,
        }
    }

    /// `(x - pivot) - shifted_mean` for every element: the deviations from
    /// the mean of [`centered_over`](Tensor::centered_over), in one pass.
    pub(crate) fn deviations(&self, c: &Centered<T>) -> Tensor<T> {
        let (p, m) = (c.pivot.as_slice(), c.shifted_mean.as_slice());
        let mut result = Tensor::pooled_zeros(Shape::from_slice(self.shape()));
        let (src, out) = (self.as_slice(), result.as_mut_slice());
        let ss = strides(self.shape());
        let sk = broadcast_strides(c.pivot.shape(), self.shape());
        for_each_row(self.shape(), &ss, &sk, |r| {
            for j in 0..r.len {
                let (i, b) = (r.a + j * r.sa, r.b + j * r.sb);
                out[i] = (src[i] - p[b]) - m[b];
            }
        });
        result
    }

    /// Folds `f(acc, x, b)` into `target` (a shape `self` broadcasts from,
    /// as for [`fold_into_shape`](Tensor::fold_into_shape)), `b` the
    /// output's flat index (so that `f` can read per-output values),
    /// starting from `init`.
    fn fold_indexed(&self, target: &[usize], init: T, f: impl Fn(T, T, usize) -> T) -> Tensor<T> {
        let mut result = Tensor::pooled_zeros(Shape::from_slice(target));
        let out = result.as_mut_slice();
        if init != T::ZERO {
            out.fill(init);
        }
        let src = self.as_slice();
        let ss = strides(self.shape());
        let sd = broadcast_strides(target, self.shape());
        for_each_row(self.shape(), &ss, &sd, |r| {
            if r.sb == 0 {
                let mut acc = out[r.b];
                for j in 0..r.len {
                    acc = f(acc, src[r.a + j * r.sa], r.b);
                }
                out[r.b] = acc;
            } else {
                for j in 0..r.len {
                    let d = r.b + j * r.sb;
                    out[d] = f(out[d], src[r.a + j * r.sa], d);
                }
            }
        });
        result
    }

    /// `ln sum exp` over resolved `axes`, computed as `m + ln sum exp(x - m)`
    /// with `m` the maximum, so that no `exp` overflows.
    pub(crate) fn logsumexp_over(&self, axes: &[usize], keepdim: bool) -> Tensor<T> {
        // An infinite maximum (all -inf, or some +inf) is not subtracted:
        // the plain formula already gives -inf or +inf there.
        let m = self
            .fold_axes_keepdim(axes, T::NEG_INFINITY, max_step)
            .map(|m| if m.is_finite() { m } else { T::ZERO });
        let s = self
            .zip_map(&m, "logsumexp", |x, m| (x - m).exp())
            .fold_axes_keepdim(axes, T::ZERO, |a, x| a + x);
        s.zip_map(&m, "logsumexp", |s, m| m + s.ln())
            .reshape(&self.reduced_shape(axes, keepdim))
    }

    /// Sum over `axes` (negative counts from the end).
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn sum_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.sum_over(&resolve_axes("sum", axes, self.shape()), keepdim)
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        Tensor::scalar(self.as_slice().iter().copied().sum())
    }

    /// Maximum over `axes`.
    ///
    /// # Panics
    /// If an axis is out of range or repeated, or the tensor is empty.
    pub fn max_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.max_over(&resolve_axes("max", axes, self.shape()), keepdim)
    }

    /// Minimum over `axes`.
    ///
    /// # Panics
    /// If an axis is out of range or repeated, or the tensor is empty.
    pub fn min_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.min_over(&resolve_axes("min", axes, self.shape()), keepdim)
    }

    /// Variance over `axes`: `sum (x - mean)^2 / (N - correction)`, with
    /// `N` the number of elements reduced into each output (PyTorch's
    /// `correction`: 0 for the population variance, 1 for the sample one).
    /// Where `N <= correction` the divisor is 0 and the result is infinite
    /// or NaN.
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn var_axes(&self, axes: &[isize], correction: usize, keepdim: bool) -> Tensor<T> {
        self.var_over(
            &resolve_axes("var", axes, self.shape()),
            correction,
            keepdim,
        )
    }

    /// `ln sum exp(x)` over `axes`, without overflow for large inputs.
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn logsumexp_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.logsumexp_over(&resolve_axes("logsumexp", axes, self.shape()), keepdim)
    }

    /// Index of the largest element along `axis`, as a float; the first one
    /// on ties, and the first NaN if there is one (as NumPy).
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn argmax_axis(&self, axis: isize, keepdim: bool) -> Tensor<T> {
        let axis = resolve_axis("argmax", axis, self.shape());
        self.arg_extreme("argmax", axis, keepdim, |x, best| {
            x > best || (x.is_nan() && !best.is_nan())
        })
    }

    /// Index of the smallest element along `axis`, as a float; the first one
    /// on ties, and the first NaN if there is one.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn argmin_axis(&self, axis: isize, keepdim: bool) -> Tensor<T> {
        let axis = resolve_axis("argmin", axis, self.shape());
        self.arg_extreme("argmin", axis, keepdim, |x, best| {
            x < best || (x.is_nan() && !best.is_nan())
        })
    }

    /// Position along `axis` of the element that `better` prefers over all
    /// earlier ones.
    fn arg_extreme(
        &self,
        op: &str,
        axis: usize,
        keepdim: bool,
        better: impl Fn(T, T) -> bool,
    ) -> Tensor<T> {
        let dims = self.shape();
        let len = dims[axis];
        assert!(
            len > 0,
            "{op}: axis {axis} has size 0 in shape {dims:?}, so there is nothing to pick"
        );
        let outer: usize = dims[..axis].iter().product();
        let inner: usize = dims[axis + 1..].iter().product();
        let src = self.as_slice();
        let mut out = vec![T::ZERO; outer * inner];
        let mut best = vec![T::ZERO; inner];
        // Walk the axis one slab at a time so the inner loop runs over
        // contiguous memory, keeping the best value and index per position.
        for o in 0..outer {
            let base = o * len * inner;
            best.copy_from_slice(&src[base..base + inner]);
            let idx = &mut out[o * inner..(o + 1) * inner];
            for k in 1..len {
                let slab = &src[base + k * inner..base + (k + 1) * inner];
                for i in 0..inner {
                    if better(slab[i], best[i]) {
                        best[i] = slab[i];
                        idx[i] = T::from_usize(k);
                    }
                }
            }
        }
        Tensor::from_parts(reduced_dims(dims, &[axis], keepdim), out)
    }

    fn assert_nonempty(&self, op: &str) {
        assert!(
            self.numel() > 0,
            "{op}: cannot reduce an empty tensor of shape {:?}",
            self.shape()
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn sums_over_axes_match_hand_sums() {
        let t = Tensor::<f64>::from_vec((1..=6).map(f64::from).collect(), &[2, 3]).unwrap();
        assert_eq!(t.sum_axes(&[0], false).to_vec(), vec![5., 7., 9.]);
        assert_eq!(t.sum_axes(&[-1], true).shape(), &[2, 1]);
        assert_eq!(t.sum_axes(&[1], true).to_vec(), vec![6., 15.]);
        assert_eq!(t.sum_axes(&[0, 1], false).shape(), &[] as &[usize]);
        assert_eq!(t.max_axes(&[1], false).to_vec(), vec![3., 6.]);
        assert_eq!(t.sum_to_shape(&[3]).to_vec(), vec![5., 7., 9.]);
        assert_eq!(t.sum_to_shape(&[2, 1]).to_vec(), vec![6., 15.]);
    }

    #[test]
    fn expand_over_undoes_the_shape_of_a_reduction() {
        // [10, 20] is [2, 3] summed over axis 1; spreading copies each along the row.
        let r = Tensor::<f64>::from_vec(vec![10., 20.], &[2]).unwrap();
        let e = r.expand_over(&[1], &[2, 3]);
        assert_eq!(e.shape(), &[2, 3]);
        assert_eq!(e.to_vec(), vec![10., 10., 10., 20., 20., 20.]);
        let s = Tensor::<f64>::scalar(7.0);
        assert_eq!(s.expand_over(&[0, 1], &[2, 2]).to_vec(), vec![7.0; 4]);
    }

    #[test]
    fn var_and_logsumexp_match_hand_values() {
        // rows [1, 2, 3] and [4, 6, 8]: means 2 and 6, squared deviations
        // sum to 2 and 8; divided by 3 - 1 = 2 gives 1 and 4.
        let t = Tensor::<f64>::from_vec(vec![1., 2., 3., 4., 6., 8.], &[2, 3]).unwrap();
        assert_eq!(t.var_axes(&[1], 1, false).to_vec(), vec![1., 4.]);
        // ln(e^1000 + e^1000) = 1000 + ln 2, where the plain formula overflows.
        let big = Tensor::<f32>::from_vec(vec![1000., 1000.], &[2]).unwrap();
        let l = big.logsumexp_axes(&[0], false).item();
        assert!((l - (1000.0 + 2f32.ln())).abs() < 1e-3);
        let neg = Tensor::<f64>::full(&[3], f64::NEG_INFINITY);
        assert_eq!(neg.logsumexp_axes(&[0], false).item(), f64::NEG_INFINITY);
    }

    #[test]
    fn argmax_takes_the_first_of_ties_along_any_axis() {
        // [[1, 5, 5], [7, 0, 7]]
        let t = Tensor::<f64>::from_vec(vec![1., 5., 5., 7., 0., 7.], &[2, 3]).unwrap();
        assert_eq!(t.argmax_axis(1, false).to_vec(), vec![1., 0.]);
        assert_eq!(t.argmax_axis(0, true).shape(), &[1, 3]);
        assert_eq!(t.argmax_axis(-2, false).to_vec(), vec![1., 0., 1.]);
        assert_eq!(t.argmin_axis(1, false).to_vec(), vec![0., 1.]);
    }
}
