//! Checkpoints: a model, its optimiser's state and where the run was
//! ([`TrainState`]), in one safetensors file.
//!
//! ## Format (version 2)
//! One safetensors file (readable by any safetensors tool):
//! - tensor `model.NAME` for each parameter and each buffer (batch-norm
//!   running statistics and batch count, the count as a scalar of the
//!   model's dtype) `NAME` of the model, under the names of PyTorch's
//!   state dict (see [`io`](crate::io)). Checkpoints written before the
//!   names followed PyTorch's everywhere (attention's `qkv.weight` and
//!   `qkv.bias`, now `in_proj_weight` and `in_proj_bias`; no batch count)
//!   still load their model part, but the optimiser's state tensors of the
//!   renamed parameters (`optim.attn.qkv.weight.exp_avg`) do not, so such a
//!   checkpoint of a model with attention fails to load;
//! - tensor `optim.NAME.TENSOR` for each state tensor of the optimiser
//!   (`optim.fc.weight.exp_avg`), of its parameter's shape;
//! - header metadata (strings): `checksum` (below), `format` (`pt`),
//!   `tapegrad.checkpoint` (the format version, `2`), `dtype`, the
//!   optimiser's name (`optim.optimizer`), step count (`optim.steps`), rate
//!   (`optim.lr`), hyperparameters (`optim.hp.NAME`), the scalars some
//!   optimisers keep for the whole model (`optim.scalar.NAME`, such as
//!   Prodigy's `d`; none for most) and per-parameter step counts
//!   (`optim.step.NAME`), the run's `train.epoch`, `train.batch`,
//!   `train.step`, `train.seed`, `train.lr_scale`, `train.base_lr` and
//!   `train.observations` (`step:metric,...`). Numbers are written in
//!   Rust's shortest exact decimal form, so they read back bit for bit.
//!
//! The header is written by hand, canonically (see `format.rs`): the
//! checksum first, the other metadata sorted by key, the tensors sorted by
//! name, so two saves of one state are byte-identical. The `checksum` is
//! FNV-1a (64-bit, as 16 lowercase hex digits) over **every byte of the
//! file but its own digits**, which are always bytes 37 to 52: the header
//! length, the whole header (every metadata key and value, whatever keys a
//! later version adds, and every tensor's name, dtype, shape and offsets)
//! and all the tensor data.
//!
//! Loading checks, in order: the file's length against its header (before
//! reading the rest); the format version (a version-1 file, whose checksum
//! covered the tensors only, is refused with
//! [`Error::CheckpointVersion`]); the checksum; then every field, parsed in
//! exactly the form the writer gives it: counts as unsigned integers, the
//! rates (`optim.lr`, `train.lr_scale`, `train.base_lr`) finite and `>= 0`
//! (and `train.lr_scale * train.base_lr` finite), hyperparameters and
//! scalars finite,
//! `train.batch <= train.step`, observations in step order and not past
//! `train.step`, no metadata key the loader does not read. A save checks
//! its own metadata by the same rules, so what it writes loads.
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

mod fields;
mod format;

use self::fields::{Fields, exact_number};
use super::TrainState;
use crate::error::list;
use crate::error::{Error, Result};
use crate::io::file::{ReadError, read_safetensors};
use crate::io::safetensors::{dtype_of, encode};
use crate::io::write_atomic;
use crate::nn::state::{Refusal, stage};
use crate::nn::{LoadOptions, Module};
use crate::optim::{Optimizer, OptimizerState, ParamState};
use crate::tensor::{Float, Tensor};
use ::safetensors::tensor::TensorInfo;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The format version written and read.
const VERSION: &str = "2";

