//! Convolution and pooling of `[N, C, H, W]` vars.
//!
//! The kernels (im2col + GEMM, window scans) are in `tensor/conv.rs`; this
//! file checks shapes and records the ops. Each op is one section: its
//! `Var` method, then its rules: backward, on the tape, forward mode.
//!
//! Every op here is linear in each input (conv2d is bilinear in input and
//! weight; max pooling is linear in the input once its window winners are
//! fixed), so a tangent is the op applied to tangents. The recorded rules
//! (for [`Tape::grad`](crate::Tape::grad)) need the backward maps as ops of
//! their own, so that they can be differentiated again: conv2d's input and
//! weight gradients, max pooling's scatter to the winners and its
//! transpose (a pick of the winners), and average pooling's spread. Those
//! are in [`grads`]; each one's derivative is again one of these ops.

mod grads;

use super::Op;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::conv::{self as kernels, Geom};
use crate::tensor::{Float, Shape, Tensor};
use std::fmt;

/// The convolution and pooling ops. Sizes are packed into small integers
/// ([`Conv2dArgs`], [`Pool2dArgs`]), so the op stays `Copy` and small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvOp {
    /// `conv2d`; inputs `[x, weight]` or `[x, weight, bias]`.
    Conv2d(Conv2dArgs),
    /// `max_pool2d`; input `[x]`.
    MaxPool2d(Pool2dArgs),
    /// `avg_pool2d` (padding counted in the divisor); input `[x]`.
    AvgPool2d(Pool2dArgs),
    /// conv2d's input gradient (a transposed convolution), as an op of its
    /// own for recorded rules; inputs `[grad_out, weight]`.
    Conv2dInputGrad {
        /// The convolution's options.
        args: Conv2dArgs,
        /// The convolution input's height and width.
        size: [u16; 2],
    },
    /// conv2d's weight gradient, as an op of its own for recorded rules;
    /// inputs `[x, grad_out]`.
    Conv2dWeightGrad {
        /// The convolution's options.
        args: Conv2dArgs,
        /// The kernel's height and width.
        kernel: [u16; 2],
    },
    /// max_pool2d's backward map (each output's value added to its
    /// window's winner in `x`), as an op; inputs `[x, grad_out]`.
    MaxPool2dGrad(Pool2dArgs),
    /// The transpose of [`MaxPool2dGrad`](ConvOp::MaxPool2dGrad): each
    /// output takes `t` at its window's winner in `x` (max pooling's
    /// tangent map); inputs `[x, t]`.
    MaxPool2dPick(Pool2dArgs),
    /// avg_pool2d's backward map (each output spread over its window), as
    /// an op; input `[grad_out]`.
    AvgPool2dGrad {
        /// The pooling's sizes.
        args: Pool2dArgs,
        /// The pooling input's height and width.
        size: [u16; 2],
    },
}

impl ConvOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            ConvOp::Conv2d(args) => conv2d_backward(args, ctx),
            ConvOp::MaxPool2d(args) => max_pool2d_backward(args, ctx),
            ConvOp::AvgPool2d(args) => avg_pool2d_backward(args, ctx),
            ConvOp::Conv2dInputGrad { args, size } => grads::input_grad_backward(args, size, ctx),
            ConvOp::Conv2dWeightGrad { args, kernel } => {
                grads::weight_grad_backward(args, kernel, ctx)
            }
            ConvOp::MaxPool2dGrad(args) => grads::max_pool2d_grad_backward(args, ctx),
            ConvOp::MaxPool2dPick(args) => grads::max_pool2d_pick_backward(args, ctx),
            ConvOp::AvgPool2dGrad { args, size } => {
                grads::avg_pool2d_grad_backward(args, size, ctx)
            }
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            ConvOp::Conv2d(args) => conv2d_backward_on_tape(args, ctx),
            ConvOp::MaxPool2d(args) => max_pool2d_backward_on_tape(args, ctx),
            ConvOp::AvgPool2d(args) => avg_pool2d_backward_on_tape(args, ctx),
            ConvOp::Conv2dInputGrad { args, .. } => grads::input_grad_backward_on_tape(args, ctx),
            ConvOp::Conv2dWeightGrad { args, .. } => grads::weight_grad_backward_on_tape(args, ctx),
            ConvOp::MaxPool2dGrad(args) => grads::max_pool2d_grad_backward_on_tape(args, ctx),
            ConvOp::MaxPool2dPick(args) => grads::max_pool2d_pick_backward_on_tape(args, ctx),
            ConvOp::AvgPool2dGrad { args, .. } => {
                grads::avg_pool2d_grad_backward_on_tape(args, ctx)
            }
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            ConvOp::Conv2d(args) => conv2d_jvp(args, ctx),
            ConvOp::MaxPool2d(args) => max_pool2d_jvp(args, ctx),
            ConvOp::AvgPool2d(args) => avg_pool2d_jvp(args, ctx),
            ConvOp::Conv2dInputGrad { args, size } => grads::input_grad_jvp(args, size, ctx),
            ConvOp::Conv2dWeightGrad { args, kernel } => grads::weight_grad_jvp(args, kernel, ctx),
            ConvOp::MaxPool2dGrad(args) => grads::max_pool2d_grad_jvp(args, ctx),
            ConvOp::MaxPool2dPick(args) => grads::max_pool2d_pick_jvp(args, ctx),
            ConvOp::AvgPool2dGrad { args, size } => grads::avg_pool2d_grad_jvp(args, size, ctx),
        }
    }
}

