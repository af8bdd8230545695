//! [`MultiHeadAttention`] (scaled dot-product attention over several
//! heads, optionally causal) and the pre-norm [`TransformerBlock`] built on
//! it: enough for a small GPT.

use super::{Forward, LayerNorm, Linear, Param, init, with_child_name};
use crate::Module;
use crate::ops::GeluApprox;
use crate::tape::{Tape, Var};
use crate::tensor::Float;
use rand::Rng;

/// Multi-head attention (Vaswani et al. 2017), batch-first:
///
/// ```text
/// Q, K, V  = x W_q^T + b_q,  x W_k^T + b_k,  x W_v^T + b_v     each [N, L, E]
/// head i   = softmax(Q_i K_i^T / sqrt(d) + M) V_i                 d = E / heads
/// output   = concat(head 1, ..., head h) W_o^T + b_o
/// ```
///
/// where `Q_i` is the `i`-th block of `d` features and `M` is 0, or with a
/// causal mask `-inf` wherever a key comes after the query (`j > i`), so
/// that position `t` sees only positions `0..=t`. All heads run in one
/// node per product ([`Var::head_scores`], [`Var::head_mix`]), which read
/// each head in place in the `[N, L, E]` projections.
///
/// Parameters: `qkv` is one fused `Linear(E, 3E)` whose weight rows are
/// `W_q; W_k; W_v`, and `out_proj` is `Linear(E, E)`. They are named as in
/// PyTorch's `nn.MultiheadAttention` state dict, so its weights load
/// unchanged: `in_proj_weight` `[3E, E]` (the packed `W_q; W_k; W_v`),
/// `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]` and `out_proj.bias`
/// `[E]` (see the [`Module`] impl). Default init is PyTorch's:
/// `in_proj_weight` Xavier-uniform, `out_proj.weight` from
/// `U(-1/sqrt(E), 1/sqrt(E))`, both biases zero.
///
/// With [`dropout`](MultiHeadAttention::dropout) `p > 0`, the attention
/// weights go through dropout in training mode (the tape's mode and
/// generator, see [`Tape::eval`]).
///
/// ```
/// use tapegrad::nn::{Forward, MultiHeadAttention};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let attn = MultiHeadAttention::<f32>::new(16, 4, &mut rng).causal(true);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::randn(&[2, 5, 16], &mut rng)); // [N, L, E]
/// assert_eq!(attn.forward(x).shape().as_slice(), &[2, 5, 16]);
/// ```
#[derive(Clone, Debug)]
pub struct MultiHeadAttention<T: Float = f32> {
    /// `E -> 3E`: the query, key and value projections, fused (visited as
    /// `in_proj_weight` and `in_proj_bias`).
    pub qkv: Linear<T>,
    /// `E -> E`: the output projection.
    pub out_proj: Linear<T>,
    num_heads: usize,
    causal: bool,
    dropout: f64,
}

impl<T: Float> MultiHeadAttention<T> {
    /// Attention over `embed_dim` features split into `num_heads` heads of
    /// `embed_dim / num_heads`, with biases, not causal, without dropout.
    ///
    /// # Panics
    /// If `num_heads` is 0 or does not divide `embed_dim`.
    pub fn new<R: Rng + ?Sized>(embed_dim: usize, num_heads: usize, rng: &mut R) -> Self {
        assert!(
            num_heads > 0 && embed_dim.is_multiple_of(num_heads),
            "MultiHeadAttention: embed_dim {embed_dim} is not divisible into {num_heads} heads"
        );
        let e = embed_dim;
        let qkv_weight = init::xavier_uniform(&[3 * e, e], 1.0, rng);
        let bound = 1.0 / (e.max(1) as f64).sqrt();
        let out_weight = init::uniform(&[e, e], -bound, bound, rng);
        let linear = |weight, rows| Linear {
            weight: Param::new("weight", weight),
            bias: Some(Param::new("bias", init::zeros(&[rows]))),
        };
        MultiHeadAttention {
            qkv: linear(qkv_weight, 3 * e),
            out_proj: linear(out_weight, e),
            num_heads,
            causal: false,
            dropout: 0.0,
        }
    }

    /// With (`true`) or without a causal mask.
    pub fn causal(mut self, causal: bool) -> Self {
        self.causal = causal;
        self
    }

