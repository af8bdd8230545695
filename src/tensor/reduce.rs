//! Reductions over axes: sum, mean, max, min, and summing a broadcast
//! gradient back to its input's shape.

use super::shape::{Shape, resolve_axes};
use super::strided::{broadcast_strides, for_each_row};
use super::{Float, Tensor};

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
        let mut keep: Shape = Shape::from_slice(self.shape());
        for &a in axes {
            keep[a] = 1;
        }
        self.fold_into_shape(&keep, init, f)
    }

    /// Folds `self` into `target`, a shape `self` broadcasts from
    /// (right-aligned, with 1 or a missing axis wherever it is reduced).
    fn fold_into_shape(&self, target: &[usize], init: T, f: impl Fn(T, T) -> T) -> Tensor<T> {
        let n: usize = target.iter().product();
        let mut out = vec![init; n];
        let src = self.as_slice();
        let ss = super::shape::strides(self.shape());
        let sd = broadcast_strides(target, self.shape());
        for_each_row(self.shape(), &ss, &sd, |r| {
            if r.sb == 0 {
                let mut acc = out[r.b];
                for j in 0..r.len {
                    acc = f(acc, src[r.a + j * r.sa]);
                }
                out[r.b] = acc;
            } else {
                for j in 0..r.len {
                    let d = r.b + j * r.sb;
                    out[d] = f(out[d], src[r.a + j * r.sa]);
                }
            }
        });
        Tensor::from_parts(Shape::from_slice(target), out)
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

    /// Output shape of a reduction over `axes` with or without kept axes.
    pub(crate) fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Shape {
        let mut s = Shape::new();
        for (i, &d) in self.shape().iter().enumerate() {
            if !axes.contains(&i) {
                s.push(d);
            } else if keepdim {
                s.push(1);
            }
        }
        s
    }

    fn reduce(
        &self,
        op: &str,
        axes: &[isize],
        keepdim: bool,
        init: T,
        f: impl Fn(T, T) -> T,
    ) -> Tensor<T> {
        let axes = resolve_axes(op, axes, self.shape());
        let folded = self.fold_axes_keepdim(&axes, init, f);
        folded.reshape(&self.reduced_shape(&axes, keepdim))
    }

    /// Sum over `axes` (negative counts from the end).
    pub fn sum_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.reduce("sum", axes, keepdim, T::ZERO, |a, x| a + x)
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        Tensor::scalar(self.as_slice().iter().copied().sum())
    }

    /// Maximum over `axes`.
    ///
    /// # Panics
    /// If a reduced axis has size 0.
    pub fn max_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.assert_nonempty("max");
        self.reduce("max", axes, keepdim, T::NEG_INFINITY, |a, x| {
            if x > a || x.is_nan() { x } else { a }
        })
    }

    /// Minimum over `axes`.
    ///
    /// # Panics
    /// If a reduced axis has size 0.
    pub fn min_axes(&self, axes: &[isize], keepdim: bool) -> Tensor<T> {
        self.assert_nonempty("min");
        self.reduce("min", axes, keepdim, T::INFINITY, |a, x| {
            if x < a || x.is_nan() { x } else { a }
        })
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
}
