//! Mutations of raw bytes, the same for every format: bit flips, bytes set
//! to boundary values, little- and big-endian integers overwritten with
//! boundary values, truncations, insertions, deletions, duplicated chunks
//! (repeated, so that inputs also grow), splices with another seed, and
//! ASCII numbers replaced by hostile ones. [`havoc`] applies a few at
//! random; every step is noted in the case's log.

use crate::harness::Case;

/// Byte values that sit on boundaries or mean something in the formats
/// (JSON and CSV punctuation, digits, signs, control characters).
const BYTES: &[u8] = b"\x00\x01\x7f\x80\xff\x08\x09\x0b\x0c\x0d\x0e\n\r\t ,;:\"\\[]{}-+.e0159";

/// Integers on boundaries, written as 2, 4 or 8 bytes in either order.
const INTS: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    100_000_000,
    100_000_001,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// Numbers as text that parsers get wrong: overflowing, negative, not
/// finite, not integral, in other notations.
pub const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "0.5",
    "1.0",
    "+1",
    "0x10",
    "1_000",
    "01",
    " 1",
    "1 ",
    "",
    "-",
    ".",
    "1e",
    "١",
];

/// Overwrites `width` bytes at `at` (if they fit) with `v` in either order.
fn put_int(bytes: &mut [u8], at: usize, width: usize, v: u64, big: bool) -> bool {
    if at + width > bytes.len() {
        return false;
    }
    let le = v.to_le_bytes();
    for k in 0..width {
        bytes[at + k] = if big { le[width - 1 - k] } else { le[k] };
    }
    true
}

/// The spans of ASCII digits (with a leading `-`) in `bytes`.
fn number_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            || (bytes[i] == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b".eE+-".contains(&bytes[i])) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// Applies one random byte-level mutation to `bytes` (other seeds are
/// spliced from `others`), growing it to at most `max_len` bytes.
pub fn mutate_once(case: &mut Case, bytes: &mut Vec<u8>, others: &[&[u8]], max_len: usize) {
    let len = bytes.len();
    let rng = &mut case.rng;
    match rng.below(11) {
        0 if len > 0 => {
            let (at, bit) = (rng.below(len), rng.below(8));
            bytes[at] ^= 1 << bit;
            case.note(format!("flip bit {bit} of byte {at}"));
        }
        1 if len > 0 => {
            let (at, v) = (rng.below(len), *rng.pick(BYTES));
            bytes[at] = v;
            case.note(format!("set byte {at} to {v:#04x}"));
        }
        2 if len > 0 => {
            let width = *rng.pick(&[2usize, 4, 8]);
            let (at, v, big) = (rng.below(len), *rng.pick(INTS), rng.one_in(2));
            if put_int(bytes, at, width, v, big) {
                let order = if big { "big" } else { "little" };
                case.note(format!(
                    "write {v:#x} as {width} {order}-endian bytes at {at}"
                ));
            }
        }
        3 => {
            let at = rng.below(len + 1);
            bytes.truncate(at);
            case.note(format!("truncate to {at} bytes"));
        }
        4 => {
            let (at, n) = (rng.below(len + 1), rng.range(1, 16));
            let junk: Vec<u8> = (0..n).map(|_| *rng.pick(BYTES)).collect();
            bytes.splice(at..at, junk.iter().copied());
            case.note(format!("insert {junk:?} at {at}"));
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let n = rng.range(1, (len - at).min(64));
            bytes.drain(at..at + n);
            case.note(format!("delete {n} bytes at {at}"));
        }
        6 if len > 0 => {
            let at = rng.below(len);
            let n = rng.range(1, (len - at).min(256));
            let times = *rng.pick(&[1usize, 2, 16, 1000]);
            let chunk = bytes[at..at + n].to_vec();
            let to = rng.below(len + 1);
            let copies = chunk.repeat(times.min(max_len.saturating_sub(len) / n));
            bytes.splice(to..to, copies.iter().copied());
            case.note(format!(
                "copy bytes {at}..{} to {to}, {times} times",
                at + n
            ));
        }
        7 if !others.is_empty() => {
            let other = *rng.pick(others);
            let (cut, from) = (rng.below(len + 1), rng.below(other.len() + 1));
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
            case.note(format!(
                "splice: first {cut} bytes, then another seed from byte {from}"
            ));
        }
        8 => {
            let spans = number_spans(bytes);
            if let Some(&(s, e)) = spans.get(rng.below(spans.len().max(1))) {
                let n = *rng.pick(NUMBERS);
                bytes.splice(s..e, n.bytes());
                case.note(format!("replace the number at {s}..{e} with {n:?}"));
            }
        }
        9 if len > 0 => {
            let at = rng.below(len);
            let n = rng.range(1, (len - at).min(32));
            for b in &mut bytes[at..at + n] {
                *b = rng.next_u64() as u8;
            }
            case.note(format!("randomise {n} bytes at {at}"));
        }
        _ => {
            let (a, b) = (rng.below(len + 1), rng.below(len + 1));
            let (a, b) = (a.min(b), a.max(b));
            bytes[a..b].reverse();
            case.note(format!("reverse bytes {a}..{b}"));
        }
    }
    bytes.truncate(max_len);
}

/// One to eight random byte mutations (mostly few).
pub fn havoc(case: &mut Case, bytes: &mut Vec<u8>, others: &[&[u8]], max_len: usize) {
    let n = 1 + (case.rng.below(8) * case.rng.below(8)) / 8;
    for _ in 0..n {
        mutate_once(case, bytes, others, max_len);
    }
}
