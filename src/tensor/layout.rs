//! Data movement: views under a new shape (squeeze, unsqueeze, flatten),
//! broadcast, permute, slicing (narrow, crop), concat, stack and pad.
//! Indexing by integer lists (index_select, gather and their scatter-adds)
//! is in `gather.rs`.
//!
//! Two small loops do the copying:
//! - `copy_strided` writes a contiguous result while reading the source
//!   through arbitrary strides: a permutation permutes the strides, a
//!   broadcast sets some to 0.
//! - `copy_box` copies a rectangular block from one tensor into another at
//!   given corners: narrow and crop read a block, pad and concat write one.
//!
//! Both walk whole rows with [`for_each_row`], which merges axes that are
//! contiguous in both operands, so copying a block of complete rows is one
//! `copy_from_slice`.

use super::shape::{Shape, numel, resolve_axis, strides};
use super::strided::{broadcast_strides, for_each_row};
use super::{Float, Tensor, worth_parallel};
use rayon::prelude::*;

/// Resolves an axis at which a new axis is inserted: `0..=ndim`, or
/// negative from the end (`-1` appends).
///
/// # Panics
/// If the axis is out of range, naming `op` and the shape.
pub(crate) fn resolve_insert_axis(op: &str, axis: isize, dims: &[usize]) -> usize {
    let nd = dims.len() as isize + 1;
    let a = if axis < 0 { axis + nd } else { axis };
    if a < 0 || a >= nd {
        panic!("{op}: axis {axis} is out of range for inserting an axis into shape {dims:?}");
    }
    a as usize
}

/// Checks that `perm` lists each axis of `dims` exactly once.
///
/// # Panics
/// If it does not, naming `op`, the permutation and the shape.
pub(crate) fn check_permutation(op: &str, perm: &[usize], dims: &[usize]) {
    let mut seen = vec![false; dims.len()];
    let ok = perm.len() == dims.len()
        && perm
            .iter()
            .all(|&p| p < dims.len() && !std::mem::replace(&mut seen[p], true));
    if !ok {
        panic!("{op}: {perm:?} is not a permutation of the axes of {dims:?}");
    }
}

/// A contiguous buffer of shape `dims` whose element at index `i` is
/// `src[sum_k i_k * src_strides[k]]`.
fn copy_strided<T: Float>(src: &[T], src_strides: &[usize], dims: &[usize]) -> Vec<T> {
    let n = numel(dims);
    let mut out = vec![T::ZERO; n];
    if n == 0 {
        return out;
    }
    let own = strides(dims);
    let fill = |out: &mut [T], base: usize, dims: &[usize], own: &[usize], ss: &[usize]| {
        for_each_row(dims, own, ss, |r| {
            let (o, s) = (&mut out[r.a..], base + r.b);
            if r.sa == 1 && r.sb == 1 {
                o[..r.len].copy_from_slice(&src[s..s + r.len]);
            } else {
                for j in 0..r.len {
                    o[j * r.sa] = src[s + j * r.sb];
                }
            }
        });
    };
    if worth_parallel(n) && dims.len() > 1 && dims[0] > 1 {
        // Each slice along the first axis is an independent block.
        out.par_chunks_mut(n / dims[0])
            .enumerate()
            .for_each(|(i, block)| {
                fill(
                    block,
                    i * src_strides[0],
                    &dims[1..],
                    &own[1..],
                    &src_strides[1..],
                )
            });
    } else {
        fill(&mut out, 0, dims, &own, src_strides);
    }
    out
}

/// Copies the block of size `size` whose corner is `from` in `src` (of shape
/// `src_dims`) to the block whose corner is `to` in `dst` (of shape
/// `dst_dims`). The caller has checked that both blocks fit.
fn copy_box<T: Float>(
    (src, src_dims, from): (&[T], &[usize], &[usize]),
    (dst, dst_dims, to): (&mut [T], &[usize], &[usize]),
    size: &[usize],
) {
    let (ss, ds) = (strides(src_dims), strides(dst_dims));
    let offset =
        |at: &[usize], st: &[usize]| -> usize { at.iter().zip(st).map(|(a, s)| a * s).sum() };
    let (s0, d0) = (offset(from, &ss), offset(to, &ds));
    for_each_row(size, &ss, &ds, |r| {
        let (s, d) = (s0 + r.a, d0 + r.b);
        if r.sa == 1 && r.sb == 1 {
            dst[d..d + r.len].copy_from_slice(&src[s..s + r.len]);
        } else {
            for j in 0..r.len {
                dst[d + j * r.sb] = src[s + j * r.sa];
            }
        }
    });
}

