//! The geometry of 2-d sliding-window ops (convolution and pooling):
//! every size resolved and checked once, and the index arithmetic that
//! im2col, col2im and the pooling kernels share.

use std::ops::Range;

/// Every size of one sliding-window op, resolved and checked.
///
/// Pooling is described as a depthwise op: `groups == c_out == c_in`, each
/// channel seeing only itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub groups: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
}

/// Output length of a window of `k` taps, `d` apart, sliding by `s` over
/// `n + 2p` positions; `None` if the window does not fit.
fn out_len(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k.checked_sub(1)?) + 1;
    let padded = n + 2 * p;
    (padded >= span).then(|| (padded - span) / s + 1)
}

impl Geom {
    /// The geometry of `conv2d(input, weight)`.
    ///
    /// # Panics
    /// If the input is not 4-d, the weight is not 4-d, the channels do not
    /// match `weight[1] * groups`, the output channels do not split into
    /// `groups`, a stride, dilation or the group count is 0, or the dilated
    /// kernel is larger than the padded input.
    pub(crate) fn conv2d(
        x: &[usize],
        weight: &[usize],
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
    ) -> Geom {
        assert!(
            x.len() == 4 && weight.len() == 4,
            "conv2d: input must be [N, C_in, H, W] and weight [C_out, C_in / groups, kH, kW]: \
             input {x:?}, weight {weight:?}"
        );
        assert!(
            stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0 && groups > 0,
            "conv2d: stride, dilation and groups must be positive: stride {stride:?}, \
             dilation {dilation:?}, groups {groups}"
        );
        assert!(
            x[1] == weight[1] * groups,
            "conv2d: input has {} channels but weight expects {} ({} per group x {groups} groups): \
             input {x:?}, weight {weight:?}",
            x[1],
            weight[1] * groups,
            weight[1]
        );
        assert!(
            weight[0].is_multiple_of(groups),
            "conv2d: {} output channels do not split into {groups} groups: weight {weight:?}",
            weight[0]
        );
        let oh = out_len(x[2], weight[2], stride.0, padding.0, dilation.0);
        let ow = out_len(x[3], weight[3], stride.1, padding.1, dilation.1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            panic!(
                "conv2d: kernel {}x{} with dilation {dilation:?} does not fit the input padded by \
                 {padding:?}: input {x:?}, weight {weight:?}",
                weight[2], weight[3]
            )
        };
        Geom {
            batch: x[0],
            c_in: x[1],
            h: x[2],
            w: x[3],
            c_out: weight[0],
            groups,
            kh: weight[2],
            kw: weight[3],
            sh: stride.0,
            sw: stride.1,
            ph: padding.0,
            pw: padding.1,
            dh: dilation.0,
            dw: dilation.1,
            oh,
            ow,
        }
    }

    /// The geometry of a pooling op named `op` (the name goes in panics).
    ///
    /// # Panics
    /// If the input is not 4-d, the kernel or stride has a 0, the padding is
    /// more than half the kernel (as PyTorch), or the kernel is larger than
    /// the padded input.
    pub(crate) fn pool2d(
        op: &str,
        x: &[usize],
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Geom {
        assert!(x.len() == 4, "{op}: input must be [N, C, H, W]: got {x:?}");
        assert!(
            kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0,
            "{op}: kernel and stride must be positive: kernel {kernel:?}, stride {stride:?}"
        );
        assert!(
            2 * padding.0 <= kernel.0 && 2 * padding.1 <= kernel.1,
            "{op}: padding {padding:?} must be at most half the kernel {kernel:?}"
        );
        let oh = out_len(x[2], kernel.0, stride.0, padding.0, 1);
        let ow = out_len(x[3], kernel.1, stride.1, padding.1, 1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            panic!(
                "{op}: kernel {kernel:?} does not fit the input padded by {padding:?}: input {x:?}"
            )
        };
        Geom {
            batch: x[0],
            c_in: x[1],
            h: x[2],
            w: x[3],
            c_out: x[1],
            groups: x[1],
            kh: kernel.0,
            kw: kernel.1,
            sh: stride.0,
            sw: stride.1,
            ph: padding.0,
            pw: padding.1,
            dh: 1,
            dw: 1,
            oh,
            ow,
        }
    }

    /// The output shape `[N, C_out, OH, OW]`.
    pub(crate) fn out_shape(&self) -> [usize; 4] {
        [self.batch, self.c_out, self.oh, self.ow]
    }

    pub(super) fn in_plane(&self) -> usize {
        self.h * self.w
    }

    pub(super) fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// The outputs `o` in `0..out` whose tap `o * s + offset - p` lands inside
/// `0..n` (the others read padding).
pub(super) fn valid_outputs(
    out: usize,
    s: usize,
    offset: usize,
    p: usize,
    n: usize,
) -> Range<usize> {
    let lo = if offset >= p {
        0
    } else {
        (p - offset).div_ceil(s)
    };
    let hi = if n + p > offset {
        (n + p - offset).div_ceil(s).min(out)
    } else {
        0
    };
    lo.min(hi)..hi
}
