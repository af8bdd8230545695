//! A model's named state: every parameter and [buffer](Module#buffers) by
//! dotted name, taken with [`Module::state`] and put back with
//! [`Module::load_state`].
//!
//! Loading is "stage everything, check, then commit": each tensor the model
//! needs is looked up and checked first, and the model is written only
//! once nothing can fail any more. The same staging serves every loader of
//! the crate: an in-memory [`StateMap`], a safetensors file
//! ([`load_safetensors_with`](crate::io::load_safetensors_with)), a
//! checkpoint ([`load_checkpoint`](crate::train::load_checkpoint)), and the
//! snapshots that the divergence guard and the LR range test put back.
//! Each source says how to fetch and check one tensor ([`stage`]); the
//! rules for what is missing, what is unexpected and what is written are
//! here, once.

use super::Module;
use crate::error::list;
use crate::tensor::{Float, Tensor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// A model's tensors by dotted name: its parameters and its buffers, as
/// [`Module::state`] returns them and [`Module::load_state`] takes them.
/// The tensors share storage with the model's until either is written, so
/// taking one copies no data.
pub type StateMap<T = f32> = BTreeMap<String, Tensor<T>>;

/// What a load tolerates; `default()` is strict (the source must hold
/// exactly the model's parameters and buffers, in the model's dtype). Each
/// option applies to buffers as to parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Leave parameters the source lacks as they are (e.g. a new head on a
    /// pretrained body) instead of failing.
    pub allow_missing: bool,
    /// Ignore tensors of the source the model has no parameter for (e.g. a
    /// pretrained head you replaced) instead of failing.
    pub allow_unexpected: bool,
    /// Files only: convert between `F32` and `F64` (rounding to nearest
    /// when narrowing) instead of failing on a dtype that differs from the
    /// model's. Other dtypes are always refused. An in-memory
    /// [`StateMap`] is already of the model's type, so it ignores this.
    pub convert_dtype: bool,
}

/// What a load did: parameters and buffers set from the source, those left
/// as they were, and tensors of the source left unused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Dotted names of the parameters set from the source, in visiting
    /// order, then of the buffers, in theirs.
    pub loaded: Vec<String>,
    /// Parameters, then buffers, the source lacks (left unchanged), in
    /// visiting order.
    pub missing: Vec<String>,
    /// Keys of the source the model has nothing for, sorted.
    pub unexpected: Vec<String>,
    /// Batch-norm counters (`PREFIX.num_batches_tracked`, see
    /// [`is_counter`]) the source lacks, in visiting order, left as they
    /// were. Files saved by earlier versions of tapegrad (and PyTorch's from
    /// before its version 0.4.1) have none; PyTorch's `load_state_dict`
    /// tolerates that too. Not a mismatch: they do not affect
    /// [`is_exact`](LoadReport::is_exact), and a strict load accepts them.
    pub counters_kept: Vec<String>,
    /// Keys of the source that were read under an earlier name of a
    /// parameter, as `(key in the source, the model's name)`, in visiting
    /// order: multi-head attention's `PREFIX.qkv.weight` and
    /// `PREFIX.qkv.bias`, which tapegrad now names, as PyTorch,
    /// `PREFIX.in_proj_weight` and `PREFIX.in_proj_bias` (see
    /// [`legacy_name`]). The model's names are in `loaded` as well.
    pub renamed: Vec<(String, String)>,
}

impl LoadReport {
    /// Whether the source and the model matched key for key.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Why [`Module::load_state`] refused a [`StateMap`]; the model is then
/// unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadStateError {
    /// The map lacks parameters or buffers of the model (every one listed,
    /// in visiting order).
    Missing {
        /// The missing dotted names.
        keys: Vec<String>,
    },
    /// The map has tensors the model has no parameter or buffer for.
    Unexpected {
        /// The unexpected keys, sorted.
        keys: Vec<String>,
    },
    /// A tensor's shape differs from its parameter's or buffer's (the
    /// first such in visiting order).
    Shape {
        /// The dotted name.
        key: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The map's shape.
        found: Vec<usize>,
    },
    /// A [counter](is_counter) that is not a whole number in `0..2^63`.
    Count {
        /// The dotted name.
        key: String,
        /// The map's value, as Rust prints it (`2.5`, `-1`, `NaN`).
        value: String,
    },
}

