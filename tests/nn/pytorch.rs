//! Weights carried to and from PyTorch: a state dict that PyTorch saved
//! (tests/fixtures/make_pytorch_layers_fixture.py: Linear, Conv2d,
//! Embedding, LayerNorm, BatchNorm1d/2d, MultiheadAttention, a two-layer GRU
//! and LSTM) loads strictly into the same tapegrad model, whose outputs on
//! the script's inputs match the outputs PyTorch computed for them (in
//! tests/fixtures/pytorch_layers_io.safetensors, printed in
//! pytorch_layers_outputs.txt); saving the loaded model writes PyTorch's
//! names, dtypes, shapes and bytes back; and files with the names of
//! earlier tapegrad versions still load.

use crate::common::assert_close;
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tapegrad::io::{LoadOptions, load_safetensors, load_safetensors_with, save_safetensors};
use tapegrad::nn::{
    BatchNorm1d, BatchNorm2d, Conv2d, Embedding, Forward, Gru, LayerNorm, Linear, Lstm,
    MultiHeadAttention,
};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Float, Module, Tape, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The script's `Net`, with the same field names (so the same dotted
/// names) and sizes. The initial values are irrelevant: every one is
/// loaded.
#[derive(Module)]
struct Net<T: Float> {
    lin: Linear<T>,
    conv: Conv2d<T>,
    emb: Embedding<T>,
    ln: LayerNorm<T>,
    bn1: BatchNorm1d<T>,
    bn2: BatchNorm2d<T>,
    attn: MultiHeadAttention<T>,
    gru: Gru<T>,
    lstm: Lstm<T>,
}

impl<T: Float> Net<T> {
    fn new() -> Self {
        let mut rng = crate::common::rng(99);
        let conv = Conv2dOptions {
            stride: (2, 1),
            padding: (1, 1),
            dilation: (1, 2),
            groups: 1,
        };
        Net {
            lin: Linear::new(4, 3, &mut rng),
            conv: Conv2d::with_options(2, 3, (3, 2), conv, &mut rng),
            emb: Embedding::new(7, 3, &mut rng),
            ln: LayerNorm::new(&[5]),
            bn1: BatchNorm1d::new(4),
            bn2: BatchNorm2d::new(3),
            attn: MultiHeadAttention::new(8, 2, &mut rng),
            gru: Gru::new(3, 4, 2, &mut rng),
            lstm: Lstm::new(3, 4, 2, &mut rng),
        }
    }
}

/// The inputs (`in.*`) and PyTorch's outputs (`out.*`), all f64.
fn io() -> BTreeMap<String, Tensor<f64>> {
    let bytes = std::fs::read(fixture("pytorch_layers_io.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F64, "{name}");
            let data = view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, Tensor::from_vec(data, view.shape()).unwrap())
        })
        .collect()
}

/// Every output of the script, from `net` in evaluation mode, by the
/// script's name.
fn outputs<T: Float>(net: &Net<T>, io: &BTreeMap<String, Tensor<f64>>) -> Vec<(String, Tensor<T>)> {
    let tape = Tape::<T>::eval();
    let input = |name: &str| tape.constant(io[name].cast::<T>());
    let indices: Vec<usize> = io["in.emb"]
        .as_slice()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let (gru, gru_h) = net
        .gru
        .forward_with_state(input("in.seq"), Some(input("in.h0")));
    let (lstm, (lstm_h, lstm_c)) = net
        .lstm
        .forward_with_state(input("in.seq"), Some((input("in.h0"), input("in.c0"))));
    let causal = net.attn.clone().causal(true);
    let x = input("in.attn_x");
    let got = [
        ("out.lin", net.lin.forward(input("in.lin"))),
        ("out.conv", net.conv.forward(input("in.conv"))),
        ("out.emb", net.emb.forward_indices(&tape, &indices, &[2, 3])),
        ("out.ln", net.ln.forward(input("in.ln"))),
        ("out.bn1", net.bn1.forward(input("in.bn1"))),
        ("out.bn2", net.bn2.forward(input("in.bn2"))),
        ("out.attn_self", net.attn.forward(x)),
        ("out.attn_causal", causal.forward(x)),
        (
            "out.attn_cross",
            net.attn
                .attend(input("in.attn_q"), input("in.attn_k"), input("in.attn_v")),
        ),
        ("out.gru", gru),
        ("out.gru_h", gru_h),
        ("out.lstm", lstm),
        ("out.lstm_h", lstm_h),
        ("out.lstm_c", lstm_c),
    ];
    got.into_iter()
        .map(|(name, v)| (name.to_owned(), v.value()))
        .collect()
}

fn check_outputs<T: Float>(net: &Net<T>, tol: f64) {
    let io = io();
    let got = outputs(net, &io);
    assert_eq!(
        got.len(),
        io.keys().filter(|k| k.starts_with("out.")).count()
    );
    for (name, value) in got {
        let want = &io[&name];
        assert_eq!(value.shape(), want.shape(), "{name}");
        let value: Vec<f64> = value.as_slice().iter().map(|v| v.to_f64()).collect();
        assert_close(&value, want.as_slice(), tol);
        // the outputs are not all near zero, so the tolerance means something
        assert!(want.as_slice().iter().any(|v| v.abs() > 0.1), "{name}");
    }
}

