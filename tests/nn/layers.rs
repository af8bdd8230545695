//! Layers without running state: Conv2d, pooling, Flatten, Embedding,
//! Dropout and the activations. Forward values against hand derivations or
//! a naive reference (`common/mod.rs`); parameter gradients against finite
//! differences in f64; default init against PyTorch's documented bounds.
//! (BatchNorm is in `batch_norm.rs`, Sequential and whole nets in
//! `sequential.rs`.)

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::{gradcheck, gradcheck_params};
use tapegrad::nn::{
    AvgPool2d, Conv2d, Dropout, Elu, Embedding, Flatten, Forward, Gelu, GeluTanh, Layer, LeakyRelu,
    MaxPool2d, Relu, Sigmoid, Silu, Softplus, Tanh,
};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Module, Tape, Tensor, tensor};

use crate::common;
use common::{assert_close, conv_reference};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut rng(seed))
}

// ---------------------------------------------------------------- Conv2d

/// A 1->1 channel 2x2 conv with weight [[1, 2], [3, 4]] and bias 0.5.
fn small_conv() -> Conv2d<f64> {
    let mut conv = Conv2d::<f64>::new(1, 1, (2, 2), &mut rng(0));
    *conv.weight.value_mut() = tensor![[[[1.0, 2.0], [3.0, 4.0]]]];
    *conv.bias.as_mut().unwrap().value_mut() = tensor![0.5];
    conv
}

fn one_to_nine() -> Tensor<f64> {
    Tensor::from_vec((1..=9).map(f64::from).collect(), &[1, 1, 3, 3]).unwrap()
}

#[test]
fn conv2d_forward_is_the_hand_computed_correlation() {
    // x = [[1,2,3],[4,5,6],[7,8,9]]; each output is 1a + 2b + 3c + 4d + 0.5
    // over its 2x2 window [[a, b], [c, d]]:
    // top-left  1*1 + 2*2 + 3*4 + 4*5 + 0.5 = 37.5
    // top-right 1*2 + 2*3 + 3*5 + 4*6 + 0.5 = 47.5
    // bottom-left 1*4 + 2*5 + 3*7 + 4*8 + 0.5 = 67.5
    // bottom-right 1*5 + 2*6 + 3*8 + 4*9 + 0.5 = 77.5
    let tape = Tape::new();
    let y = small_conv().forward(tape.constant(one_to_nine()));
    assert_eq!(y.shape().as_slice(), &[1, 1, 2, 2]);
    assert_eq!(y.value().to_vec(), vec![37.5, 47.5, 67.5, 77.5]);
}

#[test]
fn conv2d_stride_and_padding_read_zeros_outside_the_input() {
    // padding 1, stride 2: OH = (3 + 2 - 2) / 2 + 1 = 2. The windows start at
    // rows/cols -1 and 1 of the input:
    // [0,0]: only x[0,0] under w[1,1]:          4*1 + 0.5 = 4.5
    // [0,1]: x[0,1], x[0,2] under w[1,0], w[1,1]: 3*2 + 4*3 + 0.5 = 18.5
    // [1,0]: x[1,0], x[2,0] under w[0,1], w[1,1]: 2*4 + 4*7 + 0.5 = 36.5
    // [1,1]: the full window over rows/cols 1..2: 5 + 12 + 24 + 36 + 0.5 = 77.5
    let conv = small_conv().padding((1, 1)).stride((2, 2));
    let tape = Tape::new();
    let y = conv.forward(tape.constant(one_to_nine()));
    assert_eq!(y.value().to_vec(), vec![4.5, 18.5, 36.5, 77.5]);
}

