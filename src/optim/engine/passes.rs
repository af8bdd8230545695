//! The passes of a step over the elements: the work cut into fixed
//! pieces, the optional reduction pass (whose per-piece sums are added in
//! piece order) and the update pass, each spread over rayon when there is
//! enough work and run through `pulp`'s dispatch.
//!
//! The pieces depend on the parameters' sizes and [`CHUNK`] only, never on
//! the number of threads, and each piece's sums start from zero and run over
//! its elements in order: the totals, like the updates, are the same bits at
//! any thread count.

use super::{CHUNK, Job, MAX_SUMS, Rule, Slots, Sums};
use crate::tensor::{Float, worth_parallel};
use rayon::prelude::*;
use smallvec::SmallVec;

/// Parameters' pieces a step lists without a heap allocation.
const INLINE_PIECES: usize = 64;

/// One chunk of a step: the parameter's coefficients, its values, its
/// gradient and its state slots.
type Piece<'c, 'a, T, C> = (&'c C, &'a mut [T], &'a [T], Slots<'a, T>);

/// Runs a step's passes over every job: with [`Rule::REDUCES`], the
/// reduction pass, then [`Rule::reduced`] with the totals, then (unless it
/// says to skip) the update pass; without, the update pass alone.
pub(super) fn run<T: Float, R: Rule<T>>(rule: &mut R, jobs: &mut [Job<'_, T, R::Coeffs>]) {
    let total: usize = jobs.iter().map(|j| j.p.len()).sum();
    let mut pieces: SmallVec<[Piece<'_, '_, T, R::Coeffs>; INLINE_PIECES]> =
        SmallVec::with_capacity(total / CHUNK + jobs.len());
    for job in jobs.iter_mut() {
        let coeffs = &job.coeffs;
        let mut p = &mut *job.p;
        let mut g = job.g;
        let mut s: Slots<'_, T> = job.memory.slots.each_mut().map(|v| v.as_mut_slice());
        while !p.is_empty() {
            let n = CHUNK.min(p.len());
            let (p_head, p_tail) = std::mem::take(&mut p).split_at_mut(n);
            let (g_head, g_tail) = g.split_at(n);
            let s_head = s.each_mut().map(|slot| {
                if slot.is_empty() {
                    &mut [][..]
                } else {
                    let (head, tail) = std::mem::take(slot).split_at_mut(n);
                    *slot = tail;
                    head
                }
            });
            pieces.push((coeffs, p_head, g_head, s_head));
            (p, g) = (p_tail, g_tail);
        }
    }
    let parallel = worth_parallel(total) && pieces.len() > 1;
    if R::REDUCES {
        let sums = reduce(&*rule, &mut pieces, parallel);
        if !rule.reduced(&sums) {
            return;
        }
    }
    let rule = &*rule;
    if parallel {
        pieces.par_iter_mut().for_each(|piece| {
            pulp::Arch::new().dispatch(Update {
                rule,
                pieces: std::slice::from_mut(piece),
            })
        });
    } else {
        pulp::Arch::new().dispatch(Update {
            rule,
            pieces: &mut pieces,
        });
    }
}

/// The reduction pass: each piece's sums (from zero, over its elements in
/// order), then their total, added in piece order.
fn reduce<T: Float, R: Rule<T>>(
    rule: &R,
    pieces: &mut [Piece<'_, '_, T, R::Coeffs>],
    parallel: bool,
) -> Sums {
    let per_piece: Vec<Sums> = if parallel {
        pieces
            .par_iter_mut()
            .map(|piece| {
                pulp::Arch::new().dispatch(Reduction {
                    rule,
                    pieces: std::slice::from_mut(piece),
                })[0]
            })
            .collect()
    } else {
        pulp::Arch::new().dispatch(Reduction { rule, pieces })
    };
    let mut total = [0.0; MAX_SUMS];
    for sums in &per_piece {
        for (t, s) in total.iter_mut().zip(sums) {
            *t += s;
        }
    }
    total
}

/// Pieces to update with `rule`, as one unit of work for `pulp`, which runs
/// it inside a function compiled for AVX2 + FMA when the CPU has them (8
/// floats a step instead of baseline SSE2's 4) and as plain code otherwise.
///
/// This is [`vectorize`](crate::tensor::simd::vectorize) written as a
/// `WithSimd` type rather than a closure: the wide code is only generated if
/// the rule's loop is inlined into pulp's function, and LLVM declines to
/// inline a closure holding a loop this large, while `with_simd` and every
/// rule's `apply` are `#[inline(always)]`.
struct Update<'r, 's, 'c, 'a, T: Float, R: Rule<T>> {
    rule: &'r R,
    pieces: &'s mut [Piece<'c, 'a, T, R::Coeffs>],
}

impl<T: Float, R: Rule<T>> pulp::WithSimd for Update<'_, '_, '_, '_, T, R> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (c, p, g, s) in self.pieces.iter_mut() {
            self.rule.apply(c, p, g, s.each_mut().map(|s| &mut **s));
        }
    }
}

/// Pieces to reduce with `rule`, as one unit of work for `pulp` (as
/// [`Update`]); the output has one entry of sums per piece.
struct Reduction<'r, 's, 'c, 'a, T: Float, R: Rule<T>> {
    rule: &'r R,
    pieces: &'s mut [Piece<'c, 'a, T, R::Coeffs>],
}

impl<T: Float, R: Rule<T>> pulp::WithSimd for Reduction<'_, '_, '_, '_, T, R> {
    type Output = Vec<Sums>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Vec<Sums> {
        self.pieces
            .iter_mut()
            .map(|(c, p, g, s)| {
                let mut sums = [0.0; MAX_SUMS];
                self.rule
                    .reduce(c, p, g, s.each_mut().map(|s| &mut **s), &mut sums);
                sums
            })
            .collect()
    }
}
