//! GRU and LSTM: cells and unrolled stacks against the gate equations
//! written out by hand in plain f64 (PyTorch's, from its `nn.GRUCell` and
//! `nn.LSTMCell` docs), gradients against finite differences, PyTorch's
//! parameter names and init, and the shape panics.

use tapegrad::check::{gradcheck, gradcheck_params};
use tapegrad::nn::{Forward, Gru, GruCell, Lstm, LstmCell};
use tapegrad::{Module, Param, Tape, Tensor, Var};

use crate::common;
use common::{assert_close, randn, rng};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A cell's parameters as plain vectors (absent biases as zeros).
struct Weights {
    w_ih: Vec<f64>,
    w_hh: Vec<f64>,
    b_ih: Vec<f64>,
    b_hh: Vec<f64>,
    input: usize,
    hidden: usize,
}

impl Weights {
    fn new(
        w_ih: &Param<f64>,
        w_hh: &Param<f64>,
        b_ih: &Option<Param<f64>>,
        b_hh: &Option<Param<f64>>,
    ) -> Self {
        let rows = w_ih.shape()[0];
        let bias =
            |b: &Option<Param<f64>>| b.as_ref().map_or(vec![0.0; rows], |b| b.value().to_vec());
        Weights {
            w_ih: w_ih.value().to_vec(),
            w_hh: w_hh.value().to_vec(),
            b_ih: bias(b_ih),
            b_hh: bias(b_hh),
            input: w_ih.shape()[1],
            hidden: w_hh.shape()[1],
        }
    }

    /// `sum_k W_ih[row][k] x[k] + b_ih[row]`
    fn x_part(&self, row: usize, x: &[f64]) -> f64 {
        let w = &self.w_ih[row * self.input..(row + 1) * self.input];
        w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + self.b_ih[row]
    }

    /// `sum_k W_hh[row][k] h[k] + b_hh[row]`
    fn h_part(&self, row: usize, h: &[f64]) -> f64 {
        let w = &self.w_hh[row * self.hidden..(row + 1) * self.hidden];
        w.iter().zip(h).map(|(w, h)| w * h).sum::<f64>() + self.b_hh[row]
    }
}

fn gru_weights(c: &GruCell<f64>) -> Weights {
    Weights::new(&c.weight_ih, &c.weight_hh, &c.bias_ih, &c.bias_hh)
}

fn lstm_weights(c: &LstmCell<f64>) -> Weights {
    Weights::new(&c.weight_ih, &c.weight_hh, &c.bias_ih, &c.bias_hh)
}

/// One GRU step for one example, gate by gate (rows r: 0..H, z: H..2H, n: 2H..3H).
fn hand_gru(w: &Weights, x: &[f64], h: &[f64]) -> Vec<f64> {
    let hd = w.hidden;
    (0..hd)
        .map(|j| {
            let r = sigmoid(w.x_part(j, x) + w.h_part(j, h));
            let z = sigmoid(w.x_part(hd + j, x) + w.h_part(hd + j, h));
            let n = (w.x_part(2 * hd + j, x) + r * w.h_part(2 * hd + j, h)).tanh();
            (1.0 - z) * n + z * h[j]
        })
        .collect()
}

/// One LSTM step for one example (rows i, f, g, o in blocks of H); returns (h', c').
fn hand_lstm(w: &Weights, x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let hd = w.hidden;
    let pre = |block: usize, j: usize| w.x_part(block * hd + j, x) + w.h_part(block * hd + j, h);
    let mut h2 = Vec::new();
    let mut c2 = Vec::new();
    for (j, &c_old) in c.iter().enumerate() {
        let i = sigmoid(pre(0, j));
        let f = sigmoid(pre(1, j));
        let g = pre(2, j).tanh();
        let o = sigmoid(pre(3, j));
        let cj = f * c_old + i * g;
        c2.push(cj);
        h2.push(o * cj.tanh());
    }
    (h2, c2)
}

/// Rows of a row-major `[rows, width]` slice.
fn rows(v: &[f64], width: usize) -> Vec<Vec<f64>> {
    v.chunks(width).map(<[f64]>::to_vec).collect()
}

// ------------------------------------------------------------------ cells

