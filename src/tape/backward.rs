//! The reverse sweep, the context a backward rule gets, and [`Grads`].

use super::anomaly::{self, Anomaly, Phase};
use super::custom::Shared;
use super::{AuxRange, Node, Tape, Var};
use super::{Param, ParamId};
use crate::ops::Op;
use crate::tensor::shape::same_dims;
use crate::tensor::{Float, Tensor};
use std::cell::RefCell;

/// What a backward rule sees: its inputs, its output, the incoming gradient,
/// and a way to add a gradient into input `i`.
///
/// Rules read like the maths: `ctx.add(0, &(ctx.grad_out() * &ctx.output()))`
/// is exp's rule. Shapes need no care: if a gradient's shape differs from
/// the input's (broadcasting), [`add`](BackwardCtx::add) sums it back.
pub struct BackwardCtx<'a, T: Float> {
    nodes: &'a [Node<T>],
    aux: &'a [usize],
    index: usize,
    node: &'a Node<T>,
    grad_out: &'a Tensor<T>,
    grads: &'a mut [Option<Tensor<T>>],
    /// Where anomaly mode keeps its finding; `None` when it is off.
    anomaly: Option<&'a RefCell<Option<Anomaly>>>,
}

impl<'a, T: Float> BackwardCtx<'a, T> {
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

    /// The gradient of the loss with respect to this node's output.
    pub fn grad_out(&self) -> &'a Tensor<T> {
        self.grad_out
    }

    /// The op's integer arguments stored on the tape.
    pub fn aux(&self, r: AuxRange) -> &'a [usize] {
        &self.aux[r.start as usize..(r.start + r.len) as usize]
    }

    /// Whether input `i` wants a gradient; rules skip work for those that
    /// do not (a matmul with constant data computes only the weight's).
    pub fn needs(&self, i: usize) -> bool {
        self.nodes[self.node.parents[i] as usize].requires_grad
    }

    /// Adds `g` into input `i`'s gradient, first summing it back to the
    /// input's shape if it was broadcast. This is the one place the engine
    /// un-broadcasts.
    #[inline]
    pub fn add(&mut self, i: usize, g: Tensor<T>) {
        let p = self.node.parents[i] as usize;
        if !self.nodes[p].requires_grad {
            return;
        }
        if let Some(found) = self.anomaly {
            self.check(found, p, &g);
        }
        // The common case first: the input's first gradient, of its shape.
        let slot = &mut self.grads[p];
        if slot.is_none() && same_dims(g.shape(), self.nodes[p].value.shape()) {
            *slot = Some(g);
            return;
        }
        self.accumulate(p, g);
    }
}

impl<T: Float> BackwardCtx<'_, T> {
    /// The rest of [`add`](BackwardCtx::add): un-broadcasts `g` if needed
    /// and adds it to input `%p`'s gradient so far (kept out of line).
    #[inline(never)]
    fn accumulate(&mut self, p: usize, g: Tensor<T>) {
        let target = self.nodes[p].value.shape();
        let g = if same_dims(g.shape(), target) {
            g
        } else if g.numel() == self.nodes[p].value.numel()
            && non_unit(g.shape()).eq(non_unit(target))
        {
            // Same elements, different bookkeeping of unit axes.
            g.reshape(target)
        } else if !broadcasts_to(target, g.shape()) {
            self.wrong_shape(p, g.shape())
        } else {
            let summed = g.sum_to_shape(target);
            crate::tensor::recycle(g);
            summed
        };
        match &mut self.grads[p] {
            Some(acc) => {
                acc.add_assign(&g);
                crate::tensor::recycle(g);
            }
            slot @ None => *slot = Some(g),
        }
    }

    /// The panic for a rule that gave input `%p` a gradient of a shape that
    /// is neither the input's (up to unit axes) nor a broadcast of it: a
    /// wrong rule, which must not be reshaped into a silent wrong answer.
    #[cold]
    fn wrong_shape(&self, p: usize, got: &[usize]) -> ! {
        panic!(
            "{}: its backward rule gave input %{p} a gradient of shape {got:?}, but the input \
             has shape {:?} (a gradient must have the input's shape or be a broadcast of it)",
            self.node.op,
            self.nodes[p].value.shape()
        )
    }

    /// Anomaly mode: notes `g`, a gradient for input `%p`, if it holds a
    /// NaN or infinity that the incoming gradient did not.
    fn check(&self, found: &RefCell<Option<Anomaly>>, p: usize, g: &Tensor<T>) {
        if found.borrow().is_some() {
            return;
        }
        if let Some(value) = anomaly::produced(g, std::iter::once(self.grad_out)) {
            let a = Anomaly::new(self.index, self.node, Phase::Backward, value, Some(p));
            *found.borrow_mut() = Some(a);
        }
    }
}

