//! [`GruCell`] and [`Gru`]: gated recurrent units (Cho et al. 2014), with
//! PyTorch's gate equations and parameter layout. `Gru` is a
//! [`RecurrentStack`] of `GruCell`s; this file holds the cell, its
//! [`RecurrentCell`] impl and the stack's GRU constructors.

use super::{Bound, RecurrentCell, RecurrentStack, cell_params};
use crate::Module;
use crate::nn::Param;
use crate::tape::{Tape, Var};
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

    fn bind<'t>(&self, tape: &'t Tape<T>) -> Bound<'t, T> {
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
        let sizes = (self.input_size(), self.hidden_size());
        self.bind(x.tape())
            .step("GruCell", sizes, x, h, |gi, gh, h| {
                gru_update(gi, gh, h, sizes.1)
            })
    }
}

/// The state is `h`; a stack of GRU cells is a [`Gru`].
impl<T: Float> RecurrentCell for GruCell<T> {
    type Scalar = T;
    type State<'t> = Var<'t, T>;
    const STACK_NAME: &'static str = "Gru";

    fn input_size(&self) -> usize {
        GruCell::input_size(self)
    }

    fn hidden_size(&self) -> usize {
        GruCell::hidden_size(self)
    }

    fn step<'t>(&self, x: Var<'t, T>, h: Var<'t, T>) -> Var<'t, T> {
        GruCell::step(self, x, h)
    }

    /// Binds the parameters once and projects every step's input in one
    /// product before the loop.
    fn unroll<'t>(&self, x: Var<'t, T>, h: Var<'t, T>) -> (Var<'t, T>, Var<'t, T>) {
        let hidden = GruCell::hidden_size(self);
        self.bind(x.tape())
            .unroll(x, h, |gi, gh, h| gru_update(gi, gh, h, hidden))
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
/// state `[N, L, H]` out, plus the last state of each layer, `h_n`
/// `[num_layers, N, H]` (see [`RecurrentStack::forward_with_state`]).
///
/// With `num_layers > 1` the cells are stacked: layer `k + 1` reads layer
/// `k`'s output sequence (through dropout with probability
/// [`dropout`](RecurrentStack::dropout) in training mode, as PyTorch).
/// Parameters are named as PyTorch names them, `weight_ih_l0`,
/// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_ih_l1`, ..., with
/// the shapes and init of [`GruCell`]; a safetensors file of an `nn.GRU`
/// loads as is. `Gru::new` (below) draws the cells from a
/// generator; [`from_cells`](RecurrentStack::from_cells) takes cells you
/// already have.
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
pub type Gru<T = f32> = RecurrentStack<GruCell<T>>;

impl<T: Float> RecurrentStack<GruCell<T>> {
    /// `num_layers` stacked GRU cells drawn from `rng` ([`GruCell::new`]),
    /// the first from `input_size` features, each with a state of
    /// `hidden_size`.
    ///
    /// # Panics
    /// If `num_layers` is 0.
    pub fn new<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        rng: &mut R,
    ) -> Self {
        Self::build(input_size, hidden_size, num_layers, |i, h| {
            GruCell::new(i, h, rng)
        })
    }

    /// The same layer without biases.
    pub fn without_bias(self) -> Self {
        self.map_cells(GruCell::without_bias)
    }
}
