//! Gradient checkpointing: a block recorded as one node that keeps only
//! its inputs and output, and is run again when backward needs its
//! insides ([`Tape::checkpoint`], [`Var::checkpoint`]); what a backward
//! pass will hold at its peak ([`Tape::memory_report`]); and a memory
//! budget that decides which blocks to run again
//! ([`Tape::set_memory_budget`]).
//!
//! A checkpointed block runs on a tape of its own (an inner tape) with the
//! outer tape's mode and a random generator seeded from the outer one's
//! (one draw), so that its rerun draws the same dropout masks. (They are
//! not the masks the same code would draw unchecked, from the outer
//! generator itself: the bit-for-bit claim below is for blocks that draw
//! no random numbers, such as any block in evaluation mode.) When the block returns, the outer tape records one node
//! (parents: the block's inputs; value: its output) and the inner tape,
//! with every value inside the block, is dropped. When the reverse sweep
//! reaches that node, it runs the block again on a fresh inner tape from
//! the saved inputs and random state, sweeps it with the node's incoming
//! gradient, and hands the results on: each input's gradient into the
//! outer sweep, each parameter's into the result. The inner sweep starts
//! from the gradient the outer sweep had already gathered for each input,
//! so the sums happen in the order they would without checkpointing: the
//! gradients are the same bit for bit. (One exception: a parameter bound
//! more than once, inside and outside the block, is summed in another
//! order, equal up to rounding.)
//!
//! Under a memory budget a block is only run again if keeping it would not
//! fit: blocks are kept, inner tape and all, while the values recorded so
//! far, the kept blocks and room to rerun the largest block stay within
//! the budget, and dropped from then on. Before backward, if the estimated
//! peak of the sweep (the gradients too) is still over the budget, the
//! latest kept blocks are dropped, one by one, until it fits.

use super::{Node, Tape, Var};
use crate::ops::Op;
use crate::tensor::{Float, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// A checkpointed block: the function from the block's inputs to its output.
type Block<T> = Arc<dyn for<'s> Fn(&[Var<'s, T>]) -> Var<'s, T> + Send + Sync>;

/// A block's recording kept whole: its tape, the indices of its inputs
/// (one per input of the node) and of its output.
pub(crate) struct Kept<T: Float> {
    tape: Tape<T>,
    inputs: Vec<u32>,
    output: u32,
}

/// What the outer tape keeps of a checkpointed block.
pub(crate) struct Segment<T: Float> {
    block: Block<T>,
    /// The seed of the block's random generator.
    seed: u64,
    training: bool,
    /// The block's own recording, when the budget let it be kept.
    kept: Option<Kept<T>>,
    /// Bytes of the values the block recorded (its inner tape's, without
    /// the inputs), which a rerun holds again.
    inner_bytes: usize,
    /// Of those, the bytes not shared with the outer tape (all but the
    /// output): what checkpointing saves.
    saved: usize,
    /// The inner backward's estimated peak beyond `inner_bytes`.
    inner_extra: usize,
    /// The output's tangent, in forward mode.
    tangent: Option<Tensor<T>>,
}

/// What a backward pass from a var will hold, estimated from the tape
/// before it runs ([`Tape::memory_report`]). Sizes in bytes.
///
/// The estimate counts what the sweep keeps: values recorded on the tape
/// (parameters not counted: the model holds them anyway), the blocks kept
/// by checkpointing, the gradients alive at each step of the sweep (a
/// value's gradient lives from its last use to its own rule), the leaves'
/// gradients handed out, and the rerun of each checkpointed block. It
/// leaves out the scratch memory of kernels (a matrix product's packing
/// buffers, a convolution's unfolded input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Bytes of the values the tape holds now (parameters excluded),
    /// including the blocks that checkpointing kept.
    pub values: usize,
    /// The estimated peak during a backward pass from the var: `values`
    /// plus the most the sweep holds at any one moment.
    pub backward_peak: usize,
    /// Checkpointed blocks on the tape.
    pub checkpoints: usize,
    /// Of those, the ones backward will run again (the rest were kept).
    pub recomputed: usize,
    /// Bytes that the recomputed blocks' insides would hold if kept.
    pub saved: usize,
}

