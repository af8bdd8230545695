//! Target `safetensors`: weights files into a model, through
//! `load_safetensors_with` with random [`LoadOptions`].
//!
//! Seeds: `save_safetensors` of a small model with batch norm (parameters
//! and buffers) and of a 64 x 64 layer, and the PyTorch fixture (with its
//! `I64` `num_batches_tracked`), each loaded into a model of its shape
//! whose values differ. Mutations: raw ones ([`havoc`]), or structured
//! ones on the JSON header, re-serialised ([`hostile`]): dtypes, shapes
//! (huge, overflowing, zero-sized, of high rank), offsets (reversed,
//! overlapping, past the end, huge), names (renamed, missing, unexpected,
//! very long, thousands of empty tensors), metadata of the wrong type or
//! deeply nested, consistent re-layouts (a valid file of other shapes or
//! dtypes), and a forged header length.
//!
//! Checks: on `Err` the model is unchanged bit for bit; on `Ok` the file
//! is one the safetensors crate also parses, each loaded tensor holds the
//! file's values (converted from `F64` where allowed) and every other one
//! is unchanged, and the report agrees with the options.

use crate::alloc::measure;
use crate::harness::{Cap, Caps, Case, Verdict, run};
use crate::models::{changed, small, snapshot, torch, wide};
use crate::mutate::havoc;
use safetensors::SafeTensors;
use serde_json::{Map, Value, json};
use std::path::Path;
use tapegrad::Module;
use tapegrad::io::{LoadOptions, load_safetensors_with, save_safetensors};

/// One tensor entry of a header, with its data.
#[derive(Clone)]
struct Part {
    name: String,
    dtype: Value,
    shape: Value,
    /// `None`: the offsets a valid layout gives.
    offsets: Option<Value>,
    data: Vec<u8>,
}

/// A safetensors file taken apart.
#[derive(Clone)]
struct Parts {
    meta: Option<Value>,
    tensors: Vec<Part>,
}

fn parts(file: &[u8]) -> Parts {
    let (_, header) = SafeTensors::read_metadata(file).expect("a seed parses");
    let st = SafeTensors::deserialize(file).unwrap();
    let meta = header.metadata().as_ref().map(|m| json!(m));
    let tensors = header
        .offset_keys()
        .into_iter()
        .map(|name| {
            let view = st.tensor(&name).unwrap();
            Part {
                dtype: json!(view.dtype().to_string()),
                shape: json!(view.shape()),
                offsets: None,
                data: view.data().to_vec(),
                name,
            }
        })
        .collect();
    Parts { meta, tensors }
}

/// The file for `p`, its header padded to 8 bytes (or not, if `pad` is off).
fn assemble(p: &Parts, pad: bool) -> Vec<u8> {
    let mut map = Map::new();
    if let Some(m) = &p.meta {
        map.insert("__metadata__".into(), m.clone());
    }
    let mut offset = 0usize;
    let mut data = Vec::new();
    for t in &p.tensors {
        let end = offset + t.data.len();
        let offsets = t.offsets.clone().unwrap_or(json!([offset, end]));
        map.insert(
            t.name.clone(),
            json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": offsets}),
        );
        offset = end;
        data.extend_from_slice(&t.data);
    }
    let mut header = serde_json::to_vec(&Value::Object(map)).unwrap();
    while pad && !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(&data);
    file
}

const DTYPES: &[&str] = &[
    "F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL",
    "F8_E4M3", "F8_E5M2", "F4", "F6_E2M3", "E8M0", "C64", "f32", "", "F32 ",
];

