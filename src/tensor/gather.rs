//! Indexing by lists of integers: `index_select` (whole slices by index, the
//! embedding lookup) and `gather` (one element per index, PyTorch's
//! `torch.gather`), with the scatter-adds that are their backward passes.
//!
//! Indices are `usize`: they are positions, not values, and keeping them out
//! of the float tensor means no rounding question ever arises.

use super::shape::{Shape, numel, resolve_axis, strides};
use super::strided::for_each_row;
use super::{Float, Tensor, worth_parallel};
use rayon::prelude::*;

/// Panics unless every index is below `size`, naming the op and the axis.
fn check_in_range(op: &str, indices: &[usize], axis: isize, dims: &[usize], a: usize) {
    if let Some(&bad) = indices.iter().find(|&&i| i >= dims[a]) {
        panic!(
            "{op}: index {bad} is out of range for axis {axis} of size {} in shape {dims:?}",
            dims[a]
        );
    }
}

/// Checks a gather/scatter index against the shape it indexes: same number
/// of axes, no larger off `axis`, one index per element, each in range.
/// Returns the resolved axis.
fn check_gather_index(
    op: &str,
    axis: isize,
    dims: &[usize],
    index: &[usize],
    index_dims: &[usize],
) -> usize {
    let a = resolve_axis(op, axis, dims);
    let wanted = super::shape::checked_numel(index_dims);
    if wanted != Some(index.len()) {
        let wanted = wanted.map_or("more than usize counts".to_string(), |n| n.to_string());
        panic!(
            "{op}: {} indices given for index shape {index_dims:?} ({wanted} elements)",
            index.len(),
        );
    }
    let fits = index_dims.len() == dims.len()
        && (0..dims.len()).all(|i| i == a || index_dims[i] <= dims[i]);
    if !fits {
        panic!(
            "{op}: index shape {index_dims:?} does not fit input shape {dims:?} off axis {axis}"
        );
    }
    check_in_range(op, index, axis, dims, a);
    a
}

/// Visits every position of a gather index: `f(k, s)` where `k` is the
/// position in the index (row-major over `index_dims`) and `s` is the offset
/// in the indexed tensor of the same position with the `axis` coordinate
/// set to 0.
fn for_each_index_position(
    dims: &[usize],
    a: usize,
    index_dims: &[usize],
    mut f: impl FnMut(usize, usize),
) {
    let own = strides(index_dims);
    let mut src: Shape = strides(dims);
    src[a] = 0;
    for_each_row(index_dims, &own, &src, |r| {
        for j in 0..r.len {
            f(r.a + j * r.sa, r.b + j * r.sb);
        }
    });
}

impl<T: Float> Tensor<T> {
    /// Slices along `axis` picked by index, in the order given (repeats
    /// allowed): the result's size along `axis` is `indices.len()`, and its
    /// slice `k` is `self`'s slice `indices[k]`. On a `[vocab, dim]` table
    /// with `axis = 0` this is an embedding lookup.
    ///
    /// ```
    /// use tapegrad::tensor;
    /// let table = tensor![[1., 2.], [3., 4.], [5., 6.]];
    /// let rows = table.index_select(0, &[2, 0, 2]);
    /// assert_eq!(rows.to_vec(), vec![5., 6., 1., 2., 5., 6.]);
    /// ```
    ///
    /// # Panics
    /// If the axis or an index is out of range.
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Tensor<T> {
        let a = resolve_axis("index_select", axis, self.shape());
        check_in_range("index_select", indices, axis, self.shape(), a);
        let d = self.shape();
        let inner = numel(&d[a + 1..]);
        let (n, m) = (d[a], indices.len());
        let mut dims = Shape::from_slice(d);
        dims[a] = m;
        let mut out = vec![T::ZERO; numel(&dims)];
        if inner == 0 || out.is_empty() {
            return Tensor::from_parts(dims, out);
        }
        let src = self.as_slice();
        // Output slice `r` (of `inner` elements) is input slice
        // `(r / m) * n + indices[r % m]`.
        let copy = |(r, slot): (usize, &mut [T])| {
            let s = ((r / m) * n + indices[r % m]) * inner;
            slot.copy_from_slice(&src[s..s + inner]);
        };
        if worth_parallel(out.len()) {
            out.par_chunks_mut(inner).enumerate().for_each(copy);
        } else {
            out.chunks_mut(inner).enumerate().for_each(copy);
        }
        Tensor::from_parts(dims, out)
    }

