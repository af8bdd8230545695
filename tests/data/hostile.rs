//! Hostile data (issue 18): IDX streams longer than their header (the gzip
//! bomb) read no further than one byte past it, shapes that overflow, CSV
//! files that are not UTF-8, and targets that are not class indices.

use std::io::Read;
use tapegrad::data::{Batch, CsvOptions, read_csv, read_idx};
use tapegrad::{Error, Tensor};

/// An IDX header: type byte, then the dimensions.
fn idx_header(kind: u8, dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b
}

/// A reader that counts the bytes it hands out.
struct Counted<R> {
    inner: R,
    delivered: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.delivered.set(self.delivered.get() + n as u64);
        Ok(n)
    }
}

fn counted<R: Read>(inner: R) -> (Counted<R>, std::rc::Rc<std::cell::Cell<u64>>) {
    let delivered = std::rc::Rc::new(std::cell::Cell::new(0));
    (
        Counted {
            inner,
            delivered: delivered.clone(),
        },
        delivered,
    )
}

fn idx_problem(result: tapegrad::Result<Tensor<f32>>) -> String {
    match result {
        Err(Error::Idx { problem, .. }) => problem,
        other => panic!("expected Error::Idx, got {other:?}"),
    }
}

#[test]
fn an_endless_idx_stream_is_refused_one_byte_past_its_header() {
    // Before, the reader read the whole stream, then compared: an endless
    // one never ended.
    let header = idx_header(0x08, &[2, 5]);
    let (reader, delivered) = counted(header.as_slice().chain(std::io::repeat(7)));
    let p = idx_problem(read_idx(reader, "endless.idx"));
    assert_eq!(
        p,
        "shape [2, 5] of 1-byte values needs 10 bytes of data, the stream goes on past them"
    );
    assert_eq!(delivered.get(), header.len() as u64 + 10 + 1);
}

#[test]
fn a_gzip_bomb_is_refused_without_inflating_it() {
    // A header promising 16 bytes, then 64 MiB of zeros, compressed: the
    // file is a thousandth of that (the 3.1 MB file asked for
    // 4 GiB). Only 16 bytes and one more are inflated.
    use flate2::{Compression, read::GzDecoder, write::GzEncoder};
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(&idx_header(0x08, &[16])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    let gz = enc.finish().unwrap();
    assert!(gz.len() < (64 << 20) / 500, "{} bytes", gz.len());
    let (reader, delivered) = counted(GzDecoder::new(gz.as_slice()));
    let p = idx_problem(read_idx(reader, "bomb.idx.gz"));
    assert!(
        p.ends_with("needs 16 bytes of data, the stream goes on past them"),
        "{p}"
    );
    assert_eq!(delivered.get(), 8 + 16 + 1);
}

#[test]
fn a_header_promising_gigabytes_reads_what_is_there_and_stops() {
    let mut b = idx_header(0x0E, &[u32::MAX, 4]);
    b.extend([0u8; 24]);
    let p = idx_problem(read_idx(&b[..], "huge.idx"));
    assert_eq!(
        p,
        "shape [4294967295, 4] of 8-byte values needs 137438953440 bytes of data, found 24"
    );
}

#[test]
fn a_shape_whose_dimensions_overflow_together_is_refused_even_with_a_zero() {
    // The byte count is 0, but strides over the non-zero dimensions would
    // overflow: refused rather than returned as a tensor no loop can walk.
    let b = idx_header(0x08, &[0, u32::MAX, u32::MAX, u32::MAX]);
    assert_eq!(
        idx_problem(read_idx(&b[..], "zero.idx")),
        "shape [0, 4294967295, 4294967295, 4294967295] is too large"
    );
    // A zero with dimensions that fit is an empty tensor.
    let b = idx_header(0x08, &[0, 3]);
    let t = read_idx::<f32>(&b[..], "empty.idx").unwrap();
    assert_eq!(t.shape(), [0, 3]);
}

#[test]
fn a_csv_file_that_is_not_utf8_names_its_line() {
    let dir = std::env::temp_dir().join(format!("tapegrad-hostile-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.csv");
    std::fs::write(&path, b"a,b\n1,2\n3,\xe94\n").unwrap();
    match read_csv::<f32>(&path, &CsvOptions::default()) {
        Err(Error::Csv { line, message, .. }) => {
            assert_eq!(
                (line, message.as_str()),
                (3, "not UTF-8 text (byte 10 of the file)")
            )
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn batch(targets: Tensor<f64>) -> Batch<f64> {
    let n = targets.shape()[0];
    Batch {
        inputs: Tensor::zeros(&[n, 1]),
        targets,
    }
}

#[test]
fn targets_that_are_not_class_indices_are_refused_with_row_and_value() {
    // Before, 1e20 became 18446744073709551615 (`as usize` saturates) and
    // cross-entropy reported that number as the label.
    let two64 = 18_446_744_073_709_551_616.0;
    for (value, shown) in [
        (1e20, "1e20"),
        (two64, "1.8446744073709552e19"),
        (-1.0, "-1.0"),
        (0.5, "0.5"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (-0.0 - f64::MIN_POSITIVE, "-2.2250738585072014e-308"),
    ] {
        let b = batch(Tensor::from_vec(vec![0.0, 2.0, value], &[3]).unwrap());
        match b.try_labels() {
            Err(Error::Label { row, value: v }) => {
                assert_eq!(row, 2);
                assert!(v.to_bits() == value.to_bits(), "{v} vs {value}");
            }
            other => panic!("{value}: {other:?}"),
        }
        let expected = format!(
            "labels: row 2 of the batch has target {shown}, which is not a class index \
             (a whole number from 0 to {})",
            usize::MAX
        );
        let panic = std::panic::catch_unwind(|| b.labels()).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>(), Some(&expected));
    }
    // Whole numbers up to just below 2^64 are labels (the ones cross-entropy
    // then reports as out of range with their true value).
    let big = 2f64.powi(63) + 2048.0;
    let b = batch(Tensor::from_vec(vec![0.0, -0.0, 7.0, big], &[4]).unwrap());
    assert_eq!(b.try_labels().unwrap(), [0, 0, 7, (1usize << 63) + 2048]);
    // Targets of shape [B, 2]: the row, not the element.
    let b = batch(Tensor::from_vec(vec![0.0, 1.0, 2.0, 0.25], &[2, 2]).unwrap());
    assert!(matches!(b.try_labels(), Err(Error::Label { row: 1, .. })));
}
