//! Walking an index space with two strided operands, one row at a time.
//!
//! Broadcasting binary kernels and axis reductions are the same loop: visit
//! every index of a shape, where each of two operands maps an index to an
//! offset through its own strides (a stride of 0 repeats an element, which is
//! how broadcasting and "reduce into one slot" are both expressed). The loop
//! hands out whole rows along the last axis so that the inner loop is a plain
//! slice walk that the compiler can vectorise, and it first merges adjacent
//! axes that are laid out contiguously for both operands, so `[64, 128]`
//! against `[64, 128]` is one row of 8192, not 64 rows of 128.

use super::shape::Shape;

/// One row: the base offset of each operand, the row length and each
/// operand's stride along the row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub a: usize,
    pub b: usize,
    pub len: usize,
    pub sa: usize,
    pub sb: usize,
}

/// Strides of a tensor of shape `src` broadcast to `out` (right-aligned):
/// size-1 and missing axes get stride 0.
pub(crate) fn broadcast_strides(src: &[usize], out: &[usize]) -> Shape {
    let own = super::shape::strides(src);
    let lead = out.len() - src.len();
    (0..out.len())
        .map(|i| {
            if i < lead || src[i - lead] == 1 {
                0
            } else {
                own[i - lead]
            }
        })
        .collect()
}

/// Calls `f` for every row of the index space `dims`, with operand strides
/// `sa` and `sb` (one entry per axis of `dims`). Rows come in row-major order.
pub(crate) fn for_each_row(dims: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(Row)) {
    // Merge axis i into axis i+1 whenever both operands step through them as
    // one contiguous run; drop size-1 axes entirely.
    let mut d: Shape = Shape::new();
    let mut a: Shape = Shape::new();
    let mut b: Shape = Shape::new();
    for i in 0..dims.len() {
        if dims[i] == 1 {
            continue;
        }
        if let (Some(&ld), Some(&la), Some(&lb)) = (d.last(), a.last(), b.last())
            && la == sa[i] * dims[i]
            && lb == sb[i] * dims[i]
        {
            let n = d.len();
            d[n - 1] = ld * dims[i];
            a[n - 1] = sa[i];
            b[n - 1] = sb[i];
            continue;
        }
        d.push(dims[i]);
        a.push(sa[i]);
        b.push(sb[i]);
    }
    if dims.contains(&0) {
        return;
    }
    let Some(&len) = d.last() else {
        f(Row {
            a: 0,
            b: 0,
            len: 1,
            sa: 0,
            sb: 0,
        });
        return;
    };
    let nd = d.len();
    let (ra, rb) = (a[nd - 1], b[nd - 1]);
    let outer = nd - 1;
    let mut idx: Shape = smallvec::smallvec![0; outer];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        f(Row {
            a: oa,
            b: ob,
            len,
            sa: ra,
            sb: rb,
        });
        // Advance the odometer over the outer axes.
        let mut ax = outer;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            oa += a[ax];
            ob += b[ax];
            if idx[ax] < d[ax] {
                break;
            }
            oa -= a[ax] * d[ax];
            ob -= b[ax] * d[ax];
            idx[ax] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_axes_merge_into_one_row() {
        let mut rows = vec![];
        for_each_row(&[4, 8], &[8, 1], &[8, 1], |r| rows.push(r.len));
        assert_eq!(rows, vec![32]);
    }

    #[test]
    fn broadcast_rows_repeat_the_small_operand() {
        // [2, 3] against [3] broadcast: the second operand restarts each row.
        let sb = broadcast_strides(&[3], &[2, 3]);
        let mut rows = vec![];
        for_each_row(&[2, 3], &[3, 1], &sb, |r| {
            rows.push((r.a, r.b, r.len, r.sb))
        });
        assert_eq!(rows, vec![(0, 0, 3, 1), (3, 0, 3, 1)]);
    }
}