/// Saves `model`'s parameters and buffers, `optimizer`'s state and `state` to `path`
/// as one safetensors file (see the [module docs](self) for the layout),
/// atomically: a temporary file in the same directory, flushed, synced and
/// renamed over `path`, so a crash mid-write leaves the previous
/// checkpoint whole.
///
/// Two saves of one state give the same bytes.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written; [`Error::Checkpoint`] if
/// two parameters share a name, or if the state is one that
/// [`load_checkpoint`] would refuse (a rate that is not a finite number
/// `>= 0`, observations out of step order, ...), so that every checkpoint
/// written can be loaded.
///
/// ```
/// use tapegrad::train::{load_checkpoint, save_checkpoint};
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
    let mut entries: BTreeMap<String, format::Entry> = BTreeMap::new();
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
    // Sorted, so that the file's bytes depend on the state only.
    let mut meta = BTreeMap::new();
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
    for (name, v) in &opt.scalars {
        put(format!("optim.scalar.{name}"), v.to_string());
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

    // Refuse to write what the loader would refuse to read.
    let written: HashMap<String, String> = meta.clone().into_iter().collect();
    let mut fields = Fields::new(&written);
    for key in ["format", "tapegrad.checkpoint", "dtype"] {
        fields.take(key).expect("just written");
    }
    optimizer_meta::<T>(&mut fields)
        .and_then(|_| train_state(&mut fields))
        .and_then(|_| fields.finish())
        .map_err(|m| fail(format!("cannot save this state: {m}")))?;

    let bytes = format::write(&meta, &entries, &dtype_of::<T>().to_string()).map_err(fail)?;
    write_atomic(path, &bytes)
}

