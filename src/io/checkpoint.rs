//! Checkpoints: a model, its optimiser's state and where the run was
//! ([`TrainState`]), in one safetensors file.
//!
//! ## Format
//! One safetensors file (readable by any safetensors tool):
//! - tensor `model.NAME` for each parameter and each buffer (batch-norm
//!   running statistics) `NAME` of the model;
//! - tensor `optim.NAME.TENSOR` for each state tensor of the optimiser
//!   (`optim.fc.weight.exp_avg`);
//! - header metadata (strings): `tapegrad.checkpoint` (format version,
//!   `1`), `dtype`, the optimiser's name, step count, rate,
//!   hyperparameters (`optim.hp.NAME`) and per-parameter step counts
//!   (`optim.step.NAME`), the run's `train.epoch`, `train.batch`,
//!   `train.step`, `train.seed`, `train.lr_scale`, `train.base_lr` and
//!   `train.observations`, and `checksum`, an FNV-1a hash of every
//!   tensor's name and bytes, so that damaged data (not just a damaged
//!   header) is caught. Numbers are written in Rust's shortest exact
//!   decimal form, so they read back bit for bit.
//!
//! The running sums of the epoch under way are metadata too (`train.sums.*`,
//! see [`EpochSums`](crate::train::EpochSums)), so that a run resumed
//! mid-epoch ends that epoch with the uninterrupted run's means.
//!
//! ## Random numbers
//! No generator state is stored: the trainer seeds each epoch's shuffle
//! and each step's tape from `(seed, epoch, step)` (see
//! [`train`](crate::train)), so the seed and the position are enough for a
//! resumed run to continue bit-identically.

