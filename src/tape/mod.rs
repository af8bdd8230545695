//! The tape: [`Tape`], [`Var`], backpropagation and [`Grads`].
//!
//! A tape is an arena of nodes in the order they were computed (a Wengert
//! list). Each node holds its value, the op that made it (a small `Copy`
//! value, see [`Op`]) and the indices of its parents. Because a node can only
//! be pushed after its parents, push order is already a topological order,
//! and backward is a plain reverse sweep over indices: no sort, no recursion.
//!
//! - `mod.rs`: recording (this file);
//! - `backward.rs`: the reverse sweep, the context backward rules get, [`Grads`];
//! - `checkpoint.rs`: gradient checkpointing, the memory estimate of a
//!   backward pass and the memory budget ([`Tape::checkpoint`]);
//! - `custom.rs`: differentiable functions defined outside the crate
//!   ([`Function`], [`Tape::call`]);
//! - `grad.rs`: the sweep that records gradients as vars ([`Tape::grad`]),
//!   for derivatives of derivatives;
//! - `jvp.rs`: forward mode, tangents computed as ops are recorded
//!   ([`Tape::dual`], [`Var::tangent`]);
//! - `print.rs`: the Wengert list (`Display`) and Graphviz export;
//! - `profile.rs`: the profiler (time per op kind);
//! - `anomaly.rs`: anomaly mode (the first op to produce a NaN or infinity).

mod anomaly;
mod backward;
mod checkpoint;
mod custom;
mod grad;
mod jvp;
mod param;
mod print;
mod profile;

pub use anomaly::{Anomaly, NonFinite, Phase};
pub use backward::{BackwardCtx, Grads};
pub use checkpoint::MemoryReport;
pub use custom::Function;
pub use grad::GraphCtx;
pub use jvp::JvpCtx;
pub use param::{Param, ParamId};
pub use profile::{Profile, ProfileRow};

use crate::ops::Op;
use crate::tensor::{Float, Shape, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

/// A range of the tape's side buffer of integers: how an op stores a
/// variable-length argument (a permutation, indices, padding) while staying
/// `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxRange {
    start: u32,
    len: u32,
}

/// A node's parent indices. Most ops have one or two and the fused ones
/// (linear with a bias, layer norm) three; four fit inline in the space the
/// vector's heap pointer takes anyway, so no common op allocates here.
pub(crate) type Parents = SmallVec<[u32; 4]>;

/// One recorded value and how it was made.
pub(crate) struct Node<T: Float> {
    pub(crate) op: Op,
    pub(crate) parents: Parents,
    pub(crate) value: Tensor<T>,
    /// Whether any wanted leaf (a `var` or a trainable `param`) feeds this
    /// node; decided when it is recorded so backward skips the rest.
    pub(crate) requires_grad: bool,
}

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(1);

/// Records operations on [`Var`]s so that [`Var::backward`] can compute
/// gradients.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let y = x * x + 2.0 * x; // dy/dx = 2x + 2 = 8
/// let grads = y.backward();
/// assert_eq!(grads.wrt(x).item(), 8.0);
/// ```
pub struct Tape<T: Float = f32> {
    id: u64,
    /// How many times the tape was reset: a var remembers the generation
    /// it was recorded in, so that one kept past a reset panics when used
    /// instead of naming a node of the next recording.
    generation: Cell<u32>,
    nodes: RefCell<Vec<Node<T>>>,
    aux: RefCell<Vec<usize>>,
    /// Gradients kept from the last backward pass, for printing: leaves
    /// always, every node when `retain_grads` is on.
    retained: RefCell<Vec<Option<Tensor<T>>>>,
    /// The backward sweep's gradient slots, kept between passes. A complete
    /// sweep takes every slot it visits, so they are all empty afterwards.
    grad_slots: RefCell<Vec<Option<Tensor<T>>>>,
    /// Whether a sweep is running (or was cut short by a panic, which may
    /// have left gradients in the slots).
    sweeping: Cell<bool>,
    retain_all: Cell<bool>,
    training: Cell<bool>,
    rng: RefCell<StdRng>,
    profiling: Cell<bool>,
    /// Per node (while profiling): forward and backward nanoseconds.
    node_times: RefCell<Vec<profile::NodeTime>>,
    /// Times of the nodes forgotten by earlier resets.
    profile_done: RefCell<Profile>,
    anomaly_mode: Cell<bool>,
    anomaly: RefCell<Option<Anomaly>>,
    /// Forward mode: on once a dual var is recorded (until a reset).
    forward_mode: Cell<bool>,
    /// Forward mode: each node's tangent (`None` for zero).
    tangents: RefCell<Vec<Option<Tensor<T>>>>,
    /// The functions of [`call`](Tape::call)s, by `Op::Custom`'s id.
    functions: RefCell<Vec<custom::Shared<T>>>,
    /// The checkpointed blocks, by `Op::Checkpoint`'s id.
    segments: RefCell<Vec<checkpoint::Segment<T>>>,
    /// The budget checkpointing keeps within (bytes), if any.
    memory_budget: Cell<Option<usize>>,
}

