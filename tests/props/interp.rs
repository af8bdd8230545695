//! The interpreter: runs a program on its leaves, with the helpers that fit operands to the shapes an op needs.

use super::*;

/// What a run saw: the largest magnitude of any value it made (infinite
/// for a NaN or infinity) and the kinds of its steps.
#[derive(Default)]
pub(crate) struct Trace {
    pub(crate) max_abs: f64,
    pub(crate) kinds: Vec<Kind>,
}

/// Runs a program on its leaves.
pub(crate) fn run<V: Value>(prog: &Program, leaves: &[V], t: &mut Trace) -> V {
    let mut vals: Vec<V> = leaves.to_vec();
    for s in &prog.steps {
        let pick = |i: usize| vals[s.args[i] as usize % vals.len()];
        let (a, b, c) = (pick(0), pick(1), pick(2));
        t.kinds.push(s.kind);
        let out = step_value(t, s, a, b, c);
        vals.push(out);
    }
    // A fresh node, never a leaf (dropout with p = 0 returns its input):
    // `Grads` has no entry for the vars recorded after the root of a
    // backward pass, so `grads.wrt` would panic for those (see
    // `backward_from_an_early_leaf_gives_later_leaves_zero_gradients`).
    let out = *vals.last().expect("a program has a leaf");
    ap(t, Prim::Unary(Kind::MulScalar, 1.0), &[out])
}

/// Applies a concrete op, noting the size of its result.
pub(crate) fn ap<V: Value>(t: &mut Trace, prim: Prim, args: &[V]) -> V {
    let out = V::apply(&prim, args);
    for v in out.values() {
        t.max_abs = t.max_abs.max(if v.is_finite() {
            v.abs()
        } else {
            f64::INFINITY
        });
    }
    out
}

pub(crate) fn numel(d: &[usize]) -> usize {
    d.iter().product()
}

/// `1..=3` from a parameter.
pub(crate) fn size(p: u8) -> usize {
    1 + p as usize % 3
}

/// A scalar argument in `[-2, 2)`.
pub(crate) fn scalar(p: u8) -> f64 {
    (p as f64 - 128.0) / 64.0
}

/// Axis `p / 2 mod nd`, written negatively when `p` is odd.
pub(crate) fn axis(p: u8, nd: usize) -> isize {
    let a = (p as usize / 2) % nd;
    if p & 1 == 1 {
        a as isize - nd as isize
    } else {
        a as isize
    }
}

/// `v` brought to `dims`: flattened, repeated (concat) if too short,
/// cut (narrow) if too long, and reshaped.
pub(crate) fn fit<V: Value>(t: &mut Trace, v: V, dims: &[usize]) -> V {
    let have = v.dims();
    if have == dims {
        return v;
    }
    let (n, m) = (numel(&have), numel(dims));
    if n == m {
        return ap(t, Prim::Reshape(dims.to_vec()), &[v]);
    }
    let mut flat = if have.len() == 1 {
        v
    } else {
        ap(t, Prim::Reshape(vec![n]), &[v])
    };
    let mut len = n;
    if n < m {
        let reps = m.div_ceil(n);
        flat = ap(t, Prim::Concat(0), &vec![flat; reps]);
        len = n * reps;
    }
    if len > m {
        flat = ap(t, Prim::Narrow(0, 0, m), &[flat]);
    }
    if dims.len() == 1 {
        flat
    } else {
        ap(t, Prim::Reshape(dims.to_vec()), &[flat])
    }
}

/// `x^2 + 0.5`: a positive input for ops with a restricted domain.
pub(crate) fn pos<V: Value>(t: &mut Trace, v: V) -> V {
    let sq = ap(t, Prim::Unary(Kind::Square, 0.0), &[v]);
    ap(t, Prim::Unary(Kind::AddScalar, 0.5), &[sq])
}

pub(crate) fn at_least_1d<V: Value>(t: &mut Trace, v: V) -> V {
    if v.dims().is_empty() {
        ap(t, Prim::Unsqueeze(0), &[v])
    } else {
        v
    }
}

pub(crate) fn reduction(p: u8) -> Reduction {
    [Reduction::Mean, Reduction::Sum, Reduction::None][p as usize % 3]
}

/// Operands of a binary op, broadcasting both ways: per axis of `a`, 2 bits
/// of `p[1..3]` make `b`'s size 1, `a`'s size 1, or neither; `p[3]` drops
/// leading axes of `b`, and an odd `p[0]` gives `b` an extra leading axis.
pub(crate) fn broadcast_pair<V: Value>(t: &mut Trace, a: V, b: V, p: [u8; 4]) -> (V, V) {
    let d = a.dims();
    let bits = p[1] as u32 | (p[2] as u32) << 8;
    let (mut da, mut db) = (d.clone(), d.clone());
    for i in 0..d.len().min(8) {
        match (bits >> (2 * i)) & 3 {
            1 => db[i] = 1,
            2 => da[i] = 1,
            _ => {}
        }
    }
    let drop = p[3] as usize % (d.len() + 1);
    let mut db = db[drop..].to_vec();
    if drop == 0 && p[0] & 1 == 1 {
        db.insert(0, 2);
    }
    (fit(t, a, &da), fit(t, b, &db))
}

/// A shape of `n` elements over `p[0] % 4` axes (at least one if `n > 1`).
pub(crate) fn refactor(n: usize, p: [u8; 4]) -> Vec<usize> {
    let mut nd = p[0] as usize % 4;
    if nd == 0 && n > 1 {
        nd = 1;
    }
    let mut dims = vec![1; nd];
    let (mut rest, mut f, mut i) = (n, 2, 0);
    while rest > 1 {
        if rest % f == 0 {
            dims[(p[1] as usize + i * (1 + p[2] as usize)) % nd] *= f;
            rest /= f;
            i += 1;
        } else {
            f += 1;
        }
    }
    dims
}

/// The permutation of `0..n` with Lehmer code `code` (mod n!).
pub(crate) fn lehmer(mut code: usize, n: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    let mut perm = Vec::with_capacity(n);
    for k in (1..=n).rev() {
        perm.push(pool.remove(code % k));
        code /= k;
    }
    perm
}

/// Class-loss targets: `n` indices below `c`.
pub(crate) fn targets(n: usize, c: usize, p: u8, q: u8) -> Vec<usize> {
    (0..n)
        .map(|i| (p as usize + i * (q as usize | 1)) % c)
        .collect()
}