#[test]
fn conv2d_groups_keep_channels_apart() {
    // Two groups of one channel, 1x1 kernels 2 and 3, biases 1 and -1:
    // channel 0 is 2x + 1 of input channel 0, channel 1 is 3x - 1 of channel 1.
    let opts = Conv2dOptions {
        groups: 2,
        ..Default::default()
    };
    let mut conv = Conv2d::<f64>::with_options(2, 2, (1, 1), opts, &mut rng(0));
    assert_eq!(conv.weight.shape(), &[2, 1, 1, 1]);
    *conv.weight.value_mut() = Tensor::from_vec(vec![2.0, 3.0], &[2, 1, 1, 1]).unwrap();
    *conv.bias.as_mut().unwrap().value_mut() = tensor![1.0, -1.0];
    let x = tensor![[[[1.0, 2.0]], [[10.0, 20.0]]]]; // [1, 2, 1, 2]
    let tape = Tape::new();
    let y = conv.forward(tape.constant(x)).value();
    assert_eq!(y.to_vec(), vec![3.0, 5.0, 29.0, 59.0]);
}

#[test]
fn conv2d_matches_the_naive_definition_with_every_option() {
    let cases = [
        (3, 4, (3, 3), Conv2dOptions::default()),
        (
            4,
            6,
            (3, 2),
            Conv2dOptions {
                stride: (2, 1),
                padding: (1, 2),
                dilation: (1, 2),
                groups: 2,
            },
        ),
        (
            2,
            2,
            (1, 3),
            Conv2dOptions {
                stride: (1, 3),
                padding: (0, 1),
                dilation: (1, 1),
                groups: 2,
            },
        ),
    ];
    for (k, (c_in, c_out, kernel, opts)) in cases.into_iter().enumerate() {
        let conv = Conv2d::<f64>::with_options(c_in, c_out, kernel, opts, &mut rng(k as u64));
        let x = randn(&[2, c_in, 5, 6], 10 + k as u64);
        let tape = Tape::new();
        let y = conv.forward(tape.constant(x.clone())).value();
        let expected = conv_reference(
            &x,
            conv.weight.value(),
            conv.bias.as_ref().map(|b| b.value()),
            opts,
        );
        assert_eq!(y.shape(), expected.shape(), "case {k}");
        assert_close(y.as_slice(), expected.as_slice(), 1e-12);
    }
}

#[test]
fn conv2d_parameter_grads_match_finite_differences() {
    let opts = Conv2dOptions {
        stride: (2, 1),
        padding: (1, 2),
        dilation: (1, 2),
        groups: 2,
    };
    let mut conv = Conv2d::<f64>::with_options(4, 6, (3, 2), opts, &mut rng(1));
    let x = randn(&[2, 4, 5, 6], 2);
    gradcheck_params(&mut conv, |m, tape| m.forward(tape.constant(x.clone()))).unwrap();

    let mut plain = Conv2d::<f64>::new(2, 3, (2, 2), &mut rng(3))
        .without_bias()
        .stride((2, 2))
        .padding((1, 0));
    assert_eq!(plain.parameters().len(), 1);
    let x = randn(&[1, 2, 4, 5], 4);
    gradcheck_params(&mut plain, |m, tape| {
        m.forward(tape.constant(x.clone())).tanh()
    })
    .unwrap();
}

#[test]
fn conv2d_default_init_is_uniform_within_one_over_sqrt_fan_in() {
    // fan_in = C_in / groups * kH * kW = 4 / 2 * 3 * 3 = 18
    let opts = Conv2dOptions {
        groups: 2,
        ..Default::default()
    };
    let conv = Conv2d::<f32>::with_options(4, 8, (3, 3), opts, &mut rng(5));
    assert_eq!(conv.weight.shape(), &[8, 2, 3, 3]);
    assert_eq!(conv.bias.as_ref().unwrap().shape(), &[8]);
    let bound = 1.0 / 18f32.sqrt();
    let w = conv.weight.value().as_slice();
    assert!(w.iter().all(|v| v.abs() <= bound));
    // 144 uniform draws: the largest comes near the bound (it would not if
    // the bound were, say, that of fan_in = 36)
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max > 0.9 * bound, "max |w| {max}, bound {bound}");
    let b = conv.bias.as_ref().unwrap().value().as_slice();
    assert!(b.iter().all(|v| v.abs() <= bound));
    assert_eq!(
        (conv.in_channels(), conv.out_channels(), conv.kernel_size()),
        (4, 8, (3, 3))
    );
    assert_eq!(conv.options(), opts);
}