impl fmt::Display for ConvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvOp::Conv2d(a) => write!(f, "conv2d[{a}]"),
            ConvOp::MaxPool2d(a) => write!(f, "max_pool2d[{a}]"),
            ConvOp::AvgPool2d(a) => write!(f, "avg_pool2d[{a}]"),
            ConvOp::Conv2dInputGrad { args, .. } => write!(f, "conv2d_input_grad[{args}]"),
            ConvOp::Conv2dWeightGrad { args, .. } => write!(f, "conv2d_weight_grad[{args}]"),
            ConvOp::MaxPool2dGrad(a) => write!(f, "max_pool2d_grad[{a}]"),
            ConvOp::MaxPool2dPick(a) => write!(f, "max_pool2d_pick[{a}]"),
            ConvOp::AvgPool2dGrad { args, .. } => write!(f, "avg_pool2d_grad[{args}]"),
        }
    }
}

/// Options of [`Var::conv2d`], as in PyTorch's `Conv2d`. Each pair is
/// `(height, width)`.
///
/// The default is stride 1, no padding, dilation 1 and one group; change
/// what you need with struct update syntax:
///
/// ```
/// use tapegrad::ops::Conv2dOptions;
/// let opts = Conv2dOptions { stride: (2, 2), padding: (1, 1), ..Default::default() };
/// assert_eq!(opts.groups, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between neighbouring windows.
    pub stride: (usize, usize),
    /// Zeros added on each side of the input.
    pub padding: (usize, usize),
    /// Spacing between kernel taps (1 is a plain, dense kernel).
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels split into this many
    /// groups, each output group seeing only its input group.
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// A size stored in an op: at most 65535, which keeps the op small.
fn small(op: &str, what: &str, v: (usize, usize)) -> [u16; 2] {
    match (u16::try_from(v.0), u16::try_from(v.1)) {
        (Ok(a), Ok(b)) => [a, b],
        _ => panic!("{op}: {what} {v:?} is too large (at most 65535)"),
    }
}

fn pair(v: [u16; 2]) -> (usize, usize) {
    (v[0] as usize, v[1] as usize)
}

/// [`Conv2dOptions`] packed into small integers, as stored in
/// [`ConvOp::Conv2d`] (so that the op stays `Copy` and small).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dArgs {
    stride: [u16; 2],
    padding: [u16; 2],
    dilation: [u16; 2],
    groups: u32,
}

impl Conv2dArgs {
    fn pack(o: Conv2dOptions) -> Self {
        Conv2dArgs {
            stride: small("conv2d", "stride", o.stride),
            padding: small("conv2d", "padding", o.padding),
            dilation: small("conv2d", "dilation", o.dilation),
            groups: u32::try_from(o.groups)
                .unwrap_or_else(|_| panic!("conv2d: groups {} is too large", o.groups)),
        }
    }

    /// The options these were packed from.
    pub fn options(self) -> Conv2dOptions {
        Conv2dOptions {
            stride: pair(self.stride),
            padding: pair(self.padding),
            dilation: pair(self.dilation),
            groups: self.groups as usize,
        }
    }

    fn geom(self, x: &[usize], weight: &[usize]) -> Geom {
        let o = self.options();
        Geom::conv2d(x, weight, o.stride, o.padding, o.dilation, o.groups)
    }
}