impl<T: Float> Drop for Tape<T> {
    /// A tape dropped after each step gives its buffers back too.
    fn drop(&mut self) {
        self.recycle_buffers();
    }
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            generation: Cell::new(0),
            nodes: RefCell::new(Vec::new()),
            aux: RefCell::new(Vec::new()),
            retained: RefCell::new(Vec::new()),
            grad_slots: RefCell::new(Vec::new()),
            sweeping: Cell::new(false),
            retain_all: Cell::new(false),
            training: Cell::new(true),
            rng: RefCell::new(StdRng::seed_from_u64(0)),
            profiling: Cell::new(false),
            node_times: RefCell::new(Vec::new()),
            profile_done: RefCell::new(Profile::default()),
            anomaly_mode: Cell::new(false),
            anomaly: RefCell::new(None),
            forward_mode: Cell::new(false),
            tangents: RefCell::new(Vec::new()),
            functions: RefCell::new(Vec::new()),
            segments: RefCell::new(Vec::new()),
            memory_budget: Cell::new(None),
        }
    }

    /// An empty tape in evaluation mode: dropout passes values through and
    /// batch norm uses its running statistics.
    pub fn eval() -> Self {
        let tape = Self::new();
        tape.set_training(false);
        tape
    }

    /// Whether layers should behave as in training (the default) or in
    /// evaluation. The mode travels with the tape, so a forward pass never
    /// needs an extra flag: record on `Tape::new()` to train and on
    /// `Tape::eval()` to evaluate.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// Switches between training (`true`) and evaluation (`false`) mode.
    pub fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    /// Reseeds the tape's random generator, which random ops such as
    /// dropout draw from. A fresh tape is seeded with 0, so a run is
    /// reproducible unless you choose otherwise.
    pub fn seed(&self, seed: u64) {
        *self.rng.borrow_mut() = StdRng::seed_from_u64(seed);
    }

    /// The tape's random generator (see [`seed`](Tape::seed)).
    pub fn rng(&self) -> std::cell::RefMut<'_, StdRng> {
        self.rng.borrow_mut()
    }

    /// A number that tells this tape from others in messages.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A leaf whose gradient is wanted.
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(Op::Var, &[], value, true)
    }

    /// A leaf that needs no gradient (data, labels, masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(Op::Constant, &[], value, false)
    }

    /// Binds a model parameter without copying its data. Its gradient is
    /// found with [`Grads::of`]. A frozen parameter is bound as a constant.
    pub fn param(&self, param: &Param<T>) -> Var<'_, T> {
        let value = param.value().clone();
        self.push(Op::Param(param.id()), &[], value, param.is_trainable())
    }

    /// Keeps every node's gradient from the next backward pass so that
    /// printing and [`to_dot`](Tape::to_dot) can show them (for teaching and
    /// debugging; it holds memory a training step would free).
    pub fn retain_grads(&self) {
        self.retain_all.set(true);
    }

    /// Forgets every node, keeping the allocated capacity, so that the next
    /// step records into the same buffers. Vars of this tape must not be
    /// used afterwards (the borrow checker sees to it: `reset` takes `&mut`).
    ///
    /// Values nothing else shares go to this thread's buffer pool, where
    /// the next step's ops find buffers of the same sizes: after a warm-up
    /// step, a training loop that resets one tape does not allocate for its
    /// tensors (see [`release_pool`](crate::tensor::release_pool)). Reset
    /// before the optimiser step: the tape then no longer shares the
    /// parameters' storage, so the update writes them in place
    /// ([`Var::backward_and_reset`], and the training loops of `train`,
    /// keep that order for you).
    ///
    /// Profiler times are kept (see [`profile`](Tape::profile)); an
    /// [`anomaly`](Tape::anomaly) is forgotten with the nodes it names.
    pub fn reset(&mut self) {
        self.clear();
    }

    /// [`reset`](Tape::reset) through a shared reference, for the code that
    /// owns the ordering rule ([`Var::backward_and_reset`]): vars of this
    /// tape may still exist, so the generation moves on and any of them
    /// used afterwards panics, naming the reset.
    ///
    /// # Panics
    /// During a backward sweep of this tape (the nodes are borrowed).
    pub(crate) fn clear(&self) {
        self.fold_profile();
        *self.anomaly.borrow_mut() = None;
        self.forward_mode.set(false);
        self.tangents.borrow_mut().clear();
        self.recycle_buffers();
        self.functions.borrow_mut().clear();
        self.segments.borrow_mut().clear();
        self.aux.borrow_mut().clear();
        self.generation.set(self.generation.get().wrapping_add(1));
    }

    /// Hands the storage of every value and kept gradient that nothing else
    /// shares to the buffer pool, for the next step's ops to reuse.
    fn recycle_buffers(&self) {
        // Values with a buffer are taken out for the pool; the nodes
        // themselves are dropped in place (cheaper than moving each out).
        let mut nodes = self.nodes.borrow_mut();
        let with_buffer = nodes.iter_mut().filter(|n| n.value.has_buffer());
        crate::tensor::recycle_all(with_buffer.map(|n| n.value.take()));
        nodes.clear();
        crate::tensor::recycle_all(self.retained.borrow_mut().drain(..).flatten());
    }

    /// The panic for a var recorded before the tape's last reset (kept out
    /// of line, off the recording path).
    #[cold]
    #[inline(never)]
    fn stale(&self, v: &Var<'_, T>) -> ! {
        panic!(
            "%{} of tape #{} was recorded before the tape was reset: a var cannot be used \
             after its tape's reset (or after `backward_and_reset`)",
            v.idx, self.id
        );
    }

    /// Stores integer arguments of an op and returns where they are.
    pub(crate) fn push_aux(&self, values: &[usize]) -> AuxRange {
        let mut aux = self.aux.borrow_mut();
        let start = aux.len() as u32;
        aux.extend_from_slice(values);
        AuxRange {
            start,
            len: values.len() as u32,
        }
    }

    /// Appends a node; whether it needs a gradient is `leaf_wants_grad` for
    /// a leaf and "does any parent" otherwise.
    pub(crate) fn push(
        &self,
        op: Op,
        parents: &[u32],
        value: Tensor<T>,
        leaf_wants_grad: bool,
    ) -> Var<'_, T> {
        let requires_grad = if parents.is_empty() {
            leaf_wants_grad
        } else {
            let nodes = self.nodes.borrow();
            parents.iter().any(|&p| nodes[p as usize].requires_grad)
        };
        self.push_timed(op, Parents::from_slice(parents), value, requires_grad, 0)
    }

    /// Appends a node whose `requires_grad` is already known, noting
    /// `forward_nanos` for the profiler.
    #[inline(always)]
    fn push_timed(
        &self,
        op: Op,
        parents: Parents,
        value: Tensor<T>,
        requires_grad: bool,
        forward_nanos: u64,
    ) -> Var<'_, T> {
        let idx = {
            let mut nodes = self.nodes.borrow_mut();
            let idx = nodes.len() as u32;
            nodes.push(Node {
                op,
                parents,
                value,
                requires_grad,
            });
            idx
        };
        // One branch when neither the profiler, anomaly mode nor forward
        // mode is on.
        if self.profiling.get() | self.anomaly_mode.get() | self.forward_mode.get() {
            if self.profiling.get() {
                self.note_forward(idx as usize, forward_nanos);
            }
            if self.anomaly_mode.get() {
                self.check_forward(idx as usize);
            }
            if self.forward_mode.get() {
                self.push_tangent(idx as usize);
            }
        }
        Var {
            tape: self,
            idx,
            generation: self.generation.get(),
        }
    }

    /// Records `op` applied to `inputs`: runs `forward` on borrowed input
    /// values (no copies, no reference-count traffic) and pushes the result.
    ///
    /// Always inlined: each call site passes its own closure, so it has its
    /// own copy anyway, and inlined, its fixed number of inputs unrolls the
    /// loops over them.
    ///
    /// # Panics
    /// If the inputs come from different tapes.
    #[inline(always)]
    pub(crate) fn apply(
        &self,
        op: Op,
        inputs: &[Var<'_, T>],
        forward: impl FnOnce(&[&Tensor<T>]) -> Tensor<T>,
    ) -> Var<'_, T> {
        // Plain pushes: cheaper per op than `collect`'s generic extend.
        let mut parents = Parents::new();
        let generation = self.generation.get();
        for v in inputs {
            if !std::ptr::eq(v.tape, self) {
                self.foreign_input(op, v.tape);
            }
            if v.generation != generation {
                self.stale(v);
            }
            parents.push(v.idx);
        }
        let start = self.profiling.get().then(std::time::Instant::now);
        let (value, requires_grad) = {
            let nodes = self.nodes.borrow();
            let node = |v: &Var<'_, T>| &nodes[v.idx as usize];
            // One and two inputs (nearly every op) pass a plain array.
            let value = match inputs {
                [a] => forward(&[&node(a).value]),
                [a, b] => forward(&[&node(a).value, &node(b).value]),
                _ => {
                    let mut values: SmallVec<[&Tensor<T>; 4]> = SmallVec::new();
                    for v in inputs {
                        values.push(&node(v).value);
                    }
                    forward(&values)
                }
            };
            (value, inputs.iter().any(|v| node(v).requires_grad))
        };
        let nanos = start.map_or(0, |t| t.elapsed().as_nanos() as u64);
        self.push_timed(op, parents, value, requires_grad, nanos)
    }

    /// The panic of [`apply`](Tape::apply) for an input from another tape
    /// (kept out of line, off the recording path).
    #[cold]
    #[inline(never)]
    fn foreign_input(&self, op: Op, other: &Tape<T>) -> ! {
        panic!(
            "{op}: vars from two different tapes (tape #{} and tape #{})",
            self.id, other.id
        );
    }

    /// The value of node `idx` (shares storage).
    pub(crate) fn value_of(&self, idx: u32) -> Tensor<T> {
        self.nodes.borrow()[idx as usize].value.clone()
    }

    /// Runs `f` on a borrowed value of node `idx`.
    pub(crate) fn with_value<R>(&self, idx: u32, f: impl FnOnce(&Tensor<T>) -> R) -> R {
        f(&self.nodes.borrow()[idx as usize].value)
    }
}

