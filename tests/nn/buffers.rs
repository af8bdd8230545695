//! Buffers: state saved with a model but never trained (batch norm's
//! running statistics). The derive and the containers forward them under
//! dotted names; `summary` lists them; safetensors saves and loads them
//! (bit-exact round trip, a PyTorch state dict with `num_batches_tracked`
//! loaded into the count and written back as PyTorch's `I64`, a file from
//! before the count was a buffer, every damaged case leaving them
//! unchanged); optimisers never touch them.

use crate::common;

use common::{assert_close, randn, rng};
use std::path::{Path, PathBuf};
use tapegrad::io::{
    LoadOptions, WeightsProblem, load_safetensors, load_safetensors_with, save_safetensors,
};
use tapegrad::nn::{BatchNorm1d, BatchNorm2d, Forward, Linear, Relu, RunningStats, Sequential};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::{Error, Float, Module, Param, Tape, Tensor, tensor};

// ---------------------------------------------------------------- helpers

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tapegrad-buffers-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names<T: Float>(m: &impl Module<T>) -> Vec<String> {
    m.named_buffers().into_iter().map(|(n, _)| n).collect()
}

/// Every parameter's and buffer's bits, to check "unchanged, bit for bit".
fn snapshot<T: Float>(m: &impl Module<T>) -> Vec<(String, Vec<u64>)> {
    let bits = |t: &Tensor<T>| t.as_slice().iter().map(|x| x.to_f64().to_bits()).collect();
    let mut out: Vec<(String, Vec<u64>)> = m
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, bits(p.value())))
        .collect();
    out.extend(m.named_buffers().into_iter().map(|(n, b)| (n, bits(&b))));
    out
}

fn weights_problem(err: Error, key: &str) -> WeightsProblem {
    match err {
        Error::Weights {
            key: k, problem, ..
        } => {
            assert_eq!(k.as_deref(), Some(key));
            problem
        }
        other => panic!("expected Error::Weights, got {other:?}"),
    }
}

/// A few training-mode passes over random batches, so that the running
/// statistics are far from their initial zeros and ones.
fn warm_up<M: Forward<f64>>(m: &M, dims: &[usize], seed: u64) {
    for k in 0..3 {
        let tape = Tape::new();
        m.forward(tape.constant(randn(dims, seed + k).map(|v| 3.0 * v + 1.5)));
    }
}

// ---------------------------------------------------------------- visiting

#[derive(Module)]
struct Block<T: Float> {
    fc: Linear<T>,
    norm: BatchNorm1d<T>,
}

#[derive(Module)]
struct Net<M> {
    stem: M,
    blocks: Vec<Block<f32>>,
    extra: Option<Box<BatchNorm2d>>,
    none: Option<BatchNorm1d>,
    pair: [BatchNorm1d; 2],
    #[module(skip)]
    _width: usize,
}

#[derive(Module)]
struct Tuple(Linear, BatchNorm1d);

#[test]
fn derive_forwards_buffers_under_dotted_names() {
    let mut r = rng(0);
    let block = |r: &mut _| Block {
        fc: Linear::new(2, 2, r),
        norm: BatchNorm1d::new(2),
    };
    let net = Net {
        stem: Tuple(Linear::new(3, 1, &mut r), BatchNorm1d::new(1)),
        blocks: vec![block(&mut r), block(&mut r)],
        extra: Some(Box::new(BatchNorm2d::new(4))),
        none: None,
        pair: [BatchNorm1d::new(5), BatchNorm1d::new(6)],
        _width: 7,
    };
    let expected: Vec<String> = [
        "stem.1.",
        "blocks.0.norm.",
        "blocks.1.norm.",
        "extra.",
        "pair.0.",
        "pair.1.",
    ]
    .iter()
    .flat_map(|p| ["running_mean", "running_var", "num_batches_tracked"].map(|b| format!("{p}{b}")))
    .collect();
    assert_eq!(names(&net), expected);
    // 1 + 2 + 2 + 4 + 5 + 6 channels, a mean and a variance each, and one
    // count per layer
    assert_eq!(net.num_buffers(), 2 * (1 + 2 + 2 + 4 + 5 + 6) + 6);
    // buffers are not parameters
    assert!(
        net.named_parameters()
            .iter()
            .all(|(n, _)| !n.contains("running"))
    );
    assert_eq!(
        net.buffer_by_name("pair.1.running_var").unwrap().shape(),
        [6]
    );
    assert!(net.buffer_by_name("pair.1.weight").is_none());

    // the mutable visitor yields the same names in the same order
    let mut net = net;
    let mut seen = Vec::new();
    net.visit_buffers_mut("top", &mut |n, _| seen.push(n.to_owned()));
    let prefixed: Vec<String> = expected.iter().map(|n| format!("top.{n}")).collect();
    assert_eq!(seen, prefixed);
}

