//! Saving and restoring optimiser state: a restored optimiser continues
//! bit-identically, and a state that does not fit is refused whole.

use tapegrad::optim::{
    Adadelta, Adagrad, Adam, AdamW, AdamWScheduleFree, DAdaptAdam, Lion, Optimizer, OptimizerState,
    Prodigy, RmsProp, Sgd, SgdScheduleFree, StateError,
};
use tapegrad::{Error, Module, Param, Tape, Tensor, tensor};

#[derive(Module)]
#[module(float = f64)]
struct Layer {
    weight: Param<f64>,
    bias: Param<f64>,
}

#[derive(Module)]
#[module(float = f64)]
struct Net {
    layers: Vec<Layer>,
}

/// A model with fresh parameter ids, so that only names can tie a saved
/// state to it.
fn net(values: &[Vec<f64>; 4]) -> Net {
    let p = |name: &str, v: &Vec<f64>, dims: &[usize]| {
        Param::new(name, Tensor::from_vec(v.clone(), dims).unwrap())
    };
    Net {
        layers: vec![
            Layer {
                weight: p("w", &values[0], &[2, 2]),
                bias: p("b", &values[1], &[2]),
            },
            Layer {
                weight: p("w", &values[2], &[1, 2]),
                bias: p("b", &values[3], &[1]),
            },
        ],
    }
}

fn values(m: &Net) -> [Vec<f64>; 4] {
    let v = |p: &Param<f64>| p.value().to_vec();
    let [a, b] = &m.layers[..] else {
        unreachable!()
    };
    [v(&a.weight), v(&a.bias), v(&b.weight), v(&b.bias)]
}

fn start() -> [Vec<f64>; 4] {
    [
        vec![0.5, -1.0, 2.0, 0.25],
        vec![0.1, -0.2],
        vec![1.5, -0.5],
        vec![0.3],
    ]
}

/// One step on `tanh(W₂ tanh(W₁ x + b₁) + b₂)` against a target, so that
/// every gradient changes from step to step.
fn train_step(m: &mut Net, opt: &mut dyn Optimizer<f64>) {
    let grads = {
        let tape = Tape::new();
        let x = tape.constant(tensor![[1.0], [-2.0]]);
        let [a, b] = &m.layers[..] else {
            unreachable!()
        };
        let h = (tape.param(&a.weight).matmul(x) + tape.param(&a.bias).reshape(&[2, 1])).tanh();
        let y = (tape.param(&b.weight).matmul(h) + tape.param(&b.bias)).tanh();
        let e = y - 0.7;
        (e * e).sum().backward()
    };
    opt.step(m, &grads);
}

/// Builds a fresh optimiser.
type Make = fn() -> Box<dyn Optimizer<f64>>;

/// Every optimiser, with the options that add state tensors.
fn optimizers() -> Vec<Make> {
    vec![
        || Box::new(Sgd::new(0.1).momentum(0.9).dampening(0.1)),
        || Box::new(Adagrad::new(0.1).lr_decay(0.05)),
        || Box::new(RmsProp::new(0.01).centered(true).momentum(0.5)),
        || Box::new(Adadelta::default()),
        || Box::new(Adam::new(0.05).amsgrad(true)),
        || Box::new(AdamW::new(0.05)),
        || Box::new(Lion::new(0.01).weight_decay(0.1)),
        || Box::new(Prodigy::default().weight_decay(0.01)),
        || {
            Box::new(
                Prodigy::default()
                    .decouple(false)
                    .weight_decay(0.01)
                    .bias_correction(true),
            )
        },
        || Box::new(DAdaptAdam::default().growth_rate(1.5)),
        || Box::new(DAdaptAdam::default().decouple(true).weight_decay(0.01)),
        || Box::new(SgdScheduleFree::new(0.1).weight_decay(1e-3).warmup_steps(2)),
        || Box::new(AdamWScheduleFree::new(0.01).weight_decay(0.01).r(1.0)),
    ]
}