impl<T: Float> Tape<T> {
    /// Records `block` applied to `inputs` as one checkpointed node: the
    /// block runs now on a tape of its own, whose values are then dropped,
    /// and runs again during backward to give its gradients. Values,
    /// gradients of the inputs and of the parameters the block binds, and
    /// forward-mode tangents are the same as without checkpointing; the
    /// memory for the block's insides is held only while backward passes
    /// through it, for the cost of running the block twice.
    ///
    /// The block may be any function of its inputs that records on the tape
    /// it is given (vars are of that tape): layers, losses, custom
    /// functions. It must own what it uses (`'static`), so a layer is moved
    /// in (a clone of a layer shares its parameters' storage and ids, and is
    /// dropped with the tape's recording at its reset):
    ///
    /// ```
    /// use tapegrad::nn::{Forward, Linear};
    /// use tapegrad::{Tape, Tensor};
    ///
    /// let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    /// let layer = Linear::<f64>::new(3, 2, &mut rng);
    /// let x = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[1, 3]).unwrap();
    ///
    /// // Plain ...
    /// let tape = Tape::new();
    /// let input = tape.var(x.clone());
    /// let plain = layer.forward(input).tanh().sum().backward();
    /// let plain = (plain.wrt(input).clone(), plain.of(&layer.weight).clone());
    /// // ... and checkpointed: one node for the block, the same gradients,
    /// // bit for bit.
    /// let tape = Tape::new();
    /// let input = tape.var(x);
    /// let inner = layer.clone();
    /// let y = tape.checkpoint(&[input], move |v| inner.forward(v[0]).tanh());
    /// assert_eq!(tape.len(), 2);
    /// let grads = y.sum().backward();
    /// assert_eq!((grads.wrt(input), grads.of(&layer.weight)), (&plain.0, &plain.1));
    /// ```
    ///
    /// # Panics
    /// If `inputs` is empty or holds vars of another tape or an earlier
    /// recording, if the block returns a var of another tape, and whatever
    /// the block panics with.
    pub fn checkpoint<F>(&self, inputs: &[Var<'_, T>], block: F) -> Var<'_, T>
    where
        F: for<'s> Fn(&[Var<'s, T>]) -> Var<'s, T> + Send + Sync + 'static,
    {
        assert!(
            !inputs.is_empty(),
            "tape.checkpoint: a block needs at least one input"
        );
        let mut parents: Vec<u32> = Vec::with_capacity(inputs.len());
        for v in inputs {
            assert!(
                std::ptr::eq(v.tape, self),
                "tape.checkpoint: %{} is on tape #{}, not on tape #{}",
                v.idx,
                v.tape.id,
                self.id
            );
            parents.push(v.live());
        }
        let block: Block<T> = Arc::new(block);
        // The block draws from a generator seeded from the tape's, so that
        // its rerun draws the same numbers.
        let seed = self.rng.borrow_mut().next_u64();
        let training = self.training.get();
        let inner = self.inner_tape(seed, training);
        let (value, requires_grad, tangent, input_idx, output) = {
            let vars = {
                let nodes = self.nodes.borrow();
                let tangents = self.tangents.borrow();
                let forward_mode = self.forward_mode.get();
                inputs_on(&inner, &parents, |p| {
                    let node = &nodes[p as usize];
                    let tangent = tangents.get(p as usize).and_then(Option::as_ref);
                    (node, tangent.filter(|_| forward_mode))
                })
            };
            let out = block(&vars);
            assert!(
                std::ptr::eq(out.tape, &inner),
                "tape.checkpoint: the block returned a var of another tape (a block must \
                 compute its output from the vars it is given)"
            );
            let tangent = self.forward_mode.get().then(|| out.tangent());
            let input_idx: Vec<u32> = vars.iter().map(|v| v.idx).collect();
            (
                out.value(),
                out.requires_grad(),
                tangent,
                input_idx,
                out.idx,
            )
        };
        let inputs_recorded = input_idx.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
        let inner_bytes = inner.value_bytes(inputs_recorded);
        let inner_extra = inner.sweep_extra(output as usize, &[]);
        let saved = inner_bytes.saturating_sub(inner.value_bytes_of(output));
        let kept = self.keep_within_budget(inner_bytes + inner_extra, saved);
        let id = {
            let mut segments = self.segments.borrow_mut();
            segments.push(Segment {
                block,
                seed,
                training,
                kept: kept.then_some(Kept {
                    tape: inner,
                    inputs: input_idx,
                    output,
                }),
                inner_bytes,
                saved,
                inner_extra,
                tangent,
            });
            (segments.len() - 1) as u32
        };
        let var = self.push(Op::Checkpoint { id }, &parents, value, false);
        self.nodes.borrow_mut()[var.idx as usize].requires_grad = requires_grad;
        var
    }