    /// Dropout with probability `p` on the attention weights in training
    /// mode (0 by default).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn dropout(mut self, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "MultiHeadAttention: dropout must be in [0, 1]: got {p}"
        );
        self.dropout = p;
        self
    }

    /// Without the biases of both projections.
    pub fn without_bias(mut self) -> Self {
        self.qkv.bias = None;
        self.out_proj.bias = None;
        self
    }

    /// Features in and out, `E`.
    pub fn embed_dim(&self) -> usize {
        self.out_proj.out_features()
    }

    /// Number of heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// Features per head, `d = E / heads`.
    pub fn head_dim(&self) -> usize {
        self.embed_dim() / self.num_heads
    }

    /// Whether the causal mask is on.
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// Cross-attention: queries from `q [N, Lq, E]`, keys and values from
    /// `k` and `v`, both `[N, Lk, E]`; the result is `[N, Lq, E]`. Each is
    /// projected by its block of `qkv` (so `attend(x, x, x)` equals
    /// `forward(x)`). The causal mask, if on, hides key `j` from query `i`
    /// when `j > i` (aligned at the top left, as PyTorch's
    /// `scaled_dot_product_attention(is_causal=True)`).
    ///
    /// # Panics
    /// If the shapes are not as above:
    /// `MultiHeadAttention: expects q [N, Lq, 8] and k, v [N, Lk, 8], got
    /// q [2, 3, 8], k [2, 4, 8], v [2, 5, 8]`.
    pub fn attend<'t>(&self, q: Var<'t, T>, k: Var<'t, T>, v: Var<'t, T>) -> Var<'t, T> {
        let e = self.embed_dim();
        let (qd, kd, vd) = (q.shape(), k.shape(), v.shape());
        let ok = qd.len() == 3
            && qd[2] == e
            && kd.len() == 3
            && kd.as_slice() == vd.as_slice()
            && kd[0] == qd[0]
            && kd[2] == e;
        if !ok {
            panic!(
                "MultiHeadAttention: expects q [N, Lq, {e}] and k, v [N, Lk, {e}], \
                 got q {qd:?}, k {kd:?}, v {vd:?}"
            );
        }
        self.project_and_attend(q, k, v)
    }

    /// Projects `q`, `k` and `v` by their blocks of `qkv`, attends, and
    /// applies `out_proj`.
    ///
    /// Three products on row blocks of the weight rather than one product
    /// cut into three afterwards: the same arithmetic, but the backward pass
    /// then adds three `[N, L, E]` input gradients instead of padding three
    /// `[N, L, 3E]` ones, and self-attention shares the code.
    fn project_and_attend<'t>(&self, q: Var<'t, T>, k: Var<'t, T>, v: Var<'t, T>) -> Var<'t, T> {
        let e = self.embed_dim();
        let tape = q.tape();
        let w = tape.param(&self.qkv.weight);
        let b = self.qkv.bias.as_ref().map(|b| tape.param(b));
        // Block `i` of the fused projection (rows i*E..(i+1)*E), times
        // `scale`. The queries' 1/sqrt(d) is applied here, to an [E, E]
        // weight, rather than to the [N, heads, L, d] queries or the
        // [N, heads, L, L] scores.
        let project = |x: Var<'t, T>, i: usize, scale: f64| {
            let (wi, bi) = (w.narrow(0, i * e, e), b.map(|b| b.narrow(0, i * e, e)));
            if scale == 1.0 {
                x.linear(wi, bi)
            } else {
                let s = T::from_f64(scale);
                x.linear(wi * s, bi.map(|b| b * s))
            }
        };
        let scale = 1.0 / (self.head_dim() as f64).sqrt();
        let y = self.heads(project(q, 0, scale), project(k, 1, 1.0), project(v, 2, 1.0));
        self.out_proj.forward(y)
    }

    /// Attention of the projected `q [N, Lq, E]` (already scaled by
    /// 1/sqrt(d)) over `k`, `v` `[N, Lk, E]`, heads merged back: `[N, Lq, E]`.
    fn heads<'t>(&self, q: Var<'t, T>, k: Var<'t, T>, v: Var<'t, T>) -> Var<'t, T> {
        let h = self.num_heads;
        // Each head reads its features in place: no [N, L, h, d] copies.
        let scores = q.head_scores(k, h);
        let tape = q.tape();
        let mut weights = if self.causal {
            // The mask is applied inside the softmax, not added.
            scores.causal_softmax()
        } else {
            scores.softmax(-1)
        };
        if self.dropout > 0.0 && tape.is_training() {
            weights = weights.dropout(self.dropout, &mut *tape.rng());
        }
        weights.head_mix(v, h)
    }
}

/// PyTorch's names: `in_proj_weight` and `in_proj_bias` (the fields
/// `qkv.weight` and `qkv.bias`), then `out_proj.weight` and `out_proj.bias`.
///
/// Earlier versions of tapegrad visited the first two as `qkv.weight` and
/// `qkv.bias`; files, checkpoints and state maps saved under those names
/// still load (see [`Module::load_state`]).
#[diagnostic::do_not_recommend]
impl<T: Float> Module<T> for MultiHeadAttention<T> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        with_child_name(prefix, "in_proj_weight", |name| {
            self.qkv.weight.visit(name, f)
        });
        with_child_name(prefix, "in_proj_bias", |name| self.qkv.bias.visit(name, f));
        with_child_name(prefix, "out_proj", |name| self.out_proj.visit(name, f));
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        with_child_name(prefix, "in_proj_weight", |name| {
            self.qkv.weight.visit_mut(name, f)
        });
        with_child_name(prefix, "in_proj_bias", |name| {
            self.qkv.bias.visit_mut(name, f)
        });
        with_child_name(prefix, "out_proj", |name| self.out_proj.visit_mut(name, f));
    }
}

