//! Tests of `src/train/` and `src/plot.rs`: the Trainer end to end, and the charts.

mod plot;
mod resume;
mod trainer;
