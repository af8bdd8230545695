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
/// `path` only names the source in errors. The header is read first, and
/// then at most the number of bytes it promises and one more (to tell that
/// the stream goes on), so a stream longer than its header says (a gzip
/// file that inflates to gigabytes, say) is refused after reading one byte
/// too many, not all of it; memory grows with the bytes actually read,
/// never with what a header claims. A bad magic number, an unknown type
/// byte, a shape whose size overflows, a stream shorter or longer than its
/// header promises, or a read failure gives [`Error::Idx`] or
/// [`Error::Io`].
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
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    // Up to `n` more bytes of the stream, appended to `buf`.
    let mut read = |n: usize, buf: &mut Vec<u8>| {
        (&mut reader)
            .take(n as u64)
            .read_to_end(buf)
            .map(|_| ())
            .map_err(io)
    };
    let mut head = Vec::with_capacity(4);
    read(4, &mut head)?;
    if head.len() < 4 {
        return Err(bad(format!(
            "{} bytes is too short for an IDX header",
            head.len()
        )));
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: it starts with {:#04x} {:#04x}, not two zero bytes",
            head[0], head[1]
        )));
    }
    let (kind, rank) = (head[2], head[3] as usize);
    let width = match kind {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => return Err(bad(format!("unknown IDX value type {other:#04x}"))),
    };
    let mut dim_bytes = Vec::with_capacity(4 * rank);
    read(4 * rank, &mut dim_bytes)?;
    if dim_bytes.len() < 4 * rank {
        return Err(bad(format!(
            "the header promises {rank} dimensions but the file ends after {} bytes",
            4 + dim_bytes.len()
        )));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    // The byte count, and (so that no product of some of the dimensions
    // overflows later, in strides or loops) that of the non-zero ones.
    let product = |nonzero_only: bool| {
        dims.iter()
            .filter(|&&d| !nonzero_only || d > 0)
            .try_fold(width, |acc: usize, &d| acc.checked_mul(d))
    };
    let expected = match (product(false), product(true)) {
        (Some(bytes), Some(_)) => bytes,
        _ => return Err(bad(format!("shape {dims:?} is too large"))),
    };
    // One byte past the promise, to tell a longer stream from an exact one.
    let mut body = Vec::new();
    read(expected.saturating_add(1), &mut body)?;
    if body.len() != expected {
        let found = if body.len() > expected {
            "the stream goes on past them".to_owned()
        } else {
            format!("found {}", body.len())
        };
        return Err(bad(format!(
            "shape {dims:?} of {width}-byte values needs {expected} bytes of data, {found}"
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
