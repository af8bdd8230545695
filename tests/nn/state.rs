//! The named state map: `Module::state` and `Module::load_state`, the
//! in-memory way to read and set a model's tensors by dotted name (the
//! routine the file loaders and the snapshots build on). Checked: names and
//! order, that a state is a snapshot, strict and lenient loads, that every
//! refused load leaves the model unchanged bit for bit, and that a state
//! round trip agrees with a safetensors file round trip.

use crate::common::{randn, rng};
use tapegrad::io::{load_safetensors, save_safetensors};
use tapegrad::nn::{BatchNorm1d, Forward, Linear, LoadOptions, LoadStateError, StateMap};
use tapegrad::{Module, Tape, Tensor};

#[derive(Module)]
#[module(float = f64)]
struct Net {
    fc: Linear<f64>,
    bn: BatchNorm1d<f64>,
    head: Linear<f64>,
}

fn net(seed: u64) -> Net {
    let mut r = rng(seed);
    Net {
        fc: Linear::new(3, 4, &mut r),
        bn: BatchNorm1d::new(4),
        head: Linear::new(4, 2, &mut r),
    }
}

/// Every value of the model, parameters then buffers, as raw bits.
fn bits(m: &Net) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    m.visit("", &mut |_, p| {
        out.push(p.value().as_slice().iter().map(|x| x.to_bits()).collect())
    });
    m.visit_buffers("", &mut |_, b| {
        out.push(b.as_slice().iter().map(|x| x.to_bits()).collect())
    });
    out
}

/// Runs one training-mode forward pass, so batch norm's running
/// statistics move away from their initial values.
fn move_buffers(m: &Net) {
    let tape = Tape::<f64>::new();
    let x = tape.constant(randn(&[5, 3], 9));
    let _ = m.bn.forward(m.fc.forward(x));
}

#[test]
fn state_holds_every_parameter_and_buffer_by_dotted_name() {
    let m = net(0);
    let state = m.state();
    let keys: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bn.num_batches_tracked",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "bn.bias",
            "fc.bias",
            "fc.weight",
            "head.bias",
            "head.weight"
        ]
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(state["fc.weight"], *m.fc.weight.value());
    assert_eq!(
        state["bn.running_var"],
        m.buffer_by_name("bn.running_var").unwrap()
    );
}

#[test]
fn a_state_is_a_snapshot_and_load_state_puts_it_back() {
    let mut m = net(1);
    let before = bits(&m);
    let state = m.state();

    // Change parameters and buffers after taking it.
    *m.fc.weight.value_mut() = Tensor::full(&[4, 3], 7.0);
    move_buffers(&m);
    assert_ne!(bits(&m), before);
    assert_eq!(state["fc.weight"].as_slice()[0].to_bits(), before[0][0]);

    let report = m.load_state(&state, LoadOptions::default()).unwrap();
    assert!(report.is_exact());
    assert_eq!(bits(&m), before);
    assert_eq!(
        report.loaded,
        [
            "fc.weight",
            "fc.bias",
            "bn.weight",
            "bn.bias",
            "head.weight",
            "head.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
}

#[test]
fn load_state_keeps_ids_names_and_trainable_flags() {
    let mut m = net(2);
    m.fc.weight.set_trainable(false);
    let (id, name) = (m.fc.weight.id(), m.fc.weight.name().to_owned());
    let other = net(3).state();
    m.load_state(&other, LoadOptions::default()).unwrap();
    assert_eq!(m.fc.weight.id(), id);
    assert_eq!(m.fc.weight.name(), name);
    assert!(!m.fc.weight.is_trainable());
    assert_eq!(*m.fc.weight.value(), other["fc.weight"]);
}

#[test]
fn a_missing_name_is_refused_with_every_missing_key_and_changes_nothing() {
    let mut m = net(4);
    let before = bits(&m);
    let mut state = net(5).state();
    state.remove("head.weight");
    state.remove("bn.running_mean");
    let err = m.load_state(&state, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err,
        LoadStateError::Missing {
            keys: vec!["head.weight".into(), "bn.running_mean".into()]
        }
    );
    assert!(
        err.to_string().contains("head.weight, bn.running_mean"),
        "{err}"
    );
    assert_eq!(bits(&m), before);

    // Allowed: the rest loads, the missing ones keep their values.
    let report = m
        .load_state(
            &state,
            LoadOptions {
                allow_missing: true,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert_eq!(report.missing, ["head.weight", "bn.running_mean"]);
    assert_eq!(*m.fc.weight.value(), state["fc.weight"]);
    assert_eq!(bits(&m)[4], before[4], "head.weight kept its value");
}

#[test]
fn an_unexpected_key_is_refused_sorted_and_changes_nothing() {
    let mut m = net(6);
    let before = bits(&m);
    let mut state = net(7).state();
    state.insert("z.extra".into(), Tensor::zeros(&[1]));
    state.insert("a.extra".into(), Tensor::zeros(&[1]));
    let err = m.load_state(&state, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err,
        LoadStateError::Unexpected {
            keys: vec!["a.extra".into(), "z.extra".into()]
        }
    );
    assert_eq!(bits(&m), before);
    let report = m
        .load_state(
            &state,
            LoadOptions {
                allow_unexpected: true,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert_eq!(report.unexpected, ["a.extra", "z.extra"]);
    assert!(!report.is_exact());
    assert_eq!(*m.head.bias.as_ref().unwrap().value(), state["head.bias"]);
}

#[test]
fn a_wrong_shape_is_refused_first_in_visiting_order_even_with_lenient_options() {
    let mut m = net(8);
    move_buffers(&m);
    let before = bits(&m);
    let mut state: StateMap<f64> = net(9).state();
    state.insert("head.bias".into(), Tensor::zeros(&[3]));
    state.insert("bn.running_var".into(), Tensor::zeros(&[5]));
    let lenient = LoadOptions {
        allow_missing: true,
        allow_unexpected: true,
        convert_dtype: true,
    };
    let err = m.load_state(&state, lenient).unwrap_err();
    assert_eq!(
        err,
        LoadStateError::Shape {
            key: "head.bias".into(),
            expected: vec![2],
            found: vec![3]
        }
    );
    assert!(err.to_string().contains("`head.bias`"), "{err}");
    // Not even the tensors before it in visiting order were written.
    assert_eq!(bits(&m), before);
}

#[test]
fn a_state_round_trip_agrees_with_a_safetensors_round_trip() {
    let source = net(10);
    move_buffers(&source);
    let dir = std::env::temp_dir().join(format!("tapegrad-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    save_safetensors(&source, &path).unwrap();

    let mut by_file = net(11);
    let file_report = load_safetensors(&mut by_file, &path).unwrap();
    let mut by_state = net(12);
    let state_report = by_state
        .load_state(&source.state(), LoadOptions::default())
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(bits(&by_file), bits(&source));
    assert_eq!(bits(&by_state), bits(&source));
    assert_eq!(file_report, state_report);
}

#[test]
fn a_model_behind_dyn_module_has_a_state_too() {
    let mut boxed: Box<dyn Module<f64>> = Box::new(net(13));
    let state = net(14).state();
    boxed.load_state(&state, LoadOptions::default()).unwrap();
    assert_eq!(boxed.state(), state);
}
