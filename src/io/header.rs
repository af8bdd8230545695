//! A safetensors header parsed in one pass, straight into the parts of the
//! safetensors crate's [`Metadata`], which then checks them as it does its
//! own (offsets contiguous and in order, each tensor's byte length its
//! shape's size, sizes that do not overflow).
//!
//! The crate's own parser goes through `#[serde(flatten)]`, which first
//! buffers every value of the header as serde's generic content (32 bytes
//! per JSON number): a header holding one shape of 200,000 ones, 400 KB of
//! JSON, asked for a single 8 MiB block and a peak of 32 times the file,
//! and a header at the format's 100 MB limit would ask for 2 GiB (found by
//! the `safetensors` fuzz target). Here each tensor entry is read into its
//! [`TensorInfo`] directly: a shape costs 8 bytes per number of at least 2
//! bytes of JSON, at most twice over while its vector grows.
//!
//! One difference in what is accepted: a name given twice in the header
//! (which the crate's map resolved by keeping the last) is refused.

use ::safetensors::tensor::{Metadata, TensorInfo};
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The header's metadata and its tensor entries, in the file's order.
type Parts = (Option<HashMap<String, String>>, Vec<(String, TensorInfo)>);

/// Reads the top-level JSON object of a header.
struct Header;

impl<'de> Visitor<'de> for Header {
    type Value = Parts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of tensor entries and `__metadata__`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts, A::Error> {
        let mut metadata = None;
        let mut seen_metadata = false;
        let mut tensors = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if seen_metadata {
                    return Err(A::Error::custom("`__metadata__` is given twice"));
                }
                seen_metadata = true;
                metadata = map.next_value()?;
            } else {
                tensors.push((key, map.next_value::<TensorInfo>()?));
            }
        }
        Ok((metadata, tensors))
    }
}

/// Parses the JSON header `json` (the bytes after the 8-byte length) and
/// checks it as the safetensors crate does; `Err` with what is wrong.
pub(crate) fn parse(json: &[u8]) -> Result<Metadata, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let (metadata, mut tensors) = de
        .deserialize_map(Header)
        .and_then(|parts| de.end().map(|()| parts))
        .map_err(|e| format!("invalid JSON in header: {e}"))?;
    let mut names = HashSet::with_capacity(tensors.len());
    if let Some((name, _)) = tensors
        .iter()
        .find(|(name, _)| !names.insert(name.as_str()))
    {
        return Err(format!("tensor `{name}` is given twice in the header"));
    }
    drop(names);
    // The crate's order: by offsets (files may list tensors in any order).
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    Metadata::new(metadata, tensors).map_err(|e| e.to_string())
}