/// The axes of `dims` that are not 1, in order.
fn non_unit(dims: &[usize]) -> impl Iterator<Item = usize> + '_ {
    dims.iter().copied().filter(|&d| d != 1)
}

/// Whether `target` broadcasts to `dims` (right-aligned, each of its axes
/// equal to the other's or 1): whether `dims` can be summed back to it.
fn broadcasts_to(target: &[usize], dims: &[usize]) -> bool {
    dims.len() >= target.len()
        && target
            .iter()
            .rev()
            .zip(dims.iter().rev())
            .all(|(&t, &d)| t == d || t == 1)
}

/// Gradients from one backward pass, owned: they outlive the tape.
///
/// One entry per wanted leaf (each `tape.var`) and per trainable parameter
/// bound with `tape.param` (a parameter bound twice gets the sum); a leaf the loss
/// does not depend on gets zeros. The collection is flat and ordered so that
/// it can be combined across workers (summed) before an optimiser step.
#[derive(Clone, Debug)]
pub struct Grads<T: Float = f32> {
    tape_id: u64,
    /// The tape's generation (resets before) at the backward pass.
    generation: u32,
    vars: Vec<(u32, Tensor<T>)>,
    params: Vec<(ParamId, Tensor<T>)>,
}

impl<T: Float> Grads<T> {
    /// The gradient with respect to a var made by `tape.var`.
    ///
    /// # Panics
    /// If `x` is not a `var` leaf of the tape these gradients came from.
    pub fn wrt(&self, x: Var<'_, T>) -> &Tensor<T> {
        assert!(
            x.tape.id == self.tape_id,
            "grads.wrt: the var is on tape #{} but these gradients come from tape #{}",
            x.tape.id,
            self.tape_id
        );
        assert!(
            x.generation == self.generation,
            "grads.wrt: %{} and these gradients come from different recordings of tape #{} \
             (the tape was reset in between)",
            x.idx,
            self.tape_id
        );
        match self.vars.binary_search_by_key(&x.idx, |(i, _)| *i) {
            Ok(k) => &self.vars[k].1,
            Err(_) => panic!("grads.wrt: %{} is not a var leaf (made by tape.var)", x.idx),
        }
    }

    /// The gradient with respect to a parameter bound with `tape.param`.
    ///
    /// # Panics
    /// If the parameter was not bound, or is frozen.
    pub fn of(&self, param: &Param<T>) -> &Tensor<T> {
        self.get_param(param.id()).unwrap_or_else(|| {
            panic!(
                "grads.of: parameter '{}' was not bound to the tape (or is frozen)",
                param.name()
            )
        })
    }

    /// The gradient for a parameter id, if it has one.
    pub fn get_param(&self, id: ParamId) -> Option<&Tensor<T>> {
        let k = self.params.binary_search_by_key(&id, |(p, _)| *p).ok()?;
        Some(&self.params[k].1)
    }

    /// The gradient for a parameter id, mutably (for clipping or summing
    /// across workers).
    pub fn get_param_mut(&mut self, id: ParamId) -> Option<&mut Tensor<T>> {
        let k = self.params.binary_search_by_key(&id, |(p, _)| *p).ok()?;
        Some(&mut self.params[k].1)
    }

    /// Every parameter gradient, ordered by parameter id.
    pub fn params(&self) -> impl Iterator<Item = (ParamId, &Tensor<T>)> {
        self.params.iter().map(|(id, g)| (*id, g))
    }

    /// Every gradient (vars, then parameters), mutably: the flat view for
    /// clipping and all-reduce.
    pub fn tensors_mut(&mut self) -> impl Iterator<Item = &mut Tensor<T>> {
        self.vars
            .iter_mut()
            .map(|(_, g)| g)
            .chain(self.params.iter_mut().map(|(_, g)| g))
    }

