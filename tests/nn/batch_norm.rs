//! BatchNorm1d and BatchNorm2d: batch statistics in training, the running
//! statistics' momentum update (worked out by hand below), their use in
//! evaluation, and parameter gradients in both modes.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::{gradcheck, gradcheck_params};
use tapegrad::nn::{BatchNorm1d, BatchNorm2d, Forward, RunningStats};
use tapegrad::{Module, Tape, Tensor, tensor};

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut StdRng::seed_from_u64(seed))
}

fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
    }
}

/// Weight [2, 3] and bias [0.5, -1] on a two-channel layer.
fn affine_1d() -> BatchNorm1d<f64> {
    let mut bn = BatchNorm1d::<f64>::new(2);
    *bn.weight.as_mut().unwrap().value_mut() = tensor![2.0, 3.0];
    *bn.bias.as_mut().unwrap().value_mut() = tensor![0.5, -1.0];
    bn
}

#[test]
fn defaults_are_pytorchs() {
    let bn = BatchNorm2d::<f32>::new(3);
    assert_eq!(bn.weight.as_ref().unwrap().value().to_vec(), vec![1.0; 3]);
    assert_eq!(bn.bias.as_ref().unwrap().value().to_vec(), vec![0.0; 3]);
    let stats = bn.running_stats();
    assert_eq!(stats.running_mean.to_vec(), vec![0.0; 3]);
    assert_eq!(stats.running_var.to_vec(), vec![1.0; 3]);
    assert_eq!(stats.num_batches_tracked, 0);
    // only weight and bias are parameters; the statistics are buffers
    let names: Vec<String> = bn.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(bn.num_params(), 6);
    assert_eq!(bn.num_features(), 3);
}

#[test]
fn training_normalises_each_channel_with_the_batch_statistics() {
    // channel 0 holds {1, 3}: mean 2, biased var 1  -> xhat -1, 1
    // channel 1 holds {10, 14}: mean 12, biased var 4 -> xhat -1, 1
    // y = xhat * [2, 3] + [0.5, -1] = [[-1.5, -4], [2.5, 2]]
    let bn = affine_1d().eps(0.0);
    let tape = Tape::new();
    let y = bn.forward(tape.constant(tensor![[1.0, 10.0], [3.0, 14.0]]));
    assert_eq!(y.value().to_vec(), vec![-1.5, -4.0, 2.5, 2.0]);
}

#[test]
fn batch_norm_2d_takes_statistics_over_batch_and_space() {
    // [N=2, C=2, H=2, W=2]. Channel 0: four 1s then four 3s -> mean 2,
    // var 1, xhat = x - 2. Channel 1: seven 0s and one 8 -> mean 1,
    // var (7 * 1 + 49) / 8 = 7, xhat = (x - 1) / sqrt 7.
    let x = Tensor::from_vec(
        vec![
            1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, // n = 0: c0, c1
            3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 8.0, // n = 1: c0, c1
        ],
        &[2, 2, 2, 2],
    )
    .unwrap();
    let bn = BatchNorm2d::<f64>::new(2).eps(0.0);
    let tape = Tape::new();
    let y = bn.forward(tape.constant(x.clone())).value();
    let s7 = 7f64.sqrt();
    let expected: Vec<f64> = x
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (i / 4) % 2 == 0 {
                v - 2.0
            } else {
                (v - 1.0) / s7
            }
        })
        .collect();
    assert_close(y.as_slice(), &expected, 1e-12);
    // running: mean 0.1 * [2, 1]; var 0.9 * 1 + 0.1 * unbiased [8/7, 56/7]
    let stats = bn.running_stats();
    assert_close(stats.running_mean.as_slice(), &[0.2, 0.1], 1e-15);
    assert_close(
        stats.running_var.as_slice(),
        &[0.9 + 0.8 / 7.0, 0.9 + 0.8],
        1e-15,
    );
}

/// The two batches below and the statistics they leave, worked by hand.
///
/// Batch 1 `[[1, 10], [3, 14]]`: mean [2, 12], unbiased var [2, 8].
///   running_mean = 0.9 * 0 + 0.1 * [2, 12]  = [0.2, 1.2]
///   running_var  = 0.9 * 1 + 0.1 * [2, 8]   = [1.1, 1.7]
/// Batch 2 `[[0, 4], [4, 8], [8, 0]]`: mean [4, 4], unbiased var
///   [(16 + 0 + 16) / 2, (0 + 16 + 16) / 2] = [16, 16].
///   running_mean = 0.9 * [0.2, 1.2] + 0.1 * [4, 4]  = [0.58, 1.48]
///   running_var  = 0.9 * [1.1, 1.7] + 0.1 * [16, 16] = [2.59, 3.13]
fn train_two_batches(bn: &BatchNorm1d<f64>) {
    for batch in [
        tensor![[1.0, 10.0], [3.0, 14.0]],
        tensor![[0.0, 4.0], [4.0, 8.0], [8.0, 0.0]],
    ] {
        let tape = Tape::new();
        bn.forward(tape.constant(batch));
    }
}

