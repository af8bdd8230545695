//! Target `checkpoint`: `load_checkpoint` into a model, an Adam and (as
//! its result) the run's state.
//!
//! Seeds: `save_checkpoint` of two models (a small one and a 64-wide one,
//! both with batch norm) after a few steps of Adam under a
//! `ReduceLrOnPlateau` schedule, stopped mid-epoch (so the file holds epoch
//! sums with a metric, observations, per-parameter steps). Destinations:
//! the same shapes with other values and an Adam with its own state.
//!
//! The checksum covers every byte, so most raw mutations stop there: half
//! of them are resealed (with the independent writer of
//! `tests/io/ckpt_format.rs`) so that what lies behind it is fuzzed too.
//! Structured mutations rewrite the parsed file, sealed: metadata values
//! replaced with hostile numbers and strings (long, overflowing, NaN),
//! keys removed, added, renamed; tensors renamed, dropped, duplicated,
//! re-typed, re-shaped consistently or not; header text edited (offsets,
//! dtypes, shapes of high rank); the header length forged.
//!
//! Checks: on `Err` the model and the optimiser's state are unchanged bit
//! for bit; on `Ok` the checksum is right, the model and the optimiser
//! hold the file's tensors and counts, and the returned state is the
//! file's.

use crate::alloc::measure;
use crate::ckpt_format::{self, Raw, RawTensor};
use crate::harness::{Cap, Caps, Case, Verdict, guarded, run};
use crate::models::{Entry, changed, sequential, snapshot, state_bytes, train};
use crate::mutate::{NUMBERS, havoc};
use std::collections::BTreeMap;
use std::path::Path;
use tapegrad::nn::Sequential;
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::train::{load_checkpoint, save_checkpoint};

/// Values a metadata field may be forged to.
fn hostile_value(case: &mut Case) -> String {
    match case.rng.below(8) {
        0 => "1".repeat(*case.rng.pick(&[30usize, 400, 100_000])),
        1 => "0:0,".repeat(*case.rng.pick(&[1usize, 1000, 20_000])) + "1:0.5",
        2 => "2:1,1:1".into(),
        3 => "Adam\u{0}".into(),
        4 => "3:1:name".into(),
        _ => case.rng.pick(NUMBERS).to_string(),
    }
}

/// One structured mutation of the parsed checkpoint.
fn hostile(case: &mut Case, raw: &mut Raw) {
    let keys: Vec<String> = raw.meta.keys().cloned().collect();
    let key = case.rng.pick(&keys).clone();
    let n = raw.tensors.len();
    let k = case.rng.below(n);
    match case.rng.below(10) {
        0..=2 => {
            let v = hostile_value(case);
            case.note(format!("metadata {key} = {:?}", &v[..v.len().min(40)]));
            raw.meta.insert(key, v);
        }
        3 => {
            case.note(format!("metadata {key} removed"));
            raw.meta.remove(&key);
        }
        4 => {
            let new = match case.rng.below(5) {
                0 => "optim.step.0.nothing".to_owned(),
                1 => "optim.hp.extra".to_owned(),
                2 => "train.sums.metric.7".to_owned(),
                3 => "unknown".to_owned(),
                _ => format!("{key}x"),
            };
            let v = raw.meta.remove(&key).unwrap();
            case.note(format!("metadata {key} renamed to {new}"));
            raw.meta.insert(new, v);
        }
        5 => {
            let t = &mut raw.tensors[k];
            let new = match case.rng.below(5) {
                0 => t.name.replace("exp_avg", "exp_avg_sq"),
                1 => format!("{}x", t.name),
                2 => "optim.nodot".into(),
                3 => t.name.replacen("model.", "optim.", 1),
                _ => t.name.replacen("optim.", "model.", 1),
            };
            case.note(format!("tensor {} renamed to {new}", t.name));
            t.name = new;
        }
        6 => {
            let t = raw.tensors.remove(k);
            case.note(format!("tensor {} removed", t.name));
        }
        7 => {
            let mut t = raw.tensors[k].clone();
            t.name = format!("{}.copy", t.name);
            case.note(format!(
                "tensor {} duplicated as {}",
                raw.tensors[k].name, t.name
            ));
            raw.tensors.push(t);
        }
        8 => {
            let t = &mut raw.tensors[k];
            let numel = t.data.len() / 4;
            match case.rng.below(4) {
                0 => {
                    t.dtype = "F64".into();
                    t.data = t
                        .data
                        .chunks_exact(4)
                        .flat_map(|b| {
                            (f32::from_le_bytes(b.try_into().unwrap()) as f64).to_le_bytes()
                        })
                        .collect();
                }
                1 => t.shape = vec![numel as u64, 1],
                2 => {
                    t.shape = vec![0, 1 << 62];
                    t.data.clear();
                }
                _ => {
                    t.shape = vec![numel as u64 + 1];
                    t.data.extend_from_slice(&[0; 4]);
                }
            }
            case.note(format!(
                "tensor {}: now {} {:?}, {} bytes",
                t.name,
                t.dtype,
                t.shape,
                t.data.len()
            ));
        }
        _ => {
            let t = RawTensor {
                name: "model.extra".into(),
                dtype: "F32".into(),
                shape: vec![1],
                data: vec![0; 4],
            };
            case.note("tensor model.extra added");
            raw.tensors.push(t);
        }
    }
}

