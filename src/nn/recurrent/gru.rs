//! [`GruCell`] and [`Gru`]: gated recurrent units (Cho et al. 2014), with
//! PyTorch's gate equations and parameter layout.

use super::{
    Bound, cell_params, check_sequence, check_step, dropout_between, initial_states, input_parts,
    visit_layer, visit_layer_mut,
};
use crate::Module;
use crate::nn::{Forward, Param};
use crate::tape::Var;
use crate::tensor::Float;
use rand::Rng;

/// One GRU step, as PyTorch's `nn.GRUCell`:
///
/// ```text
/// r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
/// z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
/// n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
/// h' = (1 - z) * n + z * h
/// ```
///
/// `weight_ih` is `[3H, in]` and `weight_hh` `[3H, H]`, their rows the
/// blocks `r, z, n` in that order; `bias_ih` and `bias_hh` are `[3H]`.
/// Default init (PyTorch's): all four from `U(-1/sqrt(H), 1/sqrt(H))`.
///
/// ```
/// use tapegrad::nn::GruCell;
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let cell = GruCell::<f32>::new(3, 5, &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3]));
/// let h = tape.constant(Tensor::zeros(&[2, 5]));
/// assert_eq!(cell.step(x, h).shape().as_slice(), &[2, 5]);
/// ```
#[derive(Module, Clone, Debug)]
pub struct GruCell<T: Float = f32> {
    /// `[3H, in]`: `W_ir; W_iz; W_in`.
    pub weight_ih: Param<T>,
    /// `[3H, H]`: `W_hr; W_hz; W_hn`.
    pub weight_hh: Param<T>,
    /// `[3H]`: `b_ir; b_iz; b_in` (absent without biases).
    pub bias_ih: Option<Param<T>>,
    /// `[3H]`: `b_hr; b_hz; b_hn` (absent without biases).
    pub bias_hh: Option<Param<T>>,
}

impl<T: Float> GruCell<T> {
    /// A cell from `input_size` features to a state of `hidden_size`, with biases.
    pub fn new<R: Rng + ?Sized>(input_size: usize, hidden_size: usize, rng: &mut R) -> Self {
        let [weight_ih, weight_hh, bias_ih, bias_hh] = cell_params(input_size, hidden_size, 3, rng);
        GruCell {
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

    /// One step: the next state `h'` from input `x [.., in]` and state
    /// `h [.., H]` (the same leading axes, usually `[N]`), by the equations
    /// above. Gradients flow to `x`, `h` and the parameters.
    ///
    /// # Panics
    /// If the last axes are not `in` and `H` or the leading axes differ:
    /// `GruCell: expects x [.., 3] and h [.., 5] with the same leading axes,
    /// got x [2, 4] and h [2, 5]`.
    pub fn step<'t>(&self, x: Var<'t, T>, h: Var<'t, T>) -> Var<'t, T> {
        let hidden = self.hidden_size();
        check_step(
            "GruCell",
            &x.shape(),
            &[("h", &h.shape())],
            self.input_size(),
            hidden,
        );
        let bound = self.bind(x.tape());
        gru_update(bound.input_part(x), bound.hidden_part(h), h, hidden)
    }
}

/// The GRU equations from the two gate pre-activations `gi = W_i x + b_i`
/// and `gh = W_h h + b_h` (each `[.., 3H]`, blocks `r, z, n`).
fn gru_update<'t, T: Float>(
    gi: Var<'t, T>,
    gh: Var<'t, T>,
    h: Var<'t, T>,
    hidden: usize,
) -> Var<'t, T> {
    // r and z are contiguous: one add and one sigmoid for both.
    let rz = (gi.narrow(-1, 0, 2 * hidden) + gh.narrow(-1, 0, 2 * hidden)).sigmoid();
    let r = rz.narrow(-1, 0, hidden);
    let z = rz.narrow(-1, hidden, hidden);
    let n = (gi.narrow(-1, 2 * hidden, hidden) + r * gh.narrow(-1, 2 * hidden, hidden)).tanh();
    // (1 - z) n + z h, with one product fewer.
    n + z * (h - n)
}

