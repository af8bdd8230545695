//! [`LstmCell`] and [`Lstm`]: long short-term memory (Hochreiter and
//! Schmidhuber 1997, with the forget gate), with PyTorch's gate equations
//! and parameter layout.

use super::{
    Bound, cell_params, check_sequence, check_step, dropout_between, initial_states, input_parts,
    visit_layer, visit_layer_mut,
};
use crate::Module;
use crate::nn::{Forward, Param};
use crate::tape::Var;
use crate::tensor::Float;
use rand::Rng;

/// One LSTM step, as PyTorch's `nn.LSTMCell`:
///
/// ```text
/// i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
/// f  = sigmoid(W_if x + b_if + W_hf h + b_hf)
/// g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
/// o  = sigmoid(W_io x + b_io + W_ho h + b_ho)
/// c' = f * c + i * g
/// h' = o * tanh(c')
/// ```
///
/// `weight_ih` is `[4H, in]` and `weight_hh` `[4H, H]`, their rows the
/// blocks `i, f, g, o` in that order; `bias_ih` and `bias_hh` are `[4H]`.
/// Default init (PyTorch's): all four from `U(-1/sqrt(H), 1/sqrt(H))`.
///
/// ```
/// use tapegrad::nn::LstmCell;
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let cell = LstmCell::<f32>::new(3, 5, &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3]));
/// let zeros = tape.constant(Tensor::zeros(&[2, 5]));
/// let (h, c) = cell.step(x, (zeros, zeros));
/// assert_eq!(h.shape().as_slice(), &[2, 5]);
/// assert_eq!(c.shape().as_slice(), &[2, 5]);
/// ```
#[derive(Module, Clone, Debug)]
pub struct LstmCell<T: Float = f32> {
    /// `[4H, in]`: `W_ii; W_if; W_ig; W_io`.
    pub weight_ih: Param<T>,
    /// `[4H, H]`: `W_hi; W_hf; W_hg; W_ho`.
    pub weight_hh: Param<T>,
    /// `[4H]`: `b_ii; b_if; b_ig; b_io` (absent without biases).
    pub bias_ih: Option<Param<T>>,
    /// `[4H]`: `b_hi; b_hf; b_hg; b_ho` (absent without biases).
    pub bias_hh: Option<Param<T>>,
}

impl<T: Float> LstmCell<T> {
    /// A cell from `input_size` features to a state of `hidden_size`, with biases.
    pub fn new<R: Rng + ?Sized>(input_size: usize, hidden_size: usize, rng: &mut R) -> Self {
        let [weight_ih, weight_hh, bias_ih, bias_hh] = cell_params(input_size, hidden_size, 4, rng);
        LstmCell {
            weight_ih,
            weight_hh,
            bias_ih: Some(bias_ih),
            bias_hh: Some(bias_hh),
        }
    }

    /// The same cell without biases.
    pub fn without_bias(mut self) -> Self {
        self.bias_ih = None;
        self.bias_hh = None;
        self
    }

    /// Input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// State size `H`.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    fn bind<'t>(&self, tape: &'t crate::Tape<T>) -> Bound<'t, T> {
        Bound::new(
            tape,
            &self.weight_ih,
            &self.weight_hh,
            &self.bias_ih,
            &self.bias_hh,
        )
    }

    /// One step: the next `(h', c')` from input `x [.., in]` and state
    /// `(h, c)`, each `[.., H]` (the same leading axes, usually `[N]`), by
    /// the equations above. Gradients flow to `x`, `h`, `c` and the
    /// parameters.
    ///
    /// # Panics
    /// If the last axes are not `in` and `H` or the leading axes differ:
    /// `LstmCell: expects x [.., 3] and h [.., 5] and c [.., 5] with the
    /// same leading axes, got x [2, 3] and h [2, 5] and c [3, 5]`.
    pub fn step<'t>(
        &self,
        x: Var<'t, T>,
        (h, c): (Var<'t, T>, Var<'t, T>),
    ) -> (Var<'t, T>, Var<'t, T>) {
        let hidden = self.hidden_size();
        check_step(
            "LstmCell",
            &x.shape(),
            &[("h", &h.shape()), ("c", &c.shape())],
            self.input_size(),
            hidden,
        );
        let bound = self.bind(x.tape());
        lstm_update(bound.input_part(x), bound.hidden_part(h), c, hidden)
    }
}

/// The LSTM equations from the two gate pre-activations `gi = W_i x + b_i`
/// and `gh = W_h h + b_h` (each `[.., 4H]`, blocks `i, f, g, o`).
fn lstm_update<'t, T: Float>(
    gi: Var<'t, T>,
    gh: Var<'t, T>,
    c: Var<'t, T>,
    hidden: usize,
) -> (Var<'t, T>, Var<'t, T>) {
    let gates = gi + gh;
    // One sigmoid over all four blocks (the g block is then unused) costs
    // less on the tape than three separate ones.
    let s = gates.sigmoid();
    let i = s.narrow(-1, 0, hidden);
    let f = s.narrow(-1, hidden, hidden);
    let o = s.narrow(-1, 3 * hidden, hidden);
    let g = gates.narrow(-1, 2 * hidden, hidden).tanh();
    let c = f * c + i * g;
    (o * c.tanh(), c)
}