    /// Every gradient (vars, then parameters).
    pub fn tensors(&self) -> impl Iterator<Item = &Tensor<T>> {
        self.vars
            .iter()
            .map(|(_, g)| g)
            .chain(self.params.iter().map(|(_, g)| g))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Backpropagates from this scalar, as [`backward`](Var::backward),
    /// then resets its tape ([`Tape::reset`]), even though other vars of it
    /// may still be in scope: any of them used afterwards panics, naming
    /// the reset, rather than reading a node of the next recording.
    ///
    /// This is the ordering rule of a training step, for a loop written by
    /// hand: the tape shares the parameters' storage (binding copies
    /// nothing), so an update made while it is alive would copy every
    /// parameter it writes instead of updating in place. After this call
    /// the tape holds nothing of the parameters, and its buffers are back
    /// in the pool for the next step. (The training loops of `train`, its
    /// `step` function among them, keep the same order.)
    ///
    /// ```
    /// use tapegrad::{Param, Tape, tensor};
    ///
    /// let mut w = Param::new("w", tensor![1.0f64, -2.0]);
    /// let tape = Tape::new();
    /// let loss = (tape.param(&w) * tape.param(&w)).sum(); // |w|^2, gradient 2w
    /// let grads = loss.backward_and_reset();
    /// assert!(tape.is_empty());
    /// assert_eq!(grads.of(&w).to_vec(), [2.0, -4.0]);
    /// // An update by hand, w - 0.5 * 2w = 0, now writes in place.
    /// let g = grads.of(&w).clone();
    /// for (v, g) in w.value_mut().as_mut_slice().iter_mut().zip(g.as_slice()) {
    ///     *v -= 0.5 * g;
    /// }
    /// assert_eq!(w.value().to_vec(), [0.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// As [`backward`](Var::backward).
    pub fn backward_and_reset(self) -> Grads<T> {
        let grads = self.backward();
        self.tape.clear();
        grads
    }

    /// Backpropagates from this scalar: the gradient of this value with
    /// respect to every wanted leaf.
    ///
    /// # Panics
    /// If the var holds more than one element; use
    /// [`backward_with`](Var::backward_with) with a seed for those.
    pub fn backward(self) -> Grads<T> {
        let shape = self.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "backward: the output has shape {shape:?}, not a scalar; reduce it first \
             (e.g. .sum() or .mean()) or call backward_with(seed) with a gradient of that shape"
        );
        let mut seed = Tensor::pooled_zeros(shape);
        seed.as_mut_slice().fill(T::ONE);
        self.backward_with(seed)
    }

    /// Backpropagates with an explicit seed gradient of this var's shape
    /// (a vector-Jacobian product).
    ///
    /// # Panics
    /// If the seed's shape differs from the var's.
    pub fn backward_with(self, seed: Tensor<T>) -> Grads<T> {
        self.backward_preset(seed, Vec::new())
    }

