//! The backward maps of convolution and pooling as differentiable ops, so
//! that the recorded rules of `conv2d`, `max_pool2d` and `avg_pool2d` (for
//! [`Tape::grad`](crate::Tape::grad)) can be differentiated again.
//!
//! With `A(x, w) = conv2d(x, w)` (bilinear), its input gradient
//! `IG(g, w) = A_x^T g` and weight gradient `WG(x, g) = A_w^T g` satisfy
//! `<A(x, w), g> = <x, IG(g, w)> = <w, WG(x, g)>`, so the three close under
//! differentiation: `IG`'s gradients are `A(u, w)` (for `g`) and `WG(u, g)`
//! (for `w`); `WG`'s are `IG(g, u)` (for `x`) and `A(x, u)` (for `g`).
//! Max pooling's scatter to the window winners (`MaxPool2dGrad`) and its
//! transpose, the pick of the winners (`MaxPool2dPick`), are each other's
//! gradients, the winners fixed by `x` (which gets no gradient: they do not
//! move between ties). Average pooling's spread (`AvgPool2dGrad`) has
//! average pooling as its gradient. Each op is one section: its crate-only
//! `Var` method, then its rules: backward, on the tape, forward mode.

use super::{Conv2dArgs, ConvOp, Op, Pool2dArgs, kernels, pair, pooled, small, with_dims};
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::conv::Geom;
use crate::tensor::{Float, Tensor};

/// `conv2d(x, w)` with the geometry already resolved.
fn conv<T: Float>(x: &Tensor<T>, w: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    pooled(&geom.out_shape(), |y| {
        kernels::conv2d(x.as_slice(), w.as_slice(), None, geom, y)
    })
}

/// `IG(g, w)`: conv2d's input gradient, shape `[N, C_in, H, W]`.
fn input_grad<T: Float>(g: &Tensor<T>, w: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    pooled(&[geom.batch, geom.c_in, geom.h, geom.w], |dx| {
        kernels::conv2d_input_grad(g.as_slice(), w.as_slice(), geom, dx)
    })
}

/// `WG(x, g)`: conv2d's weight gradient, shape `[C_out, C_in/groups, kH, kW]`.
fn weight_grad<T: Float>(x: &Tensor<T>, g: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    let dims = [geom.c_out, geom.c_in / geom.groups, geom.kh, geom.kw];
    with_dims(
        &dims,
        kernels::conv2d_weight_grad(x.as_slice(), g.as_slice(), geom),
    )
}

/// The tangent of a bilinear `f(a, b)` of inputs 0 and 1:
/// `f(da, b) + f(a, db)`, the terms with a zero tangent skipped.
fn bilinear<T: Float>(
    ctx: &JvpCtx<'_, T>,
    f: impl Fn(&Tensor<T>, &Tensor<T>) -> Tensor<T>,
) -> Tensor<T> {
    let (a, b) = (ctx.input(0), ctx.input(1));
    match (ctx.tangent(0), ctx.tangent(1)) {
        (Some(ta), Some(tb)) => &f(ta, b) + &f(a, tb),
        (Some(ta), None) => f(ta, b),
        (None, Some(tb)) => f(a, tb),
        (None, None) => Tensor::zeros(ctx.output().shape()),
    }
}

// ---- conv2d_input_grad --------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// conv2d's input gradient `IG(self, w)` for `self` the output gradient
    /// `[N, C_out, OH, OW]` of a convolution with options `args` over an
    /// input of spatial size `size`: a transposed convolution, shape
    /// `[N, C_in, H, W]`.
    pub(crate) fn conv2d_input_grad(
        self,
        w: Var<'t, T>,
        args: Conv2dArgs,
        size: (usize, usize),
    ) -> Var<'t, T> {
        let size = small("conv2d_input_grad", "input size", size);
        let op = ConvOp::Conv2dInputGrad { args, size };
        let geom = input_grad_geom(args, size, &self.shape(), &w.shape());
        self.tape
            .apply(Op::Conv(op), &[self, w], |v| input_grad(v[0], v[1], &geom))
    }
}