    /// Sets a memory budget, in bytes, for what a backward pass holds
    /// (`None`, the default: no budget, every checkpointed block is run
    /// again). Under a budget, [`checkpoint`](Tape::checkpoint) keeps a
    /// block as recorded, with no rerun, while the tape's values, the kept
    /// blocks and room for the largest rerun fit in it, and drops the
    /// insides of the blocks after that: backward runs those again. The
    /// choice is made as the blocks are recorded, in plain eager code: the
    /// first blocks are kept, the later ones recomputed.
    /// [`memory_report`](Tape::memory_report) says what was chosen. The
    /// budget is kept across resets.
    pub fn set_memory_budget(&self, bytes: Option<usize>) {
        self.memory_budget.set(bytes);
    }

    /// The memory budget set by [`set_memory_budget`](Tape::set_memory_budget).
    pub fn memory_budget(&self) -> Option<usize> {
        self.memory_budget.get()
    }

    /// What a backward pass from `output` will hold, estimated before it
    /// runs (see [`MemoryReport`]).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::zeros(&[256]));
    /// let y = (x.exp() * x).sum();
    /// let report = tape.memory_report(y);
    /// // x, exp(x) and their product (1 KiB each; the 0-d sum is inline).
    /// assert_eq!(report.values, 3 * 1024);
    /// assert!(report.backward_peak > report.values);
    /// ```
    ///
    /// # Panics
    /// If `output` is of another tape or an earlier recording.
    pub fn memory_report(&self, output: Var<'_, T>) -> MemoryReport {
        assert!(
            std::ptr::eq(output.tape, self),
            "tape.memory_report: the var is on another tape"
        );
        let root = output.live() as usize;
        self.estimate(root, &self.budget_plan(root))
    }

    /// What a sweep from `root` holds if the kept blocks marked in
    /// `dropping` (by id) are dropped first.
    fn estimate(&self, root: usize, dropping: &[bool]) -> MemoryReport {
        let segments = self.segments.borrow();
        let dropped = |id: usize| segments[id].kept.is_none() || dropping[id];
        let kept: usize = (0..segments.len())
            .filter(|&id| !dropped(id))
            .map(|id| segments[id].saved)
            .sum();
        let values = self.value_bytes(0) + kept;
        let recomputed = (0..segments.len()).filter(|&id| dropped(id));
        MemoryReport {
            values,
            backward_peak: values + self.sweep_extra(root, dropping),
            checkpoints: segments.len(),
            recomputed: recomputed.clone().count(),
            saved: recomputed.map(|id| segments[id].saved).sum(),
        }
    }

    /// Under a budget, which kept blocks backward from `root` drops first
    /// (by id) so that its estimated peak fits: the latest kept ones, one
    /// at a time, until it fits or none is left.
    fn budget_plan(&self, root: usize) -> Vec<bool> {
        let n = self.segments.borrow().len();
        let mut dropping = vec![false; n];
        let Some(budget) = self.memory_budget.get() else {
            return dropping;
        };
        while self.estimate(root, &dropping).backward_peak > budget {
            let segments = self.segments.borrow();
            let Some(id) = (0..n)
                .rev()
                .find(|&id| segments[id].kept.is_some() && !dropping[id])
            else {
                break;
            };
            dropping[id] = true;
        }
        dropping
    }

    /// Before a backward pass from `root` under a budget: drops the kept
    /// blocks the budget's plan says, so that the sweep fits.
    pub(super) fn fit_budget(&self, root: usize) {
        if self.memory_budget.get().is_none() {
            return;
        }
        let plan = self.budget_plan(root);
        let mut segments = self.segments.borrow_mut();
        for (s, drop) in segments.iter_mut().zip(plan) {
            if drop && let Some(k) = s.kept.take() {
                // Freed, not handed to the buffer pool: the point is to
                // hold less, and the sweep's buffers are of other sizes.
                k.tape.nodes.borrow_mut().clear();
            }
        }
    }

    /// A tape for a block: the outer tape's mode, its generator seeded
    /// with `seed`.
    fn inner_tape(&self, seed: u64, training: bool) -> Tape<T> {
        let inner = Tape::new();
        inner.set_training(training);
        inner.seed(seed);
        inner
    }

    /// Under a budget, whether a block that needs `rerun` bytes to run
    /// again and holds `inner` bytes inside can be kept.
    fn keep_within_budget(&self, rerun: usize, inner: usize) -> bool {
        let Some(budget) = self.memory_budget.get() else {
            return false;
        };
        let segments = self.segments.borrow();
        let largest_rerun = segments
            .iter()
            .map(|s| s.inner_bytes + s.inner_extra)
            .chain(std::iter::once(rerun))
            .max()
            .unwrap_or(0);
        let kept: usize = segments
            .iter()
            .filter(|s| s.kept.is_some())
            .map(|s| s.saved)
            .sum();
        self.value_bytes(0) + kept + inner + largest_rerun <= budget
    }

