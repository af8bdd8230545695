//! A per-thread pool of tensor buffers, so that a training loop's steady
//! state allocates nothing.
//!
//! A training step makes the same tensors every time. The tape hands back
//! the storage it no longer needs (on [`Tape::reset`](crate::Tape::reset),
//! as the backward sweep consumes gradients, and when [`Grads`](crate::Grads)
//! are dropped), and kernels draw their outputs from it. A buffer goes into
//! the pool only when nothing else shares it; it comes out for a request of
//! exactly its length, whole: the vector and its reference-counted box, so
//! a reused buffer costs no allocation at all.
//!
//! The pool is per thread, holds at most [`POOL_LIMIT_BYTES`] per element
//! type, and [`release_pool`] empties it.

use super::{Float, Shape, Storage, Tensor};
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The most each thread's pool holds, per element type: 512 MiB. A buffer
/// handed back when the pool is full is freed.
pub const POOL_LIMIT_BYTES: usize = 512 << 20;

/// Buffers by length.
struct Pool<T> {
    free: HashMap<usize, Vec<Arc<Vec<T>>>, BuildHasherDefault<LenHasher>>,
    elements: usize,
}

impl<T> Pool<T> {
    /// An empty pool (`const`, so the thread-local needs no lazy set-up).
    const fn new() -> Self {
        Pool {
            free: HashMap::with_hasher(BuildHasherDefault::new()),
            elements: 0,
        }
    }

    /// Takes a buffer of capacity `len` (emptied), if the pool holds one.
    fn take(&mut self, len: usize) -> Option<Arc<Vec<T>>> {
        let buf = self.free.get_mut(&len)?.pop()?;
        self.elements -= len;
        Some(buf)
    }

    /// Keeps an emptied, unshared buffer unless the pool is full. Keyed by
    /// capacity, which `zeroed` fills exactly.
    fn keep(&mut self, buf: Arc<Vec<T>>) {
        let len = buf.capacity();
        if self.elements + len <= POOL_LIMIT_BYTES / std::mem::size_of::<T>() {
            self.elements += len;
            self.free.entry(len).or_default().push(buf);
        }
    }
}

/// Hashes a length with one multiplication: the pool is looked up once per
/// op, and its keys are small integers that need no protection from
/// collisions chosen by an attacker.
#[derive(Default)]
struct LenHasher(u64);

impl Hasher for LenHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

thread_local! {
    static POOLS: RefCell<(Pool<f32>, Pool<f64>)> = const { RefCell::new((Pool::new(), Pool::new())) };
}

/// Runs `f` on this thread's pool for `T`; `None` while the thread is
/// shutting down (or re-entered), when callers fall back to the allocator.
fn with_pool<T: Float, R>(f: impl FnOnce(&mut Pool<T>) -> R) -> Option<R> {
    POOLS
        .try_with(|pools| {
            let mut pools = pools.try_borrow_mut().ok()?;
            let (a, b) = &mut *pools;
            if let Some(p) = (a as &mut dyn Any).downcast_mut::<Pool<T>>() {
                Some(f(p))
            } else {
                (b as &mut dyn Any).downcast_mut::<Pool<T>>().map(f)
            }
        })
        .ok()
        .flatten()
}

/// A zero-filled buffer of `len` elements, from the pool if it holds one.
pub(crate) fn zeroed<T: Float>(len: usize) -> Arc<Vec<T>> {
    let reused = with_pool::<T, _>(|p| p.take(len)).flatten();
    match reused {
        Some(mut buf) => {
            let v = Arc::get_mut(&mut buf).expect("pooled buffers are unshared");
            // Pooled buffers are empty (see `recycle_storage`).
            v.resize(len, T::ZERO);
            buf
        }
        None => Arc::new(vec![T::ZERO; len]),
    }
}

/// Hands a tensor's storage back to the pool if nothing else shares it;
/// otherwise just drops this reference.
#[inline]
pub(crate) fn recycle<T: Float>(t: Tensor<T>) {
    if let Some(buf) = emptied(t) {
        with_pool::<T, _>(|p| p.keep(buf));
    }
}

/// [`recycle`] for many tensors, looking the pool up once (a tape reset
/// hands back every node's value).
pub(crate) fn recycle_all<T: Float>(tensors: impl IntoIterator<Item = Tensor<T>>) {
    with_pool::<T, _>(|p| {
        for t in tensors {
            if let Some(buf) = emptied(t) {
                p.keep(buf);
            }
        }
    });
}

/// The tensor's buffer, emptied, if it has one that nothing else shares.
/// Buffers of fewer than two elements are not kept: one-element kernel
/// results hold their element inline, so nothing would ask for them.
fn emptied<T: Float>(t: Tensor<T>) -> Option<Arc<Vec<T>>> {
    let Storage::Shared(mut data) = t.data else {
        return None;
    };
    let v = Arc::get_mut(&mut data)?;
    if v.capacity() < 2 {
        return None;
    }
    v.clear();
    Some(data)
}

/// Frees every buffer this thread's pools hold (for both `f32` and `f64`).
///
/// Training loops need not call it: the pool holds at most what one step
/// made. Call it to give the memory back once training is over.
///
/// ```
/// tapegrad::tensor::release_pool();
/// assert_eq!(tapegrad::tensor::pooled_bytes(), 0);
/// ```
pub fn release_pool() {
    let _ = POOLS.try_with(|pools| {
        if let Ok(mut pools) = pools.try_borrow_mut() {
            *pools = (Pool::new(), Pool::new());
        }
    });
}

/// Bytes this thread's pools hold, for both element types.
pub fn pooled_bytes() -> usize {
    POOLS
        .try_with(|pools| {
            pools.try_borrow().map_or(0, |p| {
                p.0.elements * std::mem::size_of::<f32>()
                    + p.1.elements * std::mem::size_of::<f64>()
            })
        })
        .unwrap_or(0)
}

impl<T: Float> Tensor<T> {
    /// A zero-filled tensor whose storage comes from the pool; a
    /// one-element tensor needs none and holds its element inline.
    pub(crate) fn pooled_zeros(shape: Shape) -> Tensor<T> {
        let data = match super::shape::numel(&shape) {
            1 => Storage::One(T::ZERO),
            n => Storage::Shared(zeroed(n)),
        };
        Tensor { shape, data }
    }
}