/// The convolution behind `IG(g, w)`: input `[N, w[1] * groups, H, W]`.
fn input_grad_geom(args: Conv2dArgs, size: [u16; 2], g: &[usize], w: &[usize]) -> Geom {
    let (h, wd) = pair(size);
    let geom = args.geom(&[g[0], w[1] * args.groups as usize, h, wd], w);
    assert!(
        geom.out_shape() == g,
        "conv2d_input_grad: gradient {g:?} is not the output of weight {w:?} over [{h}, {wd}]"
    );
    geom
}

/// `IG(g, w)`'s rule: `dg = conv2d(u, w)`, `dw = WG(u, g)`.
pub(super) fn input_grad_backward<T: Float>(
    args: Conv2dArgs,
    size: [u16; 2],
    ctx: &mut BackwardCtx<'_, T>,
) {
    let (g, w, u) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let geom = input_grad_geom(args, size, g.shape(), w.shape());
    if ctx.needs(0) {
        ctx.add(0, conv(u, w, &geom));
    }
    if ctx.needs(1) {
        ctx.add(1, weight_grad(u, g, &geom));
    }
}

/// On the tape: `dg = conv2d(u, w)`, `dw = conv2d_weight_grad(u, g)`.
pub(super) fn input_grad_backward_on_tape<T: Float>(
    args: Conv2dArgs,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (g, w, u) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        ctx.add(0, u.conv2d(w, None, args.options()));
    }
    if ctx.needs(1) {
        let ws = w.shape();
        ctx.add(1, u.conv2d_weight_grad(g, args, (ws[2], ws[3])));
    }
}

/// Forward mode: `IG(dg, w) + IG(g, dw)`.
pub(super) fn input_grad_jvp<T: Float>(
    args: Conv2dArgs,
    size: [u16; 2],
    ctx: &JvpCtx<'_, T>,
) -> Tensor<T> {
    let geom = input_grad_geom(args, size, ctx.input(0).shape(), ctx.input(1).shape());
    bilinear(ctx, |g, w| input_grad(g, w, &geom))
}

// ---- conv2d_weight_grad -------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// conv2d's weight gradient `WG(self, g)` for `self` the input
    /// `[N, C_in, H, W]` and `g` the output gradient of a convolution with
    /// options `args` and kernel size `kernel`: shape
    /// `[C_out, C_in / groups, kH, kW]`.
    pub(crate) fn conv2d_weight_grad(
        self,
        g: Var<'t, T>,
        args: Conv2dArgs,
        kernel: (usize, usize),
    ) -> Var<'t, T> {
        let kernel = small("conv2d_weight_grad", "kernel", kernel);
        let op = ConvOp::Conv2dWeightGrad { args, kernel };
        let geom = weight_grad_geom(args, kernel, &self.shape(), &g.shape());
        self.tape
            .apply(Op::Conv(op), &[self, g], |v| weight_grad(v[0], v[1], &geom))
    }
}

/// The convolution behind `WG(x, g)`: weight `[g[1], x[1] / groups, kH, kW]`.
fn weight_grad_geom(args: Conv2dArgs, kernel: [u16; 2], x: &[usize], g: &[usize]) -> Geom {
    let (kh, kw) = pair(kernel);
    let groups = args.groups as usize;
    let geom = args.geom(x, &[g[1], x[1] / groups.max(1), kh, kw]);
    assert!(
        geom.out_shape() == g,
        "conv2d_weight_grad: gradient {g:?} is not the output over input {x:?}"
    );
    geom
}

/// `WG(x, g)`'s rule: `dx = IG(g, u)`, `dg = conv2d(x, u)`.
pub(super) fn weight_grad_backward<T: Float>(
    args: Conv2dArgs,
    kernel: [u16; 2],
    ctx: &mut BackwardCtx<'_, T>,
) {
    let (x, g, u) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let geom = weight_grad_geom(args, kernel, x.shape(), g.shape());
    if ctx.needs(0) {
        ctx.add(0, input_grad(g, u, &geom));
    }
    if ctx.needs(1) {
        ctx.add(1, conv(x, u, &geom));
    }
}

