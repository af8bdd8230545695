//! Shapes, strides, broadcasting, and the one place shape errors are worded.
//!
//! Every maths op that can be handed incompatible shapes calls a helper here,
//! so that all of them panic the same way: the op's name first, then what is
//! wrong, then the shapes (`matmul: inner dimensions differ: [2, 3] x [4, 5]`).

use smallvec::SmallVec;

/// A tensor's shape: its size along each axis, outermost first.
///
/// Four axes fit inline, so shapes of ordinary tensors never allocate.
pub type Shape = SmallVec<[usize; 4]>;

/// Makes a [`Shape`] from anything that lists dimensions.
///
/// Up to four axes are written straight into the inline buffer: cheaper
/// than `Shape::from_slice`, and than a copy loop, which the compiler turns
/// into a call to `memcpy` (the tape makes a shape on every op).
#[inline]
pub fn shape_of(dims: &[usize]) -> Shape {
    let buf = match *dims {
        [] => [0; 4],
        [a] => [a, 0, 0, 0],
        [a, b] => [a, b, 0, 0],
        [a, b, c] => [a, b, c, 0],
        [a, b, c, d] => [a, b, c, d],
        _ => return Shape::from_slice(dims),
    };
    Shape::from_buf_and_len(buf, dims.len())
}

/// Number of elements of a tensor with these dimensions (1 for a 0-d scalar).
///
/// For a shape that [`checked_numel`] accepts (every tensor's shape is one)
/// this is the exact count. The product wraps rather than overflows, which
/// changes nothing for such shapes (a wrapped product that meets a zero
/// axis is still zero) and keeps this hot path free of checks; shapes from
/// outside the program must go through [`checked_numel`] first.
#[inline]
pub fn numel(dims: &[usize]) -> usize {
    match dims {
        [] => 1,
        [n] => *n,
        _ => dims.iter().fold(1usize, |acc, &d| acc.wrapping_mul(d)),
    }
}

/// The number of elements of a tensor with these dimensions, or `None` if
/// a tensor of that shape could not exist because its size does not fit in
/// `usize`.
///
/// As NumPy does, the product of the non-zero axes must fit, even when
/// another axis is zero: a shape's row-major strides are products of its
/// trailing axes, so this keeps every stride countable too.
///
/// ```
/// use tapegrad::tensor::shape::checked_numel;
/// assert_eq!(checked_numel(&[2, 3]), Some(6));
/// assert_eq!(checked_numel(&[0, 5]), Some(0));
/// assert_eq!(checked_numel(&[1 << 63, 2]), None);
/// assert_eq!(checked_numel(&[0, 1 << 63, 2]), None);
/// ```
pub fn checked_numel(dims: &[usize]) -> Option<usize> {
    let mut nonzero = 1usize;
    let mut empty = false;
    for &d in dims {
        if d == 0 {
            empty = true;
        } else {
            nonzero = nonzero.checked_mul(d)?;
        }
    }
    Some(if empty { 0 } else { nonzero })
}

/// [`checked_numel`] for a maths op: the element count of `dims`.
///
/// # Panics
/// If the count overflows `usize`, naming `op` and the shape.
pub fn numel_or_panic(op: &str, dims: &[usize]) -> usize {
    checked_numel(dims).unwrap_or_else(|| {
        panic!("{op}: shape {dims:?} has too many elements (their count overflows usize)")
    })
}

/// Row-major strides, in elements, for these dimensions.
pub fn strides(dims: &[usize]) -> Shape {
    let mut s: Shape = smallvec::smallvec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Whether two shapes are equal: the slices' `==`, without the call to
/// `memcmp` it makes for the few axes a shape has (the tape compares shapes
/// on every op).
#[inline]
pub(crate) fn same_dims(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The NumPy broadcast of two shapes.
///
/// # Panics
/// If the shapes do not broadcast, naming `op` and both shapes.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Shape {
    if same_dims(a, b) {
        return shape_of(a);
    }
    try_broadcast_shapes(a, b)
        .unwrap_or_else(|| panic!("{op}: shapes do not broadcast: {a:?} and {b:?}"))
}

/// The NumPy broadcast of two shapes, or `None` if they do not broadcast
/// (for ops whose message names more than the two shapes, such as
/// matmul's batch axes).
pub(crate) fn try_broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = smallvec::smallvec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Resolves a possibly negative axis (`-1` is the last) against `ndim`.
///
/// # Panics
/// If the axis is out of range, naming `op` and the shape.
pub fn resolve_axis(op: &str, axis: isize, dims: &[usize]) -> usize {
    let nd = dims.len() as isize;
    let a = if axis < 0 { axis + nd } else { axis };
    if a < 0 || a >= nd {
        panic!("{op}: axis {axis} is out of range for shape {dims:?}");
    }
    a as usize
}

/// Resolves a list of axes, sorted and without repeats.
///
/// # Panics
/// If an axis is out of range or repeated.
pub fn resolve_axes(op: &str, axes: &[isize], dims: &[usize]) -> SmallVec<[usize; 4]> {
    let mut out: SmallVec<[usize; 4]> = axes.iter().map(|&a| resolve_axis(op, a, dims)).collect();
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    if out.len() != before {
        panic!("{op}: repeated axis in {axes:?} for shape {dims:?}");
    }
    out
}

/// Panics with the op's name and both shapes unless they are equal.
pub fn assert_same_shape(op: &str, a: &[usize], b: &[usize]) {
    if !same_dims(a, b) {
        panic!("{op}: shapes differ: {a:?} and {b:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(
            broadcast_shapes("add", &[2, 1, 3], &[4, 1]).as_slice(),
            &[2, 4, 3]
        );
        assert_eq!(broadcast_shapes("add", &[], &[5]).as_slice(), &[5]);
        assert_eq!(strides(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
    }

    #[test]
    fn shape_of_copies_every_rank() {
        for n in 0..7 {
            let dims: Vec<usize> = (2..2 + n).collect();
            assert_eq!(shape_of(&dims).as_slice(), dims.as_slice());
        }
    }

    #[test]
    fn numel_counts_exactly_wherever_checked_numel_accepts() {
        assert_eq!(numel(&[]), 1);
        assert_eq!(checked_numel(&[]), Some(1));
        assert_eq!(checked_numel(&[usize::MAX]), Some(usize::MAX));
        assert_eq!(checked_numel(&[usize::MAX, 2]), None);
        // A zero axis anywhere: no elements, and no overflow on the way.
        let big = [1usize << 40, 1 << 20, 0];
        assert_eq!((checked_numel(&big), numel(&big)), (Some(0), 0));
        assert_eq!(checked_numel(&[1 << 40, 1 << 30, 0]), None);
    }

    #[test]
    #[should_panic(expected = "zeros: shape [9223372036854775808, 2] has too many elements")]
    fn numel_or_panic_names_the_op_and_shape() {
        numel_or_panic("zeros", &[1 << 63, 2]);
    }

    #[test]
    #[should_panic(expected = "add: shapes do not broadcast: [2, 3] and [4]")]
    fn broadcast_mismatch_panics_with_shapes() {
        broadcast_shapes("add", &[2, 3], &[4]);
    }
}
