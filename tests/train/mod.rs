//! Tests of `src/train/` and `src/plot.rs`: the Trainer end to end, and the charts.

mod checkpoint;
mod eval_point;
mod lr_finder;
mod lr_rules;
mod plot;
mod png;
mod resume;
mod step;
mod trainer;
mod wsd_resume;
