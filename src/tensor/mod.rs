//! N-d arrays without autodiff: [`Tensor`], [`Shape`], and the kernels.
//!
//! What lives where:
//! - `mod.rs`: the [`Tensor`] type and element access;
//! - `create.rs`: constructors and the [`tensor!`](crate::tensor!) macro;
//! - `elementwise.rs`: maps and broadcasting binary kernels;
//! - `reduce.rs`: sums, maxima and other reductions over axes;
//! - `linalg.rs`: matrix multiply (a GEMM kernel crate does the work);
//! - `conv.rs`, `softmax.rs`, `norm.rs`: neural-net kernels (convolution and
//!   pooling, softmax and cross-entropy, normalisation), with `parallel.rs`
//!   splitting their work over threads;
//! - `layout.rs`: data movement (permute, slice, concat, pad, broadcast_to);
//! - `gather.rs`: indexing by integer lists (index_select, gather, scatter-add);
//! - `shape.rs`: shapes, broadcasting rules and the wording of shape errors;
//! - `display.rs`: NumPy-style printing.
//!
//! Kernels are plain functions over slices. Large ones split their work over
//! rayon; small ones stay on the calling thread, because a tiny op must cost
//! nanoseconds, not a thread hand-off.

mod buffer_pool;
pub(crate) mod conv;
mod create;
mod display;
mod elementwise;
pub(crate) mod fastmath;
mod float;
mod gather;
mod geom;
pub(crate) mod heads;
pub(crate) mod layout;
mod linalg;
pub(crate) mod norm;
mod parallel;
mod pooling;
mod reduce;
pub mod shape;
pub(crate) mod simd;
pub(crate) mod softmax;
mod strided;

pub use buffer_pool::{POOL_LIMIT_BYTES, pooled_bytes, release_pool};
pub(crate) use buffer_pool::{recycle, recycle_all};
pub use float::Float;
pub(crate) use linalg::worth_parallel_gemm;
pub use linalg::{MatLayout, gemm_into};
pub(crate) use reduce::{keepdim_shape, reduced_count};
pub use shape::Shape;

use std::sync::Arc;

/// Element count above which kernels split their work across rayon threads.
///
/// Below it, the cost of waking a second thread is larger than the work.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Whether a kernel over `n` elements should split its work over rayon:
/// `n` is at least [`PARALLEL_THRESHOLD`] and the pool has a second thread.
/// With one thread (`RAYON_NUM_THREADS=1`) the loop stays on the calling
/// thread instead of being handed to the pool's only worker.
#[inline]
pub(crate) fn worth_parallel(n: usize) -> bool {
    n >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1
}

/// A contiguous, row-major n-d array of `f32` (the default) or `f64`.
///
/// Storage is shared behind an [`Arc`], so cloning a tensor, reshaping it or
/// binding it to a tape copies no data; writing through
/// [`as_mut_slice`](Tensor::as_mut_slice) copies only if the storage is
/// shared (copy on write).
///
/// A one-element tensor made by a kernel (the result of an op on scalars)
/// holds its element inline instead: copying it is as cheap as sharing,
/// and it needs no buffer, so a chain of scalar ops costs no pool lookups
/// and no reference counting. Such a tensor shares storage with nothing
/// (see [`shares_storage`](Tensor::shares_storage)).
///
/// ```
/// use tapegrad::Tensor;
/// let t = Tensor::<f32>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3]).unwrap();
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.get(&[1, 0]), 4.0);
/// ```
pub struct Tensor<T: Float = f32> {
    shape: Shape,
    data: Storage<T>,
}

/// Where a tensor's elements live.
#[derive(Clone)]
enum Storage<T> {
    /// The single element of a kernel's one-element result, inline.
    One(T),
    /// A buffer shared by clones and reshapes, copied on write.
    Shared(Arc<Vec<T>>),
}