/// A hostile shape value.
fn shape(case: &mut Case, numel: usize) -> Value {
    let huge = [u64::MAX, 1 << 63, 1 << 32, u32::MAX as u64, 1 << 62];
    let h = *case.rng.pick(&huge);
    match case.rng.below(12) {
        0 => json!([]),
        1 => json!([0]),
        2 => json!([h]),
        3 => json!([0, h]),
        4 => json!([h, h, 0]),
        5 => json!([1u64 << 32, 1u64 << 32]),
        6 => json!([-1]),
        7 => json!([1.5]),
        8 => json!("3"),
        9 => json!([numel, 1]),
        10 => json!([1, numel]),
        _ => {
            let rank = *case.rng.pick(&[64usize, 1000, 50_000]);
            let mut dims = vec![1usize; rank];
            dims[0] = numel;
            json!(dims)
        }
    }
}

/// A hostile `data_offsets` value for a tensor at `start..end`.
fn offsets(case: &mut Case, start: usize, end: usize, total: usize) -> Value {
    let m = u64::MAX;
    match case.rng.below(10) {
        0 => json!([end, start]),
        1 => json!([start, start]),
        2 => json!([0, m]),
        3 => json!([m, m]),
        4 => json!([start, end + 1]),
        5 => json!([start.saturating_sub(1), end]),
        6 => json!([start]),
        7 => json!([start, end, end]),
        8 => json!([start as i64 - 4, end]),
        _ => json!([start, total + 8]),
    }
}

/// Little-endian f32 data re-encoded as F64 (the same values, exactly).
fn to_f64(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(4)
        .flat_map(|b| (f32::from_le_bytes(b.try_into().unwrap()) as f64).to_le_bytes())
        .collect()
}

