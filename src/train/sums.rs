//! [`EpochSums`]: the running sums behind an epoch's means, kept in the
//! [`TrainState`](super::TrainState) so that they travel in a checkpoint.
//!
//! An epoch's record holds means over its examples (the loss, accuracy,
//! each metric). A run resumed in the middle of an epoch, or right after
//! its last batch but before its record was made, must finish that epoch
//! with the same means as an uninterrupted run, bit for bit: a schedule
//! such as [`ReduceLrOnPlateau`](crate::schedule::ReduceLrOnPlateau) acts on
//! them. So the sums so far are part of the saved state, written as
//! `train.sums.*` metadata ([`EpochSums::to_metadata`]).

use super::history::Record;
use std::collections::HashMap;

/// Sums over the examples of the batches counted so far in an epoch (or in
/// a validation pass), from which the epoch record's means are taken.
///
/// Batches whose update a callback skipped (the
/// [`DivergenceGuard`](super::DivergenceGuard)'s rollback steps) are not
/// counted. Batches whose update a later rollback undid stay counted:
/// their losses were measured, with the parameters of their time, and are
/// in the step records too; the rollback restores the model and the
/// optimiser, not these sums.
///
/// Sums are added in batch order in `f64`, so a resumed epoch that starts
/// from the saved sums ends with the same means as an uninterrupted one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochSums {
    examples: usize,
    loss: f64,
    hits: usize,
    counted: usize,
    /// `(name, Σ value × batch size, examples)`, in first-seen order.
    metrics: Vec<(String, f64, usize)>,
}

impl EpochSums {
    /// No batch counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Examples of the batches counted.
    pub fn examples(&self) -> usize {
        self.examples
    }

    /// Σ over counted batches of the batch's mean loss × its size.
    pub fn loss_sum(&self) -> f64 {
        self.loss
    }

    /// Adds one batch of `n` examples with mean loss `loss`, its accuracy
    /// count and its metrics (each a mean over the batch).
    pub(crate) fn add(
        &mut self,
        correct: Option<(usize, usize)>,
        metrics: &[(String, f64)],
        loss: f64,
        n: usize,
    ) {
        self.examples += n;
        self.loss += loss * n as f64;
        if let Some((hits, total)) = correct {
            self.hits += hits;
            self.counted += total;
        }
        for (name, v) in metrics {
            match self.metrics.iter_mut().find(|m| m.0 == *name) {
                Some(m) => {
                    m.1 += v * n as f64;
                    m.2 += n;
                }
                None => self.metrics.push((name.clone(), v * n as f64, n)),
            }
        }
    }

    /// The means as a record (`loss` is NaN when no batch was counted: an
    /// empty loader, or an epoch whose every update was skipped).
    pub(crate) fn record(&self, epoch: usize, step: usize) -> Record {
        let mut r = Record::new(epoch, step);
        r.set("loss", self.loss / self.examples as f64);
        if self.counted > 0 {
            r.set("accuracy", self.hits as f64 / self.counted as f64);
        }
        for (name, sum, n) in &self.metrics {
            r.set(name.clone(), sum / *n as f64);
        }
        r
    }