impl fmt::Display for Conv2dArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.options();
        write!(
            f,
            "stride={:?}, padding={:?}, dilation={:?}, groups={}",
            o.stride, o.padding, o.dilation, o.groups
        )
    }
}

/// Kernel, stride and padding of a pooling op, packed as in [`Conv2dArgs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dArgs {
    kernel: [u16; 2],
    stride: [u16; 2],
    padding: [u16; 2],
}

impl Pool2dArgs {
    fn pack(
        op: &str,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Self {
        Pool2dArgs {
            kernel: small(op, "kernel", kernel),
            stride: small(op, "stride", stride),
            padding: small(op, "padding", padding),
        }
    }

    fn geom(self, op: &str, x: &[usize]) -> Geom {
        Geom::pool2d(
            op,
            x,
            pair(self.kernel),
            pair(self.stride),
            pair(self.padding),
        )
    }
}

impl fmt::Display for Pool2dArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel={:?}, stride={:?}, padding={:?}",
            pair(self.kernel),
            pair(self.stride),
            pair(self.padding)
        )
    }
}

/// A tensor of the given dimensions around a kernel's output buffer.
fn with_dims<T: Float>(dims: &[usize], data: Vec<T>) -> Tensor<T> {
    Tensor::from_parts(Shape::from_slice(dims), data)
}

/// A zero-filled tensor of the given dimensions from the buffer pool,
/// filled by `kernel` (so that a training loop's steady state reuses the
/// storage of the previous step's tensors instead of allocating).
fn pooled<T: Float>(dims: &[usize], kernel: impl FnOnce(&mut [T])) -> Tensor<T> {
    let mut t = Tensor::pooled_zeros(Shape::from_slice(dims));
    kernel(t.as_mut_slice());
    t
}

// ---- conv2d -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// 2-d convolution (cross-correlation, as in every deep-learning
    /// library) of `self [N, C_in, H, W]` with `weight [C_out, C_in / groups,
    /// kH, kW]`, plus an optional `bias [C_out]`:
    ///
    /// `y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] *
    /// x[n, g(o) * C_in/groups + c, i*sH + u*dH - pH, j*sW + v*dW - pW]`,
    ///
    /// reading zeros outside the input. Output `[N, C_out, OH, OW]` with
    /// `OH = (H + 2 pH - dH (kH - 1) - 1) / sH + 1` (rounded down), and
    /// likewise `OW`.
    ///
    /// Derivatives: the input gradient is the transposed convolution of the
    /// output gradient with the weight (GEMM then col2im); the weight
    /// gradient correlates the output gradient with the input (GEMM with the
    /// unfolded input); the bias gradient sums the output gradient over
    /// `N, OH, OW`.
    ///
    /// # Panics
    /// If the input or weight is not 4-d, `C_in != weight[1] * groups`,
    /// `C_out` is not a multiple of `groups`, the bias is not `[C_out]`, a
    /// stride, dilation or `groups` is 0, a size exceeds 65535, or the
    /// dilated kernel does not fit the padded input.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// use tapegrad::ops::Conv2dOptions;
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[[[1.0, 2.0], [3.0, 4.0]]]]); // [1, 1, 2, 2]
    /// let w = tape.var(tensor![[[[1.0, 1.0], [1.0, 1.0]]]]); // a 2x2 box
    /// let y = x.conv2d(w, None, Conv2dOptions::default());
    /// assert_eq!(y.value().to_vec(), vec![10.0]); // 1 + 2 + 3 + 4
    /// ```
    pub fn conv2d(
        self,
        weight: Var<'t, T>,
        bias: Option<Var<'t, T>>,
        opts: Conv2dOptions,
    ) -> Var<'t, T> {
        let (xs, ws) = (self.shape(), weight.shape());
        let geom = Geom::conv2d(
            &xs,
            &ws,
            opts.stride,
            opts.padding,
            opts.dilation,
            opts.groups,
        );
        if let Some(b) = bias {
            let bs = b.shape();
            assert!(
                bs.as_slice() == [geom.c_out],
                "conv2d: bias must be [C_out] = [{}]: got bias {bs:?}, weight {ws:?}",
                geom.c_out
            );
        }
        let op = Op::Conv(ConvOp::Conv2d(Conv2dArgs::pack(opts)));
        let inputs: &[Var<'t, T>] = match bias {
            Some(b) => &[self, weight, b],
            None => &[self, weight],
        };
        self.tape.apply(op, inputs, |v| {
            let bias = v.get(2).map(|b| b.as_slice());
            pooled(&geom.out_shape(), |y| {
                kernels::conv2d(v[0].as_slice(), v[1].as_slice(), bias, &geom, y)
            })
        })
    }
}

