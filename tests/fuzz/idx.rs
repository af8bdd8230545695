//! Targets `idx` and `idx_gzip`: `read_idx` at `f32` and `f64`, from an
//! in-memory stream, plain or through `flate2`'s `GzDecoder` (as the
//! `mnist` example reads MNIST).
//!
//! Seeds: arrays of every IDX type written here from the format's
//! description (the crate has no IDX writer), from rank 0 to 3, with a zero
//! dimension, and a 20 x 28 x 28 `u8` array (15 KiB, MNIST's layout).
//! Mutations: raw ones, or structured ones on the header (magic, type
//! byte, rank, each dimension set to boundary values) with the body kept,
//! cut, or grown to match the new header. For gzip: such content
//! compressed (a valid stream with hostile content), the compressed bytes
//! mutated (bad CRCs, cut streams), and bombs, 1,000 times smaller than
//! what they inflate to, under headers that promise little or much.
//!
//! Checks: the reader consumes no more than the header and the bytes it
//! promises and one more (the bound `read_idx` documents); the caps, by
//! the bytes consumed (decompressed, for gzip); on `Ok` the tensor has the
//! header's shape and the stream's values bit for bit. No destination
//! exists: the loader returns a new tensor.

use crate::alloc::{Usage, measure};
use crate::harness::{Cap, Caps, Case, Verdict, guarded, run};
use crate::mutate::havoc;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::borrow::Cow;
use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use tapegrad::Float;
use tapegrad::data::read_idx;

/// Bytes per value of each type byte.
fn width(kind: u8) -> Option<u64> {
    match kind {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// An IDX file: header, then `body`.
fn encode(kind: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(body);
    b
}

/// The seeds: every type, ranks 0 to 3, and MNIST's layout.
fn seeds() -> Vec<Vec<u8>> {
    let arrays: &[(u8, &[u32])] = &[
        (0x08, &[3, 4, 5]),
        (0x08, &[10]),
        (0x09, &[2, 3]),
        (0x0B, &[5]),
        (0x0C, &[2, 2]),
        (0x0D, &[3, 2]),
        (0x0E, &[2]),
        (0x0D, &[]),
        (0x08, &[0, 5]),
        (0x08, &[20, 28, 28]),
    ];
    arrays
        .iter()
        .map(|&(kind, dims)| {
            let n: u64 = dims.iter().map(|&d| d as u64).product::<u64>() * width(kind).unwrap();
            let body: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            encode(kind, dims, &body)
        })
        .collect()
}

/// The header's length and the body's promised length (saturating) if
/// the header is complete and valid; else how far `read_idx` reads before
/// it can tell (the first 4 bytes, or those and the dimensions).
fn promise(content: &[u8]) -> Result<(u64, u128), u64> {
    let Some((&[0, 0, kind, rank], rest)) = content.split_first_chunk::<4>() else {
        return Err(4);
    };
    let (Some(w), head) = (width(kind), 4 + 4 * rank as u64) else {
        return Err(4);
    };
    let dims = rest.get(..4 * rank as usize).ok_or(head)?;
    let body = dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()) as u128)
        .fold(w as u128, |acc, d| acc.saturating_mul(d));
    Ok((head, body))
}

/// The most bytes `read_idx` may take from `content`: the header, then the
/// bytes it promises and one more.
fn allowed(content: &[u8]) -> u64 {
    let most = match promise(content) {
        Ok((head, body)) => (head as u128 + body + 1).min(u64::MAX as u128) as u64,
        Err(n) => n,
    };
    most.min(content.len() as u64)
}