#[test]
fn gru_cell_step_matches_the_gate_equations() {
    let (n, input, hidden) = (2, 3, 4);
    let cell = GruCell::<f64>::new(input, hidden, &mut rng(1));
    let (x, h) = (randn(&[n, input], 2), randn(&[n, hidden], 3));
    let tape = Tape::new();
    let out = cell.step(tape.constant(x.clone()), tape.constant(h.clone()));
    assert_eq!(out.shape().as_slice(), &[n, hidden]);
    let w = gru_weights(&cell);
    let want: Vec<f64> = (0..n)
        .flat_map(|b| {
            hand_gru(
                &w,
                &x.as_slice()[b * input..][..input],
                &h.as_slice()[b * hidden..][..hidden],
            )
        })
        .collect();
    assert_close(&out.value().to_vec(), &want, 1e-12);
}

#[test]
fn gru_cell_without_bias_and_unbatched() {
    let cell = GruCell::<f64>::new(2, 3, &mut rng(4)).without_bias();
    assert_eq!(cell.num_params(), 9 * 2 + 9 * 3);
    // A 1-d input and state: one example, no batch axis.
    let (x, h) = (randn(&[2], 5), randn(&[3], 6));
    let tape = Tape::new();
    let out = cell.step(tape.constant(x.clone()), tape.constant(h.clone()));
    assert_eq!(out.shape().as_slice(), &[3]);
    let want = hand_gru(&gru_weights(&cell), x.as_slice(), h.as_slice());
    assert_close(&out.value().to_vec(), &want, 1e-12);
}

#[test]
fn lstm_cell_step_matches_the_gate_equations() {
    let (n, input, hidden) = (3, 2, 3);
    let cell = LstmCell::<f64>::new(input, hidden, &mut rng(7));
    let (x, h, c) = (
        randn(&[n, input], 8),
        randn(&[n, hidden], 9),
        randn(&[n, hidden], 10),
    );
    let tape = Tape::new();
    let (h2, c2) = cell.step(
        tape.constant(x.clone()),
        (tape.constant(h.clone()), tape.constant(c.clone())),
    );
    let w = lstm_weights(&cell);
    let (mut want_h, mut want_c) = (Vec::new(), Vec::new());
    for b in 0..n {
        let (hb, cb) = hand_lstm(
            &w,
            &x.as_slice()[b * input..][..input],
            &h.as_slice()[b * hidden..][..hidden],
            &c.as_slice()[b * hidden..][..hidden],
        );
        want_h.extend(hb);
        want_c.extend(cb);
    }
    assert_close(&h2.value().to_vec(), &want_h, 1e-12);
    assert_close(&c2.value().to_vec(), &want_c, 1e-12);
}

#[test]
fn cell_gradients_match_finite_differences() {
    let mut gru = GruCell::<f64>::new(3, 2, &mut rng(11));
    let (x, h) = (randn(&[2, 3], 12), randn(&[2, 2], 13));
    let report = gradcheck_params(&mut gru, |m, tape| {
        m.step(tape.constant(x.clone()), tape.constant(h.clone()))
    })
    .unwrap();
    assert_eq!(report.checked, gru.num_params());
    gradcheck(|v| gru.step(v[0], v[1]), &[x.clone(), h.clone()]).unwrap();

    let mut lstm = LstmCell::<f64>::new(3, 2, &mut rng(14));
    let c = randn(&[2, 2], 15);
    fn both<'t>(
        m: &LstmCell<f64>,
        x: Var<'t, f64>,
        h: Var<'t, f64>,
        c: Var<'t, f64>,
    ) -> Var<'t, f64> {
        let (h, c) = m.step(x, (h, c));
        Var::concat(&[h, c], -1)
    }
    let report = gradcheck_params(&mut lstm, |m, tape| {
        let k = |t: &Tensor<f64>| tape.constant(t.clone());
        both(m, k(&x), k(&h), k(&c))
    })
    .unwrap();
    assert_eq!(report.checked, lstm.num_params());
    gradcheck(|v| both(&lstm, v[0], v[1], v[2]), &[x, h, c]).unwrap();
}