/// Loads a checkpoint written by [`save_checkpoint`] into `model` and
/// `optimizer` and returns the [`TrainState`] to hand to
/// [`Trainer::resume`](crate::train::Trainer::resume).
///
/// Everything is checked before anything changes: on error the model and
/// the optimiser are exactly as they were.
///
/// The file's length is checked against its header before the rest is
/// read, and its checksum (over every byte of it) before any field is
/// trusted; then every field is parsed and checked (see the [module
/// docs](self)).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::CheckpointVersion`]
/// if it was written in another format version (such as version 1, whose
/// metadata the checksum did not cover); [`Error::Checkpoint`] naming the
/// file and the problem if it is truncated or damaged (bad header,
/// checksum mismatch, a field that does not parse or is out of range, an
/// unknown field), was written for another element type, lacks a
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
    let loaded = read_safetensors(path).map_err(|e| match e {
        ReadError::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        ReadError::Format(m) => fail(format!("not a valid safetensors file: {m}")),
    })?;
    let meta = loaded.header.metadata().clone().unwrap_or_default();
    let mut fields = Fields::new(&meta);
    let version = fields.take("tapegrad.checkpoint").map_err(|_| {
        fail("not a tapegrad checkpoint (no `tapegrad.checkpoint` metadata; a plain weights file loads with load_safetensors)".into())
    })?;
    if version != VERSION {
        return Err(Error::CheckpointVersion {
            path: path.to_path_buf(),
            found: version.to_owned(),
            supported: VERSION.to_owned(),
        });
    }
    check_checksum(&loaded.bytes, &mut fields).map_err(fail)?;
    let dtype = dtype_of::<T>().to_string();
    let format = fields.take("format").map_err(fail)?;
    if format != "pt" {
        return Err(fail(format!("metadata `format` is `{format}`, not `pt`")));
    }
    let saved = fields.take("dtype").map_err(fail)?;
    if saved != dtype {
        return Err(fail(format!("saved as {saved}, the model is {dtype}")));
    }
    let mut opt_state = optimizer_meta::<T>(&mut fields).map_err(fail)?;
    let state = train_state(&mut fields).map_err(fail)?;
    fields.finish().map_err(fail)?;

    // Every tensor checked against the model (names, dtypes, shapes) before
    // any is decoded.
    let mut in_model: HashMap<&str, &TensorInfo> = HashMap::new();
    let mut in_optim: Vec<(&str, &str, &TensorInfo)> = Vec::new();
    let names = loaded.header.offset_keys();
    for key in &names {
        let info = loaded.header.info(key).expect("a name the header listed");
        if info.dtype != dtype_of::<T>() {
            return Err(fail(format!(
                "tensor `{key}` is {}, expected {dtype}",
                info.dtype
            )));
        }
        if let Some(name) = key.strip_prefix("model.") {
            in_model.insert(name, info);
        } else if let Some(rest) = key.strip_prefix("optim.") {
            // State tensor names (`exp_avg`) have no dots; parameter names may.
            let (param, tensor) = rest
                .rsplit_once('.')
                .ok_or_else(|| fail(format!("optimizer tensor `{key}` names no parameter")))?;
            if !opt_state.params.contains_key(param) {
                return Err(fail(format!(
                    "optimizer tensor `{key}` has no `optim.step.{param}`"
                )));
            }
            in_optim.push((param, tensor, info));
        } else {
            return Err(fail(format!("unknown tensor `{key}`")));
        }
    }
    // The model's part goes through its state map's staging (nothing is
    // written until every check, the optimiser's included, has passed).
    let data = &loaded.bytes[8 + loaded.header_len..];
    let value = |info: &TensorInfo| {
        let (start, end) = info.data_offsets;
        decode::<T>(&info.shape, &data[start..end])
    };
    let mut staged = stage(&*model, in_model.keys().copied(), |name, shape| {
        let info = in_model.get(name)?;
        Some(if info.shape == shape {
            Ok(value(info))
        } else {
            Err(format!(
                "`model.{name}` has shape {:?} in the file but {shape:?} in the model",
                info.shape
            ))
        })
    });
    staged
        .check(LoadOptions::default())
        .map_err(|refusal| match refusal {
            Refusal::Missing(keys) => fail(format!(
                "the file lacks {} of the model's tensors: {}",
                keys.len(),
                list(&keys)
            )),
            Refusal::Unexpected(keys) => fail(format!(
                "the file has tensors the model lacks: {}",
                list(
                    &keys
                        .iter()
                        .map(|k| format!("model.{k}"))
                        .collect::<Vec<_>>()
                )
            )),
            Refusal::Mismatch(_, message) => fail(message),
        })?;
    // Shapes of the parameters under the names the optimiser keys them by
    // (a lone `Param` passed as the model goes by its own name).
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    model.visit("", &mut |name, p| {
        let key = if name.is_empty() { p.name() } else { name };
        shapes.insert(key.to_owned(), p.shape().to_vec());
    });
    for &(param, tensor, info) in &in_optim {
        match shapes.get(param) {
            Some(shape) if *shape == info.shape => {}
            Some(shape) => {
                return Err(fail(format!(
                    "optimizer tensor `optim.{param}.{tensor}` has shape {:?}, its parameter {shape:?}",
                    info.shape
                )));
            }
            None => {
                return Err(fail(format!(
                    "optimizer tensor `optim.{param}.{tensor}` is for `{param}`, which the model lacks"
                )));
            }
        }
    }
    for &(param, tensor, info) in &in_optim {
        let ps = opt_state.params.get_mut(param).expect("checked above");
        ps.tensors.insert(tensor.to_owned(), value(info));
    }
    // Free the file before the optimiser copies its part.
    drop(in_model);
    drop(names);
    drop(loaded);

    // `load_state` checks its part before changing anything, and the model
    // is written last, when nothing can fail.
    optimizer
        .load_state(&*model, &opt_state)
        .map_err(|e| fail(e.to_string()))?;
    staged.commit(model);
    Ok(state)
}

/// The stored checksum, which must be the metadata's first entry, and
/// match the one computed over the file.
fn check_checksum(bytes: &[u8], fields: &mut Fields<'_>) -> std::result::Result<(), String> {
    let stored = fields.take("checksum")?;
    if format::stored_checksum(bytes) != Some(stored) {
        return Err(
            "the checksum is not the header's first entry, where this format keeps it: \
             the header is damaged"
                .into(),
        );
    }
    let computed = format!("{:016x}", format::checksum(bytes));
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored}, computed {computed}): the file is damaged"
        ));
    }
    Ok(())
}