/// A GRU unrolled over a batch-first sequence, as PyTorch's
/// `nn.GRU(batch_first=True)`: `[N, L, in]` in, every step's top-layer
/// state `[N, L, H]` out, plus the last state of each layer.
///
/// With `num_layers > 1` the cells are stacked: layer `k + 1` reads layer
/// `k`'s output sequence (through dropout with probability
/// [`dropout`](Gru::dropout) in training mode, as PyTorch). Parameters are
/// named as PyTorch names them, `weight_ih_l0`, `weight_hh_l0`,
/// `bias_ih_l0`, `bias_hh_l0`, `weight_ih_l1`, ..., with the shapes and
/// init of [`GruCell`]; a safetensors file of an `nn.GRU` loads as is.
///
/// The input's share of every gate, `W_i x_t + b_i`, is computed for all
/// `L` steps in one product before the loop; only `W_h h + b_h` runs per
/// step.
///
/// ```
/// use tapegrad::nn::{Forward, Gru};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let gru = Gru::<f32>::new(3, 8, 2, &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[4, 10, 3])); // N = 4, L = 10
/// let (out, h_n) = gru.forward_with_state(x, None);
/// assert_eq!(out.shape().as_slice(), &[4, 10, 8]);
/// assert_eq!(h_n.shape().as_slice(), &[2, 4, 8]); // [num_layers, N, H]
/// ```
#[derive(Clone, Debug)]
pub struct Gru<T: Float = f32> {
    /// The cells, bottom first.
    pub layers: Vec<GruCell<T>>,
    dropout: f64,
}

impl<T: Float> Gru<T> {
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
        assert!(num_layers >= 1, "Gru: num_layers must be at least 1");
        let layers = (0..num_layers)
            .map(|k| {
                let input = if k == 0 { input_size } else { hidden_size };
                GruCell::new(input, hidden_size, rng)
            })
            .collect();
        Gru {
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
            "Gru: dropout must be in [0, 1]: got {p}"
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

    /// Runs the sequence `x [N, L, in]` from initial states `h0`
    /// `[num_layers, N, H]` (zeros if `None`) and returns `(output, h_n)`:
    /// the top layer's state at every step, `[N, L, H]`, and every layer's
    /// last state, `[num_layers, N, H]`, as PyTorch returns them.
    ///
    /// # Panics
    /// If `x` is not `[N, L, in]` with `L >= 1`
    /// (`Gru: expects a batch-first sequence [N, L, 3], got [2, 4]`) or
    /// `h0` is not `[num_layers, N, H]`.
    pub fn forward_with_state<'t>(
        &self,
        x: Var<'t, T>,
        h0: Option<Var<'t, T>>,
    ) -> (Var<'t, T>, Var<'t, T>) {
        let tape = x.tape();
        let hidden = self.hidden_size();
        let (n, _) = check_sequence("Gru", &x.shape(), self.input_size());
        let h0 = initial_states("Gru", "state h0", tape, h0, self.num_layers(), n, hidden);
        let mut input = x;
        let mut last = Vec::with_capacity(self.num_layers());
        for (k, cell) in self.layers.iter().enumerate() {
            if k > 0 {
                input = dropout_between(input, self.dropout);
            }
            let bound = cell.bind(tape);
            let mut h = h0[k];
            let mut states = Vec::new();
            for gi in input_parts(&bound, input) {
                h = gru_update(gi, bound.hidden_part(h), h, hidden);
                states.push(h);
            }
            last.push(h);
            input = Var::stack(&states, 1);
        }
        (input, Var::stack(&last, 0))
    }
}

impl<T: Float> Forward<T> for Gru<T> {
    /// The output sequence `[N, L, H]` from zero initial states.
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        self.forward_with_state(x, None).0
    }
}

#[diagnostic::do_not_recommend]
impl<T: Float> Module<T> for Gru<T> {
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