#[test]
fn cells_use_pytorch_names_shapes_and_init() {
    let (input, hidden) = (5, 16);
    let gru = GruCell::<f64>::new(input, hidden, &mut rng(16));
    let lstm = LstmCell::<f64>::new(input, hidden, &mut rng(16));
    for (m, gates) in [(&gru as &dyn Module<f64>, 3), (&lstm, 4)] {
        let got: Vec<(String, Vec<usize>)> = m
            .named_parameters()
            .into_iter()
            .map(|(n, p)| (n, p.shape().to_vec()))
            .collect();
        let g = gates * hidden;
        let want = [
            ("weight_ih", vec![g, input]),
            ("weight_hh", vec![g, hidden]),
            ("bias_ih", vec![g]),
            ("bias_hh", vec![g]),
        ]
        .map(|(n, s)| (n.to_string(), s));
        assert_eq!(got, want);
        // Every tensor from U(-1/sqrt(H), 1/sqrt(H)) = U(-0.25, 0.25), and
        // spread over it (not all zero, not one value).
        for p in m.parameters() {
            let v = p.value().as_slice();
            assert!(
                v.iter().all(|x| x.abs() <= 0.25),
                "{} out of bounds",
                p.name()
            );
            let max = v.iter().fold(0f64, |a, x| a.max(x.abs()));
            assert!(max > 0.15, "{} does not spread: max |x| {max}", p.name());
        }
    }
}

// ---------------------------------------------------------------- unrolled

/// Runs stacked GRU cells by hand over `x [N, L, in]` from `h0 [layers, N, H]`;
/// returns the top layer's outputs `[N, L, H]` and the last states `[layers, N, H]`.
fn hand_gru_stack(gru: &Gru<f64>, x: &Tensor<f64>, h0: &Tensor<f64>) -> (Vec<f64>, Vec<f64>) {
    let (n, l, input) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let hidden = gru.hidden_size();
    // seq[b][t]: the current layer's input vector
    let mut seq: Vec<Vec<Vec<f64>>> = (0..n)
        .map(|b| rows(&x.as_slice()[b * l * input..][..l * input], input))
        .collect();
    let mut last = Vec::new();
    for (k, cell) in gru.layers.iter().enumerate() {
        let w = gru_weights(cell);
        for (b, steps) in seq.iter_mut().enumerate() {
            let mut h = h0.as_slice()[(k * n + b) * hidden..][..hidden].to_vec();
            for s in steps.iter_mut() {
                h = hand_gru(&w, s, &h);
                *s = h.clone();
            }
        }
        last.extend(seq.iter().flat_map(|steps| steps[l - 1].clone()));
    }
    (seq.into_iter().flatten().flatten().collect(), last)
}

#[test]
fn gru_unrolls_stacked_cells_over_the_sequence() {
    for (layers, l, seed) in [(1, 1, 20), (1, 5, 21), (2, 4, 22), (3, 3, 23)] {
        let (n, input, hidden) = (2, 3, 4);
        let gru = Gru::<f64>::new(input, hidden, layers, &mut rng(seed));
        let x = randn(&[n, l, input], seed + 100);
        let h0 = randn(&[layers, n, hidden], seed + 200);
        let tape = Tape::new();
        let (out, h_n) =
            gru.forward_with_state(tape.constant(x.clone()), Some(tape.constant(h0.clone())));
        assert_eq!(out.shape().as_slice(), &[n, l, hidden]);
        assert_eq!(h_n.shape().as_slice(), &[layers, n, hidden]);
        let (want_out, want_last) = hand_gru_stack(&gru, &x, &h0);
        assert_close(&out.value().to_vec(), &want_out, 1e-12);
        assert_close(&h_n.value().to_vec(), &want_last, 1e-12);
        // `forward` starts from zeros.
        let zeros = Tensor::zeros(&[layers, n, hidden]);
        let (want_out, _) = hand_gru_stack(&gru, &x, &zeros);
        let out = gru.forward(tape.constant(x.clone()));
        assert_close(&out.value().to_vec(), &want_out, 1e-12);
    }
}