#[test]
fn sequential_and_dyn_modules_forward_buffers() {
    let mut r = rng(1);
    let seq = Sequential::<f32>::new()
        .add(Linear::new(2, 3, &mut r))
        .add(BatchNorm1d::new(3))
        .add(Relu);
    let expected = ["1.running_mean", "1.running_var", "1.num_batches_tracked"];
    assert_eq!(names(&seq), expected);
    let boxed: Box<dyn Module> = Box::new(seq);
    assert_eq!(names(&boxed), expected);
    // a module with no buffers of its own keeps the empty defaults
    assert!(names(&Linear::<f32>::new(2, 2, &mut r)).is_empty());
    assert_eq!(Param::new("p", Tensor::<f32>::zeros(&[3])).num_buffers(), 0);
}

#[test]
fn buffers_are_the_running_statistics_and_writable_through_the_visitor() {
    let mut bn = BatchNorm1d::<f64>::new(2);
    warm_up(&bn, &[4, 2], 10);
    let stats = bn.running_stats();
    let buffers = bn.named_buffers();
    assert_eq!(buffers[0].1, stats.running_mean);
    assert_eq!(buffers[1].1, stats.running_var);
    // three training batches, as a scalar
    assert_eq!(buffers[2].1, Tensor::scalar(3.0));
    // the visitor runs without the layer's lock held, so it may read the
    // layer itself (this would deadlock otherwise)
    let mut seen = 0;
    bn.visit_buffers("", &mut |_, b| {
        let channels = bn.running_stats().running_mean.numel();
        assert!(b.shape() == [channels] || b.shape().is_empty());
        seen += 1;
    });
    assert_eq!(seen, 3);

    // a visit that only reads leaves the count as it is
    bn.visit_buffers_mut("", &mut |_, _| {});
    assert_eq!(bn.running_stats().num_batches_tracked, 3);
    bn.visit_buffers_mut("", &mut |name, b| {
        *b = match name {
            "running_mean" => tensor![1.0, 2.0],
            "running_var" => tensor![3.0, 4.0],
            _ => Tensor::scalar(41.6),
        }
    });
    let after = bn.running_stats();
    assert_eq!(after.running_mean.to_vec(), [1.0, 2.0]);
    assert_eq!(after.running_var.to_vec(), [3.0, 4.0]);
    // the count is written back rounded to a whole number
    assert_eq!(after.num_batches_tracked, 42);

    // and set_running_stats shows through the buffers
    bn.set_running_stats(RunningStats {
        running_mean: tensor![-1.0, -2.0],
        running_var: tensor![0.5, 0.25],
        num_batches_tracked: 9,
    });
    assert_eq!(
        bn.buffer_by_name("running_var").unwrap().to_vec(),
        [0.5, 0.25]
    );
}