/// On the tape: `dx = conv2d_input_grad(g, u)`, `dg = conv2d(x, u)`.
pub(super) fn weight_grad_backward_on_tape<T: Float>(
    args: Conv2dArgs,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (x, g, u) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        let xs = x.shape();
        ctx.add(0, g.conv2d_input_grad(u, args, (xs[2], xs[3])));
    }
    if ctx.needs(1) {
        ctx.add(1, x.conv2d(u, None, args.options()));
    }
}

/// Forward mode: `WG(dx, g) + WG(x, dg)`.
pub(super) fn weight_grad_jvp<T: Float>(
    args: Conv2dArgs,
    kernel: [u16; 2],
    ctx: &JvpCtx<'_, T>,
) -> Tensor<T> {
    let geom = weight_grad_geom(args, kernel, ctx.input(0).shape(), ctx.input(1).shape());
    bilinear(ctx, |x, g| weight_grad(x, g, &geom))
}

// ---- max_pool2d_grad, max_pool2d_pick -----------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// max_pool2d's backward map over input `self`: each value of `g`
    /// (shaped as the pooled output) added to its window's winner in
    /// `self`; shape of `self`.
    pub(crate) fn max_pool2d_grad(self, g: Var<'t, T>, args: Pool2dArgs) -> Var<'t, T> {
        let geom = args.geom("max_pool2d_grad", &self.shape());
        let op = Op::Conv(ConvOp::MaxPool2dGrad(args));
        self.tape
            .apply(op, &[self, g], |v| scatter(v[0], v[1], &geom))
    }

    /// The winners of max pooling `self`, read from `t` (shaped as
    /// `self`): max_pool2d's tangent map; shape of the pooled output.
    pub(crate) fn max_pool2d_pick(self, t: Var<'t, T>, args: Pool2dArgs) -> Var<'t, T> {
        let geom = args.geom("max_pool2d_pick", &self.shape());
        let op = Op::Conv(ConvOp::MaxPool2dPick(args));
        self.tape.apply(op, &[self, t], |v| pick(v[0], v[1], &geom))
    }
}

/// Each value of `g` added to its window's winner in `x`.
fn scatter<T: Float>(x: &Tensor<T>, g: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    let y = pooled(&geom.out_shape(), |y| {
        kernels::max_pool2d(x.as_slice(), geom, y)
    });
    pooled(x.shape(), |dx| {
        kernels::max_pool2d_backward(x.as_slice(), y.as_slice(), g.as_slice(), geom, dx)
    })
}

/// `t` at each window's winner in `x`.
fn pick<T: Float>(x: &Tensor<T>, t: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    pooled(&geom.out_shape(), |y| {
        kernels::max_pool2d_pick(x.as_slice(), t.as_slice(), geom, y)
    })
}

/// `max_pool2d_grad`'s rule: `dg = pick(x, u)`; `x` gets none.
pub(super) fn max_pool2d_grad_backward<T: Float>(args: Pool2dArgs, ctx: &mut BackwardCtx<'_, T>) {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d_grad", x.shape());
    if ctx.needs(1) {
        ctx.add(1, pick(x, ctx.grad_out(), &geom));
    }
}

/// On the tape: `dg = max_pool2d_pick(x, u)`.
pub(super) fn max_pool2d_grad_backward_on_tape<T: Float>(
    args: Pool2dArgs,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (x, u) = (ctx.input(0), ctx.grad_out());
    ctx.add(1, x.max_pool2d_pick(u, args));
}

/// Forward mode: the scatter of `dg` (linear in `g`; `dx` moves no winner).
pub(super) fn max_pool2d_grad_jvp<T: Float>(args: Pool2dArgs, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d_grad", x.shape());
    match ctx.tangent(1) {
        Some(tg) => scatter(x, tg, &geom),
        None => Tensor::zeros(x.shape()),
    }
}

/// `max_pool2d_pick`'s rule: `dt = scatter(x, u)`; `x` gets none.
pub(super) fn max_pool2d_pick_backward<T: Float>(args: Pool2dArgs, ctx: &mut BackwardCtx<'_, T>) {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d_pick", x.shape());
    if ctx.needs(1) {
        ctx.add(1, scatter(x, ctx.grad_out(), &geom));
    }
}

/// On the tape: `dt = max_pool2d_grad(x, u)`.
pub(super) fn max_pool2d_pick_backward_on_tape<T: Float>(
    args: Pool2dArgs,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (x, u) = (ctx.input(0), ctx.grad_out());
    ctx.add(1, x.max_pool2d_grad(u, args));
}

/// Forward mode: the pick of `dt`.
pub(super) fn max_pool2d_pick_jvp<T: Float>(args: Pool2dArgs, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let x = ctx.input(0);
    let geom = args.geom("max_pool2d_pick", x.shape());
    match ctx.tangent(1) {
        Some(tt) => pick(x, tt, &geom),
        None => Tensor::zeros(ctx.output().shape()),
    }
}

// ---- avg_pool2d_grad ----------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// avg_pool2d's backward map: each value of `self` (shaped as the pooled
    /// output `[N, C, OH, OW]`), divided by the kernel area, spread over
    /// its window of an input of spatial size `size`; shape `[N, C, H, W]`.
    pub(crate) fn avg_pool2d_grad(self, args: Pool2dArgs, size: (usize, usize)) -> Var<'t, T> {
        let size = small("avg_pool2d_grad", "input size", size);
        let geom = avg_grad_geom(args, size, &self.shape());
        let op = Op::Conv(ConvOp::AvgPool2dGrad { args, size });
        self.tape.apply(op, &[self], |v| spread(v[0], &geom))
    }
}

