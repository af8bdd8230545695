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

use super::{Float, Shape, Tensor};
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

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            free: HashMap::default(),
            elements: 0,
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
    static POOLS: RefCell<(Pool<f32>, Pool<f64>)> = RefCell::new(Default::default());
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
    let reused = with_pool::<T, _>(|p| {
        let list = p.free.get_mut(&len)?;
        let buf = list.pop()?;
        p.elements -= len;
        Some(buf)
    })
    .flatten();
    match reused {
        Some(mut buf) => {
            let v = Arc::get_mut(&mut buf).expect("pooled buffers are unshared");
            v.clear();
            v.resize(len, T::ZERO);
            buf
        }
        None => Arc::new(vec![T::ZERO; len]),
    }
}

/// Hands a tensor's storage back to the pool if nothing else shares it;
/// otherwise just drops this reference.
pub(crate) fn recycle<T: Float>(t: Tensor<T>) {
    recycle_storage(t.data);
}

fn recycle_storage<T: Float>(mut data: Arc<Vec<T>>) {
    let Some(v) = Arc::get_mut(&mut data) else {
        return;
    };
    let len = v.capacity();
    if len == 0 {
        return;
    }
    // Keyed by capacity, which `zeroed` fills exactly.
    v.truncate(0);
    let limit = POOL_LIMIT_BYTES / std::mem::size_of::<T>();
    with_pool::<T, _>(|p| {
        if p.elements + len <= limit {
            p.elements += len;
            p.free.entry(len).or_default().push(data);
        }
    });
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
            *pools = Default::default();
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
    /// A zero-filled tensor whose storage comes from the pool.
    pub(crate) fn pooled_zeros(shape: Shape) -> Tensor<T> {
        let data = zeroed(super::shape::numel(&shape));
        Tensor { shape, data }
    }
}