#[test]
fn summary_lists_buffers_after_parameters_without_counting_them() {
    #[derive(Module)]
    struct Small {
        fc: Linear,
        bn: BatchNorm1d,
    }
    let mut small = Small {
        fc: Linear::new(4, 3, &mut rng(2)),
        bn: BatchNorm1d::new(3),
    };
    small.set_trainable_where(|n| n == "fc.bias", false);
    let s = small.summary();
    // parameters: 12 + 3 + 3 + 3 = 21, of which 18 trainable (not fc.bias);
    // buffers: two of 3 values and the count
    assert_eq!((s.total(), s.trainable(), s.buffer_total()), (21, 18, 7));
    assert_eq!(s.buffers.len(), 3);
    // name column 22 wide ("bn.num_batches_tracked"), shape 6, params 6
    let expected = "\
name                    shape   params  trainable
fc.weight               [3, 4]      12  yes
fc.bias                 [3]          3  no
bn.weight               [3]          3  yes
bn.bias                 [3]          3  yes
bn.running_mean         [3]          3  buffer
bn.running_var          [3]          3  buffer
bn.num_batches_tracked  []           1  buffer
total: 21 parameters in 4 tensors, 18 trainable; buffers: 7 values in 3 tensors
";
    assert_eq!(s.to_string(), expected);
}

// ---------------------------------------------------------------- save and load

#[derive(Module)]
struct Model<T: Float> {
    fc: Linear<T>,
    bn: BatchNorm1d<T>,
}

impl<T: Float> Model<T> {
    fn new(seed: u64) -> Self {
        Model {
            fc: Linear::new(3, 2, &mut rng(seed)),
            bn: BatchNorm1d::new(2),
        }
    }
}

impl<T: Float> Forward<T> for Model<T> {
    fn forward<'t>(&self, x: tapegrad::Var<'t, T>) -> tapegrad::Var<'t, T> {
        self.bn.forward(self.fc.forward(x))
    }
}

