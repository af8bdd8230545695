//! The machinery every optimiser shares: walking the model, matching
//! gradients and groups, keeping per-parameter state, splitting the work
//! into fixed chunks for rayon, and saving and loading the state.
//!
//! An optimiser supplies only a [`Rule`]: which state tensors it keeps, the
//! per-parameter scalars of a step, and the element-wise update over one
//! chunk of slices.

use super::groups::{Groups, check_non_negative};
use super::state::{OptimizerState, ParamState};
use crate::error::Result;
use crate::error::StateError;
use crate::nn::{Module, Param, ParamId};
use crate::tape::Grads;
use crate::tensor::{Float, Tensor, worth_parallel};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap};

/// Parameters a step lists without a heap allocation (the lists are on the
/// stack up to this many; more spill to the heap).
const INLINE_PARAMS: usize = 32;

/// The most state tensors any optimiser keeps per parameter (Adam with
/// AMSGrad, RMSprop centred with momentum: three).
pub(crate) const MAX_SLOTS: usize = 3;

/// Elements per unit of parallel work. Fixed, never derived from the thread
/// count, so that the split, and hence every result, is the same on any
/// machine; large enough that a task costs far more than its hand-off.
pub(crate) const CHUNK: usize = 1 << 15;

/// One chunk of each state tensor; unused slots are empty.
pub(crate) type Slots<'a, T> = [&'a mut [T]; MAX_SLOTS];

/// An optimiser's update rule, element by element.
pub(crate) trait Rule<T: Float>: Sync {
    /// The scalars of one parameter's step (rate, decay, bias corrections),
    /// computed once per parameter, not once per element.
    type Coeffs: Copy + Send + Sync;

    /// The optimiser's type name, recorded in its state.
    const NAME: &'static str;

    /// The names of the state tensors in each slot (PyTorch's names);
    /// `None` for a slot this configuration does not use.
    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS];

    /// The starting value of a state tensor's elements.
    fn slot_init(&self, _slot: usize) -> T {
        T::ZERO
    }

    /// Panics if the settings contradict each other (checked at each step,
    /// so that builder methods can be called in any order).
    fn check(&self) {}

    /// The hyperparameters recorded in the state, besides the weight decay.
    fn hyperparameters(&self) -> Vec<(&'static str, f64)>;

    /// The scalars for one parameter: its group's rate and decay, and its
    /// step count (1 on its first update).
    fn coeffs(&self, lr: f64, weight_decay: f64, step: u64) -> Self::Coeffs;

    /// Updates one chunk in place: `p` and `g` have the same length, and so
    /// has each slot in use.
    ///
    /// The engine calls it through `pulp`'s dispatch (see [`Update`]);
    /// implementations are `#[inline(always)]`, so that their loop is
    /// compiled there, for the widest vector instructions the CPU has.
    fn apply(&self, c: &Self::Coeffs, p: &mut [T], g: &[T], s: Slots<'_, T>);
}

/// One parameter's memory: its update count and state tensors.
#[derive(Clone, Debug)]
struct Memory<T> {
    step: u64,
    slots: [Vec<T>; MAX_SLOTS],
}

/// The rate, decay, groups, step counts and per-parameter state of an
/// optimiser: the part that is the same for all of them.
#[derive(Clone, Debug)]
pub(crate) struct Core<T: Float> {
    pub(crate) lr: f64,
    pub(crate) weight_decay: f64,
    pub(crate) groups: Groups,
    pub(crate) steps: u64,
    memory: HashMap<ParamId, Memory<T>>,
}

/// A parameter being updated this step, with its memory taken out of the
/// map for the duration.
struct Job<'a, T, C> {
    id: ParamId,
    p: &'a mut [T],
    g: &'a [T],
    memory: Memory<T>,
    coeffs: C,
}

impl<T: Float> Core<T> {
    /// A core with rate `lr` and weight decay `weight_decay`.
    ///
    /// # Panics
    /// If either is negative or not finite.
    pub(crate) fn new(optimizer: &str, lr: f64, weight_decay: f64) -> Self {
        check_non_negative(optimizer, "lr", lr);
        check_non_negative(optimizer, "weight_decay", weight_decay);
        Core {
            lr,
            weight_decay,
            groups: Groups::default(),
            steps: 0,
            memory: HashMap::new(),
        }
    }

