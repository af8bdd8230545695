//! A checkpoint's bytes: the canonical safetensors layout the writer
//! produces, and the checksum over every byte of it but the checksum's own
//! 16 hex digits.
//!
//! The header is JSON written by hand rather than by the safetensors
//! crate, whose metadata is a `HashMap` (so two saves of one state came out
//! in different orders). Ours is one line, no spaces:
//!
//! ```text
//! {"__metadata__":{"checksum":"<16 hex>","KEY":"VALUE",...},"NAME":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}
//! ```
//!
//! the checksum first, then the other metadata in byte order of their keys,
//! then the tensors in byte order of their names, their data in that order;
//! the header padded with spaces to a multiple of 8 bytes, as the
//! safetensors crate pads it. The checksum's digits are therefore always
//! bytes [`CHECKSUM_AT`]`..+16` of the file.

use std::collections::BTreeMap;
use std::fmt::Write;

/// What the file starts with after its 8-byte header length: the metadata
/// object opens with the checksum.
const PREFIX: &[u8] = br#"{"__metadata__":{"checksum":""#;

/// Where the checksum's 16 hex digits start in the file (37).
pub(crate) const CHECKSUM_AT: usize = 8 + PREFIX.len();

/// The checksum's length in bytes: 16 lowercase hex digits.
const DIGITS: usize = 16;

/// One tensor to write: shape and little-endian bytes (in the file's
/// dtype).
pub(crate) type Entry = (Vec<usize>, Vec<u8>);

/// `s` as the body of a JSON string (quotes, backslashes and control
/// characters escaped).
fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// The whole file for `metadata` (which must not hold `checksum`) and
/// `tensors`, all of `dtype`, sealed with its checksum; `Err` if the header
/// would exceed the safetensors limit.
pub(crate) fn write(
    metadata: &BTreeMap<String, String>,
    tensors: &BTreeMap<String, Entry>,
    dtype: &str,
) -> Result<Vec<u8>, String> {
    assert!(
        !metadata.contains_key("checksum"),
        "tapegrad bug: the checksum is written by format::write"
    );
    let mut header = String::from_utf8(PREFIX.to_vec()).expect("ASCII");
    header.push_str(&"0".repeat(DIGITS));
    header.push('"');
    for (key, value) in metadata {
        header.push_str(",\"");
        escape(&mut header, key);
        header.push_str("\":\"");
        escape(&mut header, value);
        header.push('"');
    }
    header.push('}');
    let mut offset = 0usize;
    for (name, (shape, bytes)) in tensors {
        header.push_str(",\"");
        escape(&mut header, name);
        let _ = write!(header, "\":{{\"dtype\":\"{dtype}\",\"shape\":[");
        for (i, d) in shape.iter().enumerate() {
            let _ = write!(header, "{}{d}", if i == 0 { "" } else { "," });
        }
        let end = offset + bytes.len();
        let _ = write!(header, "],\"data_offsets\":[{offset},{end}]}}");
        offset = end;
    }
    header.push('}');
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    if header.len() as u64 > crate::io::file::MAX_HEADER {
        return Err(format!(
            "the header would be {} bytes, over the safetensors limit",
            header.len()
        ));
    }
    let mut file = Vec::new();
    file.try_reserve_exact(8 + header.len() + offset)
        .map_err(|e| format!("cannot hold the file in memory: {e}"))?;
    file.extend_from_slice(&(header.len() as u64).to_le_bytes());
    file.extend_from_slice(header.as_bytes());
    for (_, bytes) in tensors.values() {
        file.extend_from_slice(bytes);
    }
    seal(&mut file);
    Ok(file)
}

/// FNV-1a (64-bit) over every byte of `file` except the checksum's digits
/// (bytes `CHECKSUM_AT..CHECKSUM_AT + 16`).
///
/// # Panics
/// If `file` is shorter than `CHECKSUM_AT + 16` bytes.
pub(crate) fn checksum(file: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let (before, rest) = file.split_at(CHECKSUM_AT);
    for &b in before.iter().chain(&rest[DIGITS..]) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes `file`'s checksum into its place.
fn seal(file: &mut [u8]) {
    let digits = format!("{:016x}", checksum(file));
    file[CHECKSUM_AT..CHECKSUM_AT + DIGITS].copy_from_slice(digits.as_bytes());
}

/// The checksum as the file stores it, if the file opens as the writer
/// opens one (the metadata's first entry is the checksum, 16 characters,
/// closed by a quote); the digits are not checked here.
pub(crate) fn stored_checksum(file: &[u8]) -> Option<&str> {
    let digits = file.get(CHECKSUM_AT..CHECKSUM_AT + DIGITS)?;
    let opened = file.get(8..CHECKSUM_AT) == Some(PREFIX);
    let closed = file.get(CHECKSUM_AT + DIGITS) == Some(&b'"');
    if opened && closed {
        std::str::from_utf8(digits).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_parses_and_its_checksum_covers_every_other_byte() {
        let meta = BTreeMap::from([
            ("b\"\\\n".to_owned(), "v".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        let tensors = BTreeMap::from([
            ("y".to_owned(), (vec![2], vec![0u8; 8])),
            ("x".to_owned(), (vec![1, 1], vec![1u8, 2, 3, 4])),
        ]);
        let file = write(&meta, &tensors, "F32").unwrap();
        let parsed = ::safetensors::SafeTensors::deserialize(&file).unwrap();
        assert_eq!(parsed.tensor("x").unwrap().data(), [1, 2, 3, 4]);
        assert_eq!(parsed.tensor("y").unwrap().shape(), [2]);
        let (n, header) = ::safetensors::SafeTensors::read_metadata(&file).unwrap();
        assert_eq!(n % 8, 0);
        let m = header.metadata().as_ref().unwrap();
        assert_eq!(m["b\"\\\n"], "v");
        assert_eq!(m["checksum"], stored_checksum(&file).unwrap());
        assert_eq!(m["checksum"], format!("{:016x}", checksum(&file)));
        // Any other byte changes the checksum; the digits themselves do not.
        for i in 0..file.len() {
            let mut damaged = file.clone();
            damaged[i] ^= 1;
            let inside = (CHECKSUM_AT..CHECKSUM_AT + DIGITS).contains(&i);
            assert_eq!(checksum(&damaged) == checksum(&file), inside, "byte {i}");
        }
        // And the same input gives the same bytes.
        assert_eq!(write(&meta, &tensors, "F32").unwrap(), file);
    }
}
