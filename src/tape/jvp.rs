//! Forward mode: tangents pushed through the computation as it is
//! recorded (Jacobian-vector products, JAX's `jvp`).
//!
//! A var made with [`Tape::dual`] carries a tangent `v` besides its value
//! `x`. From then on, every op recorded on the tape also computes its
//! output's tangent from its inputs' (`dy = J dx`, by the op's forward-mode
//! rule, `jvp`, next to its other rules in its family file), so when `f(x)`
//! is done, [`Var::tangent`] of the result is `J_f(x) v`: one pass, at
//! about the cost of the forward pass again, and no backward sweep.
//! Leaves without a tangent (constants, parameters, plain vars) count as
//! tangent 0, and an op none of whose inputs has a tangent computes none.
//!
//! Tangents are tensors, not vars: forward mode does not record its own
//! work, so a tangent cannot be differentiated again in reverse (reverse
//! over forward). The other order works: the ops that [`Tape::grad`]
//! records on a tape with a dual var carry tangents too, so the tangent of
//! a recorded gradient is a Hessian-vector product (forward over
//! reverse), and `tape.grad` twice (reverse over reverse) gives second
//! derivatives. The tape forgets tangents at [`reset`](Tape::reset).

use super::{Node, Tape, Var};
use crate::ops::Op;
use crate::tensor::{Float, Tensor};

/// What a forward-mode rule sees: the op's inputs and output (values), the
/// inputs' tangents, and the op's integer arguments.
pub struct JvpCtx<'a, T: Float> {
    nodes: &'a [Node<T>],
    aux: &'a [usize],
    node: &'a Node<T>,
    tangents: &'a [Option<Tensor<T>>],
}

impl<'a, T: Float> JvpCtx<'a, T> {
    /// The value of input `i`.
    pub fn input(&self, i: usize) -> &'a Tensor<T> {
        &self.nodes[self.node.parents[i] as usize].value
    }

    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.node.parents.len()
    }

    /// This node's value (the op's output).
    pub fn output(&self) -> &'a Tensor<T> {
        &self.node.value
    }

    /// Input `i`'s tangent, or `None` where it is zero.
    pub fn tangent(&self, i: usize) -> Option<&'a Tensor<T>> {
        let p = self.node.parents[i] as usize;
        self.tangents.get(p).and_then(Option::as_ref)
    }

    /// Input `i`'s tangent, zeros of the input's shape where it has none.
    pub fn tangent_or_zeros(&self, i: usize) -> Tensor<T> {
        match self.tangent(i) {
            Some(t) => t.clone(),
            None => Tensor::zeros(self.input(i).shape()),
        }
    }

    /// The op's integer arguments stored on the tape.
    pub fn aux(&self, r: super::AuxRange) -> &'a [usize] {
        &self.aux[r.start as usize..(r.start + r.len) as usize]
    }
    /// The panic for an op without a forward-mode rule.
    ///
    /// # Panics
    /// Always, naming the op.
    #[cold]
    pub fn unsupported(&self) -> ! {
        panic!(
            "forward mode: {} has no forward-mode rule yet (use reverse mode: backward, \
             func::vjp or func::jacobian)",
            self.node.op
        )
    }
}

impl<T: Float> Tape<T> {
    /// A leaf var with value `value` and tangent `tangent`, which turns on
    /// forward mode for this tape: every op recorded from now on computes
    /// its tangent too, and [`Var::tangent`] reads it.
    ///
    /// ```
    /// use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.dual(tensor![1.0, 2.0], tensor![1.0, 0.0]);
    /// let y = (x * x).sum(); // dy = 2 x . v = 2
    /// assert_eq!(y.tangent().item(), 2.0);
    /// ```
    ///
    /// # Panics
    /// If the tangent's shape differs from the value's.
    pub fn dual(&self, value: Tensor<T>, tangent: Tensor<T>) -> Var<'_, T> {
        crate::tensor::shape::assert_same_shape("tape.dual", tangent.shape(), value.shape());
        self.forward_mode.set(true);
        let v = self.var(value);
        let mut tangents = self.tangents.borrow_mut();
        if tangents.len() <= v.idx as usize {
            tangents.resize(v.idx as usize + 1, None);
        }
        tangents[v.idx as usize] = Some(tangent);
        v
    }

    /// Whether forward mode is on (a [`dual`](Tape::dual) was recorded
    /// since the last reset).
    pub fn is_forward_mode(&self) -> bool {
        self.forward_mode.get()
    }

    /// Forward mode: computes the tangent of node `idx`, just pushed.
    #[inline(never)]
    pub(super) fn push_tangent(&self, idx: usize) {
        let nodes = self.nodes.borrow();
        let node = &nodes[idx];
        let tangent = {
            let tangents = self.tangents.borrow();
            let any = node
                .parents
                .iter()
                .any(|&p| tangents.get(p as usize).is_some_and(Option::is_some));
            if any {
                let aux = self.aux.borrow();
                let ctx = JvpCtx {
                    nodes: &nodes,
                    aux: &aux,
                    node,
                    tangents: &tangents,
                };
                match node.op {
                    Op::Custom { id, .. } => Some(self.function(id).jvp(&ctx)),
                    Op::Checkpoint { id } => self.checkpoint_tangent(id),
                    op => op.jvp(&ctx),
                }
            } else {
                None
            }
        };
        if let Some(t) = tangent {
            assert!(
                crate::tensor::shape::same_dims(t.shape(), node.value.shape()),
                "forward mode: {}'s jvp rule gave a tangent of shape {:?}, but its output has \
                 shape {:?}",
                node.op,
                t.shape(),
                node.value.shape()
            );
            let mut tangents = self.tangents.borrow_mut();
            if tangents.len() <= idx {
                tangents.resize(idx + 1, None);
            }
            tangents[idx] = Some(t);
        }
    }
}

impl<T: Float> Var<'_, T> {
    /// This var's tangent in forward mode (see [`Tape::dual`]): `J v` for
    /// the function from the dual leaves to this var. Zeros where nothing
    /// with a tangent leads to it (or forward mode is off).
    pub fn tangent(&self) -> Tensor<T> {
        let idx = self.live() as usize;
        match self.tape.tangents.borrow().get(idx) {
            Some(Some(t)) => t.clone(),
            _ => Tensor::zeros(&self.shape()),
        }
    }
}