/// The tensor the format gives for `content` (shape, values as `f64`).
fn reference(content: &[u8]) -> Option<(Vec<usize>, Vec<f64>)> {
    let Some((&[0, 0, kind, rank], rest)) = content.split_first_chunk::<4>() else {
        return None;
    };
    let w = width(kind)? as usize;
    let (dims, body) = rest.split_at_checked(4 * rank as usize)?;
    let dims: Vec<usize> = dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()) as usize)
        .collect();
    // The size must not overflow, nor (the documented rule, so that no
    // stride does) the product of the non-zero dimensions.
    let n = dims.iter().try_fold(w, |a, &d| a.checked_mul(d))?;
    dims.iter()
        .filter(|&&d| d > 0)
        .try_fold(w, |a, &d| a.checked_mul(d))?;
    if body.len() != n {
        return None;
    }
    let values = body
        .chunks_exact(w)
        .map(|b| match kind {
            0x08 => b[0] as f64,
            0x09 => b[0] as i8 as f64,
            0x0B => i16::from_be_bytes([b[0], b[1]]) as f64,
            0x0C => i32::from_be_bytes(b.try_into().unwrap()) as f64,
            0x0D => f32::from_be_bytes(b.try_into().unwrap()) as f64,
            _ => f64::from_be_bytes(b.try_into().unwrap()),
        })
        .collect();
    Some((dims, values))
}

/// A reader that counts what it hands out.
struct Counted<R>(R, Rc<Cell<u64>>);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.set(self.1.get() + n as u64);
        Ok(n)
    }
}

/// One structured mutation of the header, the body kept, cut or grown to
/// fit the new header (if that is at most 64 KiB).
fn hostile(case: &mut Case, content: &mut Vec<u8>) {
    match case.rng.below(5) {
        0 => {
            let (at, v) = (case.rng.below(2), *case.rng.pick(&[1u8, 0x80, 0xff]));
            case.note(format!("magic byte {at} = {v:#x}"));
            content[at] = v;
        }
        1 => {
            let v = *case
                .rng
                .pick(&[0x08u8, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x00, 0xff]);
            case.note(format!("type byte = {v:#x}"));
            content[2] = v;
        }
        2 => {
            let v = *case.rng.pick(&[0u8, 1, 2, 3, 4, 5, 64, 255]);
            case.note(format!("rank = {v}"));
            content[3] = v;
        }
        _ => {
            let rank = content[3] as usize;
            if rank == 0 {
                return;
            }
            let i = case.rng.below(rank);
            let v = *case
                .rng
                .pick(&[0u32, 1, 2, 27, 29, 1000, 65_536, 1 << 31, u32::MAX]);
            case.note(format!("dimension {i} = {v}"));
            if let Some(d) = content.get_mut(4 + 4 * i..8 + 4 * i) {
                d.copy_from_slice(&v.to_be_bytes());
            }
        }
    }
    if let Ok((head, body)) = promise(content)
        && body <= 1 << 16
        && case.rng.one_in(2)
    {
        let n = head as usize + body as usize;
        case.note(format!("resized to fit the header: {n} bytes"));
        content.resize(n, 0x55);
    }
}

/// One load of the stream `stream` makes (given the counter of the
/// content's bytes it hands out), whose content is `content`; `clean` if
/// the stream ends where the content does (not with a decoding error).
/// Checks the read bound and, on `Ok`, the values.
fn load<T: Float, R: Read>(
    content: &[u8],
    clean: bool,
    stream: impl FnOnce(Rc<Cell<u64>>) -> R,
) -> Result<(bool, Usage, u64), String> {
    let delivered = Rc::new(Cell::new(0));
    let (result, usage) =
        measure(|| guarded(|| read_idx::<T>(stream(delivered.clone()), "fuzzed.idx")));
    let result = result.map_err(|p| format!("read_idx {p}"))?;
    let (read, bound) = (delivered.get(), allowed(content));
    if read > bound {
        return Err(format!(
            "read {read} bytes of the content, the header allows {bound}"
        ));
    }
    let accepted = match (result, reference(content)) {
        (Err(_), None) => false,
        (Err(_), Some(_)) if !clean => false,
        (Err(e), Some(_)) => return Err(format!("refused a valid stream: {e}")),
        (Ok(t), want) => {
            let Some((dims, values)) = want else {
                return Err("accepted a stream the format does not allow".into());
            };
            let got: Vec<u64> = t.as_slice().iter().map(|v| v.to_f64().to_bits()).collect();
            let want: Vec<u64> = values
                .iter()
                .map(|&v| T::from_f64(v).to_f64().to_bits())
                .collect();
            if t.shape() != dims || got != want {
                return Err(format!(
                    "got shape {:?}, the stream has {dims:?} (or other values)",
                    t.shape()
                ));
            }
            true
        }
    };
    Ok((accepted, usage, read))
}

