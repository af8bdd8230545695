//! The L1 / L2 penalties' gradients, and which parameters they skip.

use super::*;

// ---------------------------------------------------------------- penalties

#[derive(Module)]
struct Lin<T: Float> {
    weight: Param<T>,
    bias: Param<T>,
}

#[derive(Module)]
struct Net<T: Float> {
    layers: Vec<Lin<T>>,
}

fn net() -> Net<f64> {
    let lin = |w: Tensor<f64>, b: Tensor<f64>| Lin {
        weight: Param::new("weight", w),
        bias: Param::new("bias", b),
    };
    Net {
        layers: vec![
            lin(tensor![[0.5, -2.0], [0.0, 3.0]], tensor![1.0, -1.0]),
            lin(tensor![[-0.25, 4.0]], tensor![0.75]),
        ],
    }
}

#[test]
fn l1_penalty_gradient_is_lambda_sign_w() {
    let m = net();
    let lambda = 0.3;
    let tape = Tape::<f64>::new();
    let p = loss::l1_penalty(&tape, &m);
    // |w| summed: 0.5 + 2 + 0 + 3 + 1 + 1 + 0.25 + 4 + 0.75 = 12.5
    assert_eq!(p.item(), 12.5);
    let g = (p * lambda).backward();
    for (name, param) in m.named_parameters() {
        let want: Vec<f64> = param
            .value()
            .as_slice()
            .iter()
            .map(|&w| {
                lambda
                    * if w > 0.0 {
                        1.0
                    } else if w < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
            })
            .collect();
        assert_eq!(g.of(param).to_vec(), want, "{name}");
    }
}

#[test]
fn l2_penalty_gradient_is_two_lambda_w() {
    let m = net();
    let lambda = 0.125;
    let tape = Tape::<f64>::new();
    let p = loss::l2_penalty(&tape, &m);
    // w^2 summed: 0.25 + 4 + 0 + 9 + 1 + 1 + 0.0625 + 16 + 0.5625 = 31.875
    assert_eq!(p.item(), 31.875);
    let g = (p * lambda).backward();
    for param in m.parameters() {
        let want: Vec<f64> = param
            .value()
            .as_slice()
            .iter()
            .map(|w| 2.0 * lambda * w)
            .collect();
        assert_eq!(g.of(param).to_vec(), want, "{}", param.name());
    }
}

#[test]
fn penalties_skip_frozen_and_filtered_parameters() {
    let mut m = net();
    m.layers[1].weight.set_trainable(false);
    let tape = Tape::<f64>::new();
    // Weights only, and layer 1's weight is frozen: |0.5| + |-2| + 0 + |3|.
    let p = loss::l1_penalty_where(&tape, &m, loss::not_bias);
    assert_eq!(p.item(), 5.5);
    let g = p.backward();
    assert_eq!(
        g.of(&m.layers[0].weight).to_vec(),
        vec![1.0, -1.0, 0.0, 1.0]
    );
    assert!(g.get_param(m.layers[0].bias.id()).is_none());
    assert!(g.get_param(m.layers[1].weight.id()).is_none());
    // Nothing selected: a constant 0.
    let none = loss::l2_penalty_where(&tape, &m, |_| false);
    assert_eq!(none.item(), 0.0);
    assert!(!none.requires_grad());
    assert!(loss::not_bias("layers.0.weight") && !loss::not_bias("layers.0.bias"));
    assert!(!loss::not_bias("bias") && loss::not_bias("unbias"));
}

#[test]
fn penalty_gradient_adds_to_the_forward_passs() {
    // loss = sum(w x) + lambda sum w^2 with w bound twice (forward and
    // penalty): d/dw = x + 2 lambda w.
    let w = Param::new("w", tensor![1.5, -2.0]);
    let tape = Tape::<f64>::new();
    let x = tape.constant(tensor![3.0, 5.0]);
    let fit = (tape.param(&w) * x).sum();
    let total = fit + loss::l2_penalty(&tape, &w) * 0.5;
    let g = total.backward();
    assert_eq!(g.of(&w).to_vec(), vec![3.0 + 1.5, 5.0 - 2.0]);
}
