//! Weights on disk: [`save_safetensors`] and [`load_safetensors`].
//!
//! Files are in the [safetensors] format (an 8-byte little-endian header
//! length, a JSON header giving each tensor's dtype, shape and byte range,
//! then the raw little-endian data), keyed by the parameters' and
//! [buffers'](crate::Module#buffers) dotted names
//! (`blocks.0.attn.qkv.weight`, `bn.running_mean`), so weights move to and
//! from PyTorch (`safetensors.torch.save_file(model.state_dict(), path)`)
//! unchanged wherever the two models name their parameters alike.
//!
//! Two promises:
//! - **Loading checks everything before it changes anything.** An
//!   unreadable, truncated or damaged file, a missing or unexpected key, a
//!   wrong shape or dtype each return an [`Error`](crate::Error::Weights) naming the
//!   file, the key and what was expected, and the model is left exactly as
//!   it was.
//! - **A file's size is checked before it is read.** Its header (at most
//!   100 MB, as the safetensors crate allows) is read and parsed first, and
//!   the rest only if the file is exactly as long as the header says, so a
//!   forged header or a huge unrelated file costs no more memory than the
//!   file itself, and the whole file is never read to be refused.
//! - **Saving is atomic.** The file is written to a temporary file in the
//!   same directory, flushed to disk, then renamed over the target, so a
//!   crash or an error mid-save never destroys the previous file. Temporary
//!   files left by killed saves never block a later save, and are removed
//!   by it (see [`save_safetensors`]).
//!
//! The format has no checksum: a flipped bit in the tensor data (rather
//! than the header) loads as a different number, as it would in PyTorch.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

pub(crate) mod file;
pub(crate) mod header;
pub(crate) mod safetensors;

pub use self::safetensors::{load_safetensors, load_safetensors_with, save_safetensors};

pub(crate) use self::file::write_atomic;
use crate::error::Error;
use std::fmt;
use std::path::Path;

// The options and the report are the model's own (`nn`'s state map);
// re-exported here, where files are loaded.
pub use crate::nn::{LoadOptions, LoadReport};

/// What is wrong with a weights file, in an [`Error::Weights`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightsProblem {
    /// The file is not valid safetensors (truncated, or a damaged header):
    /// the parser's message.
    Format(String),
    /// The model has parameters or buffers the file lacks (all of them
    /// listed; the error's key is the first).
    Missing {
        /// Every missing key, in the model's visiting order.
        keys: Vec<String>,
    },
    /// The file has tensors the model has no parameter or buffer for.
    Unexpected {
        /// Every unexpected key, sorted.
        keys: Vec<String>,
    },
    /// A tensor's shape differs from its parameter's or buffer's.
    Shape {
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor's element type differs from the model's (`F32`, `F64`,
    /// `BF16`, ... as safetensors names them).
    Dtype {
        /// The model's element type.
        expected: String,
        /// The file's element type.
        found: String,
    },
    /// Saving: two parameters or buffers of the model share one dotted name.
    DuplicateName,
}

use crate::nn::state::list;

impl fmt::Display for WeightsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsProblem::Format(m) => write!(f, "not a valid safetensors file: {m}"),
            WeightsProblem::Missing { keys } => write!(
                f,
                "the file lacks {} tensor{} of the model: {} \
                 (LoadOptions::allow_missing leaves them as they are)",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" },
                list(keys)
            ),
            WeightsProblem::Unexpected { keys } => write!(
                f,
                "the file has {} tensor{} the model lacks: {} \
                 (LoadOptions::allow_unexpected ignores them)",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" },
                list(keys)
            ),
            WeightsProblem::Shape { expected, found } => write!(
                f,
                "wrong shape: the model expects {expected:?}, the file has {found:?}"
            ),
            WeightsProblem::Dtype { expected, found } => write!(
                f,
                "wrong dtype: the model expects {expected}, the file has {found}"
            ),
            WeightsProblem::DuplicateName => {
                write!(f, "two tensors of the model have this name")
            }
        }
    }
}

/// An [`Error::Weights`] for `path`.
fn weights_error(path: &Path, key: Option<&str>, problem: WeightsProblem) -> Error {
    Error::Weights {
        path: path.to_path_buf(),
        key: key.map(str::to_owned),
        problem,
    }
}