/// One structured mutation of `p`.
fn hostile(case: &mut Case, p: &mut Parts) {
    let n = p.tensors.len();
    let k = case.rng.below(n.max(1));
    let total: usize = p.tensors.iter().map(|t| t.data.len()).sum();
    let start: usize = p.tensors[..k.min(n)].iter().map(|t| t.data.len()).sum();
    match case.rng.below(12) {
        0 if n > 0 => {
            let d = *case.rng.pick(DTYPES);
            let v = if case.rng.one_in(8) {
                json!(32)
            } else {
                json!(d)
            };
            case.note(format!("tensor {}: dtype {v}", p.tensors[k].name));
            p.tensors[k].dtype = v;
        }
        1 if n > 0 => {
            let numel = p.tensors[k].data.len() / 4;
            let s = shape(case, numel);
            let shown = s.to_string();
            case.note(format!(
                "tensor {}: shape {}",
                p.tensors[k].name,
                &shown[..shown.len().min(80)]
            ));
            p.tensors[k].shape = s;
        }
        2 if n > 0 => {
            let end = start + p.tensors[k].data.len();
            let o = offsets(case, start, end, total);
            case.note(format!("tensor {}: data_offsets {o}", p.tensors[k].name));
            p.tensors[k].offsets = Some(o);
        }
        3 if n > 0 => {
            // A valid file: the tensor as F64, same values.
            let t = &mut p.tensors[k];
            if t.dtype == json!("F32") {
                t.data = to_f64(&t.data);
                t.dtype = json!("F64");
                case.note(format!("tensor {}: re-encoded as F64", t.name));
            }
        }
        4 if n > 0 => {
            // A valid file: another number of elements, consistent data.
            let t = &mut p.tensors[k];
            let numel = *case.rng.pick(&[0usize, 1, 2, 3, 17]);
            t.data = vec![0x3f; 4 * numel];
            t.shape = if numel == 0 {
                json!([0, 1u64 << 62])
            } else {
                json!([numel])
            };
            t.dtype = json!("F32");
            case.note(format!(
                "tensor {}: {numel} elements, shape {}",
                t.name, t.shape
            ));
        }
        5 if n > 0 => {
            let old = p.tensors[k].name.clone();
            let new = match case.rng.below(6) {
                0 => String::new(),
                1 => "__metadata__".into(),
                2 => p.tensors[case.rng.below(n)].name.clone(),
                3 => match old.rsplit_once('.') {
                    Some((stem, _)) => format!("{stem}.num_batches_tracked"),
                    None => "num_batches_tracked".into(),
                },
                4 => format!("{old}."),
                _ => "x".repeat(*case.rng.pick(&[100usize, 100_000])),
            };
            case.note(format!(
                "tensor {old}: renamed to {}",
                &new[..new.len().min(40)]
            ));
            p.tensors[k].name = new;
        }
        6 if n > 0 => {
            let t = p.tensors.remove(k);
            case.note(format!("tensor {}: removed", t.name));
        }
        7 => {
            // An I64 batch-norm counter, of a random shape.
            let prefix = p
                .tensors
                .iter()
                .find_map(|t| t.name.strip_suffix("running_mean"))
                .unwrap_or("bn.")
                .to_owned();
            let (shape, data) = match case.rng.below(3) {
                0 => (json!([]), 7u64.to_le_bytes().to_vec()),
                1 => (json!([1]), 7u64.to_le_bytes().to_vec()),
                _ => (json!([0, u64::MAX]), Vec::new()),
            };
            let dtype = json!(*case.rng.pick(&["I64", "I32", "F64"]));
            case.note(format!("add {prefix}num_batches_tracked: {dtype} {shape}"));
            p.tensors.push(Part {
                name: format!("{prefix}num_batches_tracked"),
                dtype,
                shape,
                offsets: None,
                data: if case.rng.one_in(4) { vec![0; 4] } else { data },
            });
        }
        8 => {
            let count = *case.rng.pick(&[1usize, 100, 10_000]);
            case.note(format!("add {count} empty tensors"));
            for i in 0..count {
                p.tensors.push(Part {
                    name: format!("extra.{i}"),
                    dtype: json!("F32"),
                    shape: json!([0]),
                    offsets: None,
                    data: Vec::new(),
                });
            }
        }
        9 => {
            let depth = *case.rng.pick(&[10usize, 127, 200, 5000]);
            let nested = "[".repeat(depth) + &"]".repeat(depth);
            let v = match case.rng.below(6) {
                0 => Value::Null,
                1 => json!(1),
                2 => json!({"format": 1}),
                3 => json!({"format": {"a": [1, 2]}}),
                4 => serde_json::from_str(&nested).unwrap_or(json!([])),
                _ => Value::Object((0..10_000).map(|i| (format!("k{i}"), json!("v"))).collect()),
            };
            let shown = v.to_string();
            case.note(format!("__metadata__: {}", &shown[..shown.len().min(60)]));
            p.meta = Some(v);
        }
        _ if n > 1 => {
            let j = case.rng.below(n);
            p.tensors.swap(k, j);
            case.note(format!("data of tensors {k} and {j} swapped in the layout"));
        }
        _ => {}
    }
}

/// The expected f32 bits of a tensor the loader accepted from `file`.
fn file_bits(file: &SafeTensors<'_>, name: &str) -> Option<Vec<u32>> {
    let view = file.tensor(name).ok()?;
    Some(match view.dtype() {
        safetensors::Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        safetensors::Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|b| (f64::from_le_bytes(b.try_into().unwrap()) as f32).to_bits())
            .collect(),
        // a batch counter, as PyTorch stores it
        safetensors::Dtype::I64 if tapegrad::nn::is_counter(name) => view
            .data()
            .chunks_exact(8)
            .map(|b| (i64::from_le_bytes(b.try_into().unwrap()) as f32).to_bits())
            .collect(),
        _ => return None,
    })
}

