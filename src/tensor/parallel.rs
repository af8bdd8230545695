//! Splitting a kernel's output into independent chunks, run on rayon when
//! the work is large and on the calling thread otherwise.
//!
//! Kernels whose output falls into equal, independent pieces (one sample of a
//! convolution, one row of a softmax, one plane of a pooling) write them
//! through [`for_each_chunk`], so the choice between threads and a plain loop
//! is made in one place and each piece gets a reusable scratch buffer.

use rayon::prelude::*;

/// Calls `f(scratch, i, chunk)` for every `chunk`-long piece of `out` (the
/// `i`-th), in parallel when `parallel` is set. `init` makes one scratch
/// value per worker, reused across the pieces that worker handles.
///
/// Does nothing if `out` or `chunk` is empty.
pub(crate) fn for_each_chunk<T, S>(
    out: &mut [T],
    chunk: usize,
    parallel: bool,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync + Send,
) where
    T: Send,
{
    if out.is_empty() || chunk == 0 {
        return;
    }
    if parallel {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each_init(&init, |s, (i, c)| f(s, i, c));
    } else {
        let mut s = init();
        for (i, c) in out.chunks_mut(chunk).enumerate() {
            f(&mut s, i, c);
        }
    }
}

/// `f(i)` for `i` in `0..n`, collected in order; in parallel when `parallel`
/// is set. The result does not depend on the thread count.
pub(crate) fn map_indices<R: Send>(
    n: usize,
    parallel: bool,
    f: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    if parallel {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}