    /// [`backward_with`](Var::backward_with), with the gradients of some
    /// nodes started from given values (`(node, gradient)`) rather than 0:
    /// what a checkpointed block's sweep needs to sum in the order the
    /// outer sweep would.
    pub(crate) fn backward_preset(
        self,
        seed: Tensor<T>,
        preset: Vec<(u32, Tensor<T>)>,
    ) -> Grads<T> {
        let tape: &Tape<T> = self.tape;
        tape.fit_budget(self.live() as usize);
        let nodes = tape.nodes.borrow();
        let aux = tape.aux.borrow();
        let root = self.live() as usize;
        crate::tensor::shape::assert_same_shape(
            "backward_with",
            seed.shape(),
            nodes[root].value.shape(),
        );
        let retain_all = tape.retain_all.get();
        // The slots are empty after a complete sweep, so they need clearing
        // only after one cut short; they grow when the tape has.
        let mut grads = tape.grad_slots.borrow_mut();
        if tape.sweeping.replace(true) {
            grads.clear();
        }
        if grads.len() <= root {
            grads.resize(root + 1, None);
        }
        // The tape's own buffer is reused, so steady-state steps do not
        // allocate it again. Without `retain_all` only var leaves are kept:
        // it grows when the first (the highest) is met.
        let mut retained = tape.retained.borrow_mut();
        retained.clear();
        if retain_all {
            retained.resize(root + 1, None);
        }
        if nodes[root].requires_grad {
            grads[root] = Some(seed);
        }
        for (i, g) in preset {
            grads[i as usize] = Some(g);
        }
        let (vars, params) = spare_lists::<T>();
        let mut out = Grads {
            tape_id: tape.id,
            generation: tape.generation.get(),
            vars,
            params,
        };
        let profiling = tape.profiling.get();
        let mut times = tape.node_times.borrow_mut();
        let anomaly = tape.anomaly_mode.get().then_some(&tape.anomaly);
        // A plain rule cannot record (it sees no tape), so the list of
        // custom functions stays borrowed for the sweep.
        let functions = tape.functions.borrow();
        for i in (0..=root).rev() {
            let node = &nodes[i];
            let g = match grads[i].take() {
                Some(g) => g,
                // A wanted leaf the loss does not reach still gets an entry:
                // its gradient is 0.
                None if node.requires_grad && matches!(node.op, Op::Var | Op::Param(_)) => {
                    Tensor::zeros(node.value.shape())
                }
                None => continue,
            };
            if retain_all || matches!(node.op, Op::Var) {
                if retained.len() <= i {
                    retained.resize(i + 1, None);
                }
                retained[i] = Some(g.clone());
            }
            match node.op {
                Op::Var => out.vars.push((i as u32, g)),
                Op::Param(id) => out.params.push((id, g)),
                Op::Checkpoint { id } => {
                    tape.checkpoint_backward(id, &nodes, i, g, &mut grads[..], &mut out.params)
                }
                op => {
                    let mut ctx = BackwardCtx {
                        nodes: &nodes,
                        aux: &aux,
                        index: i,
                        node,
                        grad_out: &g,
                        grads: &mut grads[..],
                        anomaly,
                    };
                    if profiling {
                        let start = std::time::Instant::now();
                        run_rule(op, &functions, &mut ctx);
                        if let Some(t) = times.get_mut(i) {
                            t.backward += start.elapsed().as_nanos() as u64;
                        }
                    } else {
                        run_rule(op, &functions, &mut ctx);
                    }
                    // A one-element gradient is inline: nothing to recycle.
                    if g.has_buffer() {
                        crate::tensor::recycle(g);
                    }
                }
            }
        }
        tape.sweeping.set(false);
        // The sweep met vars last-first: store them in recording order, and
        // parameters by id, so that lookups can binary-search.
        out.vars.reverse();
        // Wanted leaves recorded after the root cannot reach it: they get
        // zeros too, as the sweep's own unreached leaves do (vars stay in
        // recording order). Usually the root is the last node and this
        // loop is empty.
        for (i, node) in nodes.iter().enumerate().skip(root + 1) {
            if !node.requires_grad {
                continue;
            }
            match node.op {
                Op::Var => out.vars.push((i as u32, Tensor::zeros(node.value.shape()))),
                Op::Param(id) => out.params.push((id, Tensor::zeros(node.value.shape()))),
                _ => {}
            }
        }
        // Unstable sort: the stable one allocates a buffer for long lists.
        out.params.sort_unstable_by_key(|(id, _)| *id);
        merge_repeated_params(&mut out.params);
        out
    }
}

/// Runs node's backward rule: a built-in op's, or a custom function's.
#[inline(always)]
fn run_rule<T: Float>(op: Op, functions: &[Shared<T>], ctx: &mut BackwardCtx<'_, T>) {
    match op {
        Op::Custom { id, .. } => functions[id as usize].backward(ctx),
        op => op.backward(ctx),
    }
}

/// A parameter bound twice on one tape gets one gradient: the sum.
/// `params` is sorted by id, so repeats are adjacent.
fn merge_repeated_params<T: Float>(params: &mut Vec<(ParamId, Tensor<T>)>) {
    let mut k = 1;
    while k < params.len() {
        if params[k].0 == params[k - 1].0 {
            let (_, g) = params.remove(k);
            params[k - 1].1.add_assign(&g);
        } else {
            k += 1;
        }
    }
}

/// The lists a dropped [`Grads`] leaves behind, per element type, for the
/// next backward pass: so that steady-state steps do not allocate them.
struct SpareLists<T: Float> {
    vars: Vec<Vec<(u32, Tensor<T>)>>,
    params: Vec<Vec<(ParamId, Tensor<T>)>>,
}

impl<T: Float> Default for SpareLists<T> {
    fn default() -> Self {
        SpareLists {
            vars: Vec::new(),
            params: Vec::new(),
        }
    }
}

