//! `RecurrentStack`, the one type behind `Gru` and `Lstm`: built from given
//! cells it matches the generator-built stack (names, values, outputs with
//! and without dropout), a cell of one's own stacks through the trait's
//! default unroll, and the builders refuse cells that do not stack.

use tapegrad::check::gradcheck;
use tapegrad::nn::{Forward, Gru, GruCell, Lstm, LstmCell, RecurrentCell, RecurrentStack};
use tapegrad::{Module, Param, Tape, Tensor, Var};

use crate::common;
use common::{assert_close, randn, rng};

/// A fresh parameter holding a copy of `p`'s tensor (a new id: nothing is
/// shared with `p`).
fn copy(p: &Param<f64>) -> Param<f64> {
    Param::new(p.name(), p.value().clone())
}

#[test]
fn a_gru_built_from_cells_matches_the_rng_built_one() {
    let (n, l, input, hidden, layers) = (2, 5, 3, 4, 2);
    let drawn = Gru::<f64>::new(input, hidden, layers, &mut rng(70)).dropout(0.5);
    // The same weights, as cells a user could have loaded from anywhere.
    let cells: Vec<GruCell<f64>> = drawn
        .layers
        .iter()
        .map(|c| GruCell {
            weight_ih: copy(&c.weight_ih),
            weight_hh: copy(&c.weight_hh),
            bias_ih: c.bias_ih.as_ref().map(copy),
            bias_hh: c.bias_hh.as_ref().map(copy),
        })
        .collect();
    let built = Gru::from_cells(cells).dropout(0.5);
    assert_eq!(built.dropout_probability(), 0.5);
    assert_eq!(
        (built.input_size(), built.hidden_size(), built.num_layers()),
        (input, hidden, layers)
    );
    // The same state dict: names, shapes and values.
    let state = |m: &Gru<f64>| -> Vec<(String, Vec<f64>)> {
        m.named_parameters()
            .into_iter()
            .map(|(name, p)| (name, p.value().to_vec()))
            .collect()
    };
    assert_eq!(state(&built), state(&drawn));
    // The same outputs and last states, in evaluation and (with dropout
    // between the layers, from the tape's seed) in training.
    let x = randn(&[n, l, input], 71);
    let h0 = randn(&[layers, n, hidden], 72);
    for tape in [Tape::eval, Tape::new] {
        let run = |m: &Gru<f64>| {
            let t = tape();
            let (out, h_n) =
                m.forward_with_state(t.constant(x.clone()), Some(t.constant(h0.clone())));
            (out.value().to_vec(), h_n.value().to_vec())
        };
        assert_eq!(run(&built), run(&drawn));
    }
    // Dropout really acts in training here, so the comparison above covers it.
    let t = Tape::new();
    let plain = Gru::from_cells(built.layers.clone());
    assert_ne!(
        built.forward(t.constant(x.clone())).value().to_vec(),
        plain.forward(t.constant(x.clone())).value().to_vec()
    );
}

#[test]
fn an_lstm_built_from_cells_matches_the_rng_built_one() {
    let drawn = Lstm::<f64>::new(2, 3, 2, &mut rng(73)).without_bias();
    let cells: Vec<LstmCell<f64>> = drawn
        .layers
        .iter()
        .map(|c| LstmCell {
            weight_ih: copy(&c.weight_ih),
            weight_hh: copy(&c.weight_hh),
            bias_ih: None,
            bias_hh: None,
        })
        .collect();
    let built = Lstm::from_cells(cells);
    let names = |m: &Lstm<f64>| -> Vec<String> {
        m.named_parameters().into_iter().map(|(n, _)| n).collect()
    };
    assert_eq!(
        names(&built),
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "weight_ih_l1",
            "weight_hh_l1"
        ]
    );
    let x = randn(&[2, 4, 2], 74);
    let tape = Tape::new();
    let (a, (ha, ca)) = built.forward_with_state(tape.constant(x.clone()), None);
    let (b, (hb, cb)) = drawn.forward_with_state(tape.constant(x), None);
    for (a, b) in [(a, b), (ha, hb), (ca, cb)] {
        assert_eq!(a.value().to_vec(), b.value().to_vec());
    }
}

/// A GRU cell that implements only `step`, so its stack runs the trait's
/// default `unroll` (one `step` per time step) rather than the GRU's own.
#[derive(Module, Clone)]
#[module(float = f64)]
struct StepOnly {
    gru: GruCell<f64>,
}

impl RecurrentCell for StepOnly {
    type Scalar = f64;
    type State<'t> = Var<'t, f64>;
    const STACK_NAME: &'static str = "StepOnly";
    fn input_size(&self) -> usize {
        self.gru.input_size()
    }
    fn hidden_size(&self) -> usize {
        self.gru.hidden_size()
    }
    fn step<'t>(&self, x: Var<'t, f64>, h: Var<'t, f64>) -> Var<'t, f64> {
        self.gru.step(x, h)
    }
}

#[test]
fn a_stack_of_a_cell_of_ones_own_unrolls_by_steps() {
    let (n, l, input, hidden, layers) = (2, 6, 3, 4, 3);
    let gru = Gru::<f64>::new(input, hidden, layers, &mut rng(75));
    let mine = RecurrentStack::from_cells(
        gru.layers
            .iter()
            .map(|c| StepOnly { gru: c.clone() })
            .collect(),
    );
    // The default unroll agrees with the GRU's one-product unroll, which
    // the tests above check against the gate equations.
    let x = randn(&[n, l, input], 76);
    let h0 = randn(&[layers, n, hidden], 77);
    let tape = Tape::new();
    let k = |t: &Tensor<f64>| tape.constant(t.clone());
    let (a, ha) = mine.forward_with_state(k(&x), Some(k(&h0)));
    let (b, hb) = gru.forward_with_state(k(&x), Some(k(&h0)));
    assert_close(&a.value().to_vec(), &b.value().to_vec(), 1e-12);
    assert_close(&ha.value().to_vec(), &hb.value().to_vec(), 1e-12);
    // The cell's names gain the layer suffix under the field's name.
    assert_eq!(mine.named_parameters()[0].0, "gru.weight_ih_l0");
    // And its gradients through the default unroll are right.
    gradcheck(|v| mine.forward(v[0]), &[x]).unwrap();
}

// ------------------------------------------------------------------ panics

#[test]
#[should_panic(expected = "Gru: layer 1 must read 4 features and keep a state of 4, \
                           got a cell from 3 to 4")]
fn from_cells_rejects_cells_that_do_not_stack() {
    let mut r = rng(0);
    Gru::<f64>::from_cells(vec![GruCell::new(3, 4, &mut r), GruCell::new(3, 4, &mut r)]);
}

#[test]
#[should_panic(expected = "Lstm: a stack needs at least one cell")]
fn from_cells_rejects_an_empty_stack() {
    Lstm::<f64>::from_cells(Vec::new());
}

#[test]
#[should_panic(expected = "Gru: num_layers must be at least 1")]
fn new_rejects_zero_layers() {
    Gru::<f64>::new(3, 4, 0, &mut rng(0));
}