/// An edit of the header text: a random `"data_offsets"`, `"shape"` or
/// `"dtype"` value replaced.
fn edit_header(case: &mut Case, header: &mut String) {
    let (field, values): (&str, Vec<String>) = match case.rng.below(3) {
        0 => (
            "\"data_offsets\":[",
            vec![
                "0,0]".into(),
                "4,0]".into(),
                "0,18446744073709551615]".into(),
                "0]".into(),
                "-1,3]".into(),
            ],
        ),
        1 => (
            "\"shape\":[",
            vec![
                "18446744073709551615]".into(),
                "4294967296,4294967296]".into(),
                "0,4611686018427387904]".into(),
                format!("{}1]", "1,".repeat(20_000)),
            ],
        ),
        _ => (
            "\"dtype\":\"",
            vec!["I64\"".into(), "BF16\"".into(), "X\"".into()],
        ),
    };
    let at: Vec<usize> = header
        .match_indices(field)
        .map(|(i, _)| i + field.len())
        .collect();
    if at.is_empty() {
        return;
    }
    let start = *case.rng.pick(&at);
    let end = start + header[start..].find([']', '"']).unwrap() + 1;
    let v = case.rng.pick(&values).clone();
    case.note(format!(
        "header {field}... at {start} set to {}",
        &v[..v.len().min(40)]
    ));
    header.replace_range(start..end, &v);
}

