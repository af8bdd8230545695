//! [`LstmCell`] and [`Lstm`]: long short-term memory (Hochreiter and
//! Schmidhuber 1997, with the forget gate), with PyTorch's gate equations
//! and parameter layout. `Lstm` is a [`RecurrentStack`] of `LstmCell`s;
//! this file holds the cell, its [`RecurrentCell`] impl and the stack's
//! LSTM constructors.

use super::{Bound, RecurrentCell, RecurrentStack, cell_params};
use crate::Module;
use crate::nn::Param;
use crate::tape::{Tape, Var};
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

    fn bind<'t>(&self, tape: &'t Tape<T>) -> Bound<'t, T> {
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
    pub fn step<'t>(&self, x: Var<'t, T>, state: State<'t, T>) -> State<'t, T> {
        let sizes = (self.input_size(), self.hidden_size());
        self.bind(x.tape())
            .step("LstmCell", sizes, x, state, |gi, gh, (_, c)| {
                lstm_update(gi, gh, c, sizes.1)
            })
    }
}

/// An LSTM's state: `(h, c)`.
type State<'t, T> = (Var<'t, T>, Var<'t, T>);

/// The state is `(h, c)`; a stack of LSTM cells is an [`Lstm`].
impl<T: Float> RecurrentCell for LstmCell<T> {
    type Scalar = T;
    type State<'t> = State<'t, T>;
    const STACK_NAME: &'static str = "Lstm";

    fn input_size(&self) -> usize {
        LstmCell::input_size(self)
    }

    fn hidden_size(&self) -> usize {
        LstmCell::hidden_size(self)
    }

    fn step<'t>(&self, x: Var<'t, T>, state: State<'t, T>) -> State<'t, T> {
        LstmCell::step(self, x, state)
    }

    /// Binds the parameters once and projects every step's input in one
    /// product before the loop.
    fn unroll<'t>(&self, x: Var<'t, T>, state: State<'t, T>) -> (Var<'t, T>, State<'t, T>) {
        let hidden = LstmCell::hidden_size(self);
        self.bind(x.tape())
            .unroll(x, state, |gi, gh, (_, c)| lstm_update(gi, gh, c, hidden))
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
/// `h` `[N, L, H]` out, plus the last `(h, c)` of each layer, `(h_n, c_n)`
/// `[num_layers, N, H]` each (see [`RecurrentStack::forward_with_state`]).
///
/// With `num_layers > 1` the cells are stacked: layer `k + 1` reads layer
/// `k`'s output sequence (through dropout with probability
/// [`dropout`](RecurrentStack::dropout) in training mode, as PyTorch).
/// Parameters are named as PyTorch names them, `weight_ih_l0`,
/// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_ih_l1`, ..., with
/// the shapes and init of [`LstmCell`]; a safetensors file of an `nn.LSTM`
/// (without `proj_size`) loads as is. `Lstm::new` (below)
/// draws the cells from a generator;
/// [`from_cells`](RecurrentStack::from_cells) takes cells you already have.
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
pub type Lstm<T = f32> = RecurrentStack<LstmCell<T>>;

impl<T: Float> RecurrentStack<LstmCell<T>> {
    /// `num_layers` stacked LSTM cells drawn from `rng`
    /// ([`LstmCell::new`]), the first from `input_size` features, each with
    /// a state of `hidden_size`.
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
            LstmCell::new(i, h, rng)
        })
    }

    /// The same layer without biases.
    pub fn without_bias(self) -> Self {
        self.map_cells(LstmCell::without_bias)
    }
}