#[test]
fn lstm_unrolls_stacked_cells_over_the_sequence() {
    for (layers, l, seed) in [(1, 1, 30), (1, 6, 31), (2, 4, 32)] {
        let (n, input, hidden) = (2, 2, 3);
        let lstm = Lstm::<f64>::new(input, hidden, layers, &mut rng(seed));
        let x = randn(&[n, l, input], seed + 100);
        let h0 = randn(&[layers, n, hidden], seed + 200);
        let c0 = randn(&[layers, n, hidden], seed + 300);
        let tape = Tape::new();
        let k = |t: &Tensor<f64>| tape.constant(t.clone());
        let (out, (h_n, c_n)) = lstm.forward_with_state(k(&x), Some((k(&h0), k(&c0))));

        // By hand: layer by layer, step by step.
        let idx = |k: usize, b: usize| (k * n + b) * hidden..(k * n + b + 1) * hidden;
        let mut seq: Vec<Vec<Vec<f64>>> = (0..n)
            .map(|b| rows(&x.as_slice()[b * l * input..][..l * input], input))
            .collect();
        let (mut last_h, mut last_c) = (Vec::new(), Vec::new());
        for (kk, cell) in lstm.layers.iter().enumerate() {
            let w = lstm_weights(cell);
            for (b, steps) in seq.iter_mut().enumerate() {
                let mut h = h0.as_slice()[idx(kk, b)].to_vec();
                let mut c = c0.as_slice()[idx(kk, b)].to_vec();
                for s in steps.iter_mut() {
                    (h, c) = hand_lstm(&w, s, &h, &c);
                    *s = h.clone();
                }
                last_h.extend(h);
                last_c.extend(c);
            }
        }
        let want_out: Vec<f64> = seq.into_iter().flatten().flatten().collect();
        assert_eq!(out.shape().as_slice(), &[n, l, hidden]);
        assert_close(&out.value().to_vec(), &want_out, 1e-12);
        assert_close(&h_n.value().to_vec(), &last_h, 1e-12);
        assert_close(&c_n.value().to_vec(), &last_c, 1e-12);
    }
}

#[test]
fn unrolled_gradients_match_finite_differences() {
    let (n, l, input, hidden, layers) = (2, 3, 2, 3, 2);
    let x = randn(&[n, l, input], 40);
    let h0 = randn(&[layers, n, hidden], 41);
    let c0 = randn(&[layers, n, hidden], 42);
    fn flat<'t>(a: Var<'t, f64>, b: Var<'t, f64>) -> Var<'t, f64> {
        Var::concat(&[a.flatten(0, -1), b.flatten(0, -1)], 0)
    }

    let mut gru = Gru::<f64>::new(input, hidden, layers, &mut rng(43));
    let report = gradcheck_params(&mut gru, |m, tape| {
        let (out, h_n) =
            m.forward_with_state(tape.constant(x.clone()), Some(tape.constant(h0.clone())));
        flat(out, h_n)
    })
    .unwrap();
    assert_eq!(report.checked, gru.num_params());
    gradcheck(
        |v| {
            let (out, h_n) = gru.forward_with_state(v[0], Some(v[1]));
            flat(out, h_n)
        },
        &[x.clone(), h0.clone()],
    )
    .unwrap();

    let mut lstm = Lstm::<f64>::new(input, hidden, layers, &mut rng(44));
    let report = gradcheck_params(&mut lstm, |m, tape| {
        let k = |t: &Tensor<f64>| tape.constant(t.clone());
        let (out, (h_n, c_n)) = m.forward_with_state(k(&x), Some((k(&h0), k(&c0))));
        flat(flat(out, h_n), c_n)
    })
    .unwrap();
    assert_eq!(report.checked, lstm.num_params());
    gradcheck(
        |v| {
            let (out, (h_n, c_n)) = lstm.forward_with_state(v[0], Some((v[1], v[2])));
            flat(flat(out, h_n), c_n)
        },
        &[x, h0, c0],
    )
    .unwrap();
}

#[test]
fn a_long_sequence_backpropagates_to_every_step() {
    // The per-step slices of the input projection are cut by halving; every
    // step's input must still get its own gradient. With the output summed,
    // d/dx_t is nonzero for every t, and matches finite differences.
    let gru = Gru::<f64>::new(1, 2, 1, &mut rng(45));
    let x = randn(&[1, 13, 1], 46);
    gradcheck(|v| gru.forward(v[0]), &[x]).unwrap();
}

#[test]
fn stacks_use_pytorch_names() {
    let gru = Gru::<f32>::new(3, 4, 2, &mut rng(50));
    let names: Vec<String> = gru.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_ih_l1",
            "weight_hh_l1",
            "bias_ih_l1",
            "bias_hh_l1"
        ]
    );
    assert_eq!(gru.param_by_name("weight_ih_l0").unwrap().shape(), &[12, 3]);
    assert_eq!(gru.param_by_name("weight_ih_l1").unwrap().shape(), &[12, 4]);

    // Inside a model, under the field's name; without biases, only weights.
    #[derive(Module)]
    struct Net {
        rnn: Lstm<f32>,
    }
    let mut net = Net {
        rnn: Lstm::new(3, 4, 1, &mut rng(51)).without_bias(),
    };
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]);
    assert_eq!(net.num_params(), 16 * 3 + 16 * 4);
    // The mutable visitor agrees: freezing by name reaches the parameter.
    net.set_trainable_where(|n| n == "rnn.weight_hh_l0", false);
    assert!(!net.rnn.layers[0].weight_hh.is_trainable());
    assert!(net.rnn.layers[0].weight_ih.is_trainable());
}