#[test]
fn running_statistics_follow_the_momentum_update_with_unbiased_variance() {
    let bn = affine_1d();
    train_two_batches(&bn);
    let stats = bn.running_stats();
    assert_close(stats.running_mean.as_slice(), &[0.58, 1.48], 1e-14);
    assert_close(stats.running_var.as_slice(), &[2.59, 3.13], 1e-14);
    assert_eq!(stats.num_batches_tracked, 2);
}

#[test]
fn a_different_momentum_weighs_the_batch_differently() {
    // momentum 0.5 after batch 1: mean 0.5 * [2, 12], var 0.5 + 0.5 * [2, 8]
    let bn = BatchNorm1d::<f64>::new(2).momentum(0.5);
    let tape = Tape::new();
    bn.forward(tape.constant(tensor![[1.0, 10.0], [3.0, 14.0]]));
    let stats = bn.running_stats();
    assert_eq!(stats.running_mean.to_vec(), vec![1.0, 6.0]);
    assert_eq!(stats.running_var.to_vec(), vec![1.5, 4.5]);
}

#[test]
fn eval_mode_normalises_with_the_running_statistics_and_leaves_them_alone() {
    let bn = affine_1d();
    train_two_batches(&bn);
    // y = (x - [0.58, 1.48]) / sqrt([2.59, 3.13] + 1e-5) * [2, 3] + [0.5, -1]
    let x = [[1.58, 2.48], [-3.0, 7.0]];
    let tape = Tape::eval();
    let y = bn
        .forward(tape.constant(Tensor::from_nested(x)))
        .value()
        .to_vec();
    let (mean, var, w, b): ([f64; 2], [f64; 2], [f64; 2], [f64; 2]) =
        ([0.58, 1.48], [2.59, 3.13], [2.0, 3.0], [0.5, -1.0]);
    let expected: Vec<f64> = x
        .iter()
        .flat_map(|row| {
            (0..2).map(move |c| (row[c] - mean[c]) / (var[c] + 1e-5).sqrt() * w[c] + b[c])
        })
        .collect();
    assert_close(&y, &expected, 1e-12);
    let stats = bn.running_stats();
    assert_eq!(stats.num_batches_tracked, 2, "eval does not count batches");
    assert_close(stats.running_mean.as_slice(), &[0.58, 1.48], 1e-14);
    // a single example is fine in eval mode (it would panic in training)
    let one = bn.forward(tape.constant(tensor![[0.58, 1.48]]));
    assert_close(&one.value().to_vec(), &[0.5, -1.0], 1e-12);
}

#[test]
fn eval_mode_on_a_3d_input_broadcasts_over_the_length_axis() {
    // [N, C, L] with running mean 0.2 and var 1.1 in channel 0 after one
    // batch; in eval every position of channel 0 maps through the same affine.
    let bn = BatchNorm1d::<f64>::new(1);
    {
        let tape = Tape::new();
        bn.forward(tape.constant(tensor![[[1.0, 3.0]], [[1.0, 3.0]]]));
    }
    // batch mean 2, unbiased var 4/3: running mean 0.2, var 0.9 + 0.4/3
    let (m, v) = (0.2, 0.9 + 0.4 / 3.0);
    let tape = Tape::eval();
    let y = bn.forward(tape.constant(tensor![[[0.2, 1.2, -0.8]]]));
    let s = (v + 1e-5f64).sqrt();
    assert_close(
        &y.value().to_vec(),
        &[(0.2 - m) / s, (1.2 - m) / s, (-0.8 - m) / s],
        1e-12,
    );
}

#[test]
fn parameter_grads_match_finite_differences_in_training_mode() {
    let mut bn1 = affine_1d();
    let x2 = randn(&[4, 2], 0);
    gradcheck_params(&mut bn1, |m, tape| m.forward(tape.constant(x2.clone()))).unwrap();
    let x3 = randn(&[3, 2, 5], 1);
    gradcheck_params(&mut bn1, |m, tape| {
        m.forward(tape.constant(x3.clone())).tanh()
    })
    .unwrap();

    let mut bn2 = BatchNorm2d::<f64>::new(3);
    *bn2.weight.as_mut().unwrap().value_mut() = randn(&[3], 2);
    *bn2.bias.as_mut().unwrap().value_mut() = randn(&[3], 3);
    let x = randn(&[2, 3, 4, 3], 4);
    gradcheck_params(&mut bn2, |m, tape| {
        m.forward(tape.constant(x.clone())).tanh()
    })
    .unwrap();
}

