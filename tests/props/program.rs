//! A program's representation: the op descriptors, the resolved primitives, and the `Value` trait the interpreter runs on (reverse mode: `Var`).

use super::*;

/// One op descriptor: the kind, the earlier values it reads (indices modulo
/// the values so far) and parameters the interpreter maps onto the shapes.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) kind: Kind,
    pub(crate) args: [u8; 3],
    pub(crate) p: [u8; 4],
}

/// Leaf shapes, the seed of the leaf values, and the steps; the output is
/// the last value.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub(crate) leaves: Vec<Vec<usize>>,
    pub(crate) steps: Vec<Step>,
    pub(crate) seed: u64,
}

/// A concrete op with every argument resolved: what a [`Value`] applies.
#[derive(Clone, Debug)]
pub(crate) enum Prim {
    /// An elementwise op of one input, with its scalar argument if any.
    Unary(Kind, f64),
    Clamp(f64, f64),
    /// `+ - * /`, `pow`, `maximum`, `minimum` of `[a, b]`.
    Binary(Kind),
    /// `[cond, a, b]`: `a` where `cond > 0`, else `b`.
    Where,
    /// `axes: None` is the all-element form.
    Reduce {
        kind: Kind,
        axes: Option<Vec<isize>>,
        keepdim: bool,
        correction: usize,
    },
    Matmul,
    /// `[x, w]` or `[x, w, b]`.
    Linear,
    Reshape(Vec<usize>),
    Flatten(isize, isize),
    Squeeze(isize),
    Unsqueeze(isize),
    BroadcastTo(Vec<usize>),
    Transpose(isize, isize),
    Permute(Vec<usize>),
    Narrow(isize, usize, usize),
    Concat(isize),
    Stack(isize),
    IndexSelect(isize, Vec<usize>),
    Gather(isize, Vec<usize>, Vec<usize>),
    Pad(Vec<(usize, usize)>, f64),
    Softmax(isize),
    LogSoftmax(isize),
    CausalSoftmax,
    /// `[x, w]` or `[x, w, b]`.
    Conv2d(Conv2dOptions),
    Pool {
        max: bool,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    },
    /// `[x, weight?, bias?]`.
    LayerNorm {
        dims: Vec<usize>,
        weight: bool,
        bias: bool,
    },
    BatchNorm {
        weight: bool,
        bias: bool,
    },
    HeadScores(usize),
    HeadMix(usize),
    Dropout(f64, u64),
    CrossEntropy(Vec<usize>),
    Mse,
    Bce,
    NnCrossEntropy {
        targets: Vec<usize>,
        smoothing: f64,
        weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
    NllLoss {
        targets: Vec<usize>,
        weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
    L1(Reduction),
    Huber(f64, Reduction),
    SmoothL1(f64, Reduction),
    /// Labels (±1, the input's shape) are a constant.
    Hinge(Vec<f64>, Reduction),
    KlDiv(KlReduction),
    /// `pos_weight`, over the last axis, is a constant.
    NnBce {
        pos_weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
}

/// What the interpreter needs of a value. Reverse mode: `Var`. A forward
/// mode value (primal and tangent) would implement it the same way.
pub(crate) trait Value: Copy {
    fn dims(&self) -> Vec<usize>;
    fn values(&self) -> Vec<f64>;
    fn apply(prim: &Prim, args: &[Self]) -> Self;
}

pub(crate) fn tensor<T: Float>(data: &[f64], dims: &[usize]) -> Tensor<T> {
    Tensor::from_vec(data.iter().map(|&v| T::from_f64(v)).collect(), dims).unwrap()
}

/// The element types, with the scalar-on-the-left operators (`s - x`,
/// `s / x`), which the crate defines for `f32` and `f64` only.
pub(crate) trait Elem: Float {
    fn rsub(s: f64, x: Var<'_, Self>) -> Var<'_, Self>;
    fn rdiv(s: f64, x: Var<'_, Self>) -> Var<'_, Self>;
}

impl Elem for f32 {
    fn rsub(s: f64, x: Var<'_, f32>) -> Var<'_, f32> {
        s as f32 - x
    }
    fn rdiv(s: f64, x: Var<'_, f32>) -> Var<'_, f32> {
        s as f32 / x
    }
}

impl Elem for f64 {
    fn rsub(s: f64, x: Var<'_, f64>) -> Var<'_, f64> {
        s - x
    }
    fn rdiv(s: f64, x: Var<'_, f64>) -> Var<'_, f64> {
        s / x
    }
}

impl<T: Elem> Value for Var<'_, T> {
    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn values(&self) -> Vec<f64> {
        to_f64(self.value().as_slice())
    }

    fn apply(prim: &Prim, a: &[Self]) -> Self {
        use Kind as K;
        let x = a[0];
        let tape = x.tape();
        let opt = |i: usize| a.get(i).copied();
        match prim {
            Prim::Unary(k, s) => {
                let s = *s;
                match k {
                    K::Neg => -x,
                    K::Exp => x.exp(),
                    K::Ln => x.ln(),
                    K::Sqrt => x.sqrt(),
                    K::Square => x.square(),
                    K::Recip => x.recip(),
                    K::Abs => x.abs(),
                    K::Sin => x.sin(),
                    K::Cos => x.cos(),
                    K::Tanh => x.tanh(),
                    K::Sigmoid => x.sigmoid(),
                    K::Relu => x.relu(),
                    K::LeakyRelu => x.leaky_relu(s),
                    K::Elu => x.elu(s),
                    K::Gelu => x.gelu(),
                    K::GeluTanh => x.gelu_with(tapegrad::ops::GeluApprox::Tanh),
                    K::Silu => x.silu(),
                    K::Softplus => x.softplus(),
                    K::AddScalar => x + T::from_f64(s),
                    K::MulScalar => x * T::from_f64(s),
                    K::ScalarSub => T::rsub(s, x),
                    K::ScalarDiv => T::rdiv(s, x),
                    K::PowScalar => x.powf(s),
                    other => unreachable!("{other:?} is not unary"),
                }
            }
            Prim::Clamp(lo, hi) => x.clamp(*lo, *hi),
            Prim::Binary(k) => {
                let y = a[1];
                match k {
                    K::Add => x + y,
                    K::Sub => x - y,
                    K::Mul => x * y,
                    K::Div => x / y,
                    K::Pow => x.pow(y),
                    K::Maximum => x.maximum(y),
                    K::Minimum => x.minimum(y),
                    other => unreachable!("{other:?} is not binary"),
                }
            }
            Prim::Where => x.gt(0.0).where_(a[1], a[2]),
            Prim::Reduce {
                kind,
                axes,
                keepdim,
                correction,
            } => {
                let k = *keepdim;
                match (kind, axes) {
                    (K::Sum, None) => x.sum(),
                    (K::Mean, None) => x.mean(),
                    (K::Max, None) => x.max(),
                    (K::Min, None) => x.min(),
                    (K::Var, None) => x.var(*correction),
                    (K::LogSumExp, None) => x.logsumexp(),
                    (K::Sum, Some(ax)) => x.sum_axes(ax, k),
                    (K::Mean, Some(ax)) => x.mean_axes(ax, k),
                    (K::Max, Some(ax)) => x.max_axes(ax, k),
                    (K::Min, Some(ax)) => x.min_axes(ax, k),
                    (K::Var, Some(ax)) => x.var_axes(ax, *correction, k),
                    (K::LogSumExp, Some(ax)) => x.logsumexp_axes(ax, k),
                    (other, _) => unreachable!("{other:?} is not a reduction"),
                }
            }
            Prim::Matmul => x.matmul(a[1]),
            Prim::Linear => x.linear(a[1], opt(2)),
            Prim::Reshape(d) => x.reshape(d),
            Prim::Flatten(s, e) => x.flatten(*s, *e),
            Prim::Squeeze(ax) => x.squeeze(*ax),
            Prim::Unsqueeze(ax) => x.unsqueeze(*ax),
            Prim::BroadcastTo(d) => x.broadcast_to(d),
            Prim::Transpose(i, j) => x.transpose(*i, *j),
            Prim::Permute(p) => x.permute(p),
            Prim::Narrow(ax, s, l) => x.narrow(*ax, *s, *l),
            Prim::Concat(ax) => Var::concat(a, *ax),
            Prim::Stack(ax) => Var::stack(a, *ax),
            Prim::IndexSelect(ax, idx) => x.index_select(*ax, idx),
            Prim::Gather(ax, idx, d) => x.gather(*ax, idx, d),
            Prim::Pad(p, v) => x.pad(p, *v),
            Prim::Softmax(ax) => x.softmax(*ax),
            Prim::LogSoftmax(ax) => x.log_softmax(*ax),
            Prim::CausalSoftmax => x.causal_softmax(),
            Prim::Conv2d(o) => x.conv2d(a[1], opt(2), *o),
            Prim::Pool {
                max,
                kernel,
                stride,
                padding,
            } => {
                if *max {
                    x.max_pool2d(*kernel, *stride, *padding)
                } else {
                    x.avg_pool2d(*kernel, *stride, *padding)
                }
            }
            Prim::LayerNorm { dims, weight, bias } => {
                let w = weight.then(|| a[1]);
                let b = bias.then(|| a[1 + *weight as usize]);
                x.layer_norm(dims, w, b, 1e-5)
            }
            Prim::BatchNorm { weight, bias } => {
                let w = weight.then(|| a[1]);
                let b = bias.then(|| a[1 + *weight as usize]);
                x.batch_norm(w, b, 1e-5)
            }
            Prim::HeadScores(h) => x.head_scores(a[1], *h),
            Prim::HeadMix(h) => x.head_mix(a[1], *h),
            Prim::Dropout(p, seed) => x.dropout(*p, &mut rand::rngs::StdRng::seed_from_u64(*seed)),
            Prim::CrossEntropy(t) => x.cross_entropy(t),
            Prim::Mse => x.mse_loss(a[1]),
            Prim::Bce => x.binary_cross_entropy_with_logits(a[1]),
            Prim::NnCrossEntropy {
                targets,
                smoothing,
                weight,
                reduction,
            } => {
                let mut opts = CrossEntropyOptions::<T>::default()
                    .label_smoothing(*smoothing)
                    .reduction(*reduction);
                if let Some(w) = weight {
                    opts = opts.weight(tensor(w, &[w.len()]));
                }
                loss::cross_entropy(x, targets, &opts)
            }
            Prim::NllLoss {
                targets,
                weight,
                reduction,
            } => {
                let w = weight.as_ref().map(|w| tensor::<T>(w, &[w.len()]));
                loss::nll_loss(x, targets, w.as_ref(), *reduction)
            }
            Prim::L1(r) => loss::l1_loss(x, a[1], *r),
            Prim::Huber(d, r) => loss::huber_loss(x, a[1], *d, *r),
            Prim::SmoothL1(b, r) => loss::smooth_l1_loss(x, a[1], *b, *r),
            Prim::Hinge(labels, r) => {
                let l = tape.constant(tensor(labels, &x.dims()));
                loss::hinge_loss(x, l, *r)
            }
            Prim::KlDiv(r) => loss::kl_div(x, a[1], *r),
            Prim::NnBce {
                pos_weight,
                reduction,
            } => {
                let mut opts = BceWithLogitsOptions::<T>::default().reduction(*reduction);
                if let Some(p) = pos_weight {
                    opts = opts.pos_weight(tensor(p, &[p.len()]));
                }
                loss::binary_cross_entropy_with_logits(x, a[1], &opts)
            }
        }
    }
}
