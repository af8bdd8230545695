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
#[inline]
pub fn numel(dims: &[usize]) -> usize {
    match dims {
        [] => 1,
        [n] => *n,
        _ => dims.iter().product(),
    }
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
    #[should_panic(expected = "add: shapes do not broadcast: [2, 3] and [4]")]
    fn broadcast_mismatch_panics_with_shapes() {
        broadcast_shapes("add", &[2, 3], &[4]);
    }
}