#[test]
fn conv2d_names_its_parameters_like_pytorch() {
    let conv = Conv2d::<f32>::new(1, 2, (3, 3), &mut rng(0));
    let names: Vec<String> = conv
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(conv.num_params(), 2 * 9 + 2);
}

#[test]
#[should_panic(expected = "Conv2d: groups 3 must divide both channel counts: in 4, out 6")]
fn conv2d_rejects_groups_that_do_not_divide_the_channels() {
    let opts = Conv2dOptions {
        groups: 3,
        ..Default::default()
    };
    Conv2d::<f32>::with_options(4, 6, (3, 3), opts, &mut rng(0));
}

#[test]
#[should_panic(expected = "Conv2d: stride must be positive: got (0, 1)")]
fn conv2d_rejects_a_zero_stride() {
    let _ = Conv2d::<f32>::new(1, 1, (3, 3), &mut rng(0)).stride((0, 1));
}

#[test]
#[should_panic(expected = "conv2d: input has 2 channels but weight expects 3")]
fn conv2d_forward_names_the_channel_mismatch() {
    let conv = Conv2d::<f32>::new(3, 1, (1, 1), &mut rng(0));
    let tape = Tape::new();
    conv.forward(tape.constant(Tensor::zeros(&[1, 2, 4, 4])));
}

// ---------------------------------------------------------------- pooling

#[test]
fn max_pool2d_takes_each_windows_largest_value() {
    // 4x4 input split into four 2x2 windows (stride defaults to the kernel):
    // [[1, 5 | 2, 0],
    //  [3, 4 | 8, 1],
    //  [-1,-2| 6, 7],
    //  [-3,-4| 9, 6]]  -> [[5, 8], [-1, 9]]
    let x = tensor![[[
        [1.0, 5.0, 2.0, 0.0],
        [3.0, 4.0, 8.0, 1.0],
        [-1.0, -2.0, 6.0, 7.0],
        [-3.0, -4.0, 9.0, 6.0]
    ]]];
    let tape = Tape::<f64>::new();
    let pool = MaxPool2d::new((2, 2));
    assert_eq!(pool.stride, (2, 2));
    let y = pool.forward(tape.constant(x.clone()));
    assert_eq!(y.value().to_vec(), vec![5.0, 8.0, -1.0, 9.0]);

    // 3x3 windows one apart: OH = (4 - 3) / 1 + 1 = 2; maxima 8, 8, 9, 9
    let y = MaxPool2d::new((3, 3))
        .stride((1, 1))
        .forward(tape.constant(x));
    assert_eq!(y.value().to_vec(), vec![8.0, 8.0, 9.0, 9.0]);
}

#[test]
fn avg_pool2d_divides_by_the_kernel_area_padding_included() {
    // x = [[1, 2], [3, 4]]; padding 1 with 2x2 windows 2 apart gives four
    // windows each seeing one element: 1/4, 2/4, 3/4, 4/4
    let x = tensor![[[[1.0, 2.0], [3.0, 4.0]]]];
    let tape = Tape::<f64>::new();
    let y = AvgPool2d::new((2, 2))
        .padding((1, 1))
        .forward(tape.constant(x.clone()));
    assert_eq!(y.value().to_vec(), vec![0.25, 0.5, 0.75, 1.0]);
    // one window over everything: (1 + 2 + 3 + 4) / 4
    let y = AvgPool2d::new((2, 2)).forward(tape.constant(x));
    assert_eq!(y.value().to_vec(), vec![2.5]);
}

#[test]
fn layers_without_parameters_have_none_in_either_float_type() {
    fn none<L: Module<f32> + Module<f64>>(layer: L) {
        assert_eq!(Module::<f32>::num_params(&layer), 0);
        assert_eq!(Module::<f64>::num_params(&layer), 0);
    }
    none(MaxPool2d::new((2, 2)));
    none(AvgPool2d::new((2, 2)));
    none(Flatten);
    none(Dropout::new(0.1));
    none(Relu);
    none(LeakyRelu(0.2));
    none(GeluTanh);
}

// ---------------------------------------------------------------- Flatten