#[test]
fn dropout_between_layers_acts_only_in_training() {
    let gru = Gru::<f64>::new(2, 8, 2, &mut rng(60));
    let with_dropout = gru.clone().dropout(0.5);
    let x = randn(&[2, 4, 2], 61);
    let run = |m: &Gru<f64>, tape: &Tape<f64>| m.forward(tape.constant(x.clone())).value();
    let plain = run(&gru, &Tape::new());
    // Evaluation: dropout is off, the output is the plain one.
    assert_eq!(run(&with_dropout, &Tape::eval()).to_vec(), plain.to_vec());
    // Training: layer 1 sees a masked input, so the output differs, and the
    // tape's seed makes it reproducible.
    let a = run(&with_dropout, &Tape::new());
    let b = run(&with_dropout, &Tape::new());
    assert_ne!(a.to_vec(), plain.to_vec());
    assert_eq!(a.to_vec(), b.to_vec());
    // A single layer has nothing between layers to drop.
    let one = Gru::<f64>::new(2, 8, 1, &mut rng(62));
    assert_eq!(
        run(&one.clone().dropout(0.5), &Tape::new()).to_vec(),
        run(&one, &Tape::new()).to_vec()
    );
}

// ------------------------------------------------------------------ panics

#[test]
#[should_panic(
    expected = "GruCell: expects x [.., 3] and h [.., 5] with the same leading axes, \
                           got x [2, 4] and h [2, 5]"
)]
fn gru_cell_rejects_wrong_input_features() {
    let cell = GruCell::<f64>::new(3, 5, &mut rng(0));
    let tape = Tape::new();
    cell.step(
        tape.constant(Tensor::zeros(&[2, 4])),
        tape.constant(Tensor::zeros(&[2, 5])),
    );
}

#[test]
#[should_panic(
    expected = "LstmCell: expects x [.., 3] and h [.., 5] and c [.., 5] with the same \
                           leading axes, got x [2, 3] and h [2, 5] and c [3, 5]"
)]
fn lstm_cell_rejects_mismatched_batches() {
    let cell = LstmCell::<f64>::new(3, 5, &mut rng(0));
    let tape = Tape::new();
    let z = |d: &[usize]| tape.constant(Tensor::zeros(d));
    cell.step(z(&[2, 3]), (z(&[2, 5]), z(&[3, 5])));
}

#[test]
#[should_panic(expected = "Gru: expects a batch-first sequence [N, L, 3], got [2, 3]")]
fn gru_rejects_an_input_without_a_time_axis() {
    let gru = Gru::<f64>::new(3, 5, 1, &mut rng(0));
    let tape = Tape::new();
    gru.forward(tape.constant(Tensor::zeros(&[2, 3])));
}

#[test]
#[should_panic(expected = "Lstm: the sequence is empty (L = 0): [2, 0, 3]")]
fn lstm_rejects_an_empty_sequence() {
    let lstm = Lstm::<f64>::new(3, 5, 1, &mut rng(0));
    let tape = Tape::new();
    lstm.forward(tape.constant(Tensor::zeros(&[2, 0, 3])));
}

#[test]
#[should_panic(
    expected = "Gru: expects the initial state h0 as [num_layers, N, H] = [2, 4, 5], \
                           got [4, 5]"
)]
fn gru_rejects_an_initial_state_without_the_layer_axis() {
    let gru = Gru::<f64>::new(3, 5, 2, &mut rng(0));
    let tape = Tape::new();
    let x = tape.constant(Tensor::zeros(&[4, 6, 3]));
    gru.forward_with_state(x, Some(tape.constant(Tensor::zeros(&[4, 5]))));
}

#[test]
#[should_panic(
    expected = "Lstm: expects the initial cell state c0 as [num_layers, N, H] = \
                           [1, 4, 5], got [1, 4, 6]"
)]
fn lstm_rejects_a_wrong_cell_state() {
    let lstm = Lstm::<f64>::new(3, 5, 1, &mut rng(0));
    let tape = Tape::new();
    let z = |d: &[usize]| tape.constant(Tensor::zeros(d));
    lstm.forward_with_state(z(&[4, 6, 3]), Some((z(&[1, 4, 5]), z(&[1, 4, 6]))));
}
