//! Saving and loading a [`Module`]'s parameters and buffers as
//! safetensors, on the `safetensors` crate's parser and writer.

use super::file::{ReadError, read_safetensors};
use super::{LoadOptions, LoadReport, WeightsProblem, weights_error, write_atomic};
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::nn::is_counter;
use crate::nn::state::{Refusal, stage};
use crate::tensor::{Float, Tensor};
use ::safetensors::tensor::{Dtype, TensorView};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The safetensors dtype of `T` (`F32` or `F64`: the only two floats).
pub(crate) fn dtype_of<T: Float>() -> Dtype {
    if size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// A counter that is not a count is a damaged file.
impl From<crate::nn::state::BadCount> for WeightsProblem {
    fn from(bad: crate::nn::state::BadCount) -> Self {
        WeightsProblem::Format(bad.to_string())
    }
}

/// Little-endian bytes of a tensor in its own dtype (exact).
pub(crate) fn encode<T: Float>(t: &Tensor<T>) -> Vec<u8> {
    let xs = t.as_slice();
    if dtype_of::<T>() == Dtype::F32 {
        // f32 -> f64 -> f32 is exact, so this writes the f32 as it is.
        xs.iter()
            .flat_map(|x| (x.to_f64() as f32).to_le_bytes())
            .collect()
    } else {
        xs.iter().flat_map(|x| x.to_f64().to_le_bytes()).collect()
    }
}

/// A tensor of the file as `T`, after checking its shape and dtype against
/// the parameter or buffer it is meant for (whose shape is `shape`).
fn decode<T: Float>(
    view: &TensorView<'_>,
    shape: &[usize],
    opts: LoadOptions,
) -> Result<Tensor<T>, WeightsProblem> {
    let (want, found) = (dtype_of::<T>(), view.dtype());
    let convertible = opts.convert_dtype && matches!(found, Dtype::F32 | Dtype::F64);
    if found != want && !convertible {
        return Err(WeightsProblem::Dtype {
            expected: want.to_string(),
            found: found.to_string(),
        });
    }
    if view.shape() != shape {
        return Err(WeightsProblem::Shape {
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    // The parser has checked that the byte length matches shape and dtype.
    let bytes = view.data();
    let data: Vec<T> = match found {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| T::from_f64(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64))
            .collect(),
        _ => bytes
            .chunks_exact(8)
            .map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
            .collect(),
    };
    Ok(Tensor::from_parts(shape.into(), data))
}

/// A [counter](is_counter) of the file as `T`: PyTorch's `I64` scalar
/// (negative counts are refused), or a scalar of the model's float dtype
/// (of either float dtype with `convert_dtype`).
fn decode_counter<T: Float>(
    view: &TensorView<'_>,
    shape: &[usize],
    opts: LoadOptions,
) -> Result<Tensor<T>, WeightsProblem> {
    if view.dtype() != Dtype::I64 {
        return decode(view, shape, opts).map_err(|problem| match problem {
            WeightsProblem::Dtype { found, .. } => WeightsProblem::Dtype {
                expected: Dtype::I64.to_string(),
                found,
            },
            other => other,
        });
    }
    if view.shape() != shape {
        return Err(WeightsProblem::Shape {
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let n = i64::from_le_bytes(view.data().try_into().expect("a scalar I64 is 8 bytes"));
    if n < 0 {
        return Err(WeightsProblem::Format(format!(
            "the batch count is negative: {n}"
        )));
    }
    Ok(Tensor::from_parts(
        shape.into(),
        vec![T::from_f64(n as f64)],
    ))
}

/// A counter's bytes as PyTorch writes them: one little-endian `i64`.
fn encode_counter<T: Float>(t: &Tensor<T>) -> Vec<u8> {
    let v = t.as_slice().first().map_or(0.0, |v| v.to_f64()).round();
    (v.max(0.0) as i64).to_le_bytes().to_vec()
}

/// Saves every parameter of `model` (trainable or frozen) and every
/// [buffer](Module#buffers) (such as a batch-norm layer's `running_mean`
/// and `running_var`) to `path` in the safetensors format, keyed by its
/// dotted name, as `F32` or `F64` per `T`, with the header metadata
/// `{"format": "pt"}` that Hugging Face tools look for.
///
/// A [counter](crate::nn::is_counter) buffer, such as batch norm's
/// `num_batches_tracked`, is written as an `I64` scalar whatever `T` is,
/// as PyTorch writes it, so that the file loads strictly into the same
/// PyTorch model (`model.load_state_dict(safetensors.torch.load_file(path))`).
/// Earlier versions of tapegrad did not write counters.
///
/// The write is atomic: the bytes go to `.NAME.PID-SALT-SEQ.tmp` in the
/// same directory (`NAME` the file name, `PID` this process's id, `SALT` a
/// random number drawn once per process, `SEQ` counting this process's
/// saves), which is locked, flushed and synced, then renamed over `path`.
/// If anything fails, the temporary file is removed and a file already at
/// `path` is untouched. Temporary files of `path` that are unlocked and
/// have not been written for two seconds (left by killed saves, in this
/// scheme or the earlier `.NAME.PID.tmp`) are removed first; a temporary
/// file by any name never blocks a save.
///
/// # Errors
/// [`Error::Io`] if the temporary file cannot be created, written or
/// renamed; [`Error::Weights`] with
/// [`WeightsProblem::DuplicateName`] if two parameters or buffers share a
/// dotted name.
///
/// ```
/// use tapegrad::io::{load_safetensors, save_safetensors};
/// use tapegrad::nn::Linear;
/// use tapegrad::{Module, Param, Tensor, tensor};
/// use rand::SeedableRng;
///
/// #[derive(Module)]
/// struct Net { fc: Linear }
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let net = Net { fc: Linear::new(3, 2, &mut rng) };
/// let dir = std::env::temp_dir().join(format!("tapegrad-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("net.safetensors");
/// save_safetensors(&net, &path)?;
///
/// let mut copy = Net { fc: Linear::new(3, 2, &mut rng) };
/// let report = load_safetensors(&mut copy, &path)?;
/// assert_eq!(report.loaded, ["fc.weight", "fc.bias"]);
/// assert_eq!(copy.fc.weight.value(), net.fc.weight.value());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_safetensors<T: Float, M: Module<T> + ?Sized>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicate = None;
    let mut add = |name: &str, value: &Tensor<T>, buffer: bool| {
        if !seen.insert(name.to_owned()) {
            duplicate.get_or_insert_with(|| name.to_owned());
        }
        let (dtype, bytes) = if buffer && is_counter(name) && value.shape().is_empty() {
            (Dtype::I64, encode_counter(value))
        } else {
            (dtype_of::<T>(), encode(value))
        };
        entries.push((name.to_owned(), dtype, value.shape().to_vec(), bytes));
    };
    model.visit("", &mut |name, p| add(name, p.value(), false));
    model.visit_buffers("", &mut |name, b| add(name, b, true));
    if let Some(name) = duplicate {
        return Err(weights_error(
            path,
            Some(&name),
            WeightsProblem::DuplicateName,
        ));
    }
    let format_error = |e: ::safetensors::SafeTensorError| {
        weights_error(path, None, WeightsProblem::Format(e.to_string()))
    };
    let mut views = Vec::with_capacity(entries.len());
    for (name, dtype, shape, bytes) in &entries {
        let view = TensorView::new(*dtype, shape.clone(), bytes).map_err(format_error)?;
        views.push((name.as_str(), view));
    }
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = ::safetensors::serialize(views, Some(metadata)).map_err(format_error)?;
    write_atomic(path, &bytes)
}

/// Loads `model`'s parameters and [buffers](Module#buffers) from the
/// safetensors file at `path`, strictly: the file must hold exactly the
/// model's dotted names, each with the parameter's or buffer's shape and
/// the model's dtype. See [`load_safetensors_with`] to allow missing or
/// unexpected keys, or dtype conversion.
///
/// Batch norm's counter `PREFIX.num_batches_tracked` (a
/// [counter](crate::nn::is_counter) buffer) is read from PyTorch's `I64`
/// scalar, or from a scalar of the model's float dtype; a file that lacks
/// it (one saved by an earlier version of tapegrad) still loads strictly,
/// the count kept and listed in [`LoadReport::counters_kept`]. So a PyTorch
/// state dict of a model with batch norm loads strictly.
///
/// Multi-head attention's `PREFIX.in_proj_weight` and `PREFIX.in_proj_bias`
/// are read from `PREFIX.qkv.weight` and `PREFIX.qkv.bias` if the file has
/// those instead (the names earlier versions of tapegrad wrote; see
/// [`legacy_name`](crate::nn::legacy_name) and [`LoadReport::renamed`]).
///
/// Every check runs before anything is written: on error the model
/// (parameters and buffers) is unchanged, bit for bit. Values replace the
/// parameters' and buffers' tensors; ids, names and `trainable` flags stay.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Weights`] naming the
/// file and, where there is one, the key, with the [`WeightsProblem`]:
/// `Format` (truncated or damaged, or a header naming a tensor twice),
/// `Missing`, `Unexpected`, `Shape` or
/// `Dtype` (for a counter, one neither `I64` nor the model's float).
pub fn load_safetensors<T: Float, M: Module<T> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<LoadReport> {
    load_safetensors_with(model, path, LoadOptions::default())
}

/// [`load_safetensors`] with options: with `allow_missing` the parameters
/// the file lacks keep their values, with `allow_unexpected` tensors the
/// model lacks are skipped, and with `convert_dtype` `F32` and `F64` are
/// converted to the model's type. The options treat buffers as parameters.
/// The [`LoadReport`] lists what was loaded, missing, unused and ignored.
/// Shapes must always match.
///
/// Problems are reported in this order: missing keys, unexpected keys,
/// then the first shape or dtype mismatch in visiting order.
///
/// # Errors
/// As [`load_safetensors`], less what the options allow.
pub fn load_safetensors_with<T: Float, M: Module<T> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
    opts: LoadOptions,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let loaded = read_safetensors(path).map_err(|e| match e {
        ReadError::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        ReadError::Format(m) => weights_error(path, None, WeightsProblem::Format(m)),
    })?;
    // The header is parsed once, by `read_safetensors` (which checked it
    // against the data): views of the tensors are cut from the bytes here.
    let data = &loaded.bytes[8 + loaded.header_len..];
    let tensor = |name: &str| {
        let info = loaded.header.info(name)?;
        let (start, end) = info.data_offsets;
        TensorView::new(info.dtype, info.shape.clone(), &data[start..end]).ok()
    };
    let names = loaded.header.offset_keys();

    // Stage every value (the model's shared staging: nothing is written
    // until every check has passed).
    let mut staged = stage(model, names.iter().map(String::as_str), |name, shape| {
        let view = tensor(name)?;
        Some(if is_counter(name) && shape.is_empty() {
            decode_counter(&view, shape, opts)
        } else {
            decode(&view, shape, opts)
        })
    });
    staged.check(opts).map_err(|refusal| match refusal {
        Refusal::Missing(keys) => weights_error(
            path,
            Some(&keys[0]),
            WeightsProblem::Missing { keys: keys.clone() },
        ),
        Refusal::Unexpected(keys) => weights_error(
            path,
            Some(&keys[0]),
            WeightsProblem::Unexpected { keys: keys.clone() },
        ),
        Refusal::Mismatch(key, problem) => weights_error(path, Some(&key), problem),
    })?;
    // The file's bytes are no longer needed: free them before the values
    // move into the model.
    drop(names);
    drop(loaded);
    Ok(staged.commit(model))
}
