//! Regression tests for what the fuzz targets found that only the counting
//! allocator can see (the behavioural ones are in `tests/io/hostile.rs`
//! and `tests/data/hostile.rs`): each is the smallest input of its kind,
//! measured as the targets measure.

use crate::alloc::measure;
use crate::models::{sequential, small, train};
use tapegrad::io::{load_safetensors, save_safetensors};
use tapegrad::optim::Adam;
use tapegrad::train::{load_checkpoint, save_checkpoint};

/// `file` with the shape of its tensor `name` written as its number of
/// elements and `rank - 1` dimensions of 1: still a valid file, its header
/// about `2 * rank` bytes longer.
fn long_shape(file: &[u8], name: &str, rank: usize) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&file[8..8 + n]).unwrap();
    let at = header.find(&format!("\"{name}\"")).unwrap();
    let shape = at + header[at..].find("\"shape\":[").unwrap() + "\"shape\":[".len();
    let end = shape + header[shape..].find(']').unwrap();
    let numel: usize = header[shape..end]
        .split(',')
        .map(|d| d.parse::<usize>().unwrap())
        .product();
    let mut h = header[..shape].to_owned();
    h.push_str(&numel.to_string());
    h.push_str(&",1".repeat(rank - 1));
    h.push_str(&header[end..]);
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&file[8 + n..]);
    out
}

fn dir(test: &str) -> crate::TempDir {
    crate::TempDir::new(&format!("regress-{test}"))
}

#[test]
fn a_weights_header_with_a_long_shape_costs_at_most_8_bytes_per_byte() {
    // Found by the `safetensors` target: the safetensors crate parses a
    // header through `#[serde(flatten)]`, which first buffers every JSON
    // value as serde's `Content` (32 bytes per number), so a shape of
    // 200,000 ones (400 KB of header) asked for one 8 MiB block, 20 times
    // the file, and a 100 MB header would ask for 2 GiB. Now a shape is
    // read straight into its `Vec<usize>`: 8 bytes per number of at least
    // 2 bytes of JSON, at most twice over as the vector grows.
    let d = dir("weights");
    let path = d.0.join("w.safetensors");
    save_safetensors(&small(1), &path).unwrap();
    let file = long_shape(&std::fs::read(&path).unwrap(), "fc2.bias", 200_000);
    std::fs::write(&path, &file).unwrap();
    let mut m = small(2);
    let (result, usage) = measure(|| load_safetensors(&mut m, &path));
    assert!(result.is_err(), "the shape differs from the model's");
    assert!(
        usage.largest <= 8 * file.len() && usage.peak <= 16 * file.len(),
        "{usage:?} for a file of {} bytes",
        file.len()
    );
}

#[test]
fn a_checkpoint_header_with_a_long_shape_costs_at_most_8_bytes_per_byte() {
    // The same through `load_checkpoint`, which parses with the same
    // reader, before its checksum is checked.
    let d = dir("checkpoint");
    let path = d.0.join("c.safetensors");
    let mut m = sequential(2, 1);
    let mut opt = Adam::new(0.01);
    let (state, _) = train(&mut m, &mut opt, 3, 4);
    save_checkpoint(&path, &m, &opt, &state).unwrap();
    let file = long_shape(&std::fs::read(&path).unwrap(), "model.0.bias", 200_000);
    std::fs::write(&path, &file).unwrap();
    let (result, usage) = measure(|| load_checkpoint(&path, &mut m, &mut opt));
    assert!(result.is_err(), "the checksum no longer matches");
    assert!(
        usage.largest <= 8 * file.len() && usage.peak <= 16 * file.len(),
        "{usage:?} for a file of {} bytes",
        file.len()
    );
}