/// Content for one case: a seed, mutated raw or in its header.
fn content(case: &mut Case, seeds: &[Vec<u8>], others: &[&[u8]]) -> Vec<u8> {
    let s = case.rng.below(seeds.len());
    let mut c = seeds[s].clone();
    case.note(format!("seed {s}"));
    if case.rng.one_in(2) {
        hostile(case, &mut c);
    }
    if case.rng.one_in(2) || c == seeds[s] {
        havoc(case, &mut c, others, 4 * seeds[s].len() + 4096);
    }
    c
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(content).unwrap();
    e.finish().unwrap()
}

// The bytes read (at most twice over, as the vector grows), then the
// values, 8 bytes each at f64 for 1-byte ones.
const PLAIN: Caps = Caps {
    largest: Cap {
        per_byte: 8,
        constant: 16 << 10,
    },
    peak: Cap {
        per_byte: 12,
        constant: 64 << 10,
    },
};

pub fn fuzz_plain() {
    let seeds = seeds();
    let others: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    run("idx", PLAIN, |case| {
        let c = content(case, &seeds, &others);
        let stream = |n| Counted(&c[..], n);
        let (accepted, usage, _) = if case.rng.one_in(2) {
            load::<f32, _>(&c, true, stream)?
        } else {
            load::<f64, _>(&c, true, stream)?
        };
        Ok(Verdict {
            accepted,
            bytes: c.len(),
            usage,
        })
    });
}

pub fn fuzz_gzip() {
    let seeds = seeds();
    let others: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let zipped: Vec<Vec<u8>> = seeds.iter().map(|s| gzip(s)).collect();
    // Bombs: 8 MiB of zeros (2 MiB for the last, read to its end) behind
    // headers promising 10 bytes, 1 MiB, 32 GiB and more than a usize.
    let bombs: Vec<(Vec<u8>, Vec<u8>)> = [
        (0x08, &[10u32][..], 8usize << 20),
        (0x08, &[1024, 1024], 8 << 20),
        (0x0E, &[65_536, 65_536], 2 << 20),
        (0x0E, &[u32::MAX; 4], 8 << 20),
    ]
    .into_iter()
    .map(|(kind, dims, n)| {
        let c = encode(kind, dims, &vec![0; n]);
        (gzip(&c), c)
    })
    .collect();
    // As the plain stream, plus flate2's own state and buffers (about
    // 40 KiB of inflate state, a 32 KiB read buffer).
    let caps = Caps {
        largest: Cap {
            per_byte: 8,
            constant: 128 << 10,
        },
        peak: Cap {
            per_byte: 12,
            constant: 256 << 10,
        },
    };
    run("idx_gzip", caps, |case| {
        let (gz, c, clean) = match case.rng.below(50) {
            0 => {
                let b = case.rng.below(bombs.len());
                case.note(format!("bomb {b}"));
                (
                    Cow::Borrowed(&bombs[b].0[..]),
                    Cow::Borrowed(&bombs[b].1[..]),
                    true,
                )
            }
            1..=20 => {
                let s = case.rng.below(zipped.len());
                let mut gz = zipped[s].clone();
                let max = 2 * gz.len() + 1024;
                havoc(case, &mut gz, &[], max);
                case.note(format!("compressed seed {s} mutated"));
                // What the decoder makes of it, up to an error (the content
                // the reader sees).
                let mut c = Vec::new();
                let clean = GzDecoder::new(&gz[..]).read_to_end(&mut c).is_ok();
                (Cow::Owned(gz), Cow::Owned(c), clean)
            }
            _ => {
                let c = content(case, &seeds, &others);
                (Cow::Owned(gzip(&c)), Cow::Owned(c), true)
            }
        };
        let stream = |n| Counted(GzDecoder::new(&gz[..]), n);
        let (accepted, usage, read) = if case.rng.one_in(2) {
            load::<f32, _>(&c, clean, stream)?
        } else {
            load::<f64, _>(&c, clean, stream)?
        };
        Ok(Verdict {
            accepted,
            bytes: read as usize,
            usage,
        })
    });
}