/// `conv2d`'s rule: input, weight and bias gradients, each only if wanted.
fn conv2d_backward<T: Float>(args: Conv2dArgs, ctx: &mut BackwardCtx<'_, T>) {
    let (x, w, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let geom = args.geom(x.shape(), w.shape());
    if ctx.needs(0) {
        let dx = pooled(x.shape(), |dx| {
            kernels::conv2d_input_grad(g.as_slice(), w.as_slice(), &geom, dx)
        });
        ctx.add(0, dx);
    }
    if ctx.needs(1) {
        let dw = kernels::conv2d_weight_grad(x.as_slice(), g.as_slice(), &geom);
        ctx.add(1, with_dims(w.shape(), dw));
    }
    if ctx.num_inputs() == 3 && ctx.needs(2) {
        let db = kernels::conv2d_bias_grad(g.as_slice(), &geom);
        ctx.add(2, with_dims(&[geom.c_out], db));
    }
}

/// On the tape: `dx = conv2d_input_grad(g, w)`, `dw =
/// conv2d_weight_grad(x, g)` (ops of their own, see [`grads`]) and `db`
/// the sum of `g` over `N, OH, OW`.
fn conv2d_backward_on_tape<T: Float>(args: Conv2dArgs, ctx: &mut GraphCtx<'_, '_, T>) {
    let (x, w, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        let xs = x.shape();
        ctx.add(0, g.conv2d_input_grad(w, args, (xs[2], xs[3])));
    }
    if ctx.needs(1) {
        let ws = w.shape();
        ctx.add(1, x.conv2d_weight_grad(g, args, (ws[2], ws[3])));
    }
    if ctx.num_inputs() == 3 && ctx.needs(2) {
        ctx.add(2, g.sum_axes(&[0, 2, 3], false));
    }
}

/// Forward mode, conv2d being bilinear: `dy = conv2d(dx, w) + conv2d(x,
/// dw) + db` (broadcast over `N, OH, OW`).
fn conv2d_jvp<T: Float>(args: Conv2dArgs, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (x, w) = (ctx.input(0), ctx.input(1));
    let geom = args.geom(x.shape(), w.shape());
    let conv = |x: &Tensor<T>, w: &Tensor<T>| {
        pooled(&geom.out_shape(), |y| {
            kernels::conv2d(x.as_slice(), w.as_slice(), None, &geom, y)
        })
    };
    let mut t = match ctx.tangent(0) {
        Some(tx) => conv(tx, w),
        None => Tensor::zeros(&geom.out_shape()),
    };
    if let Some(tw) = ctx.tangent(1) {
        t.add_assign(&conv(x, tw));
    }
    if ctx.num_inputs() == 3
        && let Some(tb) = ctx.tangent(2)
    {
        t = &t + &tb.reshape(&[geom.c_out, 1, 1]);
    }
    t
}

// ---- max_pool2d ---------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// 2-d max pooling of `self [N, C, H, W]`: each output is the largest
    /// input under a `kernel` window, windows `stride` apart, over the input
    /// padded by `padding` (padding never wins). Output `[N, C, OH, OW]`
    /// with `OH = (H + 2 pH - kH) / sH + 1` (rounded down), likewise `OW`.
    ///
    /// Derivative: each output's gradient goes to the input that won its
    /// window (the first one on ties), found again in the backward pass
    /// from the input and the output, so nothing extra is stored.
    ///
    /// # Panics
    /// If the input is not 4-d, the kernel or stride has a 0, the padding
    /// is more than half the kernel (as PyTorch), or the kernel does not fit
    /// the padded input.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[[[1.0, 5.0], [3.0, 2.0]]]]);
    /// let y = x.max_pool2d((2, 2), (2, 2), (0, 0));
    /// assert_eq!(y.value().to_vec(), vec![5.0]);
    /// ```
    pub fn max_pool2d(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Var<'t, T> {
        let args = Pool2dArgs::pack("max_pool2d", kernel, stride, padding);
        let geom = args.geom("max_pool2d", &self.shape());
        self.tape
            .apply(Op::Conv(ConvOp::MaxPool2d(args)), &[self], |v| {
                pooled(&geom.out_shape(), |y| {
                    kernels::max_pool2d(v[0].as_slice(), &geom, y)
                })
            })
    }
}