impl fmt::Display for LoadStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadStateError::Missing { keys } => write!(
                f,
                "the state lacks {} of the model: {} (LoadOptions::allow_missing leaves them as they are)",
                count(keys.len(), "tensor"),
                list(keys)
            ),
            LoadStateError::Unexpected { keys } => write!(
                f,
                "the state has {} the model lacks: {} (LoadOptions::allow_unexpected ignores them)",
                count(keys.len(), "tensor"),
                list(keys)
            ),
            LoadStateError::Shape {
                key,
                expected,
                found,
            } => write!(
                f,
                "`{key}` has the wrong shape: the model expects {expected:?}, the state has {found:?}"
            ),
            LoadStateError::Count { key, value } => write!(
                f,
                "`{key}`: a batch count must be a whole number from 0 to 2^63: got {value}"
            ),
        }
    }
}

/// A [counter](is_counter) that is not a whole number in `0..2^63` (the
/// range of PyTorch's `int64`): every loader refuses it, so that the count
/// a model keeps is the source's exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BadCount(pub(crate) f64);

impl fmt::Display for BadCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a batch count must be a whole number from 0 to 2^63: got {}",
            self.0
        )
    }
}

/// Sources whose problems are strings (checkpoints) say it in words.
impl From<BadCount> for String {
    fn from(bad: BadCount) -> String {
        bad.to_string()
    }
}

/// 2^63, the first whole number past PyTorch's `int64`.
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

/// Whether `t` holds a valid count: one finite whole number in `0..2^63`.
fn check_count<T: Float>(t: &Tensor<T>) -> Result<(), BadCount> {
    let v = t.as_slice().first().map_or(0.0, |v| v.to_f64());
    if (0.0..TWO_TO_63).contains(&v) && v.fract() == 0.0 {
        Ok(())
    } else {
        Err(BadCount(v))
    }
}

impl std::error::Error for LoadStateError {}

/// `n` and `noun`, plural when `n != 1`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Whether the buffer named `name` is a batch-norm counter: its last
/// dotted part is `num_batches_tracked` (PyTorch's name). A counter is a
/// scalar buffer holding a whole number; tapegrad's own loaders accept a
/// source that lacks one ([`LoadReport::counters_kept`]), and safetensors
/// files store it as `I64`, as PyTorch does (see
/// [`save_safetensors`](crate::io::save_safetensors)).
///
/// ```
/// use tapegrad::nn::is_counter;
/// assert!(is_counter("bn.num_batches_tracked") && is_counter("num_batches_tracked"));
/// assert!(!is_counter("bn.running_mean") && !is_counter("my_num_batches_tracked"));
/// ```
pub fn is_counter(name: &str) -> bool {
    name.rsplit('.').next() == Some("num_batches_tracked")
}

/// The name a parameter had in earlier versions of tapegrad, if it had
/// another: `PREFIX.qkv.weight` for multi-head attention's
/// `PREFIX.in_proj_weight`, `PREFIX.qkv.bias` for `PREFIX.in_proj_bias`
/// (PyTorch's names, used since). Every loader of the crate reads a
/// parameter the source lacks from its earlier name, if the source has
/// that and the model has no tensor of that name itself.
///
/// ```
/// use tapegrad::nn::legacy_name;
/// assert_eq!(legacy_name("blocks.0.attn.in_proj_weight").as_deref(), Some("blocks.0.attn.qkv.weight"));
/// assert_eq!(legacy_name("in_proj_bias").as_deref(), Some("qkv.bias"));
/// assert_eq!(legacy_name("fc.weight"), None);
/// ```
pub fn legacy_name(name: &str) -> Option<String> {
    let (stem, last) = match name.rsplit_once('.') {
        Some((stem, last)) => (Some(stem), last),
        None => (None, name),
    };
    let old = match last {
        "in_proj_weight" => "qkv.weight",
        "in_proj_bias" => "qkv.bias",
        _ => return None,
    };
    Some(match stem {
        Some(stem) => format!("{stem}.{old}"),
        None => old.to_owned(),
    })
}