/// The optimiser's part of a checkpoint from its `optim.*` metadata (the
/// state tensors are added later).
fn optimizer_meta<T: Float>(
    fields: &mut Fields<'_>,
) -> std::result::Result<OptimizerState<T>, String> {
    let optimizer = fields.take("optim.optimizer")?;
    if optimizer.is_empty() {
        return Err("metadata `optim.optimizer` is empty".into());
    }
    let mut state = OptimizerState {
        optimizer: optimizer.to_owned(),
        steps: fields.count("optim.steps")?,
        lr: fields.rate("optim.lr")?,
        hyperparameters: BTreeMap::new(),
        scalars: BTreeMap::new(),
        params: BTreeMap::new(),
    };
    for (name, value) in fields.take_prefixed("optim.hp.") {
        let key = format!("optim.hp.{name}");
        let v: f64 = exact_number(value, &key)?;
        if !v.is_finite() {
            return Err(format!("metadata `{key}` is {v}, not a finite number"));
        }
        state.hyperparameters.insert(name.to_owned(), v);
    }
    for (name, value) in fields.take_prefixed("optim.scalar.") {
        let key = format!("optim.scalar.{name}");
        let v: f64 = exact_number(value, &key)?;
        if !v.is_finite() {
            return Err(format!("metadata `{key}` is {v}, not a finite number"));
        }
        state.scalars.insert(name.to_owned(), v);
    }
    for (param, value) in fields.take_prefixed("optim.step.") {
        let ps = ParamState {
            step: exact_number(value, &format!("optim.step.{param}"))?,
            tensors: BTreeMap::new(),
        };
        state.params.insert(param.to_owned(), ps);
    }
    Ok(state)
}

/// The run's position, from the `train.*` metadata.
fn train_state(fields: &mut Fields<'_>) -> std::result::Result<TrainState, String> {
    let state = TrainState {
        epoch: fields.count("train.epoch")?,
        batch: fields.count("train.batch")?,
        step: fields.count("train.step")?,
        seed: fields.count("train.seed")?,
        lr_scale: fields.rate("train.lr_scale")?,
        base_lr: fields.rate("train.base_lr")?,
        observations: observations(fields.take("train.observations")?)?,
        epoch_sums: {
            let sums: HashMap<String, String> = fields
                .take_prefixed("train.sums.")
                .into_iter()
                .map(|(k, v)| (format!("train.sums.{k}"), v.to_owned()))
                .collect();
            super::EpochSums::from_metadata(&sums)?
        },
    };
    if !(state.lr_scale * state.base_lr).is_finite() {
        return Err(format!(
            "train.lr_scale {} times train.base_lr {} is not finite",
            state.lr_scale, state.base_lr
        ));
    }
    if state.batch > state.step {
        return Err(format!(
            "train.batch {} is past train.step {}: a run takes one step per batch",
            state.batch, state.step
        ));
    }
    let mut last = 0;
    for &(at, _) in &state.observations {
        if at < last || at > state.step {
            return Err(format!(
                "train.observations: step {at} is out of order (after step {last}, up to train.step {})",
                state.step
            ));
        }
        last = at;
    }
    Ok(state)
}

/// `step:metric,...` as pairs (a metric may be any number, NaN included:
/// the trainer observes NaN when an epoch has no loss).
fn observations(list: &str) -> std::result::Result<Vec<(usize, f64)>, String> {
    let key = "train.observations";
    let mut out = Vec::new();
    if list.is_empty() {
        return Ok(out);
    }
    for pair in list.split(',') {
        let (s, m) = pair
            .split_once(':')
            .ok_or_else(|| format!("{key}: `{pair}` is not step:metric"))?;
        out.push((exact_number(s, key)?, exact_number(m, key)?));
    }
    Ok(out)
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