/// A value on a tape: a cheap `Copy` handle (the tape and a node index), so
/// that `a * b + c` reads like maths.
///
/// Ops on vars are methods (`x.exp()`, `x.matmul(w)`) and operators, which
/// also work with plain scalars on either side (`2.0 * x`, `x - 1.0`).
pub struct Var<'t, T: Float = f32> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) idx: u32,
    /// The tape's generation when this var was recorded.
    pub(crate) generation: u32,
}

impl<T: Float> Clone for Var<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Float> Copy for Var<'_, T> {}

impl<'t, T: Float> Var<'t, T> {
    /// The tape this var lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The node's index on its tape (`%3` in the printed tape).
    pub fn index(&self) -> usize {
        self.idx as usize
    }

    /// The node index, after checking that the tape was not reset since
    /// this var was recorded.
    ///
    /// # Panics
    /// If it was.
    #[inline]
    pub(crate) fn live(&self) -> u32 {
        if self.generation != self.tape.generation.get() {
            self.tape.stale(self);
        }
        self.idx
    }

    /// The value (shares storage; no copy).
    pub fn value(&self) -> Tensor<T> {
        self.tape.value_of(self.live())
    }

    /// The shape of the value.
    pub fn shape(&self) -> Shape {
        self.tape
            .with_value(self.live(), |v| Shape::from_slice(v.shape()))
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.tape.with_value(self.live(), |v| v.ndim())
    }

    /// The single element of a one-element var.
    ///
    /// # Panics
    /// If the var holds more than one element.
    pub fn item(&self) -> T {
        self.tape.with_value(self.live(), |v| v.item())
    }

    /// Whether gradients flow through this var.
    pub fn requires_grad(&self) -> bool {
        self.tape.nodes.borrow()[self.live() as usize].requires_grad
    }

    /// The same value, cut from the graph: no gradient flows back through it.
    pub fn detach(self) -> Var<'t, T> {
        let value = self.value();
        self.tape
            .push(Op::Detach, &[self.live()], value, false)
            .without_grad()
    }

    /// Marks a freshly pushed node as needing no gradient.
    pub(crate) fn without_grad(self) -> Self {
        self.tape.nodes.borrow_mut()[self.idx as usize].requires_grad = false;
        self
    }
}

impl<T: Float> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var(%{} on tape #{}, {:?})",
            self.idx,
            self.tape.id,
            self.value()
        )
    }
}