#[test]
fn a_restored_optimizer_continues_bit_identically() {
    for make in optimizers() {
        // 5 steps straight through...
        let mut m = net(&start());
        let mut opt = make();
        for _ in 0..3 {
            train_step(&mut m, &mut *opt);
        }
        let saved = opt.state(&m);
        let at_3 = values(&m);
        for _ in 0..2 {
            train_step(&mut m, &mut *opt);
        }
        // ...equal 3 steps, then a new model and a new optimiser that load
        // the values and the state, then 2 steps.
        let mut resumed = net(&at_3);
        let mut opt2 = make();
        opt2.load_state(&resumed, &saved).unwrap();
        assert_eq!(
            opt2.state(&resumed),
            saved,
            "{} round trip",
            saved.optimizer
        );
        for _ in 0..2 {
            train_step(&mut resumed, &mut *opt2);
        }
        let bits = |v: [Vec<f64>; 4]| v.map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
        assert_eq!(
            bits(values(&resumed)),
            bits(values(&m)),
            "{} after resuming",
            saved.optimizer
        );
        assert_eq!(opt2.state(&resumed), opt.state(&m));
        assert_eq!(opt2.steps(), 5);
    }
}

/// Step counts saturate instead of wrapping to 0, where Adam's bias
/// correction `1 - beta^0` divided by zero and made every parameter NaN.
#[test]
fn step_counts_at_u64_max_saturate_and_keep_parameters_finite() {
    for make in optimizers() {
        let mut after = Vec::new();
        for start_at in [u64::MAX - 1, u64::MAX] {
            let mut m = net(&start());
            let mut opt = make();
            for _ in 0..3 {
                train_step(&mut m, &mut *opt);
            }
            let mut state = opt.state(&m);
            state.steps = start_at;
            for ps in state.params.values_mut() {
                ps.step = start_at;
            }
            opt.load_state(&m, &state).unwrap();
            for _ in 0..2 {
                train_step(&mut m, &mut *opt);
            }
            let name = &state.optimizer;
            let v = values(&m);
            assert!(
                v.iter().flatten().all(|x| x.is_finite()),
                "{name} from step {start_at}: {v:?}"
            );
            let state = opt.state(&m);
            assert_eq!(state.steps, u64::MAX, "{name}");
            assert!(
                state.params.values().all(|ps| ps.step == u64::MAX),
                "{name}"
            );
            after.push(v.map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>()));
        }
        // At such counts every bias correction is 1 (beta^t underflows to
        // 0), so both starts make the same two updates.
        assert_eq!(after[0], after[1]);
    }
}

#[test]
fn the_state_is_keyed_by_dotted_names_with_pytorchs_tensor_names() {
    let mut m = net(&start());
    let mut opt = Adam::new(0.05).amsgrad(true);
    for _ in 0..3 {
        train_step(&mut m, &mut opt);
    }
    let s = opt.state(&m);
    assert_eq!(s.optimizer, "Adam");
    assert_eq!((s.steps, s.lr), (3, 0.05));
    let names: Vec<&str> = s.params.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight"
        ]
    );
    let w = &s.params["layers.0.weight"];
    assert_eq!(w.step, 3);
    let tensors: Vec<&str> = w.tensors.keys().map(String::as_str).collect();
    assert_eq!(tensors, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);
    assert_eq!(w.tensors["exp_avg"].shape(), &[2, 2]);
    // v is a moving average of squares: positive where gradients were not 0.
    assert!(w.tensors["exp_avg_sq"].as_slice().iter().all(|&v| v > 0.0));
}

/// An Adam after two steps, its state, and a state broken by `damage`;
/// loading the broken one must fail with `check` and change nothing.
fn refused(damage: impl FnOnce(&mut OptimizerState<f64>), check: impl Fn(&StateError) -> bool) {
    let mut m = net(&start());
    let mut opt = Adam::new(0.05);
    train_step(&mut m, &mut opt);
    train_step(&mut m, &mut opt);
    opt.set_lr(0.01);
    let before = opt.state(&m);
    let mut bad = before.clone();
    bad.lr = 0.5;
    bad.steps = 99;
    for p in bad.params.values_mut() {
        p.step = 99;
        for t in p.tensors.values_mut() {
            *t = t.map(|x| x + 1.0);
        }
    }
    damage(&mut bad);
    match opt.load_state(&m, &bad) {
        Err(Error::OptimizerState(e)) => {
            assert!(check(&e), "unexpected error: {e}");
            assert!(e.to_string().starts_with("optimizer state: "), "{e}");
        }
        other => panic!("expected a state error, got {other:?}"),
    }
    assert_eq!(
        opt.state(&m),
        before,
        "a refused state changed the optimizer"
    );
    assert_eq!((opt.lr(), opt.steps()), (0.01, 2));
}