#[test]
fn round_trip_restores_running_statistics_bit_exactly() {
    let dir = TempDir::new("round-trip");
    let path = dir.path("model.safetensors");
    let trained = Model::<f64>::new(3);
    warm_up(&trained, &[5, 3], 20);
    save_safetensors(&trained, &path).unwrap();

    let mut copy = Model::<f64>::new(4);
    let report = load_safetensors(&mut copy, &path).unwrap();
    assert_eq!(
        report.loaded,
        [
            "fc.weight",
            "fc.bias",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    assert!(report.is_exact() && report.counters_kept.is_empty());
    assert_eq!(copy.bn.running_stats().num_batches_tracked, 3);
    assert_eq!(snapshot(&copy), snapshot(&trained));
    let (a, b) = (trained.bn.running_stats(), copy.bn.running_stats());
    assert_eq!(a.running_mean, b.running_mean);
    assert_eq!(a.running_var, b.running_var);
    // the statistics moved away from their start, so the test means something
    assert!(a.running_mean.as_slice().iter().all(|&v| v != 0.0));
    assert!(a.running_var.as_slice().iter().all(|&v| v != 1.0));

    // evaluation uses the running statistics: identical outputs
    let x = randn(&[4, 3], 30);
    let eval = |m: &Model<f64>| {
        let tape = Tape::eval();
        m.forward(tape.constant(x.clone())).value()
    };
    assert_eq!(eval(&copy), eval(&trained));
}

#[test]
fn round_trip_in_f32_is_bit_exact_too() {
    let dir = TempDir::new("round-trip-f32");
    let path = dir.path("bn.safetensors");
    let mut bn = BatchNorm2d::<f32>::new(3);
    // values that are not round in binary
    bn.set_running_stats(RunningStats {
        running_mean: tensor![0.1f32, -1.0 / 3.0, 1e-30],
        running_var: tensor![0.7f32, 1e7, f32::MIN_POSITIVE],
        num_batches_tracked: 0,
    });
    save_safetensors(&bn, &path).unwrap();
    let mut copy = BatchNorm2d::<f32>::new(3);
    load_safetensors(&mut copy, &path).unwrap();
    assert_eq!(snapshot(&copy), snapshot(&bn));
}

#[test]
fn a_pytorch_state_dict_with_num_batches_tracked_loads() {
    // tests/fixtures/make_batch_norm_fixture.py: torch's state dict of
    // Net(fc = Linear(3, 2), bn = BatchNorm1d(2)) with hand-set values,
    // including the int64 scalar bn.num_batches_tracked = 7.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/batch_norm.safetensors");
    let mut m = Model::<f32>::new(5);
    let report = load_safetensors(&mut m, &path).unwrap();
    assert_eq!(report.loaded.len(), 7);
    assert!(report.is_exact() && report.counters_kept.is_empty());
    let stats = m.bn.running_stats();
    assert_eq!(stats.running_mean.to_vec(), [0.5, -1.5]);
    assert_eq!(stats.running_var.to_vec(), [4.0, 0.25]);
    // the counter is loaded
    assert_eq!(stats.num_batches_tracked, 7);

    // Evaluation by hand, eps = 1e-5:
    // x0 = [1, 2, 3]  -> fc [1 - 3, 0.5 * 6 + 1]   = [-2, 4]
    // x1 = [-1, 0, 4] -> fc [-1 - 4, 0.5 * 3 + 1]  = [-5, 2.5]
    // bn channel 0: (h - 0.5) / sqrt(4 + eps) * 2 - 1
    // bn channel 1: (h + 1.5) / sqrt(0.25 + eps) * 0.5 + 0.25
    // (the script prints PyTorch's output, which agrees to 1e-6:
    //  [[-3.499997, 5.749890], [-6.499993, 4.249920]])
    let eps = 1e-5;
    let c0 = |h: f64| (h - 0.5) / (4.0 + eps).sqrt() * 2.0 - 1.0;
    let c1 = |h: f64| (h + 1.5) / (0.25f64 + eps).sqrt() * 0.5 + 0.25;
    let expected = [c0(-2.0), c1(4.0), c0(-5.0), c1(2.5)];
    let tape = Tape::eval();
    let y = m.forward(tape.constant(tensor![[1.0f32, 2.0, 3.0], [-1.0, 0.0, 4.0]]));
    let y: Vec<f64> = y.value().as_slice().iter().map(|&v| v as f64).collect();
    assert_close(&y, &expected, 1e-5);
}

/// Writes a safetensors file holding `tensors` (name, dtype, shape, bytes).
fn write_file(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            let view = safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap();
            (*n, view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn damaged_or_mismatched_buffers_leave_the_model_unchanged() {
    use safetensors::Dtype::{F32, I64};
    let dir = TempDir::new("damaged");
    let bn = || {
        let m = BatchNorm1d::<f32>::new(2).without_affine();
        m.set_running_stats_for_test();
        m
    };
    let good_mean = ("running_mean", F32, vec![2], f32_bytes(&[1.0, 2.0]));
    let good_var = ("running_var", F32, vec![2], f32_bytes(&[3.0, 4.0]));
    let counter =
        |dtype, shape: Vec<usize>, bytes: Vec<u8>| ("num_batches_tracked", dtype, shape, bytes);
    let cases: Vec<(&str, Vec<_>, &str, WeightsProblem)> = vec![
        (
            "missing",
            vec![good_mean.clone()],
            "running_var",
            WeightsProblem::Missing {
                keys: vec!["running_var".into()],
            },
        ),
        (
            "shape",
            vec![
                good_mean.clone(),
                ("running_var", F32, vec![3], f32_bytes(&[3.0, 4.0, 5.0])),
            ],
            "running_var",
            WeightsProblem::Shape {
                expected: vec![2],
                found: vec![3],
            },
        ),
        (
            "dtype",
            vec![
                (
                    "running_mean",
                    safetensors::Dtype::F64,
                    vec![2],
                    vec![0; 16],
                ),
                good_var.clone(),
            ],
            "running_mean",
            WeightsProblem::Dtype {
                expected: "F32".into(),
                found: "F64".into(),
            },
        ),
        (
            "counter-dtype",
            vec![
                good_mean.clone(),
                good_var.clone(),
                counter(safetensors::Dtype::F64, vec![], 7f64.to_le_bytes().to_vec()),
            ],
            "num_batches_tracked",
            WeightsProblem::Dtype {
                expected: "I64".into(),
                found: "F64".into(),
            },
        ),
        (
            "counter-negative",
            vec![
                good_mean.clone(),
                good_var.clone(),
                counter(I64, vec![], (-1i64).to_le_bytes().to_vec()),
            ],
            "num_batches_tracked",
            WeightsProblem::Format("the batch count is negative: -1".into()),
        ),
        (
            "counter-shape",
            vec![
                good_mean.clone(),
                good_var.clone(),
                counter(I64, vec![2], vec![0; 16]),
            ],
            "num_batches_tracked",
            WeightsProblem::Shape {
                expected: vec![],
                found: vec![2],
            },
        ),
    ];
    for (label, tensors, key, problem) in cases {
        let path = dir.path(&format!("{label}.safetensors"));
        write_file(&path, &tensors);
        let mut m = bn();
        let before = snapshot(&m);
        let err = load_safetensors(&mut m, &path).unwrap_err();
        assert_eq!(weights_problem(err, key), problem, "case {label}");
        assert_eq!(snapshot(&m), before, "case {label}: model changed");
    }

    // a good file with a valid counter loads; then a truncated copy of it
    // fails without touching the model
    let path = dir.path("good.safetensors");
    write_file(
        &path,
        &[
            good_mean,
            good_var,
            counter(I64, vec![], 7i64.to_le_bytes().to_vec()),
        ],
    );
    let mut m = bn();
    let report = load_safetensors(&mut m, &path).unwrap();
    assert!(report.loaded.contains(&"num_batches_tracked".to_owned()));
    assert_eq!(m.running_stats().running_var.to_vec(), [3.0, 4.0]);
    assert_eq!(m.running_stats().num_batches_tracked, 7);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let mut m = bn();
    let before = snapshot(&m);
    assert!(matches!(
        load_safetensors(&mut m, &cut),
        Err(Error::Weights {
            problem: WeightsProblem::Format(_),
            ..
        })
    ));
    assert_eq!(snapshot(&m), before);
}

#[test]
fn a_counter_without_a_batch_norm_beside_it_is_unexpected() {
    let dir = TempDir::new("stray-counter");
    let path = dir.path("stray.safetensors");
    let w = f32_bytes(&[1.0, 2.0]);
    write_file(
        &path,
        &[
            ("w", safetensors::Dtype::F32, vec![2], w),
            (
                "head.num_batches_tracked",
                safetensors::Dtype::I64,
                vec![],
                vec![0; 8],
            ),
        ],
    );
    #[derive(Module)]
    struct Plain {
        w: Param,
    }
    let mut m = Plain {
        w: Param::new("w", Tensor::zeros(&[2])),
    };
    let err = load_safetensors(&mut m, &path).unwrap_err();
    assert_eq!(
        weights_problem(err, "head.num_batches_tracked"),
        WeightsProblem::Unexpected {
            keys: vec!["head.num_batches_tracked".into()]
        }
    );
    assert_eq!(m.w.value().to_vec(), [0.0, 0.0]);
}

#[test]
fn allow_missing_keeps_buffers_the_file_lacks() {
    // A file with only the parameters (say, from a model saved before it
    // had buffers) loads with allow_missing; the statistics stay.
    #[derive(Module)]
    struct ParamsOnly {
        weight: Param,
        bias: Param,
    }
    let dir = TempDir::new("allow-missing");
    let path = dir.path("params.safetensors");
    let params = ParamsOnly {
        weight: Param::new("w", tensor![2.0, 3.0]),
        bias: Param::new("b", tensor![-1.0, 1.0]),
    };
    save_safetensors(&params, &path).unwrap();
    let mut bn = BatchNorm1d::<f32>::new(2);
    bn.set_running_stats_for_test();
    let before = bn.running_stats();
    assert!(load_safetensors(&mut bn, &path).is_err());
    let opts = LoadOptions {
        allow_missing: true,
        ..LoadOptions::default()
    };
    let report = load_safetensors_with(&mut bn, &path, opts).unwrap();
    assert_eq!(report.loaded, ["weight", "bias"]);
    assert_eq!(report.missing, ["running_mean", "running_var"]);
    assert_eq!(report.counters_kept, ["num_batches_tracked"]);
    assert_eq!(bn.weight.as_ref().unwrap().value().to_vec(), [2.0, 3.0]);
    assert_eq!(bn.running_stats(), before);
}

// ---------------------------------------------------------------- training

#[test]
fn optimisers_never_touch_buffers() {
    let mut m = Model::<f64>::new(6);
    let mut opt = Sgd::new(0.5).momentum(0.9).weight_decay(0.1);
    for step in 0..3 {
        let tape = Tape::new();
        let y = m.forward(tape.constant(randn(&[6, 3], 40 + step)));
        let loss = (y * y).mean();
        let grads = loss.backward();
        // gradients exist for the four parameters only
        assert_eq!(grads.params().count(), 4);
        let stats = m.bn.running_stats();
        let weight_before = m.fc.weight.value().clone();
        opt.step(&mut m, &grads);
        assert_ne!(*m.fc.weight.value(), weight_before, "the step did act");
        assert_eq!(m.bn.running_stats(), stats, "step {step} moved a buffer");
    }
    assert_eq!(m.bn.running_stats().num_batches_tracked, 3);
}

/// Running statistics away from the defaults, for the damaged-file cases.
trait SetForTest {
    fn set_running_stats_for_test(&self);
}

impl SetForTest for BatchNorm1d<f32> {
    fn set_running_stats_for_test(&self) {
        // forward in training mode is the only `&self` way to move them
        let tape = Tape::new();
        self.forward(tape.constant(tensor![[0.0f32, 10.0], [2.0, 30.0]]));
        assert_ne!(self.running_stats().running_mean.to_vec(), [0.0, 0.0]);
    }
}

#[test]
fn a_batch_count_that_is_not_a_whole_number_from_0_is_refused_by_every_loader() {
    // Found by the checkpoint fuzzer: a damaged count (2.5, -1, NaN) used to
    // load rounded (or as 0), so the model's count was not the source's.
    let mut m = Model::<f32>::new(7);
    warm_up_f32(&m);
    let before = snapshot(&m);
    for bad in [2.5f32, -1.0, f32::NAN, 1e30] {
        let mut state = m.state();
        state.insert("bn.num_batches_tracked".into(), Tensor::scalar(bad));
        let err = m.load_state(&state, LoadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            tapegrad::nn::LoadStateError::Count {
                key: "bn.num_batches_tracked".into(),
                value: (bad as f64).to_string()
            }
        );
        assert_eq!(snapshot(&m), before, "{bad}: model changed");
    }
    // and from a file, as a float of the model's dtype
    let dir = TempDir::new("bad-count");
    let path = dir.path("bad.safetensors");
    let mut views = Vec::new();
    for (name, t) in m.state() {
        let value = if name == "bn.num_batches_tracked" {
            Tensor::scalar(0.5f32)
        } else {
            t
        };
        views.push((name, value.shape().to_vec(), f32_bytes(value.as_slice())));
    }
    let tensors: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = views
        .iter()
        .map(|(n, s, b)| (n.as_str(), safetensors::Dtype::F32, s.clone(), b.clone()))
        .collect();
    write_file(&path, &tensors);
    let err = load_safetensors(&mut m, &path).unwrap_err();
    assert_eq!(
        weights_problem(err, "bn.num_batches_tracked"),
        WeightsProblem::Format(
            "a batch count must be a whole number from 0 to 2^63: got 0.5".into()
        )
    );
    assert_eq!(snapshot(&m), before);
    // a whole count of the model's dtype loads
    let mut state = m.state();
    state.insert("bn.num_batches_tracked".into(), Tensor::scalar(12.0));
    m.load_state(&state, LoadOptions::default()).unwrap();
    assert_eq!(m.bn.running_stats().num_batches_tracked, 12);
}

/// One training pass of [`Model`] in f32, so its count is 1.
fn warm_up_f32(m: &Model<f32>) {
    let tape = Tape::new();
    m.forward(
        tape.constant(Tensor::from_vec((0..12).map(|i| i as f32).collect(), &[4, 3]).unwrap()),
    );
    assert_eq!(m.bn.running_stats().num_batches_tracked, 1);
}
