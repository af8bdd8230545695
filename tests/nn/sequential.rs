//! Sequential stacks and whole models: PyTorch-style names, forward passes
//! equal to chaining the layers by hand (or to a naive reference), gradients
//! of every parameter, and the same seed giving the same model.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck_params;
use tapegrad::nn::{
    BatchNorm2d, Conv2d, Dropout, Embedding, Flatten, Forward, Linear, MaxPool2d, Relu, Sequential,
    Tanh,
};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Float, Module, Tape, Tensor, Var};

use crate::common;
use common::{assert_close, conv_reference};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut rng(seed))
}

fn names<T: Float>(m: &impl Module<T>) -> Vec<String> {
    m.named_parameters().into_iter().map(|(n, _)| n).collect()
}

fn mlp(seed: u64) -> Sequential<f64> {
    let mut rng = rng(seed);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Relu)
        .add(Linear::new(8, 2, &mut rng))
}

// ---------------------------------------------------------------- Sequential

#[test]
fn sequential_names_parameters_by_layer_position() {
    let m = mlp(0);
    assert_eq!(names(&m), ["0.weight", "0.bias", "2.weight", "2.bias"]);
    assert_eq!(m.num_params(), (4 * 8 + 8) + (8 * 2 + 2));
    assert_eq!(m.len(), 3);
    assert!(!m.is_empty());
    assert_eq!(format!("{m:?}"), "Sequential[Linear, Relu, Linear]");
}

#[test]
fn sequential_forward_is_the_layers_chained_by_hand() {
    let mut r = rng(1);
    let (l0, l2) = (
        Linear::<f64>::new(4, 8, &mut r),
        Linear::<f64>::new(8, 2, &mut r),
    );
    let m = Sequential::new().add(l0.clone()).add(Relu).add(l2.clone());
    let x = randn(&[5, 4], 2);
    let tape = Tape::new();
    let by_hand = l2.forward(l0.forward(tape.constant(x.clone())).relu());
    let stacked = m.forward(tape.constant(x));
    assert_eq!(stacked.value(), by_hand.value());
}

#[test]
fn sequential_gives_access_to_its_layers() {
    let mut m = mlp(0);
    assert_eq!(m[0].num_params(), 40);
    assert_eq!(m[1].num_params(), 0);
    assert!(m.get(3).is_none());
    let counts: Vec<usize> = m.iter().map(|l| l.num_params()).collect();
    assert_eq!(counts, [40, 0, 18]);
    m[2].freeze();
    assert!(!m.param_by_name("2.weight").unwrap().is_trainable());
    assert!(m.param_by_name("0.weight").unwrap().is_trainable());
    let mut m = m;
    m.push(Tanh);
    assert_eq!(m.len(), 4);
}

#[test]
fn an_empty_sequential_is_the_identity() {
    let m = Sequential::<f64>::default();
    assert!(m.is_empty());
    let tape = Tape::new();
    let x = tape.var(randn(&[2, 3], 0));
    assert_eq!(m.forward(x).index(), x.index());
}

#[test]
fn a_small_cnn_as_a_sequential_passes_gradcheck_in_every_parameter() {
    let mut r = rng(3);
    let opts = Conv2dOptions {
        padding: (1, 1),
        ..Default::default()
    };
    let mut cnn = Sequential::<f64>::new()
        .add(Conv2d::with_options(2, 3, (3, 3), opts, &mut r))
        .add(BatchNorm2d::new(3))
        .add(Relu)
        .add(MaxPool2d::new((2, 2)))
        .add(Flatten)
        .add(Linear::new(3 * 2 * 2, 2, &mut r));
    assert_eq!(
        names(&cnn),
        [
            "0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"
        ]
    );
    let x = randn(&[2, 2, 4, 4], 4);
    let tape = Tape::new();
    assert_eq!(
        cnn.forward(tape.constant(x.clone())).shape().as_slice(),
        &[2, 2]
    );
    gradcheck_params(&mut cnn, |m, tape| m.forward(tape.constant(x.clone()))).unwrap();
}

#[test]
fn dropout_inside_a_sequential_is_inert_in_eval_mode() {
    let mut r = rng(5);
    let (a, b) = (
        Linear::<f64>::new(3, 6, &mut r),
        Linear::<f64>::new(6, 1, &mut r),
    );
    let with = Sequential::new()
        .add(a.clone())
        .add(Tanh)
        .add(Dropout::new(0.5))
        .add(b.clone());
    let without = Sequential::new().add(a).add(Tanh).add(b);
    let x = randn(&[4, 3], 6);
    let tape = Tape::eval();
    assert_eq!(
        with.forward(tape.constant(x.clone())).value(),
        without.forward(tape.constant(x.clone())).value()
    );
    let tape = Tape::new();
    assert_ne!(
        with.forward(tape.constant(x.clone())).value(),
        without.forward(tape.constant(x)).value()
    );
}

#[derive(Module)]
struct Classifier<T: Float> {
    embed: Embedding<T>,
    body: Sequential<T>,
    head: Option<Linear<T>>,
}

