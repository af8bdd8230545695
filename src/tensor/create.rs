//! Constructors: filled, ranged, identity, random, and from literals.

use super::shape::{Shape, checked_numel, numel, numel_or_panic, shape_of};
use super::{Float, Tensor};
use crate::error::{Error, Result};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

impl<T: Float> Tensor<T> {
    /// A tensor of the given shape from a row-major buffer.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `data.len()` is not the shape's element
    /// count; [`Error::ShapeOverflow`] if that count overflows `usize`.
    ///
    /// ```
    /// use tapegrad::{Error, Tensor};
    /// assert!(Tensor::<f32>::from_vec(vec![1., 2., 3.], &[2, 2]).is_err());
    /// let huge = Tensor::<f32>::from_vec(vec![], &[1 << 63, 2]);
    /// assert!(matches!(huge, Err(Error::ShapeOverflow { .. })));
    /// ```
    pub fn from_vec(data: Vec<T>, dims: &[usize]) -> Result<Self> {
        let expected = checked_numel(dims).ok_or_else(|| Error::ShapeOverflow {
            dims: dims.to_vec(),
        })?;
        if data.len() != expected {
            return Err(Error::LengthMismatch {
                shape: dims.to_vec(),
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor::from_parts(shape_of(dims), data))
    }

    /// A tensor with every element equal to `value`.
    ///
    /// # Panics
    /// If the shape's element count overflows `usize`.
    pub fn full(dims: &[usize], value: T) -> Self {
        Self::filled("full", dims, value)
    }

    /// A tensor of zeros.
    ///
    /// # Panics
    /// If the shape's element count overflows `usize`.
    pub fn zeros(dims: &[usize]) -> Self {
        Self::filled("zeros", dims, T::ZERO)
    }

    /// A tensor of ones.
    ///
    /// # Panics
    /// If the shape's element count overflows `usize`.
    pub fn ones(dims: &[usize]) -> Self {
        Self::filled("ones", dims, T::ONE)
    }

    /// `value` everywhere, for the constructor `op`, which a panic names.
    fn filled(op: &str, dims: &[usize], value: T) -> Self {
        let n = numel_or_panic(op, dims);
        Tensor::from_parts(shape_of(dims), vec![value; n])
    }

    /// A 0-d tensor holding one value.
    pub fn scalar(value: T) -> Self {
        Tensor::from_parts(Shape::new(), vec![value])
    }

    /// `start, start + step, ...` up to but excluding `end`, as a 1-d tensor.
    ///
    /// # Panics
    /// If `step` is zero or does not move from `start` towards `end`.
    pub fn arange(start: T, end: T, step: T) -> Self {
        let (s, e, st) = (start.to_f64(), end.to_f64(), step.to_f64());
        assert!(
            st != 0.0 && (e - s) * st >= 0.0,
            "arange: step {st} does not go from {s} to {e}"
        );
        let n = ((e - s) / st).ceil().max(0.0) as usize;
        let data: Vec<T> = (0..n).map(|i| T::from_f64(s + st * i as f64)).collect();
        Tensor::from_parts(shape_of(&[n]), data)
    }

    /// `n` evenly spaced values from `start` to `end`, both included.
    pub fn linspace(start: T, end: T, n: usize) -> Self {
        let (s, e) = (start.to_f64(), end.to_f64());
        let step = if n > 1 { (e - s) / (n - 1) as f64 } else { 0.0 };
        let data = (0..n)
            .map(|i| {
                if i + 1 == n && n > 1 {
                    end
                } else {
                    T::from_f64(s + step * i as f64)
                }
            })
            .collect();
        Tensor::from_parts(shape_of(&[n]), data)
    }

    /// The `n x n` identity matrix.
    ///
    /// # Panics
    /// If `n * n` overflows `usize`.
    pub fn eye(n: usize) -> Self {
        let mut data = vec![T::ZERO; numel_or_panic("eye", &[n, n])];
        for i in 0..n {
            data[i * n + i] = T::ONE;
        }
        Tensor::from_parts(shape_of(&[n, n]), data)
    }

    /// Uniform samples from `[low, high)`, drawn from the caller's generator.
    ///
    /// Values are drawn in `f64` and rounded, so an `f32` and an `f64` tensor
    /// drawn from the same seed hold the same numbers up to rounding.
    ///
    /// # Panics
    /// If the shape's element count overflows `usize`.
    pub fn rand_uniform<R: Rng + ?Sized>(dims: &[usize], low: T, high: T, rng: &mut R) -> Self {
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let data = (0..numel_or_panic("rand_uniform", dims))
            .map(|_| T::from_f64(lo + (hi - lo) * rng.random::<f64>()))
            .collect();
        Tensor::from_parts(shape_of(dims), data)
    }

    /// Standard normal samples (mean 0, variance 1) from the caller's generator.
    ///
    /// # Panics
    /// If the shape's element count overflows `usize`.
    pub fn randn<R: Rng + ?Sized>(dims: &[usize], rng: &mut R) -> Self {
        let data = (0..numel_or_panic("randn", dims))
            .map(|_| T::from_f64(rng.sample::<f64, _>(StandardNormal)))
            .collect();
        Tensor::from_parts(shape_of(dims), data)
    }

    /// A tensor from nested arrays; see the [`tensor!`](crate::tensor!) macro.
    pub fn from_nested<N: Nested<T>>(nested: N) -> Self {
        let mut dims = Shape::new();
        nested.push_dims(&mut dims);
        let mut data = Vec::with_capacity(numel(&dims));
        nested.push_elements(&mut data);
        Tensor::from_parts(dims, data)
    }
}

/// A scalar or a (nested) fixed-size array of them, as written in a literal.
pub trait Nested<T> {
    /// Appends this level's size and those below it.
    fn push_dims(&self, dims: &mut Shape);
    /// Appends the elements in row-major order.
    fn push_elements(&self, out: &mut Vec<T>);
}

macro_rules! nested_scalar {
    ($t:ty) => {
        impl Nested<$t> for $t {
            fn push_dims(&self, _: &mut Shape) {}
            fn push_elements(&self, out: &mut Vec<$t>) {
                out.push(*self);
            }
        }
    };
}
nested_scalar!(f32);
nested_scalar!(f64);

impl<T, U: Nested<T>, const N: usize> Nested<T> for [U; N] {
    fn push_dims(&self, dims: &mut Shape) {
        dims.push(N);
        if let Some(first) = self.first() {
            first.push_dims(dims);
        }
    }
    fn push_elements(&self, out: &mut Vec<T>) {
        for x in self {
            x.push_elements(out);
        }
    }
}

/// A tensor from a literal: `tensor![[1., 2.], [3., 4.]]` is a `[2, 2]` tensor.
///
/// Rows of unequal length do not compile (they are arrays of different
/// types). The element type follows inference; with nothing to infer from,
/// float literals are `f64`, so annotate when you want `f32`:
///
/// ```
/// use tapegrad::{tensor, Tensor};
/// let t: Tensor<f32> = tensor![[1., 2.], [3., 4.]];
/// assert_eq!(t.shape(), &[2, 2]);
/// assert_eq!(t.to_vec(), vec![1., 2., 3., 4.]);
/// ```
#[macro_export]
macro_rules! tensor {
    ($($x:tt)*) => {
        $crate::Tensor::from_nested([$($x)*])
    };
}