    /// Adds `src`'s slices into `self`'s along `axis`: slice `k` of `src`
    /// goes into slice `indices[k]` of `self`, and repeated indices add up
    /// (PyTorch's `index_add_`). This is the backward of
    /// [`index_select`](Tensor::index_select).
    ///
    /// # Panics
    /// If the axis or an index is out of range, or `src` is not `self`'s
    /// shape with `indices.len()` along `axis`.
    pub fn index_add_assign(&mut self, axis: isize, indices: &[usize], src: &Tensor<T>) {
        let a = resolve_axis("index_add", axis, self.shape());
        check_in_range("index_add", indices, axis, self.shape(), a);
        let mut expected = Shape::from_slice(self.shape());
        expected[a] = indices.len();
        if src.shape() != expected.as_slice() {
            panic!(
                "index_add: source shape {:?} does not match {expected:?} ({} indices along axis {axis} of {:?})",
                src.shape(),
                indices.len(),
                self.shape()
            );
        }
        let inner = numel(&self.shape()[a + 1..]);
        let (n, m) = (self.shape()[a], indices.len());
        let s = src.as_slice();
        let dst = self.as_mut_slice();
        if inner == 0 {
            return;
        }
        for (r, slice) in s.chunks(inner).enumerate() {
            let d = ((r / m) * n + indices[r % m]) * inner;
            dst[d..d + inner]
                .iter_mut()
                .zip(slice)
                .for_each(|(d, &x)| *d += x);
        }
    }

    /// One element per index along `axis` (PyTorch's `torch.gather`).
    ///
    /// `index` is a row-major array of shape `index_dims`, which has as many
    /// axes as `self` and is no larger off `axis`. The result has shape
    /// `index_dims`; for `axis = 1` of a 3-d tensor,
    /// `out[i][j][k] = self[i][index[i][j][k]][k]`.
    ///
    /// ```
    /// use tapegrad::tensor;
    /// // Pick one column per row: the target class's score.
    /// let scores = tensor![[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]];
    /// let picked = scores.gather(1, &[1, 0], &[2, 1]);
    /// assert_eq!(picked.to_vec(), vec![0.7, 0.5]);
    /// ```
    ///
    /// # Panics
    /// If the axis or an index is out of range, `index.len()` does not match
    /// `index_dims`, or `index_dims` does not fit `self`'s shape off `axis`.
    pub fn gather(&self, axis: isize, index: &[usize], index_dims: &[usize]) -> Tensor<T> {
        let a = check_gather_index("gather", axis, self.shape(), index, index_dims);
        let step = strides(self.shape())[a];
        let src = self.as_slice();
        let mut out = vec![T::ZERO; index.len()];
        for_each_index_position(self.shape(), a, index_dims, |k, s| {
            out[k] = src[s + index[k] * step];
        });
        Tensor::from_parts(Shape::from_slice(index_dims), out)
    }

    /// Adds each element of `src` (shape `index_dims`) into `self` at the
    /// position [`gather`](Tensor::gather) would have read it from; repeated
    /// positions add up (PyTorch's `scatter_add_`). This is gather's
    /// backward.
    ///
    /// # Panics
    /// As [`gather`](Tensor::gather), and if `src`'s shape is not
    /// `index_dims`.
    pub fn scatter_add_assign(
        &mut self,
        axis: isize,
        index: &[usize],
        index_dims: &[usize],
        src: &Tensor<T>,
    ) {
        let a = check_gather_index("scatter_add", axis, self.shape(), index, index_dims);
        super::shape::assert_same_shape("scatter_add", index_dims, src.shape());
        let step = strides(self.shape())[a];
        let dims = Shape::from_slice(self.shape());
        let s = src.as_slice();
        let dst = self.as_mut_slice();
        for_each_index_position(&dims, a, index_dims, |k, d| {
            dst[d + index[k] * step] += s[k];
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn gather_along_axis_0_follows_the_torch_formula() {
        // out[i][j] = x[index[i][j]][j] for x = [[1, 2], [3, 4], [5, 6]]
        // and index = [[2, 0], [2, 1]]: [[x20, x01], [x20, x11]] = [[5, 2], [5, 4]].
        let x = Tensor::<f64>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[3, 2]).unwrap();
        let out = x.gather(0, &[2, 0, 2, 1], &[2, 2]);
        assert_eq!(out.to_vec(), vec![5., 2., 5., 4.]);
        // Scattering ones back counts how often each element was read:
        // x20 twice, x01 and x11 once each.
        let mut counts = Tensor::<f64>::zeros(&[3, 2]);
        counts.scatter_add_assign(0, &[2, 0, 2, 1], &[2, 2], &Tensor::ones(&[2, 2]));
        assert_eq!(counts.to_vec(), vec![0., 1., 0., 1., 2., 0.]);
    }

    #[test]
    fn large_index_select_takes_the_parallel_path_and_agrees() {
        let n = 64 * 1024;
        let x = Tensor::<f64>::from_vec((0..n).map(|i| i as f64).collect(), &[64, 1024]).unwrap();
        let idx: Vec<usize> = (0..64).rev().collect();
        let y = x.index_select(0, &idx);
        assert_eq!(y.get(&[0, 5]), x.get(&[63, 5]));
        assert_eq!(y.get(&[63, 1023]), x.get(&[0, 1023]));
    }
}
