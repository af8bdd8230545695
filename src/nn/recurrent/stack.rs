//! [`RecurrentStack`]: cells stacked into layers and unrolled over a
//! batch-first sequence, as PyTorch's `nn.GRU` and `nn.LSTM` (with
//! `batch_first=True`) do. [`Gru`](super::Gru) and [`Lstm`](super::Lstm)
//! are this type over their cells.

use super::{RecurrentCell, RecurrentState};
use crate::nn::{Forward, Module, Param, with_child_name};
use crate::tape::{Tape, Var};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// `num_layers` recurrent cells unrolled over a batch-first sequence:
/// `[N, L, in]` in, the top layer's output `h` at every step `[N, L, H]`
/// out, plus each layer's last state.
///
/// Layer `k + 1` reads layer `k`'s output sequence, through dropout with
/// probability [`dropout`](Self::dropout) in training mode (PyTorch's
/// `dropout` argument). Every layer keeps a state of the same size `H`, so
/// the initial and final states are the cell's
/// [`State`](RecurrentCell::State) with a layer axis in front:
/// `[num_layers, N, H]` per part.
///
/// Parameters are named as PyTorch names a stack's: a cell's parameter
/// `name` in layer `k` is `{name}_l{k}` (`weight_ih_l0`, `bias_hh_l1`),
/// so a safetensors file of an `nn.GRU` or `nn.LSTM` loads as is.
///
/// Build one with a type's own constructor ([`Gru::new`](super::Gru),
/// [`Lstm::new`](super::Lstm)), from cells you already have
/// ([`from_cells`](Self::from_cells)), or from a function that makes each
/// layer's cell ([`build`](Self::build)).
#[derive(Clone)]
pub struct RecurrentStack<C> {
    /// The cells, bottom first.
    pub layers: Vec<C>,
    dropout: f64,
}

impl<C: RecurrentCell> RecurrentStack<C> {
    /// A stack of the given cells, bottom first, without dropout (set it
    /// with [`dropout`](Self::dropout)). The weights are the cells' own:
    /// this is how to build a stack from tensors you already have.
    ///
    /// ```
    /// use tapegrad::nn::{Gru, GruCell, Module};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let cells = vec![GruCell::<f32>::new(3, 8, &mut rng), GruCell::new(8, 8, &mut rng)];
    /// let gru = Gru::from_cells(cells).dropout(0.25);
    /// assert_eq!((gru.num_layers(), gru.dropout_probability()), (2, 0.25));
    /// assert_eq!(gru.named_parameters()[4].0, "weight_ih_l1");
    /// ```
    ///
    /// # Panics
    /// If `cells` is empty, or the cells' sizes do not stack: every cell
    /// must have the first one's state size `H`, and every cell above the
    /// first must read `H` features (`Gru: layer 1 must read 8 features
    /// and keep a state of 8, got a cell from 4 to 8`).
    pub fn from_cells(cells: Vec<C>) -> Self {
        let name = C::STACK_NAME;
        let Some(first) = cells.first() else {
            panic!("{name}: a stack needs at least one cell");
        };
        let hidden = first.hidden_size();
        for (k, cell) in cells.iter().enumerate() {
            let (input, h) = (cell.input_size(), cell.hidden_size());
            let wanted_input = if k == 0 { input } else { hidden };
            if h != hidden || input != wanted_input {
                panic!(
                    "{name}: layer {k} must read {wanted_input} features and keep a state of \
                     {hidden}, got a cell from {input} to {h}"
                );
            }
        }
        RecurrentStack {
            layers: cells,
            dropout: 0.0,
        }
    }