impl<T: Float> Clone for Tensor<T> {
    /// Shares the storage. The shape is copied with [`shape::shape_of`],
    /// cheaper than `SmallVec`'s generic `clone`.
    #[inline]
    fn clone(&self) -> Self {
        Tensor {
            shape: shape::shape_of(&self.shape),
            data: self.data.clone(),
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Wraps a buffer whose length the caller has already checked.
    pub(crate) fn from_parts(shape: Shape, data: Vec<T>) -> Self {
        debug_assert_eq!(
            shape::numel(&shape),
            data.len(),
            "tapegrad bug: buffer length does not match shape {shape:?}"
        );
        Tensor {
            shape,
            data: Storage::Shared(Arc::new(data)),
        }
    }

    /// A one-element tensor of shape `dims` holding `x` inline: what a
    /// kernel returns for one-element inputs (no buffer, no pool lookup).
    #[inline]
    pub(crate) fn one_element(dims: &[usize], x: T) -> Self {
        debug_assert_eq!(shape::numel(dims), 1, "tapegrad bug: {dims:?}");
        Tensor {
            shape: shape::shape_of(dims),
            data: Storage::One(x),
        }
    }

    /// Whether the elements live in a buffer (which the pool could reuse)
    /// rather than inline.
    #[inline]
    pub(crate) fn has_buffer(&self) -> bool {
        matches!(self.data, Storage::Shared(_))
    }

    /// Moves the value out, leaving a 0-d zero in its place.
    #[inline]
    pub(crate) fn take(&mut self) -> Self {
        std::mem::replace(self, Tensor::one_element(&[], T::ZERO))
    }

    /// The size along each axis.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of axes (0 for a scalar).
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    #[inline]
    pub fn numel(&self) -> usize {
        self.as_slice().len()
    }

    /// The elements in row-major order.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match &self.data {
            Storage::One(x) => std::slice::from_ref(x),
            Storage::Shared(buf) => buf,
        }
    }

    /// The elements, mutably. Copies the storage first if another tensor
    /// (a clone, or a tape holding this value) shares it.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.data {
            Storage::One(x) => std::slice::from_mut(x),
            Storage::Shared(buf) => Arc::make_mut(buf).as_mut_slice(),
        }
    }

    /// The elements as a new `Vec`.
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().to_vec()
    }

    /// Takes the buffer out, without copying when nothing else shares it.
    pub fn into_vec(self) -> Vec<T> {
        match self.data {
            Storage::One(x) => vec![x],
            Storage::Shared(buf) => Arc::try_unwrap(buf).unwrap_or_else(|shared| shared.to_vec()),
        }
    }

    /// Whether two tensors share one buffer (a clone or a reshape of each
    /// other). Always `false` for a kernel's one-element result, which
    /// holds its element inline (see [`Tensor`]).
    pub fn shares_storage(&self, other: &Tensor<T>) -> bool {
        match (&self.data, &other.data) {
            (Storage::Shared(a), Storage::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The single element of a one-element tensor (any shape of size 1).
    ///
    /// # Panics
    /// If the tensor holds more or fewer than one element.
    pub fn item(&self) -> T {
        assert!(
            self.numel() == 1,
            "item: tensor of shape {:?} holds {} elements, not 1",
            self.shape(),
            self.numel()
        );
        self.as_slice()[0]
    }

    /// The element at a full index (one entry per axis).
    ///
    /// # Panics
    /// If the index has the wrong length or is out of range.
    pub fn get(&self, index: &[usize]) -> T {
        self.as_slice()[self.offset_of(index)]
    }

    /// Sets the element at a full index.
    ///
    /// # Panics
    /// If the index has the wrong length or is out of range.
    pub fn set(&mut self, index: &[usize], value: T) {
        let o = self.offset_of(index);
        self.as_mut_slice()[o] = value;
    }

    fn offset_of(&self, index: &[usize]) -> usize {
        assert!(
            index.len() == self.ndim() && index.iter().zip(self.shape()).all(|(&i, &d)| i < d),
            "get: index {index:?} is out of range for shape {:?}",
            self.shape()
        );
        index
            .iter()
            .zip(shape::strides(&self.shape))
            .map(|(i, s)| i * s)
            .sum()
    }

    /// The same elements under another shape with as many elements; shares
    /// the storage.
    ///
    /// # Panics
    /// If the element counts differ (or that of `dims` overflows `usize`).
    pub fn reshape(&self, dims: &[usize]) -> Tensor<T> {
        let n = shape::numel_or_panic("reshape", dims);
        assert!(
            n == self.numel(),
            "reshape: cannot view {:?} ({} elements) as {dims:?} ({n} elements)",
            self.shape(),
            self.numel(),
        );
        Tensor {
            shape: shape::shape_of(dims),
            data: self.data.clone(),
        }
    }

    /// Converts every element to another float type.
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor::from_parts(
            self.shape.clone(),
            self.as_slice()
                .iter()
                .map(|x| U::from_f64(x.to_f64()))
                .collect(),
        )
    }

    /// Whether every element is finite (no NaN, no infinity).
    pub fn all_finite(&self) -> bool {
        self.as_slice().iter().all(|x| x.is_finite())
    }
}

impl<T: Float> PartialEq for Tensor<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.as_slice() == other.as_slice()
    }
}