#[test]
fn flatten_merges_every_axis_after_the_batch_in_row_major_order() {
    let x = randn(&[2, 3, 2, 2], 0);
    let tape = Tape::new();
    let y = Flatten.forward(tape.constant(x.clone()));
    assert_eq!(y.shape().as_slice(), &[2, 12]);
    assert_eq!(y.value().to_vec(), x.to_vec());
    assert_eq!(y.value().get(&[1, 5]), x.get(&[1, 1, 0, 1])); // 5 = 1*4 + 0*2 + 1
    let y = Flatten.forward(tape.constant(Tensor::<f64>::zeros(&[4, 7])));
    assert_eq!(y.shape().as_slice(), &[4, 7]);
}

#[test]
#[should_panic(expected = "Flatten: input must have a batch axis and at least one more: got [5]")]
fn flatten_needs_two_axes() {
    let tape = Tape::<f32>::new();
    Flatten.forward(tape.constant(Tensor::zeros(&[5])));
}

// ---------------------------------------------------------------- Embedding

fn table() -> Embedding<f64> {
    let mut emb = Embedding::<f64>::new(3, 2, &mut rng(0));
    *emb.weight.value_mut() = tensor![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    emb
}

#[test]
fn embedding_looks_up_rows_into_the_index_shape() {
    let tape = Tape::new();
    let y = table().forward_indices(&tape, &[2, 0, 2, 1], &[2, 2]);
    assert_eq!(y.shape().as_slice(), &[2, 2, 2]);
    assert_eq!(
        y.value().to_vec(),
        vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0, 3.0, 4.0]
    );
    // the Forward impl reads a var's values as the indices
    let ids = tape.constant(tensor![[2.0, 0.0], [2.0, 1.0]]);
    assert_eq!(table().forward(ids).value(), y.value());
}

#[test]
fn embedding_rows_picked_twice_get_both_gradients() {
    // y = rows [2, 2, 0]; d(sum y)/dW: row 2 twice (2s), row 0 once, row 1 never
    let emb = table();
    let tape = Tape::new();
    let grads = emb
        .forward_indices(&tape, &[2, 2, 0], &[3])
        .sum()
        .backward();
    assert_eq!(
        grads.of(&emb.weight).to_vec(),
        vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
    );

    let mut emb = Embedding::<f64>::new(5, 3, &mut rng(1));
    gradcheck_params(&mut emb, |m, tape| {
        m.forward_indices(tape, &[4, 1, 4, 4, 0, 1], &[2, 3]).tanh()
    })
    .unwrap();
}

#[test]
fn embedding_default_init_is_standard_normal() {
    let emb = Embedding::<f64>::new(200, 50, &mut rng(2));
    assert_eq!((emb.num_embeddings(), emb.embedding_dim()), (200, 50));
    let w = emb.weight.value().as_slice();
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // 10000 draws: the standard error of the mean is 0.01, of the std ~0.007
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!((std - 1.0).abs() < 0.05, "std {std}");
}

#[test]
#[should_panic(expected = "Embedding: index 3 is out of range for 3 embeddings: weight [3, 2]")]
fn embedding_rejects_an_index_past_the_table() {
    let tape = Tape::new();
    table().forward_indices(&tape, &[0, 3], &[2]);
}

#[test]
#[should_panic(expected = "Embedding: 3 indices do not fill shape [2, 2]")]
fn embedding_checks_the_index_count_against_the_shape() {
    let tape = Tape::new();
    table().forward_indices(&tape, &[0, 1, 2], &[2, 2]);
}

#[test]
#[should_panic(
    expected = "Embedding: input values must be whole numbers to use as indices: got 1.5"
)]
fn embedding_forward_rejects_fractional_indices() {
    let tape = Tape::new();
    table().forward(tape.constant(tensor![1.5]));
}

// ---------------------------------------------------------------- Dropout

#[test]
fn dropout_is_the_identity_in_eval_mode() {
    let tape = Tape::<f64>::eval();
    let x = tape.var(randn(&[3, 4], 0));
    let y = Dropout::new(0.9).forward(x);
    assert_eq!(y.index(), x.index(), "no node recorded");
}