    /// `num_layers` cells from `make_cell(input, hidden)`: the first from
    /// `input_size` features, the others from `hidden_size`, each with a
    /// state of `hidden_size`. `Gru::new` is
    /// `build(.., |i, h| GruCell::new(i, h, rng))`.
    ///
    /// # Panics
    /// If `num_layers` is 0, or a made cell has other sizes than asked for.
    pub fn build(
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        mut make_cell: impl FnMut(usize, usize) -> C,
    ) -> Self {
        assert!(
            num_layers >= 1,
            "{}: num_layers must be at least 1",
            C::STACK_NAME
        );
        let cells = (0..num_layers)
            .map(|k| {
                let input = if k == 0 { input_size } else { hidden_size };
                let cell = make_cell(input, hidden_size);
                let made = (cell.input_size(), cell.hidden_size());
                assert!(
                    made == (input, hidden_size),
                    "{}: layer {k}'s cell was asked for {input} to {hidden_size}, \
                     made {} to {}",
                    C::STACK_NAME,
                    made.0,
                    made.1
                );
                cell
            })
            .collect();
        Self::from_cells(cells)
    }

    /// The same stack with `f` applied to every cell (in order, bottom
    /// first): `gru.map_cells(GruCell::without_bias)`.
    ///
    /// # Panics
    /// If the new cells' sizes no longer stack (see
    /// [`from_cells`](Self::from_cells)).
    pub fn map_cells(self, f: impl FnMut(C) -> C) -> Self {
        let dropout = self.dropout;
        let mut stack = Self::from_cells(self.layers.into_iter().map(f).collect());
        stack.dropout = dropout;
        stack
    }

    /// Dropout with probability `p` on each layer's output except the
    /// last, in training mode (PyTorch's `dropout` argument); 0 by default.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn dropout(mut self, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "{}: dropout must be in [0, 1]: got {p}",
            C::STACK_NAME
        );
        self.dropout = p;
        self
    }

    /// The dropout probability between layers set by
    /// [`dropout`](Self::dropout).
    pub fn dropout_probability(&self) -> f64 {
        self.dropout
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

    /// Runs the sequence `x [N, L, in]` from the initial states (every part
    /// `[num_layers, N, H]`; zeros if `None`) and returns `(output,
    /// last)`: the top layer's output `h` at every step, `[N, L, H]`, and
    /// every layer's last state, `[num_layers, N, H]` per part, as PyTorch
    /// returns them. For a GRU that is `(output, h_n)`, for an LSTM
    /// `(output, (h_n, c_n))`.
    ///
    /// # Panics
    /// If `x` is not `[N, L, in]` with `L >= 1`
    /// (`Gru: expects a batch-first sequence [N, L, 3], got [2, 4]`) or a
    /// part of the initial state is not `[num_layers, N, H]`
    /// (`Lstm: expects the initial cell state c0 as [num_layers, N, H] =
    /// [1, 4, 5], got [1, 4, 6]`).
    pub fn forward_with_state<'t>(
        &self,
        x: Var<'t, C::Scalar>,
        initial: Option<C::State<'t>>,
    ) -> (Var<'t, C::Scalar>, C::State<'t>) {
        let (n, _) = check_sequence(C::STACK_NAME, &x.shape(), self.input_size());
        let initial = initial_states(self, x.tape(), initial, n);
        let mut input = x;
        let mut last = Vec::with_capacity(self.num_layers());
        for (k, (cell, state)) in self.layers.iter().zip(initial).enumerate() {
            if k > 0 {
                input = dropout_between(input, self.dropout);
            }
            let (output, state) = cell.unroll(input, state);
            last.push(state);
            input = output;
        }
        let last = <C::State<'t>>::from_parts(|i| {
            let parts: Vec<_> = last.iter().map(|s| s.part(i)).collect();
            Var::stack(&parts, 0)
        });
        (input, last)
    }
}

/// Checks a sequence `[N, L, in]` and returns `(N, L)`.
fn check_sequence(op: &str, x: &[usize], input: usize) -> (usize, usize) {
    if x.len() != 3 || x[2] != input {
        panic!("{op}: expects a batch-first sequence [N, L, {input}], got {x:?}");
    }
    if x[1] == 0 {
        panic!("{op}: the sequence is empty (L = 0): {x:?}");
    }
    (x[0], x[1])
}