/// `max_pool2d`'s rule: the gradient goes to each window's argmax.
fn max_pool2d_backward<T: Float>(args: Pool2dArgs, ctx: &mut BackwardCtx<'_, T>) {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d", x.shape());
    let (y, g) = (ctx.output().as_slice(), ctx.grad_out().as_slice());
    let dx = pooled(x.shape(), |dx| {
        kernels::max_pool2d_backward(x.as_slice(), y, g, &geom, dx)
    });
    ctx.add(0, dx);
}

/// On the tape: the same scatter to the winners, as the op
/// [`MaxPool2dGrad`](ConvOp::MaxPool2dGrad) (linear in `g`; the winners,
/// and so the rule, are constant in `x` between ties).
fn max_pool2d_backward_on_tape<T: Float>(args: Pool2dArgs, ctx: &mut GraphCtx<'_, '_, T>) {
    let (x, g) = (ctx.input(0), ctx.grad_out());
    ctx.add(0, x.max_pool2d_grad(g, args));
}

/// Forward mode: each output's tangent is the input's tangent at its
/// window's winner.
fn max_pool2d_jvp<T: Float>(args: Pool2dArgs, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d", x.shape());
    let t = ctx.tangent_or_zeros(0);
    pooled(&geom.out_shape(), |y| {
        kernels::max_pool2d_pick(x.as_slice(), t.as_slice(), &geom, y)
    })
}

// ---- avg_pool2d ---------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// 2-d average pooling of `self [N, C, H, W]`: each output is the sum of
    /// the inputs under its `kernel` window divided by the kernel area
    /// `kH * kW`, also where the window overlaps the zero padding (PyTorch's
    /// default `count_include_pad=True`). Output shape as in
    /// [`max_pool2d`](Var::max_pool2d).
    ///
    /// Derivative: each output's gradient, divided by the kernel area, goes
    /// to every input under its window.
    ///
    /// # Panics
    /// As [`max_pool2d`](Var::max_pool2d).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[[[1.0, 5.0], [3.0, 3.0]]]]);
    /// // one 2x2 window with padding 1 and stride 2 sees only x[0, 0]: 1 / 4
    /// let y = x.avg_pool2d((2, 2), (2, 2), (1, 1));
    /// assert_eq!(y.value().get(&[0, 0, 0, 0]), 0.25);
    /// ```
    pub fn avg_pool2d(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Var<'t, T> {
        let args = Pool2dArgs::pack("avg_pool2d", kernel, stride, padding);
        let geom = args.geom("avg_pool2d", &self.shape());
        self.tape
            .apply(Op::Conv(ConvOp::AvgPool2d(args)), &[self], |v| {
                pooled(&geom.out_shape(), |y| {
                    kernels::avg_pool2d(v[0].as_slice(), &geom, y)
                })
            })
    }
}

/// `avg_pool2d`'s rule: the gradient spreads evenly over each window.
fn avg_pool2d_backward<T: Float>(args: Pool2dArgs, ctx: &mut BackwardCtx<'_, T>) {
    let x = ctx.input(0);
    let geom = args.geom("avg_pool2d", x.shape());
    let dx = pooled(x.shape(), |dx| {
        kernels::avg_pool2d_backward(ctx.grad_out().as_slice(), &geom, dx)
    });
    ctx.add(0, dx);
}

/// On the tape: the same spread, as the op
/// [`AvgPool2dGrad`](ConvOp::AvgPool2dGrad).
fn avg_pool2d_backward_on_tape<T: Float>(args: Pool2dArgs, ctx: &mut GraphCtx<'_, '_, T>) {
    let (xs, g) = (ctx.input(0).shape(), ctx.grad_out());
    ctx.add(0, g.avg_pool2d_grad(args, (xs[2], xs[3])));
}

/// Forward mode: average pooling is linear, so the tangent is the pooled
/// tangent.
fn avg_pool2d_jvp<T: Float>(args: Pool2dArgs, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let t = ctx.tangent_or_zeros(0);
    let geom = args.geom("avg_pool2d", t.shape());
    pooled(&geom.out_shape(), |y| {
        kernels::avg_pool2d(t.as_slice(), &geom, y)
    })
}