#[test]
fn grads_reach_input_weight_and_bias_in_eval_mode() {
    let mut bn = BatchNorm2d::<f64>::new(2);
    *bn.weight.as_mut().unwrap().value_mut() = tensor![1.5, -0.7];
    {
        let tape = Tape::new();
        bn.forward(tape.constant(randn(&[3, 2, 2, 2], 5)));
    }
    let x = randn(&[2, 2, 3, 3], 6);
    gradcheck_params(&mut bn, |m, tape| {
        tape.set_training(false);
        m.forward(tape.constant(x.clone())).tanh()
    })
    .unwrap();
    gradcheck(
        |v| {
            v[0].tape().set_training(false);
            bn.forward(v[0])
        },
        &[x],
    )
    .unwrap();
    // the eval passes above did not move the statistics
    assert_eq!(bn.running_stats().num_batches_tracked, 1);
}

#[test]
fn without_affine_there_are_no_parameters_and_the_output_is_standardised() {
    let bn = BatchNorm1d::<f64>::new(2).without_affine().eps(0.0);
    assert_eq!(bn.num_params(), 0);
    let tape = Tape::new();
    let y = bn.forward(tape.constant(tensor![[1.0, 10.0], [3.0, 14.0]]));
    assert_eq!(y.value().to_vec(), vec![-1.0, -1.0, 1.0, 1.0]);
    // eval without affine: (x - 0.1 * [2, 12]) / sqrt(0.9 + 0.1 * [2, 8])
    let tape = Tape::eval();
    let y = bn.forward(tape.constant(tensor![[0.2, 1.2]]));
    assert_close(&y.value().to_vec(), &[0.0, 0.0], 1e-15);
    let y = bn.forward(tape.constant(tensor![[1.2, 2.2]]));
    assert_close(
        &y.value().to_vec(),
        &[1.0 / 1.1f64.sqrt(), 1.0 / 1.7f64.sqrt()],
        1e-15,
    );
}

#[test]
fn running_statistics_can_be_read_replaced_and_reset() {
    let mut bn = BatchNorm1d::<f64>::new(2);
    let stats = RunningStats {
        running_mean: tensor![1.0, -1.0],
        running_var: tensor![4.0, 0.25],
        num_batches_tracked: 7,
    };
    bn.set_running_stats(stats.clone());
    assert_eq!(bn.running_stats(), stats);
    // eval uses them (eps 0): (x - mean) / sqrt(var)
    let bn = bn.eps(0.0);
    let tape = Tape::eval();
    let y = bn.forward(tape.constant(tensor![[3.0, 0.0]]));
    assert_eq!(y.value().to_vec(), vec![1.0, 2.0]);
    let mut bn = bn;
    bn.reset_running_stats();
    assert_eq!(bn.running_stats().running_var.to_vec(), vec![1.0, 1.0]);
    assert_eq!(bn.running_stats().num_batches_tracked, 0);
}

#[test]
fn a_clone_has_its_own_running_statistics() {
    let bn = affine_1d();
    let copy = bn.clone();
    train_two_batches(&bn);
    assert_eq!(copy.running_stats().num_batches_tracked, 0);
    assert_eq!(copy.running_stats().running_mean.to_vec(), vec![0.0, 0.0]);
    assert_eq!(
        copy.weight.as_ref().unwrap().id(),
        bn.weight.as_ref().unwrap().id()
    );
}

#[test]
fn layers_stay_send_and_sync() {
    fn check<L: Send + Sync>() {}
    check::<BatchNorm1d>();
    check::<BatchNorm2d<f64>>();
}

#[test]
#[should_panic(expected = "BatchNorm2d: input must be [N, 3, H, W]: got [2, 3, 4]")]
fn batch_norm_2d_needs_a_4d_input() {
    let tape = Tape::<f32>::new();
    BatchNorm2d::new(3).forward(tape.constant(Tensor::zeros(&[2, 3, 4])));
}

#[test]
#[should_panic(expected = "BatchNorm1d: input must be [N, 2] or [N, 2, L]: got [4, 3]")]
fn batch_norm_1d_checks_the_channel_count() {
    let tape = Tape::<f32>::new();
    BatchNorm1d::new(2).forward(tape.constant(Tensor::zeros(&[4, 3])));
}

#[test]
#[should_panic(
    expected = "batch_norm: training needs more than one value per channel: input [1, 2]"
)]
fn training_on_a_single_example_panics_as_in_pytorch() {
    let tape = Tape::<f32>::new();
    BatchNorm1d::new(2).forward(tape.constant(Tensor::zeros(&[1, 2])));
}

#[test]
#[should_panic(expected = "BatchNorm1d: running statistics must be [2]: got mean [3], var [2]")]
fn replacing_running_statistics_checks_their_shape() {
    let mut bn = BatchNorm1d::<f32>::new(2);
    bn.set_running_stats(RunningStats {
        running_mean: Tensor::zeros(&[3]),
        running_var: Tensor::ones(&[2]),
        num_batches_tracked: 0,
    });
}

#[test]
#[should_panic(expected = "BatchNorm2d: momentum must be in [0, 1]: got 1.5")]
fn momentum_outside_zero_one_is_rejected() {
    let _ = BatchNorm2d::<f32>::new(2).momentum(1.5);
}