pub fn fuzz(dir: &Path) {
    let mut scratch = crate::Scratch::new(dir.join("weights.safetensors"));
    // (seed file, a fresh destination of its shape)
    let mut dests: Vec<Box<dyn Module<f32>>> =
        vec![Box::new(small(11)), Box::new(wide(12)), Box::new(torch(13))];
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for (i, m) in [
        Box::new(small(1)) as Box<dyn Module<f32>>,
        Box::new(wide(2)),
    ]
    .iter()
    .enumerate()
    {
        let p = dir.join(format!("seed{i}.safetensors"));
        save_safetensors(&**m, &p).unwrap();
        seeds.push(std::fs::read(&p).unwrap());
    }
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/batch_norm.safetensors");
    seeds.push(std::fs::read(fixture).unwrap());
    let split: Vec<Parts> = seeds.iter().map(|s| parts(s)).collect();
    let others: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();

    // The largest block: a shape's vector (8 bytes per number of at least
    // 2 bytes of JSON, twice over while it grows) or the metadata's hash
    // table; the peak adds the file itself, the parsed header (a few bytes
    // per byte of JSON), the decoded values (at most the file's data: the
    // models are f32) and a copy of a shape for the error that refuses it.
    let caps = Caps {
        largest: Cap {
            per_byte: 8,
            constant: 64 << 10,
        },
        peak: Cap {
            per_byte: 16,
            constant: 256 << 10,
        },
    };
    run("safetensors", caps, |case| {
        let s = case.rng.below(seeds.len());
        let bytes = if case.rng.one_in(2) {
            let mut b = seeds[s].clone();
            let max = 4 * b.len() + 4096;
            havoc(case, &mut b, &others, max);
            b
        } else {
            let mut p = split[s].clone();
            for _ in 0..case.rng.range(1, 3) {
                hostile(case, &mut p);
            }
            let mut b = assemble(&p, !case.rng.one_in(8));
            if case.rng.one_in(6) {
                let n = *case.rng.pick(&[
                    0u64,
                    1,
                    7,
                    100_000_000,
                    100_000_001,
                    u64::MAX,
                    b.len() as u64 - 8,
                ]);
                b[..8].copy_from_slice(&n.to_le_bytes());
                case.note(format!("header length forged to {n}"));
            }
            if case.rng.one_in(4) {
                let max = 4 * b.len() + 4096;
                havoc(case, &mut b, &others, max);
            }
            b
        };
        let opts = LoadOptions {
            allow_missing: case.rng.one_in(3),
            allow_unexpected: case.rng.one_in(3),
            convert_dtype: case.rng.one_in(2),
        };
        case.note(format!("options {opts:?}, seed {s}, {} bytes", bytes.len()));
        let path = scratch.put(&bytes)?;
        let model = &mut *dests[s];
        let before = snapshot(model);
        let (result, usage) =
            measure(|| crate::harness::guarded(|| load_safetensors_with(model, path, opts)));
        let result = result.map_err(|p| format!("load_safetensors_with {p}"))?;
        let after = snapshot(model);
        let accepted = match result {
            Err(e) => {
                let diff = changed(&before, &after);
                if !diff.is_empty() {
                    return Err(format!("refused ({e}) but changed {diff:?}"));
                }
                false
            }
            Ok(report) => {
                let file = SafeTensors::deserialize(&bytes)
                    .map_err(|e| format!("accepted a file the safetensors crate refuses: {e}"))?;
                for (name, entry) in &after {
                    let loaded = report.loaded.contains(name);
                    let want = if loaded {
                        file_bits(&file, name).ok_or(format!(
                            "loaded {name}, which is not F32/F64 (or an I64 counter) in the file"
                        ))?
                    } else {
                        before[name].1.clone()
                    };
                    if entry.1 != want || entry.0 != before[name].0 || entry.2 != before[name].2 {
                        return Err(format!(
                            "after loading {report:?}, {name} is not the file's or the old value"
                        ));
                    }
                }
                if (!opts.allow_missing && !report.missing.is_empty())
                    || (!opts.allow_unexpected && !report.unexpected.is_empty())
                {
                    return Err(format!("options {opts:?} but report {report:?}"));
                }
                true
            }
        };
        Ok(Verdict {
            accepted,
            bytes: bytes.len(),
            usage,
        })
    });
}
