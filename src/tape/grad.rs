//! Gradients as vars: a backward sweep that records on the tape, so that
//! its results can be differentiated again ([`Tape::grad`], PyTorch's
//! `torch.autograd.grad(..., create_graph=True)`, JAX's `grad(grad(f))`).
//!
//! The sweep is the plain one's twin: reverse order over the nodes that
//! lead to a wanted var, one rule per op, gradients summed where a value is
//! used twice and summed back over broadcast axes. The difference is what
//! a rule computes with: vars, through the same differentiable ops a user
//! writes, so each gradient is a node of the tape with its own parents.
//! Each op's rule is its family's `backward_on_tape`, next to the op's
//! plain rule; an op without one panics, naming itself, rather than give a
//! wrong answer.
//!
//! The plain [`Var::backward`] is untouched by all this: it never records,
//! and it stays as fast as it was.

use super::{Tape, Var};
use crate::ops::Op;
use crate::tensor::{Float, Shape, Tensor};

/// What a rule of the recording sweep sees: the op's inputs, output and
/// incoming gradient as vars, and a way to add a gradient (a var) into
/// input `i`. The twin of [`BackwardCtx`](super::BackwardCtx), with vars
/// in place of tensors.
pub struct GraphCtx<'t, 'a, T: Float> {
    tape: &'t Tape<T>,
    op: Op,
    index: u32,
    parents: &'a [u32],
    grad_out: Var<'t, T>,
    grads: &'a mut [Option<Var<'t, T>>],
    needed: &'a [bool],
}

impl<'t, T: Float> GraphCtx<'t, '_, T> {
    /// A var for node `idx` of the tape, of its current recording.
    fn var(&self, idx: u32) -> Var<'t, T> {
        Var {
            tape: self.tape,
            idx,
            generation: self.tape.generation.get(),
        }
    }

    /// Input `i`, as a var.
    pub fn input(&self, i: usize) -> Var<'t, T> {
        self.var(self.parents[i])
    }

    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.parents.len()
    }

    /// This node (the op's output), as a var.
    pub fn output(&self) -> Var<'t, T> {
        self.var(self.index)
    }

    /// The gradient of the result with respect to this node's output, as a
    /// var.
    pub fn grad_out(&self) -> Var<'t, T> {
        self.grad_out
    }

    /// The op's integer arguments stored on the tape (a copy: rules record
    /// on the tape, which may grow its side buffer meanwhile).
    pub fn aux(&self, r: super::AuxRange) -> Vec<usize> {
        self.tape.aux.borrow()[r.start as usize..(r.start + r.len) as usize].to_vec()
    }

    /// Whether input `i` leads to a wanted var; rules skip the rest.
    pub fn needs(&self, i: usize) -> bool {
        self.needed[self.parents[i] as usize]
    }

    /// A constant of the tape (for masks and other values a rule needs
    /// that carry no gradient).
    pub fn constant(&self, value: Tensor<T>) -> Var<'t, T> {
        self.tape.constant(value)
    }

    /// Adds `g` into input `i`'s gradient, first summing it back to the
    /// input's shape if it was broadcast (with differentiable sums, so the
    /// result can be differentiated again).
    pub fn add(&mut self, i: usize, g: Var<'t, T>) {
        let p = self.parents[i];
        if !self.needed[p as usize] {
            return;
        }
        let target = self.tape.with_value(p, |v| Shape::from_slice(v.shape()));
        let g = sum_to(g, &target);
        let slot = &mut self.grads[p as usize];
        *slot = Some(match *slot {
            Some(acc) => acc + g,
            None => g,
        });
    }

    /// The panic for an op whose rule cannot be recorded on the tape yet.
    ///
    /// # Panics
    /// Always, naming the op and the node.
    #[cold]
    pub fn unsupported(&self) -> ! {
        panic!(
            "tape.grad: the gradient of {} (%{}) cannot be recorded on the tape, so its \
             second derivative is not supported; use backward() for first derivatives",
            self.op, self.index
        )
    }
}

/// `g` summed over the axes where it was broadcast from `target` (leading
/// axes, and axes of size 1 in `target`), then given `target`'s shape.
fn sum_to<'t, T: Float>(g: Var<'t, T>, target: &[usize]) -> Var<'t, T> {
    let dims = g.shape();
    if dims.as_slice() == target {
        return g;
    }
    let lead = dims.len().saturating_sub(target.len());
    let axes: Vec<isize> = (0..dims.len())
        .filter(|&a| a < lead || (target[a - lead] == 1 && dims[a] != 1))
        .map(|a| a as isize)
        .collect();
    let summed = if axes.is_empty() {
        g
    } else {
        g.sum_axes(&axes, true)
    };
    summed.reshape(target)
}

