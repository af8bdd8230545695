//! [`RecurrentCell`]: what a cell must say for [`RecurrentStack`] to unroll
//! and stack it, and [`RecurrentState`]: what a cell carries from one step
//! to the next.
//!
//! [`RecurrentStack`]: super::RecurrentStack

use super::{run_steps, split_steps};
use crate::nn::Module;
use crate::tape::Var;
use crate::tensor::Float;

/// The state a cell carries between steps: a fixed number of vars, every
/// one `[.., H]`, the first of which is the cell's output `h`. A GRU's
/// state is one var (`h`), an LSTM's a pair (`(h, c)`).
///
/// A stack keeps one such state per layer: its initial and final states
/// have the same type with a layer axis in front, `[num_layers, N, H]`
/// per part.
pub trait RecurrentState<'t, T: Float>: Copy {
    /// Each part's short name and what it is, in order, the output first:
    /// `[("h", "state")]` for a GRU, `[("h", "state"), ("c", "cell
    /// state")]` for an LSTM. Panic messages use them (`h [.., 5]`, `the
    /// initial cell state c0`).
    const PARTS: &'static [(&'static str, &'static str)];

    /// Part `i` (`0 <= i < PARTS.len()`).
    fn part(self, i: usize) -> Var<'t, T>;

    /// The state whose part `i` is `part(i)`, for `i` in `0..PARTS.len()`.
    fn from_parts(part: impl FnMut(usize) -> Var<'t, T>) -> Self;

    /// The output `h`: part 0.
    fn output(self) -> Var<'t, T> {
        self.part(0)
    }
}

/// The state is `h` alone (a GRU's, a plain RNN's).
impl<'t, T: Float> RecurrentState<'t, T> for Var<'t, T> {
    const PARTS: &'static [(&'static str, &'static str)] = &[("h", "state")];

    fn part(self, i: usize) -> Var<'t, T> {
        debug_assert_eq!(i, 0, "a one-part state has no part {i}");
        self
    }

    fn from_parts(mut part: impl FnMut(usize) -> Var<'t, T>) -> Self {
        part(0)
    }
}

/// The state is `(h, c)`: the output and a cell state (an LSTM's).
impl<'t, T: Float> RecurrentState<'t, T> for (Var<'t, T>, Var<'t, T>) {
    const PARTS: &'static [(&'static str, &'static str)] = &[("h", "state"), ("c", "cell state")];

    fn part(self, i: usize) -> Var<'t, T> {
        match i {
            0 => self.0,
            1 => self.1,
            _ => panic!("a two-part state has no part {i}"),
        }
    }

    fn from_parts(mut part: impl FnMut(usize) -> Var<'t, T>) -> Self {
        let h = part(0);
        (h, part(1))
    }
}

/// One step of a recurrent layer: `state' = cell(x, state)`, the layer
/// that [`RecurrentStack`](super::RecurrentStack) stacks and unrolls over a
/// sequence. [`GruCell`](super::GruCell) and [`LstmCell`](super::LstmCell)
/// implement it; so can a cell of your own (an Elman RNN, a peephole LSTM),
/// which then gets the stack's sequence handling, initial states, dropout
/// between layers and PyTorch-style parameter names for free.
///
/// Only [`step`](Self::step) computes anything; [`unroll`](Self::unroll)
/// has a default that calls it once per time step, and a cell overrides it
/// when the whole sequence can be done faster (the GRU and LSTM cells
/// project every step's input in one product before the loop).
///
/// ```
/// use tapegrad::nn::{Module, Param, RecurrentCell, RecurrentStack, init};
/// use tapegrad::{Tape, Tensor, Var};
/// use rand::SeedableRng;
///
/// /// `h' = tanh(x W_ih^T + h W_hh^T)`
/// #[derive(Module)]
/// struct Elman {
///     weight_ih: Param,
///     weight_hh: Param,
/// }
///
/// impl RecurrentCell for Elman {
///     type Scalar = f32;
///     type State<'t> = Var<'t>;
///     const STACK_NAME: &'static str = "Elman";
///     fn input_size(&self) -> usize {
///         self.weight_ih.shape()[1]
///     }
///     fn hidden_size(&self) -> usize {
///         self.weight_hh.shape()[0]
///     }
///     fn step<'t>(&self, x: Var<'t>, h: Var<'t>) -> Var<'t> {
///         let tape = x.tape();
///         (x.linear(tape.param(&self.weight_ih), None)
///             + h.linear(tape.param(&self.weight_hh), None))
///         .tanh()
///     }
/// }
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut cell = |input: usize, hidden: usize| Elman {
///     weight_ih: Param::new("weight_ih", init::uniform(&[hidden, input], -0.5, 0.5, &mut rng)),
///     weight_hh: Param::new("weight_hh", init::uniform(&[hidden, hidden], -0.5, 0.5, &mut rng)),
/// };
/// let rnn = RecurrentStack::build(3, 4, 2, &mut cell);
/// let tape = Tape::new();
/// let (out, h_n) = rnn.forward_with_state(tape.constant(Tensor::ones(&[2, 5, 3])), None);
/// assert_eq!(out.shape().as_slice(), &[2, 5, 4]);
/// assert_eq!(h_n.shape().as_slice(), &[2, 2, 4]);
/// assert_eq!(rnn.named_parameters()[2].0, "weight_ih_l1");
/// ```
pub trait RecurrentCell: Module<Self::Scalar> {
    /// The element type, `f32` or `f64`.
    type Scalar: Float;

    /// What the cell carries from one step to the next: `Var<'t, T>` for a
    /// GRU, `(Var<'t, T>, Var<'t, T>)` for an LSTM.
    type State<'t>: RecurrentState<'t, Self::Scalar>;

    /// The stack's name in its panic messages: `"Gru"` for a stack of
    /// [`GruCell`](super::GruCell)s.
    const STACK_NAME: &'static str;

    /// Input features `in`.
    fn input_size(&self) -> usize;

    /// State size `H` (of every part of the state).
    fn hidden_size(&self) -> usize;

    /// One step: the next state from the input `x [.., in]` and the state,
    /// every part `[.., H]` with the same leading axes as `x` (usually
    /// `[N]`). Gradients flow to `x`, the state and the parameters.
    ///
    /// # Panics
    /// If the shapes do not fit (an implementation's own message naming
    /// the cell and the shapes).
    fn step<'t>(&self, x: Var<'t, Self::Scalar>, state: Self::State<'t>) -> Self::State<'t>;

    /// Runs the cell over the batch-first sequence `x [N, L, in]` from
    /// `state` (parts `[N, H]`) and returns every step's output `h`,
    /// stacked to `[N, L, H]`, and the last state. The stack has already
    /// checked the shapes (`L >= 1`).
    ///
    /// The default cuts `x` into its `L` steps and calls
    /// [`step`](Self::step) on each; override it to do shared work once
    /// per sequence rather than once per step.
    fn unroll<'t>(
        &self,
        x: Var<'t, Self::Scalar>,
        state: Self::State<'t>,
    ) -> (Var<'t, Self::Scalar>, Self::State<'t>) {
        let mut steps = Vec::with_capacity(x.shape()[1]);
        split_steps(x, &mut steps);
        run_steps(steps, state, |x, s| self.step(x, s))
    }
}
