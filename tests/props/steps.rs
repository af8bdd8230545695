//! One step of a program: each op kind mapped onto concrete arguments for the shapes at hand.

use super::*;

pub(crate) fn step_value<V: Value>(t: &mut Trace, s: &Step, a: V, b: V, c: V) -> V {
    use Kind as K;
    let p = s.p;
    let unary = |t: &mut Trace, k: Kind, arg: f64, x: V| ap(t, Prim::Unary(k, arg), &[x]);
    match s.kind {
        K::Neg
        | K::Exp
        | K::Square
        | K::Abs
        | K::Sin
        | K::Cos
        | K::Tanh
        | K::Sigmoid
        | K::Relu
        | K::Gelu
        | K::GeluTanh
        | K::Silu
        | K::Softplus => unary(t, s.kind, 0.0, a),
        K::Ln | K::Sqrt | K::Recip => {
            let x = pos(t, a);
            unary(t, s.kind, 0.0, x)
        }
        K::LeakyRelu => unary(t, s.kind, 0.01 + p[0] as f64 / 256.0, a),
        K::Elu => unary(t, s.kind, 0.5 + p[0] as f64 / 128.0, a),
        K::Clamp => {
            let (lo, hi) = (-0.25 - p[0] as f64 / 128.0, 0.25 + p[1] as f64 / 128.0);
            ap(t, Prim::Clamp(lo, hi), &[a])
        }
        K::AddScalar | K::MulScalar | K::ScalarSub => unary(t, s.kind, scalar(p[0]), a),
        K::ScalarDiv => {
            let x = pos(t, a);
            unary(t, s.kind, scalar(p[0]), x)
        }
        K::PowScalar => {
            let e = [2.0, 3.0, 0.5, -1.5, 1.7, -1.0][p[0] as usize % 6];
            let x = if e == 2.0 || e == 3.0 { a } else { pos(t, a) };
            unary(t, s.kind, e, x)
        }
        K::Add | K::Sub | K::Mul | K::Div | K::Pow | K::Maximum | K::Minimum => {
            let (x, y) = broadcast_pair(t, a, b, p);
            let x = if s.kind == K::Pow { pos(t, x) } else { x };
            let y = if s.kind == K::Div { pos(t, y) } else { y };
            ap(t, Prim::Binary(s.kind), &[x, y])
        }
        K::Where => {
            let (x, y) = broadcast_pair(t, a, b, p);
            let cond = fit(t, c, &x.dims());
            ap(t, Prim::Where, &[cond, x, y])
        }
        K::Sum | K::Mean | K::Max | K::Min | K::Var | K::LogSumExp => {
            let d = a.dims();
            let nd = d.len();
            let axes = (!p[0].is_multiple_of(4)).then(|| {
                let mut ax: Vec<usize> = (0..nd).filter(|&i| (p[1] >> (i % 8)) & 1 == 1).collect();
                if p[2] & 4 != 0 {
                    ax.reverse();
                }
                ax
            });
            let count: usize = match &axes {
                None => numel(&d),
                Some(ax) => ax.iter().map(|&i| d[i]).product(),
            };
            let signed = |i: usize| {
                if p[2] & 1 == 1 {
                    i as isize - nd as isize
                } else {
                    i as isize
                }
            };
            let correction = if count > 1 {
                (p[2] >> 1) as usize & 1
            } else {
                0
            };
            let prim = Prim::Reduce {
                kind: s.kind,
                axes: axes.map(|ax| ax.into_iter().map(signed).collect()),
                keepdim: p[3] & 1 == 1,
                correction,
            };
            ap(t, prim, &[a])
        }
        K::Matmul => {
            let (m, k, n) = (size(p[0]), size(p[0] / 3), size(p[1]));
            let (b1, b2) = (1 + p[2] as usize % 2, 1 + (p[2] as usize / 2) % 3);
            let (da, db) = match p[3] % 4 {
                0 => (vec![m, k], vec![k, n]),
                1 => (vec![b1, m, k], vec![k, n]),
                2 => (vec![m, k], vec![b2, k, n]),
                _ => (vec![b1, 1, m, k], vec![b2, k, n]),
            };
            let (x, y) = (fit(t, a, &da), fit(t, b, &db));
            ap(t, Prim::Matmul, &[x, y])
        }
        K::Linear => {
            let (inf, outf) = (size(p[0]), size(p[1]));
            let mut dx = match p[2] % 3 {
                0 => vec![],
                1 => vec![size(p[3])],
                _ => vec![2, size(p[3])],
            };
            dx.push(inf);
            let x = fit(t, a, &dx);
            let w = fit(t, b, &[outf, inf]);
            if p[3] & 8 != 0 {
                let bias = fit(t, c, &[outf]);
                ap(t, Prim::Linear, &[x, w, bias])
            } else {
                ap(t, Prim::Linear, &[x, w])
            }
        }
        K::Reshape => {
            let dims = refactor(numel(&a.dims()), p);
            ap(t, Prim::Reshape(dims), &[a])
        }
        K::Flatten => {
            let nd = a.dims().len().max(1);
            let st = p[0] as usize % nd;
            let e = st + p[1] as usize % (nd - st);
            let e = if p[2] & 1 == 1 {
                e as isize - nd as isize
            } else {
                e as isize
            };
            ap(t, Prim::Flatten(st as isize, e), &[a])
        }
        K::Squeeze => {
            let d = a.dims();
            let ones: Vec<usize> = (0..d.len()).filter(|&i| d[i] == 1).collect();
            if ones.is_empty() {
                let ax = p[0] as usize % (d.len() + 1);
                let u = ap(t, Prim::Unsqueeze(ax as isize), &[a]);
                ap(t, Prim::Squeeze(ax as isize), &[u])
            } else {
                let ax = ones[p[0] as usize % ones.len()];
                let ax = if p[1] & 1 == 1 {
                    ax as isize - d.len() as isize
                } else {
                    ax as isize
                };
                ap(t, Prim::Squeeze(ax), &[a])
            }
        }
        K::Unsqueeze => {
            let nd = a.dims().len();
            let ax = p[0] as usize % (nd + 1);
            let ax = if ax == nd && p[1] & 1 == 1 {
                -1
            } else {
                ax as isize
            };
            ap(t, Prim::Unsqueeze(ax), &[a])
        }
        K::BroadcastTo => {
            let d = a.dims();
            let mut target: Vec<usize> = (0..p[0] as usize % 3).map(|i| size(p[1] >> i)).collect();
            for (i, &n) in d.iter().enumerate() {
                target.push(if n == 1 { size(p[2] >> (i % 8)) } else { n });
            }
            ap(t, Prim::BroadcastTo(target), &[a])
        }
        K::Transpose => {
            let x = at_least_1d(t, a);
            let nd = x.dims().len();
            ap(t, Prim::Transpose(axis(p[0], nd), axis(p[1], nd)), &[x])
        }
        K::Permute => {
            let x = at_least_1d(t, a);
            let perm = lehmer(p[0] as usize + 256 * p[1] as usize, x.dims().len());
            ap(t, Prim::Permute(perm), &[x])
        }
        K::Narrow => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let n = d[ax.rem_euclid(d.len() as isize) as usize];
            let st = p[1] as usize % n;
            let len = 1 + p[2] as usize % (n - st);
            ap(t, Prim::Narrow(ax, st, len), &[x])
        }
        K::Concat => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let mut db = d.clone();
            db[ax.rem_euclid(d.len() as isize) as usize] = size(p[1]);
            let y = fit(t, b, &db);
            let args = if p[2] & 1 == 1 {
                vec![x, y, x]
            } else {
                vec![x, y]
            };
            ap(t, Prim::Concat(ax), &args)
        }
        K::Stack => {
            let d = a.dims();
            let y = fit(t, b, &d);
            let ax = (p[0] as usize % (d.len() + 1)) as isize;
            let args = if p[2] & 1 == 1 {
                vec![a, y, a]
            } else {
                vec![a, y]
            };
            ap(t, Prim::Stack(ax), &args)
        }
        K::IndexSelect => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let n = d[ax.rem_euclid(d.len() as isize) as usize];
            let len = 1 + p[1] as usize % 4;
            let idx = (0..len)
                .map(|i| (p[2] as usize + i * (p[3] as usize + 1)) % n)
                .collect();
            ap(t, Prim::IndexSelect(ax, idx), &[x])
        }
        K::Gather => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let r = ax.rem_euclid(d.len() as isize) as usize;
            let mut idims = d.clone();
            for (j, n) in idims.iter_mut().enumerate() {
                if j == r {
                    *n = size(p[1]);
                } else if (p[2] >> (j % 8)) & 1 == 1 {
                    *n = (*n - 1).max(1);
                }
            }
            let idx = (0..numel(&idims))
                .map(|i| (p[3] as usize + 5 * i) % d[r])
                .collect();
            ap(t, Prim::Gather(ax, idx, idims), &[x])
        }
        K::Pad => {
            let nd = a.dims().len();
            let pads = (0..nd)
                .map(|i| {
                    (
                        ((p[0] >> (i % 8)) & 1) as usize,
                        ((p[1] >> (i % 8)) % 3) as usize,
                    )
                })
                .collect();
            ap(t, Prim::Pad(pads, scalar(p[2])), &[a])
        }
        K::Softmax | K::LogSoftmax => {
            let nd = a.dims().len();
            let ax = if nd == 0 {
                -((p[0] & 1) as isize)
            } else {
                axis(p[0], nd)
            };
            let prim = if s.kind == K::Softmax {
                Prim::Softmax(ax)
            } else {
                Prim::LogSoftmax(ax)
            };
            ap(t, prim, &[a])
        }
        K::CausalSoftmax => {
            let x = if a.dims().len() < 2 {
                fit(t, a, &[size(p[0]), size(p[1])])
            } else {
                a
            };
            ap(t, Prim::CausalSoftmax, &[x])
        }
        K::Conv2d => {
            let bit = |v: u8, i: u32| ((v >> i) & 1) as usize;
            let g = 1 + bit(p[0], 0);
            let (cin, cout) = (g * (1 + bit(p[0], 1)), g * (1 + bit(p[0], 2)));
            let (kh, kw) = (size(p[1]), size(p[1] / 3));
            let opts = Conv2dOptions {
                stride: (1 + bit(p[2], 0), 1 + bit(p[2], 1)),
                padding: (bit(p[2], 2), bit(p[2], 3)),
                dilation: (1 + bit(p[2], 4), 1 + bit(p[2], 5)),
                groups: g,
            };
            let side = |k: usize, dil: usize, pad: usize, extra: usize| {
                (dil * (k - 1) + 1).saturating_sub(2 * pad).max(1) + extra
            };
            let h = side(kh, opts.dilation.0, opts.padding.0, bit(p[3], 0));
            let w = side(kw, opts.dilation.1, opts.padding.1, bit(p[3], 1));
            let x = fit(t, a, &[1 + bit(p[3], 2), cin, h, w]);
            let wt = fit(t, b, &[cout, cin / g, kh, kw]);
            if p[3] & 8 != 0 {
                let bias = fit(t, c, &[cout]);
                ap(t, Prim::Conv2d(opts), &[x, wt, bias])
            } else {
                ap(t, Prim::Conv2d(opts), &[x, wt])
            }
        }
        K::MaxPool2d | K::AvgPool2d => {
            let bit = |v: u8, i: u32| ((v >> i) & 1) as usize;
            let kernel = (size(p[0]), size(p[0] / 3));
            let stride = (1 + bit(p[1], 0), 1 + bit(p[1], 1));
            let padding = (
                bit(p[1], 2).min(kernel.0 / 2),
                bit(p[1], 3).min(kernel.1 / 2),
            );
            let h = (kernel.0 - 2 * padding.0).max(1) + bit(p[2], 0);
            let w = (kernel.1 - 2 * padding.1).max(1) + bit(p[2], 1);
            let x = fit(t, a, &[1 + bit(p[3], 0), 1 + bit(p[3], 1), h, w]);
            let max = s.kind == K::MaxPool2d;
            ap(
                t,
                Prim::Pool {
                    max,
                    kernel,
                    stride,
                    padding,
                },
                &[x],
            )
        }
        K::LayerNorm => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let k = 1 + p[0] as usize % d.len();
            let dims = d[d.len() - k..].to_vec();
            let (weight, bias) = (p[1] & 1 == 1, p[1] & 2 == 2);
            let mut args = vec![x];
            if weight {
                args.push(fit(t, b, &dims));
            }
            if bias {
                args.push(fit(t, c, &dims));
            }
            ap(t, Prim::LayerNorm { dims, weight, bias }, &args)
        }
        K::BatchNorm => {
            let d = a.dims();
            let ok = d.len() >= 2 && numel(&d) / d[1] >= 2;
            let x = if ok {
                a
            } else {
                fit(t, a, &[2, size(p[0]), size(p[1])])
            };
            let ch = x.dims()[1];
            let (weight, bias) = (p[2] & 1 == 1, p[2] & 2 == 2);
            let mut args = vec![x];
            if weight {
                args.push(fit(t, b, &[ch]));
            }
            if bias {
                args.push(fit(t, c, &[ch]));
            }
            ap(t, Prim::BatchNorm { weight, bias }, &args)
        }
        K::HeadScores | K::HeadMix => {
            let h = 1 + p[0] as usize % 2;
            let e = h * size(p[1]);
            let n = 1 + p[2] as usize % 2;
            let (lq, lk) = (size(p[3]), size(p[3] / 3));
            if s.kind == K::HeadScores {
                let (q, k) = (fit(t, a, &[n, lq, e]), fit(t, b, &[n, lk, e]));
                ap(t, Prim::HeadScores(h), &[q, k])
            } else {
                let (w, v) = (fit(t, a, &[n, h, lq, lk]), fit(t, b, &[n, lk, e]));
                ap(t, Prim::HeadMix(h), &[w, v])
            }
        }
        K::Dropout => {
            let prob = [0.0, 0.25, 0.5][p[0] as usize % 3];
            ap(t, Prim::Dropout(prob, p[1] as u64), &[a])
        }
        K::CrossEntropy | K::NnCrossEntropy | K::NllLoss => {
            let (n, cl) = (size(p[0]), 1 + size(p[1]));
            let x = fit(t, a, &[n, cl]);
            let tg = targets(n, cl, p[2], p[3]);
            let weight =
                (p[1] & 0x40 != 0).then(|| (0..cl).map(|j| 0.5 + j as f64 / 4.0).collect());
            match s.kind {
                K::CrossEntropy => ap(t, Prim::CrossEntropy(tg), &[x]),
                K::NnCrossEntropy => {
                    let smoothing = [0.0, 0.1, 0.3][(p[0] as usize / 3) % 3];
                    let prim = Prim::NnCrossEntropy {
                        targets: tg,
                        smoothing,
                        weight,
                        reduction: reduction(p[0] / 9),
                    };
                    ap(t, prim, &[x])
                }
                _ => {
                    let lp = ap(t, Prim::LogSoftmax(-1), &[x]);
                    let prim = Prim::NllLoss {
                        targets: tg,
                        weight,
                        reduction: reduction(p[0] / 3),
                    };
                    ap(t, prim, &[lp])
                }
            }
        }
        K::Mse | K::L1Loss | K::Huber | K::SmoothL1 => {
            let y = fit(t, b, &a.dims());
            let r = reduction(p[1]);
            let prim = match s.kind {
                K::Mse => Prim::Mse,
                K::L1Loss => Prim::L1(r),
                K::Huber => Prim::Huber(0.5 + p[0] as f64 / 128.0, r),
                _ => Prim::SmoothL1([0.0, 0.5, 1.0][p[0] as usize % 3], r),
            };
            ap(t, prim, &[a, y])
        }
        K::Bce | K::NnBce => {
            let y = fit(t, b, &a.dims());
            let target = ap(t, Prim::Unary(Kind::Sigmoid, 0.0), &[y]);
            if s.kind == K::Bce {
                return ap(t, Prim::Bce, &[a, target]);
            }
            let d = a.dims();
            let pos_weight = (p[0] & 1 == 1 && !d.is_empty())
                .then(|| (0..d[d.len() - 1]).map(|j| 0.5 + j as f64).collect());
            let prim = Prim::NnBce {
                pos_weight,
                reduction: reduction(p[1]),
            };
            ap(t, prim, &[a, target])
        }
        K::Hinge => {
            let n = numel(&a.dims());
            let labels = (0..n)
                .map(|i| {
                    if (p[0] as usize + i * (p[1] as usize | 1)) & 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            ap(t, Prim::Hinge(labels, reduction(p[2])), &[a])
        }
        K::KlDiv => {
            let x = at_least_1d(t, a);
            let lq = ap(t, Prim::LogSoftmax(-1), &[x]);
            let y = fit(t, b, &x.dims());
            let target = ap(t, Prim::Softmax(-1), &[y]);
            let r = [
                KlReduction::None,
                KlReduction::Mean,
                KlReduction::Sum,
                KlReduction::BatchMean,
            ][p[0] as usize % 4];
            ap(t, Prim::KlDiv(r), &[lq, target])
        }
    }
}