    /// The sums as checkpoint metadata: `train.sums.examples`,
    /// `train.sums.loss`, `train.sums.hits`, `train.sums.counted`,
    /// `train.sums.metrics` (how many), and per metric `i`
    /// `train.sums.metric.i` = `examples:sum:name`. Numbers are in Rust's
    /// shortest exact form, so they read back bit for bit.
    pub(crate) fn to_metadata(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("train.sums.examples".into(), self.examples.to_string()),
            ("train.sums.loss".into(), self.loss.to_string()),
            ("train.sums.hits".into(), self.hits.to_string()),
            ("train.sums.counted".into(), self.counted.to_string()),
            ("train.sums.metrics".into(), self.metrics.len().to_string()),
        ];
        for (i, (name, sum, n)) in self.metrics.iter().enumerate() {
            out.push((format!("{METRIC}{i}"), format!("{n}:{sum}:{name}")));
        }
        out
    }

    /// Reads what [`to_metadata`](Self::to_metadata) wrote, checking it:
    /// every key present, numbers that parse, no hit count above its total,
    /// the metrics numbered `0..n` without gaps or repeated names.
    pub(crate) fn from_metadata(
        meta: &HashMap<String, String>,
    ) -> std::result::Result<Self, String> {
        let get = |key: &str| {
            meta.get(key)
                .map(String::as_str)
                .ok_or_else(|| format!("metadata `{key}` is missing"))
        };
        let count = |key: &str| {
            get(key).and_then(|v| {
                v.parse::<usize>()
                    .map_err(|_| format!("metadata `{key}`: `{v}` is not a count"))
            })
        };
        let loss = get("train.sums.loss")?;
        let mut sums = EpochSums {
            examples: count("train.sums.examples")?,
            loss: loss
                .parse()
                .map_err(|_| format!("metadata `train.sums.loss`: `{loss}` is not a number"))?,
            hits: count("train.sums.hits")?,
            counted: count("train.sums.counted")?,
            metrics: Vec::new(),
        };
        if sums.hits > sums.counted {
            return Err(format!(
                "train.sums: {} hits out of {} examples",
                sums.hits, sums.counted
            ));
        }
        let n = count("train.sums.metrics")?;
        let listed = meta.keys().filter(|k| k.starts_with(METRIC)).count();
        if listed != n {
            return Err(format!(
                "train.sums.metrics says {n} metrics but {listed} `{METRIC}*` keys are present"
            ));
        }
        for i in 0..n {
            let key = format!("{METRIC}{i}");
            let v = get(&key)?;
            let bad = || format!("metadata `{key}`: `{v}` is not examples:sum:name");
            let (examples, rest) = v.split_once(':').ok_or_else(bad)?;
            let (sum, name) = rest.split_once(':').ok_or_else(bad)?;
            let examples: usize = examples.parse().map_err(|_| bad())?;
            let sum: f64 = sum.parse().map_err(|_| bad())?;
            if sums.metrics.iter().any(|m| m.0 == name) {
                return Err(format!("metadata `{key}`: metric `{name}` is listed twice"));
            }
            sums.metrics.push((name.to_owned(), sum, examples));
        }
        Ok(sums)
    }
}

/// The prefix of the per-metric keys.
const METRIC: &str = "train.sums.metric.";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EpochSums {
        let mut s = EpochSums::new();
        let m = |v: f64| vec![("a:b,c".to_string(), v), ("mae".to_string(), v / 3.0)];
        s.add(Some((5, 6)), &m(0.1), 0.7, 6);
        s.add(Some((1, 2)), &m(f64::NAN), 1.0 / 3.0, 2);
        s
    }

    #[test]
    fn sums_read_back_bit_for_bit_through_metadata() {
        let s = sample();
        let meta: HashMap<String, String> = s.to_metadata().into_iter().collect();
        let back = EpochSums::from_metadata(&meta).unwrap();
        assert_eq!(back.loss.to_bits(), s.loss.to_bits());
        assert_eq!((back.examples, back.hits, back.counted), (8, 6, 8));
        let names: Vec<&str> = back.metrics.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["a:b,c", "mae"]);
        assert!(back.metrics[0].1.is_nan());
        assert_eq!(back.metrics[1].1.to_bits(), s.metrics[1].1.to_bits());
        // The record of the sums read back is the record of the originals.
        let (r, q) = (back.record(2, 9), s.record(2, 9));
        let bits = |r: &Record| -> Vec<(String, u64)> {
            r.values
                .iter()
                .map(|(n, v)| (n.clone(), v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&r), bits(&q));
        assert_eq!(r.get("accuracy"), Some(0.75));
    }

    #[test]
    fn damaged_sums_are_refused_naming_the_key() {
        let meta: HashMap<String, String> = sample().to_metadata().into_iter().collect();
        let with = |k: &str, v: Option<&str>| {
            let mut m = meta.clone();
            match v {
                Some(v) => m.insert(k.to_string(), v.to_string()),
                None => m.remove(k),
            };
            EpochSums::from_metadata(&m).unwrap_err()
        };
        assert!(with("train.sums.loss", None).contains("`train.sums.loss` is missing"));
        assert!(with("train.sums.hits", Some("9")).contains("9 hits out of 8"));
        assert!(with("train.sums.metrics", Some("3")).contains("says 3 metrics but 2"));
        assert!(with("train.sums.metric.1", Some("2:x:mae")).contains("train.sums.metric.1"));
        assert!(with("train.sums.metric.1", Some("6:1:a:b,c")).contains("listed twice"));
        assert!(with("train.sums.examples", Some("-1")).contains("not a count"));
    }
}