#[test]
fn a_sequential_field_nests_under_its_name() {
    let mut r = rng(0);
    let m = Classifier::<f64> {
        embed: Embedding::new(10, 4, &mut r),
        body: Sequential::new().add(Linear::new(4, 4, &mut r)).add(Tanh),
        head: Some(Linear::new(4, 3, &mut r)),
    };
    assert_eq!(
        names(&m),
        [
            "embed.weight",
            "body.0.weight",
            "body.0.bias",
            "head.weight",
            "head.bias"
        ]
    );
    let tape = Tape::new();
    let h = m
        .body
        .forward(m.embed.forward_indices(&tape, &[1, 9, 9], &[3]));
    let y = m.head.as_ref().unwrap().forward(h);
    assert_eq!(y.shape().as_slice(), &[3, 3]);
}

// ---------------------------------------------------------------- the issue's Net

/// The model from the issue's "done when": a struct of a conv and a list of
/// linear layers, with its own forward:
/// conv 1->4 (3x3) -> relu -> 2x2 max pool -> flatten -> 16->8 -> relu -> 8->3.
#[derive(Module)]
struct Net<T: Float = f32> {
    conv: Conv2d<T>,
    fc: Vec<Linear<T>>,
}

impl<T: Float> Net<T> {
    fn new(seed: u64) -> Self {
        let mut r = rng(seed);
        Net {
            conv: Conv2d::new(1, 4, (3, 3), &mut r),
            fc: vec![Linear::new(16, 8, &mut r), Linear::new(8, 3, &mut r)],
        }
    }

    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let h = MaxPool2d::new((2, 2)).forward(self.conv.forward(x).relu());
        let h = self.fc[0].forward(Flatten.forward(h)).relu();
        self.fc[1].forward(h)
    }
}

/// `x [N, K] W^T + b`, by loops.
fn linear_reference(x: &[f64], n: usize, w: &Tensor<f64>, b: &Tensor<f64>) -> Vec<f64> {
    let (out, k) = (w.shape()[0], w.shape()[1]);
    let mut y = Vec::with_capacity(n * out);
    for i in 0..n {
        for o in 0..out {
            let dot: f64 = (0..k).map(|j| x[i * k + j] * w.get(&[o, j])).sum();
            y.push(dot + b.get(&[o]));
        }
    }
    y
}

#[test]
fn the_issues_net_has_dotted_names_and_the_reference_forward() {
    let net = Net::<f32>::new(11);
    assert_eq!(
        names(&net),
        [
            "conv.weight",
            "conv.bias",
            "fc.0.weight",
            "fc.0.bias",
            "fc.1.weight",
            "fc.1.bias"
        ]
    );
    assert!(net.param_by_name("fc.1.bias").is_some());

    let x32: Tensor<f32> = Tensor::randn(&[2, 1, 6, 6], &mut rng(12));
    let tape = Tape::new();
    let y = net.forward(tape.constant(x32.clone())).value();
    assert_eq!(y.shape(), &[2, 3]);

    // The same computation by loops in f64 from the f32 weights.
    let p = |name: &str| net.param_by_name(name).unwrap().value().cast::<f64>();
    let conv = conv_reference(
        &x32.cast(),
        &p("conv.weight"),
        Some(&p("conv.bias")),
        Conv2dOptions::default(),
    ); // [2, 4, 4, 4]
    let mut pooled = Vec::new(); // [2, 4, 2, 2] flattened to [2, 16]
    for n in 0..2 {
        for c in 0..4 {
            for i in 0..2 {
                for j in 0..2 {
                    let window = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .map(|(u, v)| conv.get(&[n, c, 2 * i + u, 2 * j + v]).max(0.0));
                    pooled.push(window.into_iter().fold(f64::MIN, f64::max));
                }
            }
        }
    }
    let h: Vec<f64> = linear_reference(&pooled, 2, &p("fc.0.weight"), &p("fc.0.bias"))
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    let expected = linear_reference(&h, 2, &p("fc.1.weight"), &p("fc.1.bias"));
    assert_close(&y.cast::<f64>().to_vec(), &expected, 1e-5);
}

#[test]
fn the_issues_net_passes_gradcheck_in_f64() {
    let mut net = Net::<f64>::new(13);
    let x = randn(&[2, 1, 6, 6], 14);
    gradcheck_params(&mut net, |m, tape| m.forward(tape.constant(x.clone()))).unwrap();
}

// ---------------------------------------------------------------- seeds

fn values<T: Float>(m: &impl Module<T>) -> Vec<Tensor<T>> {
    m.parameters()
        .into_iter()
        .map(|p| p.value().clone())
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_model() {
    assert_eq!(values(&mlp(7)), values(&mlp(7)));
    assert_ne!(values(&mlp(7)), values(&mlp(8)));
    assert_eq!(values(&Net::<f32>::new(7)), values(&Net::<f32>::new(7)));
    assert_ne!(values(&Net::<f32>::new(7)), values(&Net::<f32>::new(8)));
    let emb = |s| Embedding::<f32>::new(5, 3, &mut rng(s));
    assert_eq!(values(&emb(1)), values(&emb(1)));
    assert_ne!(values(&emb(1)), values(&emb(2)));
}

#[test]
fn models_built_from_layers_can_cross_threads() {
    fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<tapegrad::nn::Sequential<f32>>();
}