#[test]
fn load_state_refuses_a_wrong_shape_and_changes_nothing() {
    // "layers.1.weight" sorts after three good entries: all of them must
    // stay unloaded.
    refused(
        |s| {
            let t = s.params.get_mut("layers.1.weight").unwrap();
            t.tensors.insert("exp_avg".into(), Tensor::zeros(&[2, 1]));
        },
        |e| {
            matches!(e, StateError::ShapeMismatch { param, tensor, expected, found }
                if param == "layers.1.weight" && tensor == "exp_avg"
                    && expected == &[1, 2] && found == &[2, 1])
        },
    );
}

#[test]
fn load_state_refuses_unknown_params_and_missing_or_extra_tensors() {
    refused(
        |s| {
            let p = s.params["layers.0.bias"].clone();
            s.params.insert("layers.2.bias".into(), p);
        },
        |e| matches!(e, StateError::UnknownParam(n) if n == "layers.2.bias"),
    );
    refused(
        |s| {
            let p = s.params.get_mut("layers.0.bias").unwrap();
            p.tensors.remove("exp_avg_sq");
        },
        |e| matches!(e, StateError::MissingTensor { tensor, .. } if tensor == "exp_avg_sq"),
    );
    refused(
        |s| {
            let p = s.params.get_mut("layers.1.bias").unwrap();
            p.tensors
                .insert("max_exp_avg_sq".into(), Tensor::zeros(&[1]));
        },
        |e| matches!(e, StateError::UnexpectedTensor { tensor, .. } if tensor == "max_exp_avg_sq"),
    );
}

#[test]
fn load_state_refuses_another_optimizer_or_other_hyperparameters() {
    refused(
        |s| s.optimizer = "AdamW".into(),
        |e| matches!(e, StateError::WrongOptimizer { found, .. } if found == "AdamW"),
    );
    refused(
        |s| {
            s.hyperparameters.insert("beta2".into(), 0.99);
        },
        |e| {
            matches!(e, StateError::Hyperparameter { name, expected: Some(a), found: Some(b) }
                if name == "beta2" && *a == 0.999 && *b == 0.99)
        },
    );
    refused(
        |s| {
            s.hyperparameters.remove("eps");
        },
        |e| matches!(e, StateError::Hyperparameter { found: None, .. }),
    );
    refused(
        |s| s.lr = f64::NAN,
        |e| matches!(e, StateError::BadLr(lr) if lr.is_nan()),
    );
}

#[test]
fn a_state_error_says_what_and_where() {
    let e = StateError::ShapeMismatch {
        param: "fc.weight".into(),
        tensor: "exp_avg".into(),
        expected: vec![3, 4],
        found: vec![4, 3],
    };
    assert_eq!(
        Error::from(e).to_string(),
        "optimizer state: 'fc.weight.exp_avg' has shape [4, 3] but the parameter has shape [3, 4]"
    );
}

#[test]
fn params_without_saved_state_start_afresh_on_load() {
    // An empty state (as from a fresh optimiser) resets everything: the
    // next step is a first step again.
    let mut m = net(&start());
    let mut opt = Sgd::new(0.1).momentum(0.9);
    train_step(&mut m, &mut opt);
    let fresh = Sgd::new(0.1).momentum(0.9).state(&m);
    assert!(fresh.params.is_empty());
    opt.load_state(&m, &fresh).unwrap();
    assert_eq!(opt.steps(), 0);
    let mut twin = net(&values(&m));
    let mut opt2 = Sgd::new(0.1).momentum(0.9);
    train_step(&mut m, &mut opt);
    train_step(&mut twin, &mut opt2);
    assert_eq!(values(&m), values(&twin));
}
