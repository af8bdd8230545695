//! The machinery every optimiser shares: walking the model, matching
//! gradients and groups, keeping per-parameter state, splitting the work
//! into fixed chunks for rayon, and saving and loading the state.
//!
//! An optimiser supplies only a [`Rule`]: which state tensors it keeps, the
//! per-parameter scalars of a step, and the element-wise update over one
//! chunk of slices. A rule that needs totals over all parameters before it
//! can update any (D-Adaptation's and Prodigy's step size, from sums of dot
//! products) adds a reduction pass ([`Rule::reduce`], [`Rule::reduced`]);
//! the passes themselves are in `engine/passes.rs`. Scalars that belong to
//! the whole model rather than to a parameter (the step-size estimate,
//! schedule-free's averaging weights) live in the rule and are saved
//! through [`Rule::scalars`].

mod passes;

use super::groups::{Groups, check_non_negative};
use super::state::{OptimizerState, ParamState};
use crate::error::Result;
use crate::error::StateError;
use crate::nn::{Module, Param, ParamId};
use crate::tape::Grads;
use crate::tensor::{Float, Tensor};
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap};

/// Parameters a step lists without a heap allocation (the lists are on the
/// stack up to this many; more spill to the heap).
const INLINE_PARAMS: usize = 32;

/// The most state tensors any optimiser keeps per parameter (Prodigy:
/// four).
pub(crate) const MAX_SLOTS: usize = 4;

/// The most totals a reduction pass computes (D-Adaptation and Prodigy:
/// two).
pub(crate) const MAX_SUMS: usize = 2;