/// The pooling behind `avg_pool2d_grad(g)`: input `[N, C, H, W]`.
fn avg_grad_geom(args: Pool2dArgs, size: [u16; 2], g: &[usize]) -> Geom {
    let (h, w) = pair(size);
    let geom = args.geom("avg_pool2d_grad", &[g[0], g[1], h, w]);
    assert!(
        geom.out_shape() == g,
        "avg_pool2d_grad: gradient {g:?} is not the pooled output of [{h}, {w}]"
    );
    geom
}

/// `g` spread evenly over each window.
fn spread<T: Float>(g: &Tensor<T>, geom: &Geom) -> Tensor<T> {
    pooled(&[geom.batch, geom.c_in, geom.h, geom.w], |dx| {
        kernels::avg_pool2d_backward(g.as_slice(), geom, dx)
    })
}

/// `avg_pool2d_grad`'s rule: `dg = avg_pool2d(u)`.
pub(super) fn avg_pool2d_grad_backward<T: Float>(
    args: Pool2dArgs,
    size: [u16; 2],
    ctx: &mut BackwardCtx<'_, T>,
) {
    let geom = avg_grad_geom(args, size, ctx.input(0).shape());
    let u = ctx.grad_out();
    let dg = pooled(&geom.out_shape(), |y| {
        kernels::avg_pool2d(u.as_slice(), &geom, y)
    });
    ctx.add(0, dg);
}

/// On the tape: `dg = avg_pool2d(u)`.
pub(super) fn avg_pool2d_grad_backward_on_tape<T: Float>(
    args: Pool2dArgs,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let u = ctx.grad_out();
    let (k, s, p) = (pair(args.kernel), pair(args.stride), pair(args.padding));
    ctx.add(0, u.avg_pool2d(k, s, p));
}

/// Forward mode: the spread of `dg`.
pub(super) fn avg_pool2d_grad_jvp<T: Float>(
    args: Pool2dArgs,
    size: [u16; 2],
    ctx: &JvpCtx<'_, T>,
) -> Tensor<T> {
    let geom = avg_grad_geom(args, size, ctx.input(0).shape());
    spread(&ctx.tangent_or_zeros(0), &geom)
}
