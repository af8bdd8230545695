//! A checkpoint's metadata, read field by field: every value parsed and
//! checked (numbers in exactly the form the writer gives them, rates finite
//! and `>= 0`), every key accounted for.
//!
//! [`Fields`] hands each key out once ([`take`](Fields::take)) and
//! [`finish`](Fields::finish) refuses whatever no one took, so a key the
//! loader does not know (from a damaged file, or a newer writer that forgot
//! to bump the version) is an error rather than silently dropped. A reader
//! of a new key takes it through `Fields` like the others.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::str::FromStr;

/// The metadata of one checkpoint, as yet untaken keys.
pub(crate) struct Fields<'m> {
    map: &'m HashMap<String, String>,
    left: BTreeSet<&'m str>,
}

impl<'m> Fields<'m> {
    /// All of `map`'s keys, none taken.
    pub(crate) fn new(map: &'m HashMap<String, String>) -> Self {
        Fields {
            map,
            left: map.keys().map(String::as_str).collect(),
        }
    }

    /// The value of `key`, which must be present.
    pub(crate) fn take(&mut self, key: &str) -> Result<&'m str, String> {
        self.left.remove(key);
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("metadata `{key}` is missing"))
    }

    /// Every key starting with `prefix`, as `(rest of the key, value)` in
    /// key order. (The rest may be empty: a lone `Param` passed as the
    /// model is visited under the empty name.)
    pub(crate) fn take_prefixed(&mut self, prefix: &str) -> Vec<(&'m str, &'m str)> {
        let keys: Vec<&'m str> = self
            .left
            .iter()
            .copied()
            .filter(|k| k.starts_with(prefix))
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            self.left.remove(key);
            out.push((&key[prefix.len()..], self.map[key].as_str()));
        }
        out
    }

    /// A count (`usize` or `u64`) at `key`.
    pub(crate) fn count<N: FromStr + Display>(&mut self, key: &str) -> Result<N, String> {
        let value = self.take(key)?;
        exact_number(value, key)
    }

    /// A rate at `key`: a finite number `>= 0`.
    pub(crate) fn rate(&mut self, key: &str) -> Result<f64, String> {
        let value = self.take(key)?;
        let r = exact_number(value, key)?;
        check_rate(r, key)
    }

    /// `Ok` if every key was taken; else the keys left, in order.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.left.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = self.left.iter().take(5).map(|k| format!("`{k}`")).collect();
        let more = self.left.len() - shown.len();
        Err(format!(
            "unknown metadata {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ))
    }
}

/// `r` if it is a finite number `>= 0`, else an error naming `key`.
pub(crate) fn check_rate(r: f64, key: &str) -> Result<f64, String> {
    if r.is_finite() && r >= 0.0 {
        Ok(r)
    } else {
        Err(format!(
            "metadata `{key}` is {r}, but a rate must be a finite number >= 0"
        ))
    }
}

/// `s` as a number, if it is one written exactly as the writer writes it
/// (Rust's `Display`: `7`, not `+7` or `07`; `0.001`, not `1e-3`), so that
/// what loads is what was saved and nothing else reads as it.
pub(crate) fn exact_number<N: FromStr + Display>(s: &str, key: &str) -> Result<N, String> {
    match s.parse::<N>() {
        Ok(n) if n.to_string() == s => Ok(n),
        Ok(n) => Err(format!(
            "metadata `{key}`: `{s}` is not written as this writer writes {n}"
        )),
        Err(_) => Err(format!("metadata `{key}`: `{s}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_be_in_the_writers_form() {
        assert_eq!(exact_number::<usize>("42", "k"), Ok(42));
        assert_eq!(exact_number::<f64>("0.001", "k"), Ok(0.001));
        assert!(exact_number::<f64>("NaN", "k").unwrap().is_nan());
        for bad in [
            "+42",
            "042",
            "4_2",
            " 42",
            "",
            "1e3",
            "18446744073709551616",
        ] {
            assert!(exact_number::<u64>(bad, "k").is_err(), "{bad}");
        }
        assert!(exact_number::<f64>("1e-3", "k").is_err());
        assert!(check_rate(f64::NAN, "k").unwrap_err().contains("NaN"));
        assert!(check_rate(-0.5, "k").is_err());
        assert!(check_rate(f64::INFINITY, "k").is_err());
        assert_eq!(check_rate(0.0, "k"), Ok(0.0));
    }

    #[test]
    fn keys_left_untaken_are_refused() {
        let map = HashMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("p.x".to_owned(), "2".to_owned()),
            ("p.y".to_owned(), "3".to_owned()),
            ("zz".to_owned(), "4".to_owned()),
        ]);
        let mut f = Fields::new(&map);
        assert_eq!(f.count::<u32>("a"), Ok(1));
        assert_eq!(f.take_prefixed("p."), vec![("x", "2"), ("y", "3")]);
        assert_eq!(f.take("b"), Err("metadata `b` is missing".into()));
        assert_eq!(f.finish(), Err("unknown metadata `zz`".into()));
    }
}