/// The totals of a reduction pass, in `f64` whatever the element type.
pub(crate) type Sums = [f64; MAX_SUMS];

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

    /// Whether a step has a reduction pass ([`reduce`](Rule::reduce) over
    /// every chunk, then [`reduced`](Rule::reduced)) before the update pass.
    const REDUCES: bool = false;

    /// The names of the state tensors in each slot (PyTorch's names);
    /// `None` for a slot this configuration does not use.
    fn slot_names(&self) -> [Option<&'static str>; MAX_SLOTS];

    /// The starting value of a state tensor's elements.
    fn slot_init(&self, _slot: usize) -> T {
        T::ZERO
    }

    /// Whether a state tensor starts as a copy of its parameter instead
    /// (Prodigy's starting point, schedule-free's `z` and `x`).
    fn slot_copies_param(&self, _slot: usize) -> bool {
        false
    }

    /// Panics if the settings contradict each other (checked at each step,
    /// so that builder methods can be called in any order).
    fn check(&self) {}

    /// The hyperparameters recorded in the state, besides the weight decay.
    fn hyperparameters(&self) -> Vec<(&'static str, f64)>;

    /// The scalars the rule keeps for the whole model (not hyperparameters:
    /// they change as it trains), saved in
    /// [`OptimizerState::scalars`]. Most rules keep none.
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Checks saved scalars (one finite value for each name of
    /// [`scalars`](Rule::scalars), already checked): `Err((name, why))`
    /// for one this rule cannot start from.
    fn check_scalars(
        &self,
        _saved: &BTreeMap<String, f64>,
    ) -> std::result::Result<(), (String, String)> {
        Ok(())
    }

    /// Replaces the scalars with checked saved ones.
    fn set_scalars(&mut self, _saved: &BTreeMap<String, f64>) {}

    /// Panics if a parameter's group rate `group_lr` is one this rule
    /// cannot follow, given the base rate `lr` (checked before anything
    /// changes).
    fn check_group_rate(&self, _name: &str, _group_lr: f64, _lr: f64) {}

    /// Once per step, after every check and before any
    /// [`coeffs`](Rule::coeffs): the base rate and the step count (1 on the
    /// first step), for the rule's own scalars.
    fn begin(&mut self, _lr: f64, _steps: u64) {}

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

    /// The reduction pass over one chunk (only with
    /// [`REDUCES`](Rule::REDUCES)): may update the state slots, adds the
    /// chunk's part of each total to `sums` (which start at 0 for each
    /// chunk). Dispatched and inlined like [`apply`](Rule::apply).
    fn reduce(&self, _c: &Self::Coeffs, _p: &[T], _g: &[T], _s: Slots<'_, T>, _sums: &mut Sums) {}

    /// Between the passes, with the totals over all chunks (added in a
    /// fixed order, so the same bits at any thread count): updates the
    /// rule's scalars; `false` skips the update pass.
    fn reduced(&mut self, _sums: &Sums) -> bool {
        true
    }
}

/// What [`Core::each_state`] calls with a parameter's values and its state.
pub(crate) type StateVisitor<'f, T> = dyn FnMut(&mut [T], &[Vec<T>; MAX_SLOTS]) + 'f;

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
        rule: &mut R,
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
            rule.check_group_rate(name, glr, lr);
            todo.push((id, param, g, glr, gwd));
        });
        // Counts saturate: a state loaded with a count of u64::MAX (from a
        // file, or after 2^64 steps) must not wrap to 0, where Adam's bias
        // correction 1 - beta^0 is a division by zero. At such counts
        // beta^t is 0 anyway, so staying at the maximum changes nothing.
        self.steps = self.steps.saturating_add(1);
        rule.begin(lr, self.steps);
        let rule = &mut *rule;
        let mut jobs: SmallVec<[Job<'_, T, R::Coeffs>; INLINE_PARAMS]> = todo
            .into_iter()
            .map(|(id, param, g, glr, gwd)| {
                let n = g.numel();
                let mut mem = memory.remove(&id).unwrap_or_else(|| Memory {
                    step: 0,
                    slots: std::array::from_fn(|k| match names[k] {
                        Some(_) if rule.slot_copies_param(k) => param.value().to_vec(),
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
        passes::run(rule, &mut jobs);
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
            scalars: rule
                .scalars()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            params,
        }
    }

    /// Replaces the whole state with `state`, after checking that all of it
    /// fits this optimiser and `model`; on any error nothing changes.
    pub(crate) fn load_state<R: Rule<T>>(
        &mut self,
        rule: &mut R,
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
        check_scalars(rule, &state.scalars)?;
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
        rule.set_scalars(&state.scalars);
        Ok(())
    }

    /// Calls `f` with the values of each parameter of `model` that has
    /// state, and that state (`what` names the caller in the panic).
    ///
    /// # Panics
    /// If a parameter's shape changed since its last step.
    pub(crate) fn each_state(
        &self,
        what: &str,
        model: &mut dyn Module<T>,
        f: &mut StateVisitor<'_, T>,
    ) {
        model.visit_mut("", &mut |path, param| {
            let Some(mem) = self.memory.get(&param.id()) else {
                return;
            };
            let n = param.value().numel();
            assert!(
                mem.slots.iter().all(|s| s.is_empty() || s.len() == n),
                "{what}: '{}' has {n} elements but its state has more or fewer; \
                 a parameter's shape must not change between steps",
                name_of(path, param)
            );
            f(param.value_mut().as_mut_slice(), &mem.slots);
        });
    }
}

/// The name a parameter is known by: its dotted path in the model, or its
/// own name when it is the whole model (a lone `Param` has the empty path).
fn name_of<'a, T: Float>(path: &'a str, param: &'a Param<T>) -> &'a str {
    if path.is_empty() { param.name() } else { path }
}

/// Checks saved scalars against the rule's: the same names, finite
/// values, and whatever the rule itself requires.
fn check_scalars<T: Float, R: Rule<T>>(rule: &R, saved: &BTreeMap<String, f64>) -> Result<()> {
    let ours = rule.scalars();
    let bad = |name: &str, problem: String| -> crate::error::Error {
        StateError::Scalar {
            name: name.to_owned(),
            problem,
        }
        .into()
    };
    for (name, _) in &ours {
        match saved.get(*name) {
            None => return Err(bad(name, "is missing from the state".into())),
            Some(v) if !v.is_finite() => {
                return Err(bad(name, format!("is {v}, not a finite number")));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = saved.keys().find(|k| !ours.iter().any(|(n, _)| n == k)) {
        return Err(bad(extra, format!("is not one {} keeps", R::NAME)));
    }
    rule.check_scalars(saved)
        .map_err(|(name, why)| bad(&name, why))
}