#[test]
fn dropout_in_training_zeroes_or_rescales_and_follows_the_tape_seed() {
    let x = Tensor::<f64>::ones(&[2000]);
    let run = |seed: Option<u64>| {
        let tape = Tape::<f64>::new();
        if let Some(s) = seed {
            tape.seed(s);
        }
        Dropout::new(0.25).forward(tape.constant(x.clone())).value()
    };
    let y = run(Some(42));
    // kept values are scaled by 1 / (1 - 0.25)
    assert!(y.as_slice().iter().all(|&v| v == 0.0 || v == 4.0 / 3.0));
    let dropped = y.as_slice().iter().filter(|&&v| v == 0.0).count();
    assert!((400..600).contains(&dropped), "{dropped} of 2000 dropped");
    assert_eq!(run(Some(42)), y, "same seed, same mask");
    assert_ne!(run(Some(43)), y, "another seed, another mask");
    assert_eq!(run(None), run(Some(0)), "a fresh tape is seeded with 0");
}

#[test]
#[should_panic(expected = "Dropout: p must be in [0, 1]: got 1.5")]
fn dropout_rejects_a_probability_above_one() {
    Dropout::new(1.5);
}

// ---------------------------------------------------------------- activations

#[test]
fn activations_apply_their_formulas_elementwise() {
    let xs = [-2.0, -0.5, 0.0, 1.0, 3.0];
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let phi = |x: f64| 0.5 * (1.0 + libm::erf(x / 2f64.sqrt()));
    let gelu_tanh = |x: f64| {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
    };
    type Case = (&'static str, Box<dyn Layer<f64>>, Box<dyn Fn(f64) -> f64>);
    let cases: Vec<Case> = vec![
        ("relu", Box::new(Relu), Box::new(|x: f64| x.max(0.0))),
        ("tanh", Box::new(Tanh), Box::new(f64::tanh)),
        ("sigmoid", Box::new(Sigmoid), Box::new(sigmoid)),
        ("gelu", Box::new(Gelu), Box::new(move |x| x * phi(x))),
        ("gelu_tanh", Box::new(GeluTanh), Box::new(gelu_tanh)),
        ("silu", Box::new(Silu), Box::new(move |x| x * sigmoid(x))),
        (
            "leaky_relu",
            Box::new(LeakyRelu(0.1)),
            Box::new(|x: f64| if x > 0.0 { x } else { 0.1 * x }),
        ),
        (
            "elu",
            Box::new(Elu(2.0)),
            Box::new(|x: f64| if x > 0.0 { x } else { 2.0 * (x.exp() - 1.0) }),
        ),
        (
            "softplus",
            Box::new(Softplus),
            Box::new(|x: f64| (1.0 + x.exp()).ln()),
        ),
    ];
    for (name, layer, f) in &cases {
        let tape = Tape::new();
        let x = Tensor::from_vec(xs.to_vec(), &[5]).unwrap();
        let y = layer.forward(tape.constant(x)).value();
        let expected: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
        for (k, (a, b)) in y.as_slice().iter().zip(&expected).enumerate() {
            assert!((a - b).abs() < 1e-12, "{name} at {}: {a} vs {b}", xs[k]);
        }
        // and the gradient flows through (away from relu's kink at 0)
        let x = Tensor::from_vec(vec![-1.3, 0.4, 2.2], &[3]).unwrap();
        gradcheck(|v| layer.forward(v[0]), &[x]).unwrap();
    }
    // known values: GELU(1) = Phi(1) = 0.8413447460685429, softplus(0) = ln 2
    let tape = Tape::<f64>::new();
    assert!(
        (Gelu.forward(tape.constant(tensor![1.0])).value().item() - 0.841_344_746_068_542_9).abs()
            < 1e-15
    );
    assert_eq!(
        Softplus.forward(tape.constant(tensor![0.0])).value().item(),
        2f64.ln()
    );
}

#[test]
fn parametrised_activations_default_to_pytorchs_constants() {
    assert_eq!(LeakyRelu::default(), LeakyRelu(0.01));
    assert_eq!(Elu::default(), Elu(1.0));
    assert_eq!(Dropout::default().p(), 0.5);
}