#[test]
fn a_pytorch_state_dict_loads_strictly_and_gives_pytorchs_outputs_in_f64() {
    // f32 weights converted to f64 exactly: PyTorch's float64 outputs to
    // rounding error.
    let mut net = Net::<f64>::new();
    let opts = LoadOptions {
        convert_dtype: true,
        ..LoadOptions::default()
    };
    let report =
        load_safetensors_with(&mut net, fixture("pytorch_layers.safetensors"), opts).unwrap();
    assert!(report.is_exact(), "{report:?}");
    assert!(report.counters_kept.is_empty() && report.renamed.is_empty());
    assert_eq!(report.loaded.len(), 37);
    // three training passes in the script
    assert_eq!(net.bn1.running_stats().num_batches_tracked, 3);
    assert_eq!(net.bn2.running_stats().num_batches_tracked, 3);
    check_outputs(&net, 1e-10);
}

#[test]
fn a_pytorch_state_dict_loads_strictly_in_f32() {
    let mut net = Net::<f32>::new();
    let report = load_safetensors(&mut net, fixture("pytorch_layers.safetensors")).unwrap();
    assert!(report.is_exact());
    check_outputs(&net, 2e-5);
}

/// name -> (dtype, shape, bytes) of every tensor of a safetensors file.
type Listing = BTreeMap<String, (String, Vec<usize>, Vec<u8>)>;

fn listing(path: &Path) -> Listing {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, v)| {
            let entry = (v.dtype().to_string(), v.shape().to_vec(), v.data().to_vec());
            (name, entry)
        })
        .collect()
}

#[test]
fn saving_the_loaded_model_writes_pytorchs_state_dict_back() {
    // Same names, dtypes (the counters as I64), shapes and bytes as the file
    // PyTorch wrote: what `torch.nn.Module.load_state_dict` needs, strictly.
    let theirs = fixture("pytorch_layers.safetensors");
    let mut net = Net::<f32>::new();
    load_safetensors(&mut net, &theirs).unwrap();
    let dir = std::env::temp_dir().join(format!("tapegrad-pytorch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("net.safetensors");
    save_safetensors(&net, &ours).unwrap();
    let (a, b) = (listing(&theirs), listing(&ours));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, entry) in &a {
        assert_eq!(&b[name], entry, "{name}");
    }
    assert_eq!(a["bn1.num_batches_tracked"].0, "I64");
    assert_eq!(b["bn1.num_batches_tracked"].2, 3i64.to_le_bytes());
}

#[test]
fn files_with_earlier_tapegrad_names_still_load() {
    // An earlier tapegrad wrote attention's packed projection as
    // `attn.qkv.weight` / `attn.qkv.bias` and no batch counters. Such a file
    // (made here from the PyTorch one) loads strictly, to the same outputs.
    let theirs = listing(&fixture("pytorch_layers.safetensors"));
    let mut old: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, (dtype, shape, data)) in &theirs {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        assert_eq!(dtype, "F32");
        let name = name
            .replace("attn.in_proj_weight", "attn.qkv.weight")
            .replace("attn.in_proj_bias", "attn.qkv.bias");
        old.push((name, safetensors::Dtype::F32, shape.clone(), data.clone()));
    }
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = old
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("tapegrad-legacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("old.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();

    let mut net = Net::<f32>::new();
    // The counters are kept as they were: set them to something to see it.
    let tape = Tape::<f32>::new();
    net.bn1.forward(
        tape.constant(Tensor::from_vec((0..8).map(|i| i as f32).collect(), &[2, 4]).unwrap()),
    );
    let report = load_safetensors(&mut net, &path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(report.is_exact(), "{report:?}");
    assert_eq!(
        report.renamed,
        [
            (
                "attn.qkv.weight".to_owned(),
                "attn.in_proj_weight".to_owned()
            ),
            ("attn.qkv.bias".to_owned(), "attn.in_proj_bias".to_owned()),
        ]
    );
    assert_eq!(
        report.counters_kept,
        ["bn1.num_batches_tracked", "bn2.num_batches_tracked"]
    );
    assert_eq!(net.bn1.running_stats().num_batches_tracked, 1);
    check_outputs(&net, 2e-5);

    // The same through an in-memory state map (the loaders share the rule).
    let mut state = net.state();
    let w = state.remove("attn.in_proj_weight").unwrap();
    state.insert("attn.qkv.weight".into(), w.clone());
    let mut copy = Net::<f32>::new();
    let report = copy.load_state(&state, LoadOptions::default()).unwrap();
    assert!(report.is_exact());
    assert_eq!(report.renamed.len(), 1);
    assert_eq!(*copy.attn.qkv.weight.value(), w);
}

#[test]
fn an_old_name_is_not_read_when_the_model_has_that_name_itself() {
    // A model of the user's own with a real `qkv.weight` parameter beside an
    // `in_proj_weight`: the file's `qkv.weight` is that parameter's, never
    // a stand-in for a missing `in_proj_weight`.
    #[derive(Module)]
    struct Own {
        in_proj_weight: tapegrad::Param,
        qkv: Linear,
    }
    let mut own = Own {
        in_proj_weight: tapegrad::Param::new("w", Tensor::zeros(&[2, 2])),
        qkv: Linear::new(2, 2, &mut crate::common::rng(1)),
    };
    let mut state = own.state();
    state.remove("in_proj_weight");
    let err = own.load_state(&state, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err,
        tapegrad::nn::LoadStateError::Missing {
            keys: vec!["in_proj_weight".into()]
        }
    );
}
