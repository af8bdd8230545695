//! Elementwise kernels: maps over one tensor and broadcasting maps over two.
//!
//! The arithmetic operators on `&Tensor` (`&a + &b`, `&a * 2.0`) are defined
//! here too, so that backward rules read like the maths they implement.

use super::shape::{broadcast_shapes, same_dims, shape_of};
use super::simd::vectorize;
use super::strided::{broadcast_strides, for_each_row};
use super::{Float, Tensor, worth_parallel};
use rayon::prelude::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Elements per rayon task for elementwise work.
const CHUNK: usize = 1 << 13;

/// Length from which a loop is worth the run-time dispatch to wider vectors.
const VECTORIZE_MIN: usize = 64;

/// `out[i] = f(src[i])`, through [`vectorize`] when the slice is long enough.
///
/// `f` is moved into the dispatched closure by value: a closure reached
/// through a reference there is not vectorised (the compiler cannot rule out
/// that `out` overlaps what it captures).
#[inline(always)]
fn map_into<T: Float, F: Fn(T) -> T + Copy>(out: &mut [T], src: &[T], f: F) {
    let mut body = move || {
        for (o, &x) in out.iter_mut().zip(src) {
            *o = f(x);
        }
    };
    if src.len() >= VECTORIZE_MIN {
        vectorize(body)
    } else {
        body()
    }
}

/// `out[i] = f(a[i], b[i])`, through [`vectorize`] when long enough.
#[inline(always)]
fn zip_into<T: Float, F: Fn(T, T) -> T + Copy>(out: &mut [T], a: &[T], b: &[T], f: F) {
    let n = out.len().min(a.len()).min(b.len());
    let mut body = move || {
        let (out, a, b) = (&mut out[..n], &a[..n], &b[..n]);
        for i in 0..n {
            out[i] = f(a[i], b[i]);
        }
    };
    if n >= VECTORIZE_MIN {
        vectorize(body)
    } else {
        body()
    }
}

impl<T: Float> Tensor<T> {
    /// A new tensor with `f` applied to every element.
    #[inline]
    pub fn map(&self, f: impl Fn(T) -> T + Sync + Copy) -> Tensor<T> {
        if let [x] = self.as_slice() {
            // One element (a scalar chain): the result holds it inline, with
            // no buffer and no loop; inlined into the caller.
            return Tensor::one_element(self.shape(), f(*x));
        }
        self.map_buffer(f)
    }

    /// [`map`](Tensor::map) into a buffer (kept out of line).
    fn map_buffer(&self, f: impl Fn(T) -> T + Sync + Copy) -> Tensor<T> {
        let src = self.as_slice();
        let mut result = Tensor::pooled_zeros(shape_of(self.shape()));
        let out = result.as_mut_slice();
        if worth_parallel(src.len()) {
            out.par_chunks_mut(CHUNK)
                .zip(src.par_chunks(CHUNK))
                .for_each(|(o, s)| map_into(o, s, f));
        } else {
            map_into(out, src, f);
        }
        result
    }

    /// Applies `f` to every element in place (copying first if shared).
    pub fn map_inplace(&mut self, f: impl Fn(T) -> T + Sync) {
        let data = self.as_mut_slice();
        if worth_parallel(data.len()) {
            data.par_chunks_mut(CHUNK)
                .for_each(|c| c.iter_mut().for_each(|x| *x = f(*x)));
        } else {
            data.iter_mut().for_each(|x| *x = f(*x));
        }
    }

    /// `f(a, b)` elementwise over the broadcast of both shapes.
    ///
    /// # Panics
    /// If the shapes do not broadcast; the message names `op`.
    #[inline]
    pub fn zip_map(
        &self,
        other: &Tensor<T>,
        op: &str,
        f: impl Fn(T, T) -> T + Sync + Copy,
    ) -> Tensor<T> {
        if let ([x], [y]) = (self.as_slice(), other.as_slice())
            && same_dims(self.shape(), other.shape())
        {
            // One element each, same shape (a scalar chain): the result holds
            // it inline, with no broadcast analysis; inlined into the caller.
            return Tensor::one_element(self.shape(), f(*x, *y));
        }
        self.zip_map_buffer(other, op, f)
    }

    /// [`zip_map`](Tensor::zip_map) into a buffer, broadcasting (kept out
    /// of line).
    fn zip_map_buffer(
        &self,
        other: &Tensor<T>,
        op: &str,
        f: impl Fn(T, T) -> T + Sync + Copy,
    ) -> Tensor<T> {
        let (a, b) = (self.as_slice(), other.as_slice());
        let out_shape = broadcast_shapes(op, self.shape(), other.shape());
        let n = super::shape::numel(&out_shape);
        let mut result = Tensor::pooled_zeros(out_shape.clone());
        let out = result.as_mut_slice();
        if self.shape() == other.shape() {
            if worth_parallel(n) {
                out.par_chunks_mut(CHUNK)
                    .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                    .for_each(|(o, (a, b))| zip_into(o, a, b, f));
            } else {
                zip_into(out, a, b, f);
            }
        } else if b.len() == 1 && out_shape.as_slice() == self.shape() {
            let y = b[0];
            out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x, y));
        } else if a.len() == 1 && out_shape.as_slice() == other.shape() {
            let x = a[0];
            out.iter_mut().zip(b).for_each(|(o, &y)| *o = f(x, y));
        } else {
            let sa = broadcast_strides(self.shape(), &out_shape);
            let sb = broadcast_strides(other.shape(), &out_shape);
            let mut o = 0;
            for_each_row(&out_shape, &sa, &sb, |r| {
                for j in 0..r.len {
                    out[o + j] = f(a[r.a + j * r.sa], b[r.b + j * r.sb]);
                }
                o += r.len;
            });
        }
        result
    }

    /// Adds `other` (same shape) into `self` in place: gradient accumulation.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn add_assign(&mut self, other: &Tensor<T>) {
        super::shape::assert_same_shape("add_assign", self.shape(), other.shape());
        let src = other.as_slice();
        let dst = self.as_mut_slice();
        if worth_parallel(dst.len()) {
            dst.par_chunks_mut(CHUNK)
                .zip(src.par_chunks(CHUNK))
                .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, &s)| *d += s));
        } else {
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
        }
    }

    /// Every element multiplied by `s`.
    pub fn scale(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $name:literal, $op:tt) => {
        impl<T: Float> $trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                self.zip_map(rhs, $name, |a, b| a $op b)
            }
        }
        impl<T: Float> $trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            #[inline]
            fn $method(self, rhs: T) -> Tensor<T> {
                self.map(|a| a $op rhs)
            }
        }
    };
}
binary_operator!(Add, add, "add", +);
binary_operator!(Sub, sub, "sub", -);
binary_operator!(Mul, mul, "mul", *);
binary_operator!(Div, div, "div", /);

impl<T: Float> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|a| -a)
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn broadcast_add_matches_hand_computation() {
        let a = Tensor::<f64>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3]).unwrap();
        let b = Tensor::<f64>::from_vec(vec![10., 20.], &[2, 1]).unwrap();
        assert_eq!((&a + &b).to_vec(), vec![11., 12., 13., 24., 25., 26.]);
        let c = Tensor::<f64>::from_vec(vec![1., 0., -1.], &[3]).unwrap();
        assert_eq!((&a * &c).to_vec(), vec![1., 0., -3., 4., 0., -6.]);
        let s = Tensor::<f64>::scalar(2.0);
        assert_eq!((&s - &c).shape(), &[3]);
        assert_eq!((&s - &c).to_vec(), vec![1., 2., 3.]);
    }
}
