//! The checkpoint format (version 2) written again from its documentation
//! (`src/train/checkpoint.rs`), independently of the crate's writer: parse a
//! checkpoint into its metadata and tensors, write them back canonically
//! (the checksum first, the other metadata and the tensors sorted by key),
//! and seal a file with its checksum (FNV-1a 64 over every byte but bytes
//! 37..53, which hold it). Tests use it to forge checkpoints whose
//! checksum is right but whose fields are hostile, so that the field
//! checks behind the checksum are tested too; the fuzz targets in
//! `tests/fuzz/` include this file as well (to reseal mutated checkpoints).
#![allow(dead_code)]

use std::collections::BTreeMap;

/// Where the checksum's 16 hex digits start.
pub const CHECKSUM_AT: usize = 37;

/// FNV-1a (64-bit) over every byte of `file` but the checksum's digits.
pub fn checksum(file: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, &b) in file.iter().enumerate() {
        if (CHECKSUM_AT..CHECKSUM_AT + 16).contains(&i) {
            continue;
        }
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes `file`'s checksum into its place (if the file is long enough
/// to have one).
pub fn seal(file: &mut [u8]) {
    if file.len() >= CHECKSUM_AT + 16 {
        let digits = format!("{:016x}", checksum(file));
        file[CHECKSUM_AT..CHECKSUM_AT + 16].copy_from_slice(digits.as_bytes());
    }
}

/// One tensor of a checkpoint as raw parts.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

/// A checkpoint as raw parts: the metadata without the checksum, and the
/// tensors in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Raw {
    pub meta: BTreeMap<String, String>,
    pub tensors: Vec<RawTensor>,
}

/// Parses a checkpoint (with the safetensors crate).
pub fn parse(file: &[u8]) -> Raw {
    let (_, header) = safetensors::SafeTensors::read_metadata(file).expect("a safetensors file");
    let st = safetensors::SafeTensors::deserialize(file).unwrap();
    let mut meta: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    meta.remove("checksum");
    let tensors = header
        .offset_keys()
        .into_iter()
        .map(|name| {
            let view = st.tensor(&name).unwrap();
            RawTensor {
                dtype: view.dtype().to_string(),
                shape: view.shape().iter().map(|&d| d as u64).collect(),
                data: view.data().to_vec(),
                name,
            }
        })
        .collect();
    Raw { meta, tensors }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The file for `raw`, canonical and sealed: what `save_checkpoint` writes
/// for the same metadata and tensors (with the tensors sorted by name, as
/// it sorts them).
pub fn write(raw: &Raw) -> Vec<u8> {
    write_with(raw, |_| {})
}

/// [`write`], with `edit` applied to the header text before it is padded
/// and the file sealed (to forge headers the writer would never write).
pub fn write_with(raw: &Raw, edit: impl FnOnce(&mut String)) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{\"checksum\":\"0000000000000000\"");
    for (k, v) in &raw.meta {
        header.push_str(&format!(",{}:{}", json_string(k), json_string(v)));
    }
    header.push('}');
    let mut offset = 0;
    for t in &raw.tensors {
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            json_string(&t.name),
            t.dtype,
            shape.join(","),
            offset,
            offset + t.data.len()
        ));
        offset += t.data.len();
    }
    header.push('}');
    edit(&mut header);
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    for t in &raw.tensors {
        file.extend_from_slice(&t.data);
    }
    seal(&mut file);
    file
}