    /// Bytes node `idx`'s value holds (see [`held_bytes`]).
    fn value_bytes_of(&self, idx: u32) -> usize {
        held_bytes(&self.nodes.borrow()[idx as usize])
    }

    /// Bytes of the values from node `first` on (parameters, which share
    /// the model's storage, and inline scalars not counted).
    fn value_bytes(&self, first: usize) -> usize {
        let nodes = self.nodes.borrow();
        nodes.iter().skip(first).map(held_bytes).sum()
    }

    /// The most a backward sweep from node `root` holds at one moment
    /// beyond the values: gradients alive, leaves' gradients handed out,
    /// and a recomputed block's rerun.
    fn sweep_extra(&self, root: usize, dropping: &[bool]) -> usize {
        let nodes = self.nodes.borrow();
        if nodes.is_empty() {
            return 0;
        }
        let segments = self.segments.borrow();
        // A node's gradient lives from its last use (the highest consumer
        // the sweep meets first) until its own rule has run.
        let mut last_use = vec![usize::MAX; root + 1];
        for (i, node) in nodes.iter().enumerate().take(root + 1) {
            for &p in &node.parents {
                last_use[p as usize] = i;
            }
        }
        let bytes = |n: &Node<T>| n.value.numel() * std::mem::size_of::<T>();
        // Bytes of the gradients that come alive at each node's rule.
        let mut starts = vec![0usize; root + 1];
        for (p, &u) in last_use.iter().enumerate() {
            if u != usize::MAX && nodes[p].requires_grad {
                starts[u] += bytes(&nodes[p]);
            }
        }
        let (mut live, mut handed_out, mut peak) = (bytes(&nodes[root]), 0, 0);
        for i in (0..=root).rev() {
            let node = &nodes[i];
            if !node.requires_grad || (i != root && last_use[i] == usize::MAX) {
                continue;
            }
            // While node i's rule runs: the gradients alive (its own among
            // them), a new one for each input that wants one (kept as the
            // input's gradient, or added to it and freed), and a rerun of
            // its block.
            let created: usize = node
                .parents
                .iter()
                .filter(|&&p| nodes[p as usize].requires_grad)
                .map(|&p| bytes(&nodes[p as usize]))
                .sum();
            let rerun = match node.op {
                Op::Checkpoint { id } => {
                    let s = &segments[id as usize];
                    match &s.kept {
                        Some(k) if !dropping.get(id as usize).copied().unwrap_or(false) => {
                            k.tape.sweep_extra(k.output as usize, &[])
                        }
                        _ => s.inner_bytes + s.inner_extra,
                    }
                }
                _ => 0,
            };
            peak = peak.max(live + handed_out + created + rerun);
            live += starts[i];
            live = live.saturating_sub(bytes(node));
            if matches!(node.op, Op::Var | Op::Param(_)) {
                handed_out += bytes(node);
            }
        }
        peak
    }

    /// The plain sweep's rule for checkpointed node `i`: runs the block
    /// again (or sweeps its kept recording) from the inputs' values with
    /// incoming gradient `g`, starting each input's gradient from what the
    /// outer sweep gathered so far, and hands back the inputs' gradients
    /// (into `grads`) and the parameters' (into `params`).
    pub(super) fn checkpoint_backward(
        &self,
        id: u32,
        nodes: &[Node<T>],
        i: usize,
        g: Tensor<T>,
        grads: &mut [Option<Tensor<T>>],
        params: &mut Vec<(super::ParamId, Tensor<T>)>,
    ) {
        let (block, seed, training, kept) = {
            let mut segments = self.segments.borrow_mut();
            let s = &mut segments[id as usize];
            (Arc::clone(&s.block), s.seed, s.training, s.kept.take())
        };
        let parents = &nodes[i].parents[..];
        let (inner, kept) = match kept {
            Some(k) => (k.tape, Some((k.inputs, k.output))),
            None => (self.inner_tape(seed, training), None),
        };
        let (out, vars) = match kept {
            Some((inputs, output)) => {
                let var = |idx: u32| Var {
                    tape: &inner,
                    idx,
                    generation: inner.generation.get(),
                };
                (var(output), inputs.into_iter().map(var).collect())
            }
            None => {
                let vars = inputs_on(&inner, parents, |p| (&nodes[p as usize], None));
                (block(&vars), vars)
            }
        };
        // Each input's gradient so far, for the inner sweep to add to (a
        // repeated input once).
        let mut preset = Vec::new();
        for (k, &p) in parents.iter().enumerate() {
            if !parents[..k].contains(&p)
                && nodes[p as usize].requires_grad
                && let Some(acc) = grads[p as usize].take()
            {
                preset.push((vars[k].idx, acc));
            }
        }
        let inner_grads = out.backward_preset(g, preset);
        for (k, &p) in parents.iter().enumerate() {
            if nodes[p as usize].requires_grad && !parents[..k].contains(&p) {
                grads[p as usize] = Some(inner_grads.wrt(vars[k]).clone());
            }
        }
        params.extend(inner_grads.params().map(|(id, t)| (id, t.clone())));
    }