/// The f32 bits of a raw tensor (its data as F32).
fn raw_bits(t: &RawTensor) -> Vec<u32> {
    t.data
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Whether what an accepted load gave is the file's.
fn agrees(
    bytes: &[u8],
    m: &Sequential,
    opt: &Adam,
    state: &tapegrad::train::TrainState,
    before: &BTreeMap<String, Entry>,
) -> Result<(), String> {
    let stored = &bytes[ckpt_format::CHECKSUM_AT..ckpt_format::CHECKSUM_AT + 16];
    if stored != format!("{:016x}", ckpt_format::checksum(bytes)).as_bytes() {
        return Err("accepted a file whose checksum is wrong".into());
    }
    let raw = ckpt_format::parse(bytes);
    let tensor = |name: &str| raw.tensors.iter().find(|t| t.name == name);
    for (name, (_, bits, _)) in snapshot(m) {
        let Some(t) = tensor(&format!("model.{name}")) else {
            // A batch counter may be missing (checkpoints from before it was
            // a buffer): then it keeps its value.
            if tapegrad::nn::is_counter(&name) && before.get(&name).map(|e| &e.1) == Some(&bits) {
                continue;
            }
            return Err(format!("accepted without model.{name}"));
        };
        if raw_bits(t) != bits {
            return Err(format!("model.{name} is not the file's"));
        }
    }
    let s = opt.state(m);
    for (param, ps) in &s.params {
        for (name, t) in &ps.tensors {
            let file = tensor(&format!("optim.{param}.{name}"))
                .ok_or(format!("optim.{param}.{name} not in the file"))?;
            let bits: Vec<u32> = t.as_slice().iter().map(|v| v.to_bits()).collect();
            if raw_bits(file) != bits {
                return Err(format!("optim.{param}.{name} is not the file's"));
            }
        }
        if raw.meta.get(&format!("optim.step.{param}")) != Some(&ps.step.to_string()) {
            return Err(format!("the step count of {param} is not the file's"));
        }
    }
    let meta = |k: &str| raw.meta.get(k).cloned().unwrap_or_default();
    let found = [
        (state.epoch.to_string(), "train.epoch"),
        (state.batch.to_string(), "train.batch"),
        (state.step.to_string(), "train.step"),
        (state.seed.to_string(), "train.seed"),
        (state.lr_scale.to_string(), "train.lr_scale"),
        (state.base_lr.to_string(), "train.base_lr"),
        (s.steps.to_string(), "optim.steps"),
        (s.lr.to_string(), "optim.lr"),
    ];
    for (value, key) in found {
        if value != meta(key) {
            return Err(format!(
                "{key} loaded as {value}, the file has {:?}",
                meta(key)
            ));
        }
    }
    Ok(())
}

pub fn fuzz(dir: &Path) {
    let mut scratch = crate::Scratch::new(dir.join("fuzzed.safetensors"));
    let mut seeds = Vec::new();
    let mut dests = Vec::new();
    for (i, width) in [2usize, 64].into_iter().enumerate() {
        let mut m = sequential(width, 1);
        let mut opt = Adam::new(0.01);
        let (state, _) = train(&mut m, &mut opt, 3, 4);
        let p = dir.join(format!("seed{i}.safetensors"));
        save_checkpoint(&p, &m, &opt, &state).unwrap();
        seeds.push(std::fs::read(&p).unwrap());
        // The destination, and its own checkpoint to restore it after an
        // accepted load.
        let mut d = sequential(width, 9);
        let mut dopt = Adam::new(0.01);
        let (dstate, _) = train(&mut d, &mut dopt, 8, 2);
        let pristine = dir.join(format!("dest{i}.safetensors"));
        save_checkpoint(&pristine, &d, &dopt, &dstate).unwrap();
        dests.push((d, dopt, pristine));
    }
    let split: Vec<Raw> = seeds.iter().map(|s| ckpt_format::parse(s)).collect();
    let others: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();

    // As for weights (`weights.rs`), plus the optimiser's staged state
    // (decoded tensors, no larger than their data in the file).
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
    run("checkpoint", caps, |case| {
        let s = case.rng.below(seeds.len());
        let bytes = match case.rng.below(3) {
            0 => {
                let mut b = seeds[s].clone();
                let max = 2 * b.len() + 4096;
                havoc(case, &mut b, &others, max);
                if case.rng.one_in(2) {
                    ckpt_format::seal(&mut b);
                    case.note("resealed");
                }
                b
            }
            _ => {
                let mut raw = split[s].clone();
                for _ in 0..case.rng.range(1, 2) {
                    hostile(case, &mut raw);
                }
                let mut b = if case.rng.one_in(3) {
                    ckpt_format::write_with(&raw, |h| edit_header(case, h))
                } else {
                    ckpt_format::write(&raw)
                };
                if case.rng.one_in(8) {
                    let n = *case
                        .rng
                        .pick(&[0u64, 9, 100_000_001, u64::MAX, b.len() as u64]);
                    b[..8].copy_from_slice(&n.to_le_bytes());
                    case.note(format!("header length forged to {n}"));
                }
                b
            }
        };
        let path = scratch.put(&bytes)?;
        let (m, opt, pristine) = &mut dests[s];
        let (before, opt_before) = (snapshot(m), state_bytes(&opt.state(m)));
        let (result, usage) = measure(|| guarded(|| load_checkpoint(path, m, opt)));
        let result = result.map_err(|p| format!("load_checkpoint {p}"))?;
        let accepted = match result {
            Err(e) => {
                let diff = changed(&before, &snapshot(m));
                if !diff.is_empty() {
                    return Err(format!("refused ({e}) but changed {diff:?}"));
                }
                if state_bytes(&opt.state(m)) != opt_before {
                    return Err(format!("refused ({e}) but changed the optimiser's state"));
                }
                false
            }
            Ok(state) => {
                agrees(&bytes, m, opt, &state, &before)?;
                load_checkpoint(&*pristine, m, opt)
                    .map_err(|e| format!("restoring the destination: {e}"))?;
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
