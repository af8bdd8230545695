//! The IDX format of MNIST: a small header, then one n-d array.
//!
//! Layout (all integers big-endian): two zero bytes; a type byte (`0x08`
//! u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64); the
//! number of dimensions; one `u32` per dimension; then the values in
//! row-major order. MNIST's image files are `u8` arrays `[n, 28, 28]`, its
//! label files `u8` arrays `[n]`.
//!
//! The reader takes any [`Read`], so a gzip-compressed file is read by
//! wrapping it in a decoder (the `mnist` example uses `flate2`), and this
//! crate needs no compression library.

use crate::error::{Error, Result};
use crate::tensor::{Float, Tensor};
use std::io::Read;
use std::path::Path;

/// Reads one IDX array from `reader` into a tensor of the stored shape,
/// each value converted to `T` (no scaling: a `u8` pixel stays 0..255).
///
/// `path` only names the source in errors. The whole stream is read and
/// checked before anything is returned: a bad magic number, an unknown type
/// byte, a stream shorter or longer than its header promises, or a read
/// failure gives [`Error::Idx`] or [`Error::Io`].
///
/// ```
/// use tapegrad::data::read_idx;
///
/// // A 2 x 3 array of u8: magic 0, 0, type 0x08, 2 dimensions, then 2 and 3.
/// let mut bytes = vec![0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3];
/// bytes.extend([1u8, 2, 3, 4, 5, 255]);
/// let t = read_idx::<f32>(&bytes[..], "inline")?;
/// assert_eq!(t.shape(), [2, 3]);
/// assert_eq!(t.as_slice(), [1.0, 2.0, 3.0, 4.0, 5.0, 255.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn read_idx<T: Float>(mut reader: impl Read, path: impl AsRef<Path>) -> Result<Tensor<T>> {
    let path = path.as_ref();
    let bad = |problem: String| Error::Idx {
        path: path.to_owned(),
        problem,
    };
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() < 4 {
        return Err(bad(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: it starts with {:#04x} {:#04x}, not two zero bytes",
            bytes[0], bytes[1]
        )));
    }
    let (kind, rank) = (bytes[2], bytes[3] as usize);
    let width = match kind {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => return Err(bad(format!("unknown IDX value type {other:#04x}"))),
    };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "the header promises {rank} dimensions but the file ends after {} bytes",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(width, |acc: usize, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {dims:?} is too large")))?;
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(bad(format!(
            "shape {dims:?} of {width}-byte values needs {expected} bytes of data, found {}",
            body.len()
        )));
    }
    let values: Vec<T> = match kind {
        0x08 => body.iter().map(|&b| T::from_f64(b as f64)).collect(),
        0x09 => body.iter().map(|&b| T::from_f64(b as i8 as f64)).collect(),
        0x0B => body
            .chunks_exact(2)
            .map(|b| T::from_f64(i16::from_be_bytes([b[0], b[1]]) as f64))
            .collect(),
        0x0C => body
            .chunks_exact(4)
            .map(|b| T::from_f64(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64))
            .collect(),
        0x0D => body
            .chunks_exact(4)
            .map(|b| T::from_f64(f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64))
            .collect(),
        _ => body
            .chunks_exact(8)
            .map(|b| T::from_f64(f64::from_be_bytes(b.try_into().expect("8 bytes"))))
            .collect(),
    };
    Tensor::from_vec(values, &dims)
}