/// Every layer's initial state, from the given one (each part
/// `[layers, N, H]`, checked part by part in order) or zeros (one
/// constant per part, shared by the layers).
fn initial_states<'t, C: RecurrentCell>(
    stack: &RecurrentStack<C>,
    tape: &'t Tape<C::Scalar>,
    given: Option<C::State<'t>>,
    batch: usize,
) -> Vec<C::State<'t>> {
    let (layers, hidden) = (stack.num_layers(), stack.hidden_size());
    let parts = <C::State<'t> as RecurrentState<'t, C::Scalar>>::PARTS;
    let per_part: Vec<Vec<Var<'t, C::Scalar>>> = parts
        .iter()
        .enumerate()
        .map(|(i, &(short, what))| {
            let Some(s) = given.map(|g| g.part(i)) else {
                return vec![tape.constant(Tensor::zeros(&[batch, hidden])); layers];
            };
            let dims = s.shape();
            if dims.as_slice() != [layers, batch, hidden] {
                panic!(
                    "{}: expects the initial {what} {short}0 as [num_layers, N, H] = \
                     [{layers}, {batch}, {hidden}], got {dims:?}",
                    C::STACK_NAME
                );
            }
            if layers == 1 {
                return vec![s.reshape(&[batch, hidden])];
            }
            (0..layers)
                .map(|k| s.narrow(0, k, 1).reshape(&[batch, hidden]))
                .collect()
        })
        .collect();
    (0..layers)
        .map(|k| <C::State<'t>>::from_parts(|i| per_part[i][k]))
        .collect()
}

/// Dropout between stacked layers, in training mode only.
fn dropout_between<'t, T: Float>(x: Var<'t, T>, p: f64) -> Var<'t, T> {
    let tape = x.tape();
    if p > 0.0 && tape.is_training() {
        x.dropout(p, &mut *tape.rng())
    } else {
        x
    }
}

/// Prints as the stack's name: `Gru { layers: [..], dropout: 0.0 }`.
impl<C: RecurrentCell + fmt::Debug> fmt::Debug for RecurrentStack<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(C::STACK_NAME)
            .field("layers", &self.layers)
            .field("dropout", &self.dropout)
            .finish()
    }
}

impl<C: RecurrentCell> Forward<C::Scalar> for RecurrentStack<C> {
    /// The output sequence `[N, L, H]` from zero initial states.
    fn forward<'t>(&self, x: Var<'t, C::Scalar>) -> Var<'t, C::Scalar> {
        self.forward_with_state(x, None).0
    }
}

/// Layer `k`'s parameter (or buffer) `name` is visited as `{name}_l{k}`,
/// PyTorch's names.
#[diagnostic::do_not_recommend]
impl<C: RecurrentCell> Module<C::Scalar> for RecurrentStack<C> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<C::Scalar>)) {
        for (k, cell) in self.layers.iter().enumerate() {
            cell.visit("", &mut |name, p| {
                with_child_name(prefix, format_args!("{name}_l{k}"), |path| f(path, p))
            });
        }
    }

    fn visit_mut<'a>(
        &'a mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &'a mut Param<C::Scalar>),
    ) {
        for (k, cell) in self.layers.iter_mut().enumerate() {
            cell.visit_mut("", &mut |name, p| {
                with_child_name(prefix, format_args!("{name}_l{k}"), |path| f(path, p))
            });
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<C::Scalar>)) {
        for (k, cell) in self.layers.iter().enumerate() {
            cell.visit_buffers("", &mut |name, b| {
                with_child_name(prefix, format_args!("{name}_l{k}"), |path| f(path, b))
            });
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<C::Scalar>)) {
        for (k, cell) in self.layers.iter_mut().enumerate() {
            cell.visit_buffers_mut("", &mut |name, b| {
                with_child_name(prefix, format_args!("{name}_l{k}"), |path| f(path, b))
            });
        }
    }
}
