//! `train::step`: one training step through the crate's single ordering
//! rule. Checked against the same step written out by hand (bit for bit),
//! that the update is in place (the parameters keep their storage), and
//! that the loss closure can be a `let` binding reused across steps.

use crate::common::randn;
use tapegrad::nn::{Forward, Linear};
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::{Module, Tape, Tensor, train};

#[derive(Module)]
#[module(float = f64)]
struct Net {
    fc: Linear<f64>,
}

fn net() -> Net {
    Net {
        fc: Linear::new(4, 3, &mut crate::common::rng(1)),
    }
}

fn bits(m: &Net) -> Vec<u64> {
    m.parameters()
        .iter()
        .flat_map(|p| {
            p.value()
                .as_slice()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn step_matches_the_step_written_by_hand_bit_for_bit() {
    let (x, target) = (randn(&[8, 4], 2), randn(&[8, 3], 3));
    let (mut a, mut b) = (net(), net());
    let (mut opt_a, mut opt_b) = (Adam::new(0.01), Adam::new(0.01));
    let tape = Tape::<f64>::new();
    let loss = |m: &Net| {
        let y = m.fc.forward(tape.constant(x.clone()));
        (y - tape.constant(target.clone())).square().mean()
    };
    for _ in 0..5 {
        let got = train::step(&mut a, &mut opt_a, loss);

        let by_hand = Tape::<f64>::new();
        let l = {
            let y = b.fc.forward(by_hand.constant(x.clone()));
            (y - by_hand.constant(target.clone())).square().mean()
        };
        let (value, grads) = (l.item(), l.backward());
        drop(by_hand);
        opt_b.step(&mut b, &grads);

        assert_eq!(got.to_bits(), value.to_bits());
        assert_eq!(bits(&a), bits(&b));
    }
    assert!(tape.is_empty());
}

#[test]
fn step_updates_the_parameters_in_place() {
    let mut model = net();
    let mut opt = Adam::new(0.01);
    let x: Tensor<f64> = randn(&[8, 4], 4);
    let tape = Tape::<f64>::new();
    let loss = |m: &Net| m.fc.forward(tape.constant(x.clone())).square().mean();
    train::step(&mut model, &mut opt, loss); // warm-up: the optimiser's state
    let before = model.fc.weight.value().as_slice().as_ptr();
    let old = bits(&model);
    train::step(&mut model, &mut opt, loss);
    assert_ne!(bits(&model), old, "the step changed nothing");
    assert_eq!(
        model.fc.weight.value().as_slice().as_ptr(),
        before,
        "the update copied the weight instead of writing it in place"
    );
}
