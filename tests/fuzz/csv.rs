//! Target `csv`: `read_csv` at `f32` and `f64`, with random options
//! (header or not, each kind of label column, three delimiters).
//!
//! Seeds: two numeric tables written here (the crate has no numeric CSV
//! writer), one of 6 rows and one of 400 (about 12 KiB), and a training
//! history from `History::write_csv` (text in its first column, so
//! refused until a mutation makes it numeric). Mutations: raw ones, or
//! structured ones on the text: a field replaced by a hostile number or a
//! 100,000-digit one, a row (the header too) with up to 100,000 extra
//! one-character fields, a row copied
//! thousands of times, CRLF and lone CR line ends, blank lines, a BOM, a
//! byte that is not UTF-8, the last newline removed.
//!
//! Checks: no destination exists (the loader returns a new dataset), so on
//! `Ok` the dataset must be what the documented format gives, computed
//! here independently: the shapes and every value bit for bit.

use crate::alloc::{Usage, measure};
use crate::harness::{Cap, Caps, Case, Verdict, guarded, run};
use crate::models::{sequential, train};
use crate::mutate::{NUMBERS, havoc};
use std::path::Path;
use tapegrad::Float;
use tapegrad::data::{CsvOptions, LabelColumn, read_csv};
use tapegrad::optim::Adam;

/// The two numeric seeds.
fn tables() -> Vec<String> {
    let mut out = Vec::new();
    for (rows, cols) in [(6usize, 3usize), (400, 5)] {
        let mut s: String = (0..cols).map(|c| format!("x{c},")).collect();
        s.push_str("label\n");
        for r in 0..rows {
            for c in 0..cols {
                let v = (r * 7 + c * 3) as f64 / 8.0 - 5.0;
                s.push_str(&if c == 1 {
                    format!("{:e},", v)
                } else {
                    format!("{v},")
                });
            }
            s.push_str(&format!("{}\n", r % 3));
        }
        out.push(s);
    }
    out
}

/// One structured mutation of the text.
fn hostile(case: &mut Case, text: &mut Vec<u8>) {
    let lines: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        let mut start = 0;
        for (i, &b) in text.iter().enumerate() {
            if b == b'\n' {
                v.push((start, i + 1));
                start = i + 1;
            }
        }
        v
    };
    let line = lines
        .get(case.rng.below(lines.len().max(1)))
        .copied()
        .unwrap_or((0, 0));
    let commas: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b',')
        .map(|(i, _)| i)
        .collect();
    match case.rng.below(10) {
        0 | 1 if !commas.is_empty() => {
            let at = *case.rng.pick(&commas) + 1;
            let v = if case.rng.one_in(6) {
                "9".repeat(100_000)
            } else {
                case.rng.pick(NUMBERS).to_string()
            };
            let end = at
                + text[at..]
                    .iter()
                    .position(|b| b"\n,".contains(b))
                    .unwrap_or(text.len() - at);
            case.note(format!("field at {at} set to {:?}", &v[..v.len().min(30)]));
            text.splice(at..end, v.bytes());
        }
        2 => {
            let n = *case.rng.pick(&[1usize, 1000, 100_000]);
            case.note(format!("{n} extra fields on the line at {}", line.0));
            text.splice(line.0..line.0, ",1".repeat(n).bytes().skip(1).chain(*b","));
        }
        3 => {
            let times = *case.rng.pick(&[2usize, 100, 3000]);
            let copy = text[line.0..line.1].repeat(times);
            case.note(format!("the line at {} copied {times} times", line.0));
            text.splice(line.1..line.1, copy);
        }
        4 => {
            case.note("CRLF line ends");
            *text = String::from_utf8_lossy(text)
                .replace('\n', "\r\n")
                .into_bytes();
        }
        5 => {
            let at = case.rng.below(text.len() + 1);
            let inserts: [&[u8]; 7] = [
                b"\r",
                b"\n\n",
                b"\n \t\n",
                b"\r\r\n",
                b"\xef\xbb\xbf",
                b"\xff",
                b"\xc3",
            ];
            let s = *case.rng.pick(&inserts);
            case.note(format!("insert {s:?} at {at}"));
            text.splice(at..at, s.iter().copied());
        }
        6 => {
            case.note("BOM at the start");
            text.splice(0..0, *b"\xef\xbb\xbf");
        }
        7 => {
            case.note("last newline removed");
            if text.last() == Some(&b'\n') {
                text.pop();
            }
        }
        8 => {
            let keep = line.1;
            case.note(format!("cut after the line ending at {keep}"));
            text.truncate(keep);
        }
        _ => {
            case.note("a line of delimiters only");
            text.splice(line.0..line.0, *b",,,,\n");
        }
    }
}

/// A dataset as the format gives it: inputs and targets, and their shapes.
type Expected = (Vec<f64>, Vec<f64>, Vec<usize>, Vec<usize>);