    /// One optimiser step: every trainable parameter of `model` that has a
    /// gradient in `grads` is updated in place by `rule`.
    ///
    /// Everything that can panic (a gradient or state of the wrong size) is
    /// checked before anything changes.
    pub(crate) fn step<R: Rule<T>>(
        &mut self,
        rule: &R,
        model: &mut dyn Module<T>,
        grads: &Grads<T>,
    ) {
        rule.check();
        let (lr, wd) = (self.lr, self.weight_decay);
        let names = rule.slot_names();
        let (groups, memory) = (&mut self.groups, &mut self.memory);
        // (id, parameter, gradient, group rate, group decay)
        let mut todo: SmallVec<[_; INLINE_PARAMS]> = SmallVec::new();
        model.visit_mut("", &mut |path, param| {
            let name = name_of(path, param);
            if !param.is_trainable() {
                return;
            }
            let id = param.id();
            let Some(g) = grads.get_param(id) else {
                return;
            };
            assert!(
                g.shape() == param.shape(),
                "{} step: the gradient of '{name}' has shape {:?} but the parameter has shape {:?}",
                R::NAME,
                g.shape(),
                param.shape()
            );
            if let Some(mem) = memory.get(&id) {
                let n = g.numel();
                for (slot, data) in names.iter().zip(&mem.slots) {
                    assert!(
                        slot.is_none() || data.len() == n,
                        "{} step: '{name}' has {n} elements but its state has {}; \
                         a parameter's shape must not change between steps",
                        R::NAME,
                        data.len()
                    );
                }
            }
            let (glr, gwd) = groups.resolve(name, id, lr, wd);
            todo.push((id, param, g, glr, gwd));
        });
        // Counts saturate: a state loaded with a count of u64::MAX (from a
        // file, or after 2^64 steps) must not wrap to 0, where Adam's bias
        // correction 1 - beta^0 is a division by zero. At such counts
        // beta^t is 0 anyway, so staying at the maximum changes nothing.
        self.steps = self.steps.saturating_add(1);
        let mut jobs: SmallVec<[Job<'_, T, R::Coeffs>; INLINE_PARAMS]> = todo
            .into_iter()
            .map(|(id, param, g, glr, gwd)| {
                let n = g.numel();
                let mut mem = memory.remove(&id).unwrap_or_else(|| Memory {
                    step: 0,
                    slots: std::array::from_fn(|k| match names[k] {
                        Some(_) => vec![rule.slot_init(k); n],
                        None => Vec::new(),
                    }),
                });
                mem.step = mem.step.saturating_add(1);
                Job {
                    id,
                    p: param.value_mut().as_mut_slice(),
                    g: g.as_slice(),
                    coeffs: rule.coeffs(glr, gwd, mem.step),
                    memory: mem,
                }
            })
            .collect();
        run(rule, &mut jobs);
        for job in jobs {
            memory.insert(job.id, job.memory);
        }
    }

    /// The hyperparameters as saved: the rule's and the weight decay.
    fn hyperparameters<R: Rule<T>>(&self, rule: &R) -> BTreeMap<String, f64> {
        let mut h: BTreeMap<String, f64> = rule
            .hyperparameters()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        h.insert("weight_decay".to_owned(), self.weight_decay);
        h
    }

    /// The state as plain data, keyed by the names `model` gives its
    /// parameters.
    pub(crate) fn state<R: Rule<T>>(&self, rule: &R, model: &dyn Module<T>) -> OptimizerState<T> {
        let names = rule.slot_names();
        let mut params = BTreeMap::new();
        model.visit("", &mut |path, param| {
            let name = name_of(path, param);
            let Some(mem) = self.memory.get(&param.id()) else {
                return;
            };
            let tensors = names
                .iter()
                .zip(&mem.slots)
                .filter_map(|(slot, data)| {
                    let slot = (*slot)?;
                    let t = Tensor::from_vec(data.clone(), param.shape()).unwrap_or_else(|_| {
                        panic!(
                            "{} state: '{name}' changed shape to {:?} since its last step",
                            R::NAME,
                            param.shape()
                        )
                    });
                    Some((slot.to_owned(), t))
                })
                .collect();
            params.insert(
                name.to_owned(),
                ParamState {
                    step: mem.step,
                    tensors,
                },
            );
        });
        OptimizerState {
            optimizer: R::NAME.to_owned(),
            steps: self.steps,
            lr: self.lr,
            hyperparameters: self.hyperparameters(rule),
            params,
        }
    }

    /// Replaces the whole state with `state`, after checking that all of it
    /// fits this optimiser and `model`; on any error nothing changes.
    pub(crate) fn load_state<R: Rule<T>>(
        &mut self,
        rule: &R,
        model: &dyn Module<T>,
        state: &OptimizerState<T>,
    ) -> Result<()> {
        if state.optimizer != R::NAME {
            return Err(StateError::WrongOptimizer {
                expected: R::NAME.to_owned(),
                found: state.optimizer.clone(),
            }
            .into());
        }
        let ours = self.hyperparameters(rule);
        for name in ours.keys().chain(state.hyperparameters.keys()) {
            let (expected, found) = (ours.get(name), state.hyperparameters.get(name));
            if expected.map(|v| v.to_bits()) != found.map(|v| v.to_bits()) {
                return Err(StateError::Hyperparameter {
                    name: name.clone(),
                    expected: expected.copied(),
                    found: found.copied(),
                }
                .into());
            }
        }
        if !(state.lr.is_finite() && state.lr >= 0.0) {
            return Err(StateError::BadLr(state.lr).into());
        }
        let mut by_name: HashMap<String, (ParamId, Vec<usize>)> = HashMap::new();
        model.visit("", &mut |path, p| {
            by_name.insert(name_of(path, p).to_owned(), (p.id(), p.shape().to_vec()));
        });
        let slot_names = rule.slot_names();
        let mut memory = HashMap::with_capacity(state.params.len());
        for (name, saved) in &state.params {
            let (id, shape) = by_name
                .get(name)
                .ok_or_else(|| StateError::UnknownParam(name.clone()))?;
            if let Some(extra) = saved
                .tensors
                .keys()
                .find(|k| !slot_names.contains(&Some(k.as_str())))
            {
                return Err(StateError::UnexpectedTensor {
                    param: name.clone(),
                    tensor: extra.clone(),
                }
                .into());
            }
            let mut slots: [Vec<T>; MAX_SLOTS] = Default::default();
            for (slot, tensor_name) in slots.iter_mut().zip(slot_names) {
                let Some(tensor_name) = tensor_name else {
                    continue;
                };
                let t =
                    saved
                        .tensors
                        .get(tensor_name)
                        .ok_or_else(|| StateError::MissingTensor {
                            param: name.clone(),
                            tensor: tensor_name.to_owned(),
                        })?;
                if t.shape() != shape.as_slice() {
                    return Err(StateError::ShapeMismatch {
                        param: name.clone(),
                        tensor: tensor_name.to_owned(),
                        expected: shape.clone(),
                        found: t.shape().to_vec(),
                    }
                    .into());
                }
                *slot = t.to_vec();
            }
            memory.insert(
                *id,
                Memory {
                    step: saved.step,
                    slots,
                },
            );
        }
        self.memory = memory;
        self.steps = state.steps;
        self.lr = state.lr;
        Ok(())
    }
}

/// The name a parameter is known by: its dotted path in the model, or its
/// own name when it is the whole model (a lone `Param` has the empty path).
fn name_of<'a, T: Float>(path: &'a str, param: &'a Param<T>) -> &'a str {
    if path.is_empty() { param.name() } else { path }
}

/// Applies `rule` to every job, splitting each parameter into `CHUNK`-long
/// pieces and spreading all pieces of all parameters over rayon when there
/// is enough work. Each element is updated by itself, so the result does not
/// depend on how pieces are shared out among threads.
fn run<T: Float, R: Rule<T>>(rule: &R, jobs: &mut [Job<'_, T, R::Coeffs>]) {
    let total: usize = jobs.iter().map(|j| j.p.len()).sum();
    let mut pieces: SmallVec<[Piece<'_, '_, T, R::Coeffs>; 2 * INLINE_PARAMS]> =
        SmallVec::with_capacity(total / CHUNK + jobs.len());
    for job in jobs.iter_mut() {
        let coeffs = &job.coeffs;
        let mut p = &mut *job.p;
        let mut g = job.g;
        let mut s: Slots<'_, T> = {
            let [a, b, c] = &mut job.memory.slots;
            [a.as_mut_slice(), b.as_mut_slice(), c.as_mut_slice()]
        };
        while !p.is_empty() {
            let n = CHUNK.min(p.len());
            let (p_head, p_tail) = std::mem::take(&mut p).split_at_mut(n);
            let (g_head, g_tail) = g.split_at(n);
            let s_head = s.each_mut().map(|slot| {
                if slot.is_empty() {
                    &mut [][..]
                } else {
                    let (head, tail) = std::mem::take(slot).split_at_mut(n);
                    *slot = tail;
                    head
                }
            });
            pieces.push((coeffs, p_head, g_head, s_head));
            (p, g) = (p_tail, g_tail);
        }
    }
    if worth_parallel(total) && pieces.len() > 1 {
        pieces.par_iter_mut().for_each(|piece| {
            pulp::Arch::new().dispatch(Update {
                rule,
                pieces: std::slice::from_mut(piece),
            })
        });
    } else {
        pulp::Arch::new().dispatch(Update {
            rule,
            pieces: &mut pieces,
        });
    }
}

/// One chunk of a step: the parameter's coefficients, its values, its
/// gradient and its state slots.
type Piece<'c, 'a, T, C> = (&'c C, &'a mut [T], &'a [T], Slots<'a, T>);

/// Pieces to update with `rule`, as one unit of work for `pulp`, which runs
/// it inside a function compiled for AVX2 + FMA when the CPU has them (8
/// floats a step instead of baseline SSE2's 4) and as plain code otherwise.
///
/// This is [`vectorize`](crate::tensor::simd::vectorize) written as a
/// `WithSimd` type rather than a closure: the wide code is only generated if
/// the rule's loop is inlined into pulp's function, and LLVM declines to
/// inline a closure holding a loop this large, while `with_simd` and every
/// rule's `apply` are `#[inline(always)]`.
struct Update<'r, 's, 'c, 'a, T: Float, R: Rule<T>> {
    rule: &'r R,
    pieces: &'s mut [Piece<'c, 'a, T, R::Coeffs>],
}

impl<T: Float, R: Rule<T>> pulp::WithSimd for Update<'_, '_, '_, '_, T, R> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (c, p, g, s) in self.pieces.iter_mut() {
            self.rule.apply(c, p, g, s.each_mut().map(|s| &mut **s));
        }
    }
}