/// Spare lists kept per thread: a few, enough for the `Grads` alive at once.
const SPARE_LISTS: usize = 4;

thread_local! {
    static SPARES: RefCell<(SpareLists<f32>, SpareLists<f64>)> = RefCell::new(Default::default());
}

fn with_spares<T: Float, R>(f: impl FnOnce(&mut SpareLists<T>) -> R) -> Option<R> {
    use std::any::Any;
    SPARES
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let (a, b) = &mut *s;
            if let Some(l) = (a as &mut dyn Any).downcast_mut::<SpareLists<T>>() {
                Some(f(l))
            } else {
                (b as &mut dyn Any).downcast_mut::<SpareLists<T>>().map(f)
            }
        })
        .ok()
        .flatten()
}

/// Two empty lists for a new `Grads`, reused if a dropped one left them.
#[allow(clippy::type_complexity)]
fn spare_lists<T: Float>() -> (Vec<(u32, Tensor<T>)>, Vec<(ParamId, Tensor<T>)>) {
    with_spares::<T, _>(|l| {
        (
            l.vars.pop().unwrap_or_default(),
            l.params.pop().unwrap_or_default(),
        )
    })
    .unwrap_or_default()
}

impl<T: Float> Drop for Grads<T> {
    /// Gives the gradients' buffers back to the pool and keeps the emptied
    /// lists for the next backward pass.
    fn drop(&mut self) {
        let mut vars = std::mem::take(&mut self.vars);
        let mut params = std::mem::take(&mut self.params);
        for (_, g) in vars.drain(..) {
            crate::tensor::recycle(g);
        }
        for (_, g) in params.drain(..) {
            crate::tensor::recycle(g);
        }
        with_spares::<T, _>(|l| {
            if vars.capacity() > 0 && l.vars.len() < SPARE_LISTS {
                l.vars.push(vars);
            }
            if params.capacity() > 0 && l.params.len() < SPARE_LISTS {
                l.params.push(params);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `add(0, g)` on node `%1` of a tape holding `x` and `x.exp()`.
    fn add_to_exp_input(x: Tensor<f64>, g: Tensor<f64>) -> Option<Tensor<f64>> {
        let tape = Tape::<f64>::new();
        let v = tape.var(x);
        let _y = v.exp();
        let nodes = tape.nodes.borrow();
        let aux = tape.aux.borrow();
        let mut grads: Vec<Option<Tensor<f64>>> = vec![None, None];
        let grad_out = Tensor::ones(nodes[1].value.shape());
        let mut ctx = BackwardCtx {
            nodes: &nodes,
            aux: &aux,
            index: 1,
            node: &nodes[1],
            grad_out: &grad_out,
            grads: &mut grads,
            anomaly: None,
        };
        ctx.add(0, Tensor::zeros(&[2, 3]));
        ctx.add(0, g);
        grads[0].take()
    }

    #[test]
    #[should_panic(
        expected = "exp: its backward rule gave input %0 a gradient of shape [3, 2], \
                               but the input has shape [2, 3]"
    )]
    fn a_transposed_gradient_panics_naming_the_op_and_both_shapes() {
        // Six elements, as the input has, but transposed: reshaping it would
        // give wrong values without a word.
        add_to_exp_input(Tensor::zeros(&[2, 3]), Tensor::zeros(&[3, 2]));
    }

    #[test]
    #[should_panic(expected = "exp: its backward rule gave input %0 a gradient of shape [4, 3]")]
    fn a_gradient_that_is_no_broadcast_of_the_input_panics() {
        add_to_exp_input(Tensor::zeros(&[2, 3]), Tensor::zeros(&[4, 3]));
    }

    #[test]
    fn unit_axes_and_broadcasts_are_still_summed_back() {
        let x = Tensor::<f64>::zeros(&[2, 3]);
        // [1, 2, 3]: a unit axis in front, reshaped away.
        let ones = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]).unwrap();
        let g = add_to_exp_input(x.clone(), ones);
        assert_eq!(g.unwrap().to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // [5, 2, 3]: broadcast along a new leading axis, summed back.
        let g = add_to_exp_input(x, Tensor::ones(&[5, 2, 3]));
        assert_eq!(g.unwrap().to_vec(), vec![5.0; 6]);
    }
}