use super::safetensors::{dtype_of, encode};
use super::write_atomic;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::optim::{Optimizer, OptimizerState, ParamState};
use crate::tensor::{Float, Tensor};
use crate::train::TrainState;
use ::safetensors::tensor::{SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const VERSION: &str = "1";

/// Saves `model`'s parameters and buffers, `optimizer`'s state and `state` to `path`
/// as one safetensors file (see the [module docs](self) for the layout),
/// atomically: a temporary file in the same directory, flushed, synced and
/// renamed over `path`, so a crash mid-write leaves the previous
/// checkpoint whole.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written; [`Error::Checkpoint`] if
/// two parameters share a name.
///
/// ```
/// use tapegrad::io::{load_checkpoint, save_checkpoint};
/// use tapegrad::optim::{Adam, Optimizer};
/// use tapegrad::train::TrainState;
/// use tapegrad::{Param, tensor};
///
/// let w = Param::new("w", tensor![1.0f32, 2.0]);
/// let opt = Adam::new(1e-3);
/// let path = std::env::temp_dir().join(format!("doc-ckpt-{}.safetensors", std::process::id()));
/// let mut state = TrainState::new(42, 1e-3);
/// state.epoch = 3;
/// save_checkpoint(&path, &w, &opt, &state)?;
///
/// let mut w2 = Param::new("w", tensor![0.0f32, 0.0]);
/// let mut opt2 = Adam::new(1e-3);
/// let loaded = load_checkpoint(&path, &mut w2, &mut opt2)?;
/// assert_eq!((loaded, w2.value()), (state, w.value()));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn save_checkpoint<T: Float>(
    path: impl AsRef<Path>,
    model: &dyn Module<T>,
    optimizer: &dyn Optimizer<T>,
    state: &TrainState,
) -> Result<()> {
    let path = path.as_ref();
    let fail = |message: String| Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let mut entries: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let mut duplicate = None;
    model.visit("", &mut |name, p| {
        let key = format!("model.{name}");
        if entries
            .insert(key, (p.shape().to_vec(), encode(p.value())))
            .is_some()
        {
            duplicate.get_or_insert_with(|| name.to_owned());
        }
    });
    model.visit_buffers("", &mut |name, b| {
        let key = format!("model.{name}");
        if entries
            .insert(key, (b.shape().to_vec(), encode(b)))
            .is_some()
        {
            duplicate.get_or_insert_with(|| name.to_owned());
        }
    });
    if let Some(name) = duplicate {
        return Err(fail(format!(
            "two parameters or buffers are named `{name}`"
        )));
    }
    let opt = optimizer.state(model);
    let mut meta = HashMap::new();
    let mut put = |k: String, v: String| meta.insert(k, v);
    put("format".into(), "pt".into());
    put("tapegrad.checkpoint".into(), VERSION.into());
    put("dtype".into(), dtype_of::<T>().to_string());
    put("optim.optimizer".into(), opt.optimizer.clone());
    put("optim.steps".into(), opt.steps.to_string());
    put("optim.lr".into(), opt.lr.to_string());
    for (name, v) in &opt.hyperparameters {
        put(format!("optim.hp.{name}"), v.to_string());
    }
    for (param, ps) in &opt.params {
        put(format!("optim.step.{param}"), ps.step.to_string());
        for (tensor, t) in &ps.tensors {
            entries.insert(
                format!("optim.{param}.{tensor}"),
                (t.shape().to_vec(), encode(t)),
            );
        }
    }
    put("train.epoch".into(), state.epoch.to_string());
    put("train.batch".into(), state.batch.to_string());
    put("train.step".into(), state.step.to_string());
    put("train.seed".into(), state.seed.to_string());
    put("train.lr_scale".into(), state.lr_scale.to_string());
    put("train.base_lr".into(), state.base_lr.to_string());
    let observations: Vec<String> = state
        .observations
        .iter()
        .map(|(s, m)| format!("{s}:{m}"))
        .collect();
    put("train.observations".into(), observations.join(","));
    for (key, value) in state.epoch_sums.to_metadata() {
        put(key, value);
    }
    put("checksum".into(), checksum(&entries));

    let mut views = Vec::with_capacity(entries.len());
    for (name, (shape, bytes)) in &entries {
        let view = TensorView::new(dtype_of::<T>(), shape.clone(), bytes)
            .map_err(|e| fail(e.to_string()))?;
        views.push((name.as_str(), view));
    }
    let bytes = ::safetensors::serialize(views, Some(meta)).map_err(|e| fail(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Loads a checkpoint written by [`save_checkpoint`] into `model` and
/// `optimizer` and returns the [`TrainState`] to hand to
/// [`Trainer::resume`](crate::train::Trainer::resume).
///
/// Everything is checked before anything changes: on error the model and
/// the optimiser are exactly as they were.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Checkpoint`] naming
/// the file and the problem if it is truncated or damaged (bad header,
/// checksum mismatch), was written for another element type, lacks a
/// parameter of the model or has one the model lacks, has a tensor of the
/// wrong shape, or holds an optimiser state that does not fit `optimizer`
/// (another kind, other hyperparameters).
pub fn load_checkpoint<T: Float>(
    path: impl AsRef<Path>,
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
) -> Result<TrainState> {
    let path = path.as_ref();
    let fail = |message: String| Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| fail(format!("not a valid safetensors file: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| fail(format!("not a valid safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| fail(format!("metadata `{key}` is missing")))
    };
    let version = get("tapegrad.checkpoint")
        .map_err(|_| fail("not a tapegrad checkpoint (no `tapegrad.checkpoint` metadata; a plain weights file loads with load_safetensors)".into()))?;
    if version != VERSION {
        return Err(fail(format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    let dtype = dtype_of::<T>().to_string();
    if get("dtype")? != dtype {
        return Err(fail(format!(
            "saved as {}, the model is {dtype}",
            get("dtype")?
        )));
    }

    // Every tensor, decoded and checked against the checksum.
    let mut entries: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let mut tensors: BTreeMap<String, Tensor<T>> = BTreeMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != dtype_of::<T>() {
            return Err(fail(format!(
                "tensor `{name}` is {}, expected {dtype}",
                view.dtype()
            )));
        }
        let t = decode::<T>(view.shape(), view.data());
        entries.insert(name.clone(), (view.shape().to_vec(), view.data().to_vec()));
        tensors.insert(name, t);
    }
    if get("checksum")? != checksum(&entries) {
        return Err(fail("checksum mismatch: the tensor data is damaged".into()));
    }

    // The model's parameters.
    let mut staged = Vec::new();
    let mut problem = None;
    model.visit(
        "",
        &mut |name, p| match tensors.get(&format!("model.{name}")) {
            Some(t) if t.shape() == p.shape() => staged.push(t.clone()),
            Some(t) => {
                problem.get_or_insert(format!(
                    "parameter `{name}` has shape {:?} in the file but {:?} in the model",
                    t.shape(),
                    p.shape()
                ));
            }
            None => {
                problem.get_or_insert(format!("the file lacks the model's parameter `{name}`"));
            }
        },
    );
    let mut staged_buffers = Vec::new();
    model.visit_buffers(
        "",
        &mut |name, b| match tensors.get(&format!("model.{name}")) {
            Some(t) if t.shape() == b.shape() => staged_buffers.push(t.clone()),
            Some(t) => {
                problem.get_or_insert(format!(
                    "buffer `{name}` has shape {:?} in the file but {:?} in the model",
                    t.shape(),
                    b.shape()
                ));
            }
            None => {
                problem.get_or_insert(format!("the file lacks the model's buffer `{name}`"));
            }
        },
    );
    if let Some(p) = problem {
        return Err(fail(p));
    }
    let in_file = tensors.keys().filter(|k| k.starts_with("model.")).count();
    if in_file != staged.len() + staged_buffers.len() {
        let mut names = Vec::new();
        model.visit("", &mut |name, _| names.push(format!("model.{name}")));
        model.visit_buffers("", &mut |name, _| names.push(format!("model.{name}")));
        let extra: Vec<&String> = tensors
            .keys()
            .filter(|k| k.starts_with("model.") && !names.contains(k))
            .collect();
        return Err(fail(format!(
            "the file has parameters the model lacks: {extra:?}"
        )));
    }

    let opt_state = optimizer_state(&meta, &tensors).map_err(fail)?;
    let state = train_state(&meta).map_err(fail)?;

    // All read and checked; `load_state` checks its part before changing
    // anything, and the model is written last, when nothing can fail.
    optimizer
        .load_state(&*model, &opt_state)
        .map_err(|e| fail(e.to_string()))?;
    let mut values = staged.into_iter();
    model.visit_mut("", &mut |_, p| {
        *p.value_mut() = values.next().expect("staged one value per parameter");
    });
    let mut buffers = staged_buffers.into_iter();
    model.visit_buffers_mut("", &mut |_, b| {
        *b = buffers.next().expect("staged one value per buffer");
    });
    Ok(state)
}

/// The optimiser's part of a checkpoint, rebuilt from metadata and the
/// `optim.*` tensors.
fn optimizer_state<T: Float>(
    meta: &HashMap<String, String>,
    tensors: &BTreeMap<String, Tensor<T>>,
) -> std::result::Result<OptimizerState<T>, String> {
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| format!("metadata `{key}` is missing"))
    };
    let mut state = OptimizerState {
        optimizer: get("optim.optimizer")?.clone(),
        steps: number(get("optim.steps")?, "optim.steps")?,
        lr: number(get("optim.lr")?, "optim.lr")?,
        hyperparameters: BTreeMap::new(),
        params: BTreeMap::new(),
    };
    for (key, value) in meta {
        if let Some(name) = key.strip_prefix("optim.hp.") {
            state
                .hyperparameters
                .insert(name.to_owned(), number(value, key)?);
        } else if let Some(param) = key.strip_prefix("optim.step.") {
            let ps = ParamState {
                step: number(value, key)?,
                tensors: BTreeMap::new(),
            };
            state.params.insert(param.to_owned(), ps);
        }
    }
    for (key, t) in tensors {
        let Some(rest) = key.strip_prefix("optim.") else {
            if !key.starts_with("model.") {
                return Err(format!("unknown tensor `{key}`"));
            }
            continue;
        };
        // State tensor names (`exp_avg`) have no dots; parameter names may.
        let (param, tensor) = rest
            .rsplit_once('.')
            .ok_or_else(|| format!("optimizer tensor `{key}` names no parameter"))?;
        let ps = state
            .params
            .get_mut(param)
            .ok_or_else(|| format!("optimizer tensor `{key}` has no `optim.step.{param}`"))?;
        ps.tensors.insert(tensor.to_owned(), t.clone());
    }
    Ok(state)
}

/// The run's position, from the `train.*` metadata.
fn train_state(meta: &HashMap<String, String>) -> std::result::Result<TrainState, String> {
    let get = |key: &str| {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("metadata `{key}` is missing"))
    };
    let field = |key: &str| get(key).and_then(|v| number::<usize>(v, key));
    let mut observations = Vec::new();
    for pair in get("train.observations")?
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (s, m) = pair
            .split_once(':')
            .ok_or_else(|| format!("train.observations: `{pair}` is not step:metric"))?;
        observations.push((
            number(s, "train.observations")?,
            number(m, "train.observations")?,
        ));
    }
    Ok(TrainState {
        epoch: field("train.epoch")?,
        batch: field("train.batch")?,
        step: field("train.step")?,
        seed: number(get("train.seed")?, "train.seed")?,
        lr_scale: number(get("train.lr_scale")?, "train.lr_scale")?,
        base_lr: number(get("train.base_lr")?, "train.base_lr")?,
        observations,
        epoch_sums: crate::train::EpochSums::from_metadata(meta)?,
    })
}

/// Parses a metadata number, naming the key if it is not one.
fn number<N: std::str::FromStr>(s: &str, key: &str) -> std::result::Result<N, String> {
    s.parse()
        .map_err(|_| format!("metadata `{key}`: `{s}` is not a number"))
}

/// Little-endian bytes (already checked by the parser against the shape
/// and dtype) as a tensor of `T`.
fn decode<T: Float>(shape: &[usize], bytes: &[u8]) -> Tensor<T> {
    let data: Vec<T> = if dtype_of::<T>() == ::safetensors::Dtype::F32 {
        bytes
            .chunks_exact(4)
            .map(|b| T::from_f64(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
            .collect()
    };
    Tensor::from_vec(data, shape).expect("the parser checked the byte length")
}

/// FNV-1a (64-bit) over every tensor's name, shape and bytes, in name
/// order, as 16 hex digits.
fn checksum(entries: &BTreeMap<String, (Vec<usize>, Vec<u8>)>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, (shape, bytes)) in entries {
        feed(name.as_bytes());
        for d in shape {
            feed(&(*d as u64).to_le_bytes());
        }
        feed(bytes);
    }
    format!("{h:016x}")
}