/// Every parameter, then every buffer, of `model` by dotted name.
///
/// # Panics
/// If two of them share a name (no derived module does this).
pub(crate) fn state_of<T: Float, M: Module<T> + ?Sized>(model: &M) -> StateMap<T> {
    let mut out = StateMap::new();
    let mut add = |name: &str, t: &Tensor<T>| {
        if out.insert(name.to_owned(), t.clone()).is_some() {
            panic!("Module::state: two tensors of the model are named `{name}`");
        }
    };
    model.visit("", &mut |name, p| add(name, p.value()));
    model.visit_buffers("", &mut |name, b| add(name, b));
    out
}

/// Why a staged load cannot be committed, in the order it is checked:
/// missing keys, then unexpected keys, then the first tensor (in visiting
/// order) the source refused, with the source's own kind of problem `P`.
#[derive(Debug)]
pub(crate) enum Refusal<P> {
    /// The source lacks these model names (visiting order).
    Missing(Vec<String>),
    /// The source has these keys the model lacks (sorted).
    Unexpected(Vec<String>),
    /// The source's tensor for this name did not fit.
    Mismatch(String, P),
}

/// A load checked and ready to write: the values by name, what the report
/// will say, and the first tensor that did not fit.
pub(crate) struct Staged<T: Float, P> {
    /// What was found, missing and unexpected.
    pub(crate) report: LoadReport,
    mismatch: Option<(String, P)>,
    values: HashMap<String, Tensor<T>>,
}

/// Stages a load into `model` from a source with these `keys`: for each
/// parameter and then each buffer, in visiting order, `fetch(name, shape)`
/// returns `None` if the source lacks it, else the tensor checked against
/// the model's `shape`, or the source's problem with it. A parameter the
/// source lacks is fetched under its [`legacy_name`], if the model has no
/// tensor of that name; a [counter](is_counter) the source lacks is kept,
/// not missing. Keys that name no parameter or buffer (and were not read
/// as a legacy name) are reported as unexpected. Nothing is written.
pub(crate) fn stage<'k, T, M, P>(
    model: &M,
    keys: impl IntoIterator<Item = &'k str>,
    mut fetch: impl FnMut(&str, &[usize]) -> Option<Result<Tensor<T>, P>>,
) -> Staged<T, P>
where
    T: Float,
    M: Module<T> + ?Sized,
    P: From<BadCount>,
{
    // The model's names first: a legacy name is only read if no tensor of
    // the model has it.
    let mut names = HashSet::new();
    model.visit("", &mut |name, _| {
        names.insert(name.to_owned());
    });
    model.visit_buffers("", &mut |name, _| {
        names.insert(name.to_owned());
    });
    let mut used = HashSet::new();
    let mut report = LoadReport::default();
    let mut mismatch = None;
    let mut values = HashMap::new();
    let mut one = |name: &str, shape: &[usize], buffer: bool| {
        let mut found = fetch(name, shape);
        if found.is_none()
            && !buffer
            && let Some(old) = legacy_name(name).filter(|old| !names.contains(old))
        {
            found = fetch(&old, shape);
            if found.is_some() {
                report.renamed.push((old.clone(), name.to_owned()));
                used.insert(old);
            }
        }
        // A counter's value must be a count, whatever the source.
        if buffer && is_counter(name) {
            found = found.map(|r| r.and_then(|t| check_count(&t).map(|()| t).map_err(P::from)));
        }
        match found {
            None if buffer && is_counter(name) => report.counters_kept.push(name.to_owned()),
            None => report.missing.push(name.to_owned()),
            Some(Ok(t)) => {
                report.loaded.push(name.to_owned());
                values.insert(name.to_owned(), t);
            }
            Some(Err(problem)) => {
                mismatch.get_or_insert_with(|| (name.to_owned(), problem));
            }
        }
    };
    model.visit("", &mut |name, p| one(name, p.shape(), false));
    model.visit_buffers("", &mut |name, b| one(name, b.shape(), true));
    report.unexpected = keys
        .into_iter()
        .filter(|k| !names.contains(*k) && !used.contains(*k))
        .map(str::to_owned)
        .collect();
    report.unexpected.sort();
    Staged {
        report,
        mismatch,
        values,
    }
}