/// An LSTM unrolled over a batch-first sequence, as PyTorch's
/// `nn.LSTM(batch_first=True)`: `[N, L, in]` in, every step's top-layer
/// `h` `[N, L, H]` out, plus the last `(h, c)` of each layer.
///
/// With `num_layers > 1` the cells are stacked: layer `k + 1` reads layer
/// `k`'s output sequence (through dropout with probability
/// [`dropout`](Lstm::dropout) in training mode, as PyTorch). Parameters are
/// named as PyTorch names them, `weight_ih_l0`, `weight_hh_l0`,
/// `bias_ih_l0`, `bias_hh_l0`, `weight_ih_l1`, ..., with the shapes and
/// init of [`LstmCell`]; a safetensors file of an `nn.LSTM` (without
/// `proj_size`) loads as is.
///
/// The input's share of every gate, `W_i x_t + b_i`, is computed for all
/// `L` steps in one product before the loop; only `W_h h + b_h` runs per
/// step.
///
/// ```
/// use tapegrad::nn::{Forward, Lstm};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let lstm = Lstm::<f32>::new(3, 8, 1, &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[4, 10, 3])); // N = 4, L = 10
/// let (out, (h_n, c_n)) = lstm.forward_with_state(x, None);
/// assert_eq!(out.shape().as_slice(), &[4, 10, 8]);
/// assert_eq!(h_n.shape().as_slice(), &[1, 4, 8]); // [num_layers, N, H]
/// assert_eq!(c_n.shape().as_slice(), &[1, 4, 8]);
/// ```
#[derive(Clone, Debug)]
pub struct Lstm<T: Float = f32> {
    /// The cells, bottom first.
    pub layers: Vec<LstmCell<T>>,
    dropout: f64,
}

/// An LSTM's state: `(h, c)`.
type State<'t, T> = (Var<'t, T>, Var<'t, T>);

impl<T: Float> Lstm<T> {
    /// `num_layers` stacked cells, the first from `input_size` features,
    /// each with a state of `hidden_size`.
    ///
    /// # Panics
    /// If `num_layers` is 0.
    pub fn new<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        rng: &mut R,
    ) -> Self {
        assert!(num_layers >= 1, "Lstm: num_layers must be at least 1");
        let layers = (0..num_layers)
            .map(|k| {
                let input = if k == 0 { input_size } else { hidden_size };
                LstmCell::new(input, hidden_size, rng)
            })
            .collect();
        Lstm {
            layers,
            dropout: 0.0,
        }
    }

    /// The same layer without biases.
    pub fn without_bias(mut self) -> Self {
        self.layers = self.layers.into_iter().map(|c| c.without_bias()).collect();
        self
    }

    /// Dropout with probability `p` on each layer's output except the
    /// last, in training mode (PyTorch's `dropout` argument); 0 by default.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn dropout(mut self, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "Lstm: dropout must be in [0, 1]: got {p}"
        );
        self.dropout = p;
        self
    }

    /// Input features.
    pub fn input_size(&self) -> usize {
        self.layers[0].input_size()
    }

    /// State size `H`.
    pub fn hidden_size(&self) -> usize {
        self.layers[0].hidden_size()
    }

    /// Number of stacked cells.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Runs the sequence `x [N, L, in]` from initial states `(h0, c0)`,
    /// each `[num_layers, N, H]` (zeros if `None`), and returns
    /// `(output, (h_n, c_n))`: the top layer's `h` at every step,
    /// `[N, L, H]`, and every layer's last `h` and `c`,
    /// `[num_layers, N, H]` each, as PyTorch returns them.
    ///
    /// # Panics
    /// If `x` is not `[N, L, in]` with `L >= 1`
    /// (`Lstm: expects a batch-first sequence [N, L, 3], got [2, 4]`) or
    /// `h0` or `c0` is not `[num_layers, N, H]`.
    pub fn forward_with_state<'t>(
        &self,
        x: Var<'t, T>,
        state: Option<State<'t, T>>,
    ) -> (Var<'t, T>, State<'t, T>) {
        let tape = x.tape();
        let (hidden, layers) = (self.hidden_size(), self.num_layers());
        let (n, _) = check_sequence("Lstm", &x.shape(), self.input_size());
        let (h0, c0) = state.unzip();
        let h0 = initial_states("Lstm", "state h0", tape, h0, layers, n, hidden);
        let c0 = initial_states("Lstm", "cell state c0", tape, c0, layers, n, hidden);
        let mut input = x;
        let (mut last_h, mut last_c) = (Vec::with_capacity(layers), Vec::with_capacity(layers));
        for (k, cell) in self.layers.iter().enumerate() {
            if k > 0 {
                input = dropout_between(input, self.dropout);
            }
            let bound = cell.bind(tape);
            let (mut h, mut c) = (h0[k], c0[k]);
            let mut states = Vec::new();
            for gi in input_parts(&bound, input) {
                (h, c) = lstm_update(gi, bound.hidden_part(h), c, hidden);
                states.push(h);
            }
            last_h.push(h);
            last_c.push(c);
            input = Var::stack(&states, 1);
        }
        (input, (Var::stack(&last_h, 0), Var::stack(&last_c, 0)))
    }
}

impl<T: Float> Forward<T> for Lstm<T> {
    /// The output sequence `[N, L, H]` from zero initial states.
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        self.forward_with_state(x, None).0
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float> Module<T> for Lstm<T> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        for (k, c) in self.layers.iter().enumerate() {
            let params = [
                Some(&c.weight_ih),
                Some(&c.weight_hh),
                c.bias_ih.as_ref(),
                c.bias_hh.as_ref(),
            ];
            visit_layer(prefix, k, params, f);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        for (k, c) in self.layers.iter_mut().enumerate() {
            let params = [
                Some(&mut c.weight_ih),
                Some(&mut c.weight_hh),
                c.bias_ih.as_mut(),
                c.bias_hh.as_mut(),
            ];
            visit_layer_mut(prefix, k, params, f);
        }
    }
}