    /// The recorded sweep's rule for checkpointed node `index`: runs the
    /// block again on this tape, from the node's inputs and the block's
    /// random state, and records the gradients of that recording.
    pub(super) fn checkpoint_on_tape<'t>(
        &'t self,
        id: u32,
        inputs: &[Var<'t, T>],
        grad_out: Var<'t, T>,
    ) -> Vec<Var<'t, T>> {
        let (block, seed, training) = {
            let segments = self.segments.borrow();
            let s = &segments[id as usize];
            (Arc::clone(&s.block), s.seed, s.training)
        };
        let rng = StdRng::seed_from_u64(seed);
        let saved_rng = std::mem::replace(&mut *self.rng.borrow_mut(), rng);
        let saved_training = self.training.replace(training);
        let out = block(inputs);
        *self.rng.borrow_mut() = saved_rng;
        self.training.set(saved_training);
        self.grad_with(out, grad_out, inputs)
    }

    /// Forward mode: the tangent of checkpointed node `id`, computed when
    /// the block ran.
    pub(super) fn checkpoint_tangent(&self, id: u32) -> Option<Tensor<T>> {
        self.segments.borrow_mut()[id as usize].tangent.take()
    }
}

/// The block's inputs on `inner`, one per parent (a repeated parent gets
/// the same var): a dual var where `node_of` gives a tangent, a var where
/// the outer node wants a gradient, a constant elsewhere.
fn inputs_on<'i, 'n, T: Float>(
    inner: &'i Tape<T>,
    parents: &[u32],
    node_of: impl Fn(u32) -> (&'n Node<T>, Option<&'n Tensor<T>>),
) -> Vec<Var<'i, T>> {
    let mut vars: Vec<Var<'i, T>> = Vec::with_capacity(parents.len());
    for (k, &p) in parents.iter().enumerate() {
        if let Some(j) = parents[..k].iter().position(|&q| q == p) {
            let same = vars[j];
            vars.push(same);
            continue;
        }
        let (node, tangent) = node_of(p);
        vars.push(match tangent {
            Some(t) => inner.dual(node.value.clone(), t.clone()),
            None if node.requires_grad => inner.var(node.value.clone()),
            None => inner.constant(node.value.clone()),
        });
    }
    vars
}

/// Bytes a node's value holds in a buffer of its own: parameters share
/// the model's, one-element values are inline.
fn held_bytes<T: Float>(node: &Node<T>) -> usize {
    if matches!(node.op, Op::Param(_)) || !node.value.has_buffer() {
        0
    } else {
        node.value.numel() * std::mem::size_of::<T>()
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// [`Tape::checkpoint`] with this var as the block's one input:
    /// `x.checkpoint(move |x| block.forward(x))`.
    ///
    /// ```
    /// use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![0.5, 1.0]);
    /// let y = x.checkpoint(|x| (x.sin() * x).exp()).sum();
    /// // d/dx exp(x sin x) = exp(x sin x) (sin x + x cos x)
    /// let g = y.backward().wrt(x).to_vec();
    /// let by_hand = |x: f64| (x * x.sin()).exp() * (x.sin() + x * x.cos());
    /// assert!((g[0] - by_hand(0.5)).abs() < 1e-12 && (g[1] - by_hand(1.0)).abs() < 1e-12);
    /// ```
    ///
    /// # Panics
    /// As [`Tape::checkpoint`].
    pub fn checkpoint<F>(self, block: F) -> Var<'t, T>
    where
        F: for<'s> Fn(Var<'s, T>) -> Var<'s, T> + Send + Sync + 'static,
    {
        self.tape.checkpoint(&[self], move |v| block(v[0]))
    }
}