impl<T: Float> Tape<T> {
    /// The gradients of the scalar `output` with respect to each var of
    /// `wrt`, recorded on this tape as vars, so that they can be used in
    /// further computation and differentiated again: `tape.grad(y, &[x])`
    /// is `dy/dx`, and `tape.grad(tape.grad(y, &[x])[0].sum(), &[x])` a
    /// second derivative.
    ///
    /// A var of `wrt` that `output` does not depend on gets zeros (a
    /// constant). `wrt` may hold any var of the tape: leaves
    /// (`tape.var`, `tape.param`) or intermediate values.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(2.0));
    /// let y = x * x * x; // y = x^3
    /// let dy = tape.grad(y, &[x])[0]; // 3x^2 = 12
    /// let d2y = tape.grad(dy, &[x])[0]; // 6x = 12
    /// let d3y = tape.grad(d2y, &[x])[0]; // 6
    /// assert_eq!((dy.item(), d2y.item(), d3y.item()), (12.0, 12.0, 6.0));
    /// ```
    ///
    /// # Panics
    /// If `output` is not a scalar, if a var comes from another tape or an
    /// earlier recording, or if an op on the way has no rule that records
    /// (the message names it).
    pub fn grad<'t>(&'t self, output: Var<'t, T>, wrt: &[Var<'t, T>]) -> Vec<Var<'t, T>> {
        let shape = output.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "tape.grad: the output has shape {shape:?}, not a scalar; reduce it first or use \
             grad_with with a seed of that shape"
        );
        let seed = self.constant(Tensor::ones(&shape));
        self.grad_with(output, seed, wrt)
    }

    /// [`grad`](Tape::grad) from an explicit seed `seed` of `output`'s shape:
    /// the vector-Jacobian product `seed^T J`, recorded on the tape (the
    /// seed may itself be a var, so the product is differentiable in it
    /// too).
    ///
    /// # Panics
    /// If the seed's shape differs from the output's, and as
    /// [`grad`](Tape::grad).
    pub fn grad_with<'t>(
        &'t self,
        output: Var<'t, T>,
        seed: Var<'t, T>,
        wrt: &[Var<'t, T>],
    ) -> Vec<Var<'t, T>> {
        for v in std::iter::once(&output)
            .chain(std::iter::once(&seed))
            .chain(wrt)
        {
            assert!(
                std::ptr::eq(v.tape, self),
                "tape.grad: %{} is on tape #{}, not on tape #{}",
                v.idx,
                v.tape.id,
                self.id
            );
            v.live();
        }
        crate::tensor::shape::assert_same_shape("tape.grad_with", &seed.shape(), &output.shape());
        let root = output.idx as usize;
        // Which nodes lead to a wanted var: a forward pass over the parents.
        let mut needed = vec![false; root + 1];
        for w in wrt {
            if let Some(n) = needed.get_mut(w.idx as usize) {
                *n = true;
            }
        }
        {
            let nodes = self.nodes.borrow();
            for (i, node) in nodes.iter().enumerate().take(root + 1) {
                if !needed[i] && !matches!(node.op, Op::Detach) {
                    needed[i] = node.parents.iter().any(|&p| needed[p as usize]);
                }
            }
        }
        let mut grads: Vec<Option<Var<'t, T>>> = vec![None; root + 1];
        if needed[root] {
            grads[root] = Some(seed);
        }
        for i in (0..=root).rev() {
            let Some(g) = grads[i] else { continue };
            if !needed[i] {
                continue;
            }
            // Copied out: the rule records on the tape, which borrows its
            // nodes mutably.
            let (op, parents) = {
                let nodes = self.nodes.borrow();
                (nodes[i].op, nodes[i].parents.clone())
            };
            if parents.is_empty() || matches!(op, Op::Detach) {
                continue;
            }
            let mut ctx = GraphCtx {
                tape: self,
                op,
                index: i as u32,
                parents: &parents,
                grad_out: g,
                grads: &mut grads,
                needed: &needed,
            };
            match op {
                Op::Custom { id, .. } => self.function(id).backward_on_tape(&mut ctx),
                Op::Checkpoint { id } => {
                    let inputs: Vec<Var<'t, T>> =
                        (0..ctx.num_inputs()).map(|k| ctx.input(k)).collect();
                    let gs = self.checkpoint_on_tape(id, &inputs, ctx.grad_out());
                    for (k, g) in gs.into_iter().enumerate() {
                        // A repeated input's gradient already covers both uses.
                        if !parents[..k].contains(&parents[k]) {
                            ctx.add(k, g);
                        }
                    }
                }
                op => op.backward_on_tape(&mut ctx),
            }
        }
        wrt.iter()
            .map(|w| match grads.get(w.idx as usize).copied().flatten() {
                Some(g) => g,
                None => self.constant(Tensor::zeros(&w.shape())),
            })
            .collect()
    }
}