impl<T: Float> Tensor<T> {
    /// The same elements with the size-1 axis `axis` removed; shares the
    /// storage. Negative axes count from the end.
    ///
    /// # Panics
    /// If the axis is out of range or its size is not 1.
    pub fn squeeze(&self, axis: isize) -> Tensor<T> {
        let a = resolve_axis("squeeze", axis, self.shape());
        if self.shape()[a] != 1 {
            panic!(
                "squeeze: axis {axis} has size {}, not 1: {:?}",
                self.shape()[a],
                self.shape()
            );
        }
        let mut dims = Shape::from_slice(self.shape());
        dims.remove(a);
        self.reshape(&dims)
    }

    /// The same elements with a new axis of size 1 inserted before `axis`
    /// (`0..=ndim`; `-1` appends); shares the storage.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn unsqueeze(&self, axis: isize) -> Tensor<T> {
        let a = resolve_insert_axis("unsqueeze", axis, self.shape());
        let mut dims = Shape::from_slice(self.shape());
        dims.insert(a, 1);
        self.reshape(&dims)
    }

    /// The same elements with axes `start..=end` merged into one; shares the
    /// storage. A 0-d tensor counts as shape `[1]`, so `flatten(0, -1)`
    /// always gives a 1-d tensor (as PyTorch).
    ///
    /// # Panics
    /// If an axis is out of range or `start` comes after `end`.
    pub fn flatten(&self, start: isize, end: isize) -> Tensor<T> {
        let dims: &[usize] = if self.ndim() == 0 { &[1] } else { self.shape() };
        let (s, e) = (
            resolve_axis("flatten", start, dims),
            resolve_axis("flatten", end, dims),
        );
        if s > e {
            panic!("flatten: start axis {start} comes after end axis {end} in shape {dims:?}");
        }
        let mut out = Shape::from_slice(&dims[..s]);
        out.push(numel(&dims[s..=e]));
        out.extend_from_slice(&dims[e + 1..]);
        self.reshape(&out)
    }

    /// Repeats the elements along size-1 and missing leading axes to fill
    /// `dims` (NumPy broadcasting, one direction).
    ///
    /// # Panics
    /// If the shape does not broadcast to `dims`, or the element count of
    /// `dims` overflows `usize`.
    pub fn broadcast_to(&self, dims: &[usize]) -> Tensor<T> {
        // Right-aligned, each axis must match or be 1 (which then stretches).
        let fits = dims.len() >= self.ndim() && {
            let tail = &dims[dims.len() - self.ndim()..];
            self.shape()
                .iter()
                .zip(tail)
                .all(|(&d, &t)| d == 1 || d == t)
        };
        if !fits {
            panic!(
                "broadcast_to: cannot broadcast {:?} to {dims:?}",
                self.shape()
            );
        }
        if dims == self.shape() {
            return self.clone();
        }
        super::shape::numel_or_panic("broadcast_to", dims);
        let ss = broadcast_strides(self.shape(), dims);
        Tensor::from_parts(
            Shape::from_slice(dims),
            copy_strided(self.as_slice(), &ss, dims),
        )
    }

    /// The axes reordered: axis `i` of the result is axis `perm[i]` of
    /// `self` (as NumPy's `transpose(axes)` and PyTorch's `permute`).
    ///
    /// ```
    /// use tapegrad::tensor;
    /// let x = tensor![[1., 2., 3.], [4., 5., 6.]];
    /// assert_eq!(x.permute(&[1, 0]).to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    /// ```
    ///
    /// # Panics
    /// If `perm` is not a permutation of `0..ndim`.
    pub fn permute(&self, perm: &[usize]) -> Tensor<T> {
        check_permutation("permute", perm, self.shape());
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return self.clone();
        }
        let own = strides(self.shape());
        let dims: Shape = perm.iter().map(|&p| self.shape()[p]).collect();
        let ss: Shape = perm.iter().map(|&p| own[p]).collect();
        Tensor::from_parts(dims.clone(), copy_strided(self.as_slice(), &ss, &dims))
    }

    /// Axes `a` and `b` swapped (negative axes count from the end).
    ///
    /// # Panics
    /// If an axis is out of range.
    pub fn transpose(&self, a: isize, b: isize) -> Tensor<T> {
        let (a, b) = (
            resolve_axis("transpose", a, self.shape()),
            resolve_axis("transpose", b, self.shape()),
        );
        let mut perm: Shape = (0..self.ndim()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The block of size `dims` whose first element is at index `start`.
    ///
    /// # Panics
    /// If `start` or `dims` has the wrong number of axes, or the block does
    /// not fit.
    pub fn crop(&self, start: &[usize], dims: &[usize]) -> Tensor<T> {
        let fits = start.len() == self.ndim()
            && dims.len() == self.ndim()
            && (0..self.ndim()).all(|i| {
                start[i]
                    .checked_add(dims[i])
                    .is_some_and(|end| end <= self.shape()[i])
            });
        if !fits {
            panic!(
                "crop: a block of size {dims:?} at {start:?} does not fit in {:?}",
                self.shape()
            );
        }
        let mut out = vec![T::ZERO; numel(dims)];
        let zeros: Shape = smallvec::smallvec![0; dims.len()];
        copy_box(
            (self.as_slice(), self.shape(), start),
            (&mut out, dims, &zeros),
            dims,
        );
        Tensor::from_parts(Shape::from_slice(dims), out)
    }

    /// Elements `start..start + len` along `axis`, all of every other axis
    /// (PyTorch's `narrow`; a copy).
    ///
    /// ```
    /// use tapegrad::tensor;
    /// let x = tensor![[1., 2., 3.], [4., 5., 6.]];
    /// assert_eq!(x.narrow(-1, 1, 2).to_vec(), vec![2., 3., 5., 6.]);
    /// ```
    ///
    /// # Panics
    /// If the axis is out of range or `start + len` exceeds its size.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor<T> {
        let a = resolve_axis("narrow", axis, self.shape());
        let size = self.shape()[a];
        if start.checked_add(len).is_none_or(|end| end > size) {
            panic!(
                "narrow: range {start}..{} is out of bounds for axis {axis} of size {size}: {:?}",
                start as u128 + len as u128,
                self.shape()
            );
        }
        let mut from: Shape = smallvec::smallvec![0; self.ndim()];
        from[a] = start;
        let mut dims = Shape::from_slice(self.shape());
        dims[a] = len;
        self.crop(&from, &dims)
    }

    /// The tensors joined along an existing `axis`; every other axis must
    /// match. The result's size along `axis` is the sum of theirs.
    ///
    /// ```
    /// use tapegrad::{tensor, Tensor};
    /// let (a, b) = (tensor![[1., 2.]], tensor![[3., 4.], [5., 6.]]);
    /// let c = Tensor::concat(&[&a, &b], 0);
    /// assert_eq!(c.shape(), &[3, 2]);
    /// assert_eq!(c.to_vec(), vec![1., 2., 3., 4., 5., 6.]);
    /// ```
    ///
    /// # Panics
    /// If the list is empty, the axis is out of range, or shapes differ off
    /// the axis.
    pub fn concat(tensors: &[&Tensor<T>], axis: isize) -> Tensor<T> {
        let first = tensors
            .first()
            .unwrap_or_else(|| panic!("concat: no tensors to join"));
        let a = resolve_axis("concat", axis, first.shape());
        let mut dims = Shape::from_slice(first.shape());
        dims[a] = 0;
        for t in tensors {
            let same_off_axis = t.ndim() == first.ndim()
                && (0..t.ndim()).all(|i| i == a || t.shape()[i] == first.shape()[i]);
            if !same_off_axis {
                panic!(
                    "concat: shapes differ off axis {axis}: {:?} and {:?}",
                    first.shape(),
                    t.shape()
                );
            }
            dims[a] += t.shape()[a];
        }
        let mut out = vec![T::ZERO; numel(&dims)];
        let mut at: Shape = smallvec::smallvec![0; dims.len()];
        let zeros = at.clone();
        for t in tensors {
            copy_box(
                (t.as_slice(), t.shape(), &zeros),
                (&mut out, &dims, &at),
                t.shape(),
            );
            at[a] += t.shape()[a];
        }
        Tensor::from_parts(dims, out)
    }

    /// The tensors, all of one shape, stacked along a new axis inserted at
    /// `axis` (`0..=ndim`). Stacking `n` tensors of shape `[2, 3]` at axis 1
    /// gives `[2, n, 3]`.
    ///
    /// # Panics
    /// If the list is empty, the shapes differ, or the axis is out of range.
    pub fn stack(tensors: &[&Tensor<T>], axis: isize) -> Tensor<T> {
        let first = tensors
            .first()
            .unwrap_or_else(|| panic!("stack: no tensors to join"));
        for t in tensors {
            super::shape::assert_same_shape("stack", first.shape(), t.shape());
        }
        let a = resolve_insert_axis("stack", axis, first.shape()) as isize;
        let views: Vec<Tensor<T>> = tensors.iter().map(|t| t.unsqueeze(a)).collect();
        let refs: Vec<&Tensor<T>> = views.iter().collect();
        Tensor::concat(&refs, a)
    }

    /// Constant padding: `pads[i] = (before, after)` elements equal to
    /// `value` are added on each side of axis `i`; one pair per axis.
    ///
    /// ```
    /// use tapegrad::tensor;
    /// let x = tensor![[1., 2.]];
    /// let p = x.pad(&[(1, 0), (0, 1)], 0.);
    /// assert_eq!(p.shape(), &[2, 3]);
    /// assert_eq!(p.to_vec(), vec![0., 0., 0., 1., 2., 0.]);
    /// ```
    ///
    /// # Panics
    /// If `pads` does not have one pair per axis, or the padded shape's size
    /// overflows `usize`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Tensor<T> {
        if pads.len() != self.ndim() {
            panic!(
                "pad: {} (before, after) pairs given for shape {:?} with {} axes",
                pads.len(),
                self.shape(),
                self.ndim()
            );
        }
        let dims: Shape = self
            .shape()
            .iter()
            .zip(pads)
            .map(|(d, (b, a))| {
                b.checked_add(*d)
                    .and_then(|n| n.checked_add(*a))
                    .unwrap_or_else(|| {
                        panic!(
                            "pad: padding {pads:?} of {:?} makes an axis longer than usize can count",
                            self.shape()
                        )
                    })
            })
            .collect();
        super::shape::numel_or_panic("pad", &dims);
        let at: Shape = pads.iter().map(|p| p.0).collect();
        let zeros: Shape = smallvec::smallvec![0; dims.len()];
        let mut out = vec![value; numel(&dims)];
        copy_box(
            (self.as_slice(), self.shape(), &zeros),
            (&mut out, &dims, &at),
            self.shape(),
        );
        Tensor::from_parts(dims, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    fn iota(dims: &[usize]) -> Tensor<f64> {
        let n = dims.iter().product::<usize>();
        Tensor::from_vec((0..n).map(|i| i as f64).collect(), dims).unwrap()
    }

    #[test]
    fn permute_of_three_axes_moves_each_element_by_hand() {
        // x[i, j, k] = 6i + 3j + k for shape [2, 2, 3]; y = x.permute([2, 0, 1])
        // has shape [3, 2, 2] and y[k, i, j] = x[i, j, k].
        let x = iota(&[2, 2, 3]);
        let y = x.permute(&[2, 0, 1]);
        assert_eq!(y.shape(), &[3, 2, 2]);
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..3 {
                    assert_eq!(y.get(&[k, i, j]), (6 * i + 3 * j + k) as f64);
                }
            }
        }
    }

    #[test]
    fn large_permute_takes_the_parallel_path_and_agrees() {
        // 64 x 1024 elements is above PARALLEL_THRESHOLD.
        let x = iota(&[64, 1024]);
        let y = x.transpose(0, 1);
        assert_eq!(y.shape(), &[1024, 64]);
        assert_eq!(y.get(&[1000, 3]), x.get(&[3, 1000]));
        assert_eq!(y.transpose(0, 1), x);
    }

    #[test]
    fn broadcast_to_repeats_rows_and_columns() {
        let col = Tensor::<f64>::from_vec(vec![1., 2.], &[2, 1]).unwrap();
        assert_eq!(
            col.broadcast_to(&[3, 2, 2]).to_vec(),
            vec![1., 1., 2., 2., 1., 1., 2., 2., 1., 1., 2., 2.]
        );
        assert_eq!(
            Tensor::scalar(4.0).broadcast_to(&[2]).to_vec(),
            vec![4., 4.]
        );
    }

    #[test]
    fn crop_of_a_padded_block_gives_it_back() {
        let x = iota(&[2, 3, 4]);
        let p = x.pad(&[(1, 0), (0, 2), (3, 1)], -1.0);
        assert_eq!(p.shape(), &[3, 5, 8]);
        assert_eq!(p.crop(&[1, 0, 3], &[2, 3, 4]), x);
        assert_eq!(p.get(&[0, 0, 0]), -1.0);
    }
}