/// What the documented format gives for `text`: inputs and targets (as
/// `f64`) and their shapes, or `None` if it is not such a file.
fn reference(text: &str, o: &CsvOptions) -> Option<Expected> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let mut lines = lines.into_iter().map(|l| l.trim_end_matches('\r'));
    let header = if o.header { Some(lines.next()?) } else { None };
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(o.delimiter).collect())
        .collect();
    let width = header.map_or_else(
        || rows.first().map_or(0, Vec::len),
        |h| h.split(o.delimiter).count(),
    );
    if rows.is_empty() || rows.iter().any(|r| r.len() != width) {
        return None;
    }
    let label = match &o.label {
        LabelColumn::Last => Some(width - 1),
        LabelColumn::None => None,
        LabelColumn::Index(i) => Some((*i < width).then_some(*i)?),
        LabelColumn::Name(n) => Some(header?.split(o.delimiter).position(|h| h.trim() == n)?),
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for r in &rows {
        for (c, f) in r.iter().enumerate() {
            let v: f64 = f.trim().parse().ok()?;
            if Some(c) == label {
                y.push(v)
            } else {
                x.push(v)
            }
        }
    }
    let n = rows.len();
    let y_shape = if label.is_some() { vec![n] } else { vec![n, 0] };
    Some((x, y, vec![n, width - usize::from(label.is_some())], y_shape))
}

/// One load at `T`: whether accepted, and what it allocated.
fn load<T: Float>(bytes: &[u8], path: &Path, o: &CsvOptions) -> Result<(bool, Usage), String> {
    let (result, usage) = measure(|| guarded(|| read_csv::<T>(path, o)));
    let result = result.map_err(|p| format!("read_csv {p}"))?;
    let want = std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| reference(t, o));
    match (result, want) {
        (Err(_), None) => Ok((false, usage)),
        (Err(e), Some(_)) => Err(format!("refused a valid file: {e}")),
        (Ok(_), None) => Err("accepted a file the format does not allow".into()),
        (Ok(ds), Some((x, y, x_shape, y_shape))) => {
            let bits = |v: &[f64]| -> Vec<u64> {
                v.iter()
                    .map(|&v| T::from_f64(v).to_f64().to_bits())
                    .collect()
            };
            let got = |t: &tapegrad::Tensor<T>| -> Vec<u64> {
                t.as_slice().iter().map(|v| v.to_f64().to_bits()).collect()
            };
            if ds.inputs().shape() != x_shape || got(ds.inputs()) != bits(&x) {
                return Err(format!(
                    "inputs {:?} are not the file's {x_shape:?}",
                    ds.inputs().shape()
                ));
            }
            if ds.targets().shape() != y_shape || got(ds.targets()) != bits(&y) {
                return Err(format!(
                    "targets {:?} are not the file's",
                    ds.targets().shape()
                ));
            }
            Ok((true, usage))
        }
    }
}

pub fn fuzz(dir: &Path) {
    let mut scratch = crate::Scratch::new(dir.join("fuzzed.csv"));
    let mut seeds: Vec<Vec<u8>> = tables().into_iter().map(String::into_bytes).collect();
    let (mut m, mut opt) = (sequential(2, 1), Adam::new(0.01));
    let (_, history) = train(&mut m, &mut opt, 3, 4);
    let h = dir.join("history.csv");
    history.write_csv(&h).unwrap();
    seeds.push(std::fs::read(&h).unwrap());
    let others: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();

    // The file once, then the numbers: at most one per two bytes of text
    // (a digit and a separator), 8 bytes each at f64, in vectors that
    // double as they grow.
    let caps = Caps {
        largest: Cap {
            per_byte: 8,
            constant: 16 << 10,
        },
        peak: Cap {
            per_byte: 12,
            constant: 64 << 10,
        },
    };
    run("csv", caps, |case| {
        let s = case.rng.below(seeds.len());
        let mut bytes = seeds[s].clone();
        let delimiter = *case.rng.pick(&[',', ',', ',', ';', '\t']);
        if delimiter != ',' {
            for b in &mut bytes {
                if *b == b',' {
                    *b = delimiter as u8;
                }
            }
        }
        if case.rng.one_in(2) {
            hostile(case, &mut bytes);
        }
        if case.rng.one_in(2) {
            havoc(case, &mut bytes, &others, 4 * seeds[s].len() + 4096);
        }
        let label = match case.rng.below(6) {
            0 => LabelColumn::Index(*case.rng.pick(&[0usize, 2, 5, usize::MAX])),
            1 => LabelColumn::Name(
                case.rng
                    .pick(&["label", "x1", "loss", "nope", ""])
                    .to_string(),
            ),
            2 => LabelColumn::None,
            _ => LabelColumn::Last,
        };
        let o = CsvOptions {
            header: !case.rng.one_in(5),
            label,
            delimiter,
        };
        case.note(format!("seed {s}, {o:?}, {} bytes", bytes.len()));
        let path = scratch.put(&bytes)?;
        let (accepted, usage) = if case.rng.one_in(2) {
            load::<f32>(&bytes, path, &o)?
        } else {
            load::<f64>(&bytes, path, &o)?
        };
        Ok(Verdict {
            accepted,
            bytes: bytes.len(),
            usage,
        })
    });
}
