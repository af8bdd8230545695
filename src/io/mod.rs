//! Weights on disk: [`save_safetensors`] and [`load_safetensors`].
//!
//! Files are in the [safetensors] format (an 8-byte little-endian header
//! length, a JSON header giving each tensor's dtype, shape and byte range,
//! then the raw little-endian data), keyed by the parameters' and
//! [buffers'](crate::Module#buffers) dotted names
//! (`blocks.0.attn.in_proj_weight`, `bn.running_mean`), so weights move to
//! and from PyTorch (`safetensors.torch.save_file(model.state_dict(), path)`)
//! unchanged wherever the two models name their parameters alike. Every
//! layer of [`nn`](crate::nn) uses the names, layouts and dtypes of the
//! equivalent PyTorch module's `state_dict`: `Linear`, `Conv2d`,
//! `Embedding`, `LayerNorm`, `BatchNorm1d`/`2d` (`running_mean`,
//! `running_var`, and `num_batches_tracked` stored as `I64`),
//! `MultiHeadAttention` (`in_proj_weight` with rows q, k, v, `in_proj_bias`,
//! `out_proj.weight`, `out_proj.bias`), `Gru` and `Lstm` (`weight_ih_lK`,
//! `weight_hh_lK`, `bias_ih_lK`, `bias_hh_lK`, gate blocks r, z, n and i, f,
//! g, o). tests/nn/pytorch.rs loads a state dict PyTorch saved and checks
//! the outputs against PyTorch's.
//!
//! Files from earlier versions of tapegrad, which wrote attention's
//! projection as `qkv.weight`/`qkv.bias` and no batch counters, still load,
//! strictly: see [`legacy_name`](crate::nn::legacy_name) and
//! [`LoadReport::counters_kept`].
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
pub use crate::error::WeightsProblem;
use std::path::Path;

// The options and the report are the model's own (`nn`'s state map);
// re-exported here, where files are loaded.
pub use crate::nn::{LoadOptions, LoadReport};

/// An [`Error::Weights`] for `path`.
fn weights_error(path: &Path, key: Option<&str>, problem: WeightsProblem) -> Error {
    Error::Weights {
        path: path.to_path_buf(),
        key: key.map(str::to_owned),
        problem,
    }
}