impl<T: Float, P> Staged<T, P> {
    /// Whether the staged load may be committed under `opts`; the first
    /// reason it may not.
    pub(crate) fn check(&mut self, opts: LoadOptions) -> Result<(), Refusal<P>> {
        if !self.report.missing.is_empty() && !opts.allow_missing {
            return Err(Refusal::Missing(self.report.missing.clone()));
        }
        if !self.report.unexpected.is_empty() && !opts.allow_unexpected {
            return Err(Refusal::Unexpected(self.report.unexpected.clone()));
        }
        match self.mismatch.take() {
            Some((name, problem)) => Err(Refusal::Mismatch(name, problem)),
            None => Ok(()),
        }
    }

    /// Writes the staged values into `model` (the one it was staged
    /// against) and returns the report. Cannot fail: call it only after
    /// [`check`](Staged::check) and any other check of the load passed.
    /// Values replace the tensors; ids, names and `trainable` flags stay.
    pub(crate) fn commit<M: Module<T> + ?Sized>(mut self, model: &mut M) -> LoadReport {
        model.visit_mut("", &mut |name, p| {
            if let Some(t) = self.values.remove(name) {
                *p.value_mut() = t;
            }
        });
        model.visit_buffers_mut("", &mut |name, b| {
            if let Some(t) = self.values.remove(name) {
                *b = t;
            }
        });
        self.report
    }
}

/// What can be wrong with a tensor of a [`StateMap`].
enum MapProblem {
    /// The model's shape, the map's.
    Shape(Vec<usize>, Vec<usize>),
    /// A counter that is not a count.
    Count(BadCount),
}

impl From<BadCount> for MapProblem {
    fn from(bad: BadCount) -> Self {
        MapProblem::Count(bad)
    }
}

/// [`Module::load_state`]: stages from the map, checks, commits.
pub(crate) fn load_state<T: Float, M: Module<T> + ?Sized>(
    model: &mut M,
    state: &StateMap<T>,
    opts: LoadOptions,
) -> Result<LoadReport, LoadStateError> {
    let mut staged = stage(model, state.keys().map(String::as_str), |name, shape| {
        let t = state.get(name)?;
        Some(if t.shape() == shape {
            Ok(t.clone())
        } else {
            Err(MapProblem::Shape(shape.to_vec(), t.shape().to_vec()))
        })
    });
    staged.check(opts).map_err(|refusal| match refusal {
        Refusal::Missing(keys) => LoadStateError::Missing { keys },
        Refusal::Unexpected(keys) => LoadStateError::Unexpected { keys },
        Refusal::Mismatch(key, MapProblem::Shape(expected, found)) => LoadStateError::Shape {
            key,
            expected,
            found,
        },
        Refusal::Mismatch(key, MapProblem::Count(BadCount(value))) => LoadStateError::Count {
            key,
            value: value.to_string(),
        },
    })?;
    Ok(staged.commit(model))
}