impl<T: Float> Forward<T> for MultiHeadAttention<T> {
    /// Self-attention: `x [N, L, E] -> [N, L, E]`, the same as
    /// [`attend(x, x, x)`](MultiHeadAttention::attend).
    ///
    /// # Panics
    /// If `x` is not `[N, L, E]`:
    /// `MultiHeadAttention: expects x [N, L, 8], got [2, 8]`.
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let e = self.embed_dim();
        let dims = x.shape();
        if dims.len() != 3 || dims[2] != e {
            panic!("MultiHeadAttention: expects x [N, L, {e}], got {dims:?}");
        }
        self.project_and_attend(x, x, x)
    }
}

/// A pre-norm transformer block (GPT-2's arrangement):
///
/// ```text
/// x = x + dropout(attn(ln1(x)))
/// x = x + dropout(fc2(gelu(fc1(ln2(x)))))
/// ```
///
/// with `attn` a [`MultiHeadAttention`], `ln1`, `ln2` [`LayerNorm`]s over
/// the `E` features, `fc1` `Linear(E, 4E)` and `fc2` `Linear(4E, E)`. GELU
/// is exact by default (PyTorch's `nn.GELU()`); GPT-2 and the W6 benchmark
/// use the tanh approximation, chosen with
/// [`gelu`](TransformerBlock::gelu). Each part has its own default init.
/// Dropout (0 by default) applies in training mode only.
///
/// ```
/// use tapegrad::nn::{Forward, TransformerBlock};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let block = TransformerBlock::<f32>::new(16, 4, &mut rng).causal(true);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::randn(&[2, 5, 16], &mut rng));
/// assert_eq!(block.forward(x).shape().as_slice(), &[2, 5, 16]);
/// ```
#[derive(Module, Clone, Debug)]
pub struct TransformerBlock<T: Float = f32> {
    /// Normalises the attention's input.
    pub ln1: LayerNorm<T>,
    /// Self-attention.
    pub attn: MultiHeadAttention<T>,
    /// Normalises the MLP's input.
    pub ln2: LayerNorm<T>,
    /// `E -> 4E`.
    pub fc1: Linear<T>,
    /// `4E -> E`.
    pub fc2: Linear<T>,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    gelu: GeluApprox,
}

impl<T: Float> TransformerBlock<T> {
    /// A block over `embed_dim` features with `num_heads` heads, not
    /// causal, without dropout.
    ///
    /// # Panics
    /// If `num_heads` is 0 or does not divide `embed_dim`.
    pub fn new<R: Rng + ?Sized>(embed_dim: usize, num_heads: usize, rng: &mut R) -> Self {
        let attn = MultiHeadAttention::new(embed_dim, num_heads, rng);
        TransformerBlock {
            ln1: LayerNorm::new(&[embed_dim]),
            attn,
            ln2: LayerNorm::new(&[embed_dim]),
            fc1: Linear::new(embed_dim, 4 * embed_dim, rng),
            fc2: Linear::new(4 * embed_dim, embed_dim, rng),
            dropout: 0.0,
            gelu: GeluApprox::None,
        }
    }

    /// With (`true`) or without a causal mask in the attention.
    pub fn causal(mut self, causal: bool) -> Self {
        self.attn = self.attn.causal(causal);
        self
    }

    /// Dropout with probability `p` in training mode on the attention
    /// weights and on both branches before they join the residual stream.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn dropout(mut self, p: f64) -> Self {
        self.attn = self.attn.dropout(p);
        self.dropout = p;
        self
    }

    /// The GELU formula in the MLP: exact (`GeluApprox::None`, the
    /// default) or the tanh approximation (`GeluApprox::Tanh`).
    pub fn gelu(mut self, approx: GeluApprox) -> Self {
        self.gelu = approx;
        self
    }

    fn residual_dropout<'t>(&self, x: Var<'t, T>, tape: &Tape<T>) -> Var<'t, T> {
        if self.dropout > 0.0 && tape.is_training() {
            x.dropout(self.dropout, &mut *tape.rng())
        } else {
            x
        }
    }
}

impl<T: Float> Forward<T> for TransformerBlock<T> {
    /// `x [N, L, E] -> [N, L, E]`.
    ///
    /// # Panics
    /// If `x` is not `[N, L, E]` (the attention's message).
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        let x = x + self.residual_dropout(self.attn.forward(self.ln1.forward(x)), tape);
        let hidden = self.fc1.forward(self.ln2.forward(x)).gelu_with(self.gelu);
        x + self.residual_dropout(self.fc2.forward(hidden), tape)
    }
}
