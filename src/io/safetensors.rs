//! Saving and loading a [`Module`]'s parameters as safetensors, on the
//! `safetensors` crate's parser and writer.

use super::{LoadOptions, LoadReport, WeightsProblem, weights_error, write_atomic};
use crate::error::{Error, Result};
use crate::nn::{Module, Param};
use crate::tensor::{Float, Tensor};
use ::safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The safetensors dtype of `T` (`F32` or `F64`: the only two floats).
pub(super) fn dtype_of<T: Float>() -> Dtype {
    if size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// Little-endian bytes of a tensor in its own dtype (exact).
pub(super) fn encode<T: Float>(t: &Tensor<T>) -> Vec<u8> {
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
/// the parameter it is meant for.
fn decode<T: Float>(
    view: &TensorView<'_>,
    param: &Param<T>,
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
    if view.shape() != param.shape() {
        return Err(WeightsProblem::Shape {
            expected: param.shape().to_vec(),
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
    Ok(Tensor::from_parts(param.shape().into(), data))
}

/// Saves every parameter of `model` (trainable or frozen) to `path` in the
/// safetensors format, keyed by its dotted name, as `F32` or `F64` per `T`,
/// with the header metadata `{"format": "pt"}` that Hugging Face tools
/// look for.
///
/// The write is atomic: the bytes go to `.NAME.PID.tmp` in the same
/// directory (`NAME` the file name, `PID` this process's id), which is
/// flushed and synced, then renamed over `path`. If anything fails, the
/// temporary file is removed and a file already at `path` is untouched.
///
/// # Errors
/// [`Error::Io`] if the temporary file cannot be created (also when one by
/// that name exists already), written or renamed; [`Error::Weights`] with
/// [`WeightsProblem::DuplicateName`] if two parameters share a dotted name.
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
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicate = None;
    model.visit("", &mut |name, p| {
        if !seen.insert(name.to_owned()) {
            duplicate.get_or_insert_with(|| name.to_owned());
        }
        entries.push((name.to_owned(), p.shape().to_vec(), encode(p.value())));
    });
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
    for (name, shape, bytes) in &entries {
        let view = TensorView::new(dtype_of::<T>(), shape.clone(), bytes).map_err(format_error)?;
        views.push((name.as_str(), view));
    }
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = ::safetensors::serialize(views, Some(metadata)).map_err(format_error)?;
    write_atomic(path, &bytes)
}

/// Loads `model`'s parameters from the safetensors file at `path`,
/// strictly: the file must hold exactly the model's dotted names, each with
/// the parameter's shape and the model's dtype. See
/// [`load_safetensors_with`] to allow missing or unexpected keys, or dtype
/// conversion.
///
/// Every check runs before any parameter is written: on error the model is
/// unchanged, bit for bit. Values replace the parameters' tensors; ids,
/// names and `trainable` flags stay.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Weights`] naming the
/// file and, where there is one, the key, with the [`WeightsProblem`]:
/// `Format` (truncated or damaged), `Missing`, `Unexpected`, `Shape` or
/// `Dtype`.
pub fn load_safetensors<T: Float, M: Module<T> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<LoadReport> {
    load_safetensors_with(model, path, LoadOptions::default())
}

/// [`load_safetensors`] with options: with `allow_missing` the parameters
/// the file lacks keep their values, with `allow_unexpected` tensors the
/// model lacks are skipped, and with `convert_dtype` `F32` and `F64` are
/// converted to the model's type. The [`LoadReport`] lists what was loaded,
/// missing and unused. Shapes must always match.
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
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| weights_error(path, None, WeightsProblem::Format(e.to_string())))?;

    // Stage every value first; the model is written only once all passed.
    let mut report = LoadReport::default();
    let mut staged: HashMap<String, Tensor<T>> = HashMap::new();
    let mut first_mismatch: Option<(String, WeightsProblem)> = None;
    let mut names = HashSet::new();
    model.visit("", &mut |name, p| {
        names.insert(name.to_owned());
        let Ok(view) = file.tensor(name) else {
            report.missing.push(name.to_owned());
            return;
        };
        match decode(&view, p, opts) {
            Ok(t) => {
                report.loaded.push(name.to_owned());
                staged.insert(name.to_owned(), t);
            }
            Err(problem) => {
                first_mismatch.get_or_insert_with(|| (name.to_owned(), problem));
            }
        }
    });
    report.unexpected = file
        .names()
        .into_iter()
        .filter(|k| !names.contains(*k))
        .map(str::to_owned)
        .collect();
    report.unexpected.sort();

    if !report.missing.is_empty() && !opts.allow_missing {
        let keys = report.missing;
        return Err(weights_error(
            path,
            Some(&keys[0]),
            WeightsProblem::Missing { keys: keys.clone() },
        ));
    }
    if !report.unexpected.is_empty() && !opts.allow_unexpected {
        let keys = report.unexpected;
        return Err(weights_error(
            path,
            Some(&keys[0]),
            WeightsProblem::Unexpected { keys: keys.clone() },
        ));
    }
    if let Some((key, problem)) = first_mismatch {
        return Err(weights_error(path, Some(&key), problem));
    }

    model.visit_mut("", &mut |name, p| {
        if let Some(t) = staged.get(name) {
            *p.value_mut() = t.clone();
        }
    });
    Ok(report)
}
