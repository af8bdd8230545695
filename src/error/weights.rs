//! [`WeightsProblem`]: what is wrong with a weights file, the detail of an
//! [`Error::Weights`](super::Error::Weights). It lives here, beside
//! [`Error`](super::Error), so that the error type depends on no module
//! that returns it; `io` re-exports it.

#[cfg(doc)]
use super::Error;
use super::list;

/// What is wrong with a weights file, in an [`Error::Weights`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsProblem {
    /// The file is not valid safetensors (truncated, or a damaged header):
    /// the parser's message.
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    /// The model has parameters or buffers the file lacks (all of them
    /// listed; the error's key is the first).
    #[error(
        "the file lacks {} tensor{} of the model: {} \
         (LoadOptions::allow_missing leaves them as they are)",
        .keys.len(),
        plural(.keys.len()),
        list(.keys)
    )]
    Missing {
        /// Every missing key, in the model's visiting order.
        keys: Vec<String>,
    },
    /// The file has tensors the model has no parameter or buffer for.
    #[error(
        "the file has {} tensor{} the model lacks: {} \
         (LoadOptions::allow_unexpected ignores them)",
        .keys.len(),
        plural(.keys.len()),
        list(.keys)
    )]
    Unexpected {
        /// Every unexpected key, sorted.
        keys: Vec<String>,
    },
    /// A tensor's shape differs from its parameter's or buffer's.
    #[error("wrong shape: the model expects {expected:?}, the file has {found:?}")]
    Shape {
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor's element type differs from the model's (`F32`, `F64`,
    /// `BF16`, ... as safetensors names them).
    #[error("wrong dtype: the model expects {expected}, the file has {found}")]
    Dtype {
        /// The model's element type.
        expected: String,
        /// The file's element type.
        found: String,
    },
    /// Saving: two parameters or buffers of the model share one dotted name.
    #[error("two tensors of the model have this name")]
    DuplicateName,
}

/// `""` for one, `"s"` for more.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
